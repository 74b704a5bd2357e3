#!/usr/bin/python3
"""The include directions of docs/layout.md, checked on every source file: a part includes only
the parts below it (and itself), and the core parts include no system header of a library they
must not need (the solver no Eigen or json, the model no MPI or HDF5, none but experiments/ the
command-line library). Exit 1 with every
violation listed (file:line, the include, the rule), 0 when the tree keeps the layout.

    /usr/bin/python3 tests/check_layout.py [SOURCE_ROOT]
    /usr/bin/python3 tests/check_layout.py --self-test   (a planted tree: every kind is caught)
"""
import os
import re
import sys

# part -> the parts it may include (besides itself). Folders map to parts below.
ALLOWED = {
    "util": set(),
    "solver": {"util"},
    "input": {"util"},
    "model": {"util", "input"},
    "optim": {"util", "model"},
    "perfmodel": {"util", "solver"},
    "adaptive": {"util", "solver", "model", "input"},
    "train": {"util", "solver", "model", "input", "optim", "perfmodel", "adaptive"},
    "sweep": {"util", "solver", "model", "input", "optim", "perfmodel", "adaptive", "train"},
    "experiments": {"util", "solver", "model", "input", "optim", "perfmodel", "adaptive", "train",
                    "sweep"},
}
# System headers a part must not use: <prefix> of the include -> why.
FORBIDDEN_SYSTEM = {
    "solver": {"Eigen": "the solver knows vectors only through the app", "nlohmann": "no json in MGRIT"},
    "model": {"mpi.h": "the model runs on one rank", "hdf5": "the model writes no files",
              "H5Cpp": "the model writes no files"},
    "input": {"mpi.h": "loaders run on one rank", "hdf5": "loaders read data files, not records"},
    "optim": {"mpi.h": "optimizers see one rank's parameters", "hdf5": "no files"},
    "perfmodel": {"Eigen": "the model prices, it does not compute", "mpi.h": "predictions run on one rank"},
}
# The command line is read in experiments/ only (experiments/cli.hpp, over CLI11): no part below
# it knows about options.
for _part in ["util", "solver", "input", "model", "optim", "perfmodel", "adaptive", "train", "sweep"]:
    FORBIDDEN_SYSTEM.setdefault(_part, {})["CLI/"] = "the command line is parsed in experiments/ only"
PARTS = ["experiments", "sweep", "adaptive", "perfmodel", "solver", "train", "optim", "input", "model", "util"]
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def part_of(path):
    top = path.split("/", 1)[0]
    return top if top in ALLOWED else None


def check(root):
    bad = []
    for top in PARTS:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith((".cpp", ".hpp", ".cu", ".cuh")):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                src = part_of(rel)
                with open(os.path.join(root, rel), errors="replace") as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        kind, inc = m.groups()
                        if kind == '"':
                            tgt = part_of(inc)
                            if tgt and tgt != src and tgt not in ALLOWED[src]:
                                bad.append(f"{rel}:{n}: includes {inc}: {src}/ may not include {tgt}/ "
                                           f"(allowed: {', '.join(sorted(ALLOWED[src])) or 'nothing'})")
                        else:
                            for prefix, why in FORBIDDEN_SYSTEM.get(src, {}).items():
                                if inc.startswith(prefix):
                                    bad.append(f"{rel}:{n}: includes <{inc}>: {why}")
    return bad


def self_test():
    """A planted tree with one violation of each kind: the checker must report exactly those."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        for rel, text in {
            "solver/a.cpp": '#include "model/model.hpp"\n#include <Eigen/Dense>\n#include "util/error.hpp"\n',
            "model/b.hpp": '#include <mpi.h>\n#include "input/batch.hpp"\n',
            "train/c.cpp": '#include "experiments/command.hpp"\n#include "adaptive/x.hpp"\n'
                           '#include "sweep/runner.hpp"\n',
            "sweep/d.cpp": '#include "train/config.hpp"\n#include "experiments/command.hpp"\n',
            "perfmodel/e.cpp": '#include <CLI/CLI.hpp>\n#include "solver/grid.hpp"\n',
            "experiments/f.cpp": '#include <CLI/CLI.hpp>\n',
        }.items():
            os.makedirs(os.path.join(d, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(d, rel), "w") as f:
                f.write(text)
        bad = check(d)
    want = ["solver/a.cpp:1", "solver/a.cpp:2", "model/b.hpp:1", "train/c.cpp:1", "train/c.cpp:3",
            "sweep/d.cpp:2", "perfmodel/e.cpp:1"]
    got = [b.split(": ", 1)[0] for b in bad]
    if sorted(got) != sorted(want):
        print("check_layout self-test: expected", want, "got", bad)
        return 1
    print(f"check_layout self-test: the {len(want)} planted violations found, nothing else")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    bad = check(os.path.abspath(root))
    for b in bad:
        print(b)
    print(f"check_layout: {len(bad)} violation(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
