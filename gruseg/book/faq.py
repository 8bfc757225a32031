"""Chapter 6's small experiments: one row model and the row-memory task.

Every experiment of chapter 6 ("questions the article answers in a sentence") trains the same
small model, :func:`row_model`: a 3x3 convolution, then **one recurrent layer along every row**
(all rows of all images as one batch, :func:`gruseg.book.sweeps.rows_as_batch`), then a 1x1
convolution to class probabilities. Only the recurrent layer changes between experiments.

The first question (does a GRU's gate help a trained model remember?) needs a task that cannot be
solved without memory, :func:`make_row_memory`: the label of every pixel of a row is the row's
*marker*, a value seen only in column 0, and only the right half of each row is labelled.
The library scores a model on the labelled pixels only::

    gruseg.mean_iou(masks, gruseg.predict_labels(model, images), 2, ignore_class=VOID)

Training for a fixed number of steps is :func:`gruseg.book.experiments.fit_steps`; the time of
every step, :class:`gruseg.book.experiments.StepTimer`.
"""

from __future__ import annotations

import keras
import numpy as np

from gruseg import _checks
from gruseg.book.sweeps import rows_as_batch

__all__ = ["VOID", "row_model", "make_row_memory"]

VOID = 255
"""The label of unlabelled pixels (left out of the loss with ``ignore_class=VOID`` and of the score)."""


def row_model(recurrent, input_shape, num_classes=2, filters=8):
    """Conv 3x3 -> ``recurrent`` along every row (rows as the batch) -> per-pixel softmax.

    ::

        (B, H, W, C) --Conv2D(filters, 3x3, relu)--> (B, H, W, filters)
                     --reshape--> (B*H, W, filters) --recurrent--> (B*H, W, U)
                     --reshape--> (B, H, W, U) --Conv2D(num_classes, 1x1, softmax)--> (B, H, W, num_classes)

    Each pixel sees its 3x3 neighbourhood and, through the recurrent layer, everything to its
    left in its row (everything in the row for a bidirectional layer); nothing of other rows
    beyond the convolution's one-pixel reach.

    Args:
        recurrent: a Keras sequence layer with ``return_sequences=True`` mapping (N, W, filters)
            to (N, W, U), e.g. ``make_recurrent_layer("gru", 16, return_sequences=True)``.
        input_shape: ``(H, W, C)`` with known ``H`` and ``W``.
        num_classes: output classes.
        filters: channels of the first convolution.

    Returns:
        An uncompiled ``keras.Model`` ``(B, H, W, C) -> (B, H, W, num_classes)``.

    Example:
        >>> model = row_model(keras.layers.GRU(4, return_sequences=True), (8, 16, 3))
        >>> model.output_shape
        (None, 8, 16, 2)
    """
    height, width, channels = _checks.int_tuple("input_shape", input_shape, minimum=1, length=3)
    num_classes = _checks.num_classes("num_classes", num_classes)
    filters = _checks.positive_int("filters", filters)
    inputs = keras.Input((height, width, channels))
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    x = rows_as_batch(recurrent, x)
    return keras.Model(inputs, keras.layers.Conv2D(num_classes, 1, activation="softmax")(x))


def make_row_memory(n, rows=8, width=64, seed=0):
    """Strips whose every row is labelled with the marker in its column 0; the left half unlabelled.

    Channel 1 holds each row's marker (0 or 1) in column 0 and 0.5 everywhere else; channels 0
    and 2 are uniform noise. The label of every pixel of a row is its marker, but the left half of
    every row is :data:`VOID` (255), so a model is scored, and trained with
    ``ignore_class=VOID``, only where the marker lies ``width // 2`` to ``width - 1`` pixels back.
    Guessing one class everywhere scores a mean IoU of about 0.25.

    Args:
        n: number of strips.
        rows: rows per strip (its height).
        width: pixels per row.
        seed: seed of the markers and the noise.

    Returns:
        ``(images, masks)``: float32 ``(n, rows, width, 3)`` in [0, 1] and uint8
        ``(n, rows, width)`` with labels 0, 1 and 255.

    Example:
        >>> images, masks = make_row_memory(2, rows=3, width=8, seed=0)
        >>> images.shape, masks.shape
        ((2, 3, 8, 3), (2, 3, 8))
        >>> bool((masks[:, :, 4:] == images[:, :, :1, 1]).all()), bool((masks[:, :, :4] == VOID).all())
        (True, True)
    """
    n = _checks.positive_int("n", n)
    rows = _checks.positive_int("rows", rows)
    width = _checks.integer("width", width, 2)
    rng = np.random.default_rng(_checks.seed("seed", seed, allow_none=False))
    marker = rng.integers(0, 2, (n, rows))
    images = rng.uniform(0, 1, (n, rows, width, 3)).astype("float32")
    images[..., 1] = 0.5
    images[:, :, 0, 1] = marker
    masks = np.repeat(marker[:, :, None], width, axis=2).astype("uint8")
    masks[:, :, : width // 2] = VOID
    return images, masks
