"""Export a trained model for serving: a TensorFlow SavedModel, or a TFLite flatbuffer.

Both need TensorFlow and the TensorFlow backend. Every export is checked before it is kept: the
exported artifact is loaded back and run on a seeded random batch, and its probabilities must
match the Keras model's to within ``atol`` (1e-4). It is written into a temporary directory next
to ``out`` and moved into place only when complete and checked, so a failure leaves nothing.

* ``"savedmodel"``: ``out/`` is a SavedModel (``saved_model.pb``, ``variables/``) from
  ``keras.Model.export``, with a ``serve`` (and ``serving_default``) signature mapping float32
  images ``(B, H, W, 3)`` in [0, 1] to ``(B, H, W, C)`` probabilities; any batch size. Checked by
  ``tf.saved_model.load(out).serve(x)``.
* ``"tflite"``: ``out/model.tflite`` with only TFLite's built-in ops (the GRU sweeps become
  ``WHILE`` loops), for a batch of exactly 1 image of the training size. The converter needs a
  static shape for the sweeps' per-step tensors: with a free batch size it asks for
  ``SELECT_TF_OPS`` (the Flex delegate), which the interpreter in the pip TensorFlow does not
  link, so such a file would not run there. Checked with ``tf.lite.Interpreter``.
* ONNX: not offered. ``tf2onnx`` is the converter for Keras/TensorFlow models and its releases
  stopped following TensorFlow; export a SavedModel and convert it yourself if you need ONNX.

``out/gruseg_export.json`` records what was exported (format, input shape, classes, the check's
largest difference, versions).

Example:
    >>> info = export_model("runs/shapes/model.keras", "exported/shapes", format="savedmodel")  # doctest: +SKIP
    >>> info["max_abs_diff"] < 1e-4                                                            # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from gruseg import _checks
from gruseg._files import _umask
from gruseg.errors import GrusegError

__all__ = ["FORMATS", "export_model", "EXPORT_INFO"]

FORMATS = ("savedmodel", "tflite")
"""What :func:`export_model` writes."""

EXPORT_INFO = "gruseg_export.json"
"""The file in every export directory that says what it holds."""

TFLITE_FILE = "model.tflite"


def _input_size(model, size):
    from gruseg.inference import input_size

    return input_size(model, size, what="--size")


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise GrusegError(f"--out {out}: is a file, not a directory; choose a directory path for --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise GrusegError(f"--out {out}: exists and is not empty; pass --overwrite to replace it, "
                          "or choose another --out")


def _reference(model, height, width, batch, seed=0):
    x = np.random.default_rng(seed).random((batch, height, width, 3)).astype("float32")
    return x, np.asarray(model.predict(x, verbose=0), dtype=np.float32)


def _savedmodel(model, path: Path, shape):
    import keras

    model.export(str(path), format="tf_saved_model", verbose=False,
                 input_signature=[keras.InputSpec(shape=shape, dtype="float32")])


def _check_savedmodel(tf, path: Path, x):
    loaded = tf.saved_model.load(str(path))
    return np.asarray(loaded.serve(tf.constant(x)))


def _tflite(tf, model, stage: Path, height, width):
    fixed = stage / ".fixed-savedmodel"
    _savedmodel(model, fixed, (1, height, width, 3))
    converter = tf.lite.TFLiteConverter.from_saved_model(str(fixed))
    try:
        flatbuffer = converter.convert()
    except Exception as err:  # the converter raises its own ConverterError with MLIR text
        first = str(err).strip().splitlines()[-1][:200] if str(err).strip() else type(err).__name__
        raise GrusegError(f"--format tflite: TFLite could not convert this model with its built-in ops ({first}); "
                          "export --format savedmodel instead") from None
    finally:
        shutil.rmtree(fixed, ignore_errors=True)
    (stage / TFLITE_FILE).write_bytes(flatbuffer)


def _check_tflite(tf, path: Path, x):
    with warnings.catch_warnings():  # tf.lite.Interpreter warns that LiteRT (ai-edge-litert) replaces it
        warnings.simplefilter("ignore")
        # without the default XNNPACK delegate: the reference kernels, and no "Created ... delegate" line on stderr
        interpreter = tf.lite.Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    (inp,), (outp,) = interpreter.get_input_details(), interpreter.get_output_details()
    results = []
    for image in x:
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        results.append(interpreter.get_tensor(outp["index"])[0])
    return np.stack(results)


def export_model(model, out, format: str = "savedmodel", size=None, overwrite: bool = False,
                 atol: float = 1e-4) -> dict:
    """Export ``model`` to ``out`` as a SavedModel or a TFLite file, checked by running it.

    Args:
        model: a ``keras.Model`` or the path of a ``.keras`` file (opened with
            :func:`gruseg.inference.load_model`).
        out: the output directory (created; must be empty or absent unless ``overwrite``).
        format: ``"savedmodel"`` or ``"tflite"``.
        size: ``(height, width)`` (or one side) for a model that accepts any size; default the
            model's own input size.
        overwrite: replace a non-empty ``out``.
        atol: the largest difference allowed between the export's and the model's probabilities.

    Returns:
        dict: what ``out/gruseg_export.json`` holds (``format``, ``path``, ``input_shape``,
        ``num_classes``, ``max_abs_diff``, versions).

    Raises:
        GrusegError: TensorFlow missing or another backend in use, an unusable ``out`` or model
            file, a model that does not convert, or an export whose outputs differ from the model's.
    """
    from gruseg.runtime import require_tensorflow

    format = _checks.choice("format", format, FORMATS)
    atol = _checks.positive_number("atol", atol)
    out = Path(out)
    _check_target(out, _checks.boolean("overwrite", overwrite))
    if isinstance(model, (str, os.PathLike)):
        from gruseg.inference import load_model

        source = str(model)
        model = load_model(model, what="--model")
    else:
        source = getattr(model, "name", "model")
    tf = require_tensorflow(f"gruseg export --format {format}", backend_too=True)
    import keras
    height, width = _input_size(model, size)
    num_classes = int(model.output_shape[-1])
    batch = 2
    x, expected = _reference(model, height, width, batch)

    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    os.chmod(stage, 0o777 & ~_umask())  # mkdtemp makes it private; the export is an ordinary directory
    try:
        if format == "savedmodel":
            _savedmodel(model, stage, (None, height, width, 3))
            got = _check_savedmodel(tf, stage, x)
            path, input_shape = out, [None, height, width, 3]
        else:
            _tflite(tf, model, stage, height, width)
            got = _check_tflite(tf, stage / TFLITE_FILE, x)
            path, input_shape = out / TFLITE_FILE, [1, height, width, 3]
        diff = float(np.max(np.abs(got - expected)))
        if not diff <= atol:
            raise GrusegError(f"--format {format}: the exported model's probabilities differ from the Keras "
                              f"model's by {diff:.3g} (allowed {atol:g}); nothing was written")
        batch_text = input_shape[0] or "B"
        info = {"format": format, "path": str(path), "source": source, "input_shape": input_shape,
                "input": "float32 RGB in [0, 1]",
                "output": f"float32 probabilities ({batch_text}, {height}, {width}, {num_classes})",
                "num_classes": num_classes, "max_abs_diff": diff,
                "checked_on": f"{batch} seeded random images", "tensorflow": tf.__version__,
                "keras": keras.__version__}
        (stage / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        _publish(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return info


def _publish(stage: Path, out: Path) -> None:
    """Move the finished ``stage`` directory to ``out`` (replacing an old ``out`` last)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(stage, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
