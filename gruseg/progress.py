"""Training output a person can read: one line per epoch, the same on every Keras backend.

:class:`EpochLine` is a Keras callback that prints, after each epoch, one line with the loss and
the mean IoU (and their validation values)::

    epoch  3/10  loss 0.8123  mean IoU 0.412  val loss 0.9012  val mean IoU 0.351  (4.2 s)

In a terminal it also shows which step of the epoch is running, on a line it rewrites in place
(``\\r``) and clears before the epoch's line; when the output is a file or a pipe (a CI log, a
notebook capturing stdout, ``| tee``) it writes the epoch lines only, with no ``\\r`` frames.
Use it with ``fit(verbose=0)`` (``gruseg train`` does), so Keras' own progress bar, whose format
differs between backends and versions, is off.

Example:
    >>> format_epoch_line(3, 10, {"loss": 0.81234, "mean_iou": 0.4119, "val_loss": 0.9, "val_mean_iou": 0.35}, 4.2)
    'epoch  3/10  loss 0.8123  mean IoU 0.412  val loss 0.9000  val mean IoU 0.350  (4.2 s)'
"""

from __future__ import annotations

import math
import sys
import time

import keras

__all__ = ["EpochLine", "format_epoch_line", "RaiseHeldInterrupt"]

# (log key, label, digits): what an epoch line shows, in this order, when fit logged it
_FIELDS = (("loss", "loss", 4), ("mean_iou", "mean IoU", 3))


def _value(value, digits):
    value = float(value)
    return f"{value:.{digits}f}" if math.isfinite(value) else str(value)


def format_epoch_line(epoch: int, epochs: int, logs: dict, seconds: float | None = None) -> str:
    """The line :class:`EpochLine` prints after epoch ``epoch`` (1-based) of ``epochs``.

    Loss with 4 decimals, mean IoU with 3; ``val_`` values follow the training ones; keys that
    fit did not log are left out; the epoch's wall time, when given, ends the line.
    """
    width = len(str(epochs))
    parts = [f"epoch {epoch:>{width}}/{epochs}"]
    for prefix in ("", "val_"):
        for key, label, digits in _FIELDS:
            if prefix + key in logs:
                parts.append(f"{'val ' if prefix else ''}{label} {_value(logs[prefix + key], digits)}")
    if seconds is not None:
        parts.append(f"({seconds:.1f} s)")
    return "  ".join(parts)


class EpochLine(keras.callbacks.Callback):
    """Print :func:`format_epoch_line` after every epoch; in a terminal, a live step counter too.

    Args:
        stream: where to write; default ``sys.stdout`` as it is when training runs.
        live: rewrite a step counter in place during the epoch; default: when ``stream`` is a
            terminal (``isatty()``).
    """

    def __init__(self, stream=None, live=None):
        super().__init__()
        self._stream, self._live = stream, live
        self._start = None
        self._frame = 0
        self._current = "?"

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stdout

    @property
    def live(self) -> bool:
        if self._live is not None:
            return bool(self._live)
        isatty = getattr(self.stream, "isatty", None)
        try:
            return bool(isatty and isatty())
        except (ValueError, OSError):  # a closed stream
            return False

    def _epochs(self):
        return int((self.params or {}).get("epochs") or 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._frame = 0
        self._current = f"{epoch + 1}/{self._epochs() or '?'}"

    def on_train_batch_end(self, batch, logs=None):
        if not self.live:
            return
        steps = (self.params or {}).get("steps")
        text = f"epoch {self._current}  step {batch + 1}{'/' + str(steps) if steps else ''}"
        if "loss" in (logs or {}):
            text += f"  loss {_value(logs['loss'], 4)}"
        self._frame = len(text)
        self.stream.write("\r" + text)
        self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        seconds = None if self._start is None else time.perf_counter() - self._start
        line = format_epoch_line(epoch + 1, self._epochs() or epoch + 1, dict(logs or {}), seconds)
        if self.live and self._frame:
            line = "\r" + " " * self._frame + "\r" + line
        self.stream.write(line + "\n")
        self.stream.flush()
        self._frame = 0


class RaiseHeldInterrupt(keras.callbacks.Callback):
    """Raises the Ctrl-C a ``gruseg._interrupts.DeferredInterrupt`` holds, at the end of every batch."""

    def __init__(self, interrupts):
        super().__init__()
        self.interrupts = interrupts

    def on_train_batch_end(self, batch, logs=None):
        self.interrupts.check()

    def on_test_batch_end(self, batch, logs=None):
        self.interrupts.check()

    def on_predict_batch_end(self, batch, logs=None):
        self.interrupts.check()
