"""gruseg.data.resize and load_folder(resize=...): non-square photographs kept in proportion (crop or pad)."""

import numpy as np
import pytest

from gruseg.data.folder import load_folder
from gruseg.data.resize import RESIZE_MODES, fit_shape, fit_to_size
from gruseg.errors import GrusegError
from imagefixtures import make_folder, rgb


def _stripes(height, width):
    """A mask whose label is the column index // (width // 4): four vertical bands 0..3."""
    return np.repeat((np.arange(width) * 4 // width)[None].astype(np.uint8), height, 0)


@pytest.mark.parametrize("shape, size, mode, expected", [
    ((360, 480), (120, 160), "crop", ((120, 160), (0, 0))),      # same aspect ratio: a plain resize
    ((360, 480), (120, 160), "pad", ((120, 160), (0, 0))),
    ((360, 480), (120, 120), "crop", ((120, 160), (0, 20))),     # short side fits, 20 columns cut each side
    ((360, 480), (120, 120), "pad", ((90, 120), (15, 0))),       # long side fits, 15 void rows above and below
    ((480, 360), (120, 120), "crop", ((160, 120), (20, 0))),     # portrait
    ((480, 360), (120, 120), "pad", ((120, 90), (0, 15))),
    ((10, 1000), (8, 8), "pad", ((1, 8), (3, 0))),               # never below one pixel
    ((100, 50), (30, 40), "stretch", ((30, 40), (0, 0))),
])
def test_fit_shape(shape, size, mode, expected):
    assert fit_shape(shape, size, mode) == expected


def test_crop_keeps_the_aspect_ratio_and_the_centre():
    image = rgb(20, 40, seed=0).astype(np.float32) / 255
    mask = _stripes(20, 40)                                        # bands of 10 columns
    out, labels = fit_to_size(image, mask, (10, 10), "crop")       # scaled to 10 x 20, columns 5..14 kept
    assert out.shape == (10, 10, 3) and labels.shape == (10, 10) and labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, np.repeat([[1] * 5 + [2] * 5], 10, 0))   # the two middle bands
    # stretching instead squeezes all four bands into the square (the aspect ratio is lost)
    stretched = fit_to_size(image, mask, (10, 10), "stretch")[1]
    assert set(stretched[0].tolist()) == {0, 1, 2, 3}


def test_pad_fills_the_mask_border_with_void_and_the_image_border_with_black():
    image = np.full((10, 40, 3), 0.5, np.float32)
    mask = _stripes(10, 40)
    out, labels = fit_to_size(image, mask, (20, 20), "pad", pad_label=255)     # scaled to 5 x 20, 7 rows above
    assert out.shape == (20, 20, 3) and labels.shape == (20, 20)
    assert (labels[:7] == 255).all() and (labels[12:] == 255).all() and (labels[7:12] != 255).all()
    np.testing.assert_array_equal(labels[7], np.repeat([0, 1, 2, 3], 5))
    assert (out[:7] == 0).all() and (out[12:] == 0).all() and np.allclose(out[7:12], 0.5)
    # an image alone needs no void label
    alone, none = fit_to_size(image, None, (20, 20), "pad")
    assert none is None and alone.shape == (20, 20, 3)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(mode="pad"), GrusegError, r"resize='pad' \(--resize pad\) fills each mask's border with the void label, "
                                    r"and there is none; pass ignore_label \(--ignore-label N"),
    (dict(mode="squash"), ValueError, "resize must be one of 'stretch', 'crop', 'pad'; got 'squash'"),
    (dict(mode="crop", size=(0, 4)), ValueError, "size must be a positive integer or a"),
])
def test_fit_to_size_refuses(kwargs, error, match):
    kwargs = {"size": (4, 4), **kwargs}
    with pytest.raises(error, match=match):
        fit_to_size(np.zeros((2, 8, 3), np.float32), np.zeros((2, 8), np.uint8), **kwargs)


def test_fit_to_size_refuses_a_mask_of_another_size():
    with pytest.raises(ValueError, match=r"labels must have the image's height and width \(2, 8\), got \(2, 7\)"):
        fit_to_size(np.zeros((2, 8, 3)), np.zeros((2, 7), np.uint8), (4, 4), "crop")


def test_load_folder_crop_and_pad_on_landscape_and_portrait_photographs(tmp_path):
    root = make_folder(tmp_path / "d", {
        "wide": (rgb(20, 40, seed=1), _stripes(20, 40)),
        "tall": (rgb(40, 20, seed=2), _stripes(40, 20)),
    })
    stretched = load_folder(root, size=10, num_classes=4)
    cropped = load_folder(root, size=10, num_classes=4, resize="crop")
    padded = load_folder(root, size=10, num_classes=4, ignore_label=9, resize="pad")
    for data in (stretched, cropped, padded):
        assert data.images.shape == (2, 10, 10, 3) and data.masks.shape == (2, 10, 10)
    tall, wide = cropped.stems.index("tall"), cropped.stems.index("wide")
    assert set(np.unique(cropped.masks[wide]).tolist()) == {1, 2}              # the centre half of the bands
    assert set(np.unique(cropped.masks[tall]).tolist()) == {0, 1, 2, 3}        # cut top and bottom only
    assert (padded.masks[wide][:2] == 9).all() and (padded.masks[wide][2:7] != 9).all()
    assert (padded.masks[tall][:, :2] == 9).all() and (padded.masks[tall][:, 2:7] != 9).all()
    assert padded.num_classes == 4 and padded.ignore_label == 9


def test_load_folder_pad_without_a_void_label_is_refused(tmp_path):
    root = make_folder(tmp_path / "d", {"a": (rgb(8, 16), _stripes(8, 16))})
    with pytest.raises(GrusegError, match="resize='pad'.*or use resize='crop'"):
        load_folder(root, size=8, resize="pad")
    with pytest.raises(ValueError, match="resize must be one of"):
        load_folder(root, size=8, resize="fit")
    assert RESIZE_MODES == ("stretch", "crop", "pad")
