"""Arrays to training batches: shuffling and augmentation, the same on every Keras backend.

:class:`ArrayBatches` is a ``keras.utils.PyDataset``: ``model.fit``, ``evaluate`` and ``predict``
take it under TensorFlow, JAX or PyTorch alike, and its augmentation is NumPy, driven by a seed,
so a run repeats exactly. :func:`to_dataset` wraps the same batches in a ``tf.data.Dataset`` for
code that wants one (``tf.distribute``, TFDS-style pipelines); only it needs TensorFlow.

Augmentation (:class:`Augmentation`) transforms an image and its mask together:

* left-right flips (on by default: street scenes and most photographs are mirror-symmetric);
* up-down flips (off by default: the sky is not below the road);
* a random zoom-in: a window of ``1/s`` of the height and width, ``s`` drawn from ``scale``, at a
  random position, resized back to the full size (bilinear for the image, nearest for the mask,
  so labels are never blended).

Tasks whose labels depend on the position (:func:`gruseg.data.synthetic.make_long_range` counts curves
from the left or top border) must not be flipped or cropped.

Example:
    >>> images = np.zeros((10, 8, 8, 3), "float32"); masks = np.zeros((10, 8, 8), "uint8")
    >>> batches = ArrayBatches(images, masks, batch_size=4)
    >>> len(batches), [tuple(x.shape) for x, _ in batches]
    (3, [(4, 8, 8, 3), (4, 8, 8, 3), (2, 8, 8, 3)])
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from gruseg import _checks

__all__ = ["Augmentation", "ArrayBatches", "batches", "to_dataset", "augment_pair", "split_indices"]


@dataclass(frozen=True)
class Augmentation:
    """What :class:`ArrayBatches` does to each training pair (image and mask together).

    Attributes:
        flip_left_right: mirror with probability 1/2.
        flip_up_down: flip vertically with probability 1/2.
        scale: ``(low, high)`` with ``1 <= low <= high``: zoom in by a factor drawn uniformly
            from it (``(1, 1)``: no zoom).
    """

    flip_left_right: bool = True
    flip_up_down: bool = False
    scale: tuple = (1.0, 1.0)

    def __post_init__(self):
        _checks.boolean("flip_left_right", self.flip_left_right)
        _checks.boolean("flip_up_down", self.flip_up_down)
        low, high = (_checks.number("scale", s, 1.0) for s in self.scale)
        if low > high:
            raise ValueError(f"scale must be (low, high) with 1 <= low <= high, got {self.scale!r}")
        object.__setattr__(self, "scale", (low, high))

    @classmethod
    def of(cls, augment):
        """``None``/``False`` -> None, ``True`` -> the defaults, an :class:`Augmentation` as is."""
        if augment is None or augment is False:
            return None
        if augment is True:
            return cls()
        if isinstance(augment, cls):
            return augment
        raise ValueError(f"augment must be True, False, None or an Augmentation, got {augment!r}")


def _zoom_indices(size, scale, offset_fraction):
    """Source coordinates (float) of ``size`` output positions for a window of ``size/scale``."""
    window = size / scale
    start = (size - window) * offset_fraction
    return start + (np.arange(size) + 0.5) * (window / size) - 0.5


def augment_pair(image, mask, augmentation, rng):
    """Apply ``augmentation`` to one ``(H, W, C)`` image and its ``(H, W)`` mask.

    Args:
        image: (H, W, C) float array.
        mask: (H, W) integer labels.
        augmentation: an :class:`Augmentation`.
        rng: ``numpy.random.Generator`` (the only source of randomness).

    Returns:
        ``(image, mask)`` of the same shapes and dtypes.
    """
    if augmentation.flip_left_right and rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    if augmentation.flip_up_down and rng.random() < 0.5:
        image, mask = image[::-1], mask[::-1]
    low, high = augmentation.scale
    if high > 1.0:
        s = rng.uniform(low, high)
        h, w = mask.shape
        ys, xs = _zoom_indices(h, s, rng.random()), _zoom_indices(w, s, rng.random())
        # nearest for labels
        mask = mask[np.clip(np.round(ys).astype(int), 0, h - 1)][:, np.clip(np.round(xs).astype(int), 0, w - 1)]
        # bilinear for the image
        y0 = np.clip(np.floor(ys).astype(int), 0, h - 1)
        x0 = np.clip(np.floor(xs).astype(int), 0, w - 1)
        y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
        wy = np.clip(ys - y0, 0, 1)[:, None, None]
        wx = np.clip(xs - x0, 0, 1)[None, :, None]
        top = image[y0][:, x0] * (1 - wx) + image[y0][:, x1] * wx
        bottom = image[y1][:, x0] * (1 - wx) + image[y1][:, x1] * wx
        image = (top * (1 - wy) + bottom * wy).astype(image.dtype, copy=False)
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)


def _check_arrays(images, masks):
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (n, H, W, C), got shape {images.shape}")
    if masks is None:
        if images.shape[0] == 0:
            raise ValueError("images is empty: need at least one sample")
        return images.astype(np.float32, copy=False), None
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.shape != images.shape[:3]:
        raise ValueError(f"masks must have shape (n, H, W) = {images.shape[:3]} to match images, "
                         f"got shape {masks.shape}")
    if images.shape[0] == 0:
        raise ValueError("images is empty: need at least one sample")
    if masks.dtype.kind not in "iub":
        raise ValueError(f"masks must hold integer class labels, got dtype {masks.dtype}")
    return images.astype(np.float32, copy=False), masks.astype(np.int32, copy=False)


class ArrayBatches(keras.utils.PyDataset):
    """Batches of ``(images float32 (b, H, W, C), masks int32 (b, H, W))`` for ``model.fit``.

    A ``keras.utils.PyDataset``. Epoch ``e`` (counted by ``on_epoch_end``) uses the permutation and
    the augmentation draws of ``numpy.random.default_rng([seed, e])``: the same seed gives the
    same sequence of epochs, and a resumed run can start at any epoch (``start_epoch``).

    Args:
        images: (n, H, W, C) array; converted to float32.
        masks: (n, H, W) integer class labels; converted to int32. None: batches of images
            only (for ``model.predict``).
        batch_size: samples per batch (the last batch may be smaller).
        shuffle: a new permutation every epoch.
        seed: integer seed for shuffling and augmentation.
        augment: None/False, True (the :class:`Augmentation` defaults) or an :class:`Augmentation`.
        start_epoch: the epoch the first iteration counts as (for resumed runs).
    """

    def __init__(self, images, masks, batch_size=16, shuffle=False, seed=0, augment=None, start_epoch=0):
        super().__init__()
        self.images, self.masks = _check_arrays(images, masks)
        self.batch_size = _checks.positive_int("batch_size", batch_size)
        self.shuffle = _checks.boolean("shuffle", shuffle)
        self.seed = _checks.seed("seed", seed, allow_none=False)
        self.augmentation = Augmentation.of(augment)
        if self.augmentation is not None and self.masks is None:
            raise ValueError("augment needs masks: augmentation transforms an image and its mask together")
        self.epoch = _checks.non_negative_int("start_epoch", start_epoch)

    def __len__(self):
        return -(-len(self.images) // self.batch_size)

    def _order(self):
        if not self.shuffle:
            return np.arange(len(self.images))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        picked = self._order()[index * self.batch_size:(index + 1) * self.batch_size]
        if self.masks is None:
            return (self.images[picked],)
        x, y = self.images[picked], self.masks[picked]
        if self.augmentation is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index, 1])
            pairs = [augment_pair(xi, yi, self.augmentation, rng) for xi, yi in zip(x, y, strict=True)]
            x = np.stack([p[0] for p in pairs])
            y = np.stack([p[1] for p in pairs])
        return x, y

    def on_epoch_end(self):
        self.epoch += 1

    def start_epoch_at(self, epoch):
        """Make the next iteration epoch ``epoch`` (a resumed run continues the sequence of epochs)."""
        self.epoch = _checks.non_negative_int("epoch", epoch)


def batches(images, masks, batch_size=16, shuffle=False, seed=0, augment=None, start_epoch=0):
    """The batches ``gruseg.training`` feeds to Keras: an :class:`ArrayBatches` (any backend).

    Example:
        >>> len(batches(np.zeros((5, 4, 4, 3)), np.zeros((5, 4, 4), "uint8"), batch_size=2))
        3
    """
    return ArrayBatches(images, masks, batch_size=batch_size, shuffle=shuffle, seed=seed, augment=augment,
                        start_epoch=start_epoch)


def to_dataset(images, masks, batch_size=16, shuffle=False, seed=0, augment=None):
    """The same batches as :class:`ArrayBatches`, as a ``tf.data.Dataset`` (needs TensorFlow).

    Each iteration over the dataset is one epoch: the first uses epoch 0's permutation and
    augmentation, the next epoch 1's, and so on.

    Args:
        images: (n, H, W, C) array; converted to float32.
        masks: (n, H, W) integer labels; converted to int32.
        batch_size: samples per batch (the last batch may be smaller).
        shuffle: a new permutation every epoch, from ``seed``.
        seed: integer seed for shuffling and augmentation.
        augment: None/False, True or an :class:`Augmentation`.

    Returns:
        ``tf.data.Dataset`` of ``(images (b, H, W, C) float32, masks (b, H, W) int32)``.

    Raises:
        ModuleNotFoundError: TensorFlow is not installed (the message says what to install, and
            that :func:`batches` works without it).

    Example:
        >>> images = np.zeros((10, 16, 16, 3), "float32"); masks = np.zeros((10, 16, 16), "uint8")
        >>> [tuple(x.shape) for x, _ in to_dataset(images, masks, batch_size=4)]
        [(4, 16, 16, 3), (4, 16, 16, 3), (2, 16, 16, 3)]
    """
    source = ArrayBatches(images, masks, batch_size=batch_size, shuffle=shuffle, seed=seed, augment=augment)
    try:
        import tensorflow as tf
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "gruseg.data.to_dataset builds a tf.data pipeline and needs TensorFlow: pip install tensorflow "
            "(or gruseg[tf]); gruseg.data.batches gives the same batches on any Keras backend") from None

    epochs = iter(range(2**62))

    def generate():
        source.epoch = next(epochs)
        for i in range(len(source)):
            yield source[i]

    _, h, w, c = source.images.shape
    signature = (tf.TensorSpec((None, h, w, c), tf.float32), tf.TensorSpec((None, h, w), tf.int32))
    ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
    # from_generator cannot know the length; without it Keras warns "Your input ran out of data"
    return ds.apply(tf.data.experimental.assert_cardinality(len(source))).prefetch(2)


def split_indices(n, val_fraction, seed=0, source="the data"):
    """A deterministic train/validation split of ``n`` samples.

    The validation part has ``round(n * val_fraction)`` samples (at least 1, at most ``n - 1``)
    chosen by ``numpy.random.default_rng(seed)``; both index arrays are sorted.

    Args:
        n: number of samples.
        val_fraction: in [0, 1); 0 gives an empty validation split.
        seed: integer seed.
        source: how to name the data in an error message (e.g. the folder).

    Returns:
        ``(train_indices, val_indices)``, int arrays.

    Raises:
        GrusegError: fewer than 2 samples with ``val_fraction > 0``.

    Example:
        >>> [a.tolist() for a in split_indices(5, 0.4, seed=0)]
        [[0, 1, 3], [2, 4]]
    """
    from gruseg.errors import GrusegError

    n = _checks.non_negative_int("n", n)
    val_fraction = _checks.fraction("val_fraction", val_fraction)
    if val_fraction == 0:
        return np.arange(n), np.arange(0)
    if n < 2:
        raise GrusegError(f"{source}: {n} image(s) cannot be split into training and validation; "
                          "add more images or pass --val-fraction 0")
    n_val = min(max(1, round(n * val_fraction)), n - 1)
    order = np.random.default_rng(_checks.seed("seed", seed, allow_none=False)).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])
