"""Data for gruseg: synthetic tasks, a folder of images and masks, and Oxford-IIIT Pet.

Everything yields images as float32 ``(n, H, W, 3)`` in [0, 1] and masks as integer class labels
``(n, H, W)``. Importing this package is cheap: TensorFlow is imported only by the functions that
build ``tf.data`` pipelines.
"""

from gruseg.data.folder import FolderData, load_folder, read_image, read_mask
from gruseg.data.pets import PET_CLASSES, load_pets, preprocess_pet
from gruseg.data.synthetic import (
    DATASETS,
    LONG_RANGE_CLASSES,
    SHAPES_CLASSES,
    DatasetSpec,
    make_long_range,
    make_shapes,
    parity_labels,
    to_dataset,
)

__all__ = [
    "make_shapes",
    "make_long_range",
    "parity_labels",
    "to_dataset",
    "DATASETS",
    "DatasetSpec",
    "SHAPES_CLASSES",
    "LONG_RANGE_CLASSES",
    "load_folder",
    "read_image",
    "read_mask",
    "FolderData",
    "load_pets",
    "preprocess_pet",
    "PET_CLASSES",
]
