"""gruseg.gru's NumPy minGRU (linear_scan, mingru_sequence) and gruseg.book.sweeps' minGRU 2-D sweep,
against hand-worked values and against gruseg.layers.MinGRUSweep2D / mingru_scan."""

import numpy as np
import pytest

from gruseg.book import sweeps
from gruseg.gru import linear_scan, mingru_sequence, sigmoid


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# ---------------------------------------------------------------- NumPy, by hand
def test_linear_scan_by_hand_forwards_and_backwards():
    a = np.array([[[0.5], [0.5], [0.5]]])
    b = np.array([[[1.0], [2.0], [4.0]]])
    # h1 = 1, h2 = 0.5 * 1 + 2 = 2.5, h3 = 0.5 * 2.5 + 4 = 5.25
    np.testing.assert_allclose(linear_scan(a, b).ravel(), [1.0, 2.5, 5.25])
    # backwards, in input order: h3 = 4, h2 = 0.5 * 4 + 2 = 4, h1 = 0.5 * 4 + 1 = 3
    np.testing.assert_allclose(linear_scan(a, b, reverse=True).ravel(), [3.0, 4.0, 4.0])


def test_mingru_sequence_is_the_three_equations():
    rng = np.random.default_rng(1)
    x, kernel, bias = rng.normal(size=(2, 6, 3)), rng.normal(size=(3, 8)), rng.normal(size=8)
    z = sigmoid(x @ kernel[:, :4] + bias[:4])
    h_tilde = x @ kernel[:, 4:] + bias[4:]
    h, expected = np.zeros((2, 4)), []
    for t in range(6):
        h = (1 - z[:, t]) * h + z[:, t] * h_tilde[:, t]
        expected.append(h)
    got = mingru_sequence(x, kernel, bias)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.stack(expected, axis=1), atol=1e-12)
    # reverse: the same recurrence on the reversed sequence, returned in input order
    np.testing.assert_allclose(mingru_sequence(x, kernel, bias, reverse=True),
                               mingru_sequence(x[:, ::-1], kernel, bias)[:, ::-1], atol=1e-12)


def test_open_gate_takes_the_candidate_and_closed_gate_keeps_zero():
    x, kernel = _x((1, 5, 2)).astype(np.float64), np.ones((2, 2))
    open_gate = mingru_sequence(x, kernel, np.array([50.0, 0.0]))      # z = 1: h_t = h_tilde_t
    np.testing.assert_allclose(open_gate[0, :, 0], x[0].sum(axis=-1), atol=1e-12)
    closed = mingru_sequence(x, kernel, np.array([-50.0, 0.0]))        # z = 0: h stays at h_0 = 0
    np.testing.assert_allclose(closed, 0.0, atol=1e-12)


@pytest.mark.parametrize("call,match", [
    (lambda: linear_scan(np.zeros((2, 3)), np.zeros((2, 3))), r"a and b must be 3-D"),
    (lambda: linear_scan(np.zeros((1, 3, 2)), np.zeros((1, 3, 1))), r"same shape"),
    (lambda: linear_scan(np.zeros((1, 3, 2)), np.zeros((1, 3, 2)), reverse=1), r"reverse must be True or False, got 1"),
    (lambda: mingru_sequence(np.zeros((3, 2)), np.zeros((2, 4)), np.zeros(4)), r"x must be 3-D"),
    (lambda: mingru_sequence(np.zeros((1, 3, 2)), np.zeros((3, 4)), np.zeros(4)), r"kernel must be \(features=2"),
    (lambda: mingru_sequence(np.zeros((1, 3, 2)), np.zeros((2, 3)), np.zeros(3)), r"kernel must be"),
    (lambda: mingru_sequence(np.zeros((1, 3, 2)), np.zeros((2, 4)), np.zeros(2)), r"bias must have shape \(4,\)"),
])
def test_bad_arguments_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- against the Keras layer
keras = pytest.importorskip("keras")
layers = pytest.importorskip("gruseg.layers")


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("scan", ["sequential", "parallel"])
def test_keras_linear_scan_matches_the_numpy_one(scan, reverse):
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (3, 9, 4)).astype("float32")
    b = rng.normal(size=(3, 9, 4)).astype("float32")
    got = keras.ops.convert_to_numpy(layers.linear_scan(a, b, scan=scan, reverse=reverse))
    np.testing.assert_allclose(got, linear_scan(a, b, reverse), atol=1e-5)


@pytest.mark.parametrize("scan", ["sequential", "parallel"])
@pytest.mark.parametrize("merge_mode,channels", [("concat", 8), ("sum", 4), ("ave", 4), ("mul", 4)])
def test_mingru_sweep2d_numpy_matches_the_layer(scan, merge_mode, channels):
    x = _x((2, 5, 6, 3), seed=4)
    layer = layers.MinGRUSweep2D(4, merge_mode=merge_mode, scan=scan, seed=5)
    layer.build(x.shape)
    rng = np.random.default_rng(0)   # random biases too: zero biases would hide bias-handling bugs
    layer.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.get_weights()])
    y = keras.ops.convert_to_numpy(layer(x))
    ref = sweeps.mingru_sweep2d_numpy(x, sweeps.mingru_sweep2d_weights(layer), merge_mode)
    assert y.shape == ref.shape == (2, 5, 6, channels)
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_mingru_sweep2d_weights_refuses_other_layers():
    with pytest.raises(ValueError, match="built MinGRUSweep2D"):
        sweeps.mingru_sweep2d_weights(layers.ReNet2D(2))
