#!/usr/bin/python3
"""The paper's figures from the sweep directories of experiments/paper/ (docs/paper.md).

    /usr/bin/python3 analysis/paper_figures.py f1 runs/paper/f1_gpt/quick -o f1_gpt.png
    /usr/bin/python3 analysis/paper_figures.py f2 runs/paper/f1_gpt/quick -o f2_gpt.png
    /usr/bin/python3 analysis/paper_figures.py f3 runs/paper/f3_gpt/quick -o f3_gpt.png
    /usr/bin/python3 analysis/paper_figures.py f4 runs/paper/f4_gpt/quick -o f4_gpt.png
    /usr/bin/python3 analysis/paper_figures.py f5 runs/paper/f5_gpt/quick -o f5_gpt.png
    /usr/bin/python3 analysis/paper_figures.py f6 runs/paper/f6_gpt/quick -o f6_gpt.png
    /usr/bin/python3 analysis/paper_figures.py f7 runs/paper/f7_vit/quick -o f7_vit.png
    /usr/bin/python3 analysis/paper_figures.py f7 runs/paper/f7_bert/quick -o f7_bert.png
    /usr/bin/python3 analysis/paper_figures.py f8 runs/paper/f8_mt/quick -o f8_mt.png

Each reads DIR/summary.csv (lpt sweep's summary: one row per point, its axis values) and the
points' records DIR/NAME.h5, draws one PNG and prints the numbers it drew as a markdown table
(what docs/paper.md quotes). Rows the sweep did not finish are left out and named.

f1: training loss (moving average) and validation loss and metric per solver mode, one row per
    step size (model.T). f2: the measured relative error ||g^-g||/||g||, the bias estimate and the
    cosine over training per mode, and the per-layer cosine of the parallel run. f3: per replayed
    checkpoint, the residual after each MGRIT iteration (forward and adjoint) and the mean
    convergence factor against the training step of the checkpoint. f4: relative error (log10) over
    forward x backward iterations, one heatmap per (weights, step size) and (cfactor, levels). f5:
    the bias estimate and the mean per-batch error against the batches M averaged. f7: accuracy
    after fine-tuning, by how the model was pretrained (serial, parallel, adaptive, none), over
    seeds. f6: speedup over serial against devices for every depth, predicted by lpt predict
    --plans (DIR/plans.json, from this machine's calibration) for layer-parallel, pipeline and
    data-parallel plans, with the step times measured here on their curves. f8: f1's panels
    (loss; the metric is BLEU) for the translation sweep with BPE subwords.
"""
import argparse
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import h5py  # noqa: E402

from lpt_record import Record, smooth  # noqa: E402
from plot_sweep import read_summary  # noqa: E402

MODE_STYLE = {"serial": ("k", "-"), "parallel": ("tab:red", "-"), "adaptive": ("tab:blue", "-"),
              "serial_forward": ("tab:green", "-")}


def load(dirname):
    """-> rows of the summary that finished, each with its record path; names the others."""
    path = os.path.join(dirname, "summary.csv")
    if not os.path.exists(path):
        sys.exit(f"{path}: no summary; run the sweep (or lpt sweep --collect {dirname}) first")
    _, axes, rows = read_summary(path)
    ok = [r for r in rows if r["status"] == "ok"]
    for r in rows:
        if r["status"] != "ok":
            print(f"note: {r['name']} is {r['status']}: left out", file=sys.stderr)
        r["record"] = os.path.join(dirname, r["name"] + ".h5")
    if not ok:
        sys.exit(f"{dirname}: no finished point")
    for r in ok:  # every figure groups by the step size, an axis or not
        r["model.T"] = setting(r, "model.T")
    return axes, ok


def num(v):
    return float(v) if v not in ("", None) else math.nan


def series(rec_path, name):
    """A CSR series of a record (docs/records.md) as a list of arrays."""
    with h5py.File(rec_path, "r") as f:
        if name not in f:
            return []
        off, val = f[name]["offsets"][:], f[name]["values"][:]
    return [val[off[i]:off[i + 1]] for i in range(len(off) - 1)]


def checkpoint_step(init_from):
    """Training step of a replayed checkpoint: .stepN. in its kept name; none = initialization."""
    if not isinstance(init_from, str) or not init_from:
        return 0
    m = re.search(r"\.step(\d+)\.", init_from)
    return int(m.group(1)) if m else -1


def weights_label(init_from):
    s = checkpoint_step(init_from)
    return "initialization" if s == 0 else f"trained (step {s})"


def events_text(r):
    """The controller's actions of a point ("serial@74"), or — (none, or not an adaptive run)."""
    e = r.get("control_events", "")
    return e if isinstance(e, str) and e else "—"


def t_values(rows):
    return sorted({num(r["model.T"]) for r in rows})


def fig_f1(rows, out, title):
    ts = t_values(rows)
    fig, ax = plt.subplots(len(ts), 2, figsize=(12, 3.6 * len(ts)), squeeze=False)
    print("| T | mode | final val loss | best val loss | final metric | controller |")
    print("|---|---|---|---|---|---|")
    for i, t in enumerate(ts):
        for r in [r for r in rows if num(r["model.T"]) == t]:
            rec = Record(r["record"])
            mode = r["solver.mode"]
            c, ls = MODE_STYLE.get(mode, ("gray", "-"))
            loss = rec.series("/train/loss")
            ax[i][0].plot(np.arange(1, len(loss) + 1), smooth(loss, 25), color=c, lw=1.2,
                          alpha=0.6, ls=ls)
            ax[i][0].plot(rec.eval_steps, rec.eval_loss, "o-", color=c, ms=3, label=mode)
            metric = rec.series("/eval/metric")
            ax[i][1].plot(rec.eval_steps, metric, "o-", color=c, ms=3, label=mode)
            for e in rec.events():
                if e["action"] in ("raise", "serial"):
                    for a in ax[i]:
                        a.axvline(e["step"], color=c, lw=0.8,
                                  ls="--" if e["action"] == "raise" else ":")
            print(f"| {t:g} | {mode} | {num(r['final_val_loss']):.4f} | "
                  f"{num(r['best_val_loss']):.4f} | {num(r['final_metric']):.4f} | "
                  f"{events_text(r)} |")
        ax[i][0].set_ylabel(f"T = {t:g}: loss")
        ax[i][1].set_ylabel(rows[0].get("metric_name") or "metric")
        ax[i][0].legend(fontsize=8, title="validation (lines: training, smoothed)",
                        title_fontsize=7)
    for a in ax[-1]:
        a.set_xlabel("step")
    fig.suptitle(title + "   (vertical: controller raised --, switched to serial ··)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}", file=sys.stderr)


def per_step_size(rows, header):
    """One figure row per step size, three panels each, and the printed table's header."""
    ts = t_values(rows)
    fig, ax = plt.subplots(len(ts), 3, figsize=(15, 3.6 * len(ts)), squeeze=False)
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    return ts, fig, ax


def fig_f2(rows, out, title):
    ts, fig, ax = per_step_size(rows, ["T", "mode", "checks", "rel. error first / mean / last",
                                       "bias mean / last", "cosine mean over the last half"])
    for i, t in enumerate(ts):
        par = None
        for r in [r for r in rows if num(r["model.T"]) == t]:
            rec = Record(r["record"])
            mode = r["solver.mode"]
            steps = rec.series("/monitor/step")
            if len(steps) == 0:
                continue
            c, _ = MODE_STYLE.get(mode, ("gray", "-"))
            err, bias = rec.series("/monitor/rel_error"), rec.series("/monitor/bias_ratio")
            cos = rec.series("/monitor/cosine")
            ax[i][0].semilogy(steps, err, "o-", color=c, ms=3, label=f"{mode}: ‖ĝ−g‖/‖g‖")
            ax[i][0].semilogy(steps, bias, "x--", color=c, ms=3, label=f"{mode}: bias")
            ax[i][1].plot(steps, cos, "o-", color=c, ms=3, label=mode)
            if mode == "parallel":
                par = rec
            half = cos[len(cos) // 2:]
            print(f"| {t:g} | {mode} | {len(steps)} | {err[0]:.3g} / {np.mean(err):.3g} / "
                  f"{err[-1]:.3g} | {np.mean(bias):.3g} / {bias[-1]:.3g} | "
                  f"{np.mean(half):.3f} |")
        ax[i][0].axhline(0.5, color="gray", lw=0.8, ls=":")
        ax[i][0].set_ylabel(f"T = {t:g}")
        ax[i][0].legend(fontsize=7)
        ax[i][1].set_ylabel("cosine(ĝ, g)")
        ax[i][1].set_ylim(-1.05, 1.05)
        if par is not None:
            with h5py.File(par.path, "r") as f:
                cols = [c.decode() if isinstance(c, bytes) else str(c)
                        for c in f["monitor/segment_cosine"].attrs["columns"]]
                seg = f["monitor/segment_cosine"][...]
            st = par.series("/monitor/step")
            im = ax[i][2].imshow(seg, aspect="auto", cmap="RdBu", vmin=-1, vmax=1,
                                 extent=[-0.5, len(cols) - 0.5, st[-1], st[0]])
            fig.colorbar(im, ax=ax[i][2], label="per-layer cosine (parallel)")
            ticks = list(range(0, len(cols), max(1, len(cols) // 8)))
            ax[i][2].set_xticks(ticks)
            ax[i][2].set_xticklabels([cols[k] for k in ticks], rotation=45, fontsize=7)
            ax[i][2].set_ylabel("step")
    for a in ax[-1][:2]:
        a.set_xlabel("step")
    fig.suptitle(title + "   (dotted: the controller's η = 0.5)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}", file=sys.stderr)


def conv_factor(res):
    """Geometric mean of the residual ratios until the residual reaches rounding (1e-6 of the
    first), the convergence factor the replay measures."""
    r = [x for x in res if x > 0]
    if len(r) < 2:
        return math.nan
    keep = [x for x in r if x > 1e-6 * r[0]]
    if len(keep) < 2:
        keep = r[:2]
    return (keep[-1] / keep[0]) ** (1.0 / (len(keep) - 1))


def fig_f3(rows, out, title):
    ts, fig, ax = per_step_size(rows, ["T", "checkpoint step", "forward residuals",
                                       "adjoint residuals", "forward / adjoint conv. factor",
                                       "rel. error"])
    cmap = plt.get_cmap("viridis")
    for i, t in enumerate(ts):
        sel = sorted([r for r in rows if num(r["model.T"]) == t],
                     key=lambda r: checkpoint_step(r.get("train.init_from", "")))
        smax = max(1, max(checkpoint_step(r.get("train.init_from", "")) for r in sel))
        xs, cf_f, cf_a = [], [], []
        for r in sel:
            s = checkpoint_step(r.get("train.init_from", ""))
            fw = series(r["record"], "/solver/forward/residuals")
            ad = series(r["record"], "/solver/adjoint/residuals")
            if not fw or not ad:
                continue
            fw, ad = fw[0], ad[0]
            col = cmap(s / smax)
            ax[i][0].semilogy(np.arange(1, len(fw) + 1), np.where(fw > 0, fw, np.nan), "o-",
                              color=col, ms=3, label=f"step {s}")
            ax[i][1].semilogy(np.arange(1, len(ad) + 1), np.where(ad > 0, ad, np.nan), "o-",
                              color=col, ms=3, label=f"step {s}")
            xs.append(s)
            cf_f.append(conv_factor(fw))
            cf_a.append(conv_factor(ad))
            err = Record(r["record"]).series("/monitor/rel_error")
            print(f"| {t:g} | {s} | {' '.join(f'{x:.2g}' for x in fw)} | "
                  f"{' '.join(f'{x:.2g}' for x in ad)} | {cf_f[-1]:.3f} / {cf_a[-1]:.3f} | "
                  f"{err[0] if len(err) else math.nan:.3g} |")
        ax[i][2].plot(xs, cf_f, "o-", label="forward")
        ax[i][2].plot(xs, cf_a, "s-", label="adjoint")
        ax[i][0].set_ylabel(f"T = {t:g}: forward residual")
        ax[i][1].set_ylabel("adjoint residual")
        ax[i][2].set_ylabel("mean convergence factor")
        ax[i][0].legend(fontsize=7)
        ax[i][2].legend(fontsize=8)
    for a in ax[-1][:2]:
        a.set_xlabel("MGRIT iteration")
    ax[-1][2].set_xlabel("training step of the checkpoint")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}", file=sys.stderr)


def setting(r, key):
    """A config key's value for a point: its axis value, else the record's resolved config."""
    if r.get(key, "") not in ("", None) and not (isinstance(r[key], float) and math.isnan(r[key])):
        return r[key]
    if "_config" not in r:
        r["_config"] = Record(r["record"]).config
    v = r["_config"]
    for part in key.split("."):
        v = v[part]
    return v


def fig_f4(rows, out, title):
    cf_key, lv_key = "solver.mgrit.forward.cfactor", "solver.mgrit.forward.levels"
    fk, bk = "solver.mgrit.forward.iterations", "solver.mgrit.backward.iterations"
    for r in rows:  # the keys a sweep did not vary come from the records
        for k in (cf_key, lv_key, fk, bk):
            r[k] = setting(r, k)
    panels = sorted({(num(r["model.T"]), checkpoint_step(r.get("train.init_from", "")))
                     for r in rows})
    configs = sorted({(int(num(r[cf_key])), int(num(r[lv_key]))) for r in rows},
                     key=lambda c: (-c[0], c[1]))
    fwd = sorted({int(num(r[fk])) for r in rows})
    bwd = sorted({int(num(r[bk])) for r in rows})
    fig, ax = plt.subplots(len(panels), len(configs),
                           figsize=(3.6 * len(configs) + 1, 3.1 * len(panels)), squeeze=False)
    print("| T | weights | cfactor, levels | relative error, rows forward " +
          ", ".join(map(str, fwd)) + "; columns backward " + ", ".join(map(str, bwd)) + " |")
    print("|---|---|---|---|")
    for i, (t, s) in enumerate(panels):
        for j, (cf, lv) in enumerate(configs):
            grid = np.full((len(fwd), len(bwd)), np.nan)
            for r in rows:
                if (num(r["model.T"]), checkpoint_step(r.get("train.init_from", ""))) != (t, s):
                    continue
                if (int(num(r[cf_key])), int(num(r[lv_key]))) != (cf, lv):
                    continue
                grid[fwd.index(int(num(r[fk]))), bwd.index(int(num(r[bk])))] = \
                    num(r["grad_error_mean"])
            with np.errstate(divide="ignore"):
                lg = np.log10(np.maximum(grid, 1e-8))
            im = ax[i][j].imshow(lg, origin="lower", cmap="magma_r", vmin=-6, vmax=1)
            for a in range(len(fwd)):
                for b in range(len(bwd)):
                    if not math.isnan(grid[a, b]):
                        ax[i][j].text(b, a, f"{grid[a, b]:.1g}", ha="center", va="center",
                                      fontsize=7, color="w" if lg[a, b] > -2.5 else "k")
            ax[i][j].set_xticks(range(len(bwd)))
            ax[i][j].set_xticklabels(bwd)
            ax[i][j].set_yticks(range(len(fwd)))
            ax[i][j].set_yticklabels(fwd)
            ax[i][j].set_title(f"T={t:g}, {'init' if s == 0 else f'step {s}'}; cf {cf}, "
                               f"L {lv}", fontsize=8)
            if j == 0:
                ax[i][j].set_ylabel("forward iterations")
            if i == len(panels) - 1:
                ax[i][j].set_xlabel("backward iterations")
            cells = "; ".join(" ".join(f"{x:.2g}" for x in row) for row in grid)
            print(f"| {t:g} | {weights_label('' if s == 0 else f'.step{s}.')} | {cf}, {lv} | "
                  f"{cells} |")
    fig.colorbar(im, ax=ax, label="log10 ‖ĝ−g‖/‖g‖", shrink=0.6)
    fig.suptitle(title, fontsize=10)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    print(f"wrote {out}", file=sys.stderr)


def fig_f5(rows, out, title):
    groups = sorted({(num(r["model.T"]), checkpoint_step(r.get("train.init_from", "")))
                     for r in rows})
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.2))
    print("| T | weights | M | bias estimate | mean per-batch error | ‖mean(ĝ−g)‖ / M = 1 | "
          "‖mean g‖ / M = 1 |")
    print("|---|---|---|---|---|---|---|")
    for t, s in groups:
        sel = sorted([r for r in rows if (num(r["model.T"]),
                      checkpoint_step(r.get("train.init_from", ""))) == (t, s)],
                     key=lambda r: num(r["monitor.batches"]))
        m = [num(r["monitor.batches"]) for r in sel]
        bias = [num(r["bias_mean"]) for r in sel]
        first = {}
        for key in ("/monitor/mean_rel_error", "/monitor/mean_error_norm",
                    "/monitor/mean_grad_norm"):
            first[key] = []
            for r in sel:
                e = Record(r["record"]).series(key)
                first[key].append(float(e[0]) if len(e) else math.nan)
        err = np.array(first["/monitor/mean_error_norm"])
        grad = np.array(first["/monitor/mean_grad_norm"])
        lab = f"T={t:g}, {'init' if s == 0 else f'step {s}'}"
        line = ax[0].loglog(m, bias, "o-", label=lab)[0]
        ax[0].loglog(m, first["/monitor/mean_rel_error"], "x:", color=line.get_color())
        ax[1].loglog(m, err / err[0], "o-", color=line.get_color(), label=f"{lab}: ‖mean(ĝ−g)‖")
        ax[1].loglog(m, grad / grad[0], "s--", color=line.get_color(), ms=4,
                     label=f"{lab}: ‖mean g‖")
        for k in range(len(m)):
            print(f"| {t:g} | {'initialization' if s == 0 else f'trained (step {s})'} | "
                  f"{m[k]:g} | {bias[k]:.3g} | {first['/monitor/mean_rel_error'][k]:.3g} | "
                  f"{err[k] / err[0]:.3f} | {grad[k] / grad[0]:.3f} |")
    m0 = np.array([1, 64])
    ax[1].loglog(m0, 1 / np.sqrt(m0), "k:", lw=1, label="1/√M (what pure noise does)")
    ax[0].set_xlabel("batches averaged M")
    ax[0].set_ylabel("bias ‖mean(ĝ−g)‖/‖mean g‖ (o); mean per-batch error (x)")
    ax[1].set_xlabel("batches averaged M")
    ax[1].set_ylabel("norm of the M-batch mean, relative to M = 1")
    ax[0].legend(fontsize=8)
    ax[1].legend(fontsize=6, ncol=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}", file=sys.stderr)


def pretraining(init_from):
    """The pretraining a fine-tuning point started from: its checkpoint's solver mode (the point
    name of f1's sweep, "..._mode=parallel..."), or scratch."""
    if not isinstance(init_from, str) or not init_from:
        return "scratch"
    m = re.search(r"mode=([a-z_]+?)(_seed=\d+)?\.ckpt", os.path.basename(init_from))
    return m.group(1) if m else os.path.basename(init_from)


def fig_f7(rows, out, title):
    ts = t_values(rows)
    order = ["scratch", "serial", "parallel", "adaptive"]
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.2))
    metric = rows[0].get("metric_name") or "metric"
    print(f"| T | pretrained | fine-tuned {metric}, mean ± std | seeds | final val loss, mean |")
    print("|---|---|---|---|---|")
    width = 0.8 / max(1, len(ts))
    for i, t in enumerate(ts):
        means, stds = [], []
        for k in order:
            sel = [r for r in rows if num(r["model.T"]) == t and
                   pretraining(r.get("train.init_from", "")) == k]
            acc = np.array([num(r["final_metric"]) for r in sel])
            loss = np.array([num(r["final_val_loss"]) for r in sel])
            means.append(acc.mean() if len(acc) else math.nan)
            stds.append(acc.std(ddof=1) if len(acc) > 1 else 0.0)
            if len(acc):
                print(f"| {t:g} | {k} | {means[-1]:.4f} ± {stds[-1]:.4f} | {len(acc)} | "
                      f"{loss.mean():.4f} |")
            for r in sel:
                rec = Record(r["record"])
                ax[1].plot(rec.eval_steps, rec.series("/eval/metric"),
                           color=MODE_STYLE.get(k, ("gray", "-"))[0], lw=0.8,
                           ls="-" if i == 0 else "--", alpha=0.7)
        x = np.arange(len(order)) + (i - (len(ts) - 1) / 2) * width
        ax[0].bar(x, means, width, yerr=stds, capsize=3, label=f"T = {t:g}")
    ax[0].set_xticks(range(len(order)))
    ax[0].set_xticklabels(order)
    ax[0].set_ylabel(f"fine-tuned {metric} (mean over seeds, ±1 std)")
    lo = np.nanmin([num(r["final_metric"]) for r in rows])
    ax[0].set_ylim(max(0.0, lo - 0.05), 1.0)
    ax[0].legend(fontsize=8)
    ax[1].set_xlabel("fine-tuning step")
    ax[1].set_ylabel(f"validation {metric}")
    ax[1].set_title("colour: pretraining (grey scratch, black serial, red parallel, blue "
                    "adaptive); dashed: the larger T", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}", file=sys.stderr)


def f6_mode(r):
    """The plan family a measured F6 point belongs to, as lpt predict --plans names them."""
    mode = r["solver.mode"]
    if mode == "serial":
        return "data-parallel" if num(r.get("train.data_groups", "")) > 1 else "serial"
    return {"parallel": "layer-parallel", "pipeline": "pipeline"}.get(mode, mode)


def plan_times(plans):
    """(N, G, family) -> (step time, configuration) of lpt predict --plans JSON cells."""
    pred = {}
    for c in plans:
        for pl in c["plans"]:
            pred[(c["layers"], c["devices"], pl["family"])] = (pl["time_s"]["total"],
                                                              pl["describe"])
        pred[(c["layers"], c["devices"], "serial")] = (c["serial"]["time_s"]["total"], "")
    return pred


def fig_f6(rows, out, title, plans_path):
    """Measured step times at the ranks this machine has (the sweep), lpt predict --plans from
    the same machine's calibration for every depth and device count (plans.json in the sweep
    directory, written by run.sh f6; plans_as_run.json prices the measured runs' own MGRIT
    settings, for the comparison)."""
    import json
    with open(plans_path) as fh:
        plans = json.load(fh)["plans"]
    as_run_path = os.path.join(os.path.dirname(plans_path), "plans_as_run.json")
    as_run = plans
    if os.path.exists(as_run_path):
        with open(as_run_path) as fh:
            as_run = json.load(fh)["plans"]
    fams = ["layer-parallel", "pipeline", "data-parallel"]
    style = {"layer-parallel": "-", "pipeline": "--", "data-parallel": ":"}
    depths = sorted({c["layers"] for c in plans})
    cmap = plt.get_cmap("viridis")
    colour = {n: cmap(i / max(1, len(depths) - 1)) for i, n in enumerate(depths)}
    fig, ax = plt.subplots(1, 2, figsize=(13, 4.8))
    pred = plan_times(plans)
    run_pred = plan_times(as_run)
    for n in depths:
        gs = sorted({c["devices"] for c in plans if c["layers"] == n})
        for fam in fams:
            sp = [pred[(n, 1 if (n, 1, "serial") in pred else g, "serial")][0] /
                  pred[(n, g, fam)][0] if (n, g, fam) in pred else math.nan for g in gs]
            ax[0].loglog(gs, sp, style[fam], color=colour[n], base=2,
                         label=f"N={n}" if fam == "layer-parallel" else None)
    meas = {}  # (N, family) -> (median step time, devices: ranks per group x groups)
    for r in rows:
        groups = num(r.get("train.data_groups", ""))
        devices = int(num(r["ranks"])) * (int(groups) if groups > 1 else 1)
        meas[(int(num(r["model.layers"])), f6_mode(r))] = (num(r["median_step_s"]), devices)
    print("| N | plan | ranks | measured ms | predicted ms | error | measured speedup | "
          "predicted speedup |")
    print("|---|---|---|---|---|---|---|---|")
    xs, ys, labels = [], [], []
    for (n, fam), (t, ranks) in sorted(meas.items()):
        ser = meas.get((n, "serial"), (math.nan, 1))[0]
        g = ranks if fam != "serial" else as_run[0]["devices"]  # serial: any cell's reference
        pt, desc = run_pred.get((n, g, fam), (math.nan, ""))
        psp = run_pred.get((n, g, "serial"), (math.nan, ""))[0] / pt if fam != "serial" else 1.0
        msp = ser / t
        print(f"| {n} | {fam} {desc} | {ranks} | {1e3 * t:.1f} | {1e3 * pt:.1f} | "
              f"{100 * (pt / t - 1):+.1f} % | {msp:.2f} | {psp:.2f} |")
        if fam != "serial" and n in colour:
            ax[0].plot([ranks], [msp], {"layer-parallel": "o", "pipeline": "s",
                                        "data-parallel": "^"}[fam], color=colour[n], ms=7,
                       mec="k")
        xs.append(1e3 * pt)
        ys.append(1e3 * t)
        labels.append(f"N{n} {fam}")
    ax[0].axhline(1, color="gray", lw=0.8)
    ax[0].set_xlabel("devices G (ranks)")
    ax[0].set_ylabel("speedup over serial on one device")
    ax[0].set_title("predicted: layer-parallel —, pipeline --, data-parallel ··; "
                    "measured here: o s ^", fontsize=8)
    ax[0].legend(fontsize=7, ncol=2)
    ax[1].loglog(xs, ys, "o")
    for x, y, lab in zip(xs, ys, labels):
        ax[1].annotate(lab, (x, y), fontsize=6)
    lim = [min(xs + ys) * 0.8, max(xs + ys) * 1.25] if xs else [1, 10]
    ax[1].loglog(lim, lim, "k:", lw=0.8)
    ax[1].set_xlabel("predicted step time (ms)")
    ax[1].set_ylabel("measured median step time (ms)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}", file=sys.stderr)
    print()
    print("| N | G | fastest plan | its speedup | layer-parallel speedup | best exact |")
    print("|---|---|---|---|---|---|")
    for c in plans:
        best = min(c["plans"], key=lambda pl: pl["time_s"]["total"])
        lp = [pl for pl in c["plans"] if pl["family"] == "layer-parallel"]
        ex = [pl for pl in c["plans"] if pl["family"] != "layer-parallel"]
        exb = min(ex, key=lambda pl: pl["time_s"]["total"]) if ex else None
        print(f"| {c['layers']} | {c['devices']} | {best['describe']} | {best['speedup']:.2f} | "
              f"{lp[0]['speedup'] if lp else math.nan:.2f} | "
              f"{(exb['describe'] + ' ' + format(exb['speedup'], '.2f')) if exb else '—'} |")


# F8 is F1's figure (loss, metric) for the translation sweep with BPE: same panels, own name.
FIGURES = {"f1": fig_f1, "f2": fig_f2, "f3": fig_f3, "f4": fig_f4, "f5": fig_f5, "f7": fig_f7,
           "f8": fig_f1}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("figure", choices=sorted(list(FIGURES) + ["f6"]))
    p.add_argument("sweep_dir", help="an lpt sweep output directory (with summary.csv)")
    p.add_argument("-o", "--output", required=True, help="PNG to write")
    p.add_argument("--title", help="figure title (default: the figure and the directory)")
    a = p.parse_args(argv)
    _, rows = load(a.sweep_dir)
    title = a.title or f"{a.figure}: {a.sweep_dir}"
    if a.figure == "f6":
        fig_f6(rows, a.output, title, os.path.join(a.sweep_dir, "plans.json"))
    else:
        FIGURES[a.figure](rows, a.output, title)


if __name__ == "__main__":
    main()
