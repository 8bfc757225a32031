"""Load a folder of images and label masks, checking everything a user can get wrong.

Expected layout (file stems pair an image with its mask; extensions ``.png``, ``.jpg`` and
``.jpeg`` in any letter case; files whose names start with ``.`` are ignored, e.g. macOS ``._x.png``)::

    my_data/
      images/  cat.jpg  dog.PNG  ...
      masks/   cat.png  dog.png  ...

A mask is a one-channel image whose pixel values are class indices ``0 .. num_classes - 1``
(a palette PNG counts: its palette indices are the labels). Binary masks saved as 0/255 are
mapped to 0/1 on purpose: a mask whose values are exactly ``{0, 255}`` or ``{255}`` becomes
``{0, 1}`` / ``{1}``.

Reading: EXIF orientation is applied to images and masks alike (so a phone photo and the mask
drawn on its upright view stay aligned); grayscale and palette images become RGB; an alpha channel
is dropped (the RGB values are kept, as ``tf.io.decode_png(channels=3)`` does); 16-bit images are
scaled by 1/65535. Images are resized bilinearly, masks with nearest neighbour so labels are never
blended. Any problem raises :class:`gruseg.errors.GrusegError` naming the file and the fix.

Everything is held in memory: fine for the few thousand small images this book is about.

Example:
    >>> data = load_folder("my_data", size=(128, 128))            # doctest: +SKIP
    >>> data.images.shape, data.masks.shape, data.num_classes    # doctest: +SKIP
    ((40, 128, 128, 3), (40, 128, 128), 2)
    >>> train = data.batches(batch_size=8, shuffle=True)          # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gruseg import _checks
from gruseg.errors import GrusegError

__all__ = ["FolderData", "load_folder", "read_image", "read_mask", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
"""File extensions read from ``images/`` and ``masks/`` (compared case-insensitively)."""

_MASK_FIX = ("save masks as single-channel PNGs whose pixel values are class indices "
             "0..num_classes-1 (or 0/255 for a binary mask)")


# --------------------------------------------------------------------------------------------
# reading one file
# --------------------------------------------------------------------------------------------
def _open(path):
    """Open, fully decode and EXIF-orient one image file, or raise GrusegError."""
    path = Path(path)
    if not path.is_file():
        raise GrusegError(f"{path}: file not found; check the path")
    if path.stat().st_size == 0:
        raise GrusegError(f"{path}: the file is empty (0 bytes); re-export it or remove it")
    try:
        with Image.open(path) as img:
            img.load()
            oriented = ImageOps.exif_transpose(img)
    except UnidentifiedImageError:
        if _png_has_zero_size(path):
            raise GrusegError(
                f"{path}: the image has zero size (its PNG header says width or height 0); "
                "re-export it or remove it") from None
        raise GrusegError(
            f"{path}: not a readable image (is it really a {path.suffix} file?); "
            "re-export it as PNG or JPEG, or remove it") from None
    except (OSError, SyntaxError, ValueError) as err:
        # PIL reports truncated or corrupt data as OSError ("image file is truncated", ...)
        raise GrusegError(
            f"{path}: the image data is truncated or corrupt ({err}); "
            "re-export or re-download the file, or remove it") from None
    if oriented.width == 0 or oriented.height == 0:
        raise GrusegError(
            f"{path}: the image has zero size ({oriented.width}x{oriented.height}); "
            "re-export it or remove it")
    return oriented


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


def _labels_from_mask(array, path, num_classes, ignore_label=None):
    """Check a raw mask's values and map 0/255 binary masks to 0/1 (``ignore_label`` pixels are void)."""
    values = np.unique(array)
    if ignore_label is not None:
        values = values[values != ignore_label]
        if values.size == 0:
            return array
    shown = ", ".join(str(int(v)) for v in values[:8]) + (", ..." if len(values) > 8 else "")
    if values.min() < 0:
        raise GrusegError(f"{path}: negative mask values ({shown}); {_MASK_FIX}")
    if set(values.tolist()) <= {0, 255} and 255 in values:
        binary = (array == 255).astype(np.int64)     # binary 0/255 -> 0/1, deliberately
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
        raise GrusegError(
            f"{path}: mask values {{{shown}}}{void} but num_classes={num_classes} allows only labels "
            f"0..{num_classes - 1}; pass num_classes={int(values.max()) + 1} (--num-classes) "
            "or fix the mask")
    return array


def read_mask(path, size=None, num_classes=None, ignore_label=None):
    """Read one label mask as a 2-D integer array, with the checks of :func:`load_folder`.

    Args:
        path: mask file (a one-channel or palette PNG; 0/255 binary masks become 0/1).
        size: optional ``(height, width)`` (or one integer) to resize to, nearest neighbour.
        num_classes: if given, labels must lie in ``[0, num_classes)``.
        ignore_label: optional void label, allowed besides ``[0, num_classes)``.

    Returns:
        uint8 array ``(H, W)`` (int32 if a label exceeds 255).

    Raises:
        GrusegError: unreadable file, colour mask, interpolated-looking values, or labels
            outside ``[0, num_classes)``.
    """
    size = _checks.image_size("size", size, allow_none=True)
    labels = _labels_from_mask(_mask_array(_open(path), Path(path)), Path(path), num_classes, ignore_label)
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


def _list_files(folder):
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") \
                and path.suffix.lower() in IMAGE_EXTENSIONS:
            if path.stem in files:
                raise GrusegError(
                    f"{folder}: two files share the stem {path.stem!r} ({files[path.stem].name} "
                    f"and {path.name}); keep one, so each image pairs with exactly one mask")
            files[path.stem] = path
    return files


def _names(paths, limit=5):
    names = [p.name for p in paths]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_folder(path, size=(128, 128), num_classes=None, class_names=None, ignore_label=None, resize="stretch"):
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
        resize: how a pair reaches ``size``: ``"stretch"`` (default), or keep the aspect ratio and
            ``"crop"`` the centre or ``"pad"`` the border (mask border = ``ignore_label``, needed);
            see :mod:`gruseg.data.resize`.

    Returns:
        :class:`FolderData` (arrays, stems, ``num_classes``, ``class_names``; ``.batches()``).

    Raises:
        GrusegError: naming the file and the fix, for: a missing folder or subfolder; no images;
            an image without a mask or a mask without an image; an unreadable, truncated, empty
            or zero-sized file; an image and mask of different sizes; a colour (RGB) mask; mask
            values that look interpolated; labels ``>= num_classes``.

    Example:
        >>> data = load_folder("my_data", size=64, num_classes=2)   # doctest: +SKIP
        >>> len(data), data.images.shape[1:], data.masks.dtype      # doctest: +SKIP
        (40, (64, 64, 3), dtype('uint8'))
    """
    from gruseg.data.resize import RESIZE_MODES, fit_to_size

    size = _checks.image_size("size", size, allow_none=True)
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

    images = _list_files(root / "images")
    masks = _list_files(root / "masks")
    if not images:
        others = [p for p in sorted((root / "images").iterdir()) if not p.name.startswith(".")]
        found = f"; found only {_names(others)}" if others else ""
        raise GrusegError(
            f"{root / 'images'}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)} files, "
            f"any letter case{found}); add the images there, converted to PNG or JPEG")
    lonely_images = [images[s] for s in images if s not in masks]
    lonely_masks = [masks[s] for s in masks if s not in images]
    if lonely_images or lonely_masks:
        parts = []
        if lonely_images:
            parts.append(f"{len(lonely_images)} image(s) without a mask in {root / 'masks'}: "
                         f"{_names(lonely_images)}")
        if lonely_masks:
            parts.append(f"{len(lonely_masks)} mask(s) without an image in {root / 'images'}: "
                         f"{_names(lonely_masks)}")
        raise GrusegError(
            "; ".join(parts) + ". Each image needs a mask with the same file stem "
            "(images/cat.jpg <-> masks/cat.png); add or rename the missing files, or remove the "
            "extras")

    stems = tuple(sorted(images))
    image_list, mask_list = [], []
    for stem in stems:
        image_path, mask_path = images[stem], masks[stem]
        image = _open(image_path)
        mask = _open(mask_path)
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

    top = max(int(m[m != ignore_label].max(initial=0)) if ignore_label is not None else int(m.max())
              for m in mask_list)
    if num_classes is None:
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
