"""Small image files for the folder-loader tests, written with PIL (or by hand) into tmp_path."""

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def make_folder(root, pairs=None, subfolders=("images", "masks")):
    """Create ``root/images`` and ``root/masks``; ``pairs`` maps stem -> (image, mask) arrays."""
    root = Path(root)
    for sub in subfolders:
        (root / sub).mkdir(parents=True, exist_ok=True)
    for stem, (image, mask) in (pairs or {}).items():
        save(root / "images" / f"{stem}.png", image)
        save(root / "masks" / f"{stem}.png", mask)
    return root


def save(path, array, **kwargs):
    """Save a uint8/uint16 array (H, W) or (H, W, C) with PIL; the mode follows the dtype/shape."""
    Image.fromarray(np.asarray(array)).save(path, **kwargs)
    return Path(path)


def rgb(height=8, width=10, seed=0):
    """A random uint8 RGB image."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def binary_mask(height=8, width=10):
    """A 0/1 uint8 mask: left half 0, right half 1."""
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[:, width // 2:] = 1
    return mask


def _chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def write_png_raw(path, width, height, bit_depth, colour_type, rows=b""):
    """Write a PNG by hand (for files PIL will not write: 16-bit RGB, zero size)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows))
            + _chunk(b"IEND", b""))
    Path(path).write_bytes(data)
    return Path(path)


def write_rgb16_png(path, array):
    """Write a (H, W, 3) uint16 array as a 16-bit RGB PNG (colour type 2, bit depth 16)."""
    array = np.asarray(array, dtype=">u2")
    height, width, _ = array.shape
    rows = b"".join(b"\x00" + array[y].tobytes() for y in range(height))
    return write_png_raw(path, width, height, 16, 2, rows)
