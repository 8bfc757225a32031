"""Tests for gruseg.losses: median-frequency weights and SegmentationLoss against NumPy by hand and Keras.

Fixtures are small random arrays made here (seeded); golden values are computed in NumPy from the
formulas in the module docstring, independently of the Keras implementation.
"""

import keras
import numpy as np
import pytest

from gruseg.losses import SegmentationLoss, median_frequency_weights
from gruseg.training import compile_segmenter

VOID = 3  # a void label >= num_classes, as CamVid's 11 with 11 classes


def _probs(shape, seed=0):
    p = np.random.default_rng(seed).random(shape).astype(np.float32) + 0.05
    return p / p.sum(-1, keepdims=True)


def _labels(shape, high, seed=1):
    return np.random.default_rng(seed).integers(0, high, shape).astype(np.int32)


def _numpy_loss(y, p, weights, void=None, dice_weight=0.0):
    """The module docstring's formula, written out in NumPy (float64)."""
    y, p = np.asarray(y), np.asarray(p, np.float64)
    c = p.shape[-1]
    valid = np.ones(y.shape, bool) if void is None else y != void
    labels = np.where(valid, y, 0)
    p_true = np.take_along_axis(p, labels[..., None], -1)[..., 0]
    w = np.asarray(weights, np.float64)[labels] * valid
    ce = (w * -np.log(np.clip(p_true, 1e-7, 1))).sum() / w.sum()
    t = np.eye(c)[labels] * valid[..., None]
    q = p * valid[..., None]
    axes = tuple(range(y.ndim))
    dice = (2 * (q * t).sum(axes) + 1) / (q.sum(axes) + t.sum(axes) + 1)
    return ce + dice_weight * (1 - dice.mean())


# ------------------------------------------------------------------------------ median frequency


def test_median_frequency_weights_by_hand():
    """f_c = pixels of c / pixels of the images holding c (void left out of both); w_c = median(f) / f_c."""
    masks = np.array([
        [[0, 0, 0, 1],
         [0, 0, 9, 9]],      # 5 x class 0, 1 x class 1 (6 non-void pixels)
        [[2, 2, 0, 0],
         [2, 2, 2, 2]],      # 2 x class 0, 6 x class 2 (8 pixels)
    ])
    f = np.array([(5 + 2) / (6 + 8), 1 / 6, 6 / 8])     # median 1/2
    expected = np.median(f) / f
    got = median_frequency_weights(masks, 3, ignore_class=9)
    assert got.dtype == np.float32 and got.shape == (3,)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(got, [1.0, 3.0, 2 / 3], rtol=1e-6)
    # the median class gets weight 1, the rarest the largest weight
    assert got[0] == pytest.approx(1.0) and got.argmax() == 1


def test_median_frequency_weights_absent_class_gets_zero_and_void_changes_the_counts():
    masks = np.array([[[0, 0, 1, 5]]])
    got = median_frequency_weights(masks, 3, ignore_class=5)
    # class 2 never appears: weight 0; f = (2/3, 1/3), median 0.5
    np.testing.assert_allclose(got, [0.75, 1.5, 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match=r"labels outside 0..2 \(void None excluded\)"):
        median_frequency_weights(masks, 3)            # without the void label, 5 is an error


@pytest.mark.parametrize("masks, num_classes, match", [
    (np.zeros((4, 4)), 2, r"masks must have shape \(n, H, W\), got shape \(4, 4\)"),
    (np.zeros((1, 4, 4)), 1, "num_classes must be an integer >= 2, got 1"),
    (np.full((1, 2, 2), -1), 2, "labels outside 0..1"),
])
def test_median_frequency_weights_refuses(masks, num_classes, match):
    with pytest.raises(ValueError, match=match):
        median_frequency_weights(masks, num_classes)


# ------------------------------------------------------------------------------ SegmentationLoss


def test_all_ones_and_no_dice_equals_keras_sparse_crossentropy_with_ignore_class():
    y = _labels((3, 6, 7), 4)              # labels 0..2 and the void 3
    p = _probs((3, 6, 7, 3))
    assert (y == VOID).any() and (y != VOID).any()
    ours = float(SegmentationLoss(3, class_weights=[1, 1, 1], ignore_class=VOID, dice_weight=0)(y, p))
    keras_loss = float(keras.losses.SparseCategoricalCrossentropy(ignore_class=VOID)(y, p))
    assert ours == pytest.approx(keras_loss, abs=1e-6)
    # and without any void label, the plain cross-entropy
    y2 = _labels((3, 6, 7), 3, seed=2)
    assert float(SegmentationLoss(3)(y2, p)) == pytest.approx(
        float(keras.losses.SparseCategoricalCrossentropy()(y2, p)), abs=1e-6)


@pytest.mark.parametrize("weights, dice_weight", [
    ([1.0, 1.0, 1.0], 0.0),
    ([0.2, 3.0, 1.5], 0.0),
    ([1.0, 1.0, 1.0], 1.0),
    ([0.2, 3.0, 1.5], 0.5),
])
def test_segmentation_loss_matches_the_numpy_formula(weights, dice_weight):
    y = _labels((2, 5, 6), 4, seed=3)
    p = _probs((2, 5, 6, 3), seed=4)
    got = float(SegmentationLoss(3, class_weights=weights, ignore_class=VOID, dice_weight=dice_weight)(y, p))
    assert got == pytest.approx(_numpy_loss(y, p, weights, VOID, dice_weight), rel=1e-5)


def test_void_pixels_change_nothing_whatever_is_predicted_there():
    y = _labels((2, 5, 6), 3, seed=5)
    y[:, :2] = VOID
    p = _probs((2, 5, 6, 3), seed=6)
    q = p.copy()
    q[:, :2] = _probs((2, 2, 6, 3), seed=7)        # other predictions on the void pixels only
    loss = SegmentationLoss(3, class_weights=[0.5, 2.0, 1.0], ignore_class=VOID, dice_weight=1.0)
    assert float(loss(y, p)) == pytest.approx(float(loss(y, q)), abs=1e-7)


def test_class_weights_raise_the_loss_of_the_weighted_class():
    """Up-weighting the class the model gets wrong raises the loss: weights act per pixel."""
    y = np.array([[[0, 0, 0, 1]]])
    p = np.array([[[[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.9, 0.1]]]], np.float32)  # class 1 missed
    plain = float(SegmentationLoss(2)(y, p))
    weighted = float(SegmentationLoss(2, class_weights=[1.0, 3.0])(y, p))
    np.testing.assert_allclose([plain, weighted],
                               [(3 * -np.log(0.9) - np.log(0.1)) / 4, (3 * -np.log(0.9) - 3 * np.log(0.1)) / 6],
                               rtol=1e-6)
    assert weighted > plain


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_classes=1), "num_classes must be an integer >= 2, got 1"),
    (dict(num_classes=3, class_weights=[1, 1]), "class_weights must hold num_classes=3 weights, got 2"),
    (dict(num_classes=2, class_weights=[1, -1]), "class_weights must be a non-negative number, got -1.0"),
    (dict(num_classes=2, class_weights=[0, 0]), "class_weights must not all be 0"),
    (dict(num_classes=2, dice_weight=-0.5), "dice_weight must be a non-negative number, got -0.5"),
    (dict(num_classes=2, ignore_class=-1), "ignore_class must be a non-negative integer, got -1"),
])
def test_segmentation_loss_refuses(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SegmentationLoss(**kwargs)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer:UserWarning")  # never-built optimizer
def test_segmentation_loss_config_round_trip_and_saved_model(tmp_path):
    loss = SegmentationLoss(3, class_weights=[0.5, 2.0, 1.0], ignore_class=VOID, dice_weight=0.25)
    again = SegmentationLoss.from_config(loss.get_config())
    y, p = _labels((1, 4, 4), 4, seed=8), _probs((1, 4, 4, 3), seed=9)
    assert float(again(y, p)) == pytest.approx(float(loss(y, p)))
    assert again.get_config() == loss.get_config()

    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Softmax()(keras.layers.Conv2D(3, 1)(inputs)))
    compile_segmenter(model, 3, class_weights=[0.5, 2.0, 1.0], ignore_class=VOID, dice_weight=0.25)
    assert isinstance(model.loss, SegmentationLoss)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.loss.get_config() == model.loss.get_config()
