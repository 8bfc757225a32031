"""Where training and evaluation data come from: a folder, the shipped CamVid sample, or a synthetic set.

The command line's ``--data DIR`` / ``--dataset NAME`` resolve here, so that the CLI, the
chapters and a user's script load data the same way:

* :func:`load_split` loads one :class:`Split` (arrays, class names, the void label, colours);
* :func:`training_splits` gives the (train, validation) pair a training run uses: CamVid's own
  ``train`` and ``val`` splits, or a seeded random split of a folder or a synthetic set
  (:func:`gruseg.data.pipeline.split_indices`).

Example:
    >>> train, val = training_splits(dataset="shapes", size=32, samples=20, seed=0)
    >>> train.images.shape, val.images.shape, train.class_names
    ((16, 32, 32, 3), (4, 32, 32, 3), ('background', 'circle', 'square', 'triangle'))
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gruseg import _checks
from gruseg.errors import GrusegError

__all__ = ["DATASET_NAMES", "Split", "load_split", "training_splits"]

DATASET_NAMES = ("shapes", "long-range", "camvid")
"""Names ``--dataset`` accepts: the two synthetic sets and the shipped CamVid sample."""


@dataclass
class Split:
    """Images and masks of one split, with what is needed to train on them and to draw them.

    Attributes:
        images: float32 (n, H, W, 3) in [0, 1].
        masks: integer (n, H, W) labels in ``[0, num_classes)``, or ``ignore_label``.
        class_names: one name per class.
        ignore_label: the void label, or None.
        colors: (num_classes, 3) RGB in [0, 1], or None for gruseg's palette.
        source: a description for messages and reports (a folder path, ``"camvid test"``, ...).
    """

    images: np.ndarray
    masks: np.ndarray
    class_names: tuple
    ignore_label: int | None = None
    colors: np.ndarray | None = None
    source: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self):
        return len(self.images)

    def subset(self, indices, source=None):
        """The samples at ``indices``, as a new :class:`Split`."""
        return replace(self, images=self.images[indices], masks=self.masks[indices], source=source or self.source)


def _synthetic(name, size, samples, seed, num_classes):
    from gruseg.data.synthetic import DATASETS

    maker, class_names = DATASETS[name]
    if num_classes is not None and num_classes != len(class_names):
        raise GrusegError(f"--num-classes {num_classes}: dataset {name!r} has {len(class_names)} classes "
                          f"({', '.join(class_names)}); drop --num-classes or pass {len(class_names)}")
    height, width = size
    if height != width:
        raise GrusegError(f"--size {height}x{width}: the synthetic dataset {name!r} is square; pass one side, "
                          f"e.g. --size {max(height, width)}")
    try:
        images, masks = maker(samples, size=height, seed=seed)
    except ValueError as err:
        raise GrusegError(f"--dataset {name} --size {height}: {err}") from None
    return Split(images, masks, tuple(class_names), source=f"synthetic {name}")


def load_split(data=None, dataset=None, split="train", size=None, num_classes=None, samples=200, seed=0,
               ignore_label=None, resize="stretch", allow_lossy_masks=False):
    """Load one split from a folder (``data``) or a named dataset (``dataset``, default ``"shapes"``).

    Args:
        data: a folder with ``images/`` and ``masks/`` (:func:`gruseg.data.folder.load_folder`), or None.
        dataset: one of :data:`DATASET_NAMES` when ``data`` is None.
        split: for CamVid, ``"train"``, ``"val"`` or ``"test"``; ignored otherwise.
        size: an int or ``(height, width)``; None keeps a folder's or CamVid's own size (and
            means 128 for the synthetic sets).
        num_classes: the number of classes (a folder: inferred when None).
        samples: how many synthetic images to make.
        seed: the synthetic generator's seed.
        ignore_label: a folder's void label (CamVid's is always 11).
        resize: ``"stretch"``, ``"crop"`` or ``"pad"`` (keep the aspect ratio; pad needs a void
            label): how a folder's or CamVid's pairs reach ``size`` (:mod:`gruseg.data.resize`).
        allow_lossy_masks: accept a folder's JPEG/lossy-WebP masks, with a warning (default: refuse them).

    Returns:
        :class:`Split`.

    Raises:
        GrusegError: unusable data (the message names the file or argument and the fix).
    """
    size = _checks.image_size("size", size, allow_none=True)
    if data is not None:
        from gruseg.data.folder import load_folder

        folder = load_folder(data, size=size, num_classes=num_classes, ignore_label=ignore_label, resize=resize,
                             allow_lossy_masks=allow_lossy_masks)
        return Split(folder.images, folder.masks, tuple(folder.class_names), folder.ignore_label, folder.colors,
                     str(data))
    name = _checks.choice("dataset", dataset or "shapes", DATASET_NAMES)
    if name == "camvid":
        from gruseg.data.camvid import CAMVID_CLASSES, CAMVID_VOID, load_camvid

        if num_classes is not None and num_classes != len(CAMVID_CLASSES):
            raise GrusegError(f"--num-classes {num_classes}: CamVid has {len(CAMVID_CLASSES)} classes; drop "
                              "--num-classes")
        if ignore_label is not None and ignore_label != CAMVID_VOID:
            raise GrusegError(f"--ignore-label {ignore_label}: CamVid's void label is {CAMVID_VOID}; drop "
                              "--ignore-label")
        camvid = load_camvid(split, size, resize=resize)
        return Split(camvid.images, camvid.masks, CAMVID_CLASSES, CAMVID_VOID, camvid.colors, f"camvid {split}")
    return _synthetic(name, size or (128, 128), _checks.positive_int("samples", samples),
                      _checks.seed("seed", seed, allow_none=False), num_classes)


def training_splits(data=None, dataset=None, size=None, num_classes=None, samples=200, seed=0, val_fraction=0.2,
                    ignore_label=None, resize="stretch", allow_lossy_masks=False):
    """The (train, validation) splits of a training run.

    CamVid: its ``train`` and ``val`` splits (``val_fraction`` is not used). A folder or a
    synthetic set: a random split of ``round(n * val_fraction)`` validation samples chosen by
    ``seed`` (:func:`gruseg.data.pipeline.split_indices`); with ``val_fraction=0`` the
    validation split is None.

    Returns:
        ``(train, val)``: :class:`Split` and :class:`Split` or None.
    """
    from gruseg.data.pipeline import split_indices

    if data is None and dataset == "camvid":
        kwargs = dict(dataset="camvid", size=size, num_classes=num_classes, ignore_label=ignore_label, resize=resize)
        return load_split(split="train", **kwargs), load_split(split="val", **kwargs)
    whole = load_split(data=data, dataset=dataset, size=size, num_classes=num_classes, samples=samples, seed=seed,
                       ignore_label=ignore_label, resize=resize, allow_lossy_masks=allow_lossy_masks)
    train_idx, val_idx = split_indices(len(whole), val_fraction, seed, whole.source)
    train = whole.subset(train_idx)
    val = whole.subset(val_idx) if len(val_idx) else None
    return train, val
