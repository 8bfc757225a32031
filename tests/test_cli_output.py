"""What gruseg's command line shows a person: epoch lines, --help examples, quiet modes, files that open.

Backend-neutral (this file runs in the JAX pass too): tiny models, 16x16 images, in-process ``main``.
"""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gruseg.cli import main

TINY = ["--model-arg", "renet_units=[2]", "--model-arg", "filters=[2]", "--batch-size", "8"]
TRAIN = ["train", "--size", "16", "--samples", "10", *TINY]
EPOCH_LINE = re.compile(r"epoch ([12])/2  loss \d+\.\d{4}  mean IoU [01]\.\d{3}  val loss \d+\.\d{4}  "
                        r"val mean IoU [01]\.\d{3}  \(\d+\.\d s\)")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two epochs, stdout captured as a log would be (not a terminal)."""
    out = tmp_path_factory.mktemp("cli_output") / "run"
    code = subprocess.run([sys.executable, "-m", "gruseg", *TRAIN, "--epochs", "2", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert code.returncode == 0, code.stderr[-2000:]
    return out, code.stdout, code.stderr


def test_train_log_is_one_line_per_epoch_without_carriage_returns(trained):
    _, stdout, stderr = trained
    assert "\r" not in stdout and "\x1b" not in stdout
    lines = stdout.splitlines()
    assert lines[0].startswith("training reseg on synthetic shapes") and "the first step builds the graph" in lines[0]
    assert [EPOCH_LINE.fullmatch(line).group(1) for line in lines[1:3]] == ["1", "2"], lines
    assert lines[3].startswith("done: 2 epochs") and "per_class" not in stdout and "iou_" not in stdout
    assert lines[4].startswith("wrote ") and len(lines) == 5
    assert "Warning" not in stderr, stderr[-2000:]  # e.g. JAX's int64 note from Keras' confusion matrix


def test_history_csv_matches_history_json(trained):
    out, _, _ = trained
    history = json.loads((out / "history.json").read_text())
    header, *rows = (out / "history.csv").read_text().splitlines()
    assert header.split(",") == ["epoch", *sorted(k for k in history if k != "epoch")]
    for i, row in enumerate(rows):
        values = dict(zip(header.split(","), row.split(",")))
        assert int(values["epoch"]) == history["epoch"][i]
        assert float(values["val_mean_iou"]) == pytest.approx(history["val_mean_iou"][i], rel=1e-12)


def test_curves_have_integer_epoch_ticks():
    from gruseg.plotting import plot_history

    history = {"epoch": [1, 2, 3], "loss": [1.0, 0.8, 0.7], "val_loss": [1.1, 0.9, 0.85],
               "mean_iou": [0.1, 0.2, 0.3], "val_mean_iou": [0.1, 0.15, 0.2]}
    fig = plot_history(history, metrics=["loss", "mean_iou"])
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_predict_writes_palette_masks_whose_pixels_are_class_ids(trained, tmp_path):
    out, _, _ = trained
    image = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)).save(image)
    assert main(["predict", "--model", str(out / "model.keras"), str(image), "--out", str(tmp_path / "p"),
                 "--quiet"]) == 0
    mask = Image.open(tmp_path / "p" / "photo_mask.png")
    assert mask.mode == "P" and mask.size == (24, 20)
    assert np.asarray(mask).max() < 4 and len(mask.getpalette()) >= 4 * 3


def test_evaluate_quiet_prints_nothing(trained, capsys):
    out, _, _ = trained
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out / "model.keras"), "--samples", "4", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_top_level_help_has_examples(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    examples = text.split("examples:", 1)[1]
    for command in ("gruseg train --out", "gruseg evaluate", "gruseg predict", "gruseg export",
                    "--distribute mirrored", "KERAS_BACKEND=jax gruseg train"):
        assert command in examples, command
    assert "{train,evaluate,predict,export}" in text


def test_cli_runtime_lists_match_the_library_tables():
    from gruseg import cli
    from gruseg.export import FORMATS
    from gruseg.runtime import PRECISIONS, STRATEGIES

    assert cli._PRECISIONS == PRECISIONS and cli._STRATEGIES == STRATEGIES and cli._EXPORT_FORMATS == FORMATS


def test_tensorboard_writes_event_files(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tensorboard")
    logs = tmp_path / "tb"
    assert main([*TRAIN, "--epochs", "1", "--quiet", "--tensorboard", str(logs), "--out", str(tmp_path / "r")]) == 0
    for split in ("train", "validation"):
        events = list((logs / split).glob("events.out.tfevents.*"))
        assert events and events[0].stat().st_size > 100, split  # scalars written, not only the file header


def test_tensorboard_without_its_package_is_one_line(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    assert main([*TRAIN, "--epochs", "1", "--tensorboard", str(tmp_path / "tb"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(r"--tensorboard: (writing TensorBoard logs needs the tensorboard "
                                              r"package.*pip install tensorboard|needs TensorFlow)", err), err
    assert not (tmp_path / "r").exists() and not (tmp_path / "tb").exists()
