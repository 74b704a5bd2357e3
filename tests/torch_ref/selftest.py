#!/usr/bin/python3
"""Validates the PyTorch reference (torch_ref.py) before anyone trusts it as the yardstick.

(a) its layers against torch.nn.TransformerEncoderLayer / TransformerDecoderLayer (norm_first)
    loaded with the same weights, at h = 1 and, through u + h (layer(u) - u), at h != 1;
    the patch embedding against Conv2d;
(b) autograd gradients against central finite differences (float64) on a tiny model per family;
(c) an exchange-file round trip through the command line, float64 and float32, and the errors
    a malformed file must raise.

Exit status 0 when everything holds; prints one line per check.
"""
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ref as R  # noqa: E402

torch.set_num_threads(1)
DT = torch.float64
FAILURES = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}")
    if not ok:
        FAILURES.append(name)


def maxdiff(a, b):
    return float((torch.as_tensor(a) - torch.as_tensor(b)).abs().max())


def t(x):
    return torch.tensor(x, dtype=DT)  # a copy: perturbations must not leak into the source


def gelu(x):
    return F.gelu(x, approximate="tanh")


# ---------------------------------------------------------------------------------------------
# (a) layers against torch.nn


def torch_encoder_layer(P, pre, d, heads, d_ff):
    m = torch.nn.TransformerEncoderLayer(d, heads, d_ff, dropout=0.0, activation=gelu,
                                         batch_first=True, norm_first=True, dtype=DT)
    with torch.no_grad():
        m.norm1.weight.copy_(P[pre + "ln1_w"]); m.norm1.bias.copy_(P[pre + "ln1_b"])
        m.self_attn.in_proj_weight.copy_(P[pre + "attn.qkv_w"])
        m.self_attn.in_proj_bias.copy_(P[pre + "attn.qkv_b"])
        m.self_attn.out_proj.weight.copy_(P[pre + "attn.proj_w"])
        m.self_attn.out_proj.bias.copy_(P[pre + "attn.proj_b"])
        m.norm2.weight.copy_(P[pre + "ln2_w"]); m.norm2.bias.copy_(P[pre + "ln2_b"])
        m.linear1.weight.copy_(P[pre + "mlp.fc_w"]); m.linear1.bias.copy_(P[pre + "mlp.fc_b"])
        m.linear2.weight.copy_(P[pre + "mlp.proj_w"]); m.linear2.bias.copy_(P[pre + "mlp.proj_b"])
    return m.eval()


def torch_decoder_layer(P, pre, d, heads, d_ff):
    m = torch.nn.TransformerDecoderLayer(d, heads, d_ff, dropout=0.0, activation=gelu,
                                         batch_first=True, norm_first=True, dtype=DT)
    with torch.no_grad():
        m.norm1.weight.copy_(P[pre + "ln1_w"]); m.norm1.bias.copy_(P[pre + "ln1_b"])
        m.self_attn.in_proj_weight.copy_(P[pre + "attn.qkv_w"])
        m.self_attn.in_proj_bias.copy_(P[pre + "attn.qkv_b"])
        m.self_attn.out_proj.weight.copy_(P[pre + "attn.proj_w"])
        m.self_attn.out_proj.bias.copy_(P[pre + "attn.proj_b"])
        # torch's norm2 normalizes the query stream (our LNq); its memory is fed pre-normalized.
        m.norm2.weight.copy_(P[pre + "lnq_w"]); m.norm2.bias.copy_(P[pre + "lnq_b"])
        m.multihead_attn.in_proj_weight.copy_(
            torch.cat([P[pre + "cross.q_w"], P[pre + "cross.kv_w"]]))
        m.multihead_attn.in_proj_bias.copy_(
            torch.cat([P[pre + "cross.q_b"], P[pre + "cross.kv_b"]]))
        m.multihead_attn.out_proj.weight.copy_(P[pre + "cross.proj_w"])
        m.multihead_attn.out_proj.bias.copy_(P[pre + "cross.proj_b"])
        m.norm3.weight.copy_(P[pre + "ln2_w"]); m.norm3.bias.copy_(P[pre + "ln2_b"])
        m.linear1.weight.copy_(P[pre + "mlp.fc_w"]); m.linear1.bias.copy_(P[pre + "mlp.fc_b"])
        m.linear2.weight.copy_(P[pre + "mlp.proj_w"]); m.linear2.bias.copy_(P[pre + "mlp.proj_b"])
    return m.eval()


def check_layers_against_torch():
    d, heads, d_ff, B, T, Ts = 16, 4, 40, 3, 7, 6
    c = {"d_model": d, "heads": heads, "d_ff": d_ff, "enc_layers": 1, "dec_layers": 1,
         "src_vocab": 5, "tgt_vocab": 5, "src_max_len": Ts, "tgt_max_len": T}
    P = {k: t(v) for k, v in R.init_params("mt", c, seed=1).items()}
    g = torch.Generator().manual_seed(2)
    u = torch.randn(B, T, d, generator=g, dtype=DT)
    X = torch.randn(B, Ts, d, generator=g, dtype=DT)
    pad = torch.ones(B, T, dtype=torch.int64)
    pad[0, 5:] = 0
    pad[2, 2:] = 0
    src_pad = torch.ones(B, Ts, dtype=torch.int64)
    src_pad[1, 3:] = 0
    enc = torch_encoder_layer(P, "enc.0.", d, heads, d_ff)
    dec = torch_decoder_layer(P, "dec.0.", d, heads, d_ff)
    causal_bool = torch.ones(T, T, dtype=torch.bool).triu(1)  # torch: True = masked
    with torch.no_grad():
        for h in (1.0, 0.3):
            ours = R.encoder_step(u, P, "enc.0.", heads, h, R.causal_allowed(T))
            ref = u + h * (enc(u, src_mask=causal_bool) - u)
            e = maxdiff(ours, ref)
            check(f"encoder layer causal (GPT) vs nn.TransformerEncoderLayer h={h}", e < 1e-12,
                  f"max|diff|={e:.2e}")
            ours = R.encoder_step(u, P, "enc.0.", heads, h, R.key_allowed(pad, "pad"))
            ref = u + h * (enc(u, src_key_padding_mask=(pad == 0)) - u)
            e = maxdiff(ours, ref)
            check(f"encoder layer key padding (BERT) vs nn.TransformerEncoderLayer h={h}",
                  e < 1e-12, f"max|diff|={e:.2e}")
            ours = R.encoder_step(u, P, "enc.0.", heads, h, None)
            ref = u + h * (enc(u) - u)
            e = maxdiff(ours, ref)
            check(f"encoder layer unmasked (ViT) vs nn.TransformerEncoderLayer h={h}", e < 1e-12,
                  f"max|diff|={e:.2e}")
            ours = R.decoder_step(u, X, P, "dec.0.", heads, h, R.causal_allowed(T),
                                  R.key_allowed(src_pad, "src_pad"))
            mem = R.layer_norm(X, P["dec.0.lnkv_w"], P["dec.0.lnkv_b"])
            ref = u + h * (dec(u, mem, tgt_mask=causal_bool,
                               memory_key_padding_mask=(src_pad == 0)) - u)
            e = maxdiff(ours, ref)
            check(f"decoder layer vs nn.TransformerDecoderLayer (memory LNkv-normalized) h={h}",
                  e < 1e-12, f"max|diff|={e:.2e}")
        w = P["enc.0.ln1_w"]
        e = maxdiff(R.layer_norm(u, w, P["enc.0.ln1_b"]), F.layer_norm(u, (d,), w,
                                                                       P["enc.0.ln1_b"], 1e-5))
        check("layer_norm vs F.layer_norm", e < 1e-13, f"max|diff|={e:.2e}")
        e = maxdiff(R.gelu_tanh(u), gelu(u))
        check("gelu_tanh vs F.gelu(approximate='tanh')", e < 1e-13, f"max|diff|={e:.2e}")


def check_patch_embedding():
    B, C, H, W, p, d = 2, 3, 8, 12, 4, 5
    g = torch.Generator().manual_seed(3)
    img = torch.randn(B, C, H, W, generator=g, dtype=DT)
    w = torch.randn(d, C * p * p, generator=g, dtype=DT)
    b = torch.randn(d, generator=g, dtype=DT)
    ours = R.linear(R.patchify(img, p), w, b)
    ref = F.conv2d(img, w.view(d, C, p, p), b, stride=p).flatten(2).transpose(1, 2)
    e = maxdiff(ours, ref)
    check("patch embedding vs Conv2d(weight.view(d,C,p,p))", e < 1e-12, f"max|diff|={e:.2e}")


# ---------------------------------------------------------------------------------------------
# (b) gradients against finite differences


def tiny_case(family, dtype="float64"):
    """(config, params numpy, batch numpy) of a tiny model with padding, ignored targets,
    h != 1 and label smoothing, so that every branch of the contract is exercised."""
    rng = np.random.default_rng({"gpt": 10, "bert": 11, "vit": 12, "mt": 13}[family])
    base = {"d_model": 8, "heads": 2, "d_ff": 12, "h": 0.5, "dtype": dtype}
    B, T = 2, 5
    if family == "gpt":
        c = dict(base, layers=2, vocab=11, max_len=6, label_smoothing=0.0)
        tok = rng.integers(0, 11, size=(B, T))
        tgt = np.concatenate([tok[:, 1:], np.full((B, 1), -100)], axis=1)
        batch = {"tokens": tok, "targets": tgt}
    elif family == "bert":
        c = dict(base, layers=2, vocab=11, max_len=6, label_smoothing=0.0)
        tok = rng.integers(0, 11, size=(B, T))
        mask = np.ones((B, T), dtype=np.int64)
        mask[1, 3:] = 0
        tgt = np.full((B, T), -100)
        tgt[0, 1], tgt[0, 4], tgt[1, 0], tgt[1, 2] = 3, 7, 1, 9
        batch = {"tokens": tok, "targets": tgt, "key_mask": mask}
    elif family == "vit":
        c = dict(base, layers=2, patch=2, channels=2, image_h=4, image_w=6, n_classes=3,
                 label_smoothing=0.1)
        batch = {"images": rng.normal(size=(B, 2, 4, 6)), "labels": np.array([2, 0])}
    else:
        c = dict(base, enc_layers=2, dec_layers=2, src_vocab=9, tgt_vocab=10, src_max_len=6,
                 tgt_max_len=5, label_smoothing=0.1, h=0.5)
        src = rng.integers(0, 9, size=(B, 6))
        src_mask = np.ones((B, 6), dtype=np.int64)
        src_mask[0, 4:] = 0
        tgt_in = rng.integers(0, 10, size=(B, 4))
        tgt_out = rng.integers(0, 10, size=(B, 4))
        tgt_out[1, 3] = -100
        batch = {"src": src, "src_mask": src_mask, "tgt_in": tgt_in, "tgt_out": tgt_out}
    params = R.init_params(family, c, seed=5)
    return c, params, batch


def check_gradients(family, per_tensor=4, eps=1e-6):
    c, params, batch = tiny_case(family)
    c = R.normalize_config(family, c, params)
    loss, grads, _ = R.compute(family, c, params, batch)
    B = {k: torch.as_tensor(v).to(DT if k == "images" else torch.int64) for k, v in batch.items()}
    rng = np.random.default_rng(7)
    worst = 0.0
    n = 0
    for name, p in params.items():
        flat = p.reshape(-1)
        for i in rng.choice(flat.size, size=min(per_tensor, flat.size), replace=False):
            vals = []
            for s in (eps, -eps):
                q = {k: t(v) for k, v in params.items()}
                q[name].view(-1)[i] += s
                vals.append(float(R.forward(family, c, q, B)[0]))
            fd = (vals[0] - vals[1]) / (2 * eps)
            ad = float(grads[name].reshape(-1)[i])
            # Central differences carry ~1e-10 round-off at eps 1e-6: an absolute floor for
            # near-zero entries, relative beyond.
            worst = max(worst, abs(fd - ad) / (1e-8 + 1e-5 * abs(ad)))
            n += 1
    check(f"{family}: autograd vs central differences ({n} entries, h={c.get('h')})",
          worst < 1.0, f"worst |fd-ad|/(1e-8+1e-5|ad|)={worst:.2e} loss={float(loss):.6f}")
    nonzero = all(float(g.abs().max()) > 0 for g in grads.values())
    check(f"{family}: every parameter receives a gradient", nonzero)


# ---------------------------------------------------------------------------------------------
# (c) exchange round trip


def run_cli(inp, out, subprocess_run=False):
    """torch_ref.py IN OUT: through a fresh interpreter when subprocess_run (the real command
    line), else through main() in this process (importing torch costs seconds per process)."""
    if subprocess_run:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ref.py")
        return subprocess.run([sys.executable, script, inp, out], capture_output=True, text=True)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = R.main(["torch_ref.py", inp, out])
    return subprocess.CompletedProcess([inp, out], code, "", err.getvalue())


def check_round_trip(family, tmp):
    c, params, batch = tiny_case(family)
    inp, out = os.path.join(tmp, f"{family}_in.h5"), os.path.join(tmp, f"{family}_out.h5")
    R.write_exchange(inp, family, c, params, batch)
    r = run_cli(inp, out, subprocess_run=(family == "gpt"))
    check(f"{family}: torch_ref.py IN OUT exits 0", r.returncode == 0, r.stderr.strip())
    if r.returncode != 0:
        return
    loss, grads, logits = R.read_result(out)
    ref_loss, ref_grads, ref_logits = R.compute(family, R.normalize_config(family, c, params),
                                                params, batch)
    same = (loss.shape == () and loss.dtype == np.float64
            and set(grads) == set(params)
            and all(grads[k].shape == params[k].shape and grads[k].dtype == np.float64
                    for k in params)
            and float(loss) == float(ref_loss)
            and all(np.array_equal(grads[k], ref_grads[k].numpy()) for k in params)
            and np.array_equal(logits, ref_logits.numpy()))
    check(f"{family}: float64 round trip is bit-identical to the in-process result", same)
    c32 = dict(c, dtype="float32")
    R.write_exchange(inp, family, c32, params, batch)
    r = run_cli(inp, out)
    check(f"{family}: float32 exchange exits 0", r.returncode == 0, r.stderr.strip())
    if r.returncode != 0:
        return
    loss32, grads32, _ = R.read_result(out)
    rel = max(float(np.abs(grads32[k] - ref_grads[k].numpy()).max()) /
              (1e-3 + float(ref_grads[k].abs().max())) for k in params)
    ok = (loss32.dtype == np.float32 and all(g.dtype == np.float32 for g in grads32.values())
          and abs(float(loss32) - float(ref_loss)) < 1e-4 and rel < 1e-3)
    check(f"{family}: float32 result is float32 and near float64", ok,
          f"grad rel err={rel:.1e}")


def check_rejections(tmp):
    c, params, batch = tiny_case("bert")
    inp, out = os.path.join(tmp, "bad_in.h5"), os.path.join(tmp, "bad_out.h5")
    cases = []
    b = dict(batch, key_mask=batch["key_mask"].copy())
    b["key_mask"][0, :] = 0
    cases.append(("all-padding row", c, params, b, "no real token"))
    p = dict(params)
    del p["mlm.bias"]
    cases.append(("missing parameter", c, p, batch, "lacks"))
    p = dict(params, **{"layers.0.ln1_w": np.ones(3)})
    cases.append(("wrong shape", c, p, batch, "shape"))
    cases.append(("layer count mismatch", dict(c, layers=3), params, batch, "layers"))
    cases.append(("non-zero dropout", dict(c, dropout=0.1), params, batch, "dropout"))
    for what, cc, pp, bb, needle in cases:
        R.write_exchange(inp, "bert", cc, pp, bb)
        r = run_cli(inp, out, subprocess_run=(what == "all-padding row"))
        check(f"rejects {what}", r.returncode == 1 and needle in r.stderr, r.stderr.strip())
    # A float32 parameter in a float64 file is a writer bug, not something to convert silently.
    R.write_exchange(inp, "bert", c, params, batch)
    with h5py.File(inp, "a") as f:
        del f["params/lnf_w"]
        f["params"].create_dataset("lnf_w", data=np.ones(8, dtype=np.float32))
    r = run_cli(inp, out)
    check("rejects a parameter in the wrong dtype", r.returncode == 1 and "dtype" in r.stderr,
          r.stderr.strip())
    # Fixed-length ASCII attributes (the simplest to write from the HDF5 C API) are accepted.
    R.write_exchange(inp, "bert", c, params, batch)
    with h5py.File(inp, "a") as f:
        for key, val in (("family", "bert"), ("config", json.dumps(c))):
            del f.attrs[key]
            f.attrs.create(key, np.bytes_(val.encode()), dtype=h5py.string_dtype("ascii", len(val)))
    r = run_cli(inp, out)
    check("accepts fixed-length ASCII string attributes", r.returncode == 0, r.stderr.strip())


def main():
    check_layers_against_torch()
    check_patch_embedding()
    for fam in R.FAMILIES:
        check_gradients(fam)
    with tempfile.TemporaryDirectory() as tmp:
        for fam in R.FAMILIES:
            check_round_trip(fam, tmp)
        check_rejections(tmp)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed: {FAILURES}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
