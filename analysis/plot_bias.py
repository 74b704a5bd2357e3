#!/usr/bin/python3
"""The gradient-bias experiment in one figure (or a table): runs of one config in different
solver modes (serial, parallel, adaptive), as experiments/bias_experiment.sh makes them.

    /usr/bin/python3 analysis/plot_bias.py A.h5 B.h5 C.h5 --labels serial,parallel,adaptive \\
        -o bias.png [--smooth 25] [--title NAME]
    /usr/bin/python3 analysis/plot_bias.py A.h5 B.h5 C.h5 --labels ... --summary
    /usr/bin/python3 analysis/plot_bias.py B.h5 --labels parallel --layers -o layers.png

Panels: (1) training loss (moving average) and validation loss; (2) the measured relative error
‖ĝ−g‖/‖g‖ of the layer-parallel gradient and the bias estimate ‖mean(ĝ−g)‖/‖mean g‖ at every
check, with the controller's η; (3) the cosine between ĝ and g; vertical lines where a
controller raised iterations (dashed) or switched to serial (solid). --layers draws, for the
first record, per-layer heatmaps of the cosine and the norm ratio over the checks. --summary
prints, per run:
final validation loss and its difference to the first run's, best validation loss, wall time,
the largest relative difference of its training losses to the first run's (step by step), checks,
mean and last measured error, and the controller's actions.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from lpt_record import Record, smooth  # noqa: E402


def actions(rec):
    return [e for e in rec.events() if e["action"] in ("raise", "serial")]


def summary(recs, labels):
    ref = recs[0].eval_loss[-1] if len(recs[0].eval_loss) else float("nan")
    ref_loss = recs[0].series("/train/loss")
    print("| run | final val loss | vs first | best val loss | train loss max rel. diff to first "
          "| wall [s] | checks | mean rel err | last rel err | last bias | actions |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r, lab in zip(recs, labels):
        vl = r.eval_loss
        fin = vl[-1] if len(vl) else float("nan")
        rel = r.series("/monitor/rel_error")
        bias = r.series("/monitor/bias_ratio")
        acts = "; ".join(f"{e['action']}@{e['step']}" for e in actions(r)) or "-"
        wall = float(np.sum(r.series("/train/step_time")))
        loss = r.series("/train/loss")
        k = min(len(loss), len(ref_loss))
        diff = float(np.max(np.abs(loss[:k] - ref_loss[:k]) / np.abs(ref_loss[:k]))) if k else float("nan")
        print(f"| {lab} | {fin:.4f} | {100 * (fin - ref) / ref:+.2f}% | "
              f"{(np.min(vl) if len(vl) else float('nan')):.4f} | {diff:.2e} | {wall:.0f} | {len(rel)} | "
              f"{(np.mean(rel) if len(rel) else float('nan')):.3g} | "
              f"{(rel[-1] if len(rel) else float('nan')):.3g} | "
              f"{(bias[-1] if len(bias) else float('nan')):.3g} | {acts} |")


def plot(recs, labels, out, window, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(17, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    eta = None
    for i, (r, lab) in enumerate(zip(recs, labels)):
        c = colors[i % len(colors)]
        loss = r.series("/train/loss")
        ax[0].plot(np.arange(1, len(loss) + 1), smooth(loss, window), color=c, lw=1.5,
                   label=f"{lab} train (avg {window})")
        if len(r.eval_loss):
            ax[0].plot(r.eval_steps, r.eval_loss, "o--", color=c, ms=4, lw=1,
                       label=f"{lab} val")
        st = r.series("/monitor/step")
        if len(st):
            ax[1].semilogy(st, r.series("/monitor/rel_error"), "-", color=c, lw=1.2,
                           label=f"{lab} rel. error")
            ax[1].semilogy(st, r.series("/monitor/bias_ratio"), ":", color=c, lw=1.5,
                           label=f"{lab} bias ratio")
            ax[2].plot(st, r.series("/monitor/cosine"), "-", color=c, lw=1.2, label=lab)
        if r.config.get("solver", {}).get("mode") == "adaptive":
            eta = r.config.get("control", {}).get("eta")
        for e in actions(r):
            for a in ax:
                a.axvline(e["step"], color=c, lw=1, ls="-" if e["action"] == "serial" else "--")
    if eta:
        ax[1].axhline(eta, color="k", lw=0.8, ls="-.", label=f"eta = {eta}")
    ax[0].set_xlabel("step")
    ax[0].set_ylabel("loss")
    ax[0].set_title("loss")
    ax[1].set_xlabel("step")
    ax[1].set_title("gradient error: ||g^-g||/||g|| (—), bias ratio (···)")
    ax[2].set_xlabel("step")
    ax[2].set_title("cosine(g^, g)")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    if title:
        fig.suptitle(title + "   (vertical lines: controller raised iterations --, switched to "
                     "serial —)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def plot_layers(rec, label, out):
    """Per parameter group (opening, layer.0 ... layer.N-1, closing) over the checks: the cosine
    between ĝ and g and log10 of the norm ratio ‖ĝ‖/‖g‖, to see where in depth the error sits."""
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(rec.path, "r") as f:
        if "monitor/segment_cosine" not in f:
            raise SystemExit(f"{rec.path}: no gradient checks recorded (monitor.every = 0?)")
        cols = [c.decode() if isinstance(c, bytes) else str(c)
                for c in f["monitor/segment_cosine"].attrs["columns"]]
        cos = f["monitor/segment_cosine"][...]
        ratio = f["monitor/segment_norm_ratio"][...]
    steps = rec.series("/monitor/step")
    fig, ax = plt.subplots(1, 2, figsize=(14, 4.8), sharey=True)
    ext = [-0.5, len(cols) - 0.5, steps[-1] if len(steps) else 1, steps[0] if len(steps) else 0]
    im0 = ax[0].imshow(cos, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, extent=ext)
    fig.colorbar(im0, ax=ax[0], label="cosine(ĝ, g)")
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.log10(ratio)
    im1 = ax[1].imshow(lr, aspect="auto", cmap="PuOr", vmin=-1, vmax=1, extent=ext)
    fig.colorbar(im1, ax=ax[1], label="log10 ‖ĝ‖/‖g‖")
    ticks = list(range(0, len(cols), max(1, len(cols) // 12)))
    for a in ax:
        a.set_xticks(ticks)
        a.set_xticklabels([cols[i] for i in ticks], rotation=60, fontsize=7)
        a.set_xlabel("parameter group")
    ax[0].set_ylabel("step")
    fig.suptitle(f"{label}: per-layer gradient agreement at every check", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("records", nargs="+")
    p.add_argument("--labels", help="comma-separated, one per record")
    p.add_argument("-o", "--output", default="bias.png")
    p.add_argument("--smooth", type=int, default=25)
    p.add_argument("--title", default="")
    p.add_argument("--summary", action="store_true", help="print the table instead of plotting")
    p.add_argument("--layers", action="store_true",
                   help="per-layer heatmaps (cosine, norm ratio) of the first record instead")
    a = p.parse_args(argv)
    recs = [Record(f) for f in a.records]
    labels = a.labels.split(",") if a.labels else [r.label for r in recs]
    if len(labels) != len(recs):
        p.error(f"{len(labels)} labels for {len(recs)} records")
    if a.layers:
        plot_layers(recs[0], labels[0], a.output)
    elif a.summary:
        summary(recs, labels)
    else:
        plot(recs, labels, a.output, a.smooth, a.title)


if __name__ == "__main__":
    main()
