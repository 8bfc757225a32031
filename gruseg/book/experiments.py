"""Reusable measurements for the chapter on challenges: cost of a sweep, and fair comparisons.

Two questions the article's section 5 raises, turned into functions that measure instead of assert:

* **Cost on large images.** :func:`sweep_cost` times a 2-D sweep layer (forward, optionally
  forward + backward) at several image sizes and records the size of its output and the number
  of *dependent* recurrent steps, ``H + W`` for a ReNet-style sweep (rows then columns; the two
  directions of each sweep are independent). :func:`time_call` and :func:`layer_step_time` are
  the building blocks.
* **Long-range structure.** :func:`compare_under_budget` trains several models on the same data
  under the same budget -- the same number of optimizer steps, or the same wall-clock seconds --
  and reports test mean IoU next to the steps and seconds each model used, so a comparison states
  exactly what was equal.

Timings depend on the machine and on what else runs on it: report them, compare ratios measured
side by side in one process, and do not assert absolute times.

Example:
    >>> from gruseg.layers import ReNet2D
    >>> rows = sweep_cost(lambda: ReNet2D(4), sizes=(8, 16), channels=2, repeats=1)
    >>> [(r["size"], r["sequential_steps"]) for r in rows]
    [(8, 16), (16, 32)]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from gruseg.book.sweeps import median_time

__all__ = [
    "time_call",
    "sequential_steps",
    "sweep_cost",
    "layer_step_time",
    "RunResult",
    "compare_under_budget",
    "predict_labels",
]


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _positive_number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------------------------
# timing and memory
# --------------------------------------------------------------------------------------------
def time_call(fn, repeats=5, warmup=1):
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls.

    The median, not the mean, so that one call slowed down by another process does not move the
    result much. ``fn`` should block until its work is done (convert a tensor result to NumPy
    inside ``fn`` if the backend could run asynchronously).

    Args:
        fn: callable with no arguments.
        repeats: positive int, timed calls.
        warmup: non-negative int, untimed calls first (tracing, caches).

    Returns:
        float, median seconds per call.

    Example:
        >>> time_call(lambda: sum(range(1000)), repeats=3) >= 0.0
        True
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {fn!r}")
    return float(median_time(fn, repeats=repeats, warmup=warmup))


def sequential_steps(height, width):
    """Dependent recurrent steps of one ReNet-style 2-D sweep over an ``height x width`` map.

    The row sweep runs all rows at once (rows as the batch) but must take ``width`` steps one
    after another; the column sweep then takes ``height`` steps. The forward and backward
    directions do not depend on each other, so they add no depth::

        depth = W + H

    A stack of ``L`` convolutions has depth ``L`` whatever the image size.

    Example:
        >>> sequential_steps(64, 64)
        128
    """
    return _positive_int("height", height) + _positive_int("width", width)


def _as_numpy(out):
    return out.numpy() if hasattr(out, "numpy") else np.asarray(out)


def _layer_fn(layer, x, backward):
    """A compiled forward (+ backward) call of ``layer`` on ``x`` that returns a NumPy scalar."""
    import tensorflow as tf

    layer(x[:1, : min(2, x.shape[1]), : min(2, x.shape[2])])  # build the weights once
    weights = layer.trainable_variables

    @tf.function(reduce_retracing=True)
    def forward(t):
        return tf.reduce_sum(tf.square(layer(t, training=True)))

    @tf.function(reduce_retracing=True)
    def forward_backward(t):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(layer(t, training=True)))
        grads = tape.gradient(loss, weights)
        return loss + tf.add_n([tf.reduce_sum(g) for g in grads]) * 0.0

    step = forward_backward if backward else forward
    tensor = tf.constant(x)
    return lambda: _as_numpy(step(tensor))


def layer_step_time(layer, input_shape, backward=True, repeats=5, seed=0):
    """Median seconds of one forward (+ backward) pass of a layer on random input.

    The pass is wrapped in a ``tf.function`` (traced once during warm-up, not timed). With
    ``backward=True`` it also computes the gradients of ``sum(y**2)`` with respect to the layer's
    weights, the work one training step adds.

    Args:
        layer: a Keras layer taking ``(B, H, W, C)`` input (built on first call if needed).
        input_shape: ``(B, H, W, C)``, all positive ints.
        backward: also time the gradient.
        repeats: positive int, timed calls (median reported).
        seed: integer seed of the random input.

    Returns:
        float, median seconds per pass.

    Example:
        >>> from gruseg.layers import ReNet2D
        >>> layer_step_time(ReNet2D(4), (1, 8, 8, 2), repeats=1) > 0
        True
    """
    input_shape = tuple(_positive_int("input_shape entries", v) for v in input_shape)
    if len(input_shape) != 4:
        raise ValueError(f"input_shape must be (batch, height, width, channels), got {input_shape!r}")
    x = np.random.default_rng(seed).normal(size=input_shape).astype("float32")
    return time_call(_layer_fn(layer, x, backward), repeats=repeats, warmup=1)


def sweep_cost(make_layer, sizes=(32, 64, 128, 256), channels=8, batch=1, backward=False, repeats=3,
               seed=0):
    """Time and memory of one 2-D sweep layer as the (square) image grows.

    One layer is built by ``make_layer()`` and used at every size (its ``tf.function`` is traced
    once per size, during an untimed warm-up).

    Memory is reported as ``output_bytes``, the size of the layer's float32 output, not as a
    measured peak: on CPU TensorFlow keeps no allocator statistics, and the process' resident
    size was too noisy to compare (allocators keep and reuse freed blocks). Every tensor a
    sweep stores for the backward pass (hidden states and gates of each direction at every
    pixel) is a small multiple of it, so it shows how training memory grows.

    Args:
        make_layer: callable returning a Keras layer ``(B, H, W, C) -> (B, H, W, D)``, e.g.
            ``lambda: ReNet2D(16)``.
        sizes: increasing positive ints, image height = width in pixels.
        channels: input channels ``C``.
        batch: images per call ``B``.
        backward: time forward + backward (a training step's work) instead of forward only.
        repeats: timed calls per size (median reported).
        seed: integer seed of the random inputs.

    Returns:
        list of dicts, one per size, with keys ``size``, ``pixels`` (``size**2``), ``seconds``
        (median per call), ``seconds_per_pixel``, ``output_bytes`` (float32 output of one call)
        and ``sequential_steps`` (``2 * size``, see :func:`sequential_steps`).

    Example:
        >>> from gruseg.layers import ReNet2D
        >>> rows = sweep_cost(lambda: ReNet2D(4), sizes=(8,), channels=2, repeats=1)
        >>> sorted(rows[0])
        ['output_bytes', 'pixels', 'seconds', 'seconds_per_pixel', 'sequential_steps', 'size']
    """
    if not callable(make_layer):
        raise ValueError(f"make_layer must be callable (e.g. lambda: ReNet2D(16)), got {make_layer!r}")
    sizes = [_positive_int("sizes entries", s) for s in sizes]
    if not sizes or sizes != sorted(sizes):
        raise ValueError(f"sizes must be a non-empty increasing sequence of positive ints, got {sizes!r}")
    channels = _positive_int("channels", channels)
    batch = _positive_int("batch", batch)
    layer = make_layer()
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        x = rng.normal(size=(batch, size, size, channels)).astype("float32")
        fn = _layer_fn(layer, x, backward)
        seconds = time_call(fn, repeats=repeats, warmup=1)
        out_shape = layer.compute_output_shape(x.shape)
        rows.append({
            "size": size,
            "pixels": size * size,
            "seconds": seconds,
            "seconds_per_pixel": seconds / (size * size),
            "output_bytes": int(np.prod(out_shape)) * 4,
            "sequential_steps": sequential_steps(size, size),
        })
    return rows


# --------------------------------------------------------------------------------------------
# equal-budget comparison
# --------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """What one model reached under a budget (see :func:`compare_under_budget`).

    Attributes:
        name: the model's key in ``builders``.
        model: the trained ``keras.Model``.
        params: number of parameters (trainable and not).
        steps: optimizer steps taken.
        seconds: wall-clock seconds of training (first-call tracing included).
        seconds_per_step: median seconds of one step after the first (tracing excluded).
        mean_iou: test mean IoU, :func:`gruseg.metrics.mean_iou`.
        iou_per_class: list of per-class test IoU.
        loss: training loss after every step (list of floats).
        predictions: predicted test labels ``(n, H, W)`` uint8.
    """

    name: str
    model: object = field(repr=False)
    params: int
    steps: int
    seconds: float
    seconds_per_step: float
    mean_iou: float
    iou_per_class: list
    loss: list = field(repr=False)
    predictions: np.ndarray = field(repr=False)


class _StepClock:
    """Keras callback: per-step loss and wall-clock time; stops after a time budget if given."""

    def __new__(cls, seconds=None):
        import keras

        class StepClock(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.start = None
                self.ends, self.losses = [], []

            def on_train_begin(self, logs=None):
                if self.start is None:
                    self.start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                self.ends.append(time.perf_counter())
                self.losses.append(float((logs or {}).get("loss", np.nan)))
                if seconds is not None and self.ends[-1] - self.start >= seconds:
                    self.model.stop_training = True

        return StepClock()


def predict_labels(model, images, batch_size=64):
    """Arg-max class of every pixel: ``(n, H, W, C)`` images -> ``(n, H, W)`` uint8 labels.

    Calls the model directly on batches (``training=False``) instead of ``model.predict``:
    no per-model ``tf.function`` to trace, so comparing several models in one process neither
    pays that tracing nor triggers TensorFlow's retracing warnings.

    Example:
        >>> from gruseg.models import build_unet
        >>> predict_labels(build_unet((16, 16, 3), 2, depth=1), np.zeros((3, 16, 16, 3))).shape
        (3, 16, 16)
    """
    batch_size = _positive_int("batch_size", batch_size)
    images = np.asarray(images, dtype=np.float32)
    out = [np.argmax(_as_numpy(model(images[i:i + batch_size], training=False)), axis=-1)
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.uint8)


def _check_data(data):
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise ValueError(
            "data must be a tuple (train_images, train_masks, test_images, test_masks), "
            f"got {type(data).__name__} of length {len(data) if hasattr(data, '__len__') else '?'}")
    x, y, xt, yt = (np.asarray(a) for a in data)
    for name, images, masks in (("train", x, y), ("test", xt, yt)):
        if images.ndim != 4 or masks.shape != images.shape[:3]:
            raise ValueError(
                f"data {name} images must be (n, H, W, C) and masks (n, H, W) with the same n, H, W; "
                f"got {images.shape} and {masks.shape}")
    return x, y, xt, yt


def compare_under_budget(builders, data, steps=None, seconds=None, seed=0, batch_size=16,
                         learning_rate=1e-3, num_classes=None, predict_batch_size=64):
    """Train every model on the same data under the same budget and evaluate on the same test set.

    Exactly one of ``steps`` (every model takes that many Adam steps: reproducible, but a slower
    model gets more wall-clock time) or ``seconds`` (every model trains until that much wall-clock
    time has passed: fair in time, but noisy on a shared machine) must be given. Each model sees
    the same shuffled batches (``to_dataset(..., shuffle=True, seed=seed)``), starts from
    ``set_seed(seed)``, and is compiled with Adam and sparse categorical cross-entropy (no extra
    metrics, so that training time is the model's own). Test predictions are the arg-max class.

    Args:
        builders: dict ``name -> callable`` returning an uncompiled ``keras.Model`` with
            probability outputs ``(B, H, W, num_classes)``, e.g. ``lambda: build_unet((64, 64, 3))``.
        data: ``(train_images, train_masks, test_images, test_masks)``; images ``(n, H, W, C)``,
            masks ``(n, H, W)`` integer labels.
        steps: positive int, optimizer steps per model; or None.
        seconds: positive float, wall-clock training seconds per model (checked after every
            step, so the last step may overrun); or None.
        seed: integer seed for initial weights, shuffling and dropout.
        batch_size: positive int.
        learning_rate: Adam's learning rate.
        num_classes: number of classes; default: the model's last output dimension.
        predict_batch_size: batch size for the test predictions.

    Returns:
        dict ``name -> RunResult`` in the order of ``builders``.

    Example:
        >>> from gruseg.data import make_long_range
        >>> from gruseg.models import build_unet
        >>> x, y = make_long_range(12, size=16, seed=0)
        >>> out = compare_under_budget({"unet": lambda: build_unet((16, 16, 3), base_filters=2, depth=1)},
        ...                            (x[:8], y[:8], x[8:], y[8:]), steps=2, batch_size=4)
        >>> out["unet"].steps
        2
    """
    import keras

    from gruseg.data.pipeline import to_dataset
    from gruseg.metrics import iou_per_class
    from gruseg.training import set_seed

    if not isinstance(builders, dict) or not builders:
        raise ValueError(f"builders must be a non-empty dict name -> callable returning a model, got {builders!r}")
    for name, builder in builders.items():
        if not callable(builder):
            raise ValueError(f"builders[{name!r}] must be callable (e.g. a lambda building the model), got {builder!r}")
    if (steps is None) == (seconds is None):
        raise ValueError(f"give exactly one of steps or seconds, got steps={steps!r}, seconds={seconds!r}")
    if steps is not None:
        steps = _positive_int("steps", steps)
    if seconds is not None:
        seconds = _positive_number("seconds", seconds)
    seed = _non_negative_int("seed", seed)
    batch_size = _positive_int("batch_size", batch_size)
    learning_rate = _positive_number("learning_rate", learning_rate)
    predict_batch_size = _positive_int("predict_batch_size", predict_batch_size)
    x, y, xt, yt = _check_data(data)

    results = {}
    for name, builder in builders.items():
        set_seed(seed)
        model = builder()
        classes = num_classes or model.output_shape[-1]
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy())
        ds = to_dataset(x, y, batch_size=batch_size, shuffle=True, seed=seed).repeat()
        clock = _StepClock(seconds)
        # One fit call: a new fit would restart the dataset's iterator (same batches again).
        # With a time budget the callback stops training after the step that used it up.
        model.fit(ds, steps_per_epoch=steps or 10**9, epochs=1, verbose=0, shuffle=False,
                  callbacks=[clock])
        gaps = np.diff(clock.ends)
        pred = predict_labels(model, xt, batch_size=predict_batch_size)
        iou = iou_per_class(yt, pred, classes)
        results[name] = RunResult(
            name=name, model=model, params=int(model.count_params()), steps=len(clock.ends),
            seconds=float(clock.ends[-1] - clock.start) if clock.ends else 0.0,
            seconds_per_step=float(np.median(gaps)) if gaps.size else float("nan"),
            mean_iou=float(np.nanmean(iou)), iou_per_class=[float(v) for v in iou],
            loss=clock.losses, predictions=pred,
        )
    return results
