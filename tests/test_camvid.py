"""The shipped CamVid sample: what a user gets after ``pip install gruseg``.

One test loads the three splits (the only test that reads all 701 shipped pairs); the others check
the package data rule in pyproject.toml and the median-frequency weights of the train masks against
SegNet's published ones.
"""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from gruseg.data.camvid import (CAMVID_CLASSES, CAMVID_COLORS, CAMVID_SIZE, CAMVID_SPLITS, CAMVID_VOID, camvid_root,
                                load_camvid)
from gruseg.losses import median_frequency_weights

ROOT = Path(__file__).resolve().parents[1]
SEGNET_WEIGHTS = (0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826, 9.6446, 1.8418, 0.6823, 6.2478, 7.3614)
"""SegNet's median-frequency weights for classes 0..10 (camvid_sample/README.md)."""


@pytest.fixture(scope="module")
def splits():
    return {split: load_camvid(split) for split in CAMVID_SPLITS}


def test_the_shipped_sample_loads_with_segnets_split_classes_colours_and_void(splits):
    assert {s: len(d) for s, d in splits.items()} == {"train": 367, "val": 101, "test": 233}
    for split, data in splits.items():
        assert data.images.shape == (len(data), *CAMVID_SIZE, 3) and data.images.dtype == np.float32
        assert data.masks.shape == (len(data), *CAMVID_SIZE) and data.masks.dtype == np.uint8
        assert 0.0 <= data.images.min() and data.images.max() <= 1.0 and data.images.std() > 0.1  # photographs
        assert data.num_classes == 11 and data.class_names == CAMVID_CLASSES
        assert data.ignore_label == CAMVID_VOID == 11
        np.testing.assert_array_equal(data.colors, CAMVID_COLORS)
        values = set(np.unique(data.masks).tolist())
        assert values <= set(range(12)), split
        assert CAMVID_VOID in values, f"{split}: void pixels are present in CamVid's masks"
        assert values - {CAMVID_VOID} == set(range(11)), f"{split}: every class occurs"
    # the three splits are disjoint sets of photographs
    stems = [set(d.stems) for d in splits.values()]
    assert not (stems[0] & stems[1] or stems[0] & stems[2] or stems[1] & stems[2])
    assert CAMVID_COLORS.shape == (11, 3) and len({tuple(c) for c in CAMVID_COLORS}) == 11
    np.testing.assert_allclose(CAMVID_COLORS[0] * 255, (128, 128, 128))      # sky, SegNet's colour
    # size= resizes images bilinearly and masks with nearest neighbour (no blended labels)
    small = load_camvid("val", size=(60, 80))
    assert small.images.shape == (101, 60, 80, 3)
    assert set(np.unique(small.masks).tolist()) <= set(range(12))


def test_package_data_rule_covers_every_shipped_file():
    """pyproject's package-data globs match every file of camvid_sample/ (so a wheel includes them).

    Building a wheel needs setuptools >= 77 (PEP 639 licence field), which tests cannot download; a
    wheel built by hand (``pip wheel --no-deps -w /tmp/w .``) held all 1,402 pairs' files + README.
    """
    rules = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["gruseg.data"]
    sample = camvid_root()
    files = [p.relative_to(sample.parent) for p in sample.rglob("*") if p.is_file()]
    assert len(files) == 2 * 701 + 1
    uncovered = [str(f) for f in files if not any(f.match(rule) for rule in rules)]
    assert uncovered == []


def test_median_frequency_weights_of_the_train_masks_against_segnets(splits):
    """Computed on the shipped train masks (120 x 160), the weights agree with SegNet's (360 x 480) within 20 %
    for 10 of the 11 classes; SignSymbol's is 2.5x smaller than SegNet's 9.64 (golden values below).

    They do NOT agree to 2-3 decimal places: the downsampled masks shift every frequency a little, and no
    variant tried (void in or out of the denominators, train+val, train+val+test, global frequencies)
    reproduces SegNet's SignSymbol weight, so SegNet's likely came from other masks or another definition.
    """
    weights = median_frequency_weights(splits["train"].masks, 11, ignore_class=CAMVID_VOID)
    golden = [0.2795, 0.2018, 4.7127, 0.1491, 1.0, 0.4238, 3.8477, 1.9794, 0.7892, 6.3784, 8.8162]
    np.testing.assert_allclose(weights, golden, atol=5e-4)
    ratio = weights / np.array(SEGNET_WEIGHTS)
    sign = CAMVID_CLASSES.index("sign_symbol")
    others = [c for c in range(11) if c != sign]
    assert np.all(np.abs(ratio[others] - 1) < 0.2), ratio
    assert ratio[sign] == pytest.approx(0.40, abs=0.01)
    # the order of the weights (which classes are rare) is SegNet's apart from SignSymbol
    assert np.argsort(weights[others]).tolist() == np.argsort(np.array(SEGNET_WEIGHTS)[others]).tolist()
