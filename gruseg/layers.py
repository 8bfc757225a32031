"""Keras layers that sweep recurrent units over an image: :class:`ReNet2D`, :class:`MinGRUSweep2D`, :class:`RowGRU2D`.

:class:`ReNet2D` and :class:`MinGRUSweep2D` read a feature map ``(B, H, W, C)`` as sequences in
two passes. By default (``order="rows_first"``) every **row** is first read as a sequence of ``W``
pixels, left-to-right and right-to-left; then every **column** of that result is read as a sequence
of ``H`` pixels, top-to-bottom and bottom-to-top. After the two passes each output pixel depends on
every pixel of the image.

How this relates to the papers: ReNet (Visin et al. 2015) and ReSeg (Visin et al. 2016; the
``ReNetLayer`` of their code) sweep **vertically first** and over non-overlapping ``p x p``
**patches**, each patch flattened into one sequence element. Both are options here:
``order="columns_first"`` is the papers' order and ``patch_size=p`` their patches (the output
then has ``H/p x W/p`` positions, and the sequences are ``p`` times shorter). The defaults,
rows first over single pixels, are what the book's chapters teach and measure.

The speed trick is "rows as the batch": ``(B, H, W, C)`` is reshaped to ``(B*H, W, C)`` so one
recurrent call processes all rows of all images at once, instead of a Python loop over rows.
Columns are the same after a transpose.

:class:`RowGRU2D` is the one-directional, rows-only building block (what the article's model does to
its feature map once it is made runnable).
"""

from __future__ import annotations

import keras
from keras import ops

from gruseg import _checks

__all__ = ["ReNet2D", "MinGRUSweep2D", "RowGRU2D", "MERGE_MODES", "SCAN_MODES", "SWEEP_ORDERS",
           "linear_scan"]

MERGE_MODES = ("concat", "sum", "ave", "mul")
"""The ways the two directions of a sweep are combined. ``concat`` gives ``2*units`` channels;
``sum``, ``ave`` and ``mul`` combine element-wise and give ``units`` channels."""

SCAN_MODES = ("sequential", "parallel")
"""How :class:`MinGRUSweep2D` evaluates its linear recurrence (see :func:`linear_scan`)."""

SWEEP_ORDERS = ("rows_first", "columns_first")
"""Which pass comes first, ``"rows_first"`` (horizontal, then vertical; gruseg's default) or
``"columns_first"`` (vertical, then horizontal; the order of ReNet and ReSeg)."""


def _sub_seed(seed, k):
    """The k-th derived seed (None stays None: Keras then draws one, reproducible under
    ``keras.utils.set_random_seed``)."""
    return None if seed is None else seed * 1000 + k


def _check_input_shape(layer, input_shape, patch_size=1):
    name = type(layer).__name__
    if len(input_shape) != 4:
        raise ValueError(f"{name} expects 4-D input (batch, height, width, channels), got shape {tuple(input_shape)}")
    if input_shape[-1] is None:
        raise ValueError(f"{name} needs the number of channels to be known, got input shape {tuple(input_shape)}")
    for axis, side in (("height", input_shape[1]), ("width", input_shape[2])):
        if side is not None and side % patch_size:
            raise ValueError(f"{name} with patch_size={patch_size} needs a {axis} divisible by {patch_size}, "
                             f"got input shape {tuple(input_shape)}")


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
    """Row-pass output (B*H, W, D) -> columns as the batch (B*W, H, D)."""
    b, h, w = bhw
    d = y.shape[-1]
    y = ops.transpose(ops.reshape(y, (b, h, w, d)), (0, 2, 1, 3))
    return ops.reshape(y, (-1, h, d))


def _image_from_cols(y, bhw):
    """Column-pass output (B*W, H, E) -> (B, H, W, E)."""
    b, h, w = bhw
    e = y.shape[-1]
    return ops.transpose(ops.reshape(y, (b, w, h, e)), (0, 2, 1, 3))


def _to_patches(x, p):
    """(B, H, W, C) -> (B, H/p, W/p, p*p*C): each non-overlapping p x p patch flattened, row-major."""
    if p == 1:
        return x
    b, h, w = ops.shape(x)[:3]
    c = x.shape[-1]
    x = ops.reshape(x, (b, h // p, p, w // p, p, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (b, h // p, w // p, p * p * c))


# --------------------------------------------------------------------------------------------
# the shared two-pass sweep
# --------------------------------------------------------------------------------------------
class _Sweep2D(keras.layers.Layer):
    """Two bidirectional passes over a feature map; subclasses supply the recurrent cell.

    Subclasses implement ``_build_pass(axis, fan_in)`` and ``_run_pass(axis, sequences, training)``
    for ``axis`` in ``("row", "col")``: ``sequences`` is ``(N, T, fan_in)`` with every row (or
    column) of every image as one of the ``N`` sequences, and the result is ``(N, T,
    output_channels)`` with both directions merged.
    """

    def __init__(self, units, merge_mode="concat", dropout=0.0, seed=None, patch_size=1, order="rows_first",
                 **kwargs):
        super().__init__(**kwargs)
        self.units = _checks.positive_int("units", units)
        self.merge_mode = _checks.choice("merge_mode", merge_mode, MERGE_MODES)
        self.dropout = _checks.fraction("dropout", dropout)
        self.seed = _checks.seed("seed", seed)
        self.patch_size = _checks.positive_int("patch_size", patch_size)
        self.order = _checks.choice("order", order, SWEEP_ORDERS)

    @property
    def output_channels(self):
        """The number of output channels, ``2*units`` for concat and ``units`` otherwise."""
        return 2 * self.units if self.merge_mode == "concat" else self.units

    @property
    def _axes(self):
        return ("row", "col") if self.order == "rows_first" else ("col", "row")

    def _fan_in(self, axis, input_channels):
        """Channels the pass over ``axis`` reads: the (patched) input for the first pass."""
        first = self._axes[0]
        return input_channels * self.patch_size ** 2 if axis == first else self.output_channels

    def build(self, input_shape):
        _check_input_shape(self, input_shape, self.patch_size)
        for axis in ("row", "col"):  # fixed creation order: saved weights stay where they were
            self._build_pass(axis, self._fan_in(axis, input_shape[-1]))
        self.built = True

    def call(self, inputs, training=None):
        x = _to_patches(inputs, self.patch_size)
        if self.order == "columns_first":
            x = ops.transpose(x, (0, 2, 1, 3))  # columns become rows; undone below
        first, second = self._axes
        rows, bhw = _rows(x)
        y = self._run_pass(first, rows, training)
        y = self._run_pass(second, _cols_from_rows(y, bhw), training)
        y = _image_from_cols(y, bhw)
        if self.order == "columns_first":
            y = ops.transpose(y, (0, 2, 1, 3))
        return y

    def compute_output_shape(self, input_shape):
        b, h, w = tuple(input_shape)[:3]
        p = self.patch_size
        return (b, None if h is None else h // p, None if w is None else w // p, self.output_channels)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, merge_mode=self.merge_mode, dropout=self.dropout, seed=self.seed,
                      patch_size=self.patch_size, order=self.order)
        return config


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
class ReNet2D(_Sweep2D):
    """A ReNet layer: bidirectional GRU sweeps over every row and over every column.

    For one row ``x_1 .. x_W`` (pixels with ``C`` channels) a GRU reads left-to-right and a second
    GRU right-to-left; each step is the book's GRU (Keras' weights; Keras' ``z`` is the book's
    ``1 - z``)::

        z_t       = sigmoid(x_t W_xz + h_{t-1} W_hz + b_z)
        r_t       = sigmoid(x_t W_xr + h_{t-1} W_hr + b_r)
        h_tilde_t = tanh(x_t W_xh + r_t * (h_{t-1} W_hh + b_hh) + b_h)   (reset_after=True)
        h_t       = (1 - z_t) * h_{t-1} + z_t * h_tilde_t

    The row output at pixel (i, j) is ``merge(h_fwd[i, j], h_bwd[i, j])``. The same is then done
    down and up every column of that output, so pixel (i, j) depends on every pixel of the image.
    With ``order="columns_first"`` the column pass comes first (ReNet's order).

    All rows are one batch: ``(B, H, W, C) -> (B*H, W, C)``, a single ``Bidirectional(GRU)``
    call, then a transpose so that columns are the batch ``(B*W, H, D)``.

    Args:
        units: positive int, hidden units of each of the four GRUs.
        merge_mode: how the two directions combine: ``"concat"`` (``2*units`` channels, default),
            ``"sum"``, ``"ave"`` or ``"mul"`` (``units`` channels).
        dropout: float in [0, 1), dropout on the GRUs' inputs during training. No recurrent
            dropout, so the defaults keep the cuDNN kernel on a GPU.
        reset_after: Keras/cuDNN form of the candidate (True, default, GPU-fast) or the form
            that applies the reset gate before the matrix product (False; faster on CPU,
            measured in ``benchmarks/README.md``; no cuDNN).
        seed: None or int; fixes the initial weights and the dropout masks.
        patch_size: positive int ``p``; each non-overlapping ``p x p`` patch is one sequence
            element of ``p*p*C`` features (ReNet's patches). H and W must be divisible by ``p``.
        order: ``"rows_first"`` (default) or ``"columns_first"`` (ReNet/ReSeg's vertical-first order).
        **kwargs: ``name``, ``dtype``, ... as for any Keras layer.

    Attributes:
        row_gru: the ``keras.layers.Bidirectional`` that sweeps along rows (``row_gru.forward_layer``,
            ``row_gru.backward_layer`` are ``keras.layers.GRU``; read them with
            :func:`gruseg.gru.gru_weights_from_keras`).
        col_gru: the ``Bidirectional`` that sweeps along columns.

    Call arguments:
        inputs: (B, H, W, C) float tensor; H, W and B may differ from call to call.
        training: bool, enables dropout.

    Returns:
        (B, H/p, W/p, 2*units) for ``merge_mode="concat"``, else (B, H/p, W/p, units).

    Example:
        >>> layer = ReNet2D(8)
        >>> tuple(layer(np.zeros((2, 5, 7, 3), "float32")).shape)
        (2, 5, 7, 16)
        >>> tuple(ReNet2D(8, patch_size=2, order="columns_first")(np.zeros((2, 4, 6, 3), "float32")).shape)
        (2, 2, 3, 16)
    """

    def __init__(self, units, merge_mode="concat", dropout=0.0, reset_after=True, seed=None, patch_size=1,
                 order="rows_first", **kwargs):
        super().__init__(units, merge_mode=merge_mode, dropout=dropout, seed=seed, patch_size=patch_size,
                         order=order, **kwargs)
        self.reset_after = _checks.boolean("reset_after", reset_after)
        self.row_gru = _make_bigru(self.units, merge_mode, self.dropout, self.reset_after, seed, 0, "row_gru")
        self.col_gru = _make_bigru(self.units, merge_mode, self.dropout, self.reset_after, seed, 10, "col_gru")

    def _build_pass(self, axis, fan_in):
        (self.row_gru if axis == "row" else self.col_gru).build((None, None, fan_in))

    def _run_pass(self, axis, sequences, training):
        return (self.row_gru if axis == "row" else self.col_gru)(sequences, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(reset_after=self.reset_after)
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
        reset_after: Keras/cuDNN candidate form (True) or the reset-before form (False).
        seed: None or int, fixes the initial weights and dropout masks.

    Attributes:
        gru: the ``keras.layers.GRU``.

    Example:
        >>> tuple(RowGRU2D(4)(np.zeros((1, 3, 5, 2), "float32")).shape)
        (1, 3, 5, 4)
    """

    def __init__(self, units, dropout=0.0, reset_after=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _checks.positive_int("units", units)
        self.dropout = _checks.fraction("dropout", dropout)
        self.reset_after = _checks.boolean("reset_after", reset_after)
        self.seed = _checks.seed("seed", seed)
        self.gru = _make_gru(self.units, self.dropout, self.reset_after, seed, 0, name="gru")

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


def linear_scan(a, b, scan="sequential", reverse=False):
    """Solve the linear recurrence ``h_t = a_t * h_{t-1} + b_t`` with ``h_0 = 0`` along axis 1.

    The recurrence of minGRU (``a = 1 - z``, ``b = z * h_tilde``) and of any other gated linear RNN.

    Args:
        a, b: (N, T, U) tensors (``a = 1 - z``, ``b = z * h_tilde`` for minGRU).
        scan: ``"sequential"`` (a loop over T of element-wise ops; fastest on TF-CPU) or
            ``"parallel"`` (a Hillis-Steele prefix scan: ``log2 T`` rounds of element-wise
            ops over all steps at once; more work, less depth, meant for accelerators).
        reverse: run from the last step to the first (outputs stay in input order).

    Returns:
        (N, T, U) tensor of all ``h_t``.

    Example:
        >>> h = linear_scan(np.full((1, 3, 1), 0.5, "float32"), np.ones((1, 3, 1), "float32"))
        >>> np.asarray(h).ravel().tolist()
        [1.0, 1.5, 1.75]
    """
    _checks.choice("scan", scan, SCAN_MODES)
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
class MinGRUSweep2D(_Sweep2D):
    """ReNet-style 2-D sweep with minGRU cells (Feng et al. 2024, "Were RNNs all we needed?").

    minGRU drops the previous state from the gates and the candidate::

        z_t       = sigmoid(x_t W_z + b_z)
        h_tilde_t = x_t W_h + b_h
        h_t       = (1 - z_t) * h_{t-1} + z_t * h_tilde_t,   h_0 = 0

    so ``z`` and ``h_tilde`` for all steps come from one matmul, and what is left is the linear
    recurrence ``h_t = a_t h_{t-1} + b_t`` (``a = 1 - z``, ``b = z * h_tilde``), which
    :func:`linear_scan` solves sequentially or with a parallel (associative) scan.

    Sweeps as :class:`ReNet2D` (same ``order`` and ``patch_size`` options): rows left-to-right and
    right-to-left, merged; then columns of that top-to-bottom and bottom-to-top, merged. Each of
    the four directions has its own weights.

    Args:
        units: positive int, hidden units per direction.
        merge_mode: ``"concat"`` (``2*units`` channels), ``"sum"``, ``"ave"`` or ``"mul"``.
        dropout: float in [0, 1), dropout on each sweep's input during training.
        scan: ``"sequential"`` (default; fastest on TF-CPU) or ``"parallel"``.
        seed: None or int; fixes the initial weights and the dropout masks.
        patch_size: positive int, non-overlapping ``p x p`` patches as sequence elements.
        order: ``"rows_first"`` (default) or ``"columns_first"``.

    Weights (for direction ``k`` in ``row_fwd, row_bwd, col_fwd, col_bwd``): ``{k}_kernel``
    (C_in, 2*units) holds ``[W_z | W_h]`` and ``{k}_bias`` (2*units,) holds ``[b_z | b_h]``.

    Call arguments:
        inputs: (B, H, W, C) float tensor; H, W, B may vary.
        training: bool, enables dropout.

    Returns:
        (B, H/p, W/p, 2*units) for concat, else (B, H/p, W/p, units).

    Example:
        >>> layer = MinGRUSweep2D(8)
        >>> tuple(layer(np.zeros((2, 5, 7, 3), "float32")).shape)
        (2, 5, 7, 16)
    """

    DIRECTIONS = ("row_fwd", "row_bwd", "col_fwd", "col_bwd")

    def __init__(self, units, merge_mode="concat", dropout=0.0, scan="sequential", seed=None, patch_size=1,
                 order="rows_first", **kwargs):
        super().__init__(units, merge_mode=merge_mode, dropout=dropout, seed=seed, patch_size=patch_size,
                         order=order, **kwargs)
        self.scan = _checks.choice("scan", scan, SCAN_MODES)
        self._dropout_seed = keras.random.SeedGenerator(_sub_seed(seed, 99)) if self.dropout else None
        self.kernels, self.biases = {}, {}

    def _build_pass(self, axis, fan_in):
        for direction in (f"{axis}_fwd", f"{axis}_bwd"):
            k = self.DIRECTIONS.index(direction)
            self.kernels[direction] = self.add_weight(
                name=f"{direction}_kernel", shape=(fan_in, 2 * self.units),
                initializer=keras.initializers.GlorotUniform(seed=_sub_seed(self.seed, k)))
            self.biases[direction] = self.add_weight(
                name=f"{direction}_bias", shape=(2 * self.units,), initializer="zeros")

    def _direction(self, x, direction, reverse):
        """One minGRU direction over (N, T, C_in) -> (N, T, units)."""
        proj = ops.matmul(x, self.kernels[direction]) + self.biases[direction]
        z = ops.sigmoid(proj[..., : self.units])
        h_tilde = proj[..., self.units:]
        return linear_scan(1.0 - z, z * h_tilde, scan=self.scan, reverse=reverse)

    def _run_pass(self, axis, sequences, training):
        if training and self.dropout:
            sequences = keras.random.dropout(sequences, self.dropout, seed=self._dropout_seed)
        fwd = self._direction(sequences, f"{axis}_fwd", reverse=False)
        bwd = self._direction(sequences, f"{axis}_bwd", reverse=True)
        return _merge(fwd, bwd, self.merge_mode)

    def get_config(self):
        config = super().get_config()
        config.update(scan=self.scan)
        return config
