#!/usr/bin/python3
"""lpt vs PyTorch: one full serial GPT training step (forward + backward + clip + AdamW, float32),
interleaved in one run so that both see the same machine load.

lpt runs as a persistent `bench_train_step --serve` process (its own clock times each step, so the
pipe costs nothing); torch runs in this process on tests/torch_ref/torch_ref.py's GPT with
torch.optim.AdamW. Rounds alternate: `--per-round` lpt steps, then as many torch steps; the first
step of each side in each round is discarded (it pays for the other side's OpenMP threads going to
sleep). Reported: medians of the remaining per-step times, their ratio, GFLOP/s.

    /usr/bin/python3 bench/compare_torch.py --bench build-fam/bench/bench_train_step \
        --config A --threads 1 2 --rounds 8 --per-round 4
"""
import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "torch_ref"))
import torch_ref  # noqa: E402

CONFIGS = {
    "A": dict(layers=8, d_model=128, heads=4, d_ff=512, seq=64, batch=8, vocab=256),
    "B": dict(layers=12, d_model=256, heads=8, d_ff=1024, seq=128, batch=8, vocab=256),
}


def step_flops(c):
    """3 × the forward's matrix-product FLOPs (docs: bench/README.md)."""
    N, d, f, L, T = c["batch"] * c["seq"], c["d_model"], c["d_ff"], c["layers"], c["seq"]
    fwd = L * (2 * N * (4 * d * d + 2 * d * f) + 4 * c["batch"] * T * T * d) + 2 * N * d * c["vocab"]
    return 3 * fwd


class Lpt:
    def __init__(self, exe):
        self.p = subprocess.Popen([exe, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)

    def call(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline().strip()
        if not out or out.startswith("error"):
            raise RuntimeError(f"lpt bench: {line.split()[0]} -> {out!r}")
        return out

    def close(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        self.p.wait(timeout=30)


class Torch:
    def __init__(self, c, tokens, seed):
        cfg = {"d_model": c["d_model"], "heads": c["heads"], "d_ff": c["d_ff"],
               "vocab": c["vocab"], "max_len": c["seq"], "layers": c["layers"], "h": 1.0,
               "dtype": "float32"}
        shapes = torch_ref.param_shapes("gpt", cfg)
        self.cfg = torch_ref.normalize_config("gpt", cfg)
        g = torch.Generator().manual_seed(seed)
        self.P = {}
        for name, shape in shapes.items():
            if name.endswith("_w") and len(shape) == 1 and "ln" in name:
                t = torch.ones(shape)
            elif name.endswith("_b"):
                t = torch.zeros(shape)
            else:
                t = torch.randn(shape, generator=g) * 0.02
            self.P[name] = t.requires_grad_(True)
        decay = [p for n, p in self.P.items() if p.dim() == 2 and n not in ("wte", "wpe")]
        rest = [p for n, p in self.P.items() if not (p.dim() == 2 and n not in ("wte", "wpe"))]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                      {"params": rest, "weight_decay": 0.0}], lr=1e-4)
        tok = torch.tensor(tokens, dtype=torch.int64).view(c["batch"], c["seq"])
        tgt = torch.full_like(tok, -100)
        tgt[:, :-1] = tok[:, 1:]
        self.batch = {"tokens": tok, "targets": tgt}

    def step(self):
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=False)
        loss, _ = torch_ref.forward("gpt", self.cfg, self.P, self.batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.P.values(), 1.0)
        self.opt.step()
        return time.perf_counter() - t0


def run_config(name, exe, threads_list, rounds, per_round, warmup, seed):
    c = CONFIGS[name]
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, c["vocab"], size=c["batch"] * c["seq"]).tolist()
    lpt = Lpt(exe)
    ready = lpt.call("init {layers} {d_model} {heads} {d_ff} {seq} {batch} {vocab} {s}".format(
        s=seed, **c)).split()
    lpt.call("tokens " + " ".join(map(str, tokens)))
    th = Torch(c, tokens, seed)
    flops = step_flops(c)
    results = []
    for n in threads_list:
        torch.set_num_threads(n)
        lpt.call(f"threads {n}")
        lpt.call(f"step {warmup}")
        for _ in range(warmup):
            th.step()
        tl, tt, phases = [], [], np.zeros(3)
        for _ in range(rounds):
            r = lpt.call(f"step {per_round}").split()[1:]
            times = [float(x) for x in r[:per_round]]
            phases += np.array([float(x) for x in r[per_round:]]) / per_round
            tl += times[1:]
            tt += [th.step() for _ in range(per_round)][1:]
        ml, mt = statistics.median(tl), statistics.median(tt)
        results.append(dict(config=name, threads=n, lpt_s=ml, torch_s=mt, ratio=ml / mt,
                            lpt_gflops=flops / ml * 1e-9, torch_gflops=flops / mt * 1e-9,
                            lpt_fwd_s=phases[0] / rounds, lpt_bwd_s=phases[1] / rounds,
                            lpt_opt_s=phases[2] / rounds, samples=len(tl),
                            params=int(ready[1]), arena_bytes=int(ready[2]),
                            tape_bytes_layer=int(ready[3]), gflop_per_step=flops * 1e-9))
        print(json.dumps(results[-1]), flush=True)
    lpt.close()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", required=True, help="path to bench_train_step")
    ap.add_argument("--config", nargs="+", default=["A", "B"], choices=sorted(CONFIGS))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--per-round", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write all results here")
    a = ap.parse_args()
    if a.per_round < 2:
        ap.error("--per-round must be >= 2 (the first step of each round is discarded)")
    env = {k: os.environ.get(k, "unset") for k in
           ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    print(json.dumps({"date": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
                      "torch": torch.__version__, "python": platform.python_version(),
                      "env": env, "argv": sys.argv}), flush=True)
    out = []
    for name in a.config:
        out += run_config(name, a.bench, a.threads, a.rounds, a.per_round, a.warmup, a.seed)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"env": env, "torch": torch.__version__, "results": out}, f, indent=1)


if __name__ == "__main__":
    main()
