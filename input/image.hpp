#pragma once
// Image classification data (ViT family): Fashion-MNIST (1×28×28; patch sizes 4, 7, 14) and the
// 8×8 digits (1×8×8; patch sizes 2, 4). Pixels are stored as bytes and normalized on the fly:
// x = (p / pixel_scale − mean) / std, with mean and std of the data set's training pixels as
// meta.json records them (docs/data.md lists the values).
#include <cstdint>
#include <string>
#include <vector>

#include "input/batch.hpp"
#include "input/rng.hpp"
#include "input/split.hpp"

namespace lpt {

struct ImageSet {
  std::string name;
  int n = 0, C = 0, H = 0, W = 0, classes = 0;
  float pixel_scale = 1, mean = 0, std = 1;
  std::vector<std::uint8_t> pixels;  // [n, C, H, W]
  std::vector<std::uint8_t> labels;  // [n]
  std::size_t image_size() const { return std::size_t(C) * H * W; }
};

// Reads <data_dir>/<name>/<part>_images.u8 and <part>_labels.u8 with the checks of
// DataSetFiles. name: fashion_mnist (parts train, test) or digits (part all).
ImageSet load_image_set(const std::string& data_dir, const std::string& name,
                        const std::string& part);

// Row `row` of b from image i of s: normalized pixels and the label.
void copy_image(const ImageSet& s, std::size_t i, ImageBatch& b, int row);

struct ImageDataOptions {
  int batch = 64;
  std::uint64_t seed = 0;
  double val_fraction = 0.1;     // of the pool given to the loader
  std::uint64_t split_seed = 0;
};

// Batches from a pool (fashion_mnist train part, or all digits) split into train and validation.
class ImageLoader {
 public:
  ImageLoader(ImageSet pool, const ImageDataOptions& o);

  void next(ImageBatch& b);  // training images in a fresh seeded permutation per epoch

  std::size_t val_size() const { return split_.val.size(); }
  std::size_t val_batches() const;
  void val_batch(std::size_t i, ImageBatch& b) const;  // fixed order; last may be short

  std::size_t train_size() const { return split_.train.size(); }
  const ImageSet& pool() const { return pool_; }
  const Split& split() const { return split_; }

  std::vector<std::uint64_t> state() const;
  void set_state(const std::vector<std::uint64_t>& s);

 private:
  ImageSet pool_;
  ImageDataOptions opt_;
  Split split_;
  EpochOrder order_;
  Rng rng_;  // unused by the batches today; kept in the state so augmentation can draw from it
  std::uint64_t config_ = 0;
};

// A whole held-out set (fashion_mnist test) in its stored order, B images per batch.
std::size_t eval_batches(const ImageSet& s, int batch);
void eval_batch(const ImageSet& s, int batch, std::size_t i, ImageBatch& b);

}  // namespace lpt
