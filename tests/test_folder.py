"""The folder loader: every bad input is refused with the file's name and a fix; odd-but-valid
inputs (grayscale, RGBA, 16-bit, palette, 0/255, JPEG, upper-case, EXIF-rotated) load correctly."""

import numpy as np
import pytest
from imagefixtures import (
    binary_mask,
    make_folder,
    rgb,
    save,
    write_png_raw,
    write_rgb16_png,
)
from PIL import Image

from gruseg.data import FolderData, load_folder, read_image, read_mask
from gruseg.errors import GrusegError


@pytest.fixture
def good(tmp_path):
    """A valid folder with two pairs, 8x10 pixels."""
    return make_folder(tmp_path / "data", {"a": (rgb(seed=1), binary_mask()),
                                           "b": (rgb(seed=2), binary_mask()[:, ::-1].copy())})


def opened(path, attribute):
    """An attribute ("mode", "size") of an image file, closing the file again."""
    with Image.open(path) as img:
        return getattr(img, attribute)


def refused(path, *needles, **kwargs):
    """load_folder(path) raises GrusegError mentioning every needle; returns the message."""
    with pytest.raises(GrusegError) as info:
        load_folder(path, **kwargs)
    message = str(info.value)
    for needle in needles:
        assert needle in message, (needle, message)
    return message


# ---------------------------------------------------------------------------- the happy path
def test_loads_a_valid_folder(good):
    data = load_folder(good, size=(16, 20))
    assert isinstance(data, FolderData) and len(data) == 2
    assert data.stems == ("a", "b")
    assert data.images.shape == (2, 16, 20, 3) and data.images.dtype == np.float32
    assert data.masks.shape == (2, 16, 20) and data.masks.dtype == np.uint8
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    assert data.num_classes == 2 and data.class_names == ("class_0", "class_1")
    assert data.mask_paths[0].name == "a.png"


def test_size_none_keeps_the_original_pixels(good):
    data = load_folder(good, size=None)
    np.testing.assert_allclose(data.images[0], rgb(seed=1) / 255.0, atol=1e-6)
    np.testing.assert_array_equal(data.masks[0], binary_mask())


def test_masks_are_resized_nearest_images_bilinear(tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 4:] = 2
    image = np.zeros((8, 8, 3), np.uint8)
    image[:, 4:] = 255
    root = make_folder(tmp_path / "d", {"x": (image, mask)})
    data = load_folder(root, size=(5, 13), num_classes=3)
    assert set(np.unique(data.masks)) == {0, 2}            # no blended label 1
    values = np.unique(data.images)
    assert ((values > 0.05) & (values < 0.95)).any()        # bilinear makes in-between greys


def test_inferred_num_classes_is_max_label_plus_one_at_least_two(tmp_path):
    mask = np.zeros((8, 10), np.uint8)
    mask[0, 0] = 4
    root = make_folder(tmp_path / "d", {"x": (rgb(), mask)})
    assert load_folder(root, size=None).num_classes == 5
    root2 = make_folder(tmp_path / "e", {"x": (rgb(), np.zeros((8, 10), np.uint8))})
    assert load_folder(root2, size=None).num_classes == 2


def test_class_names_set_num_classes(good):
    data = load_folder(good, size=None, class_names=["sky", "tree"])
    assert data.num_classes == 2 and data.class_names == ("sky", "tree")


def test_grayscale_image_becomes_rgb(tmp_path):
    gray = np.arange(80, dtype=np.uint8).reshape(8, 10) * 3
    root = make_folder(tmp_path / "d", {"g": (gray, binary_mask())})
    image = load_folder(root, size=None).images[0]
    for c in range(3):
        np.testing.assert_allclose(image[..., c], gray / 255.0, atol=1e-6)


def test_rgba_image_drops_alpha_keeps_rgb(tmp_path):
    rgba = np.concatenate([rgb(), np.zeros((8, 10, 1), np.uint8)], axis=-1)   # fully transparent
    root = make_folder(tmp_path / "d", {"t": (rgba, binary_mask())})
    np.testing.assert_allclose(load_folder(root, size=None).images[0], rgb() / 255.0, atol=1e-6)


def test_16bit_grayscale_is_scaled_by_65535(tmp_path):
    gray16 = np.zeros((8, 10), np.uint16)
    gray16[0, 0], gray16[0, 1], gray16[0, 2] = 65535, 32768, 257
    root = make_folder(tmp_path / "d")
    save(root / "images" / "deep.png", gray16)
    save(root / "masks" / "deep.png", binary_mask())
    image = load_folder(root, size=None).images[0]
    assert opened(root / "images" / "deep.png", "mode").startswith("I")
    np.testing.assert_allclose(image[0, :3, 0], [1.0, 32768 / 65535, 257 / 65535], atol=1e-6)
    assert (image[..., 0] == image[..., 2]).all()


def test_16bit_rgb_is_scaled_correctly(tmp_path):
    deep = np.zeros((8, 10, 3), np.uint16)
    deep[..., 0], deep[..., 1], deep[..., 2] = 65535, 32896, 0     # 32896 = 128 * 257
    root = make_folder(tmp_path / "d")
    write_rgb16_png(root / "images" / "deep.png", deep)
    save(root / "masks" / "deep.png", binary_mask())
    image = load_folder(root, size=None).images[0]
    np.testing.assert_allclose(image[0, 0], [1.0, 128 / 255, 0.0], atol=2 / 255)


def test_binary_0_255_masks_become_0_1(tmp_path):
    root = make_folder(tmp_path / "d", {"m": (rgb(), binary_mask() * 255)})
    data = load_folder(root, size=None)
    np.testing.assert_array_equal(data.masks[0], binary_mask())
    assert data.num_classes == 2


def test_palette_mask_uses_palette_indices(tmp_path):
    labels = np.zeros((8, 10), np.uint8)
    labels[:4, :5], labels[4:, 5:] = 1, 2
    mask = Image.new("P", (10, 8))
    mask.putdata(labels.ravel().tolist())
    mask.putpalette([0, 0, 0, 200, 30, 30, 30, 200, 30] + [0] * (256 * 3 - 9))
    root = make_folder(tmp_path / "d")
    save(root / "images" / "p.png", rgb())
    mask.save(root / "masks" / "p.png")
    assert opened(root / "masks" / "p.png", "mode") == "P"
    data = load_folder(root, size=None)
    np.testing.assert_array_equal(data.masks[0], labels)
    assert data.num_classes == 3


def test_jpeg_images_png_masks_and_upper_case_extensions(tmp_path):
    root = make_folder(tmp_path / "d")
    save(root / "images" / "one.JPG", rgb(seed=1), quality=95)
    save(root / "images" / "two.jpeg", rgb(seed=2), quality=95)
    save(root / "images" / "three.PNG", rgb(seed=3))
    for stem in ("one", "two"):
        save(root / "masks" / f"{stem}.png", binary_mask())
    save(root / "masks" / "three.Png", binary_mask())
    (root / "images" / "notes.txt").write_text("not an image")           # ignored
    (root / "images" / "._one.JPG").write_bytes(b"\x00\x05\x16\x07")     # macOS junk, ignored
    data = load_folder(root, size=None)
    assert data.stems == ("one", "three", "two")
    assert data.images.shape == (3, 8, 10, 3)


def test_exif_rotated_jpeg_stays_aligned_with_its_mask(tmp_path):
    # upright view: 12 wide, 6 high; the mask marks the red left third
    upright = np.zeros((6, 12, 3), np.uint8)
    upright[:, :4] = (250, 10, 10)
    upright[:, 4:] = (10, 10, 250)
    mask = np.zeros((6, 12), np.uint8)
    mask[:, :4] = 1
    # a camera stores the pixels rotated and says "rotate 90 degrees clockwise" (Orientation 6)
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    root = make_folder(tmp_path / "d")
    stored.save(root / "images" / "phone.jpg", exif=exif, quality=95)
    save(root / "masks" / "phone.png", mask)
    assert opened(root / "images" / "phone.jpg", "size") == (6, 12)      # stored sideways
    data = load_folder(root, size=None)
    image = data.images[0]
    assert image.shape == (6, 12, 3)
    red = image[..., 0] > image[..., 2]
    np.testing.assert_array_equal(red, data.masks[0] == 1)


def test_grey_rgb_mask_is_accepted(tmp_path):
    grey = np.repeat(binary_mask()[..., None], 3, axis=-1)
    root = make_folder(tmp_path / "d", {"g": (rgb(), grey)})
    np.testing.assert_array_equal(load_folder(root, size=None).masks[0], binary_mask())


def test_batches_from_folder(good):
    x, y = load_folder(good, size=8).batches(batch_size=2)[0]
    assert tuple(x.shape) == (2, 8, 8, 3) and tuple(y.shape) == (2, 8, 8)


def test_read_image_and_read_mask(good):
    image = read_image(good / "images" / "a.png", size=(4, 5))
    assert image.shape == (4, 5, 3) and image.dtype == np.float32
    assert read_mask(good / "masks" / "a.png").tolist() == binary_mask().tolist()


# ---------------------------------------------------------------------------- refusals
def test_missing_folder(tmp_path):
    refused(tmp_path / "nowhere", "nowhere", "folder not found", "images/ and masks/")


def test_path_is_a_file(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    refused(tmp_path / "file.txt", "file.txt", "not a folder")


@pytest.mark.parametrize("missing", ["images", "masks"])
def test_missing_subfolder(tmp_path, missing):
    present = "masks" if missing == "images" else "images"
    root = make_folder(tmp_path / "d", subfolders=(present,))
    refused(root, missing, "subfolder missing")


def test_no_images(tmp_path):
    root = make_folder(tmp_path / "d")
    (root / "images" / "readme.txt").write_text("hi")
    refused(root, "images", "no images found", ".png")


def test_image_without_mask_and_mask_without_image(good):
    save(good / "images" / "lonely.png", rgb())
    save(good / "masks" / "orphan.png", binary_mask())
    refused(good, "lonely.png", "orphan.png", "without a mask", "without an image", "same file stem")


def test_duplicate_stems(good):
    save(good / "images" / "a.jpg", rgb())
    refused(good, "a.png", "a.jpg", "share the stem")


@pytest.mark.parametrize("side", ["images", "masks"])
def test_text_file_named_png(good, side):
    (good / side / "a.png").write_text("this is not a PNG")
    refused(good, "a.png", "not a readable image", "re-export")


def test_truncated_image(good):
    path = good / "images" / "big.png"
    save(path, rgb(64, 64))
    save(good / "masks" / "big.png", binary_mask(64, 64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    refused(good, "big.png", "truncated")


def test_empty_file(good):
    (good / "images" / "a.png").write_bytes(b"")
    refused(good, "a.png", "empty")


def test_zero_sized_image(good):
    write_png_raw(good / "images" / "a.png", 0, 8, 8, 2)
    refused(good, "a.png", "zero size")


def test_labels_outside_declared_classes(good):
    mask = binary_mask()
    mask[0, 0] = 5
    save(good / "masks" / "b.png", mask)
    message = refused(good, "b.png", "num_classes=2", "num_classes=6", num_classes=2)
    assert "0..1" in message


def test_interpolated_mask(good):
    mask = binary_mask() * 255
    mask[:, 4] = 128                                       # the blurred edge of a resized mask
    save(good / "masks" / "b.png", mask)
    refused(good, "b.png", "interpolated", "nearest-neighbour", "0, 128, 255")


def test_jpeg_mask_is_refused_as_lossy_and_its_values_as_interpolated(good):
    (good / "masks" / "b.png").unlink()
    noisy = (np.tri(32, 32, dtype=np.uint8) * 255)          # a diagonal edge
    save(good / "images" / "b.png", rgb(32, 32))
    save(good / "masks" / "b.jpg", noisy, quality=70)
    refused(good, "b.jpg", "a mask saved as JPEG, a lossy format")
    refused(good, "b.jpg", "interpolated", "JPEG", allow_lossy_masks=True)  # lossy allowed: its values still are not labels


def test_mismatched_sizes(good):
    save(good / "masks" / "a.png", binary_mask(10, 8))
    refused(good, "a.png", "10x8", "8x10", "the image's size")


def test_rgb_colour_mask(good):
    colour = np.zeros((8, 10, 3), np.uint8)
    colour[:, 5:] = (255, 0, 0)
    save(good / "masks" / "a.png", colour)
    refused(good, "a.png", "colour (RGB) mask", "class index", "(255, 0, 0)")


def test_different_sizes_without_resizing(good):
    save(good / "images" / "c.png", rgb(12, 12))
    save(good / "masks" / "c.png", binary_mask(12, 12))
    refused(good, "c.png", "size=(height, width)", size=None)


def test_bad_num_classes_and_class_names(good):
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2, got 1"):
        load_folder(good, num_classes=1)
    refused(good, "class_names", num_classes=3, class_names=["a", "b"])


def test_read_image_refuses_like_the_loader(tmp_path):
    path = tmp_path / "fake.jpg"
    path.write_text("hello")
    with pytest.raises(GrusegError, match="fake.jpg"):
        read_image(path)
    with pytest.raises(GrusegError, match="missing.png"):
        read_image(tmp_path / "missing.png")


def test_many_labels_need_a_declared_num_classes(tmp_path):
    mask = (np.arange(80).reshape(8, 10) % 70).astype(np.uint8)        # 70 genuine classes
    root = make_folder(tmp_path / "d", {"many": (rgb(), mask)})
    refused(root, "many.png", "interpolated", "num_classes=70")
    assert load_folder(root, size=None, num_classes=70).num_classes == 70
