#!/usr/bin/python3
"""Plot predicted layer-parallel speedup against ranks and against depth.

Input: one or more JSON files written by `lpt predict --json FILE` (perfmodel/predict.cpp:
report_to_json). Rows from all files are pooled; each file's profile name labels its curves.
Rows made with `--simulate` also carry the schedule simulator's speedup, drawn as crosses on the
model's curves (ranks plot). Measured points on this machine: analysis/validate_perfmodel.py.

    /usr/bin/python3 analysis/plot_speedup.py run.json [more.json ...] -o speedup.png
"""
import argparse
import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_rows(paths):
    rows = []
    for path in paths:
        with open(path) as f:
            report = json.load(f)
        if "rows" not in report or "profile" not in report:
            sys.exit(f"{path}: not an `lpt predict --json` file (no 'rows'/'profile')")
        profile = report["profile"]["name"]
        for r in report["rows"]:
            rows.append(dict(profile=profile, layers=r["layers"], ranks=r["ranks"],
                             speedup=r["speedup"], efficiency=r["efficiency"],
                             best=r["settings"]["describe"],
                             sim=r.get("simulated", {}).get("speedup"),
                             crossover=None))
        for c in report.get("crossovers", []):
            rows.append(dict(profile=profile, crossover=c))
    return rows


def plot_vs_ranks(ax, rows):
    curves = defaultdict(list)
    for r in rows:
        if r["crossover"] is None:
            curves[(r["profile"], r["layers"])].append((r["ranks"], r["speedup"], r["best"],
                                                        r["sim"]))
    for (profile, layers), pts in sorted(curves.items()):
        pts.sort(key=lambda p: p[0])
        x = [p[0] for p in pts]
        line, = ax.plot(x, [p[1] for p in pts], marker="o", label=f"{profile}, N={layers}")
        sim = [(p[0], p[3]) for p in pts if p[3] is not None]
        if sim:
            ax.scatter([p[0] for p in sim], [p[1] for p in sim], marker="x", s=60,
                       color=line.get_color(), label=f"{profile}, N={layers}: simulator")
        ax.annotate(pts[-1][2], (x[-1], pts[-1][1]), fontsize=7, xytext=(4, 0),
                    textcoords="offset points")
    ranks = sorted({r["ranks"] for r in rows if r["crossover"] is None})
    if ranks:
        ax.plot(ranks, ranks, color="grey", lw=0.8, ls=":", label="ideal (speedup = P)")
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("layer-parallel ranks P")
    ax.set_ylabel("speedup over serial (one rank)")
    ax.set_title("speedup vs ranks (best MGRIT settings)")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)


def plot_vs_depth(ax, rows):
    curves = defaultdict(list)
    for r in rows:
        if r["crossover"] is None:
            curves[(r["profile"], r["ranks"])].append((r["layers"], r["speedup"]))
    for (profile, ranks), pts in sorted(curves.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                label=f"{profile}, P={ranks}")
    for r in rows:
        c = r["crossover"]
        if c is not None and c["depth"] > 0:
            ax.axvline(c["depth"], color="red", lw=0.6, ls=":")
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("depth N (layers); red: depth where layer-parallel starts to win")
    ax.set_ylabel("speedup over serial (one rank)")
    ax.set_title("speedup vs depth")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", alpha=0.3)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="files from `lpt predict --json`")
    ap.add_argument("-o", "--output", default="speedup.png", help="image to write")
    args = ap.parse_args()
    rows = load_rows(args.json)
    if not any(r["crossover"] is None for r in rows):
        sys.exit("no prediction rows in the input")
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    plot_vs_ranks(axes[0], rows)
    plot_vs_depth(axes[1], rows)
    fig.tight_layout()
    fig.savefig(args.output, dpi=130)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
