#!/usr/bin/python3
"""Predicted against measured: reads the measurements of bench/bench_mgrit_step (measured.jsonl),
predicts each configuration with `lpt predict` from the calibration in the same directory
(profile.json, layer_times.json), and prints a table of forward solve, adjoint solve (with the
parameter gradients taken in it), layer-parallel step and serial step, with the relative error
of each and the median absolute relative error. Run by bench/validate_perfmodel.sh.

    /usr/bin/python3 analysis/validate_perfmodel.py --lpt build/lpt --dir DIR [--markdown FILE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def predict(lpt, d, m):
    """The model's prediction (and the simulator's) for one measured configuration."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "p.json")
        cmd = [lpt, "predict", "--hardware", os.path.join(d, "profile.json"),
               "--measured", os.path.join(d, "layer_times.json"),
               "--batch", str(m["batch"]), "--seq", str(m["seq"]), "--d", str(m["d"]),
               "--heads", str(m["heads"]), "--dff", str(m["dff"]), "--vocab", str(m["vocab"]),
               "--precision", "fp32", "--layers", str(m["layers"]), "--ranks", str(m["ranks"]),
               "--levels", str(m["levels"]), "--cfactors", str(m["cfactor"]), "--no-search",
               "--fwd-iters", str(m["fwd_iters"]), "--bwd-iters", str(m["bwd_iters"]),
               "--no-crossover", "--simulate", "--json", out]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)["rows"][0]


def rel(pred, meas):
    return (pred - meas) / meas


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lpt", required=True, help="the lpt executable")
    ap.add_argument("--dir", required=True, help="directory with measured.jsonl and calibration")
    ap.add_argument("--markdown", help="also write the table here")
    a = ap.parse_args()
    for f in ("measured.jsonl", "profile.json", "layer_times.json"):
        if not os.path.exists(os.path.join(a.dir, f)):
            sys.exit(f"validate_perfmodel: {a.dir}/{f} is missing; run "
                     "bench/validate_perfmodel.sh calibrate and measure first")
    with open(os.path.join(a.dir, "measured.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    lines = ["| N | L | m | it f/b | P | fwd meas | fwd pred | err | adj meas | adj pred | err "
             "| LP step meas | LP step pred | err | sim | serial meas | serial pred | err |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    errs = {"fwd": [], "adj": [], "step": [], "serial": []}
    for m in rows:
        p = predict(a.lpt, a.dir, m)
        t = p["time_s"]
        fwd, adj, step = t["forward"], t["adjoint"] + t["param_grad"], t["total"]
        e = {"fwd": rel(fwd, m["forward_s"]), "adj": rel(adj, m["adjoint_s"]),
             "step": rel(step, m["lp_step_s"])}
        sim = p["simulated"]["total_s"] * 1e3 if "simulated" in p else float("nan")
        ser = "| | |"
        if "serial_step_s" in m:
            sp = p["serial"]["time_s"]["total"]
            e["serial"] = rel(sp, m["serial_step_s"])
            ser = f"{m['serial_step_s']*1e3:.1f} | {sp*1e3:.1f} | {e['serial']*100:+.0f}% |"
        for k, v in e.items():
            errs[k].append(abs(v))
        lines.append(
            f"| {m['layers']} | {m['levels']} | {m['cfactor']} | {m['fwd_iters']}/{m['bwd_iters']} "
            f"| {m['ranks']} | {m['forward_s']*1e3:.1f} | {fwd*1e3:.1f} | {e['fwd']*100:+.0f}% "
            f"| {m['adjoint_s']*1e3:.1f} | {adj*1e3:.1f} | {e['adj']*100:+.0f}% "
            f"| {m['lp_step_s']*1e3:.1f} | {step*1e3:.1f} | {e['step']*100:+.0f}% | {sim:.1f} "
            f"| {ser}")
    lines.append("")
    lines.append("Median absolute relative error: " + ", ".join(
        f"{k} {statistics.median(v)*100:.1f}% (n={len(v)})" for k, v in errs.items() if v))
    for p in (1, 2):
        sub = [abs(rel_) for m, rel_ in zip(rows, errs["step"]) if m["ranks"] == p]
        if sub:
            lines.append(f"LP step, P = {p}: median {statistics.median(sub)*100:.1f}%, "
                         f"max {max(sub)*100:.1f}%")
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
