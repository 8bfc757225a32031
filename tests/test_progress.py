"""gruseg.progress: the epoch line, in a terminal (live step counter) and in a log (no \\r frames)."""

import io
import re

import keras
import numpy as np
import pytest

from gruseg.progress import EpochLine, format_epoch_line


class FakeStdout(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


LOGS = {"loss": 0.812345, "mean_iou": 0.41234, "mean_dice": 0.5, "pixel_accuracy": 0.9,
        "val_loss": 0.9012, "val_mean_iou": 0.351}


@pytest.mark.parametrize("epoch, epochs, logs, seconds, line", [
    (3, 10, LOGS, 4.24, "epoch  3/10  loss 0.8123  mean IoU 0.412  val loss 0.9012  val mean IoU 0.351  (4.2 s)"),
    (1, 1, {"loss": 1.0}, None, "epoch 1/1  loss 1.0000"),
    (12, 100, {"loss": float("nan"), "mean_iou": 0.0}, 0.05, "epoch  12/100  loss nan  mean IoU 0.000  (0.1 s)"),
    (2, 5, {"val_loss": 2.5, "loss": 3.0}, None, "epoch 2/5  loss 3.0000  val loss 2.5000"),
])
def test_epoch_line_format(epoch, epochs, logs, seconds, line):
    assert format_epoch_line(epoch, epochs, logs, seconds) == line


def _drive(callback, epochs=2, steps=3):
    """What model.fit calls, in order, with fixed logs."""
    callback.set_params({"epochs": epochs, "steps": steps, "verbose": 0})
    callback.on_train_begin()
    for epoch in range(epochs):
        callback.on_epoch_begin(epoch)
        for step in range(steps):
            callback.on_train_batch_end(step, {"loss": 1.0 - 0.1 * step})
        callback.on_epoch_end(epoch, dict(LOGS, loss=0.5 / (epoch + 1)))
    callback.on_train_end()


LINE = re.compile(r"epoch (\d)/2  loss (\d\.\d{4})  mean IoU 0\.412  val loss 0\.9012  val mean IoU 0\.351  "
                  r"\(\d+\.\d s\)")


def test_not_a_terminal_gives_one_line_per_epoch_and_no_carriage_returns():
    out = FakeStdout(tty=False)
    _drive(EpochLine(stream=out))
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert [LINE.fullmatch(line).group(1, 2) for line in lines] == [("1", "0.5000"), ("2", "0.2500")]


def test_terminal_shows_a_live_step_counter_then_the_epoch_line():
    out = FakeStdout(tty=True)
    _drive(EpochLine(stream=out))
    text = out.getvalue()
    assert "\repoch 1/2  step 3/3  loss 0.8000" in text
    # each epoch line stands alone once the frame is cleared: what a terminal shows after \r overwrites
    shown = [line.split("\r")[-1] for line in text.split("\n") if line]
    assert [LINE.fullmatch(line).group(1) for line in shown] == ["1", "2"]


def test_default_stream_is_stdout_at_fit_time(capsys):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=2, batch_size=2, verbose=0, callbacks=[EpochLine()])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(re.fullmatch(r"epoch [12]/2  loss \d\.\d{4}  \(\d+\.\d s\)", ln) for ln in lines)
