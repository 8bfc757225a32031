"""Load a folder of images and label masks, checking everything a user can get wrong.

Expected layout (file stems pair an image with its mask; extensions ``.png``, ``.jpg`` and
``.jpeg`` in any letter case; files whose names start with ``.`` are ignored, e.g. macOS ``._x.png``)::

    my_data/
      images/  cat.jpg  dog.PNG  ...
      masks/   cat.png  dog.png  ...

A mask is a one-channel image whose pixel values are class indices ``0 .. num_classes - 1``
(a palette PNG counts: its palette indices are the labels), stored losslessly: a mask file whose
real format (not its extension) is lossy, JPEG or lossy WebP, is refused, because compression
changes labels near every edge (``allow_lossy_masks=True`` accepts it with a warning). Binary
masks are mapped to 0/1 on purpose, in any bit depth: a mask whose values are exactly
``{0, 255}`` or ``{0, 65535}`` (or the top value alone) becomes ``{0, 1}`` (``{1}``). A label set
that looks like an encoding mistake, few values far apart such as ``{0, 200}`` (which would make a
201-class model in which 199 classes never occur), is refused unless ``num_classes`` vouches for it.

Reading: EXIF orientation is applied to images and masks alike (so a phone photo and the mask
drawn on its upright view stay aligned); grayscale and palette images become RGB; an alpha channel
is dropped (the RGB values are kept, as ``tf.io.decode_png(channels=3)`` does); 16-bit images are
scaled by 1/65535. Images are resized bilinearly, masks with nearest neighbour so labels are never
blended. Any problem raises :class:`gruseg.errors.GrusegError` naming the file and the fix; an
image above Pillow's pixel limit (``PIL.Image.MAX_IMAGE_PIXELS``, a guard against decompression
bombs) is such a problem too.

Everything is held in memory: fine for the few thousand small images this book is about.

Example:
    >>> data = load_folder("my_data", size=(128, 128))            # doctest: +SKIP
    >>> data.images.shape, data.masks.shape, data.num_classes    # doctest: +SKIP
    ((40, 128, 128, 3), (40, 128, 128), 2)
    >>> train = data.batches(batch_size=8, shuffle=True)          # doctest: +SKIP
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gruseg import _checks
from gruseg.errors import GrusegError

__all__ = ["FolderData", "load_folder", "read_image", "read_mask", "IMAGE_EXTENSIONS", "MaskLabelError"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
"""File extensions read from ``images/`` and ``masks/`` (compared case-insensitively)."""

LOSSY_COST = ("lossy compression changes the labels of pixels near every class boundary (on blob-shaped 64x64 0/1 "
              "masks: 2 % of the pixels at JPEG quality 90, 6 % at quality 75, some with a label 2 that no class has)")
"""What a lossy mask costs, as measured by ``tests/test_reliability.py::test_jpeg_really_changes_labels``."""

_MASK_FIX = ("save masks as single-channel PNGs whose pixel values are class indices "
             "0..num_classes-1 (or 0/255 for a binary mask)")


# --------------------------------------------------------------------------------------------
# reading one file
# --------------------------------------------------------------------------------------------
class MaskLabelError(GrusegError):
    """A mask holds labels outside ``[0, num_classes)``; ``path``, ``labels`` (the offending ones) and
    ``num_classes`` let a caller word its own fix (``gruseg evaluate`` has no ``--num-classes``)."""

    def __init__(self, message, path=None, labels=(), num_classes=None):
        super().__init__(message)
        self.path, self.labels, self.num_classes = path, tuple(labels), num_classes


def _open(path, lossy=None):
    """Open, fully decode and EXIF-orient one image file, or raise GrusegError.

    ``lossy`` (for masks): ``"refuse"`` refuses a file whose real format is lossy, whatever its
    name says; a list collects ``(path, format)`` of such files instead (the caller warns); None
    accepts any format (images).
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise GrusegError(f"{path}: a broken symbolic link (to {path.readlink()}); fix the link or remove it")
    if not path.exists():
        raise GrusegError(f"{path}: file not found; check the path")
    if not path.is_file():
        raise GrusegError(f"{path}: not a regular file ({'a directory' if path.is_dir() else 'a device or pipe'}); "
                          "pass an image file")
    if path.stat().st_size == 0:
        raise GrusegError(f"{path}: the file is empty (0 bytes); re-export it or remove it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                found = _lossy_format(img, path) if lossy is not None else None
                if found and lossy == "refuse":
                    raise GrusegError(
                        f"{path}: a mask saved as {found}, a lossy format: {LOSSY_COST}. Save the masks as PNG "
                        "(lossless) from the original labels, since converting this file will not undo the damage "
                        "(--allow-lossy-masks, or load_folder(..., allow_lossy_masks=True), accepts it anyway, with a warning)")
                if found:
                    lossy.append((path, found))
                img.load()
                oriented = ImageOps.exif_transpose(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise GrusegError(_too_many_pixels(path, err)) from None
    except UnidentifiedImageError:
        if _png_has_zero_size(path):
            raise GrusegError(
                f"{path}: the image has zero size (its PNG header says width or height 0); "
                "re-export it or remove it") from None
        raise GrusegError(
            f"{path}: not a readable image (is it really a {path.suffix} file?); "
            "re-export it as PNG or JPEG, or remove it") from None
    except (GrusegError, MemoryError):
        raise
    except Exception as err:  # noqa: BLE001 - a user's file: truncated or corrupt data (OSError), broken EXIF, ...
        raise GrusegError(
            f"{path}: the image data is truncated or corrupt ({err}); "
            "re-export or re-download the file, or remove it") from None
    if oriented.width == 0 or oriented.height == 0:
        raise GrusegError(
            f"{path}: the image has zero size ({oriented.width}x{oriented.height}); "
            "re-export it or remove it")
    return oriented


def _too_many_pixels(path, err):
    """The message for an image above Pillow's decompression-bomb limit (Pillow's message holds the count)."""
    limit = Image.MAX_IMAGE_PIXELS
    count = re.search(r"\((\d+) pixels\)", str(err))
    pixels = int(count.group(1)) if count else None
    found = f"{pixels:,} pixels" if pixels else "too many pixels"
    return (f"{path}: the image has {found}, above Pillow's limit of {limit:,} pixels (PIL.Image.MAX_IMAGE_PIXELS, "
            "a guard against decompression bombs); downscale it first (e.g. to at most 4096 pixels a side), or, "
            "if you trust the file, raise the limit in Python before loading it: "
            f"PIL.Image.MAX_IMAGE_PIXELS = {pixels or limit * 4}")


def _warn_lossy(found):
    """One warning for all the lossy mask files a loader accepted with ``allow_lossy_masks=True``."""
    if found:
        names = ", ".join(f"{p.name} ({fmt})" for p, fmt in found[:3]) + (", ..." if len(found) > 3 else "")
        warnings.warn(f"{len(found)} mask file(s) in a lossy format accepted (allow_lossy_masks=True): {names}; "
                      f"{LOSSY_COST}; expect wrong labels near edges", UserWarning, stacklevel=3)


def _lossy_format(img, path):
    """The name of ``img``'s lossy file format ("JPEG", "lossy WebP", ...), or None when it is lossless.

    Decided by what PIL decoded (``img.format``), not by the file name.
    """
    fmt = img.format
    if fmt in ("JPEG", "MPO"):
        return f"JPEG{' (named ' + path.suffix + ')' if path.suffix.lower() not in ('.jpg', '.jpeg') else ''}"
    if fmt == "JPEG2000":
        return "JPEG 2000"
    if fmt == "WEBP":
        return None if _webp_is_lossless(path) else "lossy WebP"
    if fmt == "TIFF" and str(img.info.get("compression", "")).lower() in ("jpeg", "tiff_jpeg", "webp"):
        return f"TIFF with {img.info['compression']} compression"
    return None


def _webp_is_lossless(path):
    """True when a WebP file's image data is VP8L (lossless); lossy VP8 (with or without alpha) is False."""
    with open(path, "rb") as handle:
        data = handle.read(1 << 16)
    position = 12
    while position + 8 <= len(data):
        kind = data[position:position + 4]
        if kind == b"VP8L":
            return True
        if kind == b"VP8 ":
            return False
        size = int.from_bytes(data[position + 4:position + 8], "little")
        position += 8 + size + (size & 1)
    return False


def _png_has_zero_size(path):
    """True when ``path`` starts like a PNG whose header declares a zero width or height."""
    with open(path, "rb") as handle:
        head = handle.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return False
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return width == 0 or height == 0


def _to_rgb_float(img, path):
    """PIL image of any mode -> float32 (H, W, 3) in [0, 1]."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grayscale (PIL opens 16-bit PNGs as "I;16" or "I")
        gray = np.asarray(img, dtype=np.float32) / 65535.0
        rgb = np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=-1)
    elif mode == "F":
        gray = np.asarray(img, dtype=np.float32)
        if np.nanmax(gray) > 1.0 or np.nanmin(gray) < 0.0:
            raise GrusegError(
                f"{path}: a floating-point image with values outside [0, 1]; "
                "save it as an 8- or 16-bit PNG")
        rgb = np.repeat(gray[..., None], 3, axis=-1)
    else:
        if mode in ("RGBA", "RGBa", "P", "PA", "LA", "La"):
            img = Image.fromarray(np.asarray(img.convert("RGBA"))[..., :3])   # drop alpha
        elif mode not in ("RGB", "L"):
            img = img.convert("RGB")                                  # CMYK, YCbCr, 1-bit, ...
        array = np.asarray(img)
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=-1)
        scale = 65535.0 if array.dtype == np.uint16 else 255.0
        rgb = array.astype(np.float32) / np.float32(scale)
    return np.ascontiguousarray(rgb, dtype=np.float32)


def _resize_image(rgb, size):
    """Bilinear resize of float32 (H, W, 3) to ``size`` = (height, width), channel by channel."""
    height, width = size
    if rgb.shape[:2] == (height, width):
        return rgb
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(rgb[..., c])).resize((width, height), Image.BILINEAR))
        for c in range(rgb.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)


def read_image(path, size=None):
    """Read one image as float32 RGB in [0, 1], with the same checks as :func:`load_folder`.

    EXIF orientation is applied; grayscale, palette and 16-bit images become RGB; alpha is
    dropped.

    Args:
        path: image file (PNG or JPEG, or anything else PIL reads).
        size: optional ``(height, width)`` (or one integer) to resize to, bilinearly.

    Returns:
        float32 array ``(H, W, 3)`` in [0, 1].

    Raises:
        GrusegError: the file is missing, empty, not an image, truncated or zero-sized.

    Example:
        >>> image = read_image("photo.jpg", size=(128, 128))   # doctest: +SKIP
        >>> image.shape, image.dtype                            # doctest: +SKIP
        ((128, 128, 3), dtype('float32'))
    """
    size = _checks.image_size("size", size, allow_none=True)
    rgb = _to_rgb_float(_open(path), Path(path))
    return rgb if size is None else _resize_image(rgb, size)


def _mask_array(img, path):
    """PIL mask -> 2-D integer label array (before any 0/255 mapping)."""
    mode = img.mode
    if mode == "P":
        return np.asarray(img).astype(np.int64)          # palette indices are the labels
    if mode in ("RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV"):
        rgb = np.asarray(img.convert("RGB") if mode not in ("RGB", "RGBA") else img)[..., :3]
        if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
            colours = np.unique(rgb.reshape(-1, 3), axis=0)
            shown = ", ".join(str(tuple(int(v) for v in c)) for c in colours[:4])
            more = ", ..." if len(colours) > 4 else ""
            raise GrusegError(
                f"{path}: a colour (RGB) mask with {len(colours)} colours ({shown}{more}); a label "
                f"mask is expected: one channel holding class indices. Convert each colour to its "
                f"class index (0, 1, 2, ...) and {_MASK_FIX}")
        return rgb[..., 0].astype(np.int64)
    if mode in ("LA", "La", "PA"):
        return np.asarray(img)[..., 0].astype(np.int64)
    if mode == "1":
        return np.asarray(img).astype(np.int64)
    array = np.asarray(img)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or (array != np.round(array)).any():
            raise GrusegError(
                f"{path}: a floating-point mask with non-integer values; {_MASK_FIX}")
    return array.astype(np.int64)


_BINARY_TOPS = (255, 65535)
"""The top values of 8- and 16-bit images; ``{0, top}`` masks are binary masks saved at full scale."""


def _labels_from_mask(array, path, num_classes, ignore_label=None):
    """Check a raw mask's values and map full-scale binary masks (0/255, 0/65535) to 0/1 (``ignore_label`` is void)."""
    values = np.unique(array)
    if ignore_label is not None:
        values = values[values != ignore_label]
        if values.size == 0:
            return array
    shown = _shown(values)
    if values.min() < 0:
        raise GrusegError(f"{path}: negative mask values ({shown}); {_MASK_FIX}")
    for top in _BINARY_TOPS:
        vouched = num_classes is not None and top < num_classes       # then `top` is a real class label
        if top in values and set(values.tolist()) <= {0, top} and not vouched:
            binary = (array == top).astype(np.int64)    # binary 0/255 or 0/65535 -> 0/1, deliberately
            if ignore_label is not None:
                binary[array == ignore_label] = ignore_label
            return binary
    declared = num_classes is not None and values.max() < num_classes    # labels the user vouched for
    if not declared and ((255 in values and len(values) > 2) or len(values) > 64):
        hint = ("If 255 marks 'ignore' pixels (as in Pascal VOC), replace it with a class index."
                if 255 in values else
                f"If these really are {len(values)} class labels, pass "
                f"num_classes={int(values.max()) + 1} (--num-classes).")
        raise GrusegError(
            f"{path}: mask values {{{shown}}} ({len(values)} distinct) look interpolated, not "
            "like class labels: the mask was probably resized with bilinear/antialiased "
            "resampling or saved as JPEG. Re-export it as a PNG with nearest-neighbour resizing; "
            f"a label mask holds class indices 0..num_classes-1 (a binary mask exactly 0/1 or "
            f"0/255). {hint}")
    if num_classes is not None and values.max() >= num_classes:
        void = f" besides the void label {ignore_label}" if ignore_label is not None else ""
        raise MaskLabelError(
            f"{path}: mask values {{{shown}}}{void} but num_classes={num_classes} allows only labels "
            f"0..{num_classes - 1}; pass num_classes={int(values.max()) + 1} (--num-classes) "
            "or fix the mask", path=path, labels=values[values >= num_classes].tolist(), num_classes=num_classes)
    return array


def _shown(values, limit=8):
    values = [int(v) for v in values]
    return ", ".join(map(str, values[:limit])) + (", ..." if len(values) > limit else "")


def _check_label_set(labels, masks_dir, count):
    """Refuse an inferred label set that looks like an encoding mistake: few values with huge gaps.

    ``{0, 200}`` would make a 201-class model in which 199 classes never occur. Suspicious when
    at least 16 of the labels below the largest never occur and they outnumber those that do 2:1
    (``{0, 12}``, a subset of a 13-class task, passes; ``{0, 20}`` and ``{0, 50, 100, 150}`` do not).
    """
    labels = sorted(int(v) for v in labels)
    if not labels:
        return
    top = labels[-1]
    unused = top + 1 - len(labels)
    if unused < 16 or unused <= 2 * len(labels):
        return
    mapping = ", ".join(f"{v} -> {i}" for i, v in enumerate(labels[:6])) + (", ..." if len(labels) > 6 else "")
    raise GrusegError(
        f"{masks_dir}: the {count} mask(s) hold only the labels {{{_shown(labels)}}} ({len(labels)} distinct), "
        f"which would make a {top + 1}-class model in which {unused} classes never occur: that looks like an "
        f"encoding mistake. Remap the values to class indices 0..{len(labels) - 1} ({mapping}) and save the masks "
        f"again, or, if the model really has {top + 1} classes, pass num_classes={top + 1} (--num-classes {top + 1})")


def read_mask(path, size=None, num_classes=None, ignore_label=None, allow_lossy_masks=False):
    """Read one label mask as a 2-D integer array, with the checks of :func:`load_folder`.

    Args:
        path: mask file (a one-channel or palette PNG; 0/255 and 0/65535 binary masks become 0/1).
        size: optional ``(height, width)`` (or one integer) to resize to, nearest neighbour.
        num_classes: if given, labels must lie in ``[0, num_classes)``.
        ignore_label: optional void label, allowed besides ``[0, num_classes)``.
        allow_lossy_masks: accept a JPEG or lossy WebP mask, with a warning (default: refuse it).

    Returns:
        uint8 array ``(H, W)`` (int32 if a label exceeds 255).

    Raises:
        GrusegError: unreadable or lossy file, colour mask, interpolated-looking values, or labels
            outside ``[0, num_classes)`` (:class:`MaskLabelError`).
    """
    size = _checks.image_size("size", size, allow_none=True)
    allow_lossy_masks = _checks.boolean("allow_lossy_masks", allow_lossy_masks)
    found = []
    img = _open(path, lossy=found if allow_lossy_masks else "refuse")
    _warn_lossy(found)
    labels = _labels_from_mask(_mask_array(img, Path(path)), Path(path), num_classes, ignore_label)
    return _resize_labels(labels, size)


def _resize_labels(labels, size):
    dtype = np.uint8 if labels.max(initial=0) <= 255 else np.int32
    labels = labels.astype(dtype)
    if size is None or labels.shape == tuple(size):
        return labels
    height, width = size
    img = Image.fromarray(labels)                     # mode "L" (uint8) or "I" (int32)
    return np.asarray(img.resize((width, height), Image.NEAREST)).astype(dtype)


# --------------------------------------------------------------------------------------------
# the folder
# --------------------------------------------------------------------------------------------
@dataclass
class FolderData:
    """Images and masks loaded by :func:`load_folder`.

    Attributes:
        images: float32 ``(n, H, W, 3)`` in [0, 1].
        masks: uint8 ``(n, H, W)`` class labels in ``[0, num_classes)``.
        stems: file stems, in the (sorted) order of the arrays.
        num_classes: number of classes (given, or inferred as max label + 1, at least 2).
        class_names: one name per class (``"class_0"``, ... unless given).
        image_paths, mask_paths: the files read.
        ignore_label: the void label (pixels to leave out of the loss and the metrics), or None.
        colors: optional (num_classes, 3) RGB colours in [0, 1] for figures and predictions.
    """

    images: np.ndarray
    masks: np.ndarray
    stems: tuple
    num_classes: int
    class_names: tuple
    image_paths: tuple
    mask_paths: tuple
    ignore_label: int | None = None
    colors: np.ndarray | None = None

    def __len__(self):
        return len(self.stems)

    def batches(self, batch_size=16, shuffle=False, seed=0, augment=None):
        """Training batches of (image, mask); see :func:`gruseg.data.pipeline.batches`."""
        from gruseg.data.pipeline import batches

        return batches(self.images, self.masks, batch_size=batch_size, shuffle=shuffle,
                          seed=seed, augment=augment)


def _list_files(folder, unsupported=None):
    """``{stem: path}`` of the readable image files in ``folder``.

    Hidden files (``.x``) and subfolders are skipped. A broken symbolic link with an image
    extension is an error; files with another extension are left out, and collected in
    ``unsupported`` (``{stem: path}``) so that a missing partner can be explained.
    """
    files = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            if unsupported is not None and not path.is_dir():
                unsupported.setdefault(path.stem, path)
            continue
        if path.is_symlink() and not path.exists():
            raise GrusegError(f"{path}: a broken symbolic link (to {path.readlink()}); fix the link or remove it")
        if path.is_dir():
            continue
        if not path.is_file():
            raise GrusegError(f"{path}: not a regular file (a device, pipe or socket); put image files there")
        if path.stem in files:
            raise GrusegError(
                f"{folder}: two files share the stem {path.stem!r} ({files[path.stem].name} "
                f"and {path.name}); keep one, so each image pairs with exactly one mask")
        files[path.stem] = path
    return files


def _unsupported_text(paths):
    kinds = ", ".join(sorted({p.suffix or "(no extension)" for p in paths}))
    return (f"{_names(paths)} (format {kinds}, which gruseg does not read: it reads "
            f"{', '.join(IMAGE_EXTENSIONS)} files; convert them, masks to PNG)")


def _names(paths, limit=5):
    names = [p.name for p in paths]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_folder(path, size=(128, 128), num_classes=None, class_names=None, ignore_label=None,
                allow_lossy_masks=False, resize="stretch"):
    """Load ``path/images/*`` and ``path/masks/*`` (paired by file stem) into memory.

    Args:
        path: the folder holding ``images/`` and ``masks/``.
        size: ``(height, width)`` (or one integer) every pair is resized to: images bilinearly,
            masks nearest neighbour. ``None`` keeps the original size (all pairs must then
            share one size).
        num_classes: number of classes; mask labels must be ``< num_classes``. ``None`` infers
            ``max label + 1`` (at least 2).
        class_names: optional names, one per class; sets ``num_classes`` when that is ``None``.
        ignore_label: optional void label (e.g. 255 in Pascal VOC, 11 in CamVid): allowed in the
            masks besides ``0..num_classes-1``, not counted as a class.
        allow_lossy_masks: accept masks stored as JPEG or lossy WebP, with one warning saying what
            it costs (default: refuse them; the format is read from the file, not its name).
        resize: how a pair reaches ``size``: ``"stretch"`` (default), or keep the aspect ratio and
            ``"crop"`` the centre or ``"pad"`` the border (mask border = ``ignore_label``, needed);
            see :mod:`gruseg.data.resize`.

    Returns:
        :class:`FolderData` (arrays, stems, ``num_classes``, ``class_names``; ``.batches()``).

    Raises:
        GrusegError: naming the file and the fix, for: a missing folder or subfolder; no images;
            an image without a mask or a mask without an image (or with one in an unsupported
            format); a broken symbolic link; an unreadable, truncated, empty, zero-sized or
            too large file; a lossy (JPEG, WebP) mask; an image and mask of different sizes; a
            colour (RGB) mask; mask values that look interpolated; an inferred label set with huge
            gaps (``{0, 200}``); labels ``>= num_classes`` (:class:`MaskLabelError`); more data than
            fits in memory.

    Example:
        >>> data = load_folder("my_data", size=64, num_classes=2)   # doctest: +SKIP
        >>> len(data), data.images.shape[1:], data.masks.dtype      # doctest: +SKIP
        (40, (64, 64, 3), dtype('uint8'))
    """
    from gruseg.data.resize import RESIZE_MODES, fit_to_size

    size = _checks.image_size("size", size, allow_none=True)
    allow_lossy_masks = _checks.boolean("allow_lossy_masks", allow_lossy_masks)
    resize = _checks.choice("resize", resize, RESIZE_MODES)
    if ignore_label is not None:
        ignore_label = _checks.non_negative_int("ignore_label", ignore_label)
    if class_names is not None:
        class_names = tuple(str(c) for c in class_names)
        if num_classes is None:
            num_classes = len(class_names)
    if num_classes is not None:
        num_classes = _checks.num_classes("num_classes", num_classes)
        if class_names is not None and len(class_names) != num_classes:
            raise GrusegError(
                f"class_names has {len(class_names)} names but num_classes={num_classes}; "
                "give one name per class")

    root = Path(path)
    if not root.exists():
        raise GrusegError(
            f"{root}: folder not found; pass a folder that contains images/ and masks/ subfolders")
    if not root.is_dir():
        raise GrusegError(
            f"{root}: is a file, not a folder; pass a folder that contains images/ and masks/")
    for sub in ("images", "masks"):
        if not (root / sub).is_dir():
            raise GrusegError(
                f"{root / sub}: subfolder missing; put the images in {root / 'images'} and the "
                f"label masks (same file names, PNG) in {root / 'masks'}")

    odd_images, odd_masks = {}, {}
    images = _list_files(root / "images", odd_images)
    masks = _list_files(root / "masks", odd_masks)
    if not images:
        others = [p for p in sorted((root / "images").iterdir()) if not p.name.startswith(".")]
        found = f"; found only {_names(others)}" if others else ""
        raise GrusegError(
            f"{root / 'images'}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)} files, "
            f"any letter case{found}); add the images there, converted to PNG or JPEG")
    lonely_images = [images[s] for s in images if s not in masks and s not in odd_masks]
    lonely_masks = [masks[s] for s in masks if s not in images and s not in odd_images]
    odd_partners = ([odd_masks[s] for s in images if s not in masks and s in odd_masks],
                    [odd_images[s] for s in masks if s not in images and s in odd_images])
    if lonely_images or lonely_masks or any(odd_partners):
        parts = []
        for odd, sub in zip(odd_partners, ("masks", "images")):
            if odd:
                parts.append(f"{len(odd)} file(s) in {root / sub} in an unsupported format: {_unsupported_text(odd)}")
        if lonely_images:
            parts.append(f"{len(lonely_images)} image(s) without a mask in {root / 'masks'}: "
                         f"{_names(lonely_images)}")
        if lonely_masks:
            parts.append(f"{len(lonely_masks)} mask(s) without an image in {root / 'images'}: "
                         f"{_names(lonely_masks)}")
        raise GrusegError(
            "; ".join(parts) + ". Each image needs a mask with the same file stem "
            "(images/cat.jpg <-> masks/cat.png); add, rename or convert the missing files, or remove the "
            "extras")
    if size is not None:
        from gruseg._memory import check_fits

        check_fits(len(images) * size[0] * size[1] * (3 * 4 + 1), f"{root}: {len(images)} images of "
                   f"{size[0]}x{size[1]}", "pass a smaller size (--size) or load fewer images")

    stems = tuple(sorted(images))
    image_list, mask_list, lossy = [], [], []
    for stem in stems:
        image_path, mask_path = images[stem], masks[stem]
        image = _open(image_path)
        mask = _open(mask_path, lossy=lossy if allow_lossy_masks else "refuse")
        if image.size != mask.size:
            raise GrusegError(
                f"{image_path} is {image.width}x{image.height} but {mask_path} is "
                f"{mask.width}x{mask.height} (width x height, after EXIF rotation); a mask must "
                "have exactly its image's size: re-export the mask at the image's size "
                "(nearest-neighbour) or check that they really belong together")
        rgb = _to_rgb_float(image, image_path)
        labels = _labels_from_mask(_mask_array(mask, mask_path), mask_path, num_classes, ignore_label)
        if size is None and image_list and rgb.shape[:2] != image_list[0].shape[:2]:
            raise GrusegError(
                f"{image_path}: size {rgb.shape[1]}x{rgb.shape[0]} differs from "
                f"{images[stems[0]].name} ({image_list[0].shape[1]}x{image_list[0].shape[0]}); "
                "pass size=(height, width) (--size) to resize every pair to one size")
        if size is not None:
            rgb, labels = fit_to_size(rgb, labels, size, resize, pad_label=ignore_label)
        image_list.append(rgb)
        mask_list.append(labels)

    _warn_lossy(lossy)
    top = max(int(m[m != ignore_label].max(initial=0)) if ignore_label is not None else int(m.max())
              for m in mask_list)
    if num_classes is None:
        present = np.unique(np.concatenate([np.unique(m) for m in mask_list]))
        _check_label_set(present[present != ignore_label] if ignore_label is not None else present,
                         root / "masks", len(mask_list))
        num_classes = max(2, top + 1)
    if class_names is None:
        class_names = tuple(f"class_{i}" for i in range(num_classes))
    mask_dtype = np.uint8 if max(num_classes - 1, ignore_label or 0) <= 255 else np.int32
    return FolderData(
        images=np.stack(image_list).astype(np.float32, copy=False),
        masks=np.stack([m.astype(mask_dtype) for m in mask_list]),
        stems=stems,
        num_classes=num_classes,
        class_names=class_names,
        image_paths=tuple(images[s] for s in stems),
        mask_paths=tuple(masks[s] for s in stems),
        ignore_label=ignore_label,
    )
