"""Bring an image and its mask to the size a model needs: stretch, or keep the aspect ratio and crop or pad.

A model trained on ``(height, width)`` inputs needs every pair at that size, but photographs come in
many shapes. Three ways to get there (``resize=`` of :func:`gruseg.data.folder.load_folder`,
``--resize`` on the command line), for an ``h x w`` pair and a target ``H x W``::

    stretch  resize to H x W                                        (aspect ratio lost: circles become ovals)
    crop     scale by s = max(H/h, W/w) (the short side fits), centre-crop to H x W     (the border is lost)
    pad      scale by s = min(H/h, W/w) (the long side fits), centre it on H x W:
             image border 0 (black), mask border = the void label   (nothing lost; the border is not scored)

Images are resized bilinearly, masks with nearest neighbour (labels are never blended), exactly as
:func:`~gruseg.data.folder.load_folder` does. ``pad`` needs a void label for the mask's border: a
border labelled with a real class would teach the model that black bars are, say, sky.

Example:
    >>> image, mask = np.ones((2, 8, 3), np.float32), np.arange(8, dtype=np.uint8).reshape(1, 8).repeat(2, 0)
    >>> fit_to_size(image, mask, (4, 4), "crop")[1].tolist()          # scaled to 4 x 16, centre 4 columns
    [[3, 3, 4, 4], [3, 3, 4, 4], [3, 3, 4, 4], [3, 3, 4, 4]]
    >>> fit_to_size(image, mask, (4, 4), "pad", pad_label=9)[1].tolist()   # scaled to 1 x 4, void above and below
    [[9, 9, 9, 9], [1, 3, 5, 7], [9, 9, 9, 9], [9, 9, 9, 9]]
"""

from __future__ import annotations

import numpy as np

from gruseg import _checks
from gruseg.errors import GrusegError

__all__ = ["RESIZE_MODES", "fit_shape", "fit_to_size"]

RESIZE_MODES = ("stretch", "crop", "pad")
"""How :func:`fit_to_size` reaches the target size (see the module docstring)."""


def fit_shape(shape, size, mode):
    """Where a ``shape = (h, w)`` image goes on a ``size = (H, W)`` canvas.

    Returns:
        ``(scaled, offset)``: the ``(height, width)`` to resize to, and the ``(top, left)`` of
        the target window inside the scaled image (``crop``: >= 0, the part cut away above and
        to the left) or of the scaled image inside the canvas (``pad``: >= 0, the border).
        ``stretch`` gives ``(size, (0, 0))``.

    Example:
        >>> fit_shape((360, 480), (120, 120), "crop"), fit_shape((360, 480), (120, 120), "pad")
        (((120, 160), (0, 20)), ((90, 120), (15, 0)))
    """
    h, w = _checks.image_size("shape", shape)
    height, width = _checks.image_size("size", size)
    mode = _checks.choice("resize", mode, RESIZE_MODES)
    if mode == "stretch":
        return (height, width), (0, 0)
    if mode == "crop":
        scale = max(height / h, width / w)
        scaled = (max(height, round(h * scale)), max(width, round(w * scale)))
        return scaled, ((scaled[0] - height) // 2, (scaled[1] - width) // 2)
    scale = min(height / h, width / w)
    scaled = (min(height, max(1, round(h * scale))), min(width, max(1, round(w * scale))))
    return scaled, ((height - scaled[0]) // 2, (width - scaled[1]) // 2)


def fit_to_size(image, labels, size, mode="stretch", pad_label=None):
    """Resize an image (and its mask) to ``size`` by stretching, or keeping the aspect ratio and cropping or padding.

    Args:
        image: float32 ``(h, w, 3)`` in [0, 1].
        labels: integer ``(h, w)`` mask of the same height and width, or None (an image alone).
        size: ``(height, width)`` (or one integer) to reach.
        mode: ``"stretch"``, ``"crop"`` or ``"pad"`` (see the module docstring).
        pad_label: the void label written into the mask's border with ``"pad"``.

    Returns:
        ``(image (H, W, 3) float32, labels (H, W) or None)``; the labels keep their dtype.

    Raises:
        GrusegError: ``mode="pad"`` with a mask but no ``pad_label`` (the message says what to pass).
        ValueError: an unknown mode, a bad size, a mask of another size than its image.
    """
    from gruseg.data.folder import _resize_image, _resize_labels

    size = _checks.image_size("size", size)
    mode = _checks.choice("resize", mode, RESIZE_MODES)
    image = np.asarray(image, np.float32)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != image.shape[:2]:
            raise ValueError(f"labels must have the image's height and width {image.shape[:2]}, got {labels.shape}")
        if mode == "pad" and pad_label is None:
            raise GrusegError(
                "resize='pad' (--resize pad) fills each mask's border with the void label, and there is none; "
                "pass ignore_label (--ignore-label N, a value your masks do not use for a class) or use "
                "resize='crop'")
    if mode == "pad" and pad_label is not None:
        pad_label = _checks.non_negative_int("pad_label", pad_label)
    scaled, (top, left) = fit_shape(image.shape[:2], size, mode)
    image = _resize_image(image, scaled)
    labels = None if labels is None else _resize_labels(labels, scaled).astype(labels.dtype, copy=False)
    height, width = size
    if mode == "crop":
        image = image[top:top + height, left:left + width]
        labels = None if labels is None else labels[top:top + height, left:left + width]
    elif mode == "pad":
        canvas = np.zeros((height, width, image.shape[-1]), np.float32)
        canvas[top:top + scaled[0], left:left + scaled[1]] = image
        image = canvas
        if labels is not None:
            border = np.full((height, width), pad_label, dtype=np.result_type(labels.dtype, np.min_scalar_type(pad_label)))
            border[top:top + scaled[0], left:left + scaled[1]] = labels
            labels = border
    return np.ascontiguousarray(image), None if labels is None else np.ascontiguousarray(labels)
