#!/usr/bin/python3
"""Trains lpt's GPT in PyTorch along a trajectory lpt exported (`lpt trajectory`), from the same
initial weights on the same batches with the same learning rates, AdamW settings, weight-decay
groups and gradient clipping, and compares the loss curves.

    /usr/bin/python3 trajectory_ref.py IN.h5 OUT.h5 [--threads N]

IN.h5: written by `lpt trajectory` (layout in train/trajectory.hpp; with --from, the
run continues from lpt's parameters and AdamW moments at that step). OUT.h5: /loss [S]
and /grad_norm [S] of PyTorch. Prints one JSON line: the largest relative loss difference over
all steps and over the first 10/50/100, the first step where it exceeds 1e-6 and 1e-2, and both
curves' spikes (steps whose loss exceeds 1.5 times the lowest loss so far). Exit 0 on success,
1 on a malformed input.

Model: torch_ref.forward (the contract of docs/parameters.md, no dropout). Clipping follows lpt's
TrainStep: the norm is taken in float64 over every gradient, coef = min(1, clip / (norm + 1e-6)),
and a non-finite norm skips the update (torch.nn.utils.clip_grad_norm_ would scale by NaN).
"""
import json
import math
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ref as R  # noqa: E402


def read(path):
    with h5py.File(path, "r") as f:
        for key in ("family", "config", "optimizer", "no_decay"):
            R.require(key in f.attrs, f"{path}: root attribute {key!r} is missing; write it "
                      "with `lpt trajectory`")
        family = R._attr_str(f.attrs["family"])
        R.require(family == "gpt", f"{path}: family {family!r}; trajectories are GPT only")
        cfg = R.normalize_config(family, json.loads(R._attr_str(f.attrs["config"])))
        opt = json.loads(R._attr_str(f.attrs["optimizer"]))
        no_decay = {R._attr_str(v) for v in np.atleast_1d(f.attrs["no_decay"])}
        params = {name: torch.from_numpy(np.array(ds[()])) for name, ds in f["params"].items()}
        tokens = torch.from_numpy(np.array(f["batches/tokens"][()]).astype(np.int64))
        targets = torch.from_numpy(np.array(f["batches/targets"][()]).astype(np.int64))
        lrs = np.array(f["lr"][()], dtype=np.float64)
        lpt_loss = np.array(f["lpt/loss"][()], dtype=np.float64)
        start = int(f.attrs["start_step"]) if "start_step" in f.attrs else 0
        adam = None
        if start > 0:
            adam = {which: {n: torch.from_numpy(np.array(ds[()])) for n, ds in f[which].items()}
                    for which in ("adam_m", "adam_v")}
    opt["start_step"], opt["adam"] = start, adam
    cfg = R.normalize_config(family, cfg, params)
    R.require(tokens.shape[0] == len(lrs) == len(lpt_loss),
              f"{path}: {tokens.shape[0]} batches, {len(lrs)} rates, {len(lpt_loss)} losses")
    return cfg, opt, no_decay, params, tokens, targets, lrs, lpt_loss


def train(cfg, opt, no_decay, params, tokens, targets, lrs):
    dtype = R.DTYPES[cfg["dtype"]]
    P = {k: v.to(dtype).clone().requires_grad_(True) for k, v in params.items()}
    decay = [p for k, p in P.items() if k not in no_decay]
    exempt = [p for k, p in P.items() if k in no_decay]
    adamw = torch.optim.AdamW(
        [{"params": decay, "weight_decay": opt["weight_decay"]},
         {"params": exempt, "weight_decay": 0.0}],
        lr=float(lrs[0]), betas=tuple(opt["betas"]), eps=opt["eps"])
    if opt["adam"] is not None:  # continue lpt's run: its moments and step count (torch 1.13 keys)
        for k, p in P.items():
            adamw.state[p] = {"step": torch.tensor(float(opt["start_step"])),
                              "exp_avg": opt["adam"]["adam_m"][k].to(dtype).clone(),
                              "exp_avg_sq": opt["adam"]["adam_v"][k].to(dtype).clone()}
    losses, norms = [], []
    for s in range(len(lrs)):
        for g in adamw.param_groups:
            g["lr"] = float(lrs[s])
        adamw.zero_grad(set_to_none=True)
        loss, _ = R.forward("gpt", cfg, P, {"tokens": tokens[s], "targets": targets[s]})
        loss.backward()
        grads = [p.grad for p in P.values() if p.grad is not None]
        norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
        losses.append(float(loss))
        norms.append(norm)
        if not math.isfinite(norm):
            continue
        if opt["clip"] > 0:
            coef = min(1.0, opt["clip"] / (norm + 1e-6))
            if coef < 1:
                with torch.no_grad():
                    for g in grads:
                        g.mul_(coef)
        adamw.step()
    return np.array(losses), np.array(norms)


def spikes(loss, factor=1.5):
    out, low = [], math.inf
    for s, v in enumerate(loss):
        if math.isfinite(v) and low < math.inf and v > factor * low:
            out.append(s)
        if math.isfinite(v):
            low = min(low, v)
    return out


def compare(a, b):
    rel = np.abs(a - b) / np.abs(b)
    first = lambda tol: next((int(i) for i, r in enumerate(rel) if not r <= tol), None)  # noqa
    head = lambda n: float(np.max(rel[:n])) if len(rel) else 0.0  # noqa
    return {"steps": int(len(rel)), "max_rel": float(np.max(rel)) if len(rel) else 0.0,
            "max_rel_10": head(10), "max_rel_50": head(50), "max_rel_100": head(100),
            "first_over_1e-6": first(1e-6), "first_over_1e-2": first(1e-2)}


def main(argv):
    args = [a for a in argv[1:]]
    threads = 1
    if "--threads" in args:
        i = args.index("--threads")
        threads = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        print("usage: trajectory_ref.py IN.h5 OUT.h5 [--threads N]", file=sys.stderr)
        return 2
    torch.set_num_threads(threads)
    try:
        cfg, opt, no_decay, params, tokens, targets, lrs, lpt_loss = read(args[0])
    except R.RefError as e:
        print(f"trajectory_ref: {e}", file=sys.stderr)
        return 1
    loss, norms = train(cfg, opt, no_decay, params, tokens, targets, lrs)
    with h5py.File(args[1], "w") as f:
        f.create_dataset("loss", data=loss)
        f.create_dataset("grad_norm", data=norms)
    summary = compare(lpt_loss, loss)
    summary.update({"dtype": cfg["dtype"], "clip": opt["clip"],
                    "lpt_spikes": spikes(lpt_loss), "torch_spikes": spikes(loss),
                    "lpt_max": float(np.nanmax(lpt_loss)), "torch_max": float(np.nanmax(loss)),
                    "lpt_final": float(lpt_loss[-1]), "torch_final": float(loss[-1])})
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
