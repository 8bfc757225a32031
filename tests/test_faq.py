"""gruseg.book.faq: chapter 6's row model sees along its row only, the row-memory task needs memory,
and the labelled score leaves the void pixels out."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from gruseg.book.faq import VOID, make_row_memory, row_model  # noqa: E402
from gruseg.book.sweeps import change_map  # noqa: E402
from gruseg.inference import predict_labels  # noqa: E402
from gruseg.metrics import mean_iou  # noqa: E402


def test_row_model_sees_its_row_to_the_left_and_one_row_around():
    keras.utils.set_random_seed(0)
    model = row_model(keras.layers.GRU(4, return_sequences=True), (7, 9, 3), num_classes=3)
    assert model.output_shape == (None, 7, 9, 3)
    x = np.random.default_rng(0).normal(size=(1, 7, 9, 3)).astype("float32")
    nudged = x.copy()
    nudged[0, 3, 4] += 1.0
    changed = change_map(model.predict(x, verbose=0), model.predict(nudged, verbose=0))[0] > 0
    # the 3x3 convolution reaches rows 2..4 and columns 3..5; the forward GRU carries it rightwards
    expected = np.zeros((7, 9), bool)
    expected[2:5, 3:] = True
    np.testing.assert_array_equal(changed, expected)


def test_row_model_refuses_bad_arguments():
    gru = keras.layers.GRU(2, return_sequences=True)
    with pytest.raises(ValueError, match="input_shape must hold 3 integers"):
        row_model(gru, (8, 8))
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2, got 1"):
        row_model(gru, (8, 8, 3), num_classes=1)


def test_row_memory_labels_are_the_markers_and_the_left_half_is_void():
    images, masks = make_row_memory(5, rows=4, width=10, seed=3)
    assert images.shape == (5, 4, 10, 3) and images.dtype == np.float32
    assert masks.shape == (5, 4, 10) and masks.dtype == np.uint8
    marker = images[:, :, 0, 1]
    assert set(np.unique(marker)) <= {0.0, 1.0}
    np.testing.assert_array_equal(images[:, :, 1:, 1], 0.5)              # the marker is only in column 0
    np.testing.assert_array_equal(masks[:, :, 5:], np.repeat(marker[..., None], 5, axis=-1))
    assert (masks[:, :, :5] == VOID).all()
    np.testing.assert_array_equal(make_row_memory(5, rows=4, width=10, seed=3)[1], masks)   # seeded
    assert not np.array_equal(make_row_memory(5, rows=4, width=10, seed=4)[1], masks)


def test_row_memory_refuses_bad_arguments():
    with pytest.raises(ValueError, match="width must be an integer >= 2, got 1"):
        make_row_memory(2, width=1)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        make_row_memory(0)


def test_the_score_with_void_left_out_is_the_score_of_the_labelled_half():
    """What chapter 6 measures: mean IoU with ignore_class=VOID sees the right half of the rows only."""
    images, masks = make_row_memory(6, rows=4, width=8, seed=0)
    keras.utils.set_random_seed(0)
    model = row_model(keras.layers.GRU(2, return_sequences=True), (4, 8, 3))
    pred = predict_labels(model, images)
    assert mean_iou(masks, pred, 2, ignore_class=VOID) == pytest.approx(mean_iou(masks[..., 4:], pred[..., 4:], 2))
