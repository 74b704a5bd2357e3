#!/usr/bin/python3
"""Fuzz lpt: replays the reproducers of issue 14 as named cases tagged with their item, then a
seeded random corpus (mutated configs, corrupted data files, bit-flipped checkpoints). Each case is
classified as crash (signal, sanitizer report, "internal error"), hang (timeout), wrong (exit 0
with a wrong or lost result), or clean (a correct result, or a non-zero exit with a message).
Exits 1 on any crash, hang or wrong case; prints the counts per class.

  /usr/bin/python3 tests/fuzz/fuzz_lpt.py [LPT_BIN] [DATA_DIR]
  env: LPT_BIN, LPT_DATA_DIR, LPT_FUZZ_CASES (random cases, default 8), LPT_FUZZ_SEED (1),
       LPT_FUZZ_TIMEOUT (seconds per run, 10), LPT_FUZZ_ONLY (substring of case names)
Standard library only (h5py is used when it imports, for record checks)."""
import json, os, random, shutil, subprocess, sys, tempfile, time, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
LPT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LPT_BIN", "build/lpt"))
DATA = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else
                       os.environ.get("LPT_DATA_DIR", os.path.join(HERE, "..", "..", "data")))
CASES = int(os.environ.get("LPT_FUZZ_CASES", "8"))
SEED = int(os.environ.get("LPT_FUZZ_SEED", "1"))
TIMEOUT = float(os.environ.get("LPT_FUZZ_TIMEOUT", "10"))
ONLY = os.environ.get("LPT_FUZZ_ONLY", "")
B = ["--set", "model.layers=2", "--set", "model.d_model=16", "--set", "model.heads=2",
     "--set", "model.seq_len=16", "--set", "train.batch=4", "--set", "train.steps=6",
     "--set", "train.warmup=1", "--set", "train.threads=1", "--set", "train.eval_every=3",
     "--no-tty"]
try:
    import h5py
except Exception:
    h5py = None

CRASH_MARKS = ("internal error", "AddressSanitizer", "runtime error:", "LeakSanitizer",
               "Segmentation fault", "terminate called")


class Result:
    def __init__(self, rc, out, secs, timed_out):
        self.rc, self.out, self.secs, self.timed_out = rc, out, secs, timed_out


def run(args, cwd, timeout=None):
    t = time.time()
    env = dict(os.environ, HDF5_USE_FILE_LOCKING="FALSE", OMP_NUM_THREADS="1")
    try:
        p = subprocess.run([LPT] + args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout or TIMEOUT, env=env)
        return Result(p.returncode, p.stdout.decode("utf-8", "replace"), time.time() - t, False)
    except subprocess.TimeoutExpired as e:
        return Result(None, (e.stdout or b"").decode("utf-8", "replace"), time.time() - t, True)


def classify(r, wrong_if_ok=None):
    """wrong_if_ok(r) -> a description when an exit-0 result is wrong, else None."""
    if r.timed_out:
        return "hang", "no exit within %.0f s" % TIMEOUT
    if r.rc < 0 or r.rc >= 128 or any(m in r.out for m in CRASH_MARKS):
        return "crash", "rc %s: %s" % (r.rc, last(r.out))
    if r.rc == 0:
        why = wrong_if_ok(r) if wrong_if_ok else None
        return ("wrong", why) if why else ("clean", "ok")
    if "error" not in r.out.lower():
        return "wrong", "rc %d without an error message: %s" % (r.rc, last(r.out))
    return "clean", last(r.out)


def last(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:200] if lines else "(no output)"


def always_wrong(why):
    return lambda r: why


def record_val(path):
    if not h5py or not os.path.exists(path):
        return None
    with h5py.File(path, "r") as f:
        if "/eval/loss" not in f:
            return None
        return list(f["/eval/loss"][:]), list(f["/eval/metric"][:])


def val_zero(rec):
    def check(r):
        v = record_val(rec)
        if v and any(l == 0 for l in v[0]):
            return "exit 0 with val_loss 0 recorded"
        if "val_loss 0," in r.out or "val loss 0.0000" in r.out:
            return "exit 0 with val_loss 0 printed"
        return None
    return check


# ---- data sets shrunk below a validation split -------------------------------------------

def write_meta_file(dset_dir, name, data, extra):
    with open(os.path.join(dset_dir, name), "wb") as f:
        f.write(data)
    meta_path = os.path.join(dset_dir, "meta.json")
    meta = json.load(open(meta_path))
    meta["files"][name] = {"bytes": len(data), "crc32": "%08x" % (zlib.crc32(data) & 0xffffffff)}
    meta.update(extra)
    json.dump(meta, open(meta_path, "w"))


def small_data(work, name, keep):
    """A copy of data/<name> cut to `keep` items, with meta.json updated to match (so the
    integrity checks pass and only the split is at stake)."""
    root = os.path.join(work, "data_%s_%d" % (name, keep))
    shutil.copytree(os.path.join(DATA, name), os.path.join(root, name))
    d = os.path.join(root, name)
    if name == "english":
        lines = open(os.path.join(d, "english.txt"), "rb").read().split(b"\n")[:keep]
        write_meta_file(d, "english.txt", b"\n".join(lines), {"lines": keep})
    elif name == "en_es":
        lines = open(os.path.join(d, "en_es.tsv"), "rb").read().split(b"\n")[:keep]
        write_meta_file(d, "en_es.tsv", b"\n".join(lines), {"pairs": keep})
    elif name == "digits":
        meta = json.load(open(os.path.join(d, "meta.json")))
        c, h, w = meta["shape"]
        img = open(os.path.join(d, "all_images.u8"), "rb").read()[:keep * c * h * w]
        lab = open(os.path.join(d, "all_labels.u8"), "rb").read()[:keep]
        meta["splits"]["all"]["count"] = keep
        json.dump(meta, open(os.path.join(d, "meta.json"), "w"))
        write_meta_file(d, "all_images.u8", img, {})
        write_meta_file(d, "all_labels.u8", lab, {})
    return root


def flip_ckpt(cwd, nbits=1, seed=0):
    ck = os.path.join(cwd, "ck.h5")
    r = run(["train"] + B + ["--set", "data.dir=" + DATA, "--set", "train.steps=10",
                             "--set", "output.checkpoint=ck.h5",
                             "--set", "output.checkpoint_every=10"], cwd)
    if r.rc != 0:
        return classify(r)
    # Each resume appends to its own copy of the record the checkpoint belongs to.
    shutil.copy(os.path.join(cwd, "run.h5"), os.path.join(cwd, "clean.h5"))
    shutil.copy(os.path.join(cwd, "run.h5"), os.path.join(cwd, "flip.h5"))
    clean = run(["train", "--resume", "ck.h5", "--set", "train.steps=12", "--set",
                 "output.file=clean.h5", "--no-tty"], cwd)
    data = bytearray(open(ck, "rb").read())
    rng = random.Random(seed)
    for _ in range(nbits):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    open(os.path.join(cwd, "bad.h5"), "wb").write(bytes(data))
    r = run(["train", "--resume", "bad.h5", "--set", "train.steps=12", "--set",
             "output.file=flip.h5", "--no-tty"], cwd)
    def check(res):
        same = lambda s: [l for l in s.splitlines() if l.startswith("done:")]
        if clean.rc == 0 and same(res.out) == same(clean.out):
            return None  # a flip in unused bytes: the same result
        return "a corrupted checkpoint resumed with different results"
    return classify(r, check)


# ---- the cases --------------------------------------------------------------------------

def replay_cases(work):
    """(name, item, fn(cwd) -> (class, detail)) for every reproducer of the issue."""
    cases = []

    def train(name, item, extra, check=always_wrong("exit 0"), owner="A"):
        cases.append((name, item, owner, lambda cwd: classify(
            run(["train"] + B + ["--set", "data.dir=" + DATA] + extra, cwd), check)))

    huge = {"model.layers": 4294967298, "model.d_model": 4294967312, "model.heads": 4294967298,
            "model.seq_len": 4294967312, "train.batch": 4294967300, "model.vocab": 4294967552,
            "model.d_ff": 4294967360, "train.threads": 4294967297,
            "solver.mgrit.forward.cfactor": 4294967298}
    for k, v in huge.items():
        train("int32-cut %s=%d" % (k, v), 1, ["--set", "%s=%d" % (k, v)])
    train("int32-cut train.steps=2^64-1", 1, ["--set", "train.steps=18446744073709551615"])
    cases.append(("int32-cut mgrit --cfactor 4294967298", 1, "A", lambda cwd: classify(
        run(["mgrit", "--cfactor", "4294967298", "--steps", "64"], cwd), always_wrong("exit 0"))))
    train("sigfpe model.heads=4294967296", 7, ["--set", "model.heads=4294967296"])
    train("overflow model.d_model=2147483648", 7, ["--set", "model.d_model=2147483648"])

    # item 2: too few items for a validation split
    for name, keep, conf in (("english", 31, []), ("digits", 1, ["vit_digits.json"]),
                             ("en_es", 1, ["mt.json"])):
        def fn(cwd, name=name, keep=keep, conf=conf):
            root = small_data(work, name, keep)
            args = ["train", "--no-tty", "--set", "data.dir=" + root, "--set", "train.steps=2",
                    "--set", "train.warmup=1", "--set", "train.eval_every=1",
                    "--set", "train.threads=1"]
            if conf:
                args += ["--config", os.path.join(HERE, "..", "..", "experiments", "configs",
                                                  conf[0])]
            else:
                args += B[:10]
            return classify(run(args, cwd), val_zero(os.path.join(cwd, "run.h5")))
        cases.append(("empty-val %s with %d" % (name, keep), 2, "C", fn))

    # item 3: bit-flipped and hand-edited checkpoints
    cases.append(("bitflip checkpoint (1 bit)", 3, "B", lambda cwd: flip_ckpt(cwd, 1, 3)))

    # item 4: records that clobber other files
    def clobber_text(cwd):
        victim = os.path.join(cwd, "notes.txt")
        open(victim, "w").write("not a record\n")
        r = run(["train"] + B + ["--set", "data.dir=" + DATA, "--set", "output.file=notes.txt"],
                cwd)
        return classify(r, lambda _: None if open(victim, "rb").read() == b"not a record\n"
                        else "overwrote a non-record file")
    cases.append(("record over a text file", 4, "B", clobber_text))

    def same_paths(cwd):
        r = run(["train"] + B + ["--set", "data.dir=" + DATA, "--set", "output.file=x.h5",
                                 "--set", "output.checkpoint=x.h5",
                                 "--set", "output.checkpoint_every=3"], cwd)
        return classify(r, always_wrong("output.file = output.checkpoint accepted"))
    cases.append(("record = checkpoint", 4, "B", same_paths))

    def fifo(cwd):
        p = os.path.join(cwd, "pipe")
        os.mkfifo(p)
        r = run(["train"] + B + ["--set", "data.dir=" + DATA, "--set", "output.checkpoint=pipe",
                                 "--set", "output.checkpoint_every=3"], cwd)
        import stat
        return classify(r, lambda _: None if stat.S_ISFIFO(os.stat(p).st_mode)
                        else "replaced a special file")
    cases.append(("checkpoint over a FIFO", 4, "B", fifo))

    def two_writers(cwd):
        env = dict(os.environ, HDF5_USE_FILE_LOCKING="FALSE", OMP_NUM_THREADS="1")
        args = [LPT, "train"] + B + ["--set", "data.dir=" + DATA, "--set", "train.steps=30"]
        ps = [subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env) for _ in range(2)]
        outs = [p.communicate(timeout=TIMEOUT)[0].decode("utf-8", "replace") for p in ps]
        rcs = [p.returncode for p in ps]
        for rc, out in zip(rcs, outs):
            c = classify(Result(rc, out, 0, False))
            if c[0] == "crash":
                return c
        if rcs == [0, 0]:
            return "wrong", "two runs wrote one record, both exit 0"
        return "clean", "one refused"
    cases.append(("two runs, one record", 4, "B", two_writers))

    # item 5: resume
    def resume(cwd, extra, check):
        r = run(["train"] + B + ["--set", "data.dir=" + DATA, "--set", "train.steps=10",
                                 "--set", "output.checkpoint=ck.h5",
                                 "--set", "output.checkpoint_every=10"], cwd)
        if r.rc != 0:
            return classify(r)
        return classify(run(["train", "--resume", "ck.h5", "--no-tty"] + extra, cwd), check)
    cases.append(("resume changes model.heads", 5, "B", lambda cwd: resume(
        cwd, ["--set", "train.steps=20", "--set", "model.heads=4"],
        always_wrong("a shape-changing key was accepted on resume"))))
    cases.append(("resume to a step already done", 5, "B", lambda cwd: resume(
        cwd, ["--set", "train.steps=5"], lambda r: "did nothing" if "done: 0 steps" in r.out
        else None)))

    def starts_rows(r, cwd):
        if not h5py:
            return None
        with h5py.File(os.path.join(cwd, "run.h5"), "r") as f:
            n = len(f["/run/starts"])
        return None if n == 2 else "/run/starts has %d rows after a resume" % n
    cases.append(("resume appends a start", 5, "B", lambda cwd: resume(
        cwd, ["--set", "train.steps=12"], lambda r: starts_rows(r, cwd))))

    # item 6: mgrit / predict
    for args in (["--lambda", "inf"], ["--lambda", "-inf"], ["--lambda", "1e308"],
                 ["--T", "inf"], ["--guess", "inf"], ["--problem", "cubic", "--lambda", "-100"],
                 ["--lambda", "nan"], ["--guess", "nan"]):
        cases.append(("mgrit " + " ".join(args), 6, "A", lambda cwd, a=args: classify(
            run(["mgrit", "--steps", "64"] + a, cwd),
            lambda r: "nan hidden" if "nan" in r.out.lower() or "NaN" in " ".join(a) or
            "nan" in " ".join(a) else None)))
    for c in ("0", "1", "-2"):
        cases.append(("predict --cfactors " + c, 6, "A", lambda cwd, c=c: classify(
            run(["predict", "--cfactors", c], cwd), always_wrong("accepted"))))

    # item 8: deep JSON
    def deep(cwd, text):
        open(os.path.join(cwd, "deep.json"), "w").write(text)
        return classify(run(["train", "--config", "deep.json", "--no-tty"], cwd))
    cases.append(("deep JSON arrays", 8, "A", lambda cwd: deep(
        cwd, '{"description": ' + "[" * 100000 + "]" * 100000 + "}")))
    cases.append(("deep JSON objects", 8, "A", lambda cwd: deep(
        cwd, '{"a":' * 50000 + "1" + "}" * 50000)))

    # item 9 and 10: raw library errors, memory
    train("bad_alloc model.layers=1e9", 9, ["--set", "model.layers=1000000000"], owner="C")
    train("bad_alloc model.d_model=100000", 9, ["--set", "model.d_model=100000"], owner="C")
    train("bad_alloc model.d_ff=1e9", 9, ["--set", "model.d_ff=1000000000"], owner="C")

    def dir_data(cwd):
        root = os.path.join(work, "data_dir_case")
        shutil.copytree(os.path.join(DATA, "english"), os.path.join(root, "english"))
        os.remove(os.path.join(root, "english", "english.txt"))
        os.mkdir(os.path.join(root, "english", "english.txt"))
        return classify(run(["train"] + B + ["--set", "data.dir=" + root], cwd))
    cases.append(("data file replaced by a directory", 9, "C", dir_data))
    cases.append(("mgrit --steps 1e9", 9, "A", lambda cwd: classify(
        run(["mgrit", "--steps", "1000000000", "--iters", "1"], cwd), always_wrong("exit 0"))))
    cases.append(("predict --layers 2147483647", 9, "A", lambda cwd: classify(
        run(["predict", "--layers", "2147483647"], cwd), always_wrong("exit 0"))))

    def cfg_text(cwd, text):
        open(os.path.join(cwd, "c.json"), "wb").write(text)
        return classify(run(["train", "--config", "c.json", "--no-tty", "--set",
                             "data.dir=" + DATA] + B[:-1], cwd),
                        always_wrong("accepted"))
    cases.append(("invalid UTF-8 in a config string", 9, "A",
                  lambda cwd: cfg_text(cwd, b'{"description": "\xff\xfe"}')))
    cases.append(("1e999 in a config", 9, "A", lambda cwd: cfg_text(cwd, b'{"train": {"lr": 1e999}}')))
    cases.append(("NUL then garbage in a config", "weak", "A",
                  lambda cwd: cfg_text(cwd, b'{}\x00garbage')))
    cases.append(("--config a directory", 9, "A", lambda cwd: classify(
        run(["train", "--config", cwd, "--no-tty"], cwd), always_wrong("accepted"))))

    def under_file(cwd):
        open(os.path.join(cwd, "plain"), "w").write("x")
        return classify(run(["train"] + B + ["--set", "data.dir=" + DATA,
                                             "--set", "output.file=plain/run.h5"], cwd),
                        always_wrong("accepted"))
    cases.append(("output under a regular file", 9, "B", under_file))

    # weaker messages
    cases.append(("warmup longer than steps", "weak", "A", lambda cwd: classify(
        run(["train"] + B + ["--set", "data.dir=" + DATA, "--set", "train.warmup=100"], cwd))))

    def ckpt_dir(cwd):
        os.mkdir(os.path.join(cwd, "ckdir"))
        r = run(["train", "--resume", "ckdir", "--no-tty"], cwd)
        c = classify(r)
        if c[0] == "clean" and "No such file" in r.out:
            return "weak", "a directory reported as 'No such file or directory'"
        return c
    cases.append(("checkpoint path is a directory", "weak", "B", ckpt_dir))

    def long_key(cwd):
        r = run(["train", "--set", "x" * 100000 + "=1", "--no-tty"], cwd)
        c = classify(r)
        return ("weak", "%.1f s to suggest a key" % r.secs) if c[0] == "clean" and r.secs > 3 else c
    cases.append(("100 kB unknown key", "weak", "A", long_key))

    def h5_unwritable(cwd):
        r = run(["mgrit", "--steps", "64", "--h5", "/nonexistent/dir/x.h5"], cwd)
        c = classify(r)
        if c[0] == "clean" and len(r.out.strip().splitlines()) > 25:
            return "weak", "HDF5 diagnostics before the message"
        return c
    cases.append(("mgrit --h5 unwritable", "weak", "A", h5_unwritable))
    return cases


# ---- the random corpus --------------------------------------------------------------------

KEYS = ["model.layers", "model.d_model", "model.heads", "model.seq_len", "model.d_ff",
        "model.vocab", "train.batch", "train.steps", "train.warmup", "train.lr", "train.clip",
        "train.eval_batches", "train.eval_every", "train.threads", "data.val_fraction",
        "solver.mode", "solver.mgrit.forward.cfactor", "model.dropout", "train.seed",
        "no.such.key", "model", "train.schedule"]
VALUES = ["0", "-1", "1", "3", "2147483647", "2147483648", "4294967296", "-9223372036854775808",
          "18446744073709551616", "1e308", "1e999", "nan", "inf", "-inf", "0.5", "true", "null",
          '"x"', "[1,2]", "{}", "\"\\u0000\"", "1e-320", "007", "0x10"]


def random_cases(rng):
    cases = []
    for i in range(CASES):
        kind = rng.choice(["set", "set", "config", "data", "ckpt"])
        if kind == "set":
            sets = []
            for _ in range(rng.randint(1, 3)):
                sets += ["--set", "%s=%s" % (rng.choice(KEYS), rng.choice(VALUES))]
            cases.append(("random set %d: %s" % (i, " ".join(sets[1::2])), "random", "A",
                          lambda cwd, s=sets: classify(run(
                              ["train"] + B + ["--set", "data.dir=" + DATA,
                                               "--set", "train.steps=2"] + s, cwd))))
        elif kind == "config":
            base = {"model": {"layers": 2, "d_model": 16, "heads": 2, "seq_len": 16},
                    "train": {"batch": 4, "steps": 2, "warmup": 1, "threads": 1}}
            text = json.dumps(base).encode()
            data = bytearray(text)
            for _ in range(rng.randint(1, 4)):
                j = rng.randrange(len(data))
                data[j] = rng.choice([data[j] ^ (1 << rng.randrange(8)), rng.randrange(256)])
            def fn(cwd, d=bytes(data)):
                open(os.path.join(cwd, "c.json"), "wb").write(d)
                return classify(run(["train", "--config", "c.json", "--no-tty",
                                     "--set", "data.dir=" + DATA], cwd))
            cases.append(("random config bytes %d" % i, "random", "A", fn))
        elif kind == "data":
            def fn(cwd, seed=rng.randrange(1 << 30)):
                r2 = random.Random(seed)
                root = os.path.join(cwd, "d")
                shutil.copytree(os.path.join(DATA, "english"), os.path.join(root, "english"))
                # english.txt only: a flip in meta.json may hit a field nothing reads.
                f = os.path.join(root, "english", "english.txt")
                b = bytearray(open(f, "rb").read())
                op = r2.choice(["flip", "truncate", "append"])
                if op == "flip":
                    b[r2.randrange(len(b))] ^= 1 << r2.randrange(8)
                elif op == "truncate":
                    del b[r2.randrange(len(b)):]
                else:
                    b += b"\x00garbage"
                open(f, "wb").write(b)
                # Any change of english.txt or its meta must be caught: exit 0 is wrong.
                return classify(run(["train"] + B + ["--set", "data.dir=" + root], cwd),
                                always_wrong("a corrupted data file was accepted (%s %s)"
                                             % (op, os.path.basename(f))))
            cases.append(("random data corruption %d" % i, "random", "C", fn))
        else:
            cases.append(("random checkpoint flip %d" % i, "random", "B",
                          lambda cwd, s=rng.randrange(1 << 30): flip_ckpt(
                              cwd, 1 + s % 8, s)))
    return cases


def main():
    if not os.access(LPT, os.X_OK):
        print("fuzz: %s is not an executable lpt; give it as the first argument or LPT_BIN" % LPT)
        return 2
    if not os.path.exists(os.path.join(DATA, "english", "meta.json")):
        print("fuzz: no prepared data under %s; run bash scripts/prepare_data.sh or set "
              "LPT_DATA_DIR" % DATA)
        return 2
    work = tempfile.mkdtemp(prefix="lpt_fuzz_")
    cases = replay_cases(work)
    cases += random_cases(random.Random(SEED))
    counts = {}
    bad = []
    t0 = time.time()
    for n, (name, item, owner, fn) in enumerate(cases):
        if ONLY and ONLY not in name:
            continue
        cwd = os.path.join(work, "case%03d" % n)
        os.makedirs(cwd)
        try:
            cls, detail = fn(cwd)
        except Exception as e:  # the harness itself: report, do not hide
            cls, detail = "harness", "%s: %s" % (type(e).__name__, e)
        counts[cls] = counts.get(cls, 0) + 1
        print("%-6s item %-6s %-45s %s" % (cls, item, name[:45], detail[:160]), flush=True)
        if cls != "clean":
            bad.append((name, item, owner, cls, detail))
        shutil.rmtree(cwd, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    print("\nfuzz: %d cases in %.0f s (seed %d): %s" % (
        sum(counts.values()), time.time() - t0, SEED,
        ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    for name, item, owner, cls, detail in bad:
        print("  FAIL %-6s item %-6s (helper %s) %s" % (cls, item, owner or "-", name))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
