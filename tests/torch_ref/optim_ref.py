#!/usr/bin/python3
"""torch.optim trajectories for tests/test_optim.cpp.

    /usr/bin/python3 optim_ref.py IN.json OUT.json

IN.json: {"p0", "c", "t": [n] floats, "noise": [steps][n], "lrs": [steps], "split": k,
          "cases": [{"name", "opt": "adamw"|"sgd", "dtype": "float64"|"float32", "wd",
                     "betas", "eps", "momentum", "dampening", "nesterov", "clip" (0 = none)}],
          "schedules": {"steps", "lr", "lr_min", "warmup"}}
The gradient at step s is g = c (p - t) + noise[s], computed in the case's dtype. Elements
[0, k) form a parameter group with weight decay wd, [k, n) one with weight decay 0.
OUT.json: {"<name>": {"traj": [steps][n] parameters after each step, "norms": [steps]},
           "schedules": {"cosine", "linear", "warmup": [steps] lr used by each optimizer step}}
"""
import json
import sys

import torch


def run_case(cfg, case):
    dtype = torch.float64 if case["dtype"] == "float64" else torch.float32
    k = cfg["split"]
    p0 = torch.tensor(cfg["p0"], dtype=torch.float64).to(dtype)
    c = torch.tensor(cfg["c"], dtype=torch.float64).to(dtype)
    t = torch.tensor(cfg["t"], dtype=torch.float64).to(dtype)
    a = p0[:k].clone().requires_grad_(True)
    b = p0[k:].clone().requires_grad_(True)
    groups = [{"params": [a], "weight_decay": case["wd"]}, {"params": [b], "weight_decay": 0.0}]
    if case["opt"] == "adamw":
        opt = torch.optim.AdamW(groups, lr=cfg["lrs"][0], betas=tuple(case["betas"]),
                                eps=case["eps"])
    else:
        opt = torch.optim.SGD(groups, lr=cfg["lrs"][0], momentum=case["momentum"],
                              dampening=case["dampening"], nesterov=case["nesterov"])
    traj, norms = [], []
    for s, lr in enumerate(cfg["lrs"]):
        for g in opt.param_groups:
            g["lr"] = lr
        noise = torch.tensor(cfg["noise"][s], dtype=torch.float64).to(dtype)
        with torch.no_grad():
            grad = c * (torch.cat([a, b]) - t) + noise
        a.grad = grad[:k].clone()
        b.grad = grad[k:].clone()
        if case["clip"] > 0:
            norms.append(float(torch.nn.utils.clip_grad_norm_([a, b], case["clip"])))
        opt.step()
        traj.append(torch.cat([a, b]).detach().double().tolist())
    return {"traj": traj, "norms": norms}


def run_schedules(sc):
    out = {}
    makers = {
        "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=sc["steps"], eta_min=sc["lr_min"]),
        "linear": lambda o: torch.optim.lr_scheduler.LinearLR(
            o, start_factor=1.0, end_factor=sc["lr_min"] / sc["lr"], total_iters=sc["steps"]),
        "warmup": lambda o: torch.optim.lr_scheduler.LinearLR(
            o, start_factor=1.0 / sc["warmup"], end_factor=1.0, total_iters=sc["warmup"] - 1),
    }
    for name, make in makers.items():
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=sc["lr"])
        sched = make(opt)
        lrs = []
        for _ in range(sc["steps"] + 3):
            lrs.append(opt.param_groups[0]["lr"])
            p.grad = torch.zeros(1)
            opt.step()
            sched.step()
        out[name] = lrs
    return out


def main(argv):
    with open(argv[1]) as f:
        cfg = json.load(f)
    torch.set_num_threads(1)
    out = {case["name"]: run_case(cfg, case) for case in cfg["cases"]}
    out["schedules"] = run_schedules(cfg["schedules"])
    with open(argv[2], "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
