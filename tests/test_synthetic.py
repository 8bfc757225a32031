"""Synthetic data: determinism, formats, class balance, and the parity labels checked independently."""

import subprocess
import sys
from collections import deque

import numpy as np
import pytest

from gruseg.data import (
    DATASETS,
    LONG_RANGE_CLASSES,
    SHAPES_CLASSES,
    make_long_range,
    make_shapes,
    parity_labels,
)

MAKERS = [make_shapes, make_long_range]


# ---------------------------------------------------------------------------- format, seeds
@pytest.mark.parametrize("maker", MAKERS)
def test_formats_and_ranges(maker):
    images, masks = maker(6, size=32, seed=0)
    assert images.shape == (6, 32, 32, 3) and images.dtype == np.float32
    assert masks.shape == (6, 32, 32) and masks.dtype == np.uint8
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert np.isfinite(images).all()


@pytest.mark.parametrize("maker", MAKERS)
def test_same_seed_same_data_other_seed_other_data(maker):
    a_images, a_masks = maker(5, size=32, seed=7)
    b_images, b_masks = maker(5, size=32, seed=7)
    c_images, c_masks = maker(5, size=32, seed=8)
    np.testing.assert_array_equal(a_images, b_images)
    np.testing.assert_array_equal(a_masks, b_masks)
    assert not np.array_equal(a_masks, c_masks)
    assert not np.allclose(a_images, c_images)


def test_numpy_makers_do_not_import_tensorflow():
    code = ("import sys\nfrom gruseg.data import make_shapes, make_long_range\n"
            "make_shapes(2, size=16); make_long_range(2, size=32)\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_datasets_registry():
    assert set(DATASETS) == {"shapes", "long-range"}
    maker, names = DATASETS["shapes"]
    assert maker is make_shapes and names == SHAPES_CLASSES
    assert DATASETS["long-range"].maker is make_long_range
    assert DATASETS["long-range"].class_names == LONG_RANGE_CLASSES == ("outside", "inside")


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 0}, "n must be a positive integer, got 0"),
    ({"n": 2, "size": 4}, "size must be an integer"),
    ({"n": 2.5}, "n must be a positive integer"),
    ({"n": 2, "noise": -1}, "noise must be"),
])
@pytest.mark.parametrize("maker", MAKERS)
def test_bad_arguments_are_refused(maker, kwargs, match):
    with pytest.raises(ValueError, match=match):
        maker(**kwargs)


def test_long_range_refuses_curves_that_cannot_fit():
    with pytest.raises(ValueError, match="do not fit"):
        make_long_range(2, size=32, curves=(8, 12))
    with pytest.raises(ValueError, match="orientation"):
        make_long_range(2, orientation="diagonal")


# ---------------------------------------------------------------------------- shapes
def test_shapes_every_class_appears_with_sane_balance():
    _, masks = make_shapes(64, size=32, seed=0)
    share = np.bincount(masks.ravel(), minlength=4) / masks.size
    assert share.size == len(SHAPES_CLASSES)
    assert 0.6 < share[0] < 0.95                     # mostly background, but not all
    assert (share[1:] > 0.02).all()                  # each shape class is present
    assert share[1:].max() < 3 * share[1:].min()     # no shape class dominates


def test_shapes_colour_is_not_the_class():
    """The same class gets many colours, so the outline, not the colour, tells the class."""
    images, masks = make_shapes(40, size=32, seed=1, noise=0.0)
    for cls in (1, 2, 3):
        colours = images[masks == cls].mean(axis=0)
        spread = images[masks == cls].std(axis=0)
        assert (spread > 0.1).all(), (cls, colours, spread)


def test_shapes_respects_shapes_per_image():
    _, masks = make_shapes(20, size=32, seed=2, shapes_per_image=(1, 1))
    # exactly one shape: one foreground class per image
    assert all(len(set(np.unique(m)) - {0}) == 1 for m in masks)


# ---------------------------------------------------------------------------- long range
def _components(ink):
    """8-connected components of a 2-D boolean array (breadth-first search)."""
    label = np.zeros(ink.shape, dtype=int)
    count = 0
    height, width = ink.shape
    for y, x in zip(*np.nonzero(ink)):
        if label[y, x]:
            continue
        count += 1
        label[y, x] = count
        queue = deque([(y, x)])
        while queue:
            cy, cx = queue.popleft()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = cy + dy, cx + dx
                    if 0 <= ny < height and 0 <= nx < width and ink[ny, nx] and not label[ny, nx]:
                        label[ny, nx] = count
                        queue.append((ny, nx))
    return label, count


@pytest.mark.parametrize("orientation", ["vertical", "horizontal"])
def test_long_range_labels_match_an_independent_scan(orientation):
    images, masks, ink = make_long_range(12, size=48, seed=3, orientation=orientation,
                                         return_curves=True)
    np.testing.assert_array_equal(parity_labels(ink, orientation=orientation), masks)
    assert (masks[ink] == 0).all()
    assert set(np.unique(masks)) == {0, 1}


def test_long_range_both_orientations_half_each():
    _, masks, ink = make_long_range(10, size=48, seed=4, orientation="both", return_curves=True)
    vertical = [bool((parity_labels(i, "vertical") == m).all()) for i, m in zip(ink, masks)]
    horizontal = [bool((parity_labels(i, "horizontal") == m).all()) for i, m in zip(ink, masks)]
    assert all(v or h for v, h in zip(vertical, horizontal))
    # a vertical image's curves cross every row; a horizontal one's every column
    crosses_rows = [bool(i.any(axis=1).all()) and not i.any(axis=0).all() for i in ink]
    assert sum(crosses_rows) == 5


def test_long_range_curves_are_separate_and_span_the_image():
    _, _, ink = make_long_range(20, size=48, seed=5, orientation="vertical", curves=(3, 6),
                                thickness=(1, 2), return_curves=True)
    for image_ink in ink:
        label, count = _components(image_ink)
        assert 3 <= count <= 6
        for k in range(1, count + 1):
            rows = np.nonzero((label == k).any(axis=1))[0]
            assert rows.min() == 0 and rows.max() == 47        # top edge to bottom edge
            # exactly one run per row: the row count of each curve is well defined
            runs = np.diff((label == k).astype(int), axis=1, prepend=0) == 1
            assert (runs.sum(axis=1) == 1).all()


def test_long_range_curves_keep_min_gap():
    _, _, ink = make_long_range(20, size=48, seed=6, orientation="vertical", min_gap=2,
                                return_curves=True)
    for image_ink in ink:
        label, _ = _components(image_ink)
        for y in range(48):
            for y2 in (y, min(y + 1, 47)):
                # any two ink pixels of different curves in rows y, y2 are >= 3 columns apart
                a, b = np.nonzero(image_ink[y])[0], np.nonzero(image_ink[y2])[0]
                la, lb = label[y, a], label[y2, b]
                diff = la[:, None] != lb[None, :]
                gaps = np.abs(a[:, None] - b[None, :])[diff]
                assert gaps.size == 0 or gaps.min() >= 3


def test_long_range_parity_depends_on_the_count_not_the_look():
    """Both classes look alike: the background statistics do not depend on the label."""
    images, masks, ink = make_long_range(60, size=48, seed=7, return_curves=True)
    off = ~ink
    inside = images[off & (masks == 1)].mean(axis=0)
    outside = images[off & (masks == 0)].mean(axis=0)
    assert np.abs(inside - outside).max() < 0.03
    share = masks[off].mean()
    assert 0.3 < share < 0.6


def test_parity_labels_small_example():
    ink = np.array([[0, 1, 0, 0, 1, 1, 0, 1, 0]], dtype=bool)
    assert parity_labels(ink).tolist() == [[0, 0, 1, 1, 0, 0, 0, 0, 1]]
    assert parity_labels(ink.T, "horizontal").T.tolist() == parity_labels(ink).tolist()
