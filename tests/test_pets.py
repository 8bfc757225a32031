"""Oxford-IIIT Pet preprocessing, on a tiny example made here (nothing is downloaded)."""

import sys

import numpy as np
import pytest

from gruseg.data import PET_CLASSES, load_pets, preprocess_pet

tf = pytest.importorskip("tensorflow")


def example(height=6, width=8):
    """A fake TFDS example: left half pet (1), right half background (2), a border column (3)."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = 255
    trimap = np.full((height, width, 1), 2, np.uint8)
    trimap[:, : width // 2] = 1
    trimap[:, width // 2] = 3
    return {"image": tf.constant(image), "segmentation_mask": tf.constant(trimap),
            "label": tf.constant(5), "file_name": tf.constant("cat_1.jpg")}


def test_classes_follow_the_tfds_trimap_order():
    assert PET_CLASSES == ("pet", "background", "border")


def test_same_size_keeps_pixels_and_shifts_labels():
    image, mask = preprocess_pet(example(), size=(6, 8))
    assert image.dtype == tf.float32 and mask.dtype == tf.int32
    assert tuple(image.shape) == (6, 8, 3) and tuple(mask.shape) == (6, 8)
    np.testing.assert_allclose(image.numpy()[:, :4], 1.0)
    np.testing.assert_allclose(image.numpy()[:, 5:], 0.0)
    expected = np.full((6, 8), 1)
    expected[:, :4], expected[:, 4] = 0, 2
    np.testing.assert_array_equal(mask.numpy(), expected)


def test_resize_is_bilinear_for_images_nearest_for_masks():
    image, mask = preprocess_pet(example(12, 16), size=(5, 7))
    assert tuple(image.shape) == (5, 7, 3) and tuple(mask.shape) == (5, 7)
    assert set(np.unique(mask.numpy())) <= {0, 1, 2}          # never a blended label
    values = image.numpy()
    assert values.min() >= 0.0 and values.max() <= 1.0
    assert ((values > 0.01) & (values < 0.99)).any()           # bilinear blends the edge


def test_works_inside_a_tf_data_map():
    ds = tf.data.Dataset.from_tensors(example()).map(lambda e: preprocess_pet(e, 4))
    image, mask = next(iter(ds))
    assert tuple(image.shape) == (4, 4, 3) and tuple(mask.shape) == (4, 4)


def test_bad_size_is_refused():
    with pytest.raises(ValueError, match="size must be"):
        preprocess_pet(example(), size=(0, 4))
    with pytest.raises(ValueError, match="batch_size"):
        load_pets(batch_size=0)


def test_missing_tensorflow_datasets_gives_an_install_hint(monkeypatch):
    from gruseg.errors import GrusegError

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)     # import now fails
    with pytest.raises(GrusegError, match="pip install tensorflow-datasets"):
        load_pets()
