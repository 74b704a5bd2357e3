#pragma once
// Tiny configs and synthetic batches of the four families, shared by the family, train-step and
// PyTorch-parity tests.
#include <cmath>
#include <memory>
#include <random>
#include <string>

#include "model/families/bert.hpp"
#include "model/families/bert_classifier.hpp"
#include "model/families/gpt.hpp"
#include "model/families/mt.hpp"
#include "model/families/vit.hpp"

namespace lpt::test {

// Any family with its own batch, bound through one call.
template <class T>
struct FamilyCase {
  std::string family;
  ModelConfig cfg;
  std::unique_ptr<Model<T>> model;
  GptBatch gpt;
  BertBatch bert;
  TextClassBatch cls;
  VitBatch vit;
  MtBatch mt;
  void bind() {
    if (family == "gpt") static_cast<GptModel<T>&>(*model).set_batch(gpt);
    if (family == "bert") static_cast<BertModel<T>&>(*model).set_batch(bert);
    if (family == "bert_cls") static_cast<BertClassifier<T>&>(*model).set_batch(cls);
    if (family == "vit") static_cast<VitModel<T>&>(*model).set_batch(vit);
    if (family == "mt") static_cast<MtModel<T>&>(*model).set_batch(mt);
  }
};

// Random weights of O(0.3) (LayerNorm scales near 1), so that every nonlinearity is exercised:
// the N(0, 0.02) initialization would make the layers almost linear.
template <class T>
void randomize(ParamStore<T>& p, unsigned seed, double scale = 0.3) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  for (const auto& e : p.entries()) {
    const bool ln_scale = e.name.find("ln") != std::string::npos && e.name.back() == 'w' &&
                          e.shape.size() == 1;
    for (std::size_t i = 0; i < e.numel; ++i)
      p.values()[e.offset + i] = T((ln_scale ? 1.0 : 0.0) + scale * nd(rng));
  }
}

inline int rand_int(std::mt19937_64& rng, int n) {
  return int(std::uniform_int_distribution<int>(0, n - 1)(rng));
}

// family in {gpt, bert, bert_cls, vit, mt}; sizes: d, H, dff, L, B, T (mt: Ts = T, Tt = T2).
struct TinySpec {
  std::string family;
  int d = 6, H = 3, dff = 10, L = 2, B = 2, T = 4, T2 = 3;
  double h = 1.0, dropout = 0.0, smoothing = 0.0;
  bool padding = true;
  unsigned seed = 1;
  int edge_before = 0, edge_after = 0;  // model.edge_layers (gpt, bert, bert_cls, vit)
};

template <class T>
FamilyCase<T> make_case(const TinySpec& s) {
  FamilyCase<T> c;
  c.family = s.family;
  ModelConfig& m = c.cfg;
  m.d_model = s.d, m.heads = s.H, m.d_ff = s.dff, m.h = s.h, m.dropout = s.dropout;
  m.label_smoothing = s.smoothing;
  m.edge_before = s.edge_before, m.edge_after = s.edge_after;
  std::mt19937_64 rng(s.seed);
  if (s.family == "gpt" || s.family == "bert") {
    m.layers = s.L, m.vocab = 11, m.max_len = s.T + 2;
    if (s.family == "gpt") {
      c.gpt.shape(s.B, s.T);
      for (std::size_t i = 0; i < c.gpt.tokens.size(); ++i) {
        c.gpt.tokens[i] = rand_int(rng, m.vocab);
        c.gpt.targets[i] = (i % 5 == 3) ? kIgnoreIndex : rand_int(rng, m.vocab);
      }
      c.gpt.targets[0] = 1;
    } else {
      c.bert.shape(s.B, s.T);
      for (std::size_t i = 0; i < c.bert.tokens.size(); ++i) {
        c.bert.tokens[i] = rand_int(rng, m.vocab);
        c.bert.targets[i] = (i % 3 == 1) ? rand_int(rng, m.vocab) : kIgnoreIndex;
        c.bert.key_mask[i] = 1;
      }
      c.bert.targets[0] = 2;
      if (s.padding && s.T > 1)  // the last sequence is padded at the end
        for (int t = s.T / 2 + 1; t < s.T; ++t) c.bert.key_mask[std::size_t(s.B - 1) * s.T + t] = 0;
    }
  } else if (s.family == "bert_cls") {
    m.layers = s.L, m.vocab = 11, m.max_len = s.T + 2, m.n_classes = 4;
    c.cls.shape(s.B, s.T);
    for (std::size_t i = 0; i < c.cls.tokens.size(); ++i) {
      c.cls.tokens[i] = rand_int(rng, m.vocab);
      c.cls.key_mask[i] = 1;
    }
    for (auto& l : c.cls.labels) l = rand_int(rng, m.n_classes);
    if (s.padding && s.T > 1)  // the last sequence is padded at the end: pooling skips it
      for (int t = s.T / 2 + 1; t < s.T; ++t) c.cls.key_mask[std::size_t(s.B - 1) * s.T + t] = 0;
  } else if (s.family == "vit") {
    m.layers = s.L, m.channels = 2, m.image_h = 4, m.image_w = 6, m.patch = 2, m.n_classes = 5;
    c.vit.shape(s.B, 2, 4, 6);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (auto& x : c.vit.images) x = nd(rng);
    for (auto& l : c.vit.labels) l = rand_int(rng, m.n_classes);
  } else {
    m.enc_layers = s.L, m.dec_layers = s.L, m.src_vocab = 9, m.tgt_vocab = 8;
    m.src_max_len = s.T + 1, m.tgt_max_len = s.T2 + 2;
    c.mt.shape(s.B, s.T, s.T2);
    for (std::size_t i = 0; i < c.mt.src.size(); ++i) {
      c.mt.src[i] = rand_int(rng, m.src_vocab);
      c.mt.src_mask[i] = 1;
    }
    for (std::size_t i = 0; i < c.mt.tgt_in.size(); ++i) {
      c.mt.tgt_in[i] = rand_int(rng, m.tgt_vocab);
      c.mt.tgt_out[i] = rand_int(rng, m.tgt_vocab);
    }
    if (s.padding) {
      for (int t = s.T / 2 + 1; t < s.T; ++t) c.mt.src_mask[t] = 0;  // sequence 0 source padded
      c.mt.tgt_out[std::size_t(s.T2) - 1] = kIgnoreIndex;         // and its last target
    }
  }
  c.model = make_model<T>(s.family, m);
  randomize(c.model->params(), s.seed + 100);
  c.bind();
  return c;
}

// The 4 + 4-layer translation chain (h = 1/4) and padded 2-pair batch of the MGRIT chain tests:
// cfactor 2 on 3 levels or cfactor 4 on 2 keeps the encoder/decoder boundary a coarse point.
inline ModelConfig chain_mt_config() {
  ModelConfig c;
  c.d_model = 8, c.heads = 2, c.d_ff = 16, c.enc_layers = 4, c.dec_layers = 4;
  c.src_vocab = 9, c.tgt_vocab = 7, c.src_max_len = 5, c.tgt_max_len = 4, c.h = 0.25;
  return c;
}
inline MtBatch chain_mt_batch() {
  MtBatch b;
  b.shape(2, 5, 4);
  std::mt19937 rng(6);
  for (auto& t : b.src) t = rng() % 9;
  for (auto& t : b.tgt_in) t = rng() % 7;
  for (auto& t : b.tgt_out) t = rng() % 7;
  for (std::size_t i = 0; i < b.src_mask.size(); ++i) b.src_mask[i] = (i % 5 < 4) ? 1 : 0;
  b.tgt_out[3] = kIgnoreIndex;
  return b;
}

}  // namespace lpt::test
