"""gruseg.book.analysis: gradient norms through time, checked against independent computations."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from gruseg.book.analysis import gradient_norms_through_time, make_recurrent_layer  # noqa: E402
from gruseg.gru import gru_weights_from_keras  # noqa: E402


def test_shape_finite_positive_and_deterministic():
    a = gradient_norms_through_time("gru", steps=12, units=4, batch=3, seed=0)
    b = gradient_norms_through_time("gru", steps=12, units=4, batch=3, seed=0)
    c = gradient_norms_through_time("gru", steps=12, units=4, batch=3, seed=1)
    assert a.shape == (12,) and a.dtype == np.float64
    assert np.all(np.isfinite(a)) and np.all(a > 0)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("kind", ["gru", "rnn"])
def test_state_jacobian_at_distance_zero_is_the_identity(kind):
    g = gradient_norms_through_time(kind, steps=6, units=5, batch=2, seed=0, wrt="states")
    assert g[0] == pytest.approx(np.sqrt(5), rel=1e-6)   # ||d h_T / d h_T||_F = ||I_5||_F


def test_matches_a_hand_derivative_of_a_one_unit_rnn():
    """h_t = tanh(w x_t + u h_{t-1} + b): d h_T / d x_{T-k} = w (1 - h_{T-k}^2) prod_{j > T-k} u (1 - h_j^2)."""
    w, u, b = 0.8, 0.9, 0.1
    layer = keras.layers.SimpleRNN(1)
    layer.build((None, None, 1))
    layer.set_weights([np.array([[w]]), np.array([[u]]), np.array([b])])
    x = np.random.default_rng(0).normal(size=(2, 7, 1)).astype("float32")
    expected = np.zeros((2, 7))
    for i in range(2):
        h, hs = 0.0, []
        for t in range(7):
            h = np.tanh(w * x[i, t, 0] + u * h + b)
            hs.append(h)
        for k in range(7):
            t = 6 - k
            expected[i, k] = abs(w * (1 - hs[t] ** 2) * np.prod([u * (1 - hs[j] ** 2) for j in range(t + 1, 7)]))
    got = gradient_norms_through_time(layer, x=x, wrt="inputs")
    np.testing.assert_allclose(got, expected.mean(axis=0), rtol=1e-4)


def test_matches_the_full_jacobian_of_the_keras_layer():
    """The one-backward-pass trick against tf.GradientTape.batch_jacobian of the whole layer."""
    layer = keras.layers.GRU(3, bias_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=0))
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 5, 2)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        h_T = layer(x)                                                 # (B, U)
    J = tape.batch_jacobian(h_T, x).numpy()                           # (B, U, T, D)
    norms = np.sqrt((J ** 2).sum(axis=(1, 3))).mean(axis=0)           # (T,) by time
    got = gradient_norms_through_time(layer, x=x.numpy(), wrt="inputs")
    np.testing.assert_allclose(got, norms[::-1], rtol=1e-4)


def test_state_jacobian_of_numpy_twin_by_finite_differences():
    """wrt='states' for a GRU against central differences of the NumPy GRU (float64)."""
    from gruseg.gru import gru_step

    layer = make_recurrent_layer("gru", 3, seed=2)
    x = np.random.default_rng(3).normal(size=(1, 6, 1)).astype("float32")
    layer(x)
    w = gru_weights_from_keras(layer)
    hs = [np.zeros((1, 3))]
    for t in range(6):
        hs.append(gru_step(x[:, t], hs[-1], w)[0])

    def final_from(t, h):  # run from state h after step t to the end
        for s in range(t, 6):
            h = gru_step(x[:, s], h, w)[0]
        return h

    eps, expected = 1e-6, []
    for k in range(6):
        t = 6 - k                                    # h_t is the state after reading x_t (1-based)
        J = np.stack([(final_from(t, hs[t] + eps * e) - final_from(t, hs[t] - eps * e))[0] / (2 * eps)
                      for e in np.eye(3)], axis=1)
        expected.append(np.linalg.norm(J))
    got = gradient_norms_through_time(layer, x=x, wrt="states")
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_update_bias_sets_the_book_update_gate_bias():
    layer = make_recurrent_layer("gru", 4, seed=0, update_bias=-4.0)
    layer.build((None, None, 2))
    w = gru_weights_from_keras(layer)
    np.testing.assert_allclose(w.b_z, -4.0)                 # book z = sigmoid(-4 + ...) ~ 0.018
    np.testing.assert_allclose(w.b_r, 0.0)


def test_closed_update_gate_carries_gradients_an_rnn_loses():
    """The chapter-2 claim, small: distance 30, untrained layers with Keras' default initialisers."""
    kw = dict(steps=40, units=8, batch=4, seed=0, wrt="states")
    rnn = gradient_norms_through_time("rnn", **kw)
    gru_half_open = gradient_norms_through_time("gru", **kw)
    gru_closed = gradient_norms_through_time("gru", update_bias=-4.0, **kw)
    assert gru_closed[30] > 10 * rnn[30]
    assert gru_half_open[30] < rnn[30]          # an untrained GRU with z ~ 0.5 forgets even faster
    assert np.all(np.diff(np.log(gru_half_open)) < 0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(layer_or_kind="lstm"), r"kind must be one of 'gru', 'rnn'; got 'lstm'"),
    (dict(layer_or_kind=3), r"layer_or_kind must be 'gru', 'rnn' or a Keras recurrent layer"),
    (dict(layer_or_kind="rnn", update_bias=-4.0), r"update_bias applies to kind='gru' only"),
    (dict(units=0), r"units must be a positive integer, got 0"),
    (dict(steps=0), r"steps must be a positive integer, got 0"),
    (dict(batch=-1), r"batch must be a positive integer, got -1"),
    (dict(wrt="outputs"), r"wrt must be one of 'inputs', 'states'; got 'outputs'"),
    (dict(x=np.zeros((4, 3))), r"x must be a non-empty 3-D array .*\(4, 3\)"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gradient_norms_through_time(**kwargs)


def test_update_bias_with_own_layer_is_refused():
    with pytest.raises(ValueError, match="update_bias"):
        gradient_norms_through_time(keras.layers.GRU(2), update_bias=-1.0)
