#!/usr/bin/env python3
"""Every project file that README.md, docs/*.md or a source comment names must exist.

A path counts when it starts with one of the project's folders and ends in a file extension
(``train/config.hpp``, ``docs/records.md``); placeholders written in capitals or as single letters
(``perfmodel/profiles/NAME.json``, ``solver/a.cpp`` in a layout example) are not paths. Moving a
file without its references fails here, naming each stale reference and where it stands.

    check_doc_paths.py ROOT            # the check
    check_doc_paths.py --self-test     # the checker finds a planted stale reference
"""
import pathlib
import re
import sys
import tempfile

FOLDERS = ("model", "solver", "perfmodel", "experiments", "analysis", "tests", "bench", "docs",
           "train", "adaptive", "input", "util", "scripts", "sweep")
EXT = ("cpp", "hpp", "py", "sh", "json", "md", "png", "cu", "txt", "csv")
PATH = re.compile(r"\b((?:%s)/[A-Za-z0-9_./-]+\.(?:%s))\b" % ("|".join(FOLDERS), "|".join(EXT)))
SOURCES = ("*.cpp", "*.hpp", "*.py", "*.sh", "CMakeLists.txt")


def placeholder(path):
    stem = pathlib.PurePosixPath(path).stem
    return stem.isupper() or len(stem) == 1


def texts(root):
    yield root / "README.md"
    yield from sorted((root / "docs").glob("*.md"))
    for folder in FOLDERS:
        for pattern in SOURCES:
            yield from sorted((root / folder).rglob(pattern))


def stale(root):
    found = []
    for f in texts(root):
        if not f.is_file() or f.resolve() == pathlib.Path(__file__).resolve():
            continue  # this file's self-test names stale paths on purpose
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            for m in PATH.finditer(line):
                p = m.group(1)
                if not placeholder(p) and not (root / p).exists():
                    found.append(f"{f.relative_to(root)}:{n}: {p} does not exist")
    return found


def self_test():
    with tempfile.TemporaryDirectory() as d:
        root = pathlib.Path(d)
        (root / "docs").mkdir()
        (root / "train").mkdir()
        (root / "train" / "here.hpp").write_text("// see docs/gone.md and docs/a.md\n")
        (root / "README.md").write_text("train/here.hpp, perfmodel/profiles/NAME.json\n")
        found = stale(root)
        assert found == ["train/here.hpp:1: docs/gone.md does not exist"], found
    print("self-test: a stale reference is found, placeholders are not")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    found = stale(pathlib.Path(sys.argv[1]))
    for line in found:
        print(line)
    print(f"{len(found)} stale path reference(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
