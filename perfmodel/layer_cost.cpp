#include "perfmodel/layer_cost.hpp"

#include "util/error.hpp"

namespace lpt::perf {

int ModelShape::tokens() const {
  if (family == Family::vit) return 1 + (image / patch) * (image / patch);
  return seq;
}

void ModelShape::validate() const {
  require(batch >= 1, "model batch must be >= 1, got ", batch);
  require(d >= 1 && heads >= 1 && d % heads == 0, "model d (", d,
          ") must be a positive multiple of heads (", heads, ")");
  require(d_ff >= 1, "model d_ff must be >= 1, got ", d_ff);
  require(layers >= 1, "model layers must be >= 1, got ", layers);
  require(act_bytes == 2 || act_bytes == 4, "act_bytes must be 2 (bf16) or 4 (fp32), got ",
          act_bytes);
  if (family == Family::vit) {
    require(patch >= 1 && image % patch == 0, "ViT image (", image,
            ") must be a multiple of patch (", patch, ")");
    require(channels >= 1 && classes >= 1, "ViT channels and classes must be >= 1");
  } else {
    require(seq >= 1, "model seq must be >= 1, got ", seq);
    require(vocab >= 1, "model vocab must be >= 1, got ", vocab);
  }
  if (family == Family::mt) {
    require(enc_layers >= 1 && enc_layers < layers, "translation needs 1 <= enc_layers (",
            enc_layers, ") < layers (", layers, ")");
    require(src_seq >= 1, "translation needs src_seq >= 1, got ", src_seq);
  }
}

namespace {

// Pieces shared by both layer kinds. M = B·Tq query rows, dh = d/H.
struct Dims {
  double B, Tq, Tk, d, H, dh, dff, M, Mk, s;
};

Dims dims(const ModelShape& sh, int tq, int tk) {
  Dims x;
  x.B = sh.batch;
  x.Tq = tq;
  x.Tk = tk;
  x.d = sh.d;
  x.H = sh.heads;
  x.dh = x.d / x.H;
  x.dff = sh.d_ff;
  x.M = x.B * x.Tq;
  x.Mk = x.B * x.Tk;
  x.s = sh.act_bytes;
  return x;
}

// LayerNorm over rows of d: mean, variance, normalise, affine ≈ 8 FLOPs per element.
void layernorm_fwd(OpCost& op, const std::string& n, double rows, const Dims& x) {
  op.elementwise(n, rows * x.d, 1, 1, 8, x.s);
}
// Backward reads dy, x (or x̂) and writes dx; ≈ 12 FLOPs per element.
void layernorm_bwd(OpCost& op, const std::string& n, double rows, const Dims& x) {
  op.elementwise(n + ".dx", rows * x.d, 2, 1, 12, x.s);
}
void layernorm_pgrad(OpCost& op, const std::string& n, double rows, const Dims& x) {
  op.elementwise(n + ".dwb", rows * x.d, 2, 0, 3, x.s);
}

// softmax(Q K^T / sqrt(dh)) V for Tq queries against Tk keys.
void attention_fwd(OpCost& op, const std::string& n, const Dims& x, bool flash) {
  const double bh = x.B * x.H;
  if (flash) {
    Kernel k;
    k.name = n + ".flash";
    k.cls = KernelClass::gemm;
    k.flops = 4.0 * bh * x.Tq * x.Tk * x.dh;
    k.bytes = (2 * x.M * x.d + 2 * x.Mk * x.d) * x.s;
    op.add(k);
    return;
  }
  op.gemm(n + ".scores", x.Tq, x.Tk, x.dh, bh, x.s);
  op.elementwise(n + ".softmax", bh * x.Tq * x.Tk, 1, 1, 5, x.s);
  op.gemm(n + ".pv", x.Tq, x.dh, x.Tk, bh, x.s);
}

// Gradients of Q, K, V: dP = dO V^T, dV = P^T dO, softmax backward, dQ = dS K, dK = dS^T Q.
void attention_bwd(OpCost& op, const std::string& n, const Dims& x, bool flash) {
  const double bh = x.B * x.H;
  if (flash) {
    Kernel k;  // recomputes S, then dV, dP, dQ, dK: five T×T GEMMs
    k.name = n + ".flash_bwd";
    k.cls = KernelClass::gemm;
    k.flops = 10.0 * bh * x.Tq * x.Tk * x.dh;
    k.bytes = (4 * x.M * x.d + 4 * x.Mk * x.d) * x.s;
    op.add(k);
    return;
  }
  op.gemm(n + ".dP", x.Tq, x.Tk, x.dh, bh, x.s);
  op.gemm(n + ".dV", x.Tk, x.dh, x.Tq, bh, x.s);
  op.elementwise(n + ".softmax_bwd", bh * x.Tq * x.Tk, 2, 1, 4, x.s);
  op.gemm(n + ".dQ", x.Tq, x.dh, x.Tk, bh, x.s);
  op.gemm(n + ".dK", x.Tk, x.dh, x.Tq, bh, x.s);
}

double attention_tape(const Dims& x, bool flash) {
  // Flash keeps only the output and the row log-sum-exp; explicit attention keeps the
  // probabilities.
  return flash ? x.M * x.d + x.B * x.H * x.Tq : x.B * x.H * x.Tq * x.Tk + x.M * x.d;
}

// Linear y = x W^T + b with W [out, in] over `rows` rows (bias fused into the GEMM epilogue).
void linear_fwd(OpCost& op, const std::string& n, double rows, double out, double in,
                const Dims& x) {
  op.gemm(n, rows, out, in, 1, x.s);
}
void linear_dx(OpCost& op, const std::string& n, double rows, double out, double in,
               const Dims& x) {
  op.gemm(n + ".dx", rows, in, out, 1, x.s);
}
void linear_pgrad(OpCost& op, const std::string& n, double rows, double out, double in,
                  const Dims& x) {
  op.gemm(n + ".dW", out, in, rows, 1, x.s);
  op.elementwise(n + ".db", rows * out, 1, 0, 1, x.s);
}

// Self-attention sublayer a = Attn(LN1(u)) and MLP sublayer c = MLP(LN2(v)), shared by both kinds.
void self_attn_fwd(OpCost& op, const Dims& x, bool flash) {
  layernorm_fwd(op, "ln1", x.M, x);
  linear_fwd(op, "attn.qkv", x.M, 3 * x.d, x.d, x);
  Dims self = x;
  self.Tk = x.Tq;
  self.Mk = x.M;
  attention_fwd(op, "attn", self, flash);
  linear_fwd(op, "attn.proj", x.M, x.d, x.d, x);
}
void mlp_fwd(OpCost& op, const Dims& x) {
  layernorm_fwd(op, "ln2", x.M, x);
  linear_fwd(op, "mlp.fc", x.M, x.dff, x.d, x);
  op.elementwise("mlp.gelu", x.M * x.dff, 1, 1, 10, x.s);
  linear_fwd(op, "mlp.proj", x.M, x.d, x.dff, x);
}
void mlp_vjp(OpCost& op, const Dims& x) {
  linear_dx(op, "mlp.proj", x.M, x.d, x.dff, x);
  op.elementwise("mlp.gelu_bwd", x.M * x.dff, 2, 1, 15, x.s);
  linear_dx(op, "mlp.fc", x.M, x.dff, x.d, x);
  layernorm_bwd(op, "ln2", x.M, x);
}
void self_attn_vjp(OpCost& op, const Dims& x, bool flash) {
  linear_dx(op, "attn.proj", x.M, x.d, x.d, x);
  Dims self = x;
  self.Tk = x.Tq;
  self.Mk = x.M;
  attention_bwd(op, "attn", self, flash);
  linear_dx(op, "attn.qkv", x.M, 3 * x.d, x.d, x);
  layernorm_bwd(op, "ln1", x.M, x);
}
void self_attn_pgrad(OpCost& op, const Dims& x) {
  linear_pgrad(op, "attn.proj", x.M, x.d, x.d, x);
  linear_pgrad(op, "attn.qkv", x.M, 3 * x.d, x.d, x);
  layernorm_pgrad(op, "ln1", x.M, x);
}
void mlp_pgrad(OpCost& op, const Dims& x) {
  linear_pgrad(op, "mlp.proj", x.M, x.d, x.dff, x);
  linear_pgrad(op, "mlp.fc", x.M, x.dff, x.d, x);
  layernorm_pgrad(op, "ln2", x.M, x);
}

double block_params(const Dims& x) {
  return 4 * x.d * x.d + 2 * x.d * x.dff + x.dff + 9 * x.d;  // qkv, proj, fc, proj, 2 LNs
}

}  // namespace

LayerCost encoder_layer_cost(const ModelShape& s, int tokens) {
  const Dims x = dims(s, tokens, tokens);
  const bool fl = s.flash_attention;
  LayerCost c;
  self_attn_fwd(c.forward, x, fl);
  c.forward.elementwise("resid.u_plus_a", x.M * x.d, 2, 1, 1, x.s);
  mlp_fwd(c.forward, x);
  c.forward.elementwise("resid.update", x.M * x.d, 3, 1, 3, x.s);  // u + h(a + c)

  c.vjp_state.elementwise("resid.update_bwd", x.M * x.d, 1, 1, 1, x.s);  // h·λ
  mlp_vjp(c.vjp_state, x);
  c.vjp_state.elementwise("resid.sum_a", x.M * x.d, 2, 1, 1, x.s);
  self_attn_vjp(c.vjp_state, x, fl);
  c.vjp_state.elementwise("resid.sum_u", x.M * x.d, 2, 1, 1, x.s);

  self_attn_pgrad(c.param_grad, x);
  mlp_pgrad(c.param_grad, x);

  c.params = block_params(x);
  // ln1 out, qkv, attention (probabilities or output), u + a, ln2 out, fc out, gelu out, and the
  // two LayerNorms' mean and rstd (float).
  c.tape_bytes = (x.M * x.d * 6 + attention_tape(x, fl) + 2 * x.M * x.dff) * x.s + 4 * x.M * 4;
  return c;
}

LayerCost decoder_layer_cost(const ModelShape& s, int tokens, int mem_tokens) {
  const Dims x = dims(s, tokens, mem_tokens);
  const bool fl = s.flash_attention;
  LayerCost c;
  self_attn_fwd(c.forward, x, fl);
  c.forward.elementwise("resid.y_plus_a", x.M * x.d, 2, 1, 1, x.s);
  layernorm_fwd(c.forward, "lnq", x.M, x);
  layernorm_fwd(c.forward, "lnkv", x.Mk, x);
  linear_fwd(c.forward, "cross.q", x.M, x.d, x.d, x);
  linear_fwd(c.forward, "cross.kv", x.Mk, 2 * x.d, x.d, x);
  attention_fwd(c.forward, "cross", x, fl);
  linear_fwd(c.forward, "cross.proj", x.M, x.d, x.d, x);
  c.forward.elementwise("resid.plus_b", x.M * x.d, 2, 1, 1, x.s);
  mlp_fwd(c.forward, x);
  c.forward.elementwise("resid.update", x.M * x.d, 4, 1, 4, x.s);  // y + h(a + b + c)

  c.vjp_state.elementwise("resid.update_bwd", x.M * x.d, 1, 1, 1, x.s);
  mlp_vjp(c.vjp_state, x);
  c.vjp_state.elementwise("resid.sum_b", x.M * x.d, 2, 1, 1, x.s);
  // The memory X is frozen during the decoder phase (docs/parameters.md), so only the query path
  // of the cross-attention carries a state gradient.
  linear_dx(c.vjp_state, "cross.proj", x.M, x.d, x.d, x);
  attention_bwd(c.vjp_state, "cross", x, fl);
  linear_dx(c.vjp_state, "cross.q", x.M, x.d, x.d, x);
  layernorm_bwd(c.vjp_state, "lnq", x.M, x);
  c.vjp_state.elementwise("resid.sum_a", x.M * x.d, 2, 1, 1, x.s);
  self_attn_vjp(c.vjp_state, x, fl);
  c.vjp_state.elementwise("resid.sum_u", x.M * x.d, 2, 1, 1, x.s);

  self_attn_pgrad(c.param_grad, x);
  linear_pgrad(c.param_grad, "cross.proj", x.M, x.d, x.d, x);
  linear_pgrad(c.param_grad, "cross.q", x.M, x.d, x.d, x);
  // K and V weights need dK, dV, which the state VJP produced but did not propagate further.
  linear_pgrad(c.param_grad, "cross.kv", x.Mk, 2 * x.d, x.d, x);
  layernorm_pgrad(c.param_grad, "lnq", x.M, x);
  layernorm_pgrad(c.param_grad, "lnkv", x.Mk, x);
  mlp_pgrad(c.param_grad, x);

  c.params = block_params(x) + 4 * x.d * x.d + 4 * x.d + 4 * x.d;  // q, kv, proj (+biases), 2 LNs
  Dims self = x;
  self.Tk = x.Tq;
  self.Mk = x.M;
  c.tape_bytes = (x.M * x.d * 9 + x.Mk * x.d * 3 + attention_tape(self, fl) +
                  attention_tape(x, fl) + 2 * x.M * x.dff) *
                     x.s +
                 (6 * x.M + 2 * x.Mk) * 4;
  return c;
}

LayerCost step_layer_cost(const ModelShape& s, int n) {
  if (s.family == Family::mt) {
    if (n < s.enc_layers) return encoder_layer_cost(s, s.src_seq);
    return decoder_layer_cost(s, s.seq, s.src_seq);
  }
  return encoder_layer_cost(s, s.tokens());
}

namespace {

// Token embedding gather plus learned positions over `tokens` positions.
void embed(EndCost& e, const std::string& n, const Dims& x, double tokens, double vocab,
           double max_pos) {
  const double M = x.B * tokens;
  e.forward.elementwise(n + ".gather", M * x.d, 2, 1, 1, x.s);
  e.backward.elementwise(n + ".scatter_wte", M * x.d, 2, 1, 1, 4);  // fp32 atomics into dW
  e.backward.elementwise(n + ".dwpe", M * x.d, 1, 1, 1, 4);
  e.params += vocab * x.d + max_pos * x.d;
}

// LNf, logits against the tied embedding, softmax cross-entropy over `rows` rows.
void lm_head(EndCost& e, const Dims& x, double rows, double vocab) {
  layernorm_fwd(e.forward, "lnf", rows, x);
  e.forward.gemm("logits", rows, vocab, x.d, 1, x.s);
  e.forward.elementwise("cross_entropy", rows * vocab, 1, 0, 5, x.s);
  e.backward.elementwise("cross_entropy_bwd", rows * vocab, 1, 1, 5, x.s);
  e.backward.gemm("logits.dx", rows, x.d, vocab, 1, x.s);
  e.backward.gemm("logits.dW", vocab, x.d, rows, 1, x.s);
  layernorm_bwd(e.backward, "lnf", rows, x);
  layernorm_pgrad(e.backward, "lnf", rows, x);
  e.params += 2 * x.d;
  e.workspace_bytes += rows * vocab * (x.s + 4);  // logits and their float gradient
}

}  // namespace

namespace {
// `count` ordinary layers in an opening or closing: the forward, and in the backward the forward
// again (lpt recomputes their tapes) plus the VJP and the parameter gradients.
void add_edge_layers(EndCost& e, const ModelShape& s, int count) {
  if (count <= 0) return;
  const LayerCost l = encoder_layer_cost(s, s.tokens());
  for (int i = 0; i < count; ++i) {
    e.forward.append(l.forward);
    e.backward.append(l.forward);
    e.backward.append(l.vjp_state);
    e.backward.append(l.param_grad);
    e.params += l.params;
  }
}
}  // namespace

EndCost opening_cost(const ModelShape& s) {
  const Dims x = dims(s, s.tokens(), s.tokens());
  EndCost e;
  add_edge_layers(e, s, s.edge_before);
  switch (s.family) {
    case Family::gpt:
    case Family::bert: embed(e, "emb", x, s.seq, s.vocab, s.seq); break;
    case Family::mt:
      embed(e, "src_emb", x, s.src_seq, s.vocab, s.src_seq);
      embed(e, "tgt_emb", x, s.seq, s.vocab, s.seq);
      break;
    case Family::vit: {
      const double np = x.Tq - 1, cpp = double(s.channels) * s.patch * s.patch;
      e.forward.elementwise("patchify", x.B * np * cpp, 1, 1, 0, x.s);
      e.forward.gemm("patch_embed", x.B * np, x.d, cpp, 1, x.s);
      e.forward.elementwise("cls_pos", x.M * x.d, 2, 1, 1, x.s);
      e.backward.gemm("patch_embed.dW", x.d, cpp, x.B * np, 1, x.s);
      e.backward.elementwise("patch_embed.db", x.B * np * x.d, 1, 0, 1, x.s);
      e.backward.elementwise("cls_pos.grad", x.M * x.d, 1, 1, 1, 4);
      e.params = x.d * cpp + x.d + x.d + x.Tq * x.d;
      break;
    }
  }
  return e;
}

EndCost closing_cost(const ModelShape& s) {
  const Dims x = dims(s, s.tokens(), s.tokens());
  EndCost e;
  add_edge_layers(e, s, s.edge_after);
  switch (s.family) {
    case Family::gpt:
    case Family::mt: lm_head(e, x, x.M, s.vocab); break;
    case Family::bert:
      // LNf, then dense + GELU + LN before the tied logits (counted by lm_head's LN).
      layernorm_fwd(e.forward, "lnf", x.M, x);
      linear_fwd(e.forward, "mlm.dense", x.M, x.d, x.d, x);
      e.forward.elementwise("mlm.gelu", x.M * x.d, 1, 1, 10, x.s);
      linear_dx(e.backward, "mlm.dense", x.M, x.d, x.d, x);
      linear_pgrad(e.backward, "mlm.dense", x.M, x.d, x.d, x);
      e.backward.elementwise("mlm.gelu_bwd", x.M * x.d, 2, 1, 15, x.s);
      layernorm_bwd(e.backward, "lnf", x.M, x);
      layernorm_pgrad(e.backward, "lnf", x.M, x);
      lm_head(e, x, x.M, s.vocab);  // its "lnf" stands for mlm.ln
      e.params += x.d * x.d + x.d + 2 * x.d + s.vocab;
      break;
    case Family::vit:
      layernorm_fwd(e.forward, "lnf", x.B, x);  // only the class token reaches the head
      linear_fwd(e.forward, "head", x.B, s.classes, x.d, x);
      e.forward.elementwise("cross_entropy", x.B * s.classes, 1, 0, 5, x.s);
      e.backward.elementwise("cross_entropy_bwd", x.B * s.classes, 1, 1, 5, x.s);
      linear_dx(e.backward, "head", x.B, s.classes, x.d, x);
      linear_pgrad(e.backward, "head", x.B, s.classes, x.d, x);
      layernorm_bwd(e.backward, "lnf", x.B, x);
      layernorm_pgrad(e.backward, "lnf", x.B, x);
      e.params = 2 * x.d + s.classes * x.d + s.classes;
      break;
  }
  return e;
}

double tied_params(const ModelShape& s) {
  return s.family == Family::vit ? 0.0 : double(s.vocab) * s.d;
}

double state_bytes(const ModelShape& s) {
  const double t = s.family == Family::mt ? double(s.src_seq) + s.seq : s.tokens();
  return double(s.batch) * t * s.d * s.act_bytes;
}

}  // namespace lpt::perf
