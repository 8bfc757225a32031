"""Segmentation metrics: NumPy references and the matching Keras metrics.

Everything starts from the confusion matrix ``cm`` of shape ``(C, C)``: ``cm[i, j]`` counts the
pixels whose true class is ``i`` and predicted class is ``j`` (rows truth, columns prediction,
as in Keras and scikit-learn). For a class ``c``::

    TP = cm[c, c]          FP = sum(cm[:, c]) - TP          FN = sum(cm[c, :]) - TP
    IoU  = TP / (TP + FP + FN)
    Dice = 2 TP / (2 TP + FP + FN)          (Dice = 2 IoU / (1 + IoU), the F1 score of class c)
    pixel accuracy = trace(cm) / sum(cm)

**Absent classes.** A class that appears neither in the truth nor in the prediction has
``TP + FP + FN = 0``: its IoU and Dice are undefined. The per-class NumPy functions return NaN
for it, and the means (:func:`mean_iou`, :func:`mean_dice`) average only the defined classes —
exactly what ``keras.metrics.MeanIoU`` does (it divides by the number of classes with a
non-zero denominator). A class that is absent from the truth but predicted somewhere has
IoU = 0 and counts. :func:`segmentation_report` writes undefined values as ``None`` so the
report is strict JSON. (Keras' per-class ``IoU`` reports 0.0, not NaN, for an undefined class.)

Predictions may be labels ``(B, H, W)`` or per-class probabilities/scores ``(B, H, W, C)``,
which are reduced with ``argmax`` over the last axis.

The Keras half, :func:`segmentation_metrics`, returns metric objects for ``model.compile`` that
accept the models' probability outputs and sparse integer masks. Importing this module imports
Keras (to register :class:`MeanDice` for saving and loading).

Example:
    >>> y_true = np.array([[0, 0, 1, 1]])
    >>> y_pred = np.array([[0, 1, 1, 1]])
    >>> iou_per_class(y_true, y_pred, 2).tolist()        # class 0: 1/2, class 1: 2/3
    [0.5, 0.6666666666666666]
"""

from __future__ import annotations

import re

import keras
import numpy as np

from gruseg import _checks
from gruseg.errors import GrusegError

__all__ = [
    "confusion_matrix",
    "iou_per_class",
    "mean_iou",
    "dice_per_class",
    "mean_dice",
    "pixel_accuracy",
    "segmentation_report",
    "format_report",
    "segmentation_metrics",
    "MeanDice",
    "PixelAccuracy",
]


# --------------------------------------------------------------------------------------------
# NumPy references
# --------------------------------------------------------------------------------------------
def _as_labels(y_true, y_pred, num_classes, ignore_class=None):
    """Validate and flatten; probabilities (one more trailing axis of size C) -> argmax.

    Pixels whose true label is ``ignore_class`` are dropped from both arrays."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == y_true.ndim + 1:
        if y_pred.shape[-1] != num_classes:
            raise ValueError(
                f"y_pred looks like per-class scores with shape {y_pred.shape}, but its last axis "
                f"has {y_pred.shape[-1]} entries and num_classes={num_classes}")
        y_pred = y_pred.argmax(axis=-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape (or y_pred one extra class axis), got "
            f"{y_true.shape} and {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("y_true is empty: need at least one pixel")
    if ignore_class is not None:
        keep = y_true != _checks.non_negative_int("ignore_class", ignore_class)
        y_true, y_pred = y_true[keep], y_pred[keep]
        if y_true.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.dtype.kind == "f":
            if not np.isfinite(y).all() or (y != np.round(y)).any():
                raise ValueError(f"{name} must hold integer class labels, got non-integer values")
        elif y.dtype.kind not in "iub":
            raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= num_classes:
            raise GrusegError(
                f"{name} holds labels in [{low}, {high}] but num_classes={num_classes} allows "
                f"only 0..{num_classes - 1}; pass num_classes={max(high + 1, num_classes)} or "
                "fix the labels")
    return y_true.astype(np.int64).ravel(), y_pred.astype(np.int64).ravel()


def confusion_matrix(y_true, y_pred, num_classes, ignore_class=None):
    """Pixel confusion matrix: ``cm[i, j]`` = number of pixels of true class i predicted as j.

    Args:
        y_true: integer labels, any shape, e.g. ``(B, H, W)``.
        y_pred: labels of the same shape, or scores ``(..., num_classes)`` (argmax is taken).
        num_classes: number of classes ``C``.
        ignore_class: optional void label (it may be ``>= C``, e.g. 11 for CamVid's 11 classes):
            pixels whose truth is void are not counted, whatever was predicted there.

    Returns:
        int64 array ``(C, C)``; rows are the truth, columns the prediction.

    Raises:
        GrusegError: a label outside ``[0, num_classes)``.
        ValueError: shapes that do not match, non-integer labels, bad ``num_classes``.

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 0, 1], 2).tolist()
        [[1, 0], [1, 1]]
        >>> confusion_matrix([0, 9, 1], [0, 0, 1], 2, ignore_class=9).tolist()
        [[1, 0], [0, 1]]
    """
    num_classes = _checks.num_classes("num_classes", num_classes)
    t, p = _as_labels(y_true, y_pred, num_classes, ignore_class)
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def _iou_from_cm(cm):
    tp = np.diag(cm).astype(np.float64)
    denominator = cm.sum(axis=0) + cm.sum(axis=1) - tp           # TP + FP + FN
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, tp / denominator, np.nan)


def _dice_from_cm(cm):
    tp = np.diag(cm).astype(np.float64)
    denominator = cm.sum(axis=0) + cm.sum(axis=1)                 # 2 TP + FP + FN
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, np.nan)


def _nanmean(values):
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def iou_per_class(y_true, y_pred, num_classes, ignore_class=None):
    """Intersection over union of each class: ``IoU_c = TP / (TP + FP + FN)``.

    Args:
        y_true: integer labels, e.g. ``(B, H, W)``.
        y_pred: labels of the same shape, or scores ``(..., num_classes)``.
        num_classes: number of classes ``C``.

    Returns:
        float64 array ``(C,)``; NaN for a class absent from both truth and prediction.

    Example:
        >>> iou_per_class([0, 0, 1], [0, 1, 1], 3).tolist()   # class 2 never appears
        [0.5, 0.5, nan]
    """
    return _iou_from_cm(confusion_matrix(y_true, y_pred, num_classes, ignore_class))


def mean_iou(y_true, y_pred, num_classes, ignore_class=None):
    """Mean IoU over the classes where it is defined: ``mean_c TP_c / (TP_c + FP_c + FN_c)``.

    Classes absent from both truth and prediction are left out of the mean, as in
    ``keras.metrics.MeanIoU``.

    Returns:
        a Python float.

    Example:
        >>> mean_iou([0, 0, 1], [0, 1, 1], 3)
        0.5
    """
    return _nanmean(iou_per_class(y_true, y_pred, num_classes, ignore_class))


def dice_per_class(y_true, y_pred, num_classes, ignore_class=None):
    """Dice coefficient (F1) of each class: ``Dice_c = 2 TP / (2 TP + FP + FN)``.

    Returns:
        float64 array ``(C,)``; NaN for a class absent from both truth and prediction.

    Example:
        >>> dice_per_class([0, 0, 1], [0, 1, 1], 2).tolist()
        [0.6666666666666666, 0.6666666666666666]
    """
    return _dice_from_cm(confusion_matrix(y_true, y_pred, num_classes, ignore_class))


def mean_dice(y_true, y_pred, num_classes, ignore_class=None):
    """Mean Dice over the classes where it is defined: ``mean_c 2 TP_c / (2 TP_c + FP_c + FN_c)``.

    Returns:
        a Python float.

    Example:
        >>> round(mean_dice([0, 0, 1], [0, 1, 1], 2), 4)
        0.6667
    """
    return _nanmean(dice_per_class(y_true, y_pred, num_classes, ignore_class))


def pixel_accuracy(y_true, y_pred, num_classes=None, ignore_class=None):
    """Fraction of pixels labelled correctly: ``trace(cm) / sum(cm)``.

    Args:
        y_true, y_pred: as for :func:`confusion_matrix`.
        num_classes: needed only to check the label range; inferred from the data when None.
        ignore_class: optional void label, left out of the count.

    Returns:
        a Python float.

    Example:
        >>> pixel_accuracy([0, 0, 1, 1], [0, 1, 1, 1])
        0.75
    """
    if num_classes is None:
        y_pred_arr = np.asarray(y_pred)
        if y_pred_arr.ndim == np.ndim(y_true) + 1:
            num_classes = y_pred_arr.shape[-1]
        else:
            t = np.asarray(y_true)
            t = t[t != ignore_class] if ignore_class is not None else t
            num_classes = max(2, int(max(np.max(t, initial=0), np.max(y_pred_arr))) + 1)
    cm = confusion_matrix(y_true, y_pred, num_classes, ignore_class)
    return float(np.trace(cm) / cm.sum())


def segmentation_report(y_true, y_pred, num_classes, class_names=None, ignore_class=None):
    """Every metric above in one JSON-serialisable dict (plain floats, ints, lists, ``None``).

    Args:
        y_true: integer labels ``(B, H, W)``.
        y_pred: labels ``(B, H, W)`` or probabilities ``(B, H, W, C)``.
        num_classes: number of classes ``C``.
        class_names: optional names, one per class (default ``"class_0"``, ...).
        ignore_class: optional void label; void pixels are counted (``void_pixels``) but scored
            nowhere.

    Returns:
        dict with keys ``pixel_accuracy``, ``mean_iou``, ``mean_dice`` (floats, means over the
        defined classes), ``per_class`` (name -> ``{"iou", "dice", "support", "predicted"}``;
        ``iou``/``dice`` are ``None`` when undefined, ``support`` counts true pixels,
        ``predicted`` predicted pixels), ``class_names``, ``num_classes``, ``num_pixels`` (scored, non-void pixels), ``ignore_class``,
        ``void_pixels`` and
        ``confusion_matrix`` (list of lists, rows = truth).

    Example:
        >>> report = segmentation_report([[0, 1]], [[0, 0]], 2, class_names=["sky", "tree"])
        >>> report["per_class"]["tree"]
        {'iou': 0.0, 'dice': 0.0, 'support': 1, 'predicted': 0}
    """
    num_classes = _checks.num_classes("num_classes", num_classes)
    if class_names is None:
        class_names = [f"class_{c}" for c in range(num_classes)]
    class_names = [str(name) for name in class_names]
    if len(class_names) != num_classes:
        raise ValueError(
            f"class_names must have num_classes={num_classes} names, got {len(class_names)}")
    if len(set(class_names)) != len(class_names):
        raise ValueError(f"class_names must be unique, got {class_names}")
    cm = confusion_matrix(y_true, y_pred, num_classes, ignore_class)
    void = 0 if ignore_class is None else int(np.count_nonzero(np.asarray(y_true) == ignore_class))
    iou, dice = _iou_from_cm(cm), _dice_from_cm(cm)

    def plain(value):
        return None if np.isnan(value) else float(value)

    def plain_mean(values):
        return plain(_nanmean(values))

    return {
        "num_classes": num_classes,
        "class_names": class_names,
        "num_pixels": int(cm.sum()),
        "ignore_class": ignore_class,
        "void_pixels": void,
        "pixel_accuracy": plain(np.trace(cm) / cm.sum()) if cm.sum() else None,
        "mean_iou": plain_mean(iou),
        "mean_dice": plain_mean(dice),
        "per_class": {
            name: {
                "iou": plain(iou[c]),
                "dice": plain(dice[c]),
                "support": int(cm[c].sum()),
                "predicted": int(cm[:, c].sum()),
            }
            for c, name in enumerate(class_names)
        },
        "confusion_matrix": cm.tolist(),
    }


def format_report(report) -> str:
    """A :func:`segmentation_report` (with optional ``model``, ``data``, ``images``, ``size`` keys) as a text table.

    Example:
        >>> print(format_report(segmentation_report([[0, 1]], [[0, 1]], 2)))
        class              IoU    Dice     pixels
        -----------------------------------------
        class_0          1.000   1.000          1
        class_1          1.000   1.000          1
        -----------------------------------------
        mean IoU         1.000
        mean Dice        1.000
        pixel accuracy   1.000
    """
    def fmt(value):
        return "   n/a" if value is None else f"{value:6.3f}"

    names = list(report["per_class"])
    width = max(len("pixel accuracy"), *(len(n) for n in names))
    lines = []
    if "model" in report:
        lines += [f"{report['model']} on {report['data']}: {report['images']} images of "
                  f"{report['size'][0]}x{report['size'][1]}", ""]
    lines += [f"{'class':<{width}}  {'IoU':>6}  {'Dice':>6}  {'pixels':>9}", "-" * (width + 27)]
    for name, row in report["per_class"].items():
        lines.append(f"{name:<{width}}  {fmt(row['iou'])}  {fmt(row['dice'])}  {row['support']:>9}")
    lines += ["-" * (width + 27),
              f"{'mean IoU':<{width}}  {fmt(report['mean_iou'])}",
              f"{'mean Dice':<{width}}  {fmt(report['mean_dice'])}",
              f"{'pixel accuracy':<{width}}  {fmt(report['pixel_accuracy'])}"]
    if report.get("void_pixels"):
        lines.append(f"{'void pixels':<{width}}  {report['void_pixels']:>6} (label {report['ignore_class']}, not scored)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Keras metrics
# --------------------------------------------------------------------------------------------
class _ConfusionMatrixMetric(keras.metrics.MeanIoU):
    """A metric read off ``MeanIoU``'s confusion matrix (which knows ``ignore_class``); subclasses
    define :meth:`result` and a ``default_name``. Predictions are per-class scores by default."""

    default_name = None

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes=num_classes, name=name or self.default_name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred,
                         axis=axis)


@keras.saving.register_keras_serializable(package="gruseg")
class MeanDice(_ConfusionMatrixMetric):
    """Mean Dice coefficient over classes, accumulated in a confusion matrix (a Keras metric).

    ``Dice_c = 2 TP_c / (2 TP_c + FP_c + FN_c)``, averaged over the classes with a non-zero
    denominator (classes absent from both truth and prediction so far are left out), exactly
    the rule ``keras.metrics.MeanIoU`` uses for IoU. Keras has a Dice *loss* but no Dice metric;
    this reuses ``MeanIoU``'s confusion-matrix bookkeeping and changes only :meth:`result`.

    Args:
        num_classes: number of classes ``C``.
        name: metric name (default ``"mean_dice"``).
        dtype: dtype of the confusion matrix.
        ignore_class: a label to leave out of the count (e.g. 255 "void"), or None.
        sparse_y_true: labels are integers (True) or one-hot (False).
        sparse_y_pred: predictions are integers (True) or per-class scores (False, the default
            here: the models output probabilities ``(B, H, W, C)``).
        axis: the class axis of dense inputs.

    Example:
        >>> metric = MeanDice(num_classes=2)
        >>> _ = metric.update_state([[0, 1]], [[[0.9, 0.1], [0.8, 0.2]]])
        >>> round(float(metric.result()), 4)     # class 0: 2/3, class 1: 0
        0.3333
    """

    default_name = "mean_dice"

    def result(self):
        ops = keras.ops
        cm = ops.cast(self.total_cm, "float32")
        true_positives = ops.diagonal(cm)
        denominator = ops.sum(cm, axis=0) + ops.sum(cm, axis=1)          # 2 TP + FP + FN
        valid = ops.greater(denominator, 0.0)
        dice = ops.where(valid, 2.0 * true_positives / ops.maximum(denominator, 1.0), 0.0)
        num_valid = ops.sum(ops.cast(valid, "float32"))
        return ops.sum(dice) / ops.maximum(num_valid, 1.0)


@keras.saving.register_keras_serializable(package="gruseg")
class PixelAccuracy(_ConfusionMatrixMetric):
    """Fraction of pixels labelled correctly, ``trace(cm) / sum(cm)``, void pixels left out (a Keras metric).

    ``keras.metrics.SparseCategoricalAccuracy`` has no ``ignore_class``; this keeps the same
    confusion matrix as ``MeanIoU`` (which has one) and reads the accuracy off it.

    Args:
        num_classes: number of classes ``C``.
        name: metric name (default ``"pixel_accuracy"``).
        dtype: dtype of the confusion matrix.
        ignore_class: a label to leave out (void), or None.
        sparse_y_true, sparse_y_pred, axis: as for ``keras.metrics.MeanIoU``; predictions are
            per-class scores by default.

    Example:
        >>> metric = PixelAccuracy(num_classes=2, ignore_class=5)
        >>> _ = metric.update_state([[0, 1, 5]], [[[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]]])
        >>> float(metric.result())
        0.5
    """

    default_name = "pixel_accuracy"

    def result(self):
        cm = keras.ops.cast(self.total_cm, "float32")
        return keras.ops.trace(cm) / keras.ops.maximum(keras.ops.sum(cm), 1.0)


def _metric_name(text):
    return re.sub(r"[^0-9A-Za-z_]+", "_", str(text)).strip("_") or "class"


def segmentation_metrics(num_classes, class_names=None, per_class=True, ignore_class=None):
    """Keras metrics for ``model.compile``: probabilities in, sparse labels as the truth.

    Returns, in this order:

    * :class:`PixelAccuracy` ``(num_classes, name="pixel_accuracy")``;
    * ``keras.metrics.MeanIoU(num_classes, sparse_y_pred=False, name="mean_iou")``;
    * :class:`MeanDice` ``(num_classes, name="mean_dice")``;
    * with ``per_class``, one ``keras.metrics.IoU(num_classes, target_class_ids=[c],
      sparse_y_pred=False, name="iou_<class name>")`` per class (0.0 while a class has
      appeared in neither truth nor prediction).

    They match :func:`pixel_accuracy`, :func:`mean_iou`, :func:`mean_dice` and
    :func:`iou_per_class` on the same data (up to float32 rounding).

    Args:
        num_classes: number of classes ``C`` (>= 2).
        class_names: optional names used in the per-class metric names (default ``0, 1, ...``),
            reduced to letters, digits and underscores.
        per_class: add the per-class IoU metrics.
        ignore_class: optional void label, left out of every metric.

    Returns:
        list of ``keras.metrics.Metric``.

    Example:
        >>> [m.name for m in segmentation_metrics(2, class_names=["outside", "inside"])]
        ['pixel_accuracy', 'mean_iou', 'mean_dice', 'iou_outside', 'iou_inside']
    """
    num_classes = _checks.num_classes("num_classes", num_classes)
    if class_names is None:
        class_names = [str(c) for c in range(num_classes)]
    if len(class_names) != num_classes:
        raise ValueError(
            f"class_names must have num_classes={num_classes} names, got {len(class_names)}")
    names = [f"iou_{_metric_name(name)}" for name in class_names]
    if len(set(names)) != len(names):
        names = [f"iou_{c}" for c in range(num_classes)]
    if ignore_class is not None:
        ignore_class = _checks.non_negative_int("ignore_class", ignore_class)
    metrics = [
        PixelAccuracy(num_classes=num_classes, ignore_class=ignore_class),
        keras.metrics.MeanIoU(num_classes=num_classes, sparse_y_pred=False, ignore_class=ignore_class,
                              name="mean_iou"),
        MeanDice(num_classes=num_classes, ignore_class=ignore_class),
    ]
    if per_class:
        metrics += [
            keras.metrics.IoU(num_classes=num_classes, target_class_ids=[c], sparse_y_pred=False,
                              ignore_class=ignore_class, name=name)
            for c, name in enumerate(names)
        ]
    return metrics
