"""Converts the Debian-packaged sources into lpt's data sets (format: docs/data.md).

Usage: /usr/bin/python3 scripts/data/prepare.py NAME --out DIR [--force]
                                                 [--imp-en FILE] [--imp-es FILE]
                                                 [--fortunes-dir DIR] [--min-items N]
NAME is english, en_es, fashion_mnist, digits or fortunes. Writes DIR/NAME/ and, last, DIR/NAME/meta.json:
a data set is complete exactly when its meta.json exists and every file listed there has the
recorded size and CRC-32. A complete data set is left alone unless --force is given.
--imp-en/--imp-es read mod2imp output from a file instead of running mod2imp (used by tests).
--fortunes-dir reads fortune files from DIR instead of /usr/share/games/fortunes (used by tests);
--min-items keeps the fortune categories with at least N cookies (default 500).
"""
import argparse
import gzip
import json
import os
import re
import sys
import zlib

import osis_text

FORMAT_VERSION = 2
PREPARE_CMD = "bash scripts/prepare_data.sh --only {}"
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


def crc32_file(path):
    crc = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return crc
            crc = zlib.crc32(b, crc)


def file_entry(path):
    return {"bytes": os.path.getsize(path), "crc32": "%08x" % crc32_file(path)}


def is_complete(d):
    meta_path = os.path.join(d, "meta.json")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("format_version") != FORMAT_VERSION:
            return False
        for name, e in meta["files"].items():
            p = os.path.join(d, name)
            if os.path.getsize(p) != e["bytes"] or "%08x" % crc32_file(p) != e["crc32"]:
                return False
        return True
    except (OSError, ValueError, KeyError):
        return False


def write_bytes(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def finish(d, name, source, files, extra):
    """meta.json last, via rename, so that a killed run never leaves a complete-looking set."""
    meta = {"name": name, "format_version": FORMAT_VERSION, "source": source,
            "prepare_command": PREPARE_CMD.format(name),
            "files": {f: file_entry(os.path.join(d, f)) for f in files}}
    meta.update(extra)
    tmp = os.path.join(d, "meta.json.tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, os.path.join(d, "meta.json"))
    return meta


def lines_blob(lines):
    return ("\n".join(lines) + "\n").encode("utf-8")


def imp_text(module, path):
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read()
    return osis_text.export_module(module)


FORTUNES_DIR = "/usr/share/games/fortunes"
# Drawings, not text: a topic classifier would learn their layout, not their words.
FORTUNES_ART = ("art", "ascii-art")


def fortunes_by_category(root=FORTUNES_DIR):
    """{category: [cookie, ...]}: each fortune file (no index files, no ASCII art) is a category,
    its cookies (separated by a line holding '%') are items, whitespace folded."""
    cats = {}
    if not os.path.isdir(root):
        return cats
    for name in sorted(os.listdir(root)):
        p = os.path.join(root, name)
        if "." in name or name in FORTUNES_ART or not os.path.isfile(p):
            continue
        with open(p, encoding="utf-8", errors="replace") as f:
            items = []
            for item in f.read().split("\n%\n"):
                t = re.sub(r"\s+", " ", item.replace("%", " ")).strip()
                if t:
                    items.append(t)
        cats[name] = items
    return cats


def fortunes_items():
    """Fortune cookies, one per item, newlines folded; the ASCII-art files are left out."""
    return [t for items in fortunes_by_category().values() for t in items]


def jargon_items():
    """Paragraphs of the Jargon File, one per item."""
    p = "/usr/share/doc/jargon-text/jargon.txt.gz"
    if not os.path.isfile(p):
        return []
    with gzip.open(p, "rt", encoding="utf-8", errors="replace") as f:
        paras = re.split(r"\n\s*\n", f.read())
    return [t for t in (re.sub(r"\s+", " ", x).strip() for x in paras) if len(t) >= 40]


def prepare_english(d, args):
    vs = osis_text.verses(imp_text("engWEB2015eb", args.imp_en))
    if not vs:
        raise SystemExit("english: no verses found in the engWEB2015eb export")
    write_bytes(d, "english.txt", lines_blob(t for _, t in vs))
    write_bytes(d, "english_keys.txt", lines_blob(k for k, _ in vs))
    files = ["english.txt", "english_keys.txt"]
    extra = [] if args.imp_en else fortunes_items() + jargon_items()
    write_bytes(d, "extra.txt", lines_blob(extra) if extra else b"")
    files.append("extra.txt")
    text_bytes = sum(len(t.encode("utf-8")) + 1 for _, t in vs)
    return finish(d, "english", "sword-text-web (engWEB2015eb); extra.txt: fortunes, jargon-text",
                  files, {"lines": len(vs), "text_bytes": text_bytes, "extra_lines": len(extra)})


def prepare_en_es(d, args):
    en = osis_text.verses(imp_text("engWEB2015eb", args.imp_en))
    es = dict(osis_text.verses(imp_text("spaRV1909eb", args.imp_es)))
    # English order decides; a key is kept only when both translations have a non-empty verse.
    pairs = [(k, t, es[k]) for k, t in en if k in es]
    if not pairs:
        raise SystemExit("en_es: no verse key is shared by engWEB2015eb and spaRV1909eb")
    write_bytes(d, "en_es.tsv", lines_blob(f"{k}\t{a}\t{b}" for k, a, b in pairs))
    return finish(d, "en_es", "sword-text-web (engWEB2015eb) + sword-text-sparv (spaRV1909eb)",
                  ["en_es.tsv"], {"pairs": len(pairs), "columns": ["key", "en", "es"]})


def read_idx(path, ndim):
    """IDX file (big-endian header: magic with the dimension count, then the sizes)."""
    import numpy as np
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    if magic != 0x0800 + ndim:
        raise SystemExit(f"{path}: not an IDX file of {ndim} dimensions (magic {magic:#x})")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def image_split(d, split, images, labels):
    write_bytes(d, f"{split}_images.u8", images.astype("uint8").tobytes())
    write_bytes(d, f"{split}_labels.u8", labels.astype("uint8").tobytes())
    return {"count": int(images.shape[0])}, [f"{split}_images.u8", f"{split}_labels.u8"]


def norm_stats(images, scale):
    x = images.astype("float64") / scale
    return float(x.mean()), float(x.std())


def prepare_fashion(d, args):
    src = args.fashion_dir
    splits, files = {}, []
    for split, stem in (("train", "train"), ("test", "t10k")):
        ip = os.path.join(src, f"{stem}-images-idx3-ubyte.gz")
        lp = os.path.join(src, f"{stem}-labels-idx1-ubyte.gz")
        for p in (ip, lp):
            if not os.path.isfile(p):
                raise SystemExit(f"{p} missing: install dataset-fashion-mnist (bash scripts/setup.sh)")
        imgs, labs = read_idx(ip, 3), read_idx(lp, 1)
        if imgs.shape[0] != labs.shape[0]:
            raise SystemExit(f"{ip}: {imgs.shape[0]} images but {labs.shape[0]} labels")
        if split == "train":
            mean, std = norm_stats(imgs, 255.0)
        splits[split], f = image_split(d, split, imgs, labs)
        files += f
    return finish(d, "fashion_mnist", "dataset-fashion-mnist", files,
                  {"shape": [1, 28, 28], "classes": 10, "class_names": FASHION_CLASSES,
                   "pixel_scale": 255.0, "mean": mean, "std": std, "splits": splits})


def prepare_digits(d, args):
    import numpy as np
    from sklearn.datasets import load_digits
    ds = load_digits()
    imgs = ds.images.round().astype(np.uint8)  # values 0..16
    labs = ds.target.astype(np.uint8)
    mean, std = norm_stats(imgs, 16.0)
    splits, files = {}, []
    splits["all"], files = image_split(d, "all", imgs, labs)
    return finish(d, "digits", "python3-sklearn (sklearn.datasets.load_digits)", files,
                  {"shape": [1, 8, 8], "classes": 10, "class_names": [str(i) for i in range(10)],
                   "pixel_scale": 16.0, "mean": mean, "std": std, "splits": splits})


def prepare_fortunes(d, args):
    """Topic classification (BERT fine-tuning, docs/data.md): the fortune categories with at
    least --min-items cookies are the classes, in name order; one 'category<TAB>cookie' line per
    cookie, categories in name order, cookies in file order."""
    cats = fortunes_by_category(args.fortunes_dir)
    if not cats:
        raise SystemExit(f"{args.fortunes_dir}: no fortune files; install fortunes "
                         "(bash scripts/setup.sh)")
    kept = [c for c in sorted(cats) if len(cats[c]) >= args.min_items]
    if len(kept) < 2:
        raise SystemExit(f"fortunes: {len(kept)} categories have at least {args.min_items} "
                         "cookies; a classification task needs 2 (lower --min-items)")
    lines = [f"{c}\t{t.replace(chr(9), ' ')}" for c in kept for t in cats[c]]
    write_bytes(d, "fortunes.tsv", lines_blob(lines))
    return finish(d, "fortunes", "fortunes (/usr/share/games/fortunes)", ["fortunes.tsv"],
                  {"items": len(lines), "classes": len(kept), "class_names": kept,
                   "class_counts": [len(cats[c]) for c in kept], "min_items": args.min_items,
                   "dropped": {c: len(cats[c]) for c in sorted(cats) if c not in kept}})


PREPARERS = {"english": prepare_english, "en_es": prepare_en_es,
             "fashion_mnist": prepare_fashion, "digits": prepare_digits,
             "fortunes": prepare_fortunes}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("name", choices=sorted(PREPARERS))
    ap.add_argument("--out", required=True)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--imp-en")
    ap.add_argument("--imp-es")
    ap.add_argument("--fashion-dir", default=FASHION_DIR)
    ap.add_argument("--fortunes-dir", default=FORTUNES_DIR)
    ap.add_argument("--min-items", type=int, default=500)
    args = ap.parse_args()
    d = os.path.join(args.out, args.name)
    if not args.force and is_complete(d):
        print(f"{args.name}: up to date in {d}")
        return
    os.makedirs(d, exist_ok=True)
    meta_path = os.path.join(d, "meta.json")
    if os.path.exists(meta_path):
        os.remove(meta_path)
    meta = PREPARERS[args.name](d, args)
    total = sum(e["bytes"] for e in meta["files"].values())
    print(f"{args.name}: wrote {len(meta['files'])} files, {total} bytes, to {d}")


if __name__ == "__main__":
    sys.exit(main())
