"""Reusable measurements for chapters 5 and 6: timings, the cost of a sweep, short training runs
and fair comparisons.

* **Timing.** :func:`median_time` times any call; :func:`layer_step_time` one forward (+ backward)
  pass of a layer; :class:`StepTimer` every step of a ``model.fit``.
* **Cost on large images.** :func:`sweep_cost` times a 2-D sweep layer (forward, optionally
  forward + backward) at several image sizes and records the size of its output and the number
  of *dependent* recurrent steps, ``H + W`` for a ReNet-style sweep (rows then columns; the two
  directions of each sweep are independent, :func:`sequential_steps`).
* **Short runs and long-range structure.** :func:`fit_steps` trains a model for a fixed number of
  Adam steps on shuffled batches; :func:`compare_under_budget` trains several models on the same
  data under the same budget -- the same number of optimizer steps, or the same wall-clock
  seconds -- and reports test mean IoU next to the steps and seconds each model used, so a
  comparison states exactly what was equal.

Timings depend on the machine and on what else runs on it: report them, compare ratios measured
side by side in one process, and do not assert absolute times.

Example:
    >>> from gruseg.layers import ReNet2D
    >>> rows = sweep_cost(lambda: ReNet2D(4), sizes=(8, 16), channels=2, repeats=1)
    >>> [(r["size"], r["sequential_steps"]) for r in rows]
    [(8, 16), (16, 32)]
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from gruseg import _checks

__all__ = [
    "median_time",
    "sequential_steps",
    "sweep_cost",
    "layer_step_time",
    "StepTimer",
    "fit_steps",
    "RunResult",
    "compare_under_budget",
]


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------
def median_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls.

    The median, not the mean, so that one call slowed down by another process on a shared
    machine does not move the result much. ``fn`` should block until its work is done (convert a
    tensor result to NumPy inside ``fn`` if the backend could run asynchronously).

    Args:
        fn: a function of no arguments.
        repeats: timed calls (a positive integer).
        warmup: untimed calls first (builds layers, traces graphs; a non-negative integer).

    Returns:
        Seconds, a float.

    Example:
        >>> calls = []
        >>> seconds = median_time(lambda: calls.append(1), repeats=3, warmup=2)
        >>> len(calls)
        5
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {fn!r}")
    repeats = _checks.positive_int("repeats", repeats)
    warmup = _checks.non_negative_int("warmup", warmup)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(statistics.median(times))


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
    return _checks.positive_int("height", height) + _checks.positive_int("width", width)


def _layer_fn(layer, x, backward):
    """A compiled forward (+ backward) call of ``layer`` on ``x`` that returns a NumPy scalar."""
    import tensorflow as tf

    layer(x[:1, : min(2, x.shape[1]), : min(2, x.shape[2])])  # build the weights once
    weights = layer.trainable_variables
    if backward and not weights:
        raise ValueError(f"backward=True times the gradient with respect to the layer's weights, but "
                         f"{type(layer).__name__} has no trainable weights; use backward=False")

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
    return lambda: keras.ops.convert_to_numpy(step(tensor))


def layer_step_time(layer, input_shape, backward=True, repeats=5, seed=0):
    """Median seconds of one forward (+ backward) pass of a layer on random input.

    The pass is wrapped in a ``tf.function`` (traced once during warm-up, not timed). With
    ``backward=True`` it also computes the gradients of ``sum(y**2)`` with respect to the layer's
    weights, the work one training step adds.

    Args:
        layer: a Keras layer taking ``(B, H, W, C)`` input (built on first call if needed).
        input_shape: ``(B, H, W, C)``, all positive ints.
        backward: also time the gradient (the layer must have trainable weights).
        repeats: positive int, timed calls (median reported).
        seed: integer seed of the random input.

    Returns:
        float, median seconds per pass.

    Example:
        >>> from gruseg.layers import ReNet2D
        >>> seconds = layer_step_time(ReNet2D(4), (1, 8, 8, 2), repeats=1)
    """
    input_shape = _checks.int_tuple("input_shape", input_shape, minimum=1, length=4)  # (B, H, W, C)
    x = np.random.default_rng(_checks.seed("seed", seed, allow_none=False)).normal(size=input_shape)
    return median_time(_layer_fn(layer, x.astype("float32"), _checks.boolean("backward", backward)),
                       repeats=repeats, warmup=1)


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
    sizes = list(_checks.int_tuple("sizes", sizes, minimum=1))
    if sizes != sorted(set(sizes)):
        raise ValueError(f"sizes must be increasing, got {sizes!r}")
    channels = _checks.positive_int("channels", channels)
    batch = _checks.positive_int("batch", batch)
    backward = _checks.boolean("backward", backward)
    layer = make_layer()
    rng = np.random.default_rng(_checks.seed("seed", seed, allow_none=False))
    rows = []
    for size in sizes:
        x = rng.normal(size=(batch, size, size, channels)).astype("float32")
        seconds = median_time(_layer_fn(layer, x, backward), repeats=repeats, warmup=1)
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
# short training runs
# --------------------------------------------------------------------------------------------
class StepTimer(keras.callbacks.Callback):
    """Keras callback: the wall-clock time and logged loss of every training step.

    With ``seconds`` it also stops training after the first step that ends when that much time
    has passed since training began (a time budget; the last step may overrun).

    Args:
        seconds: None, or a positive number of seconds after which to stop training.

    Attributes:
        start: ``time.perf_counter()`` when training began (the first ``fit`` call).
        times: seconds from the start to the end of every step (the step's own work; the first
            few include tracing).
        ends: ``time.perf_counter()`` at the end of every step (``np.diff(ends)`` is the time
            between steps, data loading included).
        losses: the loss Keras logs at the end of every step. Keras 3 logs the mean over the
            epoch so far, not the loss of that batch alone.

    Example:
        >>> timer = StepTimer(seconds=30.0)
        >>> timer.times, timer.seconds
        ([], 30.0)
    """

    def __init__(self, seconds=None):
        super().__init__()
        self.seconds = None if seconds is None else _checks.positive_number("seconds", seconds)
        self.start = None
        self.times, self.ends, self.losses = [], [], []
        self._step_start = None

    def on_train_begin(self, logs=None):
        if self.start is None:
            self.start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.times.append(now - self._step_start)
        self.ends.append(now)
        self.losses.append(float((logs or {}).get("loss", np.nan)))
        if self.seconds is not None and now - self.start >= self.seconds:
            self.model.stop_training = True


def fit_steps(model, images, masks, steps, learning_rate=1e-3, batch_size=16, seed=0, loss=None,
              callbacks=()):
    """Compile ``model`` with Adam and train it for exactly ``steps`` optimizer steps, in one ``fit``.

    The batches are ``to_dataset(images, masks, batch_size, shuffle=True, seed=seed).repeat()``,
    so every model trained with the same ``seed`` sees the same batches in the same order (one
    ``fit`` call: a second call would start the data again from the first batch). No metrics are
    compiled, so the time per step is the model's own.

    Args:
        model: an uncompiled (or to be recompiled) ``keras.Model`` with probability outputs
            ``(B, H, W, num_classes)``.
        images: (n, H, W, C) float array.
        masks: (n, H, W) integer labels.
        steps: positive int, optimizer steps (a callback such as ``StepTimer(seconds=...)`` may
            stop training earlier).
        learning_rate: Adam's learning rate.
        batch_size: images per step.
        seed: seed of the shuffling.
        loss: a Keras loss; default ``keras.losses.SparseCategoricalCrossentropy()`` (e.g. pass
            one with ``ignore_class=255`` for unlabelled pixels).
        callbacks: Keras callbacks for ``fit``.

    Returns:
        ``model``, trained.

    Example:
        >>> from gruseg.models import build_unet
        >>> from gruseg.data import make_shapes
        >>> images, masks = make_shapes(4, size=16, seed=0)
        >>> timer = StepTimer()
        >>> _ = fit_steps(build_unet((16, 16, 3), 4, base_filters=2, depth=1), images, masks, steps=3,
        ...               batch_size=2, callbacks=[timer])
        >>> len(timer.times)
        3
    """
    from gruseg.data import to_dataset

    steps = _checks.positive_int("steps", steps)
    learning_rate = _checks.positive_number("learning_rate", learning_rate)
    batch_size = _checks.positive_int("batch_size", batch_size)
    seed = _checks.seed("seed", seed, allow_none=False)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=loss if loss is not None else keras.losses.SparseCategoricalCrossentropy())
    data = to_dataset(images, masks, batch_size=batch_size, shuffle=True, seed=seed).repeat()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False, callbacks=list(callbacks))
    return model


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
        seconds_per_step: median seconds between the ends of two steps after the first
            (tracing excluded).
        mean_iou: test mean IoU, :func:`gruseg.metrics.mean_iou` of ``predictions``.
        iou_per_class: list of per-class test IoU.
        loss: the training loss Keras logged after every step (list of floats; in Keras 3 the
            mean over the run so far, see :class:`StepTimer`).
        predictions: predicted test labels ``(n, H, W)``.
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
    time has passed: fair in time, but noisy on a shared machine) must be given. Each model starts
    from ``set_seed(seed)`` and is trained by :func:`fit_steps` (the same shuffled batches, Adam,
    sparse categorical cross-entropy, no extra metrics), timed by a :class:`StepTimer`. Test
    predictions are the arg-max class (:func:`gruseg.inference.predict_labels`).

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
    from gruseg.inference import predict_labels
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
        steps = _checks.positive_int("steps", steps)
    if seconds is not None:
        seconds = _checks.positive_number("seconds", seconds)
    seed = _checks.seed("seed", seed, allow_none=False)
    batch_size = _checks.positive_int("batch_size", batch_size)
    learning_rate = _checks.positive_number("learning_rate", learning_rate)
    predict_batch_size = _checks.positive_int("predict_batch_size", predict_batch_size)
    x, y, xt, yt = _check_data(data)

    results = {}
    for name, builder in builders.items():
        set_seed(seed)
        model = builder()
        classes = num_classes or model.output_shape[-1]
        timer = StepTimer(seconds)
        # With a time budget the timer stops training after the step that used it up.
        fit_steps(model, x, y, steps=steps if steps is not None else 10**9, learning_rate=learning_rate,
                  batch_size=batch_size, seed=seed, callbacks=[timer])
        gaps = np.diff(timer.ends)
        pred = predict_labels(model, xt, batch_size=predict_batch_size)
        iou = iou_per_class(yt, pred, classes)
        results[name] = RunResult(
            name=name, model=model, params=int(model.count_params()), steps=len(timer.ends),
            seconds=float(timer.ends[-1] - timer.start) if timer.ends else 0.0,
            seconds_per_step=float(np.median(gaps)) if gaps.size else float("nan"),
            mean_iou=float(np.nanmean(iou)), iou_per_class=[float(v) for v in iou],
            loss=timer.losses, predictions=pred,
        )
    return results
