"""Tests for the command line (gruseg.cli): train / evaluate / predict end to end, every error path,
interruption + resume, determinism.

Most tests call ``main([...])`` in-process (TensorFlow is imported once); a few run
``python -m gruseg`` in a subprocess. Models are tiny (a 2-filter encoder, 2 GRU units, 16x16 images).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from errortable import error_table_failures
from gruseg.cli import main
from gruseg.training import load_checkpoint_state

TINY = ["--model-arg", "renet_units=[2]", "--model-arg", "filters=[2]", "--batch-size", "8"]
UNET = ["--model", "unet", "--model-arg", "base_filters=2", "--model-arg", "depth=1", "--batch-size", "8"]
TRAIN = ["train", "--size", "16", "--samples", "10", "--epochs", "1", "--quiet", *TINY]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0", "MPLBACKEND": "Agg"}


def _make_folder(root: Path, n=8, size=16, labels=(0, 1), seed=0, image_size=None):
    """images/ + masks/: foreground (label 1) where the red channel is bright."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        h, w = image_size or (size, size)
        image = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        mask = np.where(image[..., 0] > 127, labels[1], labels[0]).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"img{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"img{i}.png")
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One tiny training run on the default (synthetic shapes) data, shared by several tests."""
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main([*TRAIN, "--out", str(out)]) == 0
    return out


# ------------------------------------------------------------------------------------ train


def test_train_on_default_data_writes_all_outputs(run_dir):
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint", "curves.png", "history.csv", "history.json", "metrics.json", "model.keras"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = metrics["config"]
    assert config["dataset"] == "shapes" and config["model"] == "reseg"
    assert config["size"] == [16, 16] and config["seed"] == 0 and config["epochs_done"] == 1
    assert config["train_images"] == 8 and config["validation_images"] == 2
    assert metrics["report_split"] == "validation"
    assert list(metrics["report"]["per_class"]) == ["background", "circle", "square", "triangle"]
    assert metrics["report"]["num_pixels"] == 2 * 16 * 16
    for split in ("train", "validation"):
        assert {"loss", "mean_iou", "mean_dice", "pixel_accuracy"} <= set(metrics["final"][split])
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epoch"] == [1] and len(history["val_loss"]) == 1
    csv_lines = (run_dir / "history.csv").read_text().splitlines()
    assert csv_lines[0].split(",")[0] == "epoch" and "val_mean_iou" in csv_lines[0] and len(csv_lines) == 2
    assert Image.open(run_dir / "curves.png").size[0] > 100
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    assert model.output_shape == (None, 16, 16, 4)
    # no staging directory left next to --out
    assert [p.name for p in run_dir.parent.iterdir()] == ["run"]


def test_train_same_seed_gives_identical_metrics_and_overwrite_starts_over(run_dir, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(run_dir, out)
    (out / "history.json").write_text("{}")  # a previous run's output, to be replaced
    (out / "notes.txt").write_text("mine")   # not gruseg's: kept
    assert main([*TRAIN, "--out", str(out), "--overwrite"]) == 0
    assert (out / "metrics.json").read_text() == (run_dir / "metrics.json").read_text()
    assert (out / "history.json").read_text() == (run_dir / "history.json").read_text()
    assert (out / "notes.txt").read_text() == "mine"


def test_train_on_image_folder_with_validation_split(tmp_path, capsys):
    data = _make_folder(tmp_path / "data", n=8)
    out = tmp_path / "out"
    code = main(["train", "--data", str(data), "--size", "16", "--epochs", "2", "--seed", "3",
                 "--patience", "5", "--out", str(out), *UNET])
    assert code == 0
    printed = capsys.readouterr().out
    assert "6 training / 2 validation images" in printed and "wrote" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["data"] == str(data.resolve()) and metrics["config"]["num_classes"] == 2
    assert metrics["config"]["model"] == "unet"
    assert metrics["config"]["epochs_done"] == 2 and metrics["config"]["patience"] == 5
    assert metrics["config"]["stopped_early"] is False and metrics["config"]["best_epoch"] in (1, 2)
    assert list(metrics["report"]["per_class"]) == ["class_0", "class_1"]
    assert metrics["report"]["num_pixels"] == 2 * 16 * 16


# --------------------------------------------------------------------------------- evaluate


def test_evaluate_prints_table(run_dir, capsys):
    assert main(["evaluate", "--model", str(run_dir / "model.keras"), "--samples", "4"]) == 0
    out = capsys.readouterr().out
    for word in ("class", "IoU", "Dice", "background", "circle", "square", "triangle", "mean IoU",
                 "mean Dice", "pixel accuracy", "4 images of 16x16"):
        assert word in out


def test_evaluate_json_on_folder(run_dir, tmp_path, capsys):
    data = _make_folder(tmp_path / "data", n=3, labels=(0, 3))
    assert main(["evaluate", "--model", str(run_dir / "model.keras"), "--data", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 3 and report["num_pixels"] == 3 * 16 * 16
    assert 0.0 <= report["pixel_accuracy"] <= 1.0
    assert len(report["per_class"]) == 4
    assert report["per_class"]["class_3"]["support"] > 0


# ---------------------------------------------------------------------------------- predict


def test_predict_writes_masks_and_overlays_at_original_size(run_dir, tmp_path, capsys):
    rng = np.random.default_rng(0)
    a, b = tmp_path / "a.jpg", tmp_path / "b.png"
    Image.fromarray((rng.random((23, 41, 3)) * 255).astype(np.uint8)).save(a)
    Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).save(b)  # grayscale input
    out = tmp_path / "pred"
    assert main(["predict", "--model", str(run_dir / "model.keras"), str(a), str(b), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "a_color.png", "a_mask.png", "a_overlay.png", "b_color.png", "b_mask.png", "b_overlay.png"]
    for stem, size in (("a", (41, 23)), ("b", (16, 16))):
        mask = Image.open(out / f"{stem}_mask.png")
        assert mask.size == size and mask.mode == "P"  # class ids, shown in colour by a viewer
        assert np.asarray(mask).max() < 4 and len(mask.getpalette()) >= 4 * 3
        overlay = Image.open(out / f"{stem}_overlay.png")
        assert overlay.size == size and overlay.mode == "RGB"
        assert Image.open(out / f"{stem}_color.png").size == size
    assert "a_mask.png" in capsys.readouterr().out


# ----------------------------------------------------------------------------------- errors


@pytest.fixture
def bad_models(tmp_path):
    """Files that are not usable models: text, garbage .keras, unregistered layer, Lambda."""
    paths = {"text": tmp_path / "notes.txt", "garbage": tmp_path / "garbage.keras",
             "custom": tmp_path / "custom.keras", "lambda": tmp_path / "lambda.keras"}
    paths["text"].write_text("hello")
    paths["garbage"].write_bytes(b"not a zip file")

    def make_custom():
        @keras.saving.register_keras_serializable(package="gruseg_test_unregistered")
        class Doubler(keras.layers.Layer):
            def call(self, x):
                return x * 2

        inputs = keras.Input((8, 8, 3))
        x = Doubler()(inputs)
        model = keras.Model(inputs, keras.layers.Conv2D(2, 1, activation="softmax")(x))
        model.save(paths["custom"])
        keras.saving.get_custom_objects().pop("gruseg_test_unregistered>Doubler")

    make_custom()
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: t * 2)(inputs)
    keras.Model(inputs, keras.layers.Conv2D(2, 1, activation="softmax")(x)).save(paths["lambda"])
    return paths


def _error_cases(tmp_path, run_dir, bad_models):
    """(argv, expected phrase in the message) for every user-fixable error."""
    out = tmp_path / "out"
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    data = _make_folder(tmp_path / "data", n=4, labels=(0, 5))
    img = tmp_path / "img.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img)
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(other / "img.jpg")
    damaged = tmp_path / "damaged"
    (damaged / "checkpoint").mkdir(parents=True)
    (damaged / "checkpoint" / "state.json").write_text(
        '{"epoch": 3, "checkpoint": "epoch_0003.keras", "history": {"epoch": [1, 2, 3]}}')
    model = str(run_dir / "model.keras")
    base = ["train", "--size", "16", "--samples", "4", "--epochs", "1", "--quiet", *TINY]
    return [
        ([], "choose a command"),
        (["train", "--epochs", "0", "--out", str(out)], "argument --epochs: must be an integer in [1, 100000], got 0"),
        (["train", "--epochs", "-3", "--out", str(out)], "--epochs"),
        (["train", "--size", "0", "--out", str(out)], "argument --size: must be a side in pixels (128) or HEIGHTxWIDTH"),
        (["train", "--size", "big", "--out", str(out)], "argument --size: must be a side in pixels (128) or HEIGHTxWIDTH (120x160), each side at most 4096, got 'big'"),
        (["train", "--size", "100000", "--out", str(out)], "each side at most 4096, got '100000'"),
        (["train", "--seed", "4294967296", "--out", str(out)], "argument --seed: must be an integer in [0, 4294967295], got 4294967296"),
        (["train", "--batch-size", str(2**63), "--out", str(out)], "argument --batch-size: must be an integer in [1, 4096]"),
        (["train", "--batch-size", "0", "--out", str(out)], "argument --batch-size"),
        (["train", "--model", "transformer", "--out", str(out)], "argument --model: invalid choice: 'transformer'"),
        (["train", "--dataset", "mnist", "--out", str(out)], "argument --dataset: invalid choice: 'mnist'"),
        (["train", "--data", str(data), "--dataset", "shapes", "--out", str(out)], "not allowed with"),
        (["train", "--resume", "--overwrite", "--out", str(out)], "not allowed with"),
        (["train", "--val-fraction", "1", "--out", str(out)], "argument --val-fraction"),
        (["train", "--model-arg", "units", "--out", str(out)], "KEY=VALUE"),
        (["train", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        ([*base, "--data", str(tmp_path / "nowhere"), "--out", str(out)], "folder not found"),
        ([*base, "--data", str(data), "--num-classes", "3", "--out", str(out)], "num_classes=3"),
        ([*base, "--num-classes", "3", "--out", str(out)], "dataset 'shapes' has 4 classes"),
        ([*base, "--model-arg", "bogus=1", "--out", str(out)], "has no argument 'bogus'"),
        ([*base, "--size", "18", "--model-arg", "filters=[2,2]", "--out", str(out)], "not divisible by 4"),
        ([*base, "--out", str(full)], "exists and is not empty; pass --resume"),
        ([*base, "--out", str(a_file)], "is a file, not a directory"),
        ([*base, "--out", str(a_file / "sub")], "is a file, not a directory"),
        ([*base, "--resume", "--out", str(full)], "--resume: no checkpoint"),
        ([*base, "--resume", "--out", str(damaged)], "epoch_0003.keras, which is missing"),
        ([*base, "--size", "32", "--resume", "--out", str(run_dir)], "--resume: the run in"),
        (["evaluate", "--model", str(tmp_path / "missing.keras")], "file not found"),
        (["train", "--num-classes", "1", "--out", str(out)], "argument --num-classes: must be an integer in [2, 1024], got 1"),
        (["train", "--learning-rate", "-1", "--out", str(out)], "argument --learning-rate"),
        (["evaluate", "--model", str(tmp_path)], "is a directory"),
        (["evaluate", "--model", str(bad_models["text"])], "not a .keras file"),
        (["evaluate", "--model", str(bad_models["garbage"])], "not a readable Keras model"),
        (["evaluate", "--model", str(bad_models["custom"])], "register_keras_serializable"),
        (["evaluate", "--model", str(bad_models["lambda"])], "Lambda layer"),
        (["evaluate", "--model", model, "--data", str(tmp_path / "nowhere")], "folder not found"),
        (["evaluate", "--model", model, "--dataset", "long-range"], "has 2 classes but the model predicts 4"),
        (["evaluate", "--model", model, "--size", "32"], "takes 16x16 images only"),
        (["evaluate", "--data", str(data)], "the following arguments are required: --model"),
        (["predict", "--model", model, str(tmp_path / "nope.png"), "--out", str(out)], "file not found"),
        (["predict", "--model", model, str(a_file), "--out", str(out)], "file.txt"),
        (["predict", "--model", model, str(img), "--out", str(full)], "exists and is not empty"),
        (["predict", "--model", model, str(img), str(other / "img.jpg"), "--out", str(out)], "share the name"),
        (["predict", "--model", str(bad_models["garbage"]), str(img), "--out", str(out)], "not a readable"),
        (["predict", "--model", model, "--out", str(out)], "required: IMAGE"),
    ]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_every_error_exits_2_with_one_line_and_writes_nothing(tmp_path, run_dir, bad_models, capsys):
    cases = _error_cases(tmp_path, run_dir, bad_models)
    failures = error_table_failures(cases, [tmp_path, run_dir], capsys)
    assert not failures, "\n".join(failures)
    assert len(cases) >= 35


def test_error_from_subprocess_is_one_line_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gruseg", "train", "--epochs", "0", "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gruseg: error: argument --epochs: must be an integer in [1, 100000], got 0; see 'gruseg train --help'"]
    assert not (tmp_path / "o").exists()


def test_help_exits_0_without_importing_tensorflow():
    code = ("import sys; from gruseg.cli import main; rc = main(['train', '--help']); "
            "assert 'tensorflow' not in sys.modules, 'imported TF'; raise SystemExit(rc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--resume" in result.stdout and "--patience" in result.stdout


def test_unexpected_exceptions_are_not_swallowed(monkeypatch, tmp_path):
    import gruseg.cli

    def boom(args):
        raise RuntimeError("bug")

    monkeypatch.setattr(gruseg.cli, "_cmd_train", boom)
    with pytest.raises(RuntimeError, match="bug"):
        main(["train", "--out", str(tmp_path / "o")])


# ----------------------------------------------------------------------- interruption, resume


@pytest.mark.slow  # ~15 s alone, 50 s on the shared 2-core machine: a subprocess and 20 epochs
def test_killed_training_resumes_to_the_same_number_of_epochs(tmp_path):
    out = tmp_path / "run"
    epochs = 20
    argv = ["train", "--size", "16", "--samples", "10", "--epochs", str(epochs), "--quiet", *UNET,
            "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "gruseg", *argv], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        state = out / "checkpoint" / "state.json"
        deadline = time.monotonic() + 240

        def epochs_done():  # state.json exists from the start (epoch 0); wait for a finished epoch
            try:
                return json.loads(state.read_text())["epoch"]
            except (OSError, ValueError, KeyError):
                return 0

        while epochs_done() < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert epochs_done() >= 1, proc.stderr.read().decode() if proc.poll() is not None else "timeout"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "metrics.json").exists() and not (out / "model.keras").exists()
    saved = load_checkpoint_state(out)
    assert 1 <= saved["epoch"] < epochs
    checkpoint = keras.saving.load_model(out / "checkpoint" / saved["checkpoint"], compile=False)
    assert checkpoint.output_shape == (None, 16, 16, 4)

    assert main([*argv, "--resume"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["epochs_done"] == epochs
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == list(range(1, epochs + 1))
    assert not list((out / "checkpoint").glob(".tmp-*"))
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]  # no staging left


def test_cli_name_lists_match_the_library_tables():
    from gruseg import cli
    from gruseg.data.sources import DATASET_NAMES
    from gruseg.data.synthetic import DATASETS
    from gruseg.models import MODEL_ALIASES, MODEL_BUILDERS

    assert set(cli._DATASET_NAMES) == set(DATASET_NAMES) >= set(DATASETS)
    assert set(cli._MODEL_NAMES) == set(MODEL_BUILDERS)
    assert cli._MODEL_ALIASES == MODEL_ALIASES
