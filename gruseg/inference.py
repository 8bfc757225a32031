"""Inference: load a trained model safely and predict, the one prediction path.

The command line, the chapters and the book's experiments all predict through
:func:`predict_probabilities` and :func:`predict_labels`; :func:`load_model` is the one way a
``.keras`` file is opened, and :func:`input_size` the one check that a model can take an image size.

Loading uses Keras' ``safe_mode=True``: a file that would run arbitrary code (a ``Lambda``
layer) is refused. gruseg's own layers and metrics register themselves when this module loads;
a model with a custom layer of your own loads once its class is decorated with
``@keras.saving.register_keras_serializable()`` and its module imported.

Example:
    >>> model = load_model("runs/shapes/model.keras")             # doctest: +SKIP
    >>> labels = predict_labels(model, images)                     # doctest: +SKIP
    >>> labels.shape, labels.dtype                                 # doctest: +SKIP
    ((16, 64, 64), dtype('uint8'))
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import keras
import numpy as np

import gruseg.layers  # noqa: F401  (registers gruseg's layers for loading)
import gruseg.metrics  # noqa: F401  (registers MeanDice)
from gruseg import _checks
from gruseg.data.pipeline import ArrayBatches
from gruseg.errors import GrusegError
from gruseg.models import size_multiple

__all__ = ["load_model", "input_size", "predict_probabilities", "predict_labels", "resize_labels"]

_HINT = "pass the model.keras written by 'gruseg train --out DIR' (DIR/model.keras)"


def load_model(path, what="model"):
    """Open a ``.keras`` segmentation model safely.

    Args:
        path: the ``.keras`` file.
        what: how to name the file in error messages (the CLI passes ``"--model"``).

    Returns:
        The ``keras.Model`` (not compiled), mapping (B, H, W, 3) to (B, H, W, C) with C >= 2.

    Raises:
        GrusegError: the file is missing, a directory, not ``.keras``, unreadable, uses an
            unregistered custom layer, contains a ``Lambda`` layer, or is not a segmentation model.
    """
    path = Path(path)
    if not path.exists():
        raise GrusegError(f"{what} {path}: file not found; {_HINT}")
    if path.is_dir():
        raise GrusegError(f"{what} {path}: is a directory; {_HINT}")
    if path.suffix != ".keras":
        raise GrusegError(f"{what} {path}: not a .keras file; {_HINT}")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except (TypeError, ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        text = str(err)
        missing = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
        if missing:
            raise GrusegError(
                f"{what} {path}: uses the custom layer or function {missing.group(1)!r}, which is not "
                "registered; decorate it with @keras.saving.register_keras_serializable() and import its "
                "module before loading (gruseg can load models made of Keras and gruseg layers)") from None
        if "Lambda" in text and "safe_mode" in text:
            raise GrusegError(
                f"{what} {path}: contains a Lambda layer, which safe loading refuses (it could run "
                "arbitrary code); rebuild the model without Lambda layers") from None
        raise GrusegError(f"{what} {path}: not a readable Keras model ({type(err).__name__}); {_HINT}") from None
    in_shape, out_shape = model.input_shape, model.output_shape
    if not (isinstance(in_shape, tuple) and len(in_shape) == 4 and in_shape[-1] == 3
            and isinstance(out_shape, tuple) and len(out_shape) == 4 and (out_shape[-1] or 0) >= 2):
        raise GrusegError(f"{what} {path}: expected a segmentation model (B, H, W, 3) -> (B, H, W, classes), "
                          f"got {in_shape} -> {out_shape}; {_HINT}")
    return model


def input_size(model, requested=None, what="size", default=(128, 128)):
    """The ``(height, width)`` to feed ``model``: its own fixed size, or ``requested``, checked.

    Args:
        model: a segmentation model.
        requested: None, an int or ``(height, width)``.
        what: how to name the size in error messages (the CLI passes ``"--size"``).
        default: the size for a size-agnostic model when nothing is requested.

    Returns:
        ``(height, width)``.

    Raises:
        GrusegError: ``requested`` differs from a fixed-size model's size, or is not divisible by
            what the model downsamples by (:func:`gruseg.models.size_multiple`).

    Example:
        >>> from gruseg.models import build_unet
        >>> input_size(build_unet((None, None, 3), 2, depth=2), 64)
        (64, 64)
    """
    fixed = tuple(model.input_shape[1:3])
    requested = _checks.image_size(what, requested, allow_none=True)
    if None not in fixed:
        if requested is not None and requested != fixed:
            raise GrusegError(f"{what} {requested[0]}x{requested[1]}: the model takes {fixed[0]}x{fixed[1]} "
                              f"images only; drop {what}")
        return fixed
    size = requested or tuple(default)
    multiple = size_multiple(model)
    bad = [side for side in size if side % multiple]
    if bad:
        fix = "x".join(str(max(multiple, round(side / multiple) * multiple)) for side in size)
        raise GrusegError(f"{what} {size[0]}x{size[1]}: this model downsamples {multiple}x, so height and width "
                          f"must be multiples of {multiple}; use e.g. {fix}")
    return size


def predict_probabilities(model, images, batch_size=32):
    """Per-pixel class probabilities: ``(n, H, W, 3)`` images -> ``(n, H, W, C)`` float32.

    Runs ``model.predict`` over :class:`~gruseg.data.pipeline.ArrayBatches` (inference mode:
    batch norm uses its moving statistics, dropout is off), on any Keras backend.

    Args:
        model: a segmentation model with probability outputs.
        images: (n, H, W, 3) array in [0, 1], H and W accepted by the model.
        batch_size: images per forward pass.

    Returns:
        float32 array (n, H, W, C).
    """
    batch_size = _checks.positive_int("batch_size", batch_size)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (n, H, W, C), got shape {images.shape}")
    out = model.predict(ArrayBatches(images, None, batch_size=batch_size), verbose=0)
    return np.asarray(out, dtype=np.float32)


def predict_labels(model, images, batch_size=32, exclude=None):
    """Arg-max class of every pixel: ``(n, H, W, 3)`` images -> ``(n, H, W)`` labels.

    Args:
        model: a segmentation model.
        images: (n, H, W, 3) array in [0, 1].
        batch_size: images per forward pass.
        exclude: optional class id never to predict (a void/ignore class the model has an
            output for): the arg-max is taken over the other classes.

    Returns:
        uint8 array (n, H, W) (uint16 with more than 256 classes).

    Example:
        >>> from gruseg.models import build_unet
        >>> predict_labels(build_unet((16, 16, 3), 2, depth=1, seed=0), np.zeros((3, 16, 16, 3))).shape
        (3, 16, 16)
    """
    probs = predict_probabilities(model, images, batch_size)
    if exclude is not None:
        exclude = _checks.non_negative_int("exclude", exclude)
        if exclude < probs.shape[-1]:
            probs[..., exclude] = -1.0
    labels = probs.argmax(axis=-1)
    return labels.astype(np.uint8 if probs.shape[-1] <= 256 else np.uint16)


def resize_labels(labels, size):
    """Nearest-neighbour resize of one ``(h, w)`` label map to ``size = (height, width)``.

    Used to bring a prediction made at the model's size back to a photograph's own size.

    Example:
        >>> resize_labels(np.array([[0, 1]], "uint8"), (2, 4)).tolist()
        [[0, 0, 1, 1], [0, 0, 1, 1]]
    """
    from PIL import Image

    height, width = _checks.image_size("size", size)
    labels = np.asarray(labels)
    if labels.shape == (height, width):
        return labels
    dtype = labels.dtype
    mode_dtype = np.uint8 if labels.max(initial=0) <= 255 else np.int32
    img = Image.fromarray(labels.astype(mode_dtype))
    return np.asarray(img.resize((width, height), Image.NEAREST)).astype(dtype)
