#pragma once
// The sizes of a model, for every family: what the families build from, and what the run config's
// model section (train/config.hpp) is made of, so that a model's shape is declared once above the
// training code. A light header: nothing of the model itself.
#include "model/params.hpp"

namespace lpt {

// Sizes of every family; each family reads the fields it needs and checks them.
struct ModelConfig {
  int d_model = 0, heads = 1, d_ff = 0;
  int layers = 0;                        // GPT, BERT, ViT
  int enc_layers = 0, dec_layers = 0;    // translation
  int vocab = 0, max_len = 0;            // GPT, BERT
  int src_vocab = 0, src_max_len = 0;    // translation
  int tgt_vocab = 0, tgt_max_len = 0;    // translation
  int channels = 0, image_h = 0, image_w = 0, patch = 0, n_classes = 0;  // ViT
  double dropout = 0;          // embedding output and φ outputs (docs/parameters.md)
  double label_smoothing = 0;  // ε of the loss (every family)
  double h = 1;                // ODE step size of every layer (1 = standard transformer)
  // Ordinary (h = 1) transformer layers before and after the ODE chain, computed exactly with the
  // opening and closing (GPT, BERT, ViT).
  int edge_before = 0, edge_after = 0;
  // Which tensors this process holds when the layers are split over ranks (model/params.hpp);
  // empty: all of them.
  ParamRoles roles;
};

}  // namespace lpt
