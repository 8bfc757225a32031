"""gruseg export: a SavedModel and a TFLite file, each loaded back and compared with the Keras model."""

import json
import sys

import keras
import numpy as np
import pytest

from gruseg.cli import main
from gruseg.errors import GrusegError
from gruseg.export import EXPORT_INFO, export_model
from gruseg.models import build_model

TF_BACKEND = keras.backend.backend() == "tensorflow"
needs_tf = pytest.mark.skipif(not TF_BACKEND, reason="export runs on the TensorFlow backend")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A small untrained ReSeg (both GRU passes, the conv encoder and decoder) saved as .keras."""
    path = tmp_path_factory.mktemp("export") / "model.keras"
    build_model("reseg", (16, 16, 3), 3, seed=0, renet_units=(2,), filters=(2,)).save(path)
    return path


@needs_tf
def test_cli_savedmodel_round_trips(model_file, tmp_path, capsys):
    import tensorflow as tf

    out = tmp_path / "sm"
    assert main(["export", "--model", str(model_file), "--format", "savedmodel", "--out", str(out)]) == 0
    assert "exported" in capsys.readouterr().out
    assert (out / "saved_model.pb").is_file() and (out / EXPORT_INFO).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    loaded = tf.saved_model.load(str(out))
    assert {"serve", "serving_default"} <= set(loaded.signatures)
    x = np.random.default_rng(5).random((3, 16, 16, 3)).astype("float32")  # another batch size than the check's
    expected = keras.saving.load_model(model_file).predict(x, verbose=0)
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), expected, atol=1e-5)
    info = json.loads((out / EXPORT_INFO).read_text())
    assert info["format"] == "savedmodel" and info["input_shape"] == [None, 16, 16, 3] and info["num_classes"] == 3


@needs_tf
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_tflite_uses_builtin_ops_and_matches(model_file, tmp_path):
    import tensorflow as tf

    info = export_model(model_file, tmp_path / "lite", format="tflite")
    path = tmp_path / "lite" / "model.tflite"
    assert info["path"] == str(path) and info["input_shape"] == [1, 16, 16, 3] and info["max_abs_diff"] < 1e-4
    interpreter = tf.lite.Interpreter(  # the plain interpreter: a Flex (SELECT_TF_OPS) model would not run here
        model_path=str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    x = np.random.default_rng(9).random((1, 16, 16, 3)).astype("float32")
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, keras.saving.load_model(model_file).predict(x, verbose=0), atol=1e-4)


@needs_tf
def test_export_refuses_a_non_empty_out_and_overwrite_replaces_it(model_file, tmp_path, capsys):
    out = tmp_path / "sm"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["export", "--model", str(model_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists and is not empty; pass --overwrite" in err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert main(["export", "--model", str(model_file), "--out", str(out), "--overwrite", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert (out / "saved_model.pb").is_file() and not (out / "keep.txt").exists()


@needs_tf
def test_a_check_that_fails_leaves_nothing(model_file, tmp_path, monkeypatch):
    import gruseg.export as export

    monkeypatch.setattr(export, "_check_savedmodel", lambda tf, path, x: np.zeros((2, 16, 16, 3)))
    with pytest.raises(GrusegError, match="probabilities differ from the Keras model's by .*nothing was written"):
        export_model(model_file, tmp_path / "sm")
    assert list(tmp_path.iterdir()) == []


def test_export_errors_are_one_line_exit_2(model_file, tmp_path, capsys, monkeypatch):
    cases = [
        (["--model", str(tmp_path / "missing.keras")], "file not found"),
        (["--model", str(model_file), "--format", "onnx"], "invalid choice: 'onnx'"),
    ]
    if TF_BACKEND:
        cases.append((["--model", str(model_file), "--size", "32"], "the model takes 16x16 images only"))
    else:
        cases.append((["--model", str(model_file)], "runs on the TensorFlow backend|needs TensorFlow"))
    for argv, message in cases:
        assert main(["export", *argv, "--out", str(tmp_path / "x")]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("gruseg: error: "), err
        assert __import__("re").search(message, err), (message, err)
    assert not (tmp_path / "x").exists()
    if TF_BACKEND:  # without TensorFlow at all (tests/test_jax.py runs the CLI so): the message says what to install
        model = keras.saving.load_model(model_file)
        monkeypatch.setitem(sys.modules, "tensorflow", None)
        with pytest.raises(GrusegError, match="needs TensorFlow, which is not installed; pip install tensorflow"):
            export_model(model, tmp_path / "x")
        assert not (tmp_path / "x").exists()
