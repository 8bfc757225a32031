"""Tests for gruseg.book.sweeps: reshapes, NumPy references against Keras, partial sweeps, change maps."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import pytest

from gruseg.book import sweeps
from gruseg.gru import gru_sequence, random_gru_weights


def _fmap(shape=(2, 3, 5, 4), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# ---------------------------------------------------------------- reshapes
@pytest.mark.parametrize("to_sequences,back,index,expected_shape", [
    (sweeps.rows_to_sequences, sweeps.sequences_to_rows, lambda x, b, k: x[b, k], (6, 5, 4)),            # rows
    (sweeps.columns_to_sequences, sweeps.sequences_to_columns, lambda x, b, k: x[b, :, k], (10, 3, 4)),  # columns
], ids=["rows", "columns"])
def test_to_sequences_order_and_inverse(to_sequences, back, index, expected_shape):
    x = _fmap()
    s = to_sequences(x)
    assert s.shape == expected_shape
    per_image = expected_shape[0] // 2
    for b in range(2):
        for k in range(per_image):
            np.testing.assert_array_equal(s[b * per_image + k], index(x, b, k))
    np.testing.assert_array_equal(back(s, batch=2), x)


@pytest.mark.parametrize("bad", [np.zeros((3, 4, 5)), np.zeros((1, 2, 3, 4, 5))])
def test_rows_to_sequences_refuses_non_4d(bad):
    with pytest.raises(ValueError, match="4-D feature map"):
        sweeps.rows_to_sequences(bad)


def test_sequences_to_rows_refuses_bad_batch():
    with pytest.raises(ValueError, match="batch must divide the 6 sequences, got 4"):
        sweeps.sequences_to_rows(np.zeros((6, 5, 4)), batch=4)
    with pytest.raises(ValueError, match="batch must be a positive integer, got 0"):
        sweeps.sequences_to_rows(np.zeros((6, 5, 4)), batch=0)


# ---------------------------------------------------------------- NumPy sweeps
def test_bidirectional_backward_half_is_aligned_to_input_order():
    fw, bw = random_gru_weights(4, 3, seed=0), random_gru_weights(4, 3, seed=1)
    x = _fmap((2, 6, 4))
    out = sweeps.bidirectional_gru_numpy(x, fw, bw)
    assert out.shape == (2, 6, 6)
    np.testing.assert_allclose(out[..., :3], gru_sequence(x, fw))
    # the backward state at step 0 has read the whole sequence, right to left
    np.testing.assert_allclose(out[:, 0, 3:], gru_sequence(x[:, ::-1], bw)[:, -1])


@pytest.mark.parametrize("merge_mode,channels", [("sum", 3), ("ave", 3), ("mul", 3)])
def test_bidirectional_merge_modes(merge_mode, channels):
    fw, bw = random_gru_weights(4, 3, seed=0), random_gru_weights(4, 3, seed=1)
    x = _fmap((1, 5, 4))
    out = sweeps.bidirectional_gru_numpy(x, fw, bw, merge_mode)
    cat = sweeps.bidirectional_gru_numpy(x, fw, bw)
    a, b = cat[..., :3], cat[..., 3:]
    expected = {"sum": a + b, "ave": (a + b) / 2, "mul": a * b}[merge_mode]
    assert out.shape[-1] == channels
    np.testing.assert_allclose(out, expected)


def test_bidirectional_refuses_unknown_merge_mode():
    w = random_gru_weights(2, 2, seed=0)
    with pytest.raises(ValueError, match="merge_mode must be one of"):
        sweeps.bidirectional_gru_numpy(np.zeros((1, 3, 2)), w, w, merge_mode="max")


def test_row_sweep_states_matches_gru_sequence_per_row():
    w = random_gru_weights(4, 3, seed=2)
    x = _fmap()
    states = sweeps.row_sweep_states(x, w)
    assert states.shape == (2, 3, 5, 3)
    np.testing.assert_allclose(states[1, 2], gru_sequence(x[1:2, 2], w)[0])
    back = sweeps.row_sweep_states(x, w, go_backwards=True)
    # going backwards, column 0 holds the final state (it has read the whole row)
    np.testing.assert_allclose(back[1, 2, 0], gru_sequence(x[1:2, 2, ::-1], w)[0, -1])


@pytest.mark.parametrize("go_backwards", [False, True])
def test_row_sweep_states_gates_are_those_of_the_step_that_read_each_pixel(go_backwards):
    w = random_gru_weights(4, 3, seed=5)
    x = _fmap(seed=1)
    states, gates = sweeps.row_sweep_states(x, w, go_backwards=go_backwards, return_gates=True)
    np.testing.assert_array_equal(states, sweeps.row_sweep_states(x, w, go_backwards=go_backwards))
    assert set(gates) == {"z", "r", "h_tilde"} and all(g.shape == (2, 3, 5, 3) for g in gates.values())
    # rebuild every state from the previous pixel's state and this pixel's gates
    step = -1 if go_backwards else 1
    h_prev = np.roll(states, step, axis=2)
    h_prev[:, :, -1 if go_backwards else 0] = 0.0                  # the sweep starts from h = 0
    np.testing.assert_allclose((1 - gates["z"]) * h_prev + gates["z"] * gates["h_tilde"], states, atol=1e-12)


def test_renet2d_numpy_sees_whole_image_but_row_sweep_only_its_row():
    w = {"row": (random_gru_weights(4, 3, seed=0), random_gru_weights(4, 3, seed=1)),
         "col": (random_gru_weights(6, 3, seed=2), random_gru_weights(6, 3, seed=3))}
    x = _fmap((1, 5, 6, 4)).astype(np.float64)
    x2 = x.copy()
    x2[0, 2, 3] += 1.0
    changed_rows = sweeps.change_map(sweeps.row_sweep_numpy(x, *w["row"]), sweeps.row_sweep_numpy(x2, *w["row"]))[0] > 0
    assert changed_rows[2].all() and changed_rows.sum() == 6
    changed = sweeps.change_map(sweeps.renet2d_numpy(x, w), sweeps.renet2d_numpy(x2, w))[0] > 0
    assert changed.all()


def _randomize_weights(layer, seed=0):
    """Zero-initialised biases would hide bias-handling bugs: give every weight random values."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.get_weights()])


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("merge_mode,channels", [("concat", 6), ("sum", 3), ("ave", 3), ("mul", 3)])
def test_renet2d_numpy_matches_keras_renet2d(reset_after, merge_mode, channels):
    """The NumPy reference of gruseg.layers.ReNet2D: every weight random, both reset conventions."""
    layers = pytest.importorskip("gruseg.layers")
    layer = layers.ReNet2D(3, merge_mode=merge_mode, reset_after=reset_after, seed=0)
    x = _fmap((2, 4, 5, 2))
    layer.build(x.shape)
    _randomize_weights(layer, seed=1)
    y = np.asarray(layer(x))
    ref = sweeps.renet2d_numpy(x, sweeps.renet2d_weights(layer), merge_mode)
    assert y.shape == ref.shape == (2, 4, 5, channels)
    np.testing.assert_allclose(y, ref, atol=1e-5)


@pytest.mark.parametrize("cell", ["renet", "mingru"])
@pytest.mark.parametrize("order", ["rows_first", "columns_first"])
@pytest.mark.parametrize("patch_size", [1, 2])
def test_numpy_sweeps_follow_the_layers_order_and_patches(cell, order, patch_size):
    layers = pytest.importorskip("gruseg.layers")
    make, read, reference = {
        "renet": (layers.ReNet2D, sweeps.renet2d_weights, sweeps.renet2d_numpy),
        "mingru": (layers.MinGRUSweep2D, sweeps.mingru_sweep2d_weights, sweeps.mingru_sweep2d_numpy),
    }[cell]
    layer = make(3, order=order, patch_size=patch_size, seed=0)
    x = _fmap((2, 4, 6, 2))
    layer.build(x.shape)
    _randomize_weights(layer, seed=2)
    ref = reference(x, read(layer), order=order, patch_size=patch_size)
    assert ref.shape == (2, 4 // patch_size, 6 // patch_size, 6)
    np.testing.assert_allclose(np.asarray(layer(x)), ref, atol=1e-5)


def test_the_numpy_options_are_the_layers_options():
    layers = pytest.importorskip("gruseg.layers")
    assert sweeps.MERGE_MODES == layers.MERGE_MODES and sweeps.SWEEP_ORDERS == layers.SWEEP_ORDERS


def test_patches_and_order_are_checked():
    w = {"row": (random_gru_weights(4, 3, seed=0),) * 2, "col": (random_gru_weights(6, 3, seed=1),) * 2}
    with pytest.raises(ValueError, match="patch_size=2 needs a height and width divisible by 2, got 3x5"):
        sweeps.renet2d_numpy(_fmap(), w, patch_size=2)
    with pytest.raises(ValueError, match="order must be one of 'rows_first', 'columns_first'; got 'up'"):
        sweeps.renet2d_numpy(_fmap(), w, order="up")


def test_sweep_weights_refuse_the_wrong_layer():
    with pytest.raises(ValueError, match="row_gru"):
        sweeps.renet2d_weights(object())
    with pytest.raises(ValueError, match="weights must be a dict with the keys 'row' and 'col'"):
        sweeps.renet2d_numpy(_fmap(), {"row": None})


# ---------------------------------------------------------------- partial sweeps and change maps
def test_partial_sweep_forward_and_backward():
    v = np.arange(8.0).reshape(2, 4)
    fwd = sweeps.partial_sweep(v, 1)
    assert np.isnan(fwd[:, 2:]).all() and (fwd[:, :2] == v[:, :2]).all()
    bwd = sweeps.partial_sweep(v, 1, go_backwards=True)
    assert np.isnan(bwd[:, :2]).all() and (bwd[:, 2:] == v[:, 2:]).all()
    assert not np.isnan(sweeps.partial_sweep(v, 3)).any()


@pytest.mark.parametrize("t", [-1, 4, 1.0])
def test_partial_sweep_refuses_bad_step(t):
    with pytest.raises(ValueError, match=r"t must be an integer in \[0, 3\]"):
        sweeps.partial_sweep(np.zeros((2, 4)), t)


def test_change_map_and_shape_check():
    a = np.zeros((1, 3, 3, 2))
    b = a.copy()
    b[0, 1, 2, 1] = -0.25
    m = sweeps.change_map(a, b)
    assert m.shape == (1, 3, 3) and m[0, 1, 2] == 0.25 and m.sum() == 0.25
    with pytest.raises(ValueError, match="same shape"):
        sweeps.change_map(a, b[..., :1])


# ---------------------------------------------------------------- Keras helpers
def test_rows_as_batch_equals_loop_over_rows():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    layer = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True))
    x = _fmap((2, 3, 5, 4))
    batched = np.asarray(sweeps.rows_as_batch(layer, x))
    looped = np.asarray(sweeps.loop_over_rows(layer, x))
    assert batched.shape == looped.shape == (2, 3, 5, 6)
    np.testing.assert_allclose(batched, looped, atol=1e-5)



# ---------------------------------------------------------------- the chapter-3 widget
def test_sweep_explorer_frames_follow_the_sweep():
    widgets = pytest.importorskip("ipywidgets")
    from gruseg.book.widgets import sweep_explorer

    states = np.random.default_rng(0).normal(size=(4, 6, 3))
    box = sweep_explorer(states, image=np.zeros((8, 12, 3)), pixel_size=2)
    slider = box.children[0].children[1]
    assert (slider.min, slider.max) == (0, 5)
    assert len(box.frames) == 6
    first, last = box.frames[0], box.frames[-1]
    assert first.shape == last.shape == (8, 12, 3)
    grey = np.all(first == 215, axis=-1)
    assert grey[:, 2:].all() and not grey[:, :2].any()   # step 0: only column 0 drawn
    assert not np.all(last == 215, axis=-1).any()        # last step: everything drawn
    image_widget, view = box.children[1].children
    assert isinstance(image_widget, widgets.Image)
    if hasattr(widgets, "Stack"):
        assert len(view.children) == 6
        slider.value = 3
        assert view.selected_index == 3


def test_sweep_explorer_refuses_bad_values():
    pytest.importorskip("ipywidgets")
    from gruseg.book.widgets import sweep_explorer

    with pytest.raises(ValueError, match="values must be"):
        sweep_explorer(np.zeros(5))
    with pytest.raises(ValueError, match="pixel_size must be a positive integer, got 0"):
        sweep_explorer(np.zeros((2, 3)), pixel_size=0)
