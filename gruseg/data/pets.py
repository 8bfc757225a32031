"""The Oxford-IIIT Pet dataset through TensorFlow Datasets (for readers on Colab).

Oxford-IIIT Pet (Parkhi et al., 2012): 7,349 photos of 37 cat and dog breeds, each with a
*trimap* segmentation mask. In TFDS (``oxford_iiit_pet``, splits ``"train"`` with 3,680 images and
``"test"`` with 3,669) the mask ``segmentation_mask`` has shape ``(H, W, 1)`` and values::

    1 = pet (foreground)    2 = background    3 = border (the uncertain outline)

:func:`preprocess_pet` subtracts 1, so labels are ``0 = pet, 1 = background, 2 = border``
(:data:`PET_CLASSES`). The first call of :func:`load_pets` downloads about 800 MB and needs the
network; ``tensorflow_datasets`` is imported only inside these functions
(``pip install tensorflow-datasets``, already present on Colab).

Example:
    >>> train = load_pets("train", size=(128, 128), batch_size=16)   # doctest: +SKIP
    >>> images, masks = next(iter(train))                            # doctest: +SKIP
    >>> images.shape, masks.shape                                    # doctest: +SKIP
    (TensorShape([16, 128, 128, 3]), TensorShape([16, 128, 128]))
"""

from __future__ import annotations

from gruseg import _checks
from gruseg.errors import GrusegError

__all__ = ["PET_CLASSES", "preprocess_pet", "load_pets"]

PET_CLASSES = ("pet", "background", "border")
"""Class names after :func:`preprocess_pet`: TFDS trimap value ``v`` becomes label ``v - 1``."""


def preprocess_pet(example, size=(128, 128)):
    """One TFDS pet example -> ``(image, mask)`` ready for training.

    The image becomes float32 in [0, 1], resized bilinearly to ``size``; the trimap
    ``segmentation_mask`` (values 1 pet, 2 background, 3 border) is resized with nearest
    neighbour (labels are never blended) and shifted to 0-based labels ``0, 1, 2``.

    Args:
        example: dict with ``"image"`` uint8 ``(H, W, 3)`` and ``"segmentation_mask"`` uint8
            ``(H, W, 1)`` tensors, as yielded by ``tfds.load("oxford_iiit_pet")``.
        size: ``(height, width)`` or one integer.

    Returns:
        ``(image float32 (height, width, 3), mask int32 (height, width))``.

    Example:
        >>> import tensorflow as tf
        >>> example = {"image": tf.zeros((5, 7, 3), tf.uint8),
        ...            "segmentation_mask": tf.fill((5, 7, 1), tf.constant(2, tf.uint8))}
        >>> image, mask = preprocess_pet(example, size=4)
        >>> tuple(image.shape), tuple(mask.shape), int(mask[0, 0])   # 2 = background -> 1
        ((4, 4, 3), (4, 4), 1)
    """
    import tensorflow as tf

    size = _checks.image_size("size", size)
    image = tf.image.convert_image_dtype(example["image"], tf.float32)   # uint8 -> [0, 1]
    image = tf.image.resize(image, size, method="bilinear")
    image = tf.clip_by_value(image, 0.0, 1.0)
    mask = example["segmentation_mask"]
    if mask.shape.rank == 2:
        mask = mask[..., None]
    mask = tf.image.resize(mask, size, method="nearest")
    mask = tf.cast(mask[..., 0], tf.int32) - 1
    return image, mask


def load_pets(split="train", size=(128, 128), batch_size=16, data_dir=None, shuffle=None,
              seed=0):
    """Oxford-IIIT Pet as a batched ``tf.data.Dataset`` of ``(image, mask)`` (needs the network).

    Args:
        split: a TFDS split: ``"train"``, ``"test"``, or a slice such as ``"train[:10%]"``.
        size: ``(height, width)`` or one integer; see :func:`preprocess_pet`.
        batch_size: samples per batch.
        data_dir: where TFDS keeps its files (default ``~/tensorflow_datasets``).
        shuffle: shuffle the examples; default True for splits starting with ``"train"``.
        seed: seed for the file order and the shuffle buffer.

    Returns:
        ``tf.data.Dataset`` of ``(float32 (b, height, width, 3), int32 (b, height, width))``
        with labels 0 pet, 1 background, 2 border (:data:`PET_CLASSES`).

    Raises:
        GrusegError: ``tensorflow_datasets`` is not installed.
    """
    size = _checks.image_size("size", size)
    batch_size = _checks.positive_int("batch_size", batch_size)
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise GrusegError(
            "tensorflow_datasets is not installed; run `pip install tensorflow-datasets` "
            "(or `pip install gruseg[pets]`) to use the Oxford-IIIT Pet dataset") from None
    import tensorflow as tf

    if shuffle is None:
        shuffle = str(split).startswith("train")
    ds = tfds.load(
        "oxford_iiit_pet",
        split=split,
        data_dir=data_dir,
        shuffle_files=bool(shuffle),
        read_config=tfds.ReadConfig(shuffle_seed=seed),
    )
    ds = ds.map(lambda example: preprocess_pet(example, size), num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(1000, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
