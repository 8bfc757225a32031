"""Gate activations of a trained GRU sweep, per pixel, read with the NumPy GRU.

A Keras ``GRU`` returns hidden states, never its gates. To see what the update gate ``z`` does
inside a trained :class:`~gruseg.layers.ReNet2D`, this module

1. gets the feature map the layer receives (:func:`layer_input`),
2. reads the weights of its row sweep into the book's convention
   (:func:`gruseg.gru.gru_weights_from_keras`), and
3. re-runs that sweep in NumPy with :func:`gruseg.book.sweeps.row_sweep_states` (built on
   :func:`gruseg.gru.gru_sequence`), which returns, for every row ``i`` and column ``j``, the
   gates of the step that read pixel ``(i, j)`` (:func:`row_sweep_gates`)::

       z       = sigmoid(x W_xz + h W_hz + b_z)       update gate: how much of the candidate to take
       r       = sigmoid(x W_xr + h W_hr + b_r)       reset gate
       h_tilde = tanh(x W_xh + r * (h W_hh + b_hh) + b_h)
       h_new   = (1 - z) * h + z * h_tilde

The NumPy states can be checked against what the Keras layer itself computes
(:func:`keras_row_sweep`); when they agree, the gate maps are the real gates of the trained layer.

Only the **row** sweep is covered: its input is a plain feature map. (The column sweep's input is
the row sweep's output, which :func:`keras_row_sweep` also provides.)

Example:
    >>> from gruseg.models import build_reseg
    >>> model = build_reseg((32, 32, 3), 2, seed=0)
    >>> images = np.random.default_rng(0).random((2, 32, 32, 3))
    >>> x = layer_input(model, "renet1", images)
    >>> x.shape
    (2, 8, 8, 32)
    >>> gates = row_sweep_gates(model.get_layer("renet1"), x)
    >>> gates["z"].mean(axis=-1).shape                    # the update gate per pixel
    (2, 8, 8)
"""

from __future__ import annotations

import keras
import numpy as np

from gruseg import _checks
from gruseg.book.sweeps import _as_feature_map, row_sweep_states, rows_as_batch
from gruseg.gru import gru_weights_from_keras

__all__ = ["layer_input", "row_sweep_gates", "keras_row_sweep", "DIRECTIONS"]

DIRECTIONS = ("forward", "backward")
"""The two directions of a row sweep; ``"forward"`` reads left to right, ``"backward"`` right to left."""


def _row_gru(layer, direction):
    """The ``keras.layers.GRU`` that sweeps rows in ``direction``.

    Accepts a :class:`~gruseg.layers.ReNet2D` (its ``row_gru`` Bidirectional), a
    :class:`~gruseg.layers.RowGRU2D` (its ``gru``, forward only) or a ``keras.layers.Bidirectional``.
    """
    _checks.choice("direction", direction, DIRECTIONS)
    bidirectional = getattr(layer, "row_gru", None)
    if bidirectional is None and hasattr(layer, "forward_layer"):
        bidirectional = layer
    if bidirectional is not None:
        return bidirectional.forward_layer if direction == "forward" else bidirectional.backward_layer
    gru = getattr(layer, "gru", None)
    if gru is not None:
        if direction != "forward":
            raise ValueError(f"{type(layer).__name__} sweeps rows left to right only; use direction='forward', "
                             f"got {direction!r}")
        return gru
    raise ValueError(f"layer must be a ReNet2D, a RowGRU2D or a keras.layers.Bidirectional, got {type(layer).__name__}")


def layer_input(model, layer, images, batch_size: int = 32):
    """The tensor that ``layer`` of a functional ``model`` receives when ``model`` sees ``images``.

    Builds ``keras.Model(model.inputs, layer.input)`` and runs it in inference mode (batch norm
    uses its moving statistics, dropout is off), ``batch_size`` images at a time.

    Args:
        model: a functional ``keras.Model`` (e.g. from :func:`gruseg.models.build_reseg`).
        layer: the layer, or its name (``"renet1"``).
        images: (B, H, W, C) array.
        batch_size: images per forward pass.

    Returns:
        NumPy array, the layer's input, e.g. (B, H/4, W/4, filters[-1]) for ``"renet1"`` of
        :func:`gruseg.models.build_reseg`.

    Example:
        >>> from gruseg.models import build_reseg
        >>> layer_input(build_reseg((32, 32, 3), 2), "renet1", np.zeros((2, 32, 32, 3))).shape
        (2, 8, 8, 32)
    """
    batch_size = _checks.positive_int("batch_size", batch_size)
    if isinstance(layer, str):
        try:
            layer = model.get_layer(layer)
        except ValueError:
            names = [lay.name for lay in model.layers]
            raise ValueError(f"layer {layer!r} is not in model {model.name!r}; its layers: {names}") from None
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4:
        raise ValueError(f"images must have shape (batch, height, width, channels), got shape {images.shape}")
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # a list would warn on call
    probe = keras.Model(inputs, layer.input)
    parts = [keras.ops.convert_to_numpy(probe(images[i:i + batch_size], training=False))
             for i in range(0, len(images), batch_size)]
    return np.concatenate(parts, axis=0)


def row_sweep_gates(layer, x, direction: str = "forward"):
    """Gates and hidden states of one direction of a layer's row sweep, at every pixel (NumPy).

    Every row of ``x`` is a sequence; the GRU's weights are read from the Keras layer with
    :func:`gruseg.gru.gru_weights_from_keras` (book convention: ``z`` is the share of the
    candidate taken, Keras' ``1 - z``) and the rows are run through
    :func:`gruseg.book.sweeps.row_sweep_states` in float64.

    Args:
        layer: a built :class:`~gruseg.layers.ReNet2D` (or ``RowGRU2D``, or a
            ``keras.layers.Bidirectional`` of GRUs).
        x: (B, H, W, C) feature map, the layer's input (see :func:`layer_input`).
        direction: ``"forward"`` (left to right) or ``"backward"`` (right to left).

    Returns:
        A dict of (B, H, W, U) float64 arrays, in column order whatever the direction, with
        ``"h"`` the hidden state after reading pixel (i, j), ``"z"`` the update gate,
        ``"r"`` the reset gate and ``"h_tilde"`` the candidate state of that step.

    Example:
        >>> from gruseg.layers import ReNet2D
        >>> layer = ReNet2D(4); _ = layer(np.zeros((1, 3, 5, 2), "float32"))
        >>> row_sweep_gates(layer, np.zeros((1, 3, 5, 2)))["z"].shape
        (1, 3, 5, 4)
    """
    weights = gru_weights_from_keras(_row_gru(layer, direction))
    states, gates = row_sweep_states(x, weights, go_backwards=direction == "backward", return_gates=True)
    return {"h": states, **gates}


def keras_row_sweep(layer, x, direction: str = "forward"):
    """What the Keras layer's row sweep outputs for ``x``, one direction, in column order.

    Runs the layer's own row GRU on the rows of ``x`` (rows as the batch, as the layer does).
    For a :class:`~gruseg.layers.ReNet2D` with ``merge_mode="concat"`` this is the layer's
    ``row_gru`` (``Bidirectional``) output, split into its forward half (first ``units``
    channels) and backward half; for other merge modes the directions cannot be separated after
    merging, so the direction's GRU is called on its own (the backward output is flipped back to
    column order, as ``Bidirectional`` does).

    Args:
        layer: a built ``ReNet2D``, ``RowGRU2D`` or ``keras.layers.Bidirectional``.
        x: (B, H, W, C) feature map.
        direction: ``"forward"`` or ``"backward"``.

    Returns:
        (B, H, W, U) float32 NumPy array; compare with ``row_sweep_gates(layer, x, direction)["h"]``.
    """
    gru = _row_gru(layer, direction)
    x = _as_feature_map(x).astype("float32")
    units = gru.units
    bidirectional = getattr(layer, "row_gru", layer if hasattr(layer, "forward_layer") else None)
    if bidirectional is not None and getattr(bidirectional, "merge_mode", None) == "concat":
        both = keras.ops.convert_to_numpy(rows_as_batch(lambda rows: bidirectional(rows, training=False), x))
        y = both[..., :units] if direction == "forward" else both[..., units:]
    else:
        y = keras.ops.convert_to_numpy(rows_as_batch(lambda rows: gru(rows, training=False), x))
        if direction == "backward":
            y = y[:, :, ::-1]
    return np.ascontiguousarray(y)
