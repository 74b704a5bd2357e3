#pragma once
// FLOPs and bytes of one ODE step (forward, state VJP, parameter gradient) of each layer kind, and
// of the opening (embedding) and closing (head + loss) layers, counted from the model shape of
// docs/parameters.md. GEMMs count 2·M·N·K; attention counts the full T×T score matrix (no causal
// skipping) unless flash_attention is set; LayerNorm, GELU, softmax and residual adds count the
// bytes they stream. See docs/perfmodel.md §1 for the per-kernel table.
#include <string>

#include "perfmodel/op_cost.hpp"
#include "util/family.hpp"

namespace lpt::perf {

struct ModelShape {
  Family family = Family::gpt;
  int batch = 8;      // B: micro-batch per replica
  int seq = 1024;     // T: tokens (translation: target length; ViT: derived from the image)
  int d = 768;
  int heads = 12;
  int d_ff = 3072;
  int vocab = 50257;  // translation: source and target vocabulary
  int layers = 12;    // N: ODE steps (translation: enc_layers + decoder layers)
  int enc_layers = 0; // translation only: the first enc_layers steps are encoder steps
  int src_seq = 0;    // translation only: source length
  int channels = 3, image = 224, patch = 16, classes = 1000;  // ViT only
  int act_bytes = 2;  // bytes per activation / message element: 2 (bf16) or 4 (fp32)
  bool flash_attention = false;  // fused attention: no T×T tensor in memory, recomputed backward
  // Ordinary layers before and after the ODE chain (lpt's model.edge_layers), part of the opening
  // and closing: forward, then in the backward their forward again (recomputed) and the VJP.
  int edge_before = 0, edge_after = 0;

  int tokens() const;  // T, or 1 + patches for ViT
  void validate() const;  // throws lpt::Error naming the offending field
};

struct LayerCost {
  OpCost forward;     // u[n] -> u[n+1]
  OpCost vjp_state;   // lambda[n+1] -> lambda[n], given the forward tape
  OpCost param_grad;  // dL/dtheta[n] on top of vjp_state (weight GEMMs, bias and LN reductions)
  double params = 0;      // parameter count
  double tape_bytes = 0;  // activations the backward reads if the forward kept them
};

// Encoder / GPT / BERT / ViT layer over `tokens` positions (causal only changes the mask, not the
// count). Decoder layer: the same plus cross-attention on a memory of mem_tokens positions.
LayerCost encoder_layer_cost(const ModelShape& s, int tokens);
LayerCost decoder_layer_cost(const ModelShape& s, int tokens, int mem_tokens);
// The layer that fine step n of the chain applies.
LayerCost step_layer_cost(const ModelShape& s, int n);

struct EndCost {
  OpCost forward;
  OpCost backward;  // input gradient (closing) and parameter gradients
  double params = 0;
  double workspace_bytes = 0;  // largest live activation (logits for an LM head)
};
EndCost opening_cost(const ModelShape& s);
EndCost closing_cost(const ModelShape& s);
// Parameters shared by the opening and closing layers (tied token embedding): held by the first
// and last rank both, their gradients summed once per step.
double tied_params(const ModelShape& s);

// Bytes of the ODE state (one MGRIT message): B·T·d, or B·(Ts+Tt)·d for the stacked translation
// state.
double state_bytes(const ModelShape& s);

}  // namespace lpt::perf
