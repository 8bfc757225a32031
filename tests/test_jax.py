"""gruseg on JAX without TensorFlow: train, resume, evaluate, predict from the command line.

Runs in .ci/run's JAX pass (a venv with jax and keras but no tensorflow, KERAS_BACKEND=jax);
skipped under any other backend. The library's other tests run in that pass too.
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax", reason="the JAX pass only (KERAS_BACKEND=jax)")

ENV = {**os.environ, "KERAS_BACKEND": "jax", "MPLBACKEND": "Agg"}


def _gruseg(*argv, check=True):
    out = subprocess.run([sys.executable, "-m", "gruseg", *argv], capture_output=True, text=True, env=ENV,
                         timeout=900)
    if check:
        assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The issue's command: ``KERAS_BACKEND=jax python -m gruseg train --dataset shapes --size 32 --epochs 1``."""
    out = tmp_path_factory.mktemp("jax") / "r"
    done = _gruseg("train", "--dataset", "shapes", "--size", "32", "--epochs", "1", "--out", str(out))
    return out, done


def test_this_pass_has_no_tensorflow():
    assert importlib.util.find_spec("tensorflow") is None, "the JAX pass must run without TensorFlow"


def test_train_writes_every_output_with_jit_on(run):
    out, done = run
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint", "curves.png", "history.csv", "history.json", "metrics.json", "model.keras"]
    config = json.loads((out / "metrics.json").read_text())["config"]
    assert config["jit_compile"] is True and config["epochs_done"] == 1  # JAX without jit runs op by op
    assert done.stdout.splitlines()[1].startswith("epoch 1/1  loss ")
    assert "Warning" not in done.stderr and "Traceback" not in done.stderr


def test_resume_evaluate_and_predict(run, tmp_path):
    out, _ = run
    _gruseg("train", "--dataset", "shapes", "--size", "32", "--epochs", "2", "--resume", "--out", str(out), "--quiet")
    assert json.loads((out / "history.json").read_text())["epoch"] == [1, 2]
    report = json.loads(_gruseg("evaluate", "--model", str(out / "model.keras"), "--samples", "8", "--json").stdout)
    assert 0 <= report["mean_iou"] <= 1 and report["images"] == 8
    image = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((40, 30, 3)) * 255).astype(np.uint8)).save(image)
    _gruseg("predict", "--model", str(out / "model.keras"), str(image), "--out", str(tmp_path / "p"), "--quiet")
    mask = Image.open(tmp_path / "p" / "photo_mask.png")
    assert mask.mode == "P" and mask.size == (30, 40)


def test_a_tensorflow_feature_says_what_to_install(run, tmp_path):
    out, _ = run
    done = _gruseg("export", "--model", str(out / "model.keras"), "--out", str(tmp_path / "e"), check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "needs TensorFlow, which is not installed; pip install tensorflow" in done.stderr
    from gruseg.data.pipeline import to_dataset

    with pytest.raises(ModuleNotFoundError, match="needs TensorFlow: pip install tensorflow"):
        to_dataset(np.zeros((2, 4, 4, 3)), np.zeros((2, 4, 4), "uint8"))

