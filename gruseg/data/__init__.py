"""Data for gruseg: synthetic tasks, a folder of images and masks, Oxford-IIIT Pet, and batching.

Everything yields images as float32 ``(n, H, W, 3)`` in [0, 1] and masks as integer class labels
``(n, H, W)``. Names load lazily: the synthetic generators and the folder loader need only NumPy
and Pillow; :mod:`gruseg.data.pipeline` (batches for Keras) imports Keras, and only
:func:`~gruseg.data.pipeline.to_dataset` and the Pet loader need TensorFlow.

* :mod:`~gruseg.data.synthetic`: ``make_shapes``, ``make_long_range`` (the parity-of-crossings task).
* :mod:`~gruseg.data.folder`: ``load_folder`` (``images/`` + ``masks/``), ``read_image``, ``read_mask``.
* :mod:`~gruseg.data.camvid`: ``load_camvid`` (the shipped CamVid sample: real street scenes, 11 classes + void).
* :mod:`~gruseg.data.pets`: ``load_pets`` (TFDS Oxford-IIIT Pet, for Colab readers; downloads).
* :mod:`~gruseg.data.resize`: ``fit_to_size`` (stretch, or keep the aspect ratio: centre-crop or pad with void).
* :mod:`~gruseg.data.sources`: ``load_split``/``training_splits`` (what ``--data``/``--dataset`` load).
* :mod:`~gruseg.data.pipeline`: ``batches``/``ArrayBatches`` (any backend), ``to_dataset`` (tf.data),
  ``Augmentation``, ``split_indices``.
"""

from gruseg._lazy import lazy_exports

_EXPORTS = {
    "synthetic": ["make_shapes", "make_long_range", "parity_labels", "DATASETS", "DatasetSpec", "SHAPES_CLASSES",
                  "LONG_RANGE_CLASSES"],
    "folder": ["load_folder", "read_image", "read_mask", "FolderData", "IMAGE_EXTENSIONS"],
    "camvid": ["load_camvid", "CAMVID_CLASSES", "CAMVID_COLORS", "CAMVID_VOID"],
    "pets": ["load_pets", "preprocess_pet", "PET_CLASSES"],
    "resize": ["fit_to_size", "fit_shape", "RESIZE_MODES"],
    "sources": ["load_split", "training_splits", "Split", "DATASET_NAMES"],
    "pipeline": ["batches", "ArrayBatches", "to_dataset", "Augmentation", "split_indices"],
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
