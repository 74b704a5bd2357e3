#include "model/families/vit.hpp"

#include "model/blocks/dropout.hpp"
#include "model/ops/cross_entropy.hpp"
#include "model/ops/elementwise.hpp"
#include "model/ops/layernorm.hpp"
#include "model/ops/linear.hpp"

namespace lpt {

template <class T>
VitModel<T>::VitModel(const ModelConfig& cfg) : Model<T>(cfg) {
  require(cfg.layers >= 1 && cfg.channels >= 1 && cfg.patch >= 1 && cfg.n_classes >= 1,
          "vit: needs layers, channels, patch, n_classes >= 1");
  require(cfg.image_h >= cfg.patch && cfg.image_w >= cfg.patch && cfg.image_h % cfg.patch == 0 &&
              cfg.image_w % cfg.patch == 0,
          "vit: image ", cfg.image_h, "x", cfg.image_w, " is not divisible into patches of ",
          cfg.patch, "; choose a patch size that divides both sides");
  const LayerDims dims{cfg.d_model, cfg.heads, cfg.d_ff};
  const int d = cfg.d_model;
  patches_ = (cfg.image_h / cfg.patch) * (cfg.image_w / cfg.patch);
  patch_len_ = cfg.channels * cfg.patch * cfg.patch;
  auto& p = this->params_;
  p.add("patch_w", {d, patch_len_});
  p.add("patch_b", {d});
  p.add("cls", {d});
  p.add("pos", {1 + patches_, d});
  register_edge_params(p, cfg, true);
  for (int n = 0; n < cfg.layers; ++n)
    register_layer_params(p, "layers." + std::to_string(n) + ".", dims, false);
  register_edge_params(p, cfg, false);
  p.add("lnf_w", {d});
  p.add("lnf_b", {d});
  p.add("head_w", {cfg.n_classes, d});
  p.add("head_b", {cfg.n_classes});
  p.finalize(cfg.roles);
  TransformerStepsConfig sc;
  sc.dims = dims;
  sc.layers = cfg.layers;
  sc.dropout = cfg.dropout;
  steps_ = std::make_unique<TransformerSteps<T>>(p, sc);
  this->build_edges(sc);
}

template <class T>
void VitModel<T>::set_batch(const VitBatch& b) {
  const ModelConfig& c = this->cfg_;
  require(b.B >= 1, "vit batch: B must be >= 1, got ", b.B);
  require(b.C == c.channels && b.H == c.image_h && b.W == c.image_w, "vit batch: images are [", b.B,
          ",", b.C, ",", b.H, ",", b.W, "] but the model expects [B,", c.channels, ",", c.image_h,
          ",", c.image_w, "]; match model.channels/image_h/image_w to the data set");
  require(b.images.size() == std::size_t(b.B) * b.C * b.H * b.W && b.labels.size() == std::size_t(b.B),
          "vit batch: images/labels sizes do not match B=", b.B);
  check_ids("vit batch: labels", b.labels.data(), b.labels.size(), c.n_classes, false);
  batch_ = &b;
  B_ = b.B;
  const int Tn = tokens(), d = c.d_model, K = c.n_classes;
  StepBatch& sb = this->step_batch();
  sb.B = b.B;
  sb.T = Tn;
  sb.T_tgt = 0;
  sb.key_mask.clear();
  sb.train = this->train_;
  steps_->set_batch(sb);
  this->set_edge_batch(sb);
  const std::size_t bp = std::size_t(b.B) * patches_, bd = std::size_t(b.B) * d,
                    bk = std::size_t(b.B) * K, nd = std::size_t(b.B) * Tn * d, b1 = b.B;
  this->ensure_work(footprint_sum<T>({bp * patch_len_, bp * d, bd, bd, b1, b1, bk, bk, b1, b1, bd,
                                      bd, nd}));
  Arena<T>& a = this->work_;
  patch_in_ = a.alloc(bp * patch_len_), patch_out_ = a.alloc(bp * d), cls_x_ = a.alloc(bd);
  y_ = a.alloc(bd), mean_ = a.alloc(b1), rstd_ = a.alloc(b1), logits_ = a.alloc(bk);
  dlogits_ = a.alloc(bk), losses_ = a.alloc(b1), lse_ = a.alloc(b1), dy_ = a.alloc(bd);
  dcls_ = a.alloc(bd), dscratch_ = a.alloc(nd);
}

template <class T>
void VitModel<T>::embed_forward(T* u0) {
  require(batch_, "vit: open_forward() before set_batch()");
  const ModelConfig& c = this->cfg_;
  const auto& p = this->params_;
  const int d = c.d_model, ps = c.patch, gw = c.image_w / ps, Tn = tokens();
  // im2col: patch (pi, pj) of image b, flattened in (c, i, j) order.
  const float* img = batch_->images.data();
  for (int b = 0; b < B_; ++b)
    for (int q = 0; q < patches_; ++q) {
      const int pi = q / gw, pj = q % gw;
      T* row = patch_in_ + (std::size_t(b) * patches_ + q) * patch_len_;
      for (int ch = 0; ch < c.channels; ++ch)
        for (int i = 0; i < ps; ++i)
          for (int j = 0; j < ps; ++j)
            row[(ch * ps + i) * ps + j] =
                T(img[((std::size_t(b) * c.channels + ch) * c.image_h + pi * ps + i) * c.image_w +
                      pj * ps + j]);
    }
  ops::linear_forward(patch_out_, patch_in_, p.value("patch_w"), p.value("patch_b"), B_ * patches_,
                      patch_len_, d);
  const T* cls = p.value("cls");
  const T* pos = p.value("pos");
  for (int b = 0; b < B_; ++b) {
    T* u = u0 + std::size_t(b) * Tn * d;
    ops::add(u, cls, pos, d);
    ops::add(u + d, patch_out_ + std::size_t(b) * patches_ * d, pos + d, std::size_t(patches_) * d);
  }
  dropout_inplace(u0, std::size_t(B_) * Tn * d, this->embedding_key(), this->dropout_now());
}

template <class T>
double VitModel<T>::head_close(const T* uN, T* lamN) {
  require(batch_, "vit: close() before set_batch()");
  auto& p = this->params_;
  const int d = this->cfg_.d_model, K = this->cfg_.n_classes, Tn = tokens();
  const double eps = this->cfg_.label_smoothing;
  for (int b = 0; b < B_; ++b) ops::copy(cls_x_ + std::size_t(b) * d, uN + std::size_t(b) * Tn * d, d);
  ops::layernorm_forward(y_, mean_, rstd_, cls_x_, p.value("lnf_w"), p.value("lnf_b"), B_, d);
  ops::linear_forward(logits_, y_, p.value("head_w"), p.value("head_b"), B_, d, K);
  loss_ = ops::cross_entropy_forward(losses_, lse_, logits_, batch_->labels.data(), B_, K, eps);
  if (!lamN) return loss_;
  const std::size_t bd = std::size_t(B_) * d;
  ops::zero(dlogits_, std::size_t(B_) * K);
  ops::cross_entropy_backward(dlogits_, logits_, lse_, batch_->labels.data(), B_, K, 1.0, eps);
  ops::zero(dy_, bd);
  ops::linear_backward(dy_, p.grad("head_w"), p.grad("head_b"), dlogits_, y_, p.value("head_w"), B_,
                       d, K);
  ops::zero(dcls_, bd);
  ops::layernorm_backward(dcls_, p.grad("lnf_w"), p.grad("lnf_b"), dy_, cls_x_, p.value("lnf_w"),
                          mean_, rstd_, B_, d);
  ops::zero(lamN, std::size_t(B_) * Tn * d);
  for (int b = 0; b < B_; ++b) ops::copy(lamN + std::size_t(b) * Tn * d, dcls_ + std::size_t(b) * d, d);
  return loss_;
}

template <class T>
void VitModel<T>::embed_backward(const T* lam0) {
  auto& p = this->params_;
  const int d = this->cfg_.d_model, Tn = tokens();
  const std::size_t n = std::size_t(B_) * Tn * d;
  const T* g = lam0;
  if (this->dropout_now() > 0) {
    ops::copy(dscratch_, lam0, n);
    dropout_inplace(dscratch_, n, this->embedding_key(), this->dropout_now());
    g = dscratch_;
  }
  T* gcls = p.grad("cls");
  T* gpos = p.grad("pos");
  // Rows of λ0 that came from patches, gathered for one GEMM (patch_out_ is free now).
  for (int b = 0; b < B_; ++b) {
    const T* gb = g + std::size_t(b) * Tn * d;
    ops::accumulate(gcls, gb, T(1), d);
    ops::accumulate(gpos, gb, T(1), std::size_t(Tn) * d);
    ops::copy(patch_out_ + std::size_t(b) * patches_ * d, gb + d, std::size_t(patches_) * d);
  }
  ops::linear_backward<T>(nullptr, p.grad("patch_w"), p.grad("patch_b"), patch_out_, patch_in_,
                          p.value("patch_w"), B_ * patches_, patch_len_, d);
}

template <class T>
EvalCounts VitModel<T>::eval_counts() const {
  const auto a = ops::accuracy_count(logits_, batch_->labels.data(), B_, this->cfg_.n_classes);
  return {loss_, a.correct, a.counted};
}

template class VitModel<float>;
template class VitModel<double>;

}  // namespace lpt
