#!/usr/bin/python3
"""Loss curves of one or more lpt runs into one PNG.

    /usr/bin/python3 analysis/plot_loss.py RUN.h5 [RUN2.h5 ...] -o loss.png [--smooth 25]
        [--labels serial,parallel] [--metric]

Left panel: training loss (thin: raw; thick: moving average) and validation loss (markers) against
the optimizer step. With --metric a right panel shows the validation metric (accuracy or BLEU).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lpt_record import Record, smooth  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("records", nargs="+", help="HDF5 run records written by lpt train")
    p.add_argument("-o", "--output", default="loss.png", help="PNG to write (default loss.png)")
    p.add_argument("--smooth", type=int, default=25, help="moving-average window in steps")
    p.add_argument("--labels", help="comma-separated legend labels, one per record")
    p.add_argument("--metric", action="store_true", help="add a panel with the validation metric")
    p.add_argument("--title", default=None)
    a = p.parse_args(argv)

    labels = a.labels.split(",") if a.labels else None
    if labels and len(labels) != len(a.records):
        p.error(f"--labels has {len(labels)} names for {len(a.records)} records")
    runs = []
    for path in a.records:
        if not os.path.exists(path):
            p.error(f"{path}: no such file (write one with `build/lpt train --config ...`)")
        runs.append(Record(path))

    cols = 2 if a.metric else 1
    fig, axes = plt.subplots(1, cols, figsize=(6.5 * cols, 4.2), squeeze=False)
    ax = axes[0][0]
    for i, r in enumerate(runs):
        name = labels[i] if labels else r.label
        loss = r.series("/train/loss")
        steps = range(1, len(loss) + 1)
        color = f"C{i}"
        ax.plot(steps, loss, color=color, alpha=0.25, lw=0.7)
        ax.plot(steps, smooth(loss, a.smooth), color=color, lw=1.8, label=f"{name} (train)")
        if len(r.eval_steps):
            ax.plot(r.eval_steps, r.eval_loss, "o--", color=color, ms=4, lw=1,
                    label=f"{name} (validation)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if a.title:
        ax.set_title(a.title)
    if a.metric:
        mx = axes[0][1]
        for i, r in enumerate(runs):
            m = r.series("/eval/metric")
            if len(m):
                mx.plot(r.eval_steps, m, "o-", color=f"C{i}", ms=4,
                        label=labels[i] if labels else r.label)
        mx.set_xlabel("optimizer step")
        mx.set_ylabel("validation metric")
        mx.grid(alpha=0.3)
        mx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.output, dpi=120)
    print(f"wrote {a.output}")


if __name__ == "__main__":
    main()
