"""Tests for gruseg.layers: ReNet2D, RowGRU2D, MinGRUSweep2D and linear_scan."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from gruseg.gru import gru_sequence, gru_weights_from_keras  # noqa: E402
from pathlib import Path  # noqa: E402

from gruseg.book.sweeps import mingru_sweep2d_numpy, mingru_sweep2d_weights, renet2d_numpy, renet2d_weights  # noqa: E402
from gruseg.gru import linear_scan as np_linear_scan  # noqa: E402
from gruseg.layers import MinGRUSweep2D, ReNet2D, RowGRU2D, linear_scan  # noqa: E402

DATA = Path(__file__).parent / "data"


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# ------------------------------------------------------------------------------------------
# NumPy references
# ------------------------------------------------------------------------------------------
def _randomize_biases(layer, seed=0):
    """Zero-initialised biases would hide bias-handling bugs: give every weight random values."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.get_weights()])


# ------------------------------------------------------------------------------------------
# shapes
# ------------------------------------------------------------------------------------------
SWEEPS = [
    pytest.param(lambda **kw: ReNet2D(4, **kw), id="renet"),
    pytest.param(lambda **kw: MinGRUSweep2D(4, **kw), id="mingru-seq"),
    pytest.param(lambda **kw: MinGRUSweep2D(4, scan="parallel", **kw), id="mingru-par"),
]


@pytest.mark.parametrize("make", SWEEPS)
@pytest.mark.parametrize("shape", [(1, 4, 4, 3), (3, 5, 7, 2), (2, 6, 1, 3)])
@pytest.mark.parametrize("merge_mode,channels", [("concat", 8), ("sum", 4), ("ave", 4), ("mul", 4)])
def test_sweep_output_shape(make, shape, merge_mode, channels):
    layer = make(merge_mode=merge_mode)
    y = layer(_x(shape))
    assert tuple(y.shape) == (*shape[:3], channels)
    assert layer.compute_output_shape((None, None, None, shape[-1])) == (None, None, None, channels)
    assert np.all(np.isfinite(np.asarray(y)))


@pytest.mark.parametrize("make", SWEEPS)
def test_sweep_unknown_size_model_accepts_any_size(make):
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, make()(inputs))
    assert model.output_shape == (None, None, None, 8)
    for shape in [(1, 4, 6, 3), (3, 7, 2, 3)]:
        assert tuple(model(_x(shape)).shape) == (*shape[:3], 8)


def test_row_gru_shape_and_reference():
    layer = RowGRU2D(5, seed=1)
    x = _x((2, 3, 6, 4))
    y = np.asarray(layer(x))
    assert y.shape == (2, 3, 6, 5)
    ref = gru_sequence(x.reshape(6, 6, 4), gru_weights_from_keras(layer.gru)).reshape(2, 3, 6, 5)
    np.testing.assert_allclose(y, ref, atol=1e-5)


# ------------------------------------------------------------------------------------------
# numerics against NumPy
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul"])
def test_renet_matches_numpy_gru_on_rows_then_columns(reset_after, merge_mode):
    layer = ReNet2D(3, merge_mode=merge_mode, reset_after=reset_after, seed=2)
    x = _x((2, 4, 5, 3), seed=1)
    layer.build(x.shape)
    _randomize_biases(layer)
    np.testing.assert_allclose(np.asarray(layer(x)), renet2d_numpy(x, renet2d_weights(layer), merge_mode), atol=1e-5)


def test_renet_matches_python_loop_over_rows():
    """Rows-as-the-batch gives exactly what running the row GRU one image row at a time gives."""
    layer = ReNet2D(4, seed=3)
    x = _x((2, 3, 5, 2))
    fast = np.asarray(layer(x))
    rows = np.stack([np.asarray(layer.row_gru(x[:, i])) for i in range(x.shape[1])], axis=1)
    cols = np.stack([np.asarray(layer.col_gru(rows[:, :, j])) for j in range(x.shape[2])], axis=2)
    np.testing.assert_allclose(fast, cols, atol=1e-5)


def test_renet_directions_start_from_different_weights():
    layer = ReNet2D(3, seed=0)
    layer.build((None, None, None, 2))
    fwd = layer.row_gru.forward_layer.get_weights()[0]
    bwd = layer.row_gru.backward_layer.get_weights()[0]
    assert not np.allclose(fwd, bwd)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("scan", ["sequential", "parallel"])
def test_linear_scan_matches_numpy(scan, reverse):
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (3, 9, 4)).astype("float32")
    b = rng.normal(size=(3, 9, 4)).astype("float32")
    got = np.asarray(linear_scan(a, b, scan=scan, reverse=reverse))
    np.testing.assert_allclose(got, np_linear_scan(a, b, reverse=reverse), atol=1e-5)


@pytest.mark.parametrize("merge_mode", ["concat", "ave"])
def test_mingru_sweep_matches_numpy_and_scans_agree(merge_mode):
    x = _x((2, 5, 6, 3), seed=4)
    seq = MinGRUSweep2D(4, merge_mode=merge_mode, seed=5)
    par = MinGRUSweep2D(4, merge_mode=merge_mode, scan="parallel", seed=5)
    seq.build(x.shape)
    par.build(x.shape)
    _randomize_biases(seq)
    par.set_weights(seq.get_weights())
    ref = mingru_sweep2d_numpy(x, mingru_sweep2d_weights(seq), merge_mode)
    y_seq, y_par = np.asarray(seq(x)), np.asarray(par(x))
    np.testing.assert_allclose(y_seq, ref, atol=1e-5)
    np.testing.assert_allclose(y_par, ref, atol=1e-5)
    np.testing.assert_allclose(y_seq, y_par, atol=1e-5)


@pytest.mark.parametrize("scan", ["sequential", "parallel"])
def test_mingru_gradients_reach_every_weight(scan):
    tf = pytest.importorskip("tensorflow")  # GradientTape; under JAX the training tests take gradients
    layer = MinGRUSweep2D(3, scan=scan, seed=0)
    x = tf.constant(_x((2, 4, 5, 2)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    grads = tape.gradient(loss, layer.trainable_variables)
    assert len(grads) == 8
    for g in grads:
        assert g is not None and np.all(np.isfinite(g)) and np.any(np.asarray(g) != 0)


# ------------------------------------------------------------------------------------------
# config, saving, determinism, dropout
# ------------------------------------------------------------------------------------------
LAYERS = [
    pytest.param(lambda: ReNet2D(3, merge_mode="ave", dropout=0.1, reset_after=False, seed=4), id="renet"),
    pytest.param(lambda: RowGRU2D(3, dropout=0.2, seed=4), id="rowgru"),
    pytest.param(lambda: MinGRUSweep2D(3, merge_mode="sum", dropout=0.1, scan="parallel", seed=4), id="mingru"),
]


@pytest.mark.parametrize("make", LAYERS)
def test_get_config_round_trip(make):
    layer = make()
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = _x((1, 3, 4, 2))
    # same seed -> same initial weights -> same output
    np.testing.assert_allclose(np.asarray(clone(x)), np.asarray(layer(x)), atol=1e-6)


@pytest.mark.parametrize("make", LAYERS)
def test_keras_file_round_trip(make, tmp_path):
    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, make()(inputs))
    x = _x((2, 3, 4, 2))
    before = np.asarray(model(x))
    path = tmp_path / "layer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded(x)), before)


@pytest.mark.parametrize("cls", [ReNet2D, MinGRUSweep2D])
def test_seed_fixes_initial_weights(cls):
    def weights(seed):
        layer = cls(3, seed=seed)
        layer.build((None, None, None, 2))
        return layer.get_weights()

    a, b, c = weights(7), weights(7), weights(8)
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a, c, strict=True))


@pytest.mark.parametrize("cls", [ReNet2D, MinGRUSweep2D])
def test_dropout_only_in_training(cls):
    layer = cls(3, dropout=0.5, seed=0)
    x = _x((2, 4, 4, 2))
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), np.asarray(layer(x)))
    assert not np.allclose(np.asarray(layer(x, training=True)), np.asarray(layer(x)))


def test_row_and_col_gru_are_bidirectional_grus():
    layer = ReNet2D(2)
    layer.build((None, None, None, 3))
    for sub in (layer.row_gru, layer.col_gru):
        assert isinstance(sub, keras.layers.Bidirectional)
        assert isinstance(sub.forward_layer, keras.layers.GRU)
    assert layer.row_gru.forward_layer.get_weights()[0].shape == (3, 6)
    assert layer.col_gru.forward_layer.get_weights()[0].shape == (4, 6)


# ------------------------------------------------------------------------------------------
# bad arguments
# ------------------------------------------------------------------------------------------
BAD = [
    (ReNet2D, dict(units=0), "units must be a positive integer, got 0"),
    (ReNet2D, dict(units=2.5), "units must be a positive integer, got 2.5"),
    (ReNet2D, dict(units=True), "units must be a positive integer, got True"),
    (ReNet2D, dict(units=4, dropout=1.0), "dropout must be a number in \\[0, 1\\), got 1.0"),
    (ReNet2D, dict(units=4, dropout=-0.1), "dropout must be a number in \\[0, 1\\), got -0.1"),
    (ReNet2D, dict(units=4, merge_mode="max"), "merge_mode must be one of .*got 'max'"),
    (ReNet2D, dict(units=4, reset_after="yes"), "reset_after must be True or False, got 'yes'"),
    (ReNet2D, dict(units=4, seed=-1), "seed must be None or an integer in \\[0, 4294967295\\], got -1"),
    (ReNet2D, dict(units=4, seed=2**32), "seed must be None or an integer in \\[0, 4294967295\\], got 4294967296"),
    (ReNet2D, dict(units=4, patch_size=0), "patch_size must be a positive integer, got 0"),
    (ReNet2D, dict(units=4, order="vertical"), "order must be one of 'rows_first', 'columns_first'; got 'vertical'"),
    (ReNet2D, dict(units=np.int64(4), reset_after=np.bool_(True)), None),
    (RowGRU2D, dict(units=-3), "units must be a positive integer, got -3"),
    (MinGRUSweep2D, dict(units=0), "units must be a positive integer, got 0"),
    (MinGRUSweep2D, dict(units=4, scan="fast"), "scan must be one of 'sequential', 'parallel'; got 'fast'"),
    (MinGRUSweep2D, dict(units=4, merge_mode=None), "merge_mode must be one of .*got None"),
    (MinGRUSweep2D, dict(units=4, dropout=2), "dropout must be a number in \\[0, 1\\), got 2"),
]


@pytest.mark.parametrize("cls,kwargs,message", BAD)
def test_bad_arguments_raise_value_error(cls, kwargs, message):
    if message is None:  # NumPy scalars are accepted like Python ones
        assert cls(**kwargs).units == 4
        return
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


@pytest.mark.parametrize("cls", [ReNet2D, MinGRUSweep2D, RowGRU2D])
def test_non_image_input_is_refused(cls):
    with pytest.raises(ValueError, match="expects 4-D input"):
        cls(2)(_x((2, 5, 3)))


def test_linear_scan_bad_mode():
    with pytest.raises(ValueError, match="scan must be one of"):
        linear_scan(np.ones((1, 2, 1), "float32"), np.ones((1, 2, 1), "float32"), scan="log")


# ------------------------------------------------------------------------------------------
# ReNet's own options: patches and the vertical-first order; files saved by gruseg 0.1
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [ReNet2D, MinGRUSweep2D])
def test_columns_first_is_rows_first_on_the_transposed_image(cls):
    """order="columns_first" sweeps columns with col weights first: the same as rows_first on x^T."""
    x = _x((2, 4, 6, 3), seed=2)
    a = cls(3, order="columns_first", seed=0)
    b = cls(3, seed=1)
    a.build(x.shape)
    b.build(x.transpose(0, 2, 1, 3).shape)
    _randomize_biases(a)
    if cls is ReNet2D:
        b.row_gru.set_weights(a.col_gru.get_weights())
        b.col_gru.set_weights(a.row_gru.get_weights())
    else:
        swap = {"row_fwd": "col_fwd", "row_bwd": "col_bwd", "col_fwd": "row_fwd", "col_bwd": "row_bwd"}
        for d in cls.DIRECTIONS:
            b.kernels[d].assign(a.kernels[swap[d]])
            b.biases[d].assign(a.biases[swap[d]])
    expected = np.asarray(b(x.transpose(0, 2, 1, 3))).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(np.asarray(a(x)), expected, atol=1e-6)
    assert not np.allclose(np.asarray(a(x)), np.asarray(cls(3, seed=0)(x)), atol=1e-3)  # the order matters


def test_patch_size_sweeps_flattened_patches():
    """patch_size=p: each p x p patch (row-major, channels last) is one sequence element."""
    x = _x((2, 4, 6, 3), seed=3)
    layer = ReNet2D(3, patch_size=2, seed=4)
    y = np.asarray(layer(x))
    assert y.shape == (2, 2, 3, 6)
    patches = x.reshape(2, 2, 2, 3, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 2, 3, 12)
    np.testing.assert_allclose(y, renet2d_numpy(patches, renet2d_weights(layer)), atol=1e-5)
    assert layer.compute_output_shape((None, 8, None, 3)) == (None, 4, None, 6)
    with pytest.raises(ValueError, match="patch_size=2 needs a height divisible by 2"):
        ReNet2D(3, patch_size=2)(_x((1, 5, 6, 3)))


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_models_saved_by_gruseg_0_1_load_and_give_the_same_outputs():
    """tests/data/layers_v0.1.0.keras was saved before the layers shared a base class."""
    model = keras.saving.load_model(DATA / "layers_v0.1.0.keras", safe_mode=True)
    io = np.load(DATA / "layers_v0.1.0_io.npz")
    if keras.backend.backend() == "tensorflow":  # saved with TensorFlow: the same kernels, the same bits
        np.testing.assert_array_equal(np.asarray(model(io["x"])), io["y"])
    else:  # another backend's kernels round differently
        np.testing.assert_allclose(np.asarray(model(io["x"])), io["y"], atol=1e-6)
    assert {type(layer).__name__ for layer in model.layers} >= {"ReNet2D", "MinGRUSweep2D", "RowGRU2D"}
