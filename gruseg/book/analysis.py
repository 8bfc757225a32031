"""Measurements the chapters make on recurrent layers (TensorFlow/Keras; imported only on use).

The main helper, :func:`gradient_norms_through_time`, measures how much the final state of a
recurrent layer still depends on each earlier state (or input): the Jacobian norm

    g(k) = E_batch || d h_T / d h_{T-k} ||_F ,   k = 0, 1, ..., T-1   (distance back in time)

For a vanilla tanh RNN ``d h_T / d h_{T-k}`` is a product of k factors ``diag(1 - h_s^2) W_hh^T``
and typically shrinks geometrically with ``k`` (the vanishing gradient). A GRU whose update gate
``z`` is near 0 (book convention ``h' = (1 - z) h + z h_tilde``) copies its state forward, so
``g(k)`` can stay large; one whose gate sits near 0.5 forgets about half of its state per step
and decays too.
"""

from __future__ import annotations

import numpy as np

from gruseg import _checks

__all__ = ["make_recurrent_layer", "gradient_norms_through_time"]

_KINDS = ("gru", "rnn")


def make_recurrent_layer(kind: str, units: int, seed: int = 0, update_bias: float | None = None,
                         return_sequences: bool = False):
    """A Keras ``GRU`` or ``SimpleRNN`` (tanh) layer with seeded default initialisers.

    Initialisers are Keras' defaults (Glorot-uniform input kernel, orthogonal recurrent kernel,
    zero bias) with ``seed`` fixed, so the same ``seed`` gives the same layer.

    Args:
        kind: ``"gru"`` or ``"rnn"``.
        units: number of hidden units ``U``.
        seed: seed of the weight initialisers.
        update_bias: GRU only. Initial bias of the update gate in the *book's* convention
            (``h' = (1 - z) h + z h_tilde``): a negative value such as ``-4`` makes
            ``z = sigmoid(-4) ~ 0.02``, a gate that stays nearly closed and carries the state.
            Keras' own update gate is ``1 - z``, so its bias block is set to ``-update_bias``.
            ``None`` keeps Keras' zero bias (``z ~ 0.5``).
        return_sequences: passed to the layer.

    Returns:
        An un-built ``keras.layers.GRU`` (``reset_after=True``) or ``keras.layers.SimpleRNN``.

    Example:
        >>> layer = make_recurrent_layer("gru", units=8, update_bias=-4.0)
        >>> layer(np.zeros((2, 5, 1), "float32")).shape
        TensorShape([2, 8])
    """
    import keras

    _checks.choice("kind", kind, _KINDS)
    units = _checks.positive_int("units", units)
    seed = _checks.seed("seed", seed, allow_none=False)
    if update_bias is not None:
        update_bias = _checks.number("update_bias", update_bias)
    if update_bias is not None and kind != "gru":
        raise ValueError(f"update_bias applies to kind='gru' only, got kind={kind!r}")
    init = dict(
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        recurrent_initializer=keras.initializers.Orthogonal(seed=seed + 1),
    )
    if kind == "rnn":
        return keras.layers.SimpleRNN(units, return_sequences=_checks.boolean("return_sequences", return_sequences),
                                      **init)
    bias_init = "zeros"
    if update_bias is not None:
        # Keras bias for reset_after=True is (2, 3U): [input bias; recurrent bias], blocks z, r, h.
        values = np.zeros((2, 3 * units), dtype="float32")
        values[0, :units] = -float(update_bias)
        bias_init = keras.initializers.Constant(values)
    return keras.layers.GRU(units, return_sequences=_checks.boolean("return_sequences", return_sequences),
                            bias_initializer=bias_init, **init)


def gradient_norms_through_time(layer_or_kind="gru", steps: int = 100, units: int = 16, batch: int = 16,
                                seed: int = 0, input_dim: int = 1, x=None, update_bias: float | None = None,
                                wrt: str = "states"):
    """How strongly the final state depends on earlier steps: a Jacobian norm per distance back in time.

    With ``wrt="states"`` (the default) entry ``k`` is ``mean_batch || d h_T / d h_{T-k} ||_F``:
    the product of ``k`` step Jacobians ``d h_s / d h_{s-1}`` that back-propagation through time
    multiplies together (entry 0 is ``||I||_F = sqrt(U)``); a loss on ``h_T`` reaches ``h_{T-k}``
    only through it. With ``wrt="inputs"`` it is ``mean_batch || d h_T / d x_{T-k} ||_F``: how much
    the input read ``k`` steps before the last one still moves the final state.
    Time is 1-based: ``x_1 .. x_T`` are the inputs, ``h_t`` the state after reading ``x_t``.
    The layer's cell is stepped in a Python loop under a ``tf.GradientTape`` and the full
    Jacobian is taken with one backward pass per hidden unit.

    Args:
        layer_or_kind: ``"gru"`` or ``"rnn"`` to build a fresh layer with
            :func:`make_recurrent_layer`, or any Keras ``GRU``/``SimpleRNN``/``LSTM`` layer
            (trained or not; it is built on ``x`` if needed). The initial state is zero.
        steps: sequence length ``T`` (ignored when ``x`` is given).
        units: hidden units when a layer is built here.
        batch: number of sequences averaged over (ignored when ``x`` is given).
        seed: seeds the layer's initialisers and the inputs ``x ~ N(0, 1)``.
        input_dim: features per step ``D`` (ignored when ``x`` is given).
        x: optional (batch, T, D) inputs to measure at instead of random ones.
        update_bias: see :func:`make_recurrent_layer` (only with ``layer_or_kind="gru"``).
        wrt: ``"states"`` or ``"inputs"``, see above.

    Returns:
        A float64 array of shape (T,) indexed by the distance ``k = 0 .. T-1``.

    Example:
        >>> g = gradient_norms_through_time("rnn", steps=30, units=8, batch=4, seed=0)
        >>> g.shape
        (30,)
    """
    import tensorflow as tf

    _checks.choice("wrt", wrt, ("inputs", "states"))
    if isinstance(layer_or_kind, str):
        layer = make_recurrent_layer(layer_or_kind, units, seed=seed, update_bias=update_bias)
    elif update_bias is not None:
        raise ValueError("update_bias is only used when layer_or_kind is 'gru' or 'rnn'; "
                         "set the bias of your own layer before passing it")
    elif hasattr(layer_or_kind, "cell") and hasattr(layer_or_kind, "get_weights"):
        layer = layer_or_kind
    else:
        raise ValueError("layer_or_kind must be 'gru', 'rnn' or a Keras recurrent layer "
                         f"(GRU, SimpleRNN, LSTM), got {layer_or_kind!r}")
    if x is None:
        for name, value in (("steps", steps), ("batch", batch), ("input_dim", input_dim)):
            _checks.positive_int(name, value)
        x = np.random.default_rng(_checks.seed("seed", seed, allow_none=False)).normal(size=(batch, steps, input_dim))
    x = np.asarray(x, dtype="float32")
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"x must be a non-empty 3-D array (batch, time, features), got shape {x.shape}")
    if not layer.built:
        layer(x[:, :1])
    cell = layer.cell
    batch, steps = x.shape[:2]
    units = int(np.atleast_1d(cell.state_size)[0])
    # One backward pass for the whole Jacobian: copy the batch once per hidden unit and pull
    # copy u back through unit u only (the copies are independent sequences).
    x_rep = np.tile(x, (units, 1, 1))                                    # (U*B, T, D)
    pick = np.repeat(np.eye(units, dtype="float32"), batch, axis=0)      # (U*B, U) one-hot rows
    xs = [tf.constant(x_rep[:, t]) for t in range(steps)]
    state = [tf.zeros((units * batch, size)) for size in np.atleast_1d(cell.state_size)]
    hs = []
    with tf.GradientTape() as tape:
        for x_t in xs:
            tape.watch(x_t)
            h, state = cell(x_t, state)
            state = list(state) if isinstance(state, (list, tuple)) else [state]
            hs.append(h)
        picked = tf.reduce_sum(hs[-1] * pick)
    grads = tape.gradient(picked, xs if wrt == "inputs" else hs, unconnected_gradients="zero")
    g = np.stack([gr.numpy().astype("float64") for gr in grads], axis=1)  # (U*B, T, D or U)
    sq = np.sum(np.square(g), axis=-1).reshape(units, batch, steps).sum(axis=0)  # (B, T)
    norms = np.sqrt(sq).mean(axis=0)  # indexed by time t = 1 .. T
    return norms[::-1].copy()          # indexed by distance k = T - t
