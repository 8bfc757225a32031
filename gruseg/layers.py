"""Keras layers that sweep recurrent units over an image: :class:`ReNet2D` and :class:`MinGRUSweep2D`.

Both layers read a feature map ``(B, H, W, C)`` as sequences: first every **row** is a sequence of
``W`` pixels, read left-to-right and right-to-left; then every **column** of that result is a
sequence of ``H`` pixels, read top-to-bottom and bottom-to-top (ReNet, Visin et al. 2015; ReSeg,
Visin et al. 2016). After the two sweeps each output pixel has seen the whole image.

The speed trick is "rows as the batch": ``(B, H, W, C)`` is reshaped to ``(B*H, W, C)`` so one
recurrent call processes all rows of all images at once, instead of a Python loop over rows
(about 6x slower here). Columns are the same after a transpose.

``RowGRU2D`` is the one-directional, rows-only building block (what the article's model does to
its feature map once it is made runnable); :class:`ReNet2D` is the full 2-D sweep.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["ReNet2D", "MinGRUSweep2D", "RowGRU2D", "MERGE_MODES", "SCAN_MODES", "mingru_scan"]

MERGE_MODES = ("concat", "sum", "ave", "mul")
"""The ways the two directions of a sweep are combined. ``concat`` gives ``2*units`` channels;
``sum``, ``ave`` and ``mul`` combine element-wise and give ``units`` channels."""

SCAN_MODES = ("sequential", "parallel")
"""How :class:`MinGRUSweep2D` evaluates its linear recurrence."""


# --------------------------------------------------------------------------------------------
# argument checks (ValueError naming the argument, the value and what is allowed)
# --------------------------------------------------------------------------------------------
def _check_units(units):
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(f"units must be a positive integer, got {units!r}")
    return int(units)


def _check_dropout(dropout):
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a float in [0, 1), got {dropout!r}")
    return float(dropout)


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _check_seed(seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
    return seed


def _sub_seed(seed, k):
    """The k-th derived seed (None stays None: Keras then draws one, reproducible under
    ``keras.utils.set_random_seed``)."""
    return None if seed is None else seed * 1000 + k


def _check_input_shape(layer, input_shape):
    if len(input_shape) != 4:
        raise ValueError(
            f"{layer.__class__.__name__} expects 4-D input (batch, height, width, channels), "
            f"got shape {tuple(input_shape)}"
        )
    if input_shape[-1] is None:
        raise ValueError(
            f"{layer.__class__.__name__} needs the number of channels to be known, got input shape "
            f"{tuple(input_shape)}"
        )


def _merge(a, b, merge_mode):
    if merge_mode == "concat":
        return ops.concatenate([a, b], axis=-1)
    if merge_mode == "sum":
        return a + b
    if merge_mode == "ave":
        return (a + b) * 0.5
    return a * b


# --------------------------------------------------------------------------------------------
# rows-as-batch reshapes (dynamic H, W, B through ops.shape)
# --------------------------------------------------------------------------------------------
def _rows(x):
    """(B, H, W, C) -> (B*H, W, C) and the dynamic (B, H, W)."""
    b, h, w = ops.shape(x)[:3]
    return ops.reshape(x, (-1, w, x.shape[-1])), (b, h, w)


def _cols_from_rows(y, bhw):
    """Row-sweep output (B*H, W, D) -> columns as the batch (B*W, H, D)."""
    b, h, w = bhw
    d = y.shape[-1]
    y = ops.transpose(ops.reshape(y, (b, h, w, d)), (0, 2, 1, 3))
    return ops.reshape(y, (-1, h, d))


def _image_from_cols(y, bhw):
    """Column-sweep output (B*W, H, E) -> (B, H, W, E)."""
    b, h, w = bhw
    e = y.shape[-1]
    return ops.transpose(ops.reshape(y, (b, w, h, e)), (0, 2, 1, 3))


# --------------------------------------------------------------------------------------------
# GRU sweeps
# --------------------------------------------------------------------------------------------
def _make_gru(units, dropout, reset_after, seed, k, go_backwards=False, name=None):
    return keras.layers.GRU(
        units,
        return_sequences=True,
        go_backwards=go_backwards,
        dropout=dropout,
        reset_after=reset_after,
        kernel_initializer=keras.initializers.GlorotUniform(seed=_sub_seed(seed, k)),
        recurrent_initializer=keras.initializers.Orthogonal(seed=_sub_seed(seed, k + 1)),
        seed=_sub_seed(seed, k + 2),
        name=name,
    )


def _make_bigru(units, merge_mode, dropout, reset_after, seed, k, name):
    # An explicit backward layer: Bidirectional would otherwise copy the forward layer's config,
    # seeded initialisers included, and both directions would start from identical weights.
    forward = _make_gru(units, dropout, reset_after, seed, k, name=f"forward_{name}")
    backward = _make_gru(units, dropout, reset_after, seed, k + 3, go_backwards=True, name=f"backward_{name}")
    return keras.layers.Bidirectional(forward, backward_layer=backward, merge_mode=merge_mode, name=name)


@keras.saving.register_keras_serializable(package="gruseg")
class ReNet2D(keras.layers.Layer):
    """A ReNet layer: bidirectional GRU sweeps over every row, then over every column.

    For one row ``x_1 .. x_W`` (pixels with ``C`` channels) a GRU reads left-to-right and a second
    GRU right-to-left; each step is the book's GRU (Keras' weights; Keras' ``z`` is the book's
    ``1 - z``)::

        z_t       = sigmoid(x_t W_xz + h_{t-1} W_hz + b_z)
        r_t       = sigmoid(x_t W_xr + h_{t-1} W_hr + b_r)
        h_tilde_t = tanh(x_t W_xh + r_t * (h_{t-1} W_hh + b_hh) + b_h)   (reset_after=True)
        h_t       = (1 - z_t) * h_{t-1} + z_t * h_tilde_t

    The row output at pixel (i, j) is ``merge(h_fwd[i, j], h_bwd[i, j])``. The same is then done
    down and up every column of that output, so pixel (i, j) depends on every pixel of the image.

    All rows are one batch: ``(B, H, W, C) -> (B*H, W, C)``, a single ``Bidirectional(GRU)``
    call, then a transpose so that columns are the batch ``(B*W, H, D)``.

    Args:
        units: positive int, hidden units of each of the four GRUs.
        merge_mode: how the two directions combine: ``"concat"`` (``2*units`` channels, default),
            ``"sum"``, ``"ave"`` or ``"mul"`` (``units`` channels).
        dropout: float in [0, 1), dropout on the GRUs' inputs during training. No recurrent
            dropout, so the defaults keep the cuDNN kernel on a GPU.
        reset_after: Keras/cuDNN form of the candidate (True, default, GPU-fast) or the original
            Cho et al. form (False: about 12% faster on CPU, no cuDNN).
        seed: None or int; fixes the initial weights and the dropout masks.
        **kwargs: ``name``, ``dtype``, ... as for any Keras layer.

    Attributes:
        row_gru: the ``keras.layers.Bidirectional`` that sweeps rows (``row_gru.forward_layer``,
            ``row_gru.backward_layer`` are ``keras.layers.GRU``; read them with
            :func:`gruseg.gru.gru_weights_from_keras`).
        col_gru: the ``Bidirectional`` that sweeps columns of the row sweep's output.

    Call arguments:
        inputs: (B, H, W, C) float tensor; H, W and B may differ from call to call.
        training: bool, enables dropout.

    Returns:
        (B, H, W, 2*units) for ``merge_mode="concat"``, else (B, H, W, units).

    Example:
        >>> layer = ReNet2D(8)
        >>> tuple(layer(np.zeros((2, 5, 7, 3), "float32")).shape)
        (2, 5, 7, 16)
    """

    def __init__(self, units, merge_mode="concat", dropout=0.0, reset_after=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _check_units(units)
        self.merge_mode = _check_choice("merge_mode", merge_mode, MERGE_MODES)
        self.dropout = _check_dropout(dropout)
        self.reset_after = _check_bool("reset_after", reset_after)
        self.seed = _check_seed(seed)
        self.row_gru = _make_bigru(self.units, merge_mode, self.dropout, reset_after, seed, 0, "row_gru")
        self.col_gru = _make_bigru(self.units, merge_mode, self.dropout, reset_after, seed, 10, "col_gru")

    @property
    def output_channels(self):
        """The number of output channels, ``2*units`` for concat and ``units`` otherwise."""
        return 2 * self.units if self.merge_mode == "concat" else self.units

    def build(self, input_shape):
        _check_input_shape(self, input_shape)
        self.row_gru.build((None, None, input_shape[-1]))
        self.col_gru.build((None, None, self.output_channels))
        self.built = True

    def call(self, inputs, training=None):
        rows, bhw = _rows(inputs)
        y = self.row_gru(rows, training=training)
        y = self.col_gru(_cols_from_rows(y, bhw), training=training)
        return _image_from_cols(y, bhw)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:3], self.output_channels)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, merge_mode=self.merge_mode, dropout=self.dropout,
                      reset_after=self.reset_after, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="gruseg")
class RowGRU2D(keras.layers.Layer):
    """One GRU run along every row of a feature map, left to right (rows as the batch).

    ``(B, H, W, C) -> (B*H, W, C) -> GRU(return_sequences=True) -> (B, H, W, units)``. Pixel (i, j)
    only sees pixels (i, 0..j) of its own row: this is the smallest runnable version of "apply a
    GRU to the feature map" (the article's model); :class:`ReNet2D` adds the reverse direction and
    the column sweep. Equations as in :class:`ReNet2D`.

    Args:
        units: positive int, GRU hidden units.
        dropout: float in [0, 1), input dropout during training.
        reset_after: Keras/cuDNN candidate form (True) or the original form (False).
        seed: None or int, fixes the initial weights and dropout masks.

    Attributes:
        gru: the ``keras.layers.GRU``.

    Example:
        >>> tuple(RowGRU2D(4)(np.zeros((1, 3, 5, 2), "float32")).shape)
        (1, 3, 5, 4)
    """

    def __init__(self, units, dropout=0.0, reset_after=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _check_units(units)
        self.dropout = _check_dropout(dropout)
        self.reset_after = _check_bool("reset_after", reset_after)
        self.seed = _check_seed(seed)
        self.gru = _make_gru(self.units, self.dropout, reset_after, seed, 0, name="gru")

    def build(self, input_shape):
        _check_input_shape(self, input_shape)
        self.gru.build((None, None, input_shape[-1]))
        self.built = True

    def call(self, inputs, training=None):
        rows, (b, h, w) = _rows(inputs)
        y = self.gru(rows, training=training)
        return ops.reshape(y, (b, h, w, self.units))

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:3], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, dropout=self.dropout, reset_after=self.reset_after, seed=self.seed)
        return config


# --------------------------------------------------------------------------------------------
# minGRU sweeps
# --------------------------------------------------------------------------------------------
def _doubling_scan(a, b):
    """Parallel prefix scan (Hillis-Steele) of ``h_t = a_t h_{t-1} + b_t`` over axis 0.

    Before the round with offset ``k``, element ``t`` holds the map ``h_{t-k} -> h_t`` as a pair
    ``(a, b)`` (``h_t = a h_{t-k} + b``); composing it with the map ending at ``t - k`` doubles
    the reach to ``2k`` steps, so
    ``ceil(log2 T)`` rounds of element-wise ops give every ``h_t``. Works when ``T`` is only known
    at run time (``keras.ops.associative_scan`` needs a static length).
    """
    length = ops.shape(a)[0]
    index = ops.reshape(ops.arange(length), (-1, 1, 1))

    def cond(offset, a, b):
        return offset < length

    def body(offset, a, b):
        reach = index >= offset  # steps before 0 are the identity map (1, 0)
        a_prev = ops.where(reach, ops.roll(a, offset, axis=0), 1.0)
        b_prev = ops.where(reach, ops.roll(b, offset, axis=0), 0.0)
        return offset * 2, a * a_prev, a * b_prev + b

    _, _, h = ops.while_loop(cond, body, (1, a, b))
    return h


def mingru_scan(a, b, scan="sequential", reverse=False):
    """Solve ``h_t = a_t * h_{t-1} + b_t`` with ``h_0 = 0`` along axis 1.

    Args:
        a, b: (N, T, U) tensors (``a = 1 - z``, ``b = z * h_tilde`` for minGRU).
        scan: ``"sequential"`` (a loop over T of element-wise ops; fastest on TF-CPU) or
            ``"parallel"`` (a Hillis-Steele prefix scan: ``log2 T`` rounds of element-wise
            ops over all steps at once; more work, less depth, meant for accelerators).
        reverse: run from the last step to the first (outputs stay in input order).

    Returns:
        (N, T, U) tensor of all ``h_t``.

    Example:
        >>> h = mingru_scan(np.full((1, 3, 1), 0.5, "float32"), np.ones((1, 3, 1), "float32"))
        >>> np.asarray(h).ravel().tolist()
        [1.0, 1.5, 1.75]
    """
    _check_choice("scan", scan, SCAN_MODES)
    a = ops.transpose(a, (1, 0, 2))  # time-major
    b = ops.transpose(b, (1, 0, 2))
    if scan == "parallel":
        if reverse:
            h = ops.flip(_doubling_scan(ops.flip(a, 0), ops.flip(b, 0)), 0)
        else:
            h = _doubling_scan(a, b)
    else:
        units = a.shape[-1]

        def step(h, ab):
            h = ab[..., :units] * h + ab[..., units:]
            return h, h

        # One stacked xs, not the pair (a, b): Keras 3.15's TF scan crashes on several xs
        # whose time length is unknown at trace time.
        _, h = ops.scan(step, ops.zeros_like(a[0]), ops.concatenate([a, b], axis=-1), reverse=reverse)
    return ops.transpose(h, (1, 0, 2))


@keras.saving.register_keras_serializable(package="gruseg")
class MinGRUSweep2D(keras.layers.Layer):
    """ReNet-style 2-D sweep with minGRU cells (Feng et al. 2024, "Were RNNs all we needed?").

    minGRU drops the previous state from the gates and the candidate::

        z_t       = sigmoid(x_t W_z + b_z)
        h_tilde_t = x_t W_h + b_h
        h_t       = (1 - z_t) * h_{t-1} + z_t * h_tilde_t,   h_0 = 0

    so ``z`` and ``h_tilde`` for all steps come from one matmul, and what is left is the linear
    recurrence ``h_t = a_t h_{t-1} + b_t`` (``a = 1 - z``, ``b = z * h_tilde``), which
    :func:`mingru_scan` solves sequentially or with a parallel (associative) scan.

    Sweeps as :class:`ReNet2D`: rows left-to-right and right-to-left, merged; then columns of that
    top-to-bottom and bottom-to-top, merged. Each of the four directions has its own weights.

    Args:
        units: positive int, hidden units per direction.
        merge_mode: ``"concat"`` (``2*units`` channels), ``"sum"``, ``"ave"`` or ``"mul"``.
        dropout: float in [0, 1), dropout on each sweep's input during training.
        scan: ``"sequential"`` (default; fastest on TF-CPU) or ``"parallel"``.
        seed: None or int; fixes the initial weights and the dropout masks.

    Weights (for direction ``k`` in ``row_fwd, row_bwd, col_fwd, col_bwd``): ``{k}_kernel``
    (C_in, 2*units) holds ``[W_z | W_h]`` and ``{k}_bias`` (2*units,) holds ``[b_z | b_h]``.

    Call arguments:
        inputs: (B, H, W, C) float tensor; H, W, B may vary.
        training: bool, enables dropout.

    Returns:
        (B, H, W, 2*units) for concat, else (B, H, W, units).

    Example:
        >>> layer = MinGRUSweep2D(8)
        >>> tuple(layer(np.zeros((2, 5, 7, 3), "float32")).shape)
        (2, 5, 7, 16)
    """

    DIRECTIONS = ("row_fwd", "row_bwd", "col_fwd", "col_bwd")

    def __init__(self, units, merge_mode="concat", dropout=0.0, scan="sequential", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _check_units(units)
        self.merge_mode = _check_choice("merge_mode", merge_mode, MERGE_MODES)
        self.dropout = _check_dropout(dropout)
        self.scan = _check_choice("scan", scan, SCAN_MODES)
        self.seed = _check_seed(seed)
        self._dropout_seed = keras.random.SeedGenerator(_sub_seed(seed, 99)) if self.dropout else None

    @property
    def output_channels(self):
        """The number of output channels, ``2*units`` for concat and ``units`` otherwise."""
        return 2 * self.units if self.merge_mode == "concat" else self.units

    def build(self, input_shape):
        _check_input_shape(self, input_shape)
        self.kernels, self.biases = {}, {}
        for k, direction in enumerate(self.DIRECTIONS):
            fan_in = input_shape[-1] if direction.startswith("row") else self.output_channels
            self.kernels[direction] = self.add_weight(
                name=f"{direction}_kernel", shape=(fan_in, 2 * self.units),
                initializer=keras.initializers.GlorotUniform(seed=_sub_seed(self.seed, k)))
            self.biases[direction] = self.add_weight(
                name=f"{direction}_bias", shape=(2 * self.units,), initializer="zeros")
        self.built = True

    def _direction(self, x, direction, reverse):
        """One minGRU direction over (N, T, C_in) -> (N, T, units)."""
        proj = ops.matmul(x, self.kernels[direction]) + self.biases[direction]
        z = ops.sigmoid(proj[..., : self.units])
        h_tilde = proj[..., self.units:]
        return mingru_scan(1.0 - z, z * h_tilde, scan=self.scan, reverse=reverse)

    def _sweep(self, x, prefix, training):
        if training and self.dropout:
            x = keras.random.dropout(x, self.dropout, seed=self._dropout_seed)
        fwd = self._direction(x, f"{prefix}_fwd", reverse=False)
        bwd = self._direction(x, f"{prefix}_bwd", reverse=True)
        return _merge(fwd, bwd, self.merge_mode)

    def call(self, inputs, training=None):
        rows, bhw = _rows(inputs)
        y = self._sweep(rows, "row", training)
        y = self._sweep(_cols_from_rows(y, bhw), "col", training)
        return _image_from_cols(y, bhw)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:3], self.output_channels)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, merge_mode=self.merge_mode, dropout=self.dropout,
                      scan=self.scan, seed=self.seed)
        return config
