"""CamVid street scenes, shipped with gruseg: 11 classes + void, 120 x 160, SegNet's split.

Real photographs from a car's dashboard camera in Cambridge, UK (Brostow et al. 2008, 2009), in the
11-class form and the train/val/test split of the SegNet tutorial (367 / 101 / 233 images), at a
third of the original 360 x 480. The sample is 9 MB and ships inside the package
(``gruseg/data/camvid_sample/``), so it needs no download; its ``README.md`` gives the source, the class
frequencies and the terms: **the images are for non-commercial research and teaching use**
(CC BY-NC 4.0 for the tutorial's form), separate from gruseg's own MIT licence.

Label 11 (:data:`CAMVID_VOID`, "Unlabelled") is void: leave it out of the loss and the metrics
(``ignore_class=11``). The published reference, ReSeg (Visin et al. 2016), reached 58.8 % mean
IoU on this test split at full resolution with an ImageNet-pretrained VGG-16 encoder on a GPU;
a model trained here from scratch on a CPU at a third of the resolution is far below that.

Example:
    >>> train = load_camvid("train")
    >>> train.images.shape, train.masks.shape, train.num_classes, train.ignore_label
    ((367, 120, 160, 3), (367, 120, 160), 11, 11)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from gruseg import _checks
from gruseg.data.folder import load_folder

__all__ = ["CAMVID_CLASSES", "CAMVID_COLORS", "CAMVID_VOID", "CAMVID_SPLITS", "CAMVID_SIZE", "camvid_root",
           "load_camvid"]

CAMVID_CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign_symbol", "fence", "car",
                  "pedestrian", "bicyclist")
"""The 11 classes; label ``i`` is ``CAMVID_CLASSES[i]``."""

CAMVID_VOID = 11
"""The void ("Unlabelled") label, to be ignored in the loss and the metrics."""

CAMVID_SPLITS = ("train", "val", "test")
"""SegNet's split, with 367, 101 and 233 images."""

CAMVID_SIZE = (120, 160)
"""(height, width) of the shipped images."""

CAMVID_COLORS = np.array([
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
    (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
], dtype=np.float32) / 255.0
"""SegNet's RGB colours for the 11 classes (void is drawn black), in [0, 1]."""


def camvid_root() -> Path:
    """The folder holding the shipped sample (``train/``, ``val/``, ``test/``, ``README.md``)."""
    return Path(str(resources.files("gruseg.data") / "camvid_sample"))


def load_camvid(split="train", size=None, resize="stretch"):
    """Load one split of the shipped CamVid sample into memory.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        size: None (the shipped 120 x 160), an int or ``(height, width)``: images are resized
            bilinearly, masks with nearest neighbour.
        resize: ``"stretch"`` (default), ``"crop"`` or ``"pad"`` (keep the 3:4 aspect ratio; the
            padded border is void): see :mod:`gruseg.data.resize`.

    Returns:
        :class:`gruseg.data.folder.FolderData` with ``num_classes=11``, ``class_names`` =
        :data:`CAMVID_CLASSES`, ``ignore_label=11`` and ``colors`` = :data:`CAMVID_COLORS`.
    """
    split = _checks.choice("split", split, CAMVID_SPLITS)
    size = _checks.image_size("size", size, allow_none=True)
    data = load_folder(camvid_root() / split, size=size, num_classes=len(CAMVID_CLASSES),
                       class_names=CAMVID_CLASSES, ignore_label=CAMVID_VOID, resize=resize)
    data.colors = CAMVID_COLORS
    return data
