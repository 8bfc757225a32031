"""Tests for gruseg.book.gates: per-pixel gates of a ReNet2D row sweep, read with the NumPy GRU."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from gruseg.book.gates import DIRECTIONS, keras_row_sweep, layer_input, row_sweep_gates  # noqa: E402
from gruseg.layers import ReNet2D, RowGRU2D  # noqa: E402
from gruseg.models import build_reseg  # noqa: E402


def _feature_map(seed=0, shape=(2, 3, 5, 4)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _built(layer, x):
    layer(x)
    return layer


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_numpy_states_match_keras_row_sweep(direction):
    x = _feature_map()
    layer = _built(ReNet2D(6, seed=3), x)
    gates = row_sweep_gates(layer, x, direction)
    assert set(gates) == {"h", "z", "r", "h_tilde"}
    for value in gates.values():
        assert value.shape == (2, 3, 5, 6)
    np.testing.assert_allclose(gates["h"], keras_row_sweep(layer, x, direction), atol=1e-5)


def test_keras_row_sweep_is_the_bidirectional_output_split():
    x = _feature_map(1)
    layer = _built(ReNet2D(4, seed=0), x)
    both = keras.ops.convert_to_numpy(layer.row_gru(x.reshape(6, 5, 4))).reshape(2, 3, 5, 8)
    np.testing.assert_array_equal(keras_row_sweep(layer, x, "forward"), both[..., :4])
    np.testing.assert_array_equal(keras_row_sweep(layer, x, "backward"), both[..., 4:])


def test_directions_differ_and_backward_is_in_column_order():
    x = _feature_map(2)
    layer = _built(ReNet2D(4, seed=1), x)
    fwd = row_sweep_gates(layer, x, "forward")["h"]
    bwd = row_sweep_gates(layer, x, "backward")["h"]
    assert not np.allclose(fwd, bwd)
    # the backward sweep reads the last column first: its state there depends on that pixel only
    single = row_sweep_gates(layer, x[:, :, -1:], "backward")["h"]
    np.testing.assert_allclose(bwd[:, :, -1:], single, atol=1e-12)


def test_sum_merge_uses_the_direction_layers():
    x = _feature_map(3)
    layer = _built(ReNet2D(4, merge_mode="sum", seed=2), x)
    fwd = keras_row_sweep(layer, x, "forward")
    bwd = keras_row_sweep(layer, x, "backward")
    merged = keras.ops.convert_to_numpy(layer.row_gru(x.reshape(6, 5, 4))).reshape(2, 3, 5, 4)
    np.testing.assert_allclose(fwd + bwd, merged, atol=1e-5)
    np.testing.assert_allclose(row_sweep_gates(layer, x, "backward")["h"], bwd, atol=1e-5)


def test_gates_rebuild_the_states_in_book_convention():
    x = _feature_map(4)
    layer = _built(ReNet2D(5, seed=4), x)
    g = row_sweep_gates(layer, x)
    assert (g["z"] > 0).all() and (g["z"] < 1).all() and (g["r"] > 0).all() and (g["r"] < 1).all()
    h_prev = np.concatenate([np.zeros_like(g["h"][:, :, :1]), g["h"][:, :, :-1]], axis=2)
    np.testing.assert_allclose((1 - g["z"]) * h_prev + g["z"] * g["h_tilde"], g["h"], atol=1e-12)


def test_row_gru2d_forward_only():
    x = _feature_map(5)
    layer = _built(RowGRU2D(3, seed=0), x)
    np.testing.assert_allclose(row_sweep_gates(layer, x)["h"], keras.ops.convert_to_numpy(layer(x)), atol=1e-5)
    with pytest.raises(ValueError, match="direction='forward'"):
        row_sweep_gates(layer, x, "backward")


def test_layer_input_is_what_the_layer_receives():
    model = build_reseg((16, 16, 3), 2, filters=(4, 8), renet_units=(3, 3), seed=0)
    images = np.random.default_rng(0).random((3, 16, 16, 3)).astype("float32")
    x1 = layer_input(model, "renet1", images, batch_size=2)
    assert x1.shape == (3, 4, 4, 8)
    x2 = layer_input(model, model.get_layer("renet2"), images)
    renet1 = keras.ops.convert_to_numpy(model.get_layer("renet1")(x1))
    np.testing.assert_allclose(x2, renet1, atol=1e-5)


def test_bad_arguments():
    x = _feature_map()
    layer = _built(ReNet2D(2), x)
    with pytest.raises(ValueError, match="direction must be one of"):
        row_sweep_gates(layer, x, "up")
    with pytest.raises(ValueError, match="4-D feature map"):
        row_sweep_gates(layer, x[0])
    with pytest.raises(ValueError, match="x has 3 features per step but the weights expect input_dim=4"):
        row_sweep_gates(layer, x[..., :3])
    with pytest.raises(ValueError, match="must be a ReNet2D"):
        row_sweep_gates(keras.layers.Dense(2), x)
    model = build_reseg((16, 16, 3), 2, filters=(4, 8), renet_units=(3,), seed=0)
    with pytest.raises(ValueError, match="not in model"):
        layer_input(model, "renet9", np.zeros((1, 16, 16, 3)))
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        layer_input(model, "renet1", np.zeros((1, 16, 16, 3)), batch_size=0)
