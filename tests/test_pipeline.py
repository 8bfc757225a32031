"""gruseg.data.pipeline: batches for Keras on any backend, augmentation, tf.data, the train/val split."""

import numpy as np
import pytest

from gruseg.data import make_shapes
from gruseg.data.pipeline import ArrayBatches, Augmentation, augment_pair, batches, split_indices, to_dataset
from gruseg.errors import GrusegError


def _tagged(n=12, size=16):
    images, masks = make_shapes(n, size=size, seed=0)
    masks = masks.astype(np.int32)
    masks[:, 0, 0] = np.arange(n)  # tag each sample
    return images, masks


def test_batches_shapes_dtypes_and_order():
    images, masks = _tagged(10)
    data = batches(images, masks, batch_size=4)
    assert len(data) == 3 and [x.shape for x, _ in data] == [(4, 16, 16, 3)] * 2 + [(2, 16, 16, 3)]
    x, y = data[0]
    assert x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(np.concatenate([y for _, y in data])[:, 0, 0], np.arange(10))
    with pytest.raises(IndexError):
        data[3]


def _epoch_orders(data, epochs):
    orders = []
    for _ in range(epochs):
        orders.append(tuple(np.concatenate([data[i][1][:, 0, 0] for i in range(len(data))])))
        data.on_epoch_end()
    return orders


def test_shuffle_is_a_new_permutation_each_epoch_and_repeats_per_seed():
    images, masks = _tagged()
    first = _epoch_orders(batches(images, masks, 5, shuffle=True, seed=1), 3)
    assert first == _epoch_orders(batches(images, masks, 5, shuffle=True, seed=1), 3)
    assert first != _epoch_orders(batches(images, masks, 5, shuffle=True, seed=2), 3)
    assert first[0] != first[1] and all(sorted(o) == list(range(12)) for o in first)
    # a resumed run starting at epoch 2 sees exactly epoch 2 of the uninterrupted run
    resumed = batches(images, masks, 5, shuffle=True, seed=1)
    resumed.start_epoch_at(2)
    assert _epoch_orders(resumed, 1) == first[2:]


def test_flips_move_image_and_mask_together_and_repeat():
    images, masks = make_shapes(16, size=16, seed=0)
    x, y = batches(images, masks, 16, augment=Augmentation(flip_up_down=True), seed=3)[0]
    kinds = set()
    for i in range(16):
        for k, flip in enumerate((lambda a: a, lambda a: a[:, ::-1], lambda a: a[::-1], lambda a: a[::-1, ::-1])):
            if np.array_equal(flip(images[i]), x[i]):
                np.testing.assert_array_equal(flip(masks[i]), y[i])
                kinds.add(k)
                break
        else:
            pytest.fail(f"sample {i} is not a flip of the original")
    assert len(kinds) >= 3
    x2, _ = batches(images, masks, 16, augment=Augmentation(flip_up_down=True), seed=3)[0]
    np.testing.assert_array_equal(x, x2)
    default = batches(images, masks, 16, augment=True, seed=3)[0][0]   # left-right only
    assert all(np.array_equal(d, im) or np.array_equal(d, im[:, ::-1]) for d, im in zip(default, images, strict=True))


def test_zoom_keeps_labels_unblended_and_image_values_in_range():
    rng = np.random.default_rng(0)
    image = rng.random((24, 32, 3)).astype(np.float32)
    mask = (np.arange(24 * 32).reshape(24, 32) % 5).astype(np.uint8)
    aug = Augmentation(flip_left_right=False, scale=(1.5, 1.5))
    out_image, out_mask = augment_pair(image, mask, aug, np.random.default_rng(1))
    assert out_image.shape == image.shape and out_mask.shape == mask.shape and out_mask.dtype == mask.dtype
    assert set(np.unique(out_mask)) <= set(np.unique(mask))
    assert out_image.min() >= image.min() - 1e-6 and out_image.max() <= image.max() + 1e-6
    assert not np.array_equal(out_mask, mask)  # it zoomed
    # a constant image zooms to the same constant: bilinear weights sum to one
    flat, _ = augment_pair(np.full((8, 8, 3), 0.25, np.float32), mask[:8, :8], aug, np.random.default_rng(2))
    np.testing.assert_allclose(flat, 0.25, atol=1e-6)


@pytest.mark.parametrize("bad, match", [
    (dict(scale=(0.5, 1.0)), "scale must be a number >= 1.0"),
    (dict(scale=(1.3, 1.1)), "low <= high"),
    (dict(flip_left_right=1), "flip_left_right must be True or False"),
])
def test_augmentation_refuses_bad_settings(bad, match):
    with pytest.raises(ValueError, match=match):
        Augmentation(**bad)


def test_batches_refuse_mismatched_arrays():
    images, masks = make_shapes(4, size=16)
    with pytest.raises(ValueError, match="masks must have shape"):
        batches(images, masks[:, :8])
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        batches(images, masks, batch_size=0)
    with pytest.raises(ValueError, match="augment needs masks"):
        ArrayBatches(images, None, augment=True)


def test_images_only_batches_for_predict():
    images, _ = make_shapes(5, size=16)
    assert [b[0].shape[0] for b in ArrayBatches(images, None, batch_size=2)] == [2, 2, 1]


def test_to_dataset_gives_the_same_batches_as_array_batches():
    pytest.importorskip("tensorflow")
    images, masks = _tagged()
    ds = to_dataset(images, masks, batch_size=5, shuffle=True, seed=4, augment=True)
    reference = batches(images, masks, 5, shuffle=True, seed=4, augment=True)
    for epoch in range(2):  # each iteration of the dataset is the next epoch
        got = [(x.numpy(), y.numpy()) for x, y in ds]
        want = [reference[i] for i in range(len(reference))]
        reference.on_epoch_end()
        assert len(got) == len(want)
        for (gx, gy), (wx, wy) in zip(got, want, strict=True):
            np.testing.assert_array_equal(gx, wx)
            np.testing.assert_array_equal(gy, wy)
    x, y = next(iter(ds))
    assert x.dtype.name == "float32" and y.dtype.name == "int32"


def test_split_indices_is_deterministic_and_disjoint():
    train, val = split_indices(10, 0.3, seed=5)
    assert len(val) == 3 and sorted([*train, *val]) == list(range(10))
    assert [a.tolist() for a in split_indices(10, 0.3, seed=5)] == [train.tolist(), val.tolist()]
    assert split_indices(10, 0.3, seed=6)[1].tolist() != val.tolist()
    assert split_indices(4, 0.0)[1].size == 0
    assert len(split_indices(3, 0.9)[0]) == 1  # at least one image stays for training
    with pytest.raises(GrusegError, match="cannot be split"):
        split_indices(1, 0.2)
