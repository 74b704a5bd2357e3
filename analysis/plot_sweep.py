#!/usr/bin/python3
"""Plots of an `lpt sweep` summary (DIR/summary.csv or DIR/summary.h5; columns in docs/sweep.md).

    /usr/bin/python3 analysis/plot_sweep.py DIR/summary.csv -o sweep.png \\
        --y final_val_loss --x train.lr [--group model.layers] [--seed train.seed] \\
        [--heatmap train.lr model.layers] [--where solver.mode=serial] [--logx] [--logy]

--x: the metric (--y, any numeric column) against one axis, one line per value of --group, each
point the mean over the rows that share its x and group value, with error bars of one standard
deviation (over the seeds when the seed axis is the only other axis that varies; n per point
in the printed table). --heatmap X Y: the mean of --y over two axes, cell values written in.
Given both, the figure has both panels. Rows whose status is not "ok" are left out (--all keeps
them); --where KEY=VALUE keeps only rows with that value (repeatable). The aggregated table is
printed: one line per (group, x) or (x, y) cell with mean, std and n.
"""
import argparse
import csv
import math
import os
import sys

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_summary(path):
    """-> (columns, axes, rows as dicts of str or float)."""
    if path.endswith((".h5", ".hdf5")):
        import h5py
        with h5py.File(path, "r") as f:
            columns = [str(c) for c in f.attrs["columns"]]
            axes = [str(c) for c in f.attrs["axes"]]
            data = {}
            for c in columns:
                d = f["summary"][c]
                data[c] = list(d.asstr()[:]) if d.dtype.kind == "O" else [float(x) for x in d[:]]
        n = len(data["name"])
        return columns, axes, [{c: data[c][i] for c in columns} for i in range(n)]
    with open(path, newline="") as fh:
        r = csv.reader(fh)
        columns = next(r)
        raw = [dict(zip(columns, row)) for row in r]
    # The axis columns sit between "status" and "ranks" (docs/sweep.md).
    axes = columns[columns.index("status") + 1:columns.index("ranks")]
    numeric = {}
    for c in columns:
        vals = [row[c] for row in raw if row[c] != ""]
        try:
            [float(v) for v in vals]
            numeric[c] = c not in ("name", "status")
        except ValueError:
            numeric[c] = False
    rows = []
    for row in raw:
        rows.append({c: (float(v) if v != "" else math.nan) if numeric[c] else v
                     for c, v in row.items()})
    return columns, axes, rows


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return str(a) == str(b)


def ordered(values):
    """Distinct values: sorted when numeric, else in order of first appearance."""
    out = []
    for v in values:
        if not any(same(v, o) for o in out):
            out.append(v)
    if all(isinstance(v, float) for v in out):
        out.sort(key=lambda v: (math.isnan(v), v))
    return out


def label(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


def stats(rows, y):
    v = np.array([r[y] for r in rows], dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v)


def pooled_axes(cells, axes, used):
    """Axes other than `used` that vary within a cell (and so are averaged over)."""
    return [a for a in axes if a not in used and
            any(len(ordered([r.get(a, math.nan) for r in c])) > 1 for c in cells)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("summary", help="DIR/summary.csv or DIR/summary.h5 written by lpt sweep")
    p.add_argument("-o", "--output", default="sweep.png", help="PNG to write (default sweep.png)")
    p.add_argument("--y", default="final_val_loss", help="the metric column (default final_val_loss)")
    p.add_argument("--x", help="axis on the x axis of the line plot")
    p.add_argument("--group", help="axis whose values make separate lines")
    p.add_argument("--seed", default=None,
                   help="the seed axis, averaged over (default train.seed when it is an axis)")
    p.add_argument("--heatmap", nargs=2, metavar=("X", "Y"), help="heatmap of --y over two axes")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="keep only rows with this value (repeatable)")
    p.add_argument("--all", action="store_true", help="keep rows whose status is not ok")
    p.add_argument("--logx", action="store_true")
    p.add_argument("--logy", action="store_true")
    p.add_argument("--title", default=None)
    a = p.parse_args(argv)

    if not os.path.exists(a.summary):
        p.error(f"{a.summary}: no such file (lpt sweep writes DIR/summary.csv; or lpt sweep --collect DIR)")
    if not a.x and not a.heatmap:
        p.error("give --x AXIS (line plot), --heatmap X Y, or both")
    columns, axes, rows = read_summary(a.summary)
    for c in [a.y, a.x, a.group] + (a.heatmap or []):
        if c and c not in columns:
            p.error(f"{c}: no such column; the summary has {', '.join(columns)}")
    for c in [a.x, a.group] + (a.heatmap or []):
        if c and c not in axes:
            p.error(f"{c} is not an axis of this sweep; the axes are {', '.join(axes)}")
    seed = a.seed or ("train.seed" if "train.seed" in axes else None)
    if not a.all:
        rows = [r for r in rows if r["status"] == "ok"]
    for w in a.where:
        key, _, val = w.partition("=")
        if key not in columns:
            p.error(f"--where {w}: no column {key}")
        rows = [r for r in rows if label(r[key]) == val or str(r[key]) == val]
    if not rows:
        p.error("no rows left (none ok, or --where matches none)")

    panels = (1 if a.x else 0) + (1 if a.heatmap else 0)
    fig, axs = plt.subplots(1, panels, figsize=(6.2 * panels, 4.4), squeeze=False)
    k = 0
    if a.x:
        ax = axs[0][k]
        k += 1
        groups = ordered([r[a.group] for r in rows]) if a.group else [None]
        xs = ordered([r[a.x] for r in rows])
        numeric_x = all(isinstance(v, float) for v in xs)
        pooled = pooled_axes([[r for r in rows if (g is None or same(r[a.group], g)) and same(r[a.x], x)]
                              for g in groups for x in xs], axes, {a.x, a.group, seed} - {None})
        if pooled:
            print(f"note: averaging over axes that also vary: {', '.join(pooled)} (use --where to fix them)")
        print(f"{a.group or '-'}\t{a.x}\t{a.y} mean\tstd\tn")
        for i, g in enumerate(groups):
            sel = [r for r in rows if g is None or same(r[a.group], g)]
            pts = []
            for j, x in enumerate(xs):
                m, s, n = stats([r for r in sel if same(r[a.x], x)], a.y)
                if n:
                    pts.append((x if numeric_x else j, m, s))
                    print(f"{label(g) if g is not None else '-'}\t{label(x)}\t{m:.6g}\t{s:.3g}\tn={n}")
            if not pts:
                continue
            px, pm, ps = zip(*pts)
            ax.errorbar(px, pm, yerr=ps, marker="o", capsize=3, color=f"C{i}",
                        label=f"{a.group} = {label(g)}" if a.group else None)
        if not numeric_x:
            ax.set_xticks(range(len(xs)))
            ax.set_xticklabels([label(x) for x in xs])
        if a.logx:
            ax.set_xscale("log")
        if a.logy:
            ax.set_yscale("log")
        ax.set_xlabel(a.x)
        ax.set_ylabel(a.y + (f" (mean ± std over {seed})" if seed else ""))
        ax.grid(alpha=0.3)
        if a.group:
            ax.legend(fontsize=8)
    if a.heatmap:
        hx, hy = a.heatmap
        ax = axs[0][k]
        xs, ys = ordered([r[hx] for r in rows]), ordered([r[hy] for r in rows])
        grid = np.full((len(ys), len(xs)), np.nan)
        pooled = pooled_axes([[r for r in rows if same(r[hx], vx) and same(r[hy], vy)]
                              for vx in xs for vy in ys], axes, {hx, hy, seed} - {None})
        if pooled:
            print(f"note: heatmap averages over axes that also vary: {', '.join(pooled)}")
        print(f"{hy}\t{hx}\t{a.y} mean\tstd\tn")
        for iy, vy in enumerate(ys):
            for ix, vx in enumerate(xs):
                m, s, n = stats([r for r in rows if same(r[hx], vx) and same(r[hy], vy)], a.y)
                if n:
                    grid[iy, ix] = m
                    print(f"{label(vy)}\t{label(vx)}\t{m:.6g}\t{s:.3g}\tn={n}")
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        finite = grid[np.isfinite(grid)]
        mid = (finite.min() + finite.max()) / 2 if len(finite) else 0
        for iy in range(len(ys)):
            for ix in range(len(xs)):
                if np.isfinite(grid[iy, ix]):
                    ax.text(ix, iy, f"{grid[iy, ix]:.4g}", ha="center", va="center", fontsize=8,
                            color="white" if grid[iy, ix] < mid else "black")
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels([label(v) for v in xs])
        ax.set_yticks(range(len(ys)))
        ax.set_yticklabels([label(v) for v in ys])
        ax.set_xlabel(hx)
        ax.set_ylabel(hy)
        fig.colorbar(im, ax=ax, label=a.y + (f" (mean over {seed})" if seed and seed not in (hx, hy) else ""))
    if a.title:
        fig.suptitle(a.title)
    fig.tight_layout()
    fig.savefig(a.output, dpi=120)
    print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
