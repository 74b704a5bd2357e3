"""Reader of lpt's HDF5 run records (layout: docs/records.md).

    from lpt_record import Record
    r = Record("runs/gpt_default.h5")
    r.config["model"]["layers"], r.series("/train/loss"), r.eval_steps, r.eval_loss

Run with /usr/bin/python3 (Debian's numpy and h5py). A record that is still being written can be
read with HDF5_USE_FILE_LOCKING=FALSE in the environment.
"""
import json

import h5py
import numpy as np


class Record:
    def __init__(self, path):
        self.path = path
        with h5py.File(path, "r") as f:
            self.attrs = {k: _text(v) for k, v in f.attrs.items()}
            self._data = {}
            f.visititems(self._collect)
        self.config = json.loads(self.attrs.get("config", "{}"))

    def _collect(self, name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu":
            self._data["/" + name] = np.asarray(obj[...])

    def has(self, path):
        return path in self._data

    def series(self, path):
        """A numeric dataset as a numpy array (empty when the run never wrote it)."""
        return self._data.get(path, np.zeros(0))

    @property
    def label(self):
        m = self.config.get("model", {})
        mode = self.config.get("solver", {}).get("mode", "serial")
        layers = m.get("layers") or f"{m.get('enc_layers')}+{m.get('dec_layers')}"
        return f"{m.get('family', '?')} N={layers} d={m.get('d_model')} {mode}"

    def events(self):
        """/control/events as a list of dicts {step, action, reason, metrics (dict)}."""
        out = []
        with h5py.File(self.path, "r") as f:
            if "control/events" not in f:
                return out
            for row in f["control/events"][...]:
                metrics = _text(row["metrics"])
                out.append({"step": int(row["step"]), "action": _text(row["action"]),
                            "reason": _text(row["reason"]),
                            "metrics": json.loads(metrics) if metrics else {}})
        return out

    @property
    def eval_steps(self):
        return self.series("/eval/step")

    @property
    def eval_loss(self):
        return self.series("/eval/loss")


def _text(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        return v.item()
    return v


def smooth(y, window):
    """Trailing moving average (the first points average what exists so far)."""
    if window <= 1 or len(y) == 0:
        return y
    c = np.cumsum(np.insert(np.asarray(y, dtype=float), 0, 0.0))
    out = np.empty(len(y))
    for i in range(len(y)):
        lo = max(0, i + 1 - window)
        out[i] = (c[i + 1] - c[lo]) / (i + 1 - lo)
    return out
