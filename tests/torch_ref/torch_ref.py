#!/usr/bin/python3
"""PyTorch reference of lpt's four model families (GPT, BERT, ViT, translation).

Written with plain tensor ops, one line of the contract at a time (docs/parameters.md), so that
the C++ models can be checked against it to round-off: loss, logits and d loss / d parameter for
one batch. The exchange format is in tests/torch_ref/README.md.

    /usr/bin/python3 torch_ref.py IN.h5 OUT.h5

Dropout is not modelled (the comparison runs at p = 0, where lpt has no dropout at all).
"""
import json
import math
import sys

import h5py
import numpy as np
import torch

LN_EPS = 1e-5
FAMILIES = ("gpt", "bert", "vit", "mt")
DTYPES = {"float64": torch.float64, "float32": torch.float32}

# Batch datasets per family, as docs/parameters.md names them.
BATCH_KEYS = {
    "gpt": ("tokens", "targets"),
    "bert": ("tokens", "targets", "key_mask"),
    "vit": ("images", "labels"),
    "mt": ("src", "src_mask", "tgt_in", "tgt_out"),
}


class RefError(Exception):
    """A malformed input file or batch; the message names the problem and the fix."""


def require(ok, msg):
    if not ok:
        raise RefError(msg)


# ---------------------------------------------------------------------------------------------
# Building blocks, each the contract's definition written out.


def layer_norm(x, w, b):
    """x [..., d]; biased variance, eps 1e-5, affine, as torch.nn.LayerNorm."""
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + LN_EPS) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def linear(x, w, b):
    """w [out, in], b [out]: y = x w^T + b, as torch.nn.Linear."""
    return x @ w.t() + b


def attention(xq, xkv, w_q, b_q, w_kv, b_kv, w_o, b_o, heads, allowed):
    """Multi-head attention.

    xq [B, Tq, d] queries, xkv [B, Tk, d] keys/values; w_q [d, d]; w_kv [2d, d] (rows [0,d) K,
    [d,2d) V); allowed: bool broadcastable to [B, H, Tq, Tk] (True = may attend) or None.
    """
    B, Tq, d = xq.shape
    Tk = xkv.shape[1]
    hd = d // heads
    q = linear(xq, w_q, b_q).view(B, Tq, heads, hd).transpose(1, 2)
    kv = linear(xkv, w_kv, b_kv)
    k = kv[..., :d].reshape(B, Tk, heads, hd).transpose(1, 2)
    v = kv[..., d:].reshape(B, Tk, heads, hd).transpose(1, 2)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    out = (probs @ v).transpose(1, 2).reshape(B, Tq, d)
    return linear(out, w_o, b_o)


def self_attention(x, P, pre, heads, allowed):
    """Packed qkv_w [3d, d]: rows [0,d) Q, [d,3d) K then V."""
    d = x.shape[-1]
    w, b = P[pre + "attn.qkv_w"], P[pre + "attn.qkv_b"]
    return attention(x, x, w[:d], b[:d], w[d:], b[d:],
                     P[pre + "attn.proj_w"], P[pre + "attn.proj_b"], heads, allowed)


def mlp(x, P, pre):
    return linear(gelu_tanh(linear(x, P[pre + "mlp.fc_w"], P[pre + "mlp.fc_b"])),
                  P[pre + "mlp.proj_w"], P[pre + "mlp.proj_b"])


def encoder_step(u, P, pre, heads, h, allowed):
    """One ODE step of an encoder/GPT layer: u' = u + h (a + c), a = Attn(LN1(u)),
    c = MLP(LN2(u + a)). u [B, T, d]."""
    a = self_attention(layer_norm(u, P[pre + "ln1_w"], P[pre + "ln1_b"]), P, pre, heads, allowed)
    c = mlp(layer_norm(u + a, P[pre + "ln2_w"], P[pre + "ln2_b"]), P, pre)
    return u + h * (a + c)


def decoder_step(y, X, P, pre, heads, h, self_allowed, cross_allowed):
    """One ODE step of a decoder layer: y [B, Tt, d], memory X [B, Ts, d].
    a = SelfAttn(LN1(y)), b = Cross(LNq(y + a), LNkv(X)), c = MLP(LN2(y + a + b)),
    y' = y + h (a + b + c)."""
    a = self_attention(layer_norm(y, P[pre + "ln1_w"], P[pre + "ln1_b"]), P, pre, heads,
                       self_allowed)
    q_in = layer_norm(y + a, P[pre + "lnq_w"], P[pre + "lnq_b"])
    kv_in = layer_norm(X, P[pre + "lnkv_w"], P[pre + "lnkv_b"])
    b = attention(q_in, kv_in, P[pre + "cross.q_w"], P[pre + "cross.q_b"], P[pre + "cross.kv_w"],
                  P[pre + "cross.kv_b"], P[pre + "cross.proj_w"], P[pre + "cross.proj_b"], heads,
                  cross_allowed)
    c = mlp(layer_norm(y + a + b, P[pre + "ln2_w"], P[pre + "ln2_b"]), P, pre)
    return y + h * (a + b + c)


def causal_allowed(T, device=None):
    """[1, 1, T, T] bool, True where key index <= query index."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril().view(1, 1, T, T)


def key_allowed(mask, what):
    """mask int [B, Tk] (1 real, 0 padding) -> bool [B, 1, 1, Tk]."""
    real = mask != 0
    require(bool(real.any(dim=1).all()),
            f"{what}: a row has no real token (all padding); every row needs at least one "
            "real key, or its attention is undefined")
    return real.view(real.shape[0], 1, 1, real.shape[1])


def patchify(images, p):
    """images [B, C, H, W] -> [B, P, C*p*p], patches row-major over the (H/p, W/p) grid, each
    flattened in (c, i, j) order (Conv2d weight .view(d, -1) layout)."""
    B, C, H, W = images.shape
    require(H % p == 0 and W % p == 0, f"image {H}x{W} is not divisible by patch {p}")
    x = images.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def cross_entropy(logits, targets, smoothing):
    """Mean over targets != -100; label smoothing as torch.nn.CrossEntropyLoss."""
    require(bool((targets != -100).any()), "the batch has no target (all -100); loss undefined")
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             targets.reshape(-1), ignore_index=-100,
                                             label_smoothing=smoothing)


# ---------------------------------------------------------------------------------------------
# The four families.


def count_layers(P, prefix):
    n = 0
    while f"{prefix}{n}.ln1_w" in P:
        n += 1
    return n


def run_stack(u, P, prefix, n_layers, heads, h, allowed):
    for n in range(n_layers):
        u = encoder_step(u, P, f"{prefix}{n}.", heads, h, allowed)
    return u


def forward_gpt(cfg, P, batch):
    tok = batch["tokens"]
    T = tok.shape[1]
    require(T <= P["wpe"].shape[0], f"sequence length {T} exceeds wpe rows {P['wpe'].shape[0]}")
    u = P["wte"][tok] + P["wpe"][:T]
    u = run_stack(u, P, "layers.", cfg["layers"], cfg["heads"], cfg["h"], causal_allowed(T))
    logits = layer_norm(u, P["lnf_w"], P["lnf_b"]) @ P["wte"].t()
    return cross_entropy(logits, batch["targets"], cfg["label_smoothing"]), logits


def forward_bert(cfg, P, batch):
    tok = batch["tokens"]
    T = tok.shape[1]
    require(T <= P["wpe"].shape[0], f"sequence length {T} exceeds wpe rows {P['wpe'].shape[0]}")
    allowed = key_allowed(batch["key_mask"], "key_mask")
    u = P["wte"][tok] + P["wpe"][:T]
    u = run_stack(u, P, "layers.", cfg["layers"], cfg["heads"], cfg["h"], allowed)
    z = layer_norm(u, P["lnf_w"], P["lnf_b"])
    z = gelu_tanh(linear(z, P["mlm.dense_w"], P["mlm.dense_b"]))
    z = layer_norm(z, P["mlm.ln_w"], P["mlm.ln_b"])
    logits = z @ P["wte"].t() + P["mlm.bias"]
    return cross_entropy(logits, batch["targets"], cfg["label_smoothing"]), logits


def forward_vit(cfg, P, batch):
    x = patchify(batch["images"], cfg["patch"])
    B = x.shape[0]
    d = P["cls"].shape[0]
    emb = linear(x, P["patch_w"], P["patch_b"])
    u = torch.cat([P["cls"].view(1, 1, d).expand(B, 1, d), emb], dim=1)
    require(u.shape[1] == P["pos"].shape[0],
            f"pos has {P['pos'].shape[0]} rows but the image gives 1 + {x.shape[1]} tokens")
    u = u + P["pos"]
    u = run_stack(u, P, "layers.", cfg["layers"], cfg["heads"], cfg["h"], None)
    logits = linear(layer_norm(u, P["lnf_w"], P["lnf_b"])[:, 0], P["head_w"], P["head_b"])
    return cross_entropy(logits, batch["labels"], cfg["label_smoothing"]), logits


def forward_mt(cfg, P, batch):
    src, tgt_in = batch["src"], batch["tgt_in"]
    Ts, Tt = src.shape[1], tgt_in.shape[1]
    require(Ts <= P["src_wpe"].shape[0], f"source length {Ts} exceeds src_wpe rows")
    require(Tt <= P["tgt_wpe"].shape[0], f"target length {Tt} exceeds tgt_wpe rows")
    src_allowed = key_allowed(batch["src_mask"], "src_mask")
    X = P["src_wte"][src] + P["src_wpe"][:Ts]
    X = run_stack(X, P, "enc.", cfg["enc_layers"], cfg["heads"], cfg["enc_h"], src_allowed)
    Y = P["tgt_wte"][tgt_in] + P["tgt_wpe"][:Tt]
    causal = causal_allowed(Tt)
    for k in range(cfg["dec_layers"]):
        Y = decoder_step(Y, X, P, f"dec.{k}.", cfg["heads"], cfg["dec_h"], causal, src_allowed)
    logits = layer_norm(Y, P["lnf_w"], P["lnf_b"]) @ P["tgt_wte"].t()
    return cross_entropy(logits, batch["tgt_out"], cfg["label_smoothing"]), logits


FORWARD = {"gpt": forward_gpt, "bert": forward_bert, "vit": forward_vit, "mt": forward_mt}


def forward(family, cfg, P, batch):
    """(loss, logits) of one batch; cfg as returned by normalize_config."""
    return FORWARD[family](cfg, P, batch)


# ---------------------------------------------------------------------------------------------
# Configuration and parameter shapes.


def normalize_config(family, cfg, P=None):
    """Fills defaults and checks the config against the parameter set (when given).

    Layer counts and sizes that the parameters determine are checked, not trusted."""
    require(family in FAMILIES, f"family must be one of {FAMILIES}, got {family!r}")
    c = dict(cfg)
    c.setdefault("h", 1.0)
    c.setdefault("label_smoothing", 0.0)
    c.setdefault("dtype", "float64")
    require(c["dtype"] in DTYPES, f"config.dtype must be float64 or float32, got {c['dtype']!r}")
    require(float(c.get("dropout", 0.0)) == 0.0,
            "config.dropout must be 0: the reference has no dropout; compare at p = 0")
    for key in ("d_model", "heads"):
        require(key in c, f"config needs {key!r}")
    require(c["d_model"] % c["heads"] == 0,
            f"d_model {c['d_model']} is not divisible by heads {c['heads']}")
    if family == "mt":
        c.setdefault("enc_h", c["h"])
        c.setdefault("dec_h", c["h"])
    if family == "vit":
        require("patch" in c, "config needs 'patch' for family vit")
    if P is None:
        return c
    if family == "mt":
        counts = {"enc_layers": count_layers(P, "enc."), "dec_layers": count_layers(P, "dec.")}
    else:
        counts = {"layers": count_layers(P, "layers.")}
    for key, n in counts.items():
        require(c.get(key, n) == n, f"config.{key} = {c.get(key)} but /params holds {n} layers")
        c[key] = n
    expected = param_shapes(family, c, P)
    missing = sorted(set(expected) - set(P))
    extra = sorted(set(P) - set(expected))
    require(not missing, f"/params lacks {missing}")
    require(not extra, f"/params has unknown datasets {extra}; names follow docs/parameters.md")
    for name, shape in expected.items():
        require(tuple(P[name].shape) == tuple(shape),
                f"/params/{name} has shape {tuple(P[name].shape)}, expected {tuple(shape)}")
    return c


def layer_shapes(d, d_ff, cross):
    s = {"ln1_w": [d], "ln1_b": [d], "attn.qkv_w": [3 * d, d], "attn.qkv_b": [3 * d],
         "attn.proj_w": [d, d], "attn.proj_b": [d], "ln2_w": [d], "ln2_b": [d],
         "mlp.fc_w": [d_ff, d], "mlp.fc_b": [d_ff], "mlp.proj_w": [d, d_ff], "mlp.proj_b": [d]}
    if cross:
        s.update({"lnq_w": [d], "lnq_b": [d], "lnkv_w": [d], "lnkv_b": [d],
                  "cross.q_w": [d, d], "cross.q_b": [d], "cross.kv_w": [2 * d, d],
                  "cross.kv_b": [2 * d], "cross.proj_w": [d, d], "cross.proj_b": [d]})
    return s


def _size(c, key, P, pname, axis):
    """A size from the config, else from a parameter's shape."""
    if key in c:
        return c[key]
    require(P is not None and pname in P, f"config needs {key!r}")
    return P[pname].shape[axis]


def param_shapes(family, c, P=None):
    """name -> shape for every parameter of the family (ordered as a model lays them out:
    opening layer, the layers, closing layer). Sizes not in the config are read from P."""
    d = c["d_model"]
    shapes = {}
    if family == "mt":
        d_ff = _size(c, "d_ff", P, "enc.0.mlp.fc_w", 0)
        vs = _size(c, "src_vocab", P, "src_wte", 0)
        vt = _size(c, "tgt_vocab", P, "tgt_wte", 0)
        ts = _size(c, "src_max_len", P, "src_wpe", 0)
        tt = _size(c, "tgt_max_len", P, "tgt_wpe", 0)
        shapes.update({"src_wte": [vs, d], "src_wpe": [ts, d],
                       "tgt_wte": [vt, d], "tgt_wpe": [tt, d]})
        for n in range(c["enc_layers"]):
            shapes.update({f"enc.{n}.{k}": s for k, s in layer_shapes(d, d_ff, False).items()})
        for n in range(c["dec_layers"]):
            shapes.update({f"dec.{n}.{k}": s for k, s in layer_shapes(d, d_ff, True).items()})
        shapes.update({"lnf_w": [d], "lnf_b": [d]})
        return shapes
    d_ff = _size(c, "d_ff", P, "layers.0.mlp.fc_w", 0)
    if family in ("gpt", "bert"):
        v = _size(c, "vocab", P, "wte", 0)
        t = _size(c, "max_len", P, "wpe", 0)
        shapes.update({"wte": [v, d], "wpe": [t, d]})
    else:
        p = c["patch"]
        if "channels" in c:
            ch = c["channels"]
        else:
            require(P is not None and "patch_w" in P, "config needs 'channels' for family vit")
            ch = P["patch_w"].shape[1] // (p * p)
        if "image_h" in c and "image_w" in c:
            n_tok = 1 + (c["image_h"] // p) * (c["image_w"] // p)
        else:
            require(P is not None and "pos" in P, "config needs 'image_h' and 'image_w' for vit")
            n_tok = P["pos"].shape[0]
        shapes.update({"patch_w": [d, ch * p * p], "patch_b": [d], "cls": [d], "pos": [n_tok, d]})
    for n in range(c["layers"]):
        shapes.update({f"layers.{n}.{k}": s for k, s in layer_shapes(d, d_ff, False).items()})
    shapes.update({"lnf_w": [d], "lnf_b": [d]})
    if family == "bert":
        shapes.update({"mlm.dense_w": [d, d], "mlm.dense_b": [d], "mlm.ln_w": [d], "mlm.ln_b": [d],
                       "mlm.bias": [v]})
    if family == "vit":
        nc = _size(c, "n_classes", P, "head_w", 0)
        shapes.update({"head_w": [nc, d], "head_b": [nc]})
    return shapes


def init_params(family, c, seed=0, scale=0.3):
    """Random parameters (float64 numpy) for tests: LayerNorm scales near 1, the rest N(0, scale²)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in param_shapes(family, c).items():
        x = rng.normal(0.0, scale, size=shape)
        if name.endswith(("ln1_w", "ln2_w", "lnq_w", "lnkv_w", "lnf_w", "mlm.ln_w")):
            x = 1.0 + x
        out[name] = x
    return out


# ---------------------------------------------------------------------------------------------
# Exchange files (tests/torch_ref/README.md).


def _attr_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def read_exchange(path):
    """-> family, config (normalized), params {name: tensor}, batch {name: tensor}."""
    with h5py.File(path, "r") as f:
        require("family" in f.attrs and "config" in f.attrs,
                f"{path}: root attributes 'family' and 'config' are required")
        family = _attr_str(f.attrs["family"])
        cfg = normalize_config(family, json.loads(_attr_str(f.attrs["config"])))
        dtype = DTYPES[cfg["dtype"]]
        np_dtype = np.float64 if dtype == torch.float64 else np.float32
        require("params" in f and "batch" in f, f"{path}: groups /params and /batch are required")
        params = {}
        for name, ds in f["params"].items():
            require(ds.dtype == np_dtype, f"/params/{name} is {ds.dtype}, config.dtype is "
                    f"{cfg['dtype']}: write parameters in the config's dtype")
            params[name] = torch.from_numpy(np.array(ds[()]))
        batch = {}
        for name in BATCH_KEYS[family]:
            require(name in f["batch"], f"/batch/{name} is required for family {family}")
            a = np.array(f["batch"][name][()])
            if name == "images":
                require(a.dtype == np_dtype, f"/batch/images is {a.dtype}, config.dtype is "
                        f"{cfg['dtype']}: write images in the config's dtype")
            else:
                require(np.issubdtype(a.dtype, np.integer),
                        f"/batch/{name} is {a.dtype}; write it as int64")
                a = a.astype(np.int64)
            batch[name] = torch.from_numpy(a)
    cfg = normalize_config(family, cfg, params)
    return family, cfg, params, batch


def write_exchange(path, family, cfg, params, batch):
    """Writes an input file; params/batch are numpy arrays or tensors (cast per the README)."""
    np_dtype = np.float64 if cfg.get("dtype", "float64") == "float64" else np.float32
    with h5py.File(path, "w") as f:
        f.attrs["family"] = family
        f.attrs["config"] = json.dumps(cfg)
        g = f.create_group("params")
        for name, x in params.items():
            g.create_dataset(name, data=np.asarray(_np(x), dtype=np_dtype))
        g = f.create_group("batch")
        for name, x in batch.items():
            g.create_dataset(name, data=np.asarray(_np(x),
                                                   dtype=np_dtype if name == "images" else np.int64))


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


def compute(family, cfg, params, batch):
    """-> loss (tensor), grads {name: tensor}, logits, with params cast to cfg's dtype."""
    dtype = DTYPES[cfg["dtype"]]
    P = {k: torch.as_tensor(_np(v)).to(dtype).clone().requires_grad_(True)
         for k, v in params.items()}
    B = {k: torch.as_tensor(_np(v)).to(dtype if k == "images" else torch.int64)
         for k, v in batch.items()}
    loss, logits = forward(family, cfg, P, B)
    grads = torch.autograd.grad(loss, list(P.values()), allow_unused=True)
    grads = {k: (g if g is not None else torch.zeros_like(P[k])).detach()
             for k, g in zip(P.keys(), grads)}
    return loss.detach(), grads, logits.detach()


def write_result(path, loss, grads, logits):
    with h5py.File(path, "w") as f:
        f.create_dataset("loss", data=_np(loss))
        g = f.create_group("grads")
        for name, x in grads.items():
            g.create_dataset(name, data=_np(x))
        f.create_dataset("logits", data=_np(logits))


def read_result(path):
    with h5py.File(path, "r") as f:
        loss = np.array(f["loss"][()])
        grads = {name: np.array(ds[()]) for name, ds in f["grads"].items()}
        logits = np.array(f["logits"][()])
    return loss, grads, logits


def main(argv):
    if len(argv) != 3:
        print("usage: torch_ref.py IN.h5 OUT.h5", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    try:
        family, cfg, params, batch = read_exchange(argv[1])
        loss, grads, logits = compute(family, cfg, params, batch)
    except RefError as e:
        print(f"torch_ref: {e}", file=sys.stderr)
        return 1
    write_result(argv[2], loss, grads, logits)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
