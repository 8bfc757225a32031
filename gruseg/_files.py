"""Writing files so that a crash never leaves half of one: atomic replace, strict JSON, CSV.

Every file is written to a temporary file in the target's directory, flushed to disk
(``fsync``) and moved onto the target with ``os.replace``, which is atomic on POSIX and Windows:
a reader sees the old file or the new one, never a mixture. If writing fails (a full disk, an
interruption), the temporary file is deleted and the exception propagates.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from gruseg.errors import GrusegError

__all__ = ["TMP_PREFIX", "atomic_write", "write_json", "write_history_csv", "to_json", "remove_stale_temps",
           "quiet_keras_save", "DiskFullError", "is_disk_full", "disk_full"]

TMP_PREFIX = ".tmp-"
"""Prefix of the temporary files :func:`atomic_write` creates (and :func:`remove_stale_temps` deletes)."""


class DiskFullError(GrusegError):
    """The disk (or the quota) filled up while writing ``path``; whatever was complete before is kept."""

    def __init__(self, message, path):
        super().__init__(message)
        self.path = path


def is_disk_full(err) -> bool:
    """True for the OSError of a full disk (``ENOSPC``) or an exhausted quota (``EDQUOT``)."""
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


@contextlib.contextmanager
def disk_full(path, kept="the files written before are kept"):
    """Turn a full disk while writing ``path`` into a :class:`DiskFullError` (other errors pass through).

    Example:
        >>> with disk_full("runs/x/state.json"):
        ...     raise OSError(errno.ENOSPC, "No space left on device")
        Traceback (most recent call last):
        ...
        gruseg._files.DiskFullError: runs/x/state.json: no space left on the device; the files written before are kept
    """
    try:
        yield
    except OSError as err:
        if not is_disk_full(err):
            raise
        raise DiskFullError(f"{path}: no space left on the device; {kept}", path) from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then move it onto ``path``.

    The temporary file keeps ``path``'s suffixes (Keras picks the format from them). On any
    failure, an interruption included, the temporary file is deleted and ``path`` is untouched.
    """
    path = Path(path)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=suffix)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    try:
        with quiet_keras_save():
            write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(directory) -> None:
    """Delete temporary files a run killed in the middle of :func:`atomic_write` left behind."""
    for path in Path(directory).glob(TMP_PREFIX + "*"):
        if path.is_file():
            path.unlink(missing_ok=True)


def _default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _strict(value):
    """NaN/inf -> None (strict JSON), recursively; NumPy scalars -> Python numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def to_json(obj) -> str:
    """``obj`` as strict, indented JSON text (NaN and infinity become ``null``).

    Example:
        >>> print(to_json({"iou": float("nan"), "n": np.int64(3)}))
        {
          "iou": null,
          "n": 3
        }
    """
    return json.dumps(_strict(obj), indent=2, default=_default)


def write_json(path, obj) -> None:
    """Write ``obj`` as strict JSON to ``path``, atomically."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(to_json(obj) + "\n")

    atomic_write(path, write)


def write_history_csv(path, history) -> None:
    """Write a training history ``{name: [value per epoch], "epoch": [...]}`` as CSV, atomically.

    One row per epoch, ``epoch`` first, then the other columns in sorted order; undefined
    values are empty cells.
    """
    columns = ["epoch", *sorted(k for k in history if k != "epoch")]
    rows = len(history.get("epoch", []))

    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for i in range(rows):
                cells = []
                for key in columns:
                    values = history.get(key, [])
                    value = values[i] if i < len(values) else None
                    finite = isinstance(value, (int, float)) and math.isfinite(value)
                    cells.append("" if not finite else (int(value) if key == "epoch" else repr(float(value))))
                writer.writerow(cells)

    atomic_write(path, write)


@contextlib.contextmanager
def quiet_keras_save():
    """Hide one harmless warning while Keras saves.

    Keras' h5 writer converts TF variables with ``np.array(x, copy=False)``; NumPy 2 emits a
    DeprecationWarning per variable. Not ours to fix; keep the user's output clean.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"__array__ implementation doesn't accept a copy",
                                category=DeprecationWarning)
        yield
