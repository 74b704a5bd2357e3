#!/usr/bin/python3
"""Predicted against measured: reads the measurements of bench/bench_mgrit_step (measured.jsonl),
predicts each configuration with `lpt predict` from the calibration in the same directory
(profile.json, layer_times.json), and prints a table of forward solve, adjoint solve (with the
parameter gradients taken in it), layer-parallel step and serial step, with the relative error
of each and the median absolute relative error. Run by bench/validate_perfmodel.sh.

    /usr/bin/python3 analysis/validate_perfmodel.py --lpt build/lpt --dir DIR [--config FILE]
        [--markdown FILE] [--plot FILE.png]

--plot draws predicted against measured (forward, adjoint, LP step, serial step, with the ±15 %
band) and, per setting, the model's speedup over the serial step against ranks as lines with the
measured speedups drawn over them.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def predict(lpt, d, m, config):
    """The model's prediction (and the simulator's) for one measured configuration: the run
    config with the measured setting as --set overrides, so that `lpt predict --config` converts
    the cycle exactly as the trainer and its cost oracle do (fine F, coarse FCF, skip as set)."""
    sets = {"model.layers": m["layers"], "model.d_model": m["d"], "model.heads": m["heads"],
            "model.d_ff": m["dff"], "model.seq_len": m["seq"], "model.vocab": m["vocab"],
            "train.batch": m["batch"]}
    for solve, iters in (("forward", m["fwd_iters"]), ("backward", m["bwd_iters"])):
        sets["solver.mgrit.%s.levels" % solve] = m["levels"]
        sets["solver.mgrit.%s.cfactor" % solve] = m["cfactor"]
        sets["solver.mgrit.%s.iterations" % solve] = iters
        sets["solver.mgrit.%s.skip" % solve] = "true" if m.get("skip", 0) else "false"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "p.json")
        cmd = [lpt, "predict", "--config", config, "--hardware", os.path.join(d, "profile.json"),
               "--measured", os.path.join(d, "layer_times.json"), "--ranks", str(m["ranks"]),
               "--no-crossover", "--simulate", "--json", out]
        for k, v in sets.items():
            cmd += ["--set", "%s=%s" % (k, v)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)["rows"][0]


def rel(pred, meas):
    return (pred - meas) / meas


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lpt", required=True, help="the lpt executable")
    ap.add_argument("--dir", required=True, help="directory with measured.jsonl and calibration")
    ap.add_argument("--config", default="bench/configs/perfmodel_validation.json",
                    help="run config whose shape and cycle the settings override")
    ap.add_argument("--markdown", help="also write the table here")
    ap.add_argument("--plot", help="also draw predicted against measured into this image")
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
    pairs = {"forward solve": [], "adjoint solve": [], "LP step": [], "serial step": []}
    speedups = {}  # setting -> {ranks: (predicted, measured)} over the serial step
    serial_meas = {}
    for m in rows:
        p = predict(a.lpt, a.dir, m, a.config)
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
        pairs["forward solve"].append((m["forward_s"], fwd))
        pairs["adjoint solve"].append((m["adjoint_s"], adj))
        pairs["LP step"].append((m["lp_step_s"], step))
        key = (m["layers"], m["levels"], m["cfactor"], m["fwd_iters"], m["bwd_iters"])
        if "serial_step_s" in m:
            pairs["serial step"].append((m["serial_step_s"], p["serial"]["time_s"]["total"]))
            serial_meas[key] = m["serial_step_s"]
        speedups.setdefault(key, {})[m["ranks"]] = (p["serial"]["time_s"]["total"] / step,
                                                    m["lp_step_s"])
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
    if a.plot:
        plot(a.plot, pairs, speedups, serial_meas)


def plot(path, pairs, speedups, serial_meas):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 5))
    lo, hi = 1e9, 0
    for label, pts in pairs.items():
        if pts:
            x = [q[0] * 1e3 for q in pts]
            y = [q[1] * 1e3 for q in pts]
            ax0.scatter(x, y, label=label, s=18)
            lo, hi = min(lo, *x, *y), max(hi, *x, *y)
    line = [lo * 0.8, hi * 1.25]
    ax0.plot(line, line, color="black", lw=0.8)
    ax0.fill_between(line, [v * 0.85 for v in line], [v * 1.15 for v in line], color="grey",
                     alpha=0.2, label="±15 %")
    ax0.set_xscale("log")
    ax0.set_yscale("log")
    ax0.set_xlabel("measured [ms]")
    ax0.set_ylabel("predicted [ms]")
    ax0.set_title("perfmodel on this machine: predicted against measured")
    ax0.legend(fontsize=8)
    ax0.grid(True, which="both", alpha=0.3)
    for key, by_p in sorted(speedups.items()):
        if key not in serial_meas:
            continue
        ranks = sorted(by_p)
        label = f"N{key[0]} L{key[1]} m{key[2]} {key[3]}/{key[4]}"
        line, = ax1.plot(ranks, [by_p[r][0] for r in ranks], lw=1, label=label)
        ax1.scatter(ranks, [serial_meas[key] / by_p[r][1] for r in ranks], color=line.get_color(),
                    marker="x")
    ax1.axhline(1.0, color="black", lw=0.8, ls="--")
    ax1.set_xticks([1, 2])
    ax1.set_xlabel("MPI ranks P (1 thread each)")
    ax1.set_ylabel("speedup over the serial step")
    ax1.set_title("model (lines) and measured (x)")
    ax1.legend(fontsize=6, ncol=2)
    ax1.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
