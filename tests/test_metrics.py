"""Metrics: hand-computed examples for the NumPy references; the Keras metrics agree with them."""

import json

import numpy as np
import pytest

from gruseg.errors import GrusegError
from gruseg.metrics import (
    MeanDice,
    confusion_matrix,
    dice_per_class,
    iou_per_class,
    mean_dice,
    mean_iou,
    pixel_accuracy,
    segmentation_metrics,
    segmentation_report,
)

# 2 images of 2x3 pixels, 3 classes. Counted by hand:
#   true 0 -> pred 0: 2, pred 1: 1          true 1 -> pred 1: 5, pred 2: 1
#   true 2 -> pred 2: 2, pred 0: 1          (12 pixels, 9 correct)
Y_TRUE = np.array([[[0, 0, 0], [1, 1, 1]],
                   [[1, 2, 2], [2, 1, 1]]])
Y_PRED = np.array([[[0, 0, 1], [1, 1, 2]],
                   [[1, 2, 2], [0, 1, 1]]])
CM = [[2, 1, 0],
      [0, 5, 1],
      [1, 0, 2]]
# IoU = TP / (TP + FP + FN): class 0: 2/(2+1+1); class 1: 5/(5+1+1); class 2: 2/(2+1+1)
IOU = [2 / 4, 5 / 7, 2 / 4]
# Dice = 2TP / (2TP + FP + FN): 4/6, 10/12, 4/6
DICE = [4 / 6, 10 / 12, 4 / 6]


def test_confusion_matrix_by_hand():
    assert confusion_matrix(Y_TRUE, Y_PRED, 3).tolist() == CM


def test_iou_dice_accuracy_by_hand():
    np.testing.assert_allclose(iou_per_class(Y_TRUE, Y_PRED, 3), IOU)
    np.testing.assert_allclose(dice_per_class(Y_TRUE, Y_PRED, 3), DICE)
    assert mean_iou(Y_TRUE, Y_PRED, 3) == pytest.approx(np.mean(IOU))
    assert mean_dice(Y_TRUE, Y_PRED, 3) == pytest.approx(np.mean(DICE))
    assert pixel_accuracy(Y_TRUE, Y_PRED, 3) == pytest.approx(9 / 12)
    assert pixel_accuracy(Y_TRUE, Y_PRED) == pytest.approx(9 / 12)


def test_dice_is_2iou_over_1_plus_iou():
    iou = iou_per_class(Y_TRUE, Y_PRED, 3)
    np.testing.assert_allclose(dice_per_class(Y_TRUE, Y_PRED, 3), 2 * iou / (1 + iou))


def test_probabilities_are_argmaxed():
    probs = np.eye(3)[Y_PRED] * 0.6 + 0.1                 # (2, 2, 3, 3), argmax = Y_PRED
    assert confusion_matrix(Y_TRUE, probs, 3).tolist() == CM
    assert pixel_accuracy(Y_TRUE, probs) == pytest.approx(9 / 12)


def test_absent_class_is_nan_and_left_out_of_the_means():
    y = np.array([[0, 0, 1, 1]])
    p = np.array([[0, 1, 1, 1]])
    iou = iou_per_class(y, p, 3)
    assert np.isnan(iou[2])
    assert mean_iou(y, p, 3) == pytest.approx((1 / 2 + 2 / 3) / 2)
    # predicted but never true: a defined 0 that counts
    p2 = np.array([[0, 2, 1, 1]])
    assert iou_per_class(y, p2, 3)[2] == 0.0
    assert mean_iou(y, p2, 3) == pytest.approx((1 / 2 + 1 + 0) / 3)


def test_perfect_prediction():
    assert mean_iou(Y_TRUE, Y_TRUE, 3) == 1.0 == mean_dice(Y_TRUE, Y_TRUE, 3)


def test_report_is_strict_json_with_plain_types():
    report = segmentation_report(Y_TRUE, Y_PRED, 4, class_names=["a", "b", "c", "d"])
    text = json.dumps(report, allow_nan=False)           # NaN would be invalid JSON
    assert json.loads(text) == report
    assert report["per_class"]["d"] == {"iou": None, "dice": None, "support": 0, "predicted": 0}
    assert report["per_class"]["b"]["iou"] == pytest.approx(5 / 7)
    assert report["per_class"]["b"]["support"] == 6 and report["per_class"]["b"]["predicted"] == 6
    assert report["mean_iou"] == pytest.approx(np.mean(IOU))
    assert report["mean_dice"] == pytest.approx(np.mean(DICE))
    assert report["pixel_accuracy"] == pytest.approx(9 / 12)
    assert report["num_pixels"] == 12 and report["class_names"] == ["a", "b", "c", "d"]
    assert segmentation_report(Y_TRUE, Y_PRED, 3)["class_names"] == ["class_0", "class_1", "class_2"]


def test_labels_out_of_range_are_refused():
    with pytest.raises(GrusegError, match=r"y_true holds labels in \[0, 2\].*num_classes=2"):
        confusion_matrix(Y_TRUE, Y_PRED, 2)
    with pytest.raises(GrusegError, match="y_pred"):
        confusion_matrix([0, 1], [0, -1], 2)


@pytest.mark.parametrize("args, match", [
    (([0, 1], [0, 1, 1], 2), "same shape"),
    (([0, 1], [[0.5, 0.5], [0.2, 0.8]], 3), "last axis"),
    (([0.5, 1], [0, 1], 2), "integer class labels"),
    (([0, 1], [0, 1], 0), "num_classes must be an integer >= 2, got 0"),
    (([], [], 2), "empty"),
])
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        confusion_matrix(*args)


# ---------------------------------------------------------------------------- Keras
def test_keras_metrics_agree_with_the_numpy_references():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, (4, 8, 8))
    y_true[..., 0] = 0
    probs = rng.random((4, 8, 8, 4)).astype("float32")
    probs[..., 3] = 0.0                                   # class 3 never predicted nor true
    probs /= probs.sum(-1, keepdims=True)
    metrics = segmentation_metrics(4, class_names=["bg", "a", "b", "never"])
    # two updates: the metrics accumulate like over two batches
    for m in metrics:
        m.update_state(y_true[:2], probs[:2])
        m.update_state(y_true[2:], probs[2:])
    got = {m.name: float(m.result()) for m in metrics}
    y_pred = probs.argmax(-1)
    assert got["pixel_accuracy"] == pytest.approx(pixel_accuracy(y_true, y_pred, 4), abs=1e-6)
    assert got["mean_iou"] == pytest.approx(mean_iou(y_true, y_pred, 4), abs=1e-5)
    assert got["mean_dice"] == pytest.approx(mean_dice(y_true, y_pred, 4), abs=1e-5)
    iou = iou_per_class(y_true, y_pred, 4)
    for c, name in enumerate(["bg", "a", "b"]):
        assert got[f"iou_{name}"] == pytest.approx(iou[c], abs=1e-5)
    assert got["iou_never"] == 0.0 and np.isnan(iou[3])   # Keras reports 0 for an absent class


def test_metric_names():
    names = [m.name for m in segmentation_metrics(2, class_names=["out side", "inside"])]
    assert names == ["pixel_accuracy", "mean_iou", "mean_dice", "iou_out_side", "iou_inside"]
    assert len(segmentation_metrics(3, per_class=False)) == 3
    with pytest.raises(ValueError, match="num_classes"):
        segmentation_metrics(1)


def test_mean_dice_serialises_and_compiles():
    import keras

    metric = MeanDice(num_classes=3, name="md")
    clone = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(clone) is MeanDice and clone.num_classes == 3 and clone.name == "md"
    assert clone.sparse_y_pred is False
    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, keras.layers.Softmax()(inputs))
    model.compile(loss="sparse_categorical_crossentropy", metrics=segmentation_metrics(2))
    y = np.zeros((2, 4, 4), "int32")
    x = np.zeros((2, 4, 4, 2), "float32")
    x[..., 0] = 1.0
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert result["mean_dice"] == pytest.approx(1.0) and result["mean_iou"] == pytest.approx(1.0)
