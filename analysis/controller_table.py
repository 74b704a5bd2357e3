#!/usr/bin/python3
"""The adaptive-controller experiment as a table and a trade-off figure (docs/controller.md):
records named NAME_VARIANT_sSEED.h5, as experiments/controller_experiment.sh writes them.

    /usr/bin/python3 analysis/controller_table.py runs/controller [--name gpt_small_T1] \\
        [--markdown] [-o tradeoff.png]

Per NAME and variant: the final validation loss of every seed, its gap to the serial run of the
same seed, the median gap over the seeds that have both, the step at which the controller first
acted (raise or serial) and the fraction of steps trained layer-parallel (/solver/mode != serial).
The figure puts each variant at (median fraction of parallel steps, median final gap): the
trade-off between speed (steps that can be spread over ranks) and accuracy.
"""
import argparse
import glob
import os
import re
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from lpt_record import Record  # noqa: E402

ORDER = ["serial", "serial_t2", "parallel", "adaptive_raise", "adaptive_serial", "level", "eta03", "eta08", "h25",
         "h100"]
PATTERN = re.compile(r"^(?P<name>.+?)_(?P<variant>" + "|".join(sorted(ORDER, key=len, reverse=True)) + r")_s(?P<seed>\d+)\.h5$")


def finished(path):
    log = path[:-3] + ".log"
    return os.path.exists(log) and any(l.startswith("done:") for l in open(log, errors="replace"))


def run_row(path):
    r = Record(path)
    mode = r.series("/solver/mode")
    steps = len(r.series("/train/loss"))
    acted = [e["step"] for e in r.events() if e["action"] in ("raise", "serial")]
    first_serial = [e["step"] for e in r.events() if e["action"] == "serial"]
    return {
        "final": float(r.eval_loss[-1]) if len(r.eval_loss) else float("nan"),
        "steps": steps,
        "parallel_fraction": float(np.mean(mode != 0)) if len(mode) else 0.0,
        "acted": acted[0] if acted else None,
        "serial_at": first_serial[0] if first_serial else None,
    }


def collect(folder, only=None):
    runs = defaultdict(dict)  # (name, variant) -> seed -> row
    for path in sorted(glob.glob(os.path.join(folder, "*.h5"))):
        m = PATTERN.match(os.path.basename(path))
        if not m or (only and m["name"] != only) or not finished(path):
            continue
        runs[(m["name"], m["variant"])][int(m["seed"])] = run_row(path)
    return runs


def table(runs):
    rows = []
    names = sorted({n for n, _ in runs})
    for name in names:
        serial = runs.get((name, "serial"), {})
        for v in ORDER:
            seeds = runs.get((name, v))
            if not seeds:
                continue
            gaps = [100 * (r["final"] / serial[s]["final"] - 1) for s, r in seeds.items()
                    if s in serial and v != "serial"]
            rows.append({
                "name": name, "variant": v, "seeds": sorted(seeds),
                "final": [seeds[s]["final"] for s in sorted(seeds)],
                "gaps": gaps, "median_gap": float(np.median(gaps)) if gaps else float("nan"),
                "acted": [seeds[s]["acted"] for s in sorted(seeds)],
                "serial_at": [seeds[s]["serial_at"] for s in sorted(seeds)],
                "parallel_fraction": float(np.median([r["parallel_fraction"]
                                                      for r in seeds.values()])),
            })
    return rows


def fmt_list(xs, f="{:.4f}"):
    return ", ".join("–" if x is None else f.format(x) for x in xs)


def print_table(rows, markdown):
    head = ["run", "variant", "seeds", "final val loss", "gap to serial [%]", "median gap [%]",
            "first action at", "serial from", "parallel steps"]
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["name"], r["variant"], fmt_list(r["seeds"], "{}"), fmt_list(r["final"]),
                 fmt_list(r["gaps"], "{:+.2f}"),
                 "–" if np.isnan(r["median_gap"]) else f"{r['median_gap']:+.2f}",
                 fmt_list(r["acted"], "{}"), fmt_list(r["serial_at"], "{}"),
                 f"{100 * r['parallel_fraction']:.0f}%"]
        print(("| " + " | ".join(cells) + " |") if markdown else "  ".join(cells))


def plot(rows, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter
    names = sorted({r["name"] for r in rows})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    largest = 0.0
    for i, name in enumerate(names):
        pts = [r for r in rows if r["name"] == name and r["variant"] != "serial"
               and not np.isnan(r["median_gap"])]
        if not pts:
            continue
        color = f"C{i}"
        labels = {}  # variants on the same point share one label, so names do not overprint
        for r in pts:
            x, y = 100 * r["parallel_fraction"], r["median_gap"]
            lo, hi = min(r["gaps"]), max(r["gaps"])
            largest = max(largest, abs(lo), abs(hi))
            ax.errorbar(x, y, yerr=[[y - lo], [hi - y]], fmt="o", color=color, capsize=3,
                        label=name if r is pts[0] else None)
            labels.setdefault((round(x), round(y, 2)), []).append(r["variant"])
        # Points a few percent apart would print their names over each other: stagger them.
        last_x, stack = None, 0
        for (x, y), variants in sorted(labels.items()):
            stack = stack + 1 if last_x is not None and x - last_x < 6 else 0
            last_x = x
            ax.annotate(", ".join(variants), (x, y), textcoords="offset points",
                        xytext=(8, 4 + 11 * stack), fontsize=7)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel("steps trained layer-parallel [%] (median over seeds)")
    ax.set_ylabel("final validation loss above serial [%]\n(median; bars: range over seeds)")
    # A log-like axis only where gaps span decades (a few tenths beside tens of percent).
    if largest > 5:
        ax.set_yscale("symlog", linthresh=1)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlim(-2, 105)
    ax.set_title("Adaptive training: final gap against parallel steps\n(dashed: 1% above serial)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder")
    p.add_argument("--name", help="only runs of this NAME")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("-o", "--out", help="trade-off PNG")
    a = p.parse_args()
    rows = table(collect(a.folder, a.name))
    if not rows:
        sys.exit(f"controller_table: no finished NAME_VARIANT_sSEED.h5 records in {a.folder}")
    print_table(rows, a.markdown)
    if a.out:
        plot(rows, a.out)


if __name__ == "__main__":
    main()
