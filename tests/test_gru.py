"""gruseg.gru: the NumPy GRU and vanilla RNN against Keras, golden values, and argument checks."""

import math
from dataclasses import replace

import numpy as np
import pytest

from gruseg.gru import (
    GRUWeights,
    RNNWeights,
    gru_sequence,
    gru_step,
    gru_weights_from_keras,
    gru_weights_to_keras,
    random_gru_weights,
    random_rnn_weights,
    rnn_sequence,
    sigmoid,
)

keras = pytest.importorskip("keras")

SHAPES = [(1, 1, 1, 1), (2, 5, 3, 4), (3, 9, 2, 7)]  # (batch, time, input_dim, units)


def _inputs(batch, time, dim, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, time, dim)).astype("float32")


def _keras_gru(units, reset_after, **kw):
    return keras.layers.GRU(units, reset_after=reset_after, return_sequences=True, **kw)


def _run(layer, x, **kw):
    return keras.ops.convert_to_numpy(layer(x, **kw))


# ---------------------------------------------------------------------------------------------
# parity with Keras
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("batch,time,dim,units", SHAPES)
def test_numpy_weights_loaded_into_keras_give_the_same_sequence(reset_after, batch, time, dim, units):
    w = random_gru_weights(dim, units, seed=units, reset_after=reset_after, scale=0.8)
    x = _inputs(batch, time, dim)
    layer = _keras_gru(units, reset_after)
    layer.build((None, None, dim))
    layer.set_weights(gru_weights_to_keras(w))
    np.testing.assert_allclose(gru_sequence(x, w), _run(layer, x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("batch,time,dim,units", SHAPES)
def test_keras_weights_read_into_numpy_give_the_same_sequence(reset_after, batch, time, dim, units):
    """Keras-initialised layer with random non-zero biases (both input and recurrent bias rows)."""
    layer = _keras_gru(units, reset_after, bias_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=3),
                       kernel_initializer=keras.initializers.GlorotUniform(seed=1),
                       recurrent_initializer=keras.initializers.Orthogonal(seed=2))
    x = _inputs(batch, time, dim, seed=1)
    H_keras = _run(layer, x)
    assert np.abs(layer.get_weights()[2]).min() > 0  # every bias entry is exercised
    np.testing.assert_allclose(gru_sequence(x, gru_weights_from_keras(layer)), H_keras, atol=1e-5, rtol=0)


@pytest.mark.parametrize("reset_after", [True, False])
def test_initial_state_matches_keras(reset_after):
    w = random_gru_weights(3, 4, seed=5, reset_after=reset_after)
    x = _inputs(2, 6, 3, seed=2)
    h0 = np.random.default_rng(9).uniform(-1, 1, (2, 4)).astype("float32")
    layer = _keras_gru(4, reset_after)
    layer.build((None, None, 3))
    layer.set_weights(gru_weights_to_keras(w))
    np.testing.assert_allclose(gru_sequence(x, w, h0=h0), _run(layer, x, initial_state=h0), atol=1e-5, rtol=0)


@pytest.mark.parametrize("reset_after", [True, False])
def test_go_backwards_matches_keras(reset_after):
    w = random_gru_weights(2, 3, seed=4, reset_after=reset_after)
    x = _inputs(2, 8, 2, seed=3)
    layer = _keras_gru(3, reset_after, go_backwards=True)
    layer.build((None, None, 2))
    layer.set_weights(gru_weights_to_keras(w))
    H = gru_sequence(x, w, go_backwards=True)
    np.testing.assert_allclose(H, _run(layer, x), atol=1e-5, rtol=0)
    # reading backwards is the same as reading the reversed sequence forwards
    np.testing.assert_allclose(H, gru_sequence(x[:, ::-1], w), atol=1e-12)


def test_book_update_gate_is_one_minus_keras_update_gate():
    layer = _keras_gru(3, True, bias_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=0))
    x = _inputs(2, 1, 2)
    layer(x)
    kernel, recurrent, bias = layer.get_weights()
    h = np.random.default_rng(0).uniform(-1, 1, (2, 3))
    z_keras = sigmoid(x[:, 0] @ kernel[:, :3] + h @ recurrent[:, :3] + bias[0, :3] + bias[1, :3])
    _, gates = gru_step(x[:, 0], h, gru_weights_from_keras(layer))
    np.testing.assert_allclose(gates["z"], 1 - z_keras, atol=1e-6)


@pytest.mark.parametrize("batch,time,dim,units", SHAPES)
def test_rnn_sequence_matches_simple_rnn(batch, time, dim, units):
    w = random_rnn_weights(dim, units, seed=7, scale=0.9)
    x = _inputs(batch, time, dim, seed=4)
    layer = keras.layers.SimpleRNN(units, return_sequences=True)
    layer.build((None, None, dim))
    layer.set_weights([w.W_xh, w.W_hh, w.b_h])
    np.testing.assert_allclose(rnn_sequence(x, w), _run(layer, x), atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------------------
# conversions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reset_after", [True, False])
def test_to_keras_then_from_keras_is_the_identity(reset_after):
    w = random_gru_weights(3, 5, seed=11, reset_after=reset_after)
    arrays = gru_weights_to_keras(w)
    assert [a.dtype for a in arrays] == [np.float32] * 3
    assert arrays[0].shape == (3, 15) and arrays[1].shape == (5, 15)
    assert arrays[2].shape == ((2, 15) if reset_after else (15,))
    back = gru_weights_from_keras(arrays)
    assert back.reset_after == reset_after
    for name in ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r", "W_xh", "W_hh", "b_h", "b_hh"):
        np.testing.assert_allclose(getattr(back, name), getattr(w, name), atol=1e-6, err_msg=name)


def test_from_keras_reads_a_layer_and_refuses_an_unbuilt_one():
    layer = _keras_gru(2, False)
    with pytest.raises(ValueError, match="no weights yet"):
        gru_weights_from_keras(layer)
    layer.build((None, None, 3))
    w = gru_weights_from_keras(layer)
    assert (w.input_dim, w.units, w.reset_after) == (3, 2, False)


def test_to_keras_refuses_b_hh_without_reset_after():
    w = replace(random_gru_weights(2, 2, seed=0, reset_after=False), b_hh=np.ones(2))
    with pytest.raises(ValueError, match="b_hh"):
        gru_weights_to_keras(w)


# ---------------------------------------------------------------------------------------------
# golden values from constant initialisers, worked by hand
# ---------------------------------------------------------------------------------------------
# Two units, two inputs, every kernel and recurrent weight 0.1, biases 0; x_1 = x_2 = [1, 2], h_0 = 0.
# Step 1: all pre-activations are 0.1 * (1 + 2) = 0.3 (h_0 = 0), so in Keras' convention
#   z_k = sigmoid(0.3), h~ = tanh(0.3), h_1 = z_k * 0 + (1 - z_k) * h~ = sigmoid(-0.3) * tanh(0.3).
# Step 2: h_1 is the same a in both units, so h W = 0.1 * 2a = 0.2a for every block, and
#   z_k = r = sigmoid(0.3 + 0.2a); h~ = tanh(0.3 + r * 0.2a) in both conventions (bias 0, equal units);
#   h_2 = z_k * a + (1 - z_k) * h~.
_A = (1 / (1 + math.exp(0.3))) * math.tanh(0.3)          # sigmoid(-0.3) * tanh(0.3) = 0.1239703
_ZK2 = 1 / (1 + math.exp(-(0.3 + 0.2 * _A)))
_H2 = _ZK2 * _A + (1 - _ZK2) * math.tanh(0.3 + _ZK2 * 0.2 * _A)   # 0.1996737
GOLDEN = np.array([[_A, _A], [_H2, _H2]])


@pytest.mark.parametrize("reset_after", [True, False])
def test_golden_values_keras_and_numpy(reset_after):
    x = np.array([[[1.0, 2.0], [1.0, 2.0]]], dtype="float32")
    layer = _keras_gru(2, reset_after, kernel_initializer=keras.initializers.Constant(0.1),
                       recurrent_initializer=keras.initializers.Constant(0.1), bias_initializer="zeros")
    np.testing.assert_allclose(_run(layer, x)[0], GOLDEN, atol=1e-6)
    np.testing.assert_allclose(gru_sequence(x, gru_weights_from_keras(layer))[0], GOLDEN, atol=1e-6)
    # the same layer written directly in the book's convention: the update gate's weights are -0.1
    full = lambda v, shape: np.full(shape, v)  # noqa: E731
    book = GRUWeights(W_xz=full(-0.1, (2, 2)), W_hz=full(-0.1, (2, 2)), b_z=np.zeros(2),
                      W_xr=full(0.1, (2, 2)), W_hr=full(0.1, (2, 2)), b_r=np.zeros(2),
                      W_xh=full(0.1, (2, 2)), W_hh=full(0.1, (2, 2)), b_h=np.zeros(2), b_hh=np.zeros(2),
                      reset_after=reset_after)
    np.testing.assert_allclose(gru_sequence(x, book)[0], GOLDEN, atol=1e-7, rtol=0)


# ---------------------------------------------------------------------------------------------
# behaviour of the NumPy cell
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reset_after", [True, False])
def test_gate_values_lie_in_their_ranges(reset_after):
    w = random_gru_weights(3, 6, seed=2, reset_after=reset_after, scale=1.5)  # weights of order 1: gates far from 0.5
    H, gates = gru_sequence(_inputs(4, 10, 3, seed=5), w, return_gates=True)
    assert H.shape == gates["z"].shape == gates["r"].shape == gates["h_tilde"].shape == (4, 10, 6)
    for name in ("z", "r"):
        assert ((gates[name] > 0) & (gates[name] < 1)).all(), name
    assert (np.abs(gates["h_tilde"]) < 1).all() and (np.abs(H) < 1).all()
    np.testing.assert_array_equal(H[:, -1], gru_sequence(_inputs(4, 10, 3, seed=5), w)[:, -1])


def test_closed_update_gate_keeps_the_state_and_open_one_takes_the_candidate():
    w = random_gru_weights(2, 3, seed=0)
    x, h = np.ones((1, 2)), np.array([[0.3, -0.6, 0.9]])
    kept, _ = gru_step(x, h, replace(w, b_z=np.full(3, -50.0)))
    replaced, gates = gru_step(x, h, replace(w, b_z=np.full(3, 50.0)))
    np.testing.assert_allclose(kept, h, atol=1e-12)
    np.testing.assert_allclose(replaced, gates["h_tilde"], atol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
def test_closed_reset_gate_hides_the_old_state_from_the_candidate(reset_after):
    w = replace(random_gru_weights(2, 3, seed=1, reset_after=reset_after), b_r=np.full(3, -50.0))
    x = np.array([[0.5, -1.0]])
    _, g1 = gru_step(x, np.array([[0.9, 0.9, 0.9]]), w)
    _, g2 = gru_step(x, np.array([[-0.9, 0.1, -0.4]]), w)
    np.testing.assert_allclose(g1["h_tilde"], g2["h_tilde"], atol=1e-12)
    np.testing.assert_allclose(g1["h_tilde"], np.tanh(x @ w.W_xh + w.b_h), atol=1e-12)


def test_sigmoid_is_stable_at_extremes():
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow warnings
        s = sigmoid(np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0]))
    assert s[0] == 0.0 and s[2] == 0.5 and s[-1] == 1.0
    np.testing.assert_allclose(s[1] + s[3], 1.0)


def test_random_weights_are_deterministic_by_seed():
    a, b, c = (random_gru_weights(3, 4, seed=s) for s in (0, 0, 1))
    for name in ("W_xz", "W_hh", "b_z", "b_hh"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.allclose(a.W_xz, c.W_xz)
    assert np.all(random_gru_weights(3, 4, seed=0, reset_after=False).b_hh == 0)
    r1, r2 = random_rnn_weights(3, 4, seed=2), random_rnn_weights(3, 4, seed=2)
    np.testing.assert_array_equal(r1.W_hh, r2.W_hh)
    assert not np.allclose(r1.W_hh, random_rnn_weights(3, 4, seed=3).W_hh)


# ---------------------------------------------------------------------------------------------
# bad arguments: a ValueError naming the argument
# ---------------------------------------------------------------------------------------------
W = random_gru_weights(3, 4, seed=0)


@pytest.mark.parametrize("call,match", [
    (lambda: gru_sequence(np.zeros((2, 5, 5, 3)), W), r"x must be 3-D .*\(2, 5, 5, 3\).*image feature map"),
    (lambda: gru_sequence(np.zeros((5, 3)), W), r"x must be 3-D"),
    (lambda: gru_sequence(np.zeros((2, 5, 2)), W), r"x has 2 features .*input_dim=3"),
    (lambda: gru_sequence(np.zeros((2, 5, 3)), W, h0=np.zeros((2, 5))), r"h0 must have shape \(2, 4\), got \(2, 5\)"),
    (lambda: gru_sequence(np.zeros((2, 5, 3)), W, h0=np.zeros(4)), r"h0 must have shape"),
    (lambda: gru_step(np.zeros((2, 3)), np.zeros((3, 4)), W), r"h must have shape \(2, 4\)"),
    (lambda: gru_step(np.zeros((2, 2)), np.zeros((2, 4)), W), r"x must have shape \(batch, 3\)"),
    (lambda: rnn_sequence(np.zeros((2, 5, 3, 1)), random_rnn_weights(3, 4)), r"x must be 3-D"),
    (lambda: random_gru_weights(3, 0), r"units must be a positive integer, got 0"),
    (lambda: random_gru_weights(3, -2), r"units must be a positive integer, got -2"),
    (lambda: random_gru_weights(0, 4), r"input_dim must be a positive integer, got 0"),
    (lambda: random_gru_weights(3, 2.5), r"units must be a positive integer, got 2.5"),
    (lambda: random_rnn_weights(3, True), r"units must be a positive integer, got True"),
    (lambda: random_gru_weights(3, 4, reset_after=1), r"reset_after must be True or False, got 1"),
    (lambda: random_gru_weights(3, 4, scale=0.0), r"scale must be a positive number, got 0.0"),
    (lambda: random_gru_weights(3, 4, seed=-1), r"seed must be an integer in \[0, 4294967295\], got -1"),
    (lambda: gru_sequence(np.zeros((2, 5, 3)), W, go_backwards="yes"), r"go_backwards must be True or False"),
    (lambda: replace(W, reset_after=None), r"reset_after must be True or False, got None"),
    (lambda: replace(W, W_hz=np.zeros((4, 5))), r"GRUWeights.W_hz must have shape \(4, 4\).*got \(4, 5\)"),
    (lambda: replace(W, b_r=np.zeros(3)), r"GRUWeights.b_r must have shape \(4,\)"),
    (lambda: replace(W, W_xh=np.zeros((2, 4))), r"GRUWeights.W_xh must have shape \(3, 4\)"),
    (lambda: RNNWeights(np.zeros((3, 4)), np.zeros((4, 3)), np.zeros(4)), r"W_hh must be \(4, 4\)"),
    (lambda: gru_weights_from_keras([np.zeros((3, 12)), np.zeros((4, 12))]),
     r"expected \[kernel, recurrent_kernel, bias\]"),
    (lambda: gru_weights_from_keras([np.zeros((3, 12)), np.zeros((4, 8)), np.zeros(12)]), r"recurrent_kernel"),
    (lambda: gru_weights_from_keras([np.zeros((3, 12)), np.zeros((4, 12)), np.zeros(12)], reset_after=True),
     r"reset_after=True the bias must be \(2, 12\)"),
])
def test_bad_arguments_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------------------------
# gruseg.book.widgets.gru_cell_explorer (chapter 2): the readout follows the sliders
# ---------------------------------------------------------------------------------------------
def test_cell_explorer_readout_follows_the_sliders():
    from gruseg.book.widgets import gru_cell_explorer

    w = random_gru_weights(1, 2, seed=3, scale=1.0)
    box = gru_cell_explorer(w)
    assert set(box.sliders) == {"x", "h1", "h2", "update_shift", "reset_shift"}
    box.sliders["x"].value = -1.5
    box.sliders["h2"].value = 0.25
    h_new, gates = gru_step(np.array([[-1.5]]), np.array([[0.5, 0.25]]), w)
    np.testing.assert_allclose(box.values["h_new"], h_new[0])
    np.testing.assert_allclose(box.values["z"], gates["z"][0])
    assert f"{h_new[0, 1]:+.3f}" in box.readout.value
    box.sliders["update_shift"].value = -6.0                      # z -> 0: keep the old state
    np.testing.assert_allclose(box.values["h_new"], [0.5, 0.25], atol=0.02)
    box.sliders["update_shift"].value = 6.0                       # z near 1: mostly the candidate
    v = box.values
    assert (v["z"] > 0.8).all()
    np.testing.assert_allclose(v["h_new"], (1 - v["z"]) * v["h"] + v["z"] * v["h_tilde"], atol=1e-12)


def test_cell_explorer_default_and_bad_arguments():
    from gruseg.book.widgets import gru_cell_explorer

    one = gru_cell_explorer(units=1, reset_after=False, seed=0)
    assert set(one.sliders) == {"x", "h1", "update_shift", "reset_shift"} and one.values["z"].shape == (1,)
    with pytest.raises(ValueError, match=r"units must be an integer in \[1, 2\], got 3"):
        gru_cell_explorer(units=3)
    with pytest.raises(ValueError, match="input_dim=1 and 1 or 2 units"):
        gru_cell_explorer(random_gru_weights(2, 2))
    with pytest.raises(ValueError, match="weights must be a gruseg.gru.GRUWeights"):
        gru_cell_explorer(weights=[1, 2])
