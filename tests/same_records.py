#!/usr/bin/python3
"""Two lpt run records hold the same results, bit for bit: every dataset and the controller's
events, except what measures time or names the machine (datasets under timers/, *time*,
*seconds*, items_per_s; attributes start_time, hostname, lpt_version) and the config's output
paths. Used to show that a change
that should not move results (a refactor, a build change) did not.

    /usr/bin/python3 tests/same_records.py A.h5 B.h5

Exit 0 when they agree (prints how many datasets were compared), 1 with every difference.
"""
import json
import sys

import h5py
import numpy as np

TIMING = ("timers", "time", "seconds", "items_per_s")
SKIP_ATTRS = {"start_time", "hostname", "lpt_version"}


def datasets(f):
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and not any(t in name.split("/")[-1] for t in TIMING):
            out[name] = obj[()]
    f.visititems(visit)
    return out


def config_without_paths(text):
    """The resolved config, without where the record and checkpoint were written."""
    c = json.loads(text)
    for k in ("file", "checkpoint"):
        c.get("output", {}).pop(k, None)
    return c


def same(a, b):
    if isinstance(a, np.ndarray) and a.dtype.names:  # compound rows (events): field by field
        return a.shape == b.shape and all(same(a[n], b[n]) for n in a.dtype.names)
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True)
    if a.dtype.kind == "O":
        return all(x == y for x, y in zip(a.ravel(), b.ravel()))
    return np.array_equal(a, b)


def main(pa, pb):
    bad = []
    with h5py.File(pa, "r") as fa, h5py.File(pb, "r") as fb:
        da, db = datasets(fa), datasets(fb)
        for k in sorted(set(da) | set(db)):
            if k not in da or k not in db:
                bad.append(f"{k}: only in {'B' if k not in da else 'A'}")
            elif k == "run/starts":
                continue  # start rows hold wall-clock times
            elif not same(da[k], db[k]):
                bad.append(f"{k}: differs")
        for k in sorted((set(fa.attrs) | set(fb.attrs)) - SKIP_ATTRS):
            if k == "config" and k in fa.attrs and k in fb.attrs:
                if config_without_paths(fa.attrs[k]) != config_without_paths(fb.attrs[k]):
                    bad.append("attribute config: differs beyond output paths")
            elif k not in fa.attrs or k not in fb.attrs or str(fa.attrs[k]) != str(fb.attrs[k]):
                bad.append(f"attribute {k}: differs")
    for b in bad:
        print(b)
    print(f"same_records: {len(da)} datasets compared, {len(bad)} difference(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
