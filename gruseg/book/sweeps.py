"""2-D GRU sweeps in NumPy: rows and columns as sequences, per-pixel states and gates, float64
references of the ReNet and minGRU sweep layers, partial sweeps and change maps.

A *sweep* runs a GRU along every row of a feature map (or every column). With ``B`` images of
``H x W`` pixels and ``C`` channels, the rows are ``B * H`` independent sequences of length ``W``::

    (B, H, W, C)  --reshape-->  (B*H, W, C)          row i of image b is sequence b*H + i
    (B, H, W, C)  --transpose (0, 2, 1, 3), reshape-->  (B*W, H, C)   column j of image b is b*W + j

A bidirectional row sweep followed by a bidirectional column sweep gives every output pixel a
path from every input pixel: the row sweep carries information along the row, the column sweep
then carries each row's summary up and down (Visin et al. 2015, "ReNet").

The NumPy functions here are float64 references built on :mod:`gruseg.gru`
(:func:`~gruseg.gru.gru_sequence`, :func:`~gruseg.gru.mingru_sequence`): :func:`renet2d_numpy`
reproduces :class:`gruseg.layers.ReNet2D` and :func:`mingru_sweep2d_numpy`
:class:`gruseg.layers.MinGRUSweep2D`. :func:`rows_as_batch` and :func:`loop_over_rows` call Keras
layers and import Keras only when called.
"""

from __future__ import annotations

import numpy as np

from gruseg import _checks
from gruseg.gru import GRUWeights, gru_sequence, gru_weights_from_keras, mingru_sequence

__all__ = [
    "MERGE_MODES",
    "SWEEP_ORDERS",
    "rows_to_sequences",
    "sequences_to_rows",
    "columns_to_sequences",
    "sequences_to_columns",
    "bidirectional_gru_numpy",
    "row_sweep_numpy",
    "renet2d_weights",
    "renet2d_numpy",
    "mingru_sweep2d_weights",
    "mingru_sweep2d_numpy",
    "row_sweep_states",
    "partial_sweep",
    "change_map",
    "rows_as_batch",
    "loop_over_rows",
]

MERGE_MODES = ("concat", "sum", "ave", "mul")
"""How the two directions of a sweep are merged, as in ``keras.layers.Bidirectional``."""

SWEEP_ORDERS = ("rows_first", "columns_first")
"""Which pass of a 2-D sweep comes first, as the ``order`` of :class:`gruseg.layers.ReNet2D`."""


def _as_feature_map(x, name="x"):
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name} must be a 4-D feature map (batch, height, width, channels), got shape {x.shape}")
    return x


# --------------------------------------------------------------------------------------------
# rows and columns as sequences
# --------------------------------------------------------------------------------------------
def rows_to_sequences(x):
    """Turn the rows of a feature map into a batch of sequences.

    ``(B, H, W, C) -> (B*H, W, C)``; row ``i`` of image ``b`` becomes sequence ``b*H + i``, whose
    time steps are the columns ``0 .. W-1``.

    Args:
        x: (B, H, W, C) array.

    Returns:
        (B*H, W, C) array (a view when possible).

    Example:
        >>> rows_to_sequences(np.zeros((2, 3, 5, 4))).shape
        (6, 5, 4)
    """
    x = _as_feature_map(x)
    B, H, W, C = x.shape
    return x.reshape(B * H, W, C)


def sequences_to_rows(s, batch):
    """The inverse of :func:`rows_to_sequences`: ``(B*H, W, U) -> (B, H, W, U)``.

    Args:
        s: (B*H, W, U) array, one sequence per row.
        batch: the number of images ``B``.

    Example:
        >>> sequences_to_rows(np.zeros((6, 5, 4)), batch=2).shape
        (2, 3, 5, 4)
    """
    s = np.asarray(s)
    if s.ndim != 3:
        raise ValueError(f"s must be 3-D (batch*height, width, features), got shape {s.shape}")
    batch = _checks.positive_int("batch", batch)
    if s.shape[0] % batch:
        raise ValueError(f"batch must divide the {s.shape[0]} sequences, got {batch!r}")
    return s.reshape(batch, s.shape[0] // batch, s.shape[1], s.shape[2])


def columns_to_sequences(x):
    """Turn the columns of a feature map into sequences: ``(B, H, W, C) -> (B*W, H, C)``.

    Column ``j`` of image ``b`` becomes sequence ``b*W + j``, read from top (row 0) to bottom.

    Example:
        >>> columns_to_sequences(np.zeros((2, 3, 5, 4))).shape
        (10, 3, 4)
    """
    x = _as_feature_map(x)
    return rows_to_sequences(x.transpose(0, 2, 1, 3))


def sequences_to_columns(s, batch):
    """The inverse of :func:`columns_to_sequences`: ``(B*W, H, U) -> (B, H, W, U)``.

    Example:
        >>> sequences_to_columns(np.zeros((10, 3, 4)), batch=2).shape
        (2, 3, 5, 4)
    """
    return sequences_to_rows(s, batch).transpose(0, 2, 1, 3)


# --------------------------------------------------------------------------------------------
# bidirectional sweeps: one skeleton, two cells (GRU, minGRU)
# --------------------------------------------------------------------------------------------
def _merge(a, b, merge_mode):
    if merge_mode == "concat":
        return np.concatenate([a, b], axis=-1)
    if merge_mode == "sum":
        return a + b
    if merge_mode == "ave":
        return (a + b) / 2.0
    return a * b  # "mul"


def _gru_direction(x, weights, reverse):
    """(N, T, D) -> (N, T, U) with :class:`~gruseg.gru.GRUWeights`, in input order either way."""
    h = gru_sequence(x, weights, go_backwards=reverse)
    return h[:, ::-1] if reverse else h


def _mingru_direction(x, weights, reverse):
    """(N, T, D) -> (N, T, U) with ``weights = (kernel, bias)``, in input order either way."""
    kernel, bias = weights
    return mingru_sequence(x, kernel, bias, reverse=reverse)


def _bidirectional(x, pair, merge_mode, direction):
    forward, backward = pair
    return _merge(direction(x, forward, False), direction(x, backward, True), merge_mode)


def _row_sweep(x, pair, merge_mode, direction):
    x = _as_feature_map(x)
    return sequences_to_rows(_bidirectional(rows_to_sequences(x), pair, merge_mode, direction), x.shape[0])


def _to_patches(x, p):
    """(B, H, W, C) -> (B, H/p, W/p, p*p*C): each non-overlapping p x p patch flattened, row-major."""
    B, H, W, C = x.shape
    if H % p or W % p:
        raise ValueError(f"patch_size={p} needs a height and width divisible by {p}, got {H}x{W}")
    return x.reshape(B, H // p, p, W // p, p, C).transpose(0, 1, 3, 2, 4, 5).reshape(B, H // p, W // p, p * p * C)


def _sweep2d(x, weights, merge_mode, direction, order, patch_size):
    """Two bidirectional passes; a column pass is a row pass of the transposed map."""
    _checks.choice("merge_mode", merge_mode, MERGE_MODES)
    _checks.choice("order", order, SWEEP_ORDERS)
    if not isinstance(weights, dict) or set(weights) != {"row", "col"}:
        raise ValueError(f"weights must be a dict with the keys 'row' and 'col', got {weights!r}")
    x = _to_patches(_as_feature_map(x), _checks.positive_int("patch_size", patch_size))
    first, second = ("row", "col") if order == "rows_first" else ("col", "row")
    if order == "columns_first":
        x = x.transpose(0, 2, 1, 3)                       # columns become rows; undone at the end
    y = _row_sweep(x, weights[first], merge_mode, direction)
    y = _row_sweep(y.transpose(0, 2, 1, 3), weights[second], merge_mode, direction).transpose(0, 2, 1, 3)
    return y.transpose(0, 2, 1, 3) if order == "columns_first" else y


def bidirectional_gru_numpy(x, forward: GRUWeights, backward: GRUWeights, merge_mode: str = "concat"):
    """A bidirectional GRU in NumPy, aligned like ``keras.layers.Bidirectional``.

    ``out[:, t] = merge(h_fwd[:, t], h_bwd[:, t])`` where ``h_fwd[:, t]`` has read steps ``0..t``
    and ``h_bwd[:, t]`` has read steps ``T-1..t`` (the backward outputs are flipped back into
    input order, as Keras does).

    Args:
        x: (N, T, D) sequences.
        forward, backward: :class:`~gruseg.gru.GRUWeights` of the two directions.
        merge_mode: one of :data:`MERGE_MODES`: ``"concat"`` (features ``2U``), ``"sum"``,
            ``"ave"`` or ``"mul"`` (``U``).

    Returns:
        (N, T, 2U) for ``"concat"``, (N, T, U) otherwise; float64.

    Example:
        >>> from gruseg.gru import random_gru_weights
        >>> fw, bw = random_gru_weights(3, 4, seed=0), random_gru_weights(3, 4, seed=1)
        >>> bidirectional_gru_numpy(np.zeros((2, 5, 3)), fw, bw).shape
        (2, 5, 8)
    """
    merge_mode = _checks.choice("merge_mode", merge_mode, MERGE_MODES)
    return _bidirectional(x, (forward, backward), merge_mode, _gru_direction)


def row_sweep_numpy(x, forward: GRUWeights, backward: GRUWeights, merge_mode: str = "concat"):
    """The row half of :func:`renet2d_numpy`: a bidirectional GRU along every row of a feature map.

    ``rows_to_sequences -> bidirectional_gru_numpy -> sequences_to_rows``: pixel ``(i, j)`` of the
    output has read all of row ``i`` (columns ``0..j`` forwards, ``W-1..j`` backwards) and
    nothing of any other row.

    Args:
        x: (B, H, W, C) feature map.
        forward, backward: :class:`~gruseg.gru.GRUWeights` with ``input_dim == C``.
        merge_mode: one of :data:`MERGE_MODES`.

    Returns:
        (B, H, W, 2U) for ``"concat"``, (B, H, W, U) otherwise; float64.

    Example:
        >>> from gruseg.gru import random_gru_weights
        >>> fw, bw = random_gru_weights(3, 4, seed=0), random_gru_weights(3, 4, seed=1)
        >>> row_sweep_numpy(np.zeros((1, 6, 5, 3)), fw, bw).shape
        (1, 6, 5, 8)
    """
    merge_mode = _checks.choice("merge_mode", merge_mode, MERGE_MODES)
    return _row_sweep(x, (forward, backward), merge_mode, _gru_direction)


def _bidirectional_attribute(layer, attr):
    bi = getattr(layer, attr, None)
    if bi is None or not hasattr(bi, "forward_layer"):
        raise ValueError(f"layer must have a keras.layers.Bidirectional attribute {attr!r}, got {type(layer).__name__}")
    return bi


def renet2d_weights(layer):
    """Read the four GRUs of a built :class:`gruseg.layers.ReNet2D` into NumPy.

    Args:
        layer: a built layer with ``row_gru`` and ``col_gru`` attributes, each a
            ``keras.layers.Bidirectional`` wrapping a GRU.

    Returns:
        ``{"row": (forward, backward), "col": (forward, backward)}`` of
        :class:`~gruseg.gru.GRUWeights`, ready for :func:`renet2d_numpy`.
    """
    out = {}
    for key, attr in (("row", "row_gru"), ("col", "col_gru")):
        bi = _bidirectional_attribute(layer, attr)
        out[key] = (gru_weights_from_keras(bi.forward_layer), gru_weights_from_keras(bi.backward_layer))
    return out


def renet2d_numpy(x, weights, merge_mode: str = "concat", *, order: str = "rows_first", patch_size: int = 1):
    """A ReNet-style 2-D sweep in NumPy: bidirectional GRU over rows, then over columns.

    ``y = cols(rows(x))`` with ``rows`` = :func:`row_sweep_numpy` and ``cols`` the same on the
    columns of the row output. Every output pixel depends on every input pixel (see
    :func:`change_map`). The float64 reference for :class:`gruseg.layers.ReNet2D`, with its
    options: ``order="columns_first"`` sweeps the columns first (ReNet's order) and
    ``patch_size=p`` reads each non-overlapping ``p x p`` patch as one sequence element.

    Args:
        x: (B, H, W, C) feature map.
        weights: ``{"row": (fw, bw), "col": (fw, bw)}`` as returned by :func:`renet2d_weights`.
        merge_mode: how the two directions are merged (as ``keras.layers.Bidirectional``).
        order: one of :data:`SWEEP_ORDERS`.
        patch_size: ``p``; H and W must be divisible by it.

    Returns:
        (B, H/p, W/p, 2U) for ``"concat"`` (else (B, H/p, W/p, U)), float64.

    Example:
        >>> from gruseg.gru import random_gru_weights
        >>> w = {"row": (random_gru_weights(3, 4, seed=0), random_gru_weights(3, 4, seed=1)),
        ...      "col": (random_gru_weights(8, 4, seed=2), random_gru_weights(8, 4, seed=3))}
        >>> renet2d_numpy(np.zeros((1, 6, 5, 3)), w).shape
        (1, 6, 5, 8)
    """
    return _sweep2d(x, weights, merge_mode, _gru_direction, order, patch_size)


def mingru_sweep2d_weights(layer):
    """Read the four minGRU directions of a built :class:`gruseg.layers.MinGRUSweep2D` into NumPy.

    Returns:
        ``{"row": ((kernel, bias), (kernel, bias)), "col": (...)}`` (forward first) of float64
        arrays, kernel ``(C_in, 2U)`` = ``[W_z | W_h]`` and bias ``(2U,)``, ready for
        :func:`mingru_sweep2d_numpy`.
    """
    kernels, biases = getattr(layer, "kernels", None), getattr(layer, "biases", None)
    if not isinstance(kernels, dict) or not isinstance(biases, dict):
        raise ValueError(f"layer must be a built MinGRUSweep2D (kernels and biases per direction), "
                         f"got {type(layer).__name__}")

    def read(direction):
        return (np.asarray(kernels[direction], dtype=np.float64), np.asarray(biases[direction], dtype=np.float64))

    return {key: (read(f"{key}_fwd"), read(f"{key}_bwd")) for key in ("row", "col")}


def mingru_sweep2d_numpy(x, weights, merge_mode: str = "concat", *, order: str = "rows_first",
                         patch_size: int = 1):
    """A minGRU 2-D sweep in NumPy, the float64 reference for :class:`gruseg.layers.MinGRUSweep2D`.

    The skeleton of :func:`renet2d_numpy` (rows both ways, merged; then the columns of that both
    ways, merged; same ``order`` and ``patch_size`` options) with
    :func:`gruseg.gru.mingru_sequence` as the cell.

    Args:
        x: (B, H, W, C) feature map.
        weights: ``{"row": ((kernel, bias), (kernel, bias)), "col": (...)}`` as returned by
            :func:`mingru_sweep2d_weights`.
        merge_mode: one of :data:`MERGE_MODES`.
        order: one of :data:`SWEEP_ORDERS`.
        patch_size: ``p``; H and W must be divisible by it.

    Returns:
        (B, H/p, W/p, 2U) for ``"concat"`` (else (B, H/p, W/p, U)), float64.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> direction = lambda c: (rng.normal(size=(c, 4)), np.zeros(4))     # U = 2 units
        >>> w = {"row": (direction(3), direction(3)), "col": (direction(4), direction(4))}
        >>> mingru_sweep2d_numpy(np.ones((1, 6, 5, 3)), w).shape
        (1, 6, 5, 4)
    """
    return _sweep2d(x, weights, merge_mode, _mingru_direction, order, patch_size)


# --------------------------------------------------------------------------------------------
# inside one sweep: states and gates at every pixel, step by step
# --------------------------------------------------------------------------------------------
def row_sweep_states(x, weights: GRUWeights, go_backwards: bool = False, return_gates: bool = False):
    """Hidden state (and gates) of a one-directional GRU at every pixel as it sweeps along the rows.

    ``states[b, i, t]`` is ``h_t`` of row ``i``: the state after reading columns ``0..t``
    (``go_backwards=False``) or ``W-1..t`` (``go_backwards=True``); the outputs are in column
    order either way. This is the one computation behind both the chapter-3 sweep pictures and
    the gate maps of a trained layer (:func:`gruseg.book.gates.row_sweep_gates`).

    Args:
        x: (B, H, W, C) feature map.
        weights: :class:`~gruseg.gru.GRUWeights` with ``input_dim == C``.
        go_backwards: sweep right-to-left.
        return_gates: also return the gates of the step that read each pixel.

    Returns:
        (B, H, W, U) float64 hidden states; with ``return_gates``, ``(states, gates)`` where
        ``gates`` maps ``"z"``, ``"r"``, ``"h_tilde"`` to (B, H, W, U) arrays.

    Example:
        >>> from gruseg.gru import random_gru_weights
        >>> row_sweep_states(np.zeros((1, 4, 6, 3)), random_gru_weights(3, 5, seed=0)).shape
        (1, 4, 6, 5)
    """
    x = _as_feature_map(x)
    go_backwards = _checks.boolean("go_backwards", go_backwards)
    return_gates = _checks.boolean("return_gates", return_gates)
    H, gates = gru_sequence(rows_to_sequences(x), weights, return_gates=True, go_backwards=go_backwards)
    out = {"h": H, **gates}
    if go_backwards:  # gru_sequence returns steps in the order read; put them back in column order
        out = {k: v[:, ::-1] for k, v in out.items()}
    out = {k: sequences_to_rows(np.ascontiguousarray(v), x.shape[0]) for k, v in out.items()}
    states = out.pop("h")
    return (states, out) if return_gates else states


def partial_sweep(values, t: int, go_backwards: bool = False):
    """What a row sweep has produced after step ``t``: ``values`` with unreached columns set to NaN.

    Args:
        values: (H, W) per-pixel values of a full sweep (e.g. ``‖h‖``).
        t: the step, ``0 <= t < W``; step ``t`` has read ``t + 1`` columns.
        go_backwards: the sweep started at the right edge.

    Returns:
        (H, W) float array; columns ``> t`` (forward) or ``< W-1-t`` (backward) are NaN.

    Example:
        >>> partial_sweep(np.ones((2, 4)), 1)
        array([[ 1.,  1., nan, nan],
               [ 1.,  1., nan, nan]])
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (height, width), got shape {values.shape}")
    W = values.shape[1]
    t = _checks.integer("t", t, 0, W - 1)
    out = values.copy()
    if _checks.boolean("go_backwards", go_backwards):
        out[:, : W - 1 - t] = np.nan
    else:
        out[:, t + 1:] = np.nan
    return out


def change_map(before, after):
    """Largest absolute change per pixel between two outputs: ``max_c |after - before|``.

    Perturb one input pixel, run the layer twice and pass both outputs here: the non-zero
    pixels are the ones that pixel can influence (its receptive field, seen from the output).

    Args:
        before, after: (H, W, C) or (B, H, W, C) arrays of the same shape.

    Returns:
        (H, W) or (B, H, W) float64 array.

    Example:
        >>> a = np.zeros((3, 3, 2)); b = a.copy(); b[1, 2, 0] = 0.5
        >>> change_map(a, b)[1]
        array([0. , 0. , 0.5])
    """
    before = np.asarray(before, dtype=np.float64)
    after = np.asarray(after, dtype=np.float64)
    if before.shape != after.shape:
        raise ValueError(f"before and after must have the same shape, got {before.shape} and {after.shape}")
    if before.ndim not in (3, 4):
        raise ValueError(f"before must be (H, W, C) or (B, H, W, C), got shape {before.shape}")
    return np.abs(after - before).max(axis=-1)


# --------------------------------------------------------------------------------------------
# Keras: rows as the batch, or a loop over rows
# --------------------------------------------------------------------------------------------
def rows_as_batch(layer, x):
    """Run a sequence layer over every row at once, rows as the batch.

    ``(B, H, W, C) -> reshape (B*H, W, C) -> layer -> reshape (B, H, W, F)``: one call, one
    big batch. Compare :func:`loop_over_rows`, which gives the same numbers one row at a time.

    Args:
        layer: a Keras layer (or any callable on tensors) mapping (N, W, C) to (N, W, F), e.g.
            ``keras.layers.Bidirectional(keras.layers.GRU(units, return_sequences=True))``.
        x: (B, H, W, C) array or tensor (also a symbolic ``keras.Input``) with known H, W, C.

    Returns:
        (B, H, W, F) tensor.

    Example:
        >>> import keras
        >>> inputs = keras.Input((4, 5, 3))
        >>> bigru = keras.layers.Bidirectional(keras.layers.GRU(2, return_sequences=True))
        >>> keras.Model(inputs, rows_as_batch(bigru, inputs)).output_shape
        (None, 4, 5, 4)
    """
    from keras import ops

    _, H, W, C = x.shape
    y = layer(ops.reshape(x, (-1, W, C)))
    return ops.reshape(y, (-1, H, W, y.shape[-1]))


def loop_over_rows(layer, x):
    """The slow reference for :func:`rows_as_batch`: a Python loop calling ``layer`` on each row.

    ``y[:, i] = layer(x[:, i])`` for ``i = 0 .. H-1``, each call on a (B, W, C) batch.

    Args:
        layer: a Keras layer mapping (N, W, C) to (N, W, F).
        x: (B, H, W, C) array or tensor (also a symbolic ``keras.Input``).

    Returns:
        (B, H, W, F) tensor.
    """
    from keras import ops

    H = x.shape[1]
    return ops.stack([layer(x[:, i]) for i in range(H)], axis=1)
