"""The GRU, a vanilla RNN and minGRU in pure NumPy, written exactly as the book's equations.

No TensorFlow here: the first chapters run these without waiting for a graph to trace.

The book's GRU, for one step with input ``x`` and previous state ``h``, in the form of Chung et
al. 2014::

    z       = sigmoid(x W_xz + h W_hz + b_z)             update gate
    r       = sigmoid(x W_xr + h W_hr + b_r)             reset gate
    h_tilde = tanh(x W_xh + (r * h) W_hh + b_h)          candidate state (reset_after=False)
    h_tilde = tanh(x W_xh + r * (h W_hh + b_hh) + b_h)   candidate state (reset_after=True)
    h_new   = (1 - z) * h + z * h_tilde

``*`` is the element-wise (Hadamard) product: the reset gate *scales* each unit of the old
state, it does not add to it. Row vectors times matrices (``x W``) is the same as the
article's ``W [h, x]`` with ``W = [W_h; W_x]`` stacked.

Two gates (``z``, ``r``); ``h_tilde`` is a proposal, not a gate.

Who wrote which form: the GRU's inventors, Cho et al. 2014 (eq. 7), let ``z`` multiply the *old*
state, ``h_new = z * h + (1 - z) * h_tilde``, and so do Keras and PyTorch; the form above, with
``z`` on the candidate, is Chung et al. 2014's, and the article's. The candidate with the reset
gate inside the product (``reset_after=False``) is Cho et al.'s; ``reset_after=True`` is the
cuDNN form Keras uses by default. Since ``1 - sigmoid(a) = sigmoid(-a)``, the two update forms
are the same model with the update-gate weights negated; :func:`gru_weights_from_keras` does
that negation, so :func:`gru_sequence` reproduces ``keras.layers.GRU`` while reporting ``z`` in
the book's sense ("how much of the candidate to take").

minGRU (Feng et al. 2024, chapter 5) drops ``h`` from the gate and the candidate::

    z_t       = sigmoid(x_t W_z + b_z)
    h_tilde_t = x_t W_h + b_h
    h_t       = (1 - z_t) * h_{t-1} + z_t * h_tilde_t

which is the linear recurrence ``h_t = a_t * h_{t-1} + b_t`` with ``a = 1 - z`` and
``b = z * h_tilde`` (:func:`linear_scan`); :func:`mingru_sequence` is the float64 reference for
:class:`gruseg.layers.MinGRUSweep2D` and :func:`gruseg.layers.linear_scan`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from gruseg import _checks

__all__ = [
    "GRUWeights",
    "RNNWeights",
    "sigmoid",
    "gru_step",
    "gru_sequence",
    "rnn_step",
    "rnn_sequence",
    "random_gru_weights",
    "random_rnn_weights",
    "gru_weights_from_keras",
    "gru_weights_to_keras",
    "linear_scan",
    "mingru_sequence",
]


def sigmoid(a):
    """Numerically stable logistic function ``1 / (1 + exp(-a))``."""
    a = np.asarray(a)
    out = np.empty_like(a, dtype=np.result_type(a, np.float32))
    pos = a >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-a[pos]))
    e = np.exp(a[~pos])
    out[~pos] = e / (1.0 + e)
    return out


class _Sizes:
    """``input_dim`` and ``units`` of a weight set, read from its ``W_xh`` (D, U)."""

    @property
    def input_dim(self) -> int:
        """Number of input features ``D``."""
        return self.W_xh.shape[0]

    @property
    def units(self) -> int:
        """Number of hidden units ``U``."""
        return self.W_xh.shape[1]


@dataclass
class GRUWeights(_Sizes):
    """Parameters of one GRU layer in the book's convention (``z`` weights the candidate, as in Chung et al. 2014).

    Shapes, with ``D`` input features and ``U`` units:
        ``W_xz, W_xr, W_xh``: (D, U) input weights of the update gate, reset gate, candidate.
        ``W_hz, W_hr, W_hh``: (U, U) recurrent weights.
        ``b_z, b_r, b_h``: (U,) biases.
        ``b_hh``: (U,) recurrent candidate bias, inside the reset product; used only when
        ``reset_after`` is True (Keras' default, the cuDNN form).
        ``reset_after``: where the reset gate is applied (see the module docstring).
    """

    W_xz: np.ndarray
    W_hz: np.ndarray
    b_z: np.ndarray
    W_xr: np.ndarray
    W_hr: np.ndarray
    b_r: np.ndarray
    W_xh: np.ndarray
    W_hh: np.ndarray
    b_h: np.ndarray
    b_hh: np.ndarray
    reset_after: bool = True

    def __post_init__(self):
        self.reset_after = _checks.boolean("reset_after", self.reset_after)
        for f in fields(self):
            if f.name != "reset_after":
                setattr(self, f.name, np.asarray(getattr(self, f.name), dtype=np.float64))
        D, U = self.W_xz.shape
        expected = {
            "W_xz": (D, U), "W_xr": (D, U), "W_xh": (D, U),
            "W_hz": (U, U), "W_hr": (U, U), "W_hh": (U, U),
            "b_z": (U,), "b_r": (U,), "b_h": (U,), "b_hh": (U,),
        }
        for name, shape in expected.items():
            got = getattr(self, name).shape
            if got != shape:
                raise ValueError(
                    f"GRUWeights.{name} must have shape {shape} (input_dim={D}, units={U}), got {got}"
                )


@dataclass
class RNNWeights(_Sizes):
    """Parameters of a vanilla tanh RNN: ``h_new = tanh(x W_xh + h W_hh + b_h)``.

    Shapes: ``W_xh`` (D, U), ``W_hh`` (U, U), ``b_h`` (U,).
    """

    W_xh: np.ndarray
    W_hh: np.ndarray
    b_h: np.ndarray

    def __post_init__(self):
        self.W_xh = np.asarray(self.W_xh, dtype=np.float64)
        self.W_hh = np.asarray(self.W_hh, dtype=np.float64)
        self.b_h = np.asarray(self.b_h, dtype=np.float64)
        D, U = self.W_xh.shape
        if self.W_hh.shape != (U, U) or self.b_h.shape != (U,):
            raise ValueError(
                f"RNNWeights: W_hh must be {(U, U)} and b_h {(U,)} for units={U}, "
                f"got {self.W_hh.shape} and {self.b_h.shape}"
            )


def _check_step_inputs(x, h, input_dim, units):
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != input_dim:
        raise ValueError(f"x must have shape (batch, {input_dim}), got {x.shape}")
    if h.shape != (x.shape[0], units):
        raise ValueError(f"h must have shape ({x.shape[0]}, {units}) to match x and units, got {h.shape}")
    return x, h


def _check_sequence_inputs(x, h0, input_dim, units):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        hint = " (an image feature map? reshape rows into sequences first)" if x.ndim == 4 else ""
        raise ValueError(f"x must be 3-D (batch, time, features), got shape {x.shape}{hint}")
    if x.shape[2] != input_dim:
        raise ValueError(f"x has {x.shape[2]} features per step but the weights expect input_dim={input_dim}")
    if h0 is None:
        h0 = np.zeros((x.shape[0], units))
    h0 = np.asarray(h0, dtype=np.float64)
    if h0.shape != (x.shape[0], units):
        raise ValueError(f"h0 must have shape ({x.shape[0]}, {units}), got {h0.shape}")
    return x, h0


def gru_step(x, h, weights: GRUWeights):
    """One GRU step, the four equations of the module docstring.

    Args:
        x: (batch, D) input at this step.
        h: (batch, U) previous hidden state.
        weights: a :class:`GRUWeights`.

    Returns:
        ``(h_new, gates)``: ``h_new`` is (batch, U); ``gates`` is a dict with the (batch, U)
        arrays ``"z"``, ``"r"`` and ``"h_tilde"``.

    Example:
        >>> w = random_gru_weights(input_dim=3, units=4, seed=0)
        >>> h_new, gates = gru_step(np.ones((2, 3)), np.zeros((2, 4)), w)
        >>> h_new.shape, sorted(gates)
        ((2, 4), ['h_tilde', 'r', 'z'])
    """
    w = weights
    x, h = _check_step_inputs(x, h, w.input_dim, w.units)
    z = sigmoid(x @ w.W_xz + h @ w.W_hz + w.b_z)
    r = sigmoid(x @ w.W_xr + h @ w.W_hr + w.b_r)
    if w.reset_after:
        h_tilde = np.tanh(x @ w.W_xh + r * (h @ w.W_hh + w.b_hh) + w.b_h)
    else:
        h_tilde = np.tanh(x @ w.W_xh + (r * h) @ w.W_hh + w.b_h)
    h_new = (1.0 - z) * h + z * h_tilde
    return h_new, {"z": z, "r": r, "h_tilde": h_tilde}


def gru_sequence(x, weights: GRUWeights, h0=None, return_gates: bool = False, go_backwards: bool = False):
    """Run a GRU over a batch of sequences, one :func:`gru_step` per time step.

    Args:
        x: (batch, T, D) inputs.
        weights: a :class:`GRUWeights`.
        h0: optional (batch, U) initial state; zeros by default.
        return_gates: also return the gate values at every step.
        go_backwards: read the sequence from the last step to the first (as Keras'
            ``go_backwards``); outputs are then in the order they were computed.

    Returns:
        ``H`` of shape (batch, T, U), the hidden state after every step (``H[:, -1]`` is the
        final state). With ``return_gates``, ``(H, gates)`` where ``gates`` maps ``"z"``, ``"r"``,
        ``"h_tilde"`` to (batch, T, U) arrays.

    Example:
        >>> w = random_gru_weights(input_dim=3, units=5, seed=1)
        >>> gru_sequence(np.zeros((2, 7, 3)), w).shape
        (2, 7, 5)
    """
    x, h = _check_sequence_inputs(x, h0, weights.input_dim, weights.units)
    return_gates = _checks.boolean("return_gates", return_gates)
    go_backwards = _checks.boolean("go_backwards", go_backwards)
    steps = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    states, gates = [], {"z": [], "r": [], "h_tilde": []}
    for t in steps:
        h, g = gru_step(x[:, t], h, weights)
        states.append(h)
        for k in gates:
            gates[k].append(g[k])
    H = np.stack(states, axis=1)
    if return_gates:
        return H, {k: np.stack(v, axis=1) for k, v in gates.items()}
    return H


def rnn_step(x, h, weights: RNNWeights):
    """One vanilla RNN step: ``h_new = tanh(x W_xh + h W_hh + b_h)``; shapes as :func:`gru_step`."""
    x, h = _check_step_inputs(x, h, weights.input_dim, weights.units)
    return np.tanh(x @ weights.W_xh + h @ weights.W_hh + weights.b_h)


def rnn_sequence(x, weights: RNNWeights, h0=None):
    """Run a vanilla tanh RNN over (batch, T, D) inputs; returns (batch, T, U) hidden states.

    Matches ``keras.layers.SimpleRNN(units, return_sequences=True)`` given the same weights.
    """
    x, h = _check_sequence_inputs(x, h0, weights.input_dim, weights.units)
    states = []
    for t in range(x.shape[1]):
        h = rnn_step(x[:, t], h, weights)
        states.append(h)
    return np.stack(states, axis=1)


def _check_dims(input_dim, units):
    return _checks.positive_int("input_dim", input_dim), _checks.positive_int("units", units)


def _scale(scale, input_dim, units):
    if scale is None:
        return 1.0 / np.sqrt(input_dim + units)
    return _checks.positive_number("scale", scale)


def random_gru_weights(input_dim: int, units: int, seed: int = 0, reset_after: bool = True,
                       scale: float | None = None) -> GRUWeights:
    """Random GRU weights, deterministic from ``seed``.

    Weights are drawn from N(0, scale²) with ``scale = 1/sqrt(input_dim + units)`` by default;
    biases from N(0, 0.1²), so that tests exercise every bias term.
    """
    D, U = _check_dims(input_dim, units)
    reset_after = _checks.boolean("reset_after", reset_after)
    rng = np.random.default_rng(_checks.seed("seed", seed, allow_none=False))
    s = _scale(scale, D, U)
    return GRUWeights(
        W_xz=rng.normal(0, s, (D, U)), W_hz=rng.normal(0, s, (U, U)), b_z=rng.normal(0, 0.1, U),
        W_xr=rng.normal(0, s, (D, U)), W_hr=rng.normal(0, s, (U, U)), b_r=rng.normal(0, 0.1, U),
        W_xh=rng.normal(0, s, (D, U)), W_hh=rng.normal(0, s, (U, U)), b_h=rng.normal(0, 0.1, U),
        b_hh=rng.normal(0, 0.1, U) if reset_after else np.zeros(U),
        reset_after=reset_after,
    )


def random_rnn_weights(input_dim: int, units: int, seed: int = 0, scale: float | None = None) -> RNNWeights:
    """Random vanilla-RNN weights, deterministic from ``seed`` (same scheme as :func:`random_gru_weights`)."""
    input_dim, units = _check_dims(input_dim, units)
    rng = np.random.default_rng(_checks.seed("seed", seed, allow_none=False))
    s = _scale(scale, input_dim, units)
    return RNNWeights(W_xh=rng.normal(0, s, (input_dim, units)), W_hh=rng.normal(0, s, (units, units)),
                      b_h=rng.normal(0, 0.1, units))


def gru_weights_from_keras(layer_or_arrays, reset_after: bool | None = None) -> GRUWeights:
    """Read the weights of a built ``keras.layers.GRU`` into the book's convention.

    Keras stores ``kernel`` (D, 3U), ``recurrent_kernel`` (U, 3U) with the gate blocks in the
    order z, r, h, and ``bias`` of shape (3U,) when ``reset_after=False`` or (2, 3U) (input
    bias; recurrent bias) when ``reset_after=True``. Keras' update gate multiplies the old
    state (Cho et al. 2014's form), so its weights are negated here, into the book's (Chung et
    al. 2014's) form (``1 - sigmoid(a) == sigmoid(-a)``).

    Args:
        layer_or_arrays: a built ``keras.layers.GRU`` (or its ``.cell``), or the list
            ``[kernel, recurrent_kernel, bias]`` from ``layer.get_weights()``.
        reset_after: required with a list of arrays when the bias is ambiguous; read from
            the layer otherwise.

    Returns:
        A :class:`GRUWeights` with which :func:`gru_sequence` reproduces the layer.
    """
    if hasattr(layer_or_arrays, "get_weights"):
        layer = layer_or_arrays
        cell = getattr(layer, "cell", layer)
        if not getattr(cell, "use_bias", True):
            raise ValueError("gru_weights_from_keras needs a GRU built with use_bias=True")
        arrays = layer.get_weights()
        if not arrays:
            raise ValueError("the GRU layer has no weights yet: call it on an input (or build it) first")
        reset_after = bool(cell.reset_after)
    else:
        arrays = list(layer_or_arrays)
    if len(arrays) != 3:
        raise ValueError(f"expected [kernel, recurrent_kernel, bias], got {len(arrays)} arrays")
    kernel, recurrent, bias = (np.asarray(a, dtype=np.float64) for a in arrays)
    U = recurrent.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != 3 * U or recurrent.shape != (U, 3 * U):
        raise ValueError(f"kernel must be (D, {3 * U}) and recurrent_kernel ({U}, {3 * U}), "
                         f"got {kernel.shape} and {recurrent.shape}")
    if reset_after is None:
        reset_after = bias.ndim == 2
    if reset_after:
        if bias.shape != (2, 3 * U):
            raise ValueError(f"with reset_after=True the bias must be (2, {3 * U}), got {bias.shape}")
        b_in, b_rec = bias[0], bias[1]
    else:
        if bias.shape != (3 * U,):
            raise ValueError(f"with reset_after=False the bias must be ({3 * U},), got {bias.shape}")
        b_in, b_rec = bias, np.zeros(3 * U)
    blocks = lambda a: (a[..., :U], a[..., U:2 * U], a[..., 2 * U:])  # noqa: E731  z, r, h
    kz, kr, kh = blocks(kernel)
    uz, ur, uh = blocks(recurrent)
    bz_in, br_in, bh_in = blocks(b_in)
    bz_rec, br_rec, bh_rec = blocks(b_rec)
    return GRUWeights(
        W_xz=-kz, W_hz=-uz, b_z=-(bz_in + bz_rec),          # Keras' z is the book's 1 - z
        W_xr=kr, W_hr=ur, b_r=br_in + br_rec,
        W_xh=kh, W_hh=uh, b_h=bh_in, b_hh=bh_rec,
        reset_after=reset_after,
    )


def gru_weights_to_keras(weights: GRUWeights) -> list:
    """The inverse of :func:`gru_weights_from_keras`: ``[kernel, recurrent_kernel, bias]`` (float32)
    for ``keras.layers.GRU(units, reset_after=weights.reset_after).set_weights(...)``."""
    w = weights
    kernel = np.concatenate([-w.W_xz, w.W_xr, w.W_xh], axis=1)
    recurrent = np.concatenate([-w.W_hz, w.W_hr, w.W_hh], axis=1)
    b_in = np.concatenate([-w.b_z, w.b_r, w.b_h])
    if w.reset_after:
        bias = np.stack([b_in, np.concatenate([np.zeros(w.units), np.zeros(w.units), w.b_hh])])
    else:
        if np.any(w.b_hh != 0):
            raise ValueError("b_hh is only used with reset_after=True; it must be zero otherwise")
        bias = b_in
    return [a.astype(np.float32) for a in (kernel, recurrent, bias)]


# ---------------------------------------------------------------------------------------------
# minGRU: a linear recurrence
# ---------------------------------------------------------------------------------------------
def linear_scan(a, b, reverse: bool = False):
    """Solve ``h_t = a_t * h_{t-1} + b_t`` with ``h_0 = 0`` along axis 1, one step at a time.

    The float64 reference for the Keras :func:`gruseg.layers.linear_scan` (the same result, whichever
    ``scan`` that one uses).

    Args:
        a, b: (N, T, U) arrays (for minGRU ``a = 1 - z`` and ``b = z * h_tilde``).
        reverse: run from the last step to the first; the outputs stay in input order
            (``h[:, t]`` has read steps ``T-1 .. t``), as in :func:`gruseg.layers.linear_scan`.

    Returns:
        (N, T, U) float64 array of every ``h_t``.

    Example:
        >>> linear_scan(np.full((1, 3, 1), 0.5), np.ones((1, 3, 1))).ravel()
        array([1.  , 1.5 , 1.75])
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 3 or a.shape != b.shape:
        raise ValueError(f"a and b must be 3-D (batch, time, units) of the same shape, got {a.shape} and {b.shape}")
    steps = range(a.shape[1] - 1, -1, -1) if _checks.boolean("reverse", reverse) else range(a.shape[1])
    h = np.zeros_like(a[:, 0])
    out = np.empty_like(a)
    for t in steps:
        h = a[:, t] * h + b[:, t]
        out[:, t] = h
    return out


def mingru_sequence(x, kernel, bias, reverse: bool = False):
    """Run one minGRU direction over a batch of sequences (equations in the module docstring).

    The weights are laid out as in :class:`gruseg.layers.MinGRUSweep2D`: ``kernel`` holds
    ``[W_z | W_h]`` and ``bias`` holds ``[b_z | b_h]``, so one matmul gives the gate and the
    candidate of every step at once; the recurrence left is :func:`linear_scan`.

    Args:
        x: (N, T, D) inputs.
        kernel: (D, 2U) array ``[W_z | W_h]`` (e.g. ``layer.kernels["row_fwd"]``).
        bias: (2U,) array ``[b_z | b_h]``.
        reverse: read the sequence from the last step to the first; outputs stay in input order
            (as :func:`gruseg.layers.linear_scan`; unlike :func:`gru_sequence`'s ``go_backwards``).

    Returns:
        (N, T, U) float64 hidden states.

    Example:
        >>> kernel, bias = np.ones((3, 4)), np.zeros(4)      # D = 3 inputs, U = 2 units
        >>> mingru_sequence(np.zeros((5, 7, 3)), kernel, bias).shape
        (5, 7, 2)
    """
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"x must be 3-D (batch, time, features), got shape {x.shape}")
    if kernel.ndim != 2 or kernel.shape[0] != x.shape[2] or kernel.shape[1] % 2:
        raise ValueError(f"kernel must be (features={x.shape[2]}, 2 * units), got shape {kernel.shape}")
    if bias.shape != (kernel.shape[1],):
        raise ValueError(f"bias must have shape ({kernel.shape[1]},) to match the kernel, got {bias.shape}")
    units = kernel.shape[1] // 2
    proj = x @ kernel + bias
    z, h_tilde = sigmoid(proj[..., :units]), proj[..., units:]
    return linear_scan(1.0 - z, z * h_tilde, reverse=reverse)
