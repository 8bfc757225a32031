"""Mini-batch stochastic gradient descent written out: the loop that ``model.fit`` runs.

The article's FAQ asks how to do "batch gradient descent" for a GRU and answers "use the
framework's built-in". The words need care:

* **full-batch gradient descent** takes one step per pass over the data, along the gradient of the
  loss averaged over *all* ``N`` training examples;
* **mini-batch stochastic gradient descent (SGD)** takes one step per *batch* of ``b`` examples
  (``N / b`` steps per epoch), along the gradient of that batch's mean loss, a noisy but cheap
  estimate of the full gradient. This is what ``model.fit(..., batch_size=b)`` does, whatever
  the optimizer (SGD, Adam, ...); full-batch descent is the special case ``b = N``.

:func:`train_with_gradient_tape` is that loop in plain TensorFlow. For every batch ``B``::

    L_B(theta) = mean over the batch's elements of loss(y, f_theta(x))  +  sum of the model's
                 extra losses (weight regularisers, ``add_loss``)
    g          = dL_B / dtheta                      (tf.GradientTape, reverse-mode autodiff)
    theta      = optimizer update of theta with g    (plain SGD: theta - learning_rate * g)

Given the same initial weights, batches and optimizer it produces the same weights as
``model.fit`` (up to float rounding), and the same per-epoch loss: Keras reports the mean of the
batch losses weighted by the number of examples in each batch.

TensorFlow is imported when the function is called, not at import.
"""

from __future__ import annotations

import math

import numpy as np

from gruseg import _checks

__all__ = ["train_with_gradient_tape", "max_weight_difference"]


def _resolve_optimizer(optimizer):
    import keras

    if optimizer is None:
        return keras.optimizers.SGD(learning_rate=0.01)
    if isinstance(optimizer, str):
        try:
            return keras.optimizers.get(optimizer)
        except ValueError:
            raise ValueError(
                f"optimizer must be a keras.optimizers.Optimizer or a Keras optimizer name such as "
                f"'sgd' or 'adam', got {optimizer!r}") from None
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(
            f"optimizer must be a keras.optimizers.Optimizer or a Keras optimizer name such as 'sgd', "
            f"got {type(optimizer).__name__}")
    return optimizer


def _resolve_loss(loss):
    """A callable ``(y_true, y_pred) -> scalar``: Keras Loss objects reduce themselves; a plain loss
    function (or a name) gives per-element values, reduced here by the mean, as ``compile`` does."""
    import keras
    from keras import ops

    if loss is None:
        return keras.losses.SparseCategoricalCrossentropy()
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError:
            raise ValueError(
                f"loss must be a keras.losses.Loss, a callable or a Keras loss name such as "
                f"'sparse_categorical_crossentropy', got {loss!r}") from None
    if isinstance(loss, keras.losses.Loss):
        return loss
    if not callable(loss):
        raise ValueError(f"loss must be a keras.losses.Loss, a callable or a Keras loss name, got {loss!r}")
    fn = loss

    def mean_loss(y_true, y_pred):
        return ops.mean(fn(y_true, y_pred))

    return mean_loss


def _split_batch(batch):
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        got = f"a {len(batch)}-tuple" if isinstance(batch, (tuple, list)) else type(batch).__name__
        raise ValueError(f"dataset must yield (x, y) pairs, got {got}")
    return batch


def train_with_gradient_tape(model, dataset, epochs=1, optimizer=None, loss=None, seed=None):
    """Train ``model`` with mini-batch gradient descent, one ``tf.GradientTape`` step per batch.

    The loop ``model.fit`` runs, written out. For every batch ``(x, y)`` of ``dataset``, in order::

        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            L = loss(y, y_pred) + sum(model.losses)       # model.losses: regularisers, add_loss
        g = tape.gradient(L, model.trainable_variables)
        optimizer.apply_gradients(zip(g, model.trainable_variables))   # SGD: theta -= lr * g

    One epoch is one pass over ``dataset``; each batch is one update, so an epoch of ``N`` examples
    in batches of ``b`` is ``ceil(N / b)`` updates (``b = N``: full-batch gradient descent).
    The step is compiled once with ``tf.function`` (a smaller last batch traces it a second time).
    The recorded loss is the value *before* each update, as ``model.fit`` records it.

    Args:
        model: a built ``keras.Model`` (compiled or not; its compiled optimizer and loss are NOT
            used: pass them here).
        dataset: a re-iterable of ``(x, y)`` batches, e.g. a ``tf.data.Dataset`` from
            :func:`gruseg.data.pipeline.to_dataset`. It is iterated once per epoch, in its own order: to
            compare with ``model.fit``, do not shuffle (or shuffle identically in both).
        epochs: positive int, passes over ``dataset``.
        optimizer: a ``keras.optimizers.Optimizer`` or name (``"sgd"``, ``"adam"``, ...); default
            ``keras.optimizers.SGD(learning_rate=0.01)``. It keeps its state between calls.
        loss: a ``keras.losses.Loss``, a name, or a callable ``(y_true, y_pred)`` whose result is
            averaged; default ``keras.losses.SparseCategoricalCrossentropy()`` (sparse integer
            masks ``(B, H, W)`` against probabilities ``(B, H, W, C)``).
        seed: None, or an int passed to :func:`gruseg.training.set_seed` before the first step
            (seeds Python, NumPy and TensorFlow, deterministic kernels). Keras layers that draw
            random numbers (``Dropout``, a GRU's ``dropout``) fix their own seed when they are
            built: to repeat a run with dropout exactly, also build the model after seeding (or
            give those layers a ``seed``).

    Returns:
        dict with ``"loss"`` (one float per epoch: the batch losses' mean weighted by batch
        size, Keras' ``history["loss"]``), ``"epoch"`` (1-based epoch numbers) and
        ``"batch_loss"`` (one float per update, in order).

    Raises:
        ValueError: ``epochs`` not a positive int, an unknown optimizer or loss, a dataset that
            does not yield ``(x, y)`` pairs or yields nothing.

    Example:
        >>> import keras, tensorflow as tf
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        >>> ds = tf.data.Dataset.from_tensor_slices((np.ones((8, 4), "float32"), np.zeros(8, "int32"))).batch(4)
        >>> history = train_with_gradient_tape(model, ds, epochs=2, optimizer=keras.optimizers.SGD(0.1))
        >>> len(history["loss"]), len(history["batch_loss"])
        (2, 4)
    """
    import tensorflow as tf

    epochs = _checks.positive_int("epochs", epochs)
    seed = _checks.seed("seed", seed)
    if not hasattr(model, "trainable_variables") or not callable(model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}")
    optimizer = _resolve_optimizer(optimizer)
    loss_fn = _resolve_loss(loss)
    if seed is not None:
        from gruseg.training import set_seed

        set_seed(seed)

    def step(x, y):
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            batch_loss = loss_fn(y, y_pred)
            if model.losses:                             # regularisation terms, as fit adds them
                batch_loss = batch_loss + tf.add_n([tf.cast(tf.reduce_sum(v), batch_loss.dtype)
                                                    for v in model.losses])
        variables = model.trainable_variables
        gradients = tape.gradient(batch_loss, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return batch_loss

    step = tf.function(step, reduce_retracing=True)     # one compiled step for this model

    history = {"loss": [], "epoch": [], "batch_loss": []}
    for epoch in range(1, epochs + 1):
        total, count = 0.0, 0
        for batch in dataset:
            x, y = _split_batch(batch)
            value = float(step(x, y))
            size = int(tf.shape(tf.nest.flatten(x)[0])[0])
            total += value * size
            count += size
            history["batch_loss"].append(value)
        if count == 0:
            raise ValueError("dataset yielded no batches; it must be re-iterable (e.g. a tf.data.Dataset, "
                             "not a generator that is used up after the first epoch)")
        history["loss"].append(total / count if math.isfinite(total) else float("nan"))
        history["epoch"].append(epoch)
    return history


def max_weight_difference(a, b) -> float:
    """Largest absolute difference between the weights of two models: ``max_i max |w_i(a) - w_i(b)|``.

    The weights are compared in ``get_weights()`` order, so ``a`` and ``b`` must have the same
    architecture (e.g. one a ``keras.models.clone_model`` of the other). Zero means the two are the
    same function; after training two copies along the same path (the same start, batches and
    updates) it is float rounding, about 1e-7 to 1e-6 in float32.

    Args:
        a, b: Keras models (or layers), or lists of weight arrays.

    Returns:
        A Python float.

    Raises:
        ValueError: the two do not have the same number of weights, or weights of different shapes.

    Example:
        >>> max_weight_difference([np.zeros((2, 3)), np.ones(3)], [np.zeros((2, 3)), np.full(3, 1.5)])
        0.5
    """
    weights_a = a.get_weights() if hasattr(a, "get_weights") else list(a)
    weights_b = b.get_weights() if hasattr(b, "get_weights") else list(b)
    if len(weights_a) != len(weights_b):
        raise ValueError(f"a and b must have the same number of weights, got {len(weights_a)} and {len(weights_b)}")
    largest = 0.0
    for i, (wa, wb) in enumerate(zip(weights_a, weights_b, strict=True)):
        wa, wb = np.asarray(wa), np.asarray(wb)
        if wa.shape != wb.shape:
            raise ValueError(f"weight {i} has shape {wa.shape} in a and {wb.shape} in b")
        if wa.size:
            largest = max(largest, float(np.max(np.abs(wa.astype(np.float64) - wb.astype(np.float64)))))
    return largest
