#include "input/image.hpp"

#include <algorithm>

#include "input/files.hpp"
#include "util/error.hpp"

namespace lpt {

namespace {
constexpr std::uint64_t kImageTag = 0x696d673a6c6f6164ULL;  // "img:load"
}

ImageSet load_image_set(const std::string& data_dir, const std::string& name,
                        const std::string& part) {
  DataSetFiles ds(data_dir, name);
  const auto& m = ds.meta();
  ImageSet s;
  s.name = name;
  try {
    const auto shape = m.at("shape").get<std::vector<int>>();
    if (shape.size() != 3) ds.corrupt("meta.json", "'shape' must be [C, H, W]");
    s.C = shape[0], s.H = shape[1], s.W = shape[2];
    if (!m.at("splits").contains(part))
      fail("data set '", name, "' has no part '", part, "' (see ", ds.path(), "/meta.json, ",
           "'splits')");
    s.n = m.at("splits").at(part).at("count").get<int>();
  } catch (const nlohmann::json::exception& e) {
    ds.corrupt("meta.json", std::string("malformed image metadata (") + e.what() + ")");
  }
  s.classes = int(ds.integer("classes"));
  s.pixel_scale = float(ds.number("pixel_scale"));
  s.mean = float(ds.number("mean"));
  s.std = float(ds.number("std"));
  if (s.C <= 0 || s.H <= 0 || s.W <= 0 || s.n <= 0 || s.classes <= 0 || !(s.std > 0) ||
      !(s.pixel_scale > 0))
    ds.corrupt("meta.json", "image metadata out of range");
  const std::string img = part + "_images.u8", lab = part + "_labels.u8";
  s.pixels = ds.read(img);
  s.labels = ds.read(lab);
  if (s.pixels.size() != std::size_t(s.n) * s.image_size())
    ds.corrupt(img, "holds " + std::to_string(s.pixels.size()) + " bytes, not " +
                        std::to_string(s.n) + " images of the meta.json shape");
  if (s.labels.size() != std::size_t(s.n))
    ds.corrupt(lab, "holds " + std::to_string(s.labels.size()) + " labels, not " +
                        std::to_string(s.n));
  for (std::uint8_t l : s.labels)
    if (l >= s.classes) ds.corrupt(lab, "holds label " + std::to_string(l) + " >= classes");
  return s;
}

void copy_image(const ImageSet& s, std::size_t i, ImageBatch& b, int row) {
  const std::size_t n = s.image_size();
  const std::uint8_t* p = &s.pixels[i * n];
  float* x = &b.images[std::size_t(row) * n];
  const float a = 1.0f / (s.pixel_scale * s.std), c = -s.mean / s.std;
  for (std::size_t k = 0; k < n; ++k) x[k] = float(p[k]) * a + c;
  b.labels[row] = s.labels[i];
}

ImageLoader::ImageLoader(ImageSet pool, const ImageDataOptions& o)
    : pool_(std::move(pool)), opt_(o), rng_(mix64(o.seed, 0x1a6e)) {
  require(o.batch >= 1, "ImageLoader: batch must be >= 1, got ", o.batch);
  split_ = split_items(std::size_t(pool_.n), o.val_fraction, o.split_seed, 1);
  order_ = EpochOrder(split_.train.size(), mix64(o.seed, 0x0bde));
  config_ = mix64(mix64(kImageTag, pool_.n, pool_.image_size()), mix64(o.batch, o.seed),
                  mix64(o.split_seed, std::uint64_t(o.val_fraction * 1e9)));
}

void ImageLoader::next(ImageBatch& b) {
  b.shape(opt_.batch, pool_.C, pool_.H, pool_.W);
  for (int r = 0; r < opt_.batch; ++r) copy_image(pool_, split_.train[order_.next()], b, r);
}

std::size_t ImageLoader::val_batches() const {
  return (split_.val.size() + opt_.batch - 1) / opt_.batch;
}

void ImageLoader::val_batch(std::size_t i, ImageBatch& b) const {
  require(i < val_batches(), "ImageLoader::val_batch: batch ", i, " of ", val_batches());
  const std::size_t first = i * opt_.batch;
  const int rows = int(std::min<std::size_t>(opt_.batch, split_.val.size() - first));
  b.shape(rows, pool_.C, pool_.H, pool_.W);
  for (int r = 0; r < rows; ++r) copy_image(pool_, split_.val[first + r], b, r);
}

std::vector<std::uint64_t> ImageLoader::state() const {
  return LoaderState::pack(kImageTag, config_, order_, rng_);
}

void ImageLoader::set_state(const std::vector<std::uint64_t>& s) {
  LoaderState::unpack(s, kImageTag, config_, "ImageLoader", order_, rng_);
}

std::size_t eval_batches(const ImageSet& s, int batch) {
  require(batch >= 1, "eval_batches: batch must be >= 1");
  return (std::size_t(s.n) + batch - 1) / batch;
}

void eval_batch(const ImageSet& s, int batch, std::size_t i, ImageBatch& b) {
  require(i < eval_batches(s, batch), "eval_batch: batch ", i, " of ", eval_batches(s, batch));
  const std::size_t first = i * batch;
  const int rows = int(std::min<std::size_t>(batch, std::size_t(s.n) - first));
  b.shape(rows, s.C, s.H, s.W);
  for (int r = 0; r < rows; ++r) copy_image(s, first + r, b, r);
}

}  // namespace lpt
