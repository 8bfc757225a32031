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
every step, :class:`gruseg.book.experiments.StepTimer`. :func:`train_row_model` does both for one
recurrent layer and scores the result (:class:`RowRun`); :func:`row_update_gate` reads the update
gate of a trained row model's GRU at every pixel.

The third question (does regularisation cure overfitting?) trains a small ReSeg on a few images
with and without regularisation, :func:`overfit_run`, and compares training and validation loss
measured the same way, in inference mode, :func:`inference_losses`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from gruseg import _checks
from gruseg.book.sweeps import rows_as_batch

__all__ = ["VOID", "row_model", "make_row_memory", "RowRun", "train_row_model", "row_update_gate", "overfit_run",
           "inference_losses"]

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


def _probabilities(model, images, batch_size=32):
    """``model``'s outputs in inference mode, ``batch_size`` images per direct call, as NumPy.

    Chapter 6 scores a dozen freshly trained models; ``model.predict`` (behind
    :func:`gruseg.inference.predict_probabilities`) traces a new function for each, and TensorFlow's
    retracing notices would reach the page's stderr. Direct calls give the same numbers without them.
    """
    images = np.asarray(images, "float32")
    return np.concatenate([keras.ops.convert_to_numpy(model(images[i:i + batch_size], training=False))
                           for i in range(0, len(images), batch_size)])


@dataclass
class RowRun:
    """One trained row model and what it reached (see :func:`train_row_model`).

    Attributes:
        model: the trained ``keras.Model`` ``(B, H, W, C) -> (B, H, W, num_classes)``.
        params: its number of parameters.
        miou: test mean IoU (void pixels left out when ``ignore_class`` was given).
        step_ms: median milliseconds per training step (the first ten steps, which include
            tracing, left out).
    """

    model: keras.Model
    params: int
    miou: float
    step_ms: float


def train_row_model(recurrent, images, masks, test_images, test_masks, steps, learning_rate=1e-2, seed=0,
                    ignore_class=None, num_classes=2, batch_size=16):
    """Seed, build :func:`row_model` around ``recurrent``, train it for ``steps`` Adam steps, score it.

    ``gruseg.set_seed(seed)`` comes first, so the convolutions' weights are seeded too (the
    recurrent layer brings its own seeded initialisers, e.g. from
    :func:`gruseg.book.analysis.make_recurrent_layer`); the batches are those of
    :func:`gruseg.book.experiments.fit_steps` with the same ``seed``: two runs with the same seed
    see the same batches in the same order. The loss is sparse cross-entropy, leaving out pixels
    labelled ``ignore_class``.

    Args:
        recurrent: an un-built Keras sequence layer, ``(N, W, filters) -> (N, W, U)``.
        images, masks: training data, (n, H, W, C) floats and (n, H, W) labels.
        test_images, test_masks: the data the score is computed on.
        steps: optimizer steps.
        learning_rate: Adam's learning rate.
        seed: global seed and seed of the batch order.
        ignore_class: None, or the label left out of the loss and the score (:data:`VOID`).
        num_classes: classes of the task.
        batch_size: images per step.

    Returns:
        :class:`RowRun`.
    """
    from gruseg.book.experiments import StepTimer, fit_steps
    from gruseg.metrics import mean_iou
    from gruseg.training import set_seed

    seed = _checks.seed("seed", seed, allow_none=False)
    set_seed(seed)
    model = row_model(recurrent, np.shape(images)[1:], num_classes=num_classes)
    loss = keras.losses.SparseCategoricalCrossentropy(ignore_class=ignore_class)
    timer = StepTimer()
    fit_steps(model, images, masks, steps=steps, learning_rate=learning_rate, batch_size=batch_size, seed=seed,
              loss=loss, callbacks=[timer])
    miou = mean_iou(test_masks, _probabilities(model, test_images).argmax(-1), num_classes, ignore_class=ignore_class)
    times = timer.times[10:] if len(timer.times) > 10 else timer.times
    return RowRun(model, model.count_params(), float(miou), 1000 * float(np.median(times)))


def row_update_gate(model, images):
    """The update gate ``z`` (book's convention) of a :func:`row_model`'s GRU at every pixel.

    Re-runs the model's GRU in NumPy (:func:`gruseg.book.sweeps.row_sweep_states` with the layer's
    weights, :func:`gruseg.gru.gru_weights_from_keras`) on the rows the GRU reads, fetched with
    :func:`gruseg.book.gates.layer_input`.
    ``z`` near 0 copies the state from one pixel to the next; near 1 replaces it by the candidate.

    Args:
        model: a built :func:`row_model` whose recurrent layer is a ``keras.layers.GRU``.
        images: (B, H, W, C) array.

    Returns:
        The ``z`` of the step that read each pixel, a float64 array of shape (B, H, W, U).

    Example:
        >>> from gruseg.book.analysis import make_recurrent_layer
        >>> model = row_model(make_recurrent_layer("gru", 4, update_bias=-3.0, return_sequences=True), (2, 5, 3))
        >>> z = row_update_gate(model, np.zeros((1, 2, 5, 3), "float32"))
        >>> z.shape, bool(np.allclose(z, 1 / (1 + np.exp(3))))
        ((1, 2, 5, 4), True)
    """
    from gruseg.book.gates import layer_input
    from gruseg.book.sweeps import row_sweep_states
    from gruseg.gru import gru_weights_from_keras

    grus = [layer for layer in model.layers if isinstance(layer, keras.layers.GRU)]
    if len(grus) != 1:
        raise ValueError(f"row_update_gate needs a row model with exactly one keras.layers.GRU, found {len(grus)}")
    images = np.asarray(images, "float32")
    rows = layer_input(model, grus[0], images)                   # (B*H, W, filters): the rows the GRU reads
    features = rows.reshape(*images.shape[:2], *rows.shape[1:])  # back to (B, H, W, filters)
    _, gates = row_sweep_states(features.astype("float64"), gru_weights_from_keras(grus[0]), return_gates=True)
    return gates["z"]


def overfit_run(images, masks, val_images, val_masks, regularised, epochs=100, num_classes=4, seed=0,
                dropout=0.3, weight_decay=0.3, batch_size=8, validation_freq=5):
    """Train a small ReSeg on few images, with or without regularisation, recording both losses.

    The model is ``build_reseg(filters=(16, 32), renet_units=(16,), batch_norm=False)``, trained
    by ``model.fit`` with Adam at a learning rate of 1e-2. ``regularised=True`` adds input dropout
    ``dropout`` in the ReNet layer's GRUs, decoupled weight decay ``weight_decay`` (AdamW) and
    random left-right / up-down flips of the training images; otherwise nothing changes (same
    seed, same batches). Batch normalisation is off so that inference-mode losses are comparable
    after a short run.

    Args:
        images, masks: training data, (n, H, W, 3) and (n, H, W).
        val_images, val_masks: validation data.
        regularised: switch the three regularisers on.
        epochs: passes over the training images.
        num_classes: classes of the masks.
        seed: global seed, model seed and shuffling seed.
        dropout, weight_decay: the regularisers' strengths when ``regularised``.
        batch_size: training images per step.
        validation_freq: validate every this many epochs.

    Returns:
        ``(model, history)``: the trained model and ``fit``'s history dict, one entry every
        ``validation_freq`` epochs: ``"loss"``, the mean training loss of those epochs as ``fit``
        measured it while training, and ``"val_loss"`` at their end. (One ``fit`` epoch covers
        ``validation_freq`` passes over the images, which spares ``fit``'s per-epoch overhead.)
    """
    from gruseg.data import to_dataset
    from gruseg.models import build_reseg
    from gruseg.training import compile_segmenter, set_seed

    regularised = _checks.boolean("regularised", regularised)
    seed = _checks.seed("seed", seed, allow_none=False)
    set_seed(seed)
    model = build_reseg(np.shape(images)[1:], num_classes=num_classes, filters=(16, 32), renet_units=(16,),
                        batch_norm=False, dropout=dropout if regularised else 0.0, seed=seed)
    compile_segmenter(model, num_classes, learning_rate=1e-2, weight_decay=weight_decay if regularised else 0.0,
                      metrics=[])
    epochs = _checks.positive_int("epochs", epochs)
    validation_freq = _checks.positive_int("validation_freq", validation_freq)
    if epochs % validation_freq:
        raise ValueError(f"epochs must be a multiple of validation_freq, got {epochs} and {validation_freq}")
    train = to_dataset(images, masks, batch_size=batch_size, shuffle=True, seed=seed, augment=regularised)
    val = to_dataset(val_images, val_masks, batch_size=32)
    history = model.fit(train.repeat(validation_freq), validation_data=val, epochs=epochs // validation_freq,
                        verbose=0, shuffle=False).history
    return model, history


def inference_losses(model, images, masks, val_images, val_masks, num_classes=4):
    """Training and validation cross-entropy measured the same way: inference mode, no augmentation.

    The training loss ``fit`` logs is measured while training (dropout on, flipped images, the
    weights still moving); this one is not, so ``val_loss - train_loss`` is a fair gap.

    Args:
        model: a trained segmenter with probability outputs.
        images, masks: the training data, unflipped.
        val_images, val_masks: validation data.
        num_classes: classes of the masks.

    Returns:
        dict with ``train_loss``, ``val_loss``, ``gap`` (validation minus training) and
        ``val_miou`` (validation mean IoU of the arg-max labels), all floats.
    """
    from gruseg.metrics import mean_iou

    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    train_loss = float(loss_fn(masks, _probabilities(model, images)))
    val_probs = _probabilities(model, val_images)
    val_loss = float(loss_fn(val_masks, val_probs))
    return {"train_loss": train_loss, "val_loss": val_loss, "gap": val_loss - train_loss,
            "val_miou": float(mean_iou(val_masks, val_probs.argmax(-1), num_classes))}
