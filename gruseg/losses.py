"""Segmentation losses: class-weighted cross-entropy with void pixels ignored, plus an optional Dice term.

On real images a few classes cover most pixels (CamVid: road, building, sky are ~72 %; poles,
signs, pedestrians and bicyclists under 1.2 % each). An unweighted per-pixel loss then all but
ignores the rare classes. :class:`SegmentationLoss` weights each pixel's cross-entropy by its
class and can add a soft Dice term, which scores every class equally whatever its size::

    CE   = sum_i w[y_i] * (-log p_i[y_i]) / sum_i w[y_i]          over non-void pixels i
    Dice = 1 - (1/C) sum_c (2 sum_i p_i[c] t_i[c] + 1) / (sum_i p_i[c] + sum_i t_i[c] + 1)
    loss = CE + dice_weight * Dice

(``t_i`` is the one-hot truth; the +1 smooths classes absent from a batch.) With all weights 1
and ``dice_weight=0`` this is Keras' ``SparseCategoricalCrossentropy(ignore_class=...)``.
:func:`median_frequency_weights` computes SegNet's class weights from training masks.

Example:
    >>> weights = median_frequency_weights(np.array([[[0, 0, 0, 1]]]), num_classes=2)
    >>> [round(float(w), 3) for w in weights]       # class 0 covers 3/4 of the pixels, class 1 1/4
    [0.667, 2.0]
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from gruseg import _checks

__all__ = ["SegmentationLoss", "median_frequency_weights", "CLASS_WEIGHTINGS"]

CLASS_WEIGHTINGS = ("none", "median")
"""The ways to weight classes, ``"none"`` (all 1) or ``"median"`` (:func:`median_frequency_weights`)."""


def median_frequency_weights(masks, num_classes, ignore_class=None):
    """SegNet's median-frequency class weights, ``w_c = median(f) / f_c``.

    ``f_c`` is the number of pixels of class ``c`` divided by the number of pixels of the images
    in which ``c`` appears (Eigen & Fergus 2015; Badrinarayanan et al. 2017). Void pixels are
    left out of both counts. A class that appears in no mask gets weight 0 (nothing to learn).

    Args:
        masks: (n, H, W) integer labels.
        num_classes: number of classes C (void excluded).
        ignore_class: optional void label, e.g. 11 for CamVid.

    Returns:
        float32 array (C,).
    """
    num_classes = _checks.num_classes("num_classes", num_classes)
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must have shape (n, H, W), got shape {masks.shape}")
    pixels = np.zeros(num_classes)
    present_in = np.zeros(num_classes)
    for mask in masks:
        labels = mask[mask != ignore_class] if ignore_class is not None else mask.ravel()
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"masks hold labels outside 0..{num_classes - 1} (void {ignore_class!r} excluded)")
        counts = np.bincount(labels.ravel(), minlength=num_classes)
        pixels += counts
        present_in += (counts > 0) * labels.size
    seen = present_in > 0
    freq = np.where(seen, pixels / np.maximum(present_in, 1), 0.0)
    median = np.median(freq[seen]) if seen.any() else 0.0
    return np.where(seen, median / np.maximum(freq, 1e-12), 0.0).astype(np.float32)


@keras.saving.register_keras_serializable(package="gruseg")
class SegmentationLoss(keras.losses.Loss):
    """Class-weighted sparse cross-entropy on probabilities, void ignored, plus ``dice_weight`` x soft Dice.

    Args:
        num_classes: number of classes C (the model's output channels).
        class_weights: None (all 1) or C non-negative weights.
        ignore_class: None or the void label (may be >= C, e.g. 11 with 11 classes).
        dice_weight: non-negative weight of the soft Dice term (0: cross-entropy only).
        name: loss name.

    Call arguments:
        y_true: (B, H, W) integer labels.
        y_pred: (B, H, W, C) probabilities.

    Returns:
        The loss of the batch, a scalar (see the module docstring for the formula).
    """

    def __init__(self, num_classes, class_weights=None, ignore_class=None, dice_weight=0.0,
                 name="segmentation_loss", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)
        self.num_classes = _checks.num_classes("num_classes", num_classes)
        if class_weights is None:
            class_weights = [1.0] * self.num_classes
        weights = [float(_checks.number("class_weights", float(w), 0)) for w in np.asarray(class_weights).ravel()]
        if len(weights) != self.num_classes:
            raise ValueError(f"class_weights must hold num_classes={self.num_classes} weights, got {len(weights)}")
        if not any(weights):
            raise ValueError("class_weights must not all be 0")
        self.class_weights = weights
        self.ignore_class = None if ignore_class is None else _checks.non_negative_int("ignore_class", ignore_class)
        self.dice_weight = _checks.number("dice_weight", dice_weight, 0)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "int32")
        if self.ignore_class is None:
            valid = ops.ones_like(y_true, dtype="float32")
            labels = y_true
        else:
            is_valid = ops.not_equal(y_true, self.ignore_class)
            valid = ops.cast(is_valid, "float32")
            labels = ops.where(is_valid, y_true, ops.zeros_like(y_true))
        one_hot = ops.one_hot(labels, self.num_classes, dtype="float32") * valid[..., None]
        p_true = ops.sum(y_pred * one_hot, axis=-1)
        ce = -ops.log(ops.clip(p_true, 1e-7, 1.0))
        w = ops.take(ops.convert_to_tensor(self.class_weights, dtype="float32"), labels) * valid
        loss = ops.sum(w * ce) / ops.maximum(ops.sum(w), 1e-7)
        if self.dice_weight:
            axes = tuple(range(len(y_pred.shape) - 1))
            probs = y_pred * valid[..., None]
            inter = ops.sum(probs * one_hot, axis=axes)
            total = ops.sum(probs, axis=axes) + ops.sum(one_hot, axis=axes)
            dice = (2.0 * inter + 1.0) / (total + 1.0)
            loss = loss + self.dice_weight * (1.0 - ops.mean(dice))
        return loss

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        config.update(num_classes=self.num_classes, class_weights=list(self.class_weights),
                      ignore_class=self.ignore_class, dice_weight=self.dice_weight)
        return config
