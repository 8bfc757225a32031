"""Synthetic segmentation data made in NumPy: deterministic from a seed, small and fast.

Two generators, both returning ``(images, masks)``:

* ``images``: float32, shape ``(n, size, size, 3)``, values in ``[0, 1]``;
* ``masks``: uint8, shape ``(n, size, size)``, sparse class labels in ``[0, num_classes)``.

:func:`make_shapes` draws circles, squares and triangles on textured noisy backgrounds: a
segmentation task that a small model learns in about a minute.

:func:`make_long_range` is the *parity of crossings* task: thin wavy curves run from one edge of the
image to the opposite edge, and a pixel's label is the parity of the number of curves between it
and the left (or top) border. Every gap between two curves looks the same locally, so a model
whose receptive field does not reach the border cannot know the label; a sweep along the row (or
column) can count.

:mod:`gruseg.data.pipeline` turns the arrays into training batches; the generators themselves need
nothing but NumPy.

Example:
    >>> images, masks = make_shapes(8, size=32, seed=0)
    >>> images.shape, images.dtype, masks.shape, masks.dtype
    ((8, 32, 32, 3), dtype('float32'), (8, 32, 32), dtype('uint8'))
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from gruseg import _checks

__all__ = [
    "SHAPES_CLASSES",
    "LONG_RANGE_CLASSES",
    "DATASETS",
    "DatasetSpec",
    "make_shapes",
    "make_long_range",
    "parity_labels",
]

SHAPES_CLASSES = ("background", "circle", "square", "triangle")
"""Class names of :func:`make_shapes`; label ``i`` is ``SHAPES_CLASSES[i]``."""

LONG_RANGE_CLASSES = ("outside", "inside")
"""Class names of :func:`make_long_range`: 0 = even number of curves to the left (or above),
1 = odd number."""


# --------------------------------------------------------------------------------------------
# backgrounds
# --------------------------------------------------------------------------------------------
def _upsample_matrix(low, high):
    """(high, low) matrix that bilinearly interpolates ``low`` samples onto ``high`` pixels."""
    pos = (np.arange(high) + 0.5) * low / high - 0.5
    pos = np.clip(pos, 0, low - 1)
    left = np.floor(pos).astype(int)
    right = np.minimum(left + 1, low - 1)
    frac = pos - left
    matrix = np.zeros((high, low))
    matrix[np.arange(high), left] += 1 - frac
    matrix[np.arange(high), right] += frac
    return matrix


def _smooth_noise(rng, n, size, cells, channels=3):
    """Smooth random field in [0, 1]: ``cells x cells`` random values bilinearly upsampled."""
    coarse = rng.random((n, cells, cells, channels), dtype=np.float32)
    up = _upsample_matrix(cells, size).astype(np.float32)
    field = up @ coarse.transpose(0, 3, 1, 2) @ up.T           # (n, channels, size, size)
    return np.ascontiguousarray(field.transpose(0, 2, 3, 1))


def _background(rng, n, size, texture=True):
    """Textured coloured background: a base colour, smooth colour blobs and (optionally) stripes.

    float32 ``(n, size, size, 3)``, roughly within [0, 1] (clipped later).
    """
    base = rng.uniform(0.2, 0.8, (n, 1, 1, 3)).astype(np.float32)
    blobs = _smooth_noise(rng, n, size, cells=max(2, size // 12)) - np.float32(0.5)
    image = base + np.float32(0.35) * blobs
    if texture:
        # faint stripes at a random angle and frequency, so "flat colour" is not a cue
        yy, xx = (np.mgrid[0:size, 0:size] / size).astype(np.float32)
        angle = rng.uniform(0, np.pi, (n, 1, 1)).astype(np.float32)
        freq = rng.uniform(3, 10, (n, 1, 1)).astype(np.float32)
        phase = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
        amp = rng.uniform(0.0, 0.08, (n, 1, 1, 1)).astype(np.float32)
        stripes = np.sin(np.float32(2 * np.pi) * freq * (np.cos(angle) * xx + np.sin(angle) * yy)
                         + phase)
        image += amp * stripes[..., None]
    return image


def _contrasting_colours(rng, reference, candidates=6, min_distance=0.35):
    """Pick, per row of ``reference`` (m, 3), a random colour far from it (the best of a few)."""
    m = reference.shape[0]
    options = rng.random((m, candidates, 3))
    distance = np.linalg.norm(options - reference[:, None, :], axis=-1)
    # the first candidate far enough away, or else the farthest one
    far = distance >= min_distance
    pick = np.where(far.any(axis=1), far.argmax(axis=1), distance.argmax(axis=1))
    return options[np.arange(m), pick]


def _finish(image, rng, noise):
    """Add Gaussian pixel noise and clip to [0, 1]; float32."""
    image = image.astype(np.float32, copy=False)
    if noise > 0:
        image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(noise)
    return np.clip(image, 0.0, 1.0, out=image)


# --------------------------------------------------------------------------------------------
# shapes
# --------------------------------------------------------------------------------------------
def _shape_pixels(kind, r, cy, cx, theta, yy, xx):
    """Boolean (m, H, W) pixels of m shapes of one class (1 circle, 2 square, 3 triangle).

    ``r``, ``cy``, ``cx``, ``theta``: (m,) size, centre and rotation; ``yy``, ``xx``: pixel centres.
    """
    f32 = np.float32
    r = r.astype(f32)[:, None, None]
    dy = yy[None] - cy.astype(f32)[:, None, None]
    dx = xx[None] - cx.astype(f32)[:, None, None]
    if kind == 1:
        return dx * dx + dy * dy <= r * r
    # rotate into the shape's own frame
    c = np.cos(theta).astype(f32)[:, None, None]
    s = np.sin(theta).astype(f32)[:, None, None]
    u, v = c * dx + s * dy, c * dy - s * dx
    if kind == 2:
        half = r * f32(0.85)                                     # half the side of a square
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    # equilateral triangle: three half-planes at 120 degrees, each 0.7 r from the centre
    # (circumradius 1.4 r, so its area is close to the circle's and the square's)
    triangle = u <= r * f32(0.7)
    for k in (1, 2):
        a = 2 * np.pi * k / 3
        triangle &= f32(np.cos(a)) * u + f32(np.sin(a)) * v <= r * f32(0.7)
    return triangle


def make_shapes(n, size=64, seed=0, *, shapes_per_image=(1, 4), radius=(0.1, 0.22), noise=0.05,
                texture=True):
    """Circles, squares and triangles on textured, noisy backgrounds.

    Each image gets a random number of shapes (``shapes_per_image``), each of a random class,
    colour, size, position and rotation (squares and triangles). Shapes may overlap: a later shape
    is drawn on top and owns the pixels it covers in the mask. The background is a random base
    colour plus smooth colour blobs and faint stripes; Gaussian pixel noise is added last. Each
    shape's colour is chosen far from the background colour under it, so the task is learnable,
    but colour alone never tells the class: only the outline does.

    Labels: ``0`` background, ``1`` circle, ``2`` square, ``3`` triangle (:data:`SHAPES_CLASSES`).

    Args:
        n: number of images (>= 1).
        size: height and width in pixels (>= 8).
        seed: integer seed; the same seed gives the same images.
        shapes_per_image: (low, high) number of shapes per image, inclusive.
        radius: (low, high) shape size as a fraction of ``size``: a circle's radius, a
            triangle's circumradius / 1.4, half a square's side / 0.85.
        noise: standard deviation of the Gaussian pixel noise, in [0, 1].
        texture: add faint random stripes to the background.

    Returns:
        ``(images, masks)``: float32 ``(n, size, size, 3)`` in [0, 1] and uint8 ``(n, size, size)``.

    Example:
        >>> images, masks = make_shapes(4, size=32, seed=1)
        >>> sorted(set(np.unique(masks)) - {0}) != []
        True
    """
    n = _checks.integer("n", n, 1)
    size = _checks.integer("size", size, 8)
    lo_count, hi_count = _checks.number_range("shapes_per_image", shapes_per_image, 1, integer=True)
    r_lo, r_hi = _checks.number_range("radius", radius, 0.01, 0.5)
    noise = _checks.number("noise", noise, 0, 1)
    rng = np.random.default_rng(seed)

    image = _background(rng, n, size, texture=texture)
    mask = np.zeros((n, size, size), dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)
    f32 = np.float32

    counts = rng.integers(lo_count, hi_count + 1, n)
    for slot in range(hi_count):
        active = counts > slot                                   # (n,)
        cls = rng.integers(1, len(SHAPES_CLASSES), n)            # 1..3
        r = (rng.uniform(r_lo, r_hi, n) * size).astype(f32)
        cy = rng.uniform(0.15, 0.85, n) * size
        cx = rng.uniform(0.15, 0.85, n) * size
        theta = rng.uniform(0, 2 * np.pi, n)
        inside = np.zeros((n, size, size), dtype=bool)
        for kind in (1, 2, 3):                                   # only the images drawing `kind`
            pick = np.nonzero(active & (cls == kind))[0]
            if pick.size:
                inside[pick] = _shape_pixels(kind, r[pick], cy[pick], cx[pick], theta[pick], yy, xx)
        # a colour far from the background at the centre of the shape, with a gentle shading
        iy = np.clip(cy.astype(int), 0, size - 1)
        ix = np.clip(cx.astype(int), 0, size - 1)
        colour = _contrasting_colours(rng, image[np.arange(n), iy, ix]).astype(f32)
        shade = f32(0.925) + f32(0.15) * _smooth_noise(rng, n, size, cells=4, channels=1)
        np.copyto(image, colour[:, None, None, :] * shade, where=inside[..., None])
        mask[inside] = np.broadcast_to(cls[:, None, None], inside.shape)[inside]

    return _finish(image, rng, noise), mask


# --------------------------------------------------------------------------------------------
# long range: parity of crossings
# --------------------------------------------------------------------------------------------
def parity_labels(curves, orientation="vertical"):
    """Label each pixel by the parity of the curves between it and the left (top) border.

    An independent reference for :func:`make_long_range`: it looks only at the curve pixels
    ("ink") and scans each row from left to right (each column from top to bottom for
    ``"horizontal"`` curves), counting how many separate runs of ink it has passed. A pixel that is
    not ink gets ``count % 2``; ink pixels get ``0``. The count is exact when every curve crosses
    every row once as one contiguous run, which :func:`make_long_range` guarantees.

    Args:
        curves: boolean array ``(..., H, W)``, True on curve pixels.
        orientation: ``"vertical"`` (curves run top to bottom, count along rows) or
            ``"horizontal"`` (curves run left to right, count down columns).

    Returns:
        uint8 array of the same shape with labels in {0, 1}.

    Example:
        >>> ink = np.zeros((1, 5), bool); ink[0, 2] = True
        >>> parity_labels(ink).tolist()
        [[0, 0, 0, 1, 1]]
    """
    curves = np.asarray(curves, dtype=bool)
    if curves.ndim < 2:
        raise ValueError(f"curves must have at least 2 dimensions (H, W), got shape {curves.shape}")
    if orientation not in ("vertical", "horizontal"):
        raise ValueError(f"orientation must be 'vertical' or 'horizontal', got {orientation!r}")
    if orientation == "horizontal":
        return np.swapaxes(parity_labels(np.swapaxes(curves, -1, -2)), -1, -2)
    labels = np.zeros(curves.shape, dtype=np.uint8)
    count = np.zeros(curves.shape[:-1], dtype=np.int64)
    previous_ink = np.zeros(curves.shape[:-1], dtype=bool)
    for x in range(curves.shape[-1]):            # the scan: one column at a time, left to right
        ink = curves[..., x]
        count += ink & ~previous_ink             # a new run of ink starts here
        labels[..., x] = np.where(ink, 0, count % 2)
        previous_ink = ink
    return labels


def _curve_runs(rng, n, size, counts, k_max, thickness, waviness, min_gap):
    """Column runs ``[lo, hi]`` of each vertical curve in each row: int arrays (n, k_max, size).

    Curve k's centre in row y is the cumulative sum of k + 1 gaps, each gap a minimum width plus
    a share of the free width that varies smoothly with y (so the curves wave but keep their order).
    A curve occupies, in row y, every column its centre passes through between y - 1/2 and y + 1/2,
    widened to ``thickness``: one contiguous run per row, 4-connected from row to row.
    """
    margin = 1
    width = size - 2 * margin
    # sample the centres at half-row steps: t = -0.5, 0, 0.5, ..., size - 0.5
    t = np.arange(2 * size + 1) / 2 - 0.5
    gaps = np.arange(k_max + 1)
    active_gap = gaps[None, :] <= counts[:, None]                 # (n, k_max + 1)
    # smooth log-weights: a sum of a few low-frequency sinusoids per gap
    freq = rng.uniform(0.3, 2.0, (n, k_max + 1, 3, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, k_max + 1, 3, 1))
    amp = rng.uniform(0.3, 1.0, (n, k_max + 1, 3, 1)) * waviness
    log_w = (amp * np.sin(2 * np.pi * freq * t / size + phase)).sum(axis=2)
    log_w += rng.normal(0, 0.3, (n, k_max + 1, 1))                # uneven mean gap widths
    w = np.exp(log_w) * active_gap[..., None]
    share = w / w.sum(axis=1, keepdims=True)
    min_sep = thickness[:, None, None] + min_gap + 1.0            # centre-to-centre minimum
    free = width - (counts[:, None, None] + 1) * min_sep
    gap = (min_sep + free * share) * active_gap[..., None]
    centre = margin + np.cumsum(gap, axis=1)[:, :k_max] - 0.5     # (n, k_max, 2 size + 1)
    prev, mid, nxt = centre[..., 0:-1:2], centre[..., 1::2], centre[..., 2::2]
    lo_f = np.minimum(np.minimum(prev, mid), nxt)
    hi_f = np.maximum(np.maximum(prev, mid), nxt)
    lo = np.round(lo_f - (thickness[:, None, None] - 1) / 2).astype(np.int64)
    hi = np.maximum(np.round(hi_f + (thickness[:, None, None] - 1) / 2).astype(np.int64),
                    lo + thickness[:, None, None] - 1)
    return lo, hi, free


def _rasterise(lo, hi, counts, size):
    """Ink (bool) and parity labels (uint8) from column runs ``[lo, hi]``, each (n, k, size).

    Uses difference arrays along x: +1 at ``lo`` and -1 at ``hi + 1`` summed gives the ink;
    +1 at ``hi + 1`` summed gives the number of curves already passed (to the left of x).
    """
    n, k_max, _ = lo.shape
    active = (np.arange(k_max)[None, :] < counts[:, None])[..., None]        # (n, k, 1)
    weight = np.broadcast_to(active, lo.shape).astype(np.int32)
    img = np.broadcast_to(np.arange(n)[:, None, None], lo.shape)
    row = np.broadcast_to(np.arange(size)[None, None, :], lo.shape)
    start = np.zeros((n, size, size + 1), dtype=np.int32)
    end = np.zeros((n, size, size + 1), dtype=np.int32)
    np.add.at(start, (img, row, lo), weight)
    np.add.at(end, (img, row, hi + 1), weight)
    passed = np.cumsum(end, axis=2)[..., :size]
    ink = (np.cumsum(start, axis=2)[..., :size] - passed) > 0
    masks = np.where(ink, 0, passed % 2).astype(np.uint8)
    return ink, masks


def _runs_ok(lo, hi, counts, size, min_gap):
    """True per image when its curves stay inside and never come within ``min_gap`` pixels."""
    n, k_max, _ = lo.shape
    active = np.arange(k_max)[None, :] < counts[:, None]           # (n, k_max)
    inside = np.where(active[..., None], (lo >= 0) & (hi <= size - 1), True).all(axis=(1, 2))
    pair = active[:, 1:] & active[:, :-1]                         # (n, k_max - 1)
    left_hi, right_lo = hi[:, :-1], lo[:, 1:]
    need = min_gap + 1
    same_row = right_lo - left_hi >= need
    # diagonal neighbours across consecutive rows count as touching too
    down = right_lo[..., 1:] - left_hi[..., :-1] >= need
    up = right_lo[..., :-1] - left_hi[..., 1:] >= need
    ok = same_row.all(axis=2) & down.all(axis=2) & up.all(axis=2)
    return inside & np.where(pair, ok, True).all(axis=1)


def make_long_range(n, size=64, seed=0, *, curves=None, thickness=(1, 2), orientation="both",
                    noise=0.03, waviness=0.8, min_gap=2, return_curves=False):
    """The parity-of-crossings task: a label that only a long-range count can decide.

    ``K`` wavy curves (``K`` drawn from ``curves`` per image) run from the top edge to the bottom
    edge of the image. They never cross and never touch: at least ``min_gap`` background pixels
    separate any two curves, also diagonally between neighbouring rows. A pixel that is not on a
    curve is labelled::

        label(y, x) = (number of curves crossing row y to the left of x) mod 2

    so ``1`` ("inside") means an odd number of curves lies between the pixel and the left border.
    Curve pixels themselves are labelled ``0``. With ``orientation="horizontal"`` the image is
    transposed: the curves run left to right and the count runs down each column from the top
    border; ``"both"`` makes exactly half of the images (chosen at random) horizontal.

    What this measures: every gap between two curves looks the same locally (the background is
    the same smooth coloured noise for both classes, all curves of an image share one colour), so
    the label of a pixel depends on a count along its whole row (column). A model sees it only if
    its context reaches the border — a CNN whose receptive field is smaller than the distance to
    the border must guess, a bidirectional sweep along rows and columns can count. Near the
    borders the first gap is always ``0``, so some pixels are locally decidable.

    Do not flip these images in augmentation: a left-right flip turns "count from the left" into
    "count from the right", which differs whenever ``K`` is odd.

    Args:
        n: number of images (>= 1).
        size: height and width in pixels (>= 16).
        seed: integer seed; the same seed gives the same images.
        curves: (low, high) number of curves per image, inclusive, low >= 1. ``None`` means
            (3, 8), capped at the number that fits in ``size`` (e.g. (3, 4) at 32 pixels).
        thickness: (low, high) curve width in pixels, inclusive (1 or 2 is "thin").
        orientation: ``"vertical"``, ``"horizontal"`` or ``"both"``.
        noise: standard deviation of the Gaussian pixel noise, in [0, 1].
        waviness: amplitude of the curves' waves (0 gives smoothly uneven but nearly straight curves).
        min_gap: least number of background pixels between two curves (>= 1).
        return_curves: also return the boolean curve masks (the "ink"), for checks and plots.

    Returns:
        ``(images, masks)``, float32 ``(n, size, size, 3)`` in [0, 1] and uint8 ``(n, size, size)``
        in {0, 1}; with ``return_curves=True`` also ``curves``, bool ``(n, size, size)``.

    Raises:
        ValueError: an argument out of range, or more curves than fit in ``size`` pixels.

    Example:
        >>> images, masks, ink = make_long_range(2, size=32, seed=0, orientation="vertical",
        ...                                      return_curves=True)
        >>> bool((parity_labels(ink) == masks).all())
        True
    """
    n = _checks.integer("n", n, 1)
    size = _checks.integer("size", size, 16)
    t_lo, t_hi = _checks.number_range("thickness", thickness, 1, integer=True)
    min_gap = _checks.integer("min_gap", min_gap, 1)
    if curves is None:
        fit = max(1, (size - 6) // (t_hi + min_gap + 1) - 1)
        curves = (min(3, fit), min(8, fit))
    k_lo, k_hi = _checks.number_range("curves", curves, 1, integer=True)
    orientation = _checks.choice("orientation", orientation, ("vertical", "horizontal", "both"))
    noise = _checks.number("noise", noise, 0, 1)
    waviness = _checks.number("waviness", waviness, 0, 3)
    # every gap needs room for a curve plus the separation, with slack for the waves
    needed = (k_hi + 1) * (t_hi + min_gap + 1) + 2
    if needed > size - 4:
        raise ValueError(
            f"curves={curves!r} with thickness up to {t_hi} and min_gap={min_gap} do not fit in "
            f"size={size} pixels; use fewer curves, a smaller min_gap, or a larger size"
        )
    rng = np.random.default_rng(seed)

    counts = rng.integers(k_lo, k_hi + 1, n)
    widths = rng.integers(t_lo, t_hi + 1, n)
    lo = np.zeros((n, k_hi, size), dtype=np.int64)
    hi = np.zeros((n, k_hi, size), dtype=np.int64)
    todo = np.arange(n)
    for _ in range(100):                        # rejection: redraw the few images whose curves touch
        l_new, h_new, _ = _curve_runs(rng, todo.size, size, counts[todo], k_hi, widths[todo],
                                      waviness, min_gap)
        lo[todo], hi[todo] = l_new, h_new
        bad = ~_runs_ok(l_new, h_new, counts[todo], size, min_gap)
        todo = todo[bad]
        if todo.size == 0:
            break
    else:  # pragma: no cover - only reachable with extreme waviness
        raise ValueError(
            f"could not draw non-touching curves for waviness={waviness}; use a smaller waviness")

    ink, masks = _rasterise(lo, hi, counts, size)

    background = _background(rng, n, size, texture=False)
    mean_colour = background.mean(axis=(1, 2))
    colour = _contrasting_colours(rng, mean_colour, min_distance=0.5)
    images = np.where(ink[..., None], colour[:, None, None, :], background)

    if orientation != "vertical":
        if orientation == "horizontal":
            flip = np.ones(n, dtype=bool)
        else:
            flip = np.zeros(n, dtype=bool)
            flip[rng.permutation(n)[: n // 2]] = True
        images[flip] = np.swapaxes(images[flip], 1, 2)
        masks[flip] = np.swapaxes(masks[flip], 1, 2)
        ink[flip] = np.swapaxes(ink[flip], 1, 2)

    images = _finish(images, rng, noise)
    if return_curves:
        return images, masks, ink
    return images, masks


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------
class DatasetSpec(NamedTuple):
    """A named synthetic dataset: ``maker(n, size=..., seed=...)`` and its class names.

    A tuple, so ``maker, class_names = DATASETS["shapes"]`` works, as do the attributes.
    """

    maker: Callable
    class_names: tuple


DATASETS = {
    "shapes": DatasetSpec(make_shapes, SHAPES_CLASSES),
    "long-range": DatasetSpec(make_long_range, LONG_RANGE_CLASSES),
}
"""Synthetic datasets by name, as the command line uses them; each maps to a :class:`DatasetSpec`."""
