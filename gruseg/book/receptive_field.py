"""Receptive fields: how much of the image one output pixel can see, in theory and in practice.

The *theoretical* receptive field of a stack of layers follows from two numbers per layer, its
kernel size ``k_l`` (with dilation ``d_l``) and its stride ``s_l``. Walking from the input to the
output, with the *jump* ``j`` being the distance in input pixels between two neighbouring units
of the current layer::

    r_0 = 1,  j_0 = 1
    r_l = r_{l-1} + d_l (k_l - 1) j_{l-1}
    j_l = j_{l-1} s_l

``r_L`` is the side of the square window of input pixels a unit of the last layer depends on.
Pooling counts as a layer (a 2x2 max-pool is ``k=2, s=2``); a 2x upsampling in which every
output copies one input (nearest-neighbour, or a transposed convolution with a 2x2 kernel and
stride 2) is ``k=1, s=1/2``: it does not widen the window, it only halves the jump.

The *empirical* influence of the input on one output pixel is measured with gradients
(:func:`influence_map`): outside the theoretical window they are exactly zero, because the
output does not depend on those inputs at all.

Example:
    >>> receptive_field_size([3, 3, 2, 3, 3], [1, 1, 2, 1, 1])   # conv, conv, pool, conv, conv
    14
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from gruseg import _checks

__all__ = [
    "receptive_field_growth",
    "receptive_field_size",
    "unet_receptive_field",
    "influence_map",
    "influence_bbox",
]


def _as_list(name, values, n=None):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r}")
    values = list(values)
    if n is not None and len(values) != n:
        raise ValueError(f"{name} must have one entry per layer ({n}), got {len(values)}")
    return values


def receptive_field_growth(kernel_sizes, strides=None, dilations=None):
    """Theoretical receptive field after each layer of a stack (the recurrence in the module docstring).

    Args:
        kernel_sizes: sequence of L positive integers, the kernel side of each layer
            (a 2x2 pooling is 2).
        strides: sequence of L positive numbers, default all 1. Use ``0.5`` (or
            ``fractions.Fraction(1, 2)``) for a 2x upsampling.
        dilations: sequence of L positive integers, default all 1.

    Returns:
        list of L+1 ints ``[r_0, r_1, ..., r_L]`` with ``r_0 = 1`` (a pixel sees itself);
        sizes are in input pixels, rounded up when upsampling beyond the input grid makes
        them fractional.

    Raises:
        ValueError: a kernel size, stride or dilation that is not positive, or lengths that differ.

    Example:
        >>> receptive_field_growth([3, 3, 2], [1, 1, 2])
        [1, 3, 5, 6]
    """
    kernel_sizes = _as_list("kernel_sizes", kernel_sizes)
    n = len(kernel_sizes)
    strides = [1] * n if strides is None else _as_list("strides", strides, n)
    dilations = [1] * n if dilations is None else _as_list("dilations", dilations, n)
    r, j = Fraction(1), Fraction(1)
    out = [1]
    for i, (k, s, d) in enumerate(zip(kernel_sizes, strides, dilations, strict=True)):
        k = _checks.positive_int(f"kernel_sizes[{i}]", k)
        _checks.positive_number(f"strides[{i}]", s)       # 0.5 (or Fraction(1, 2)) for a 2x upsampling
        d = _checks.positive_int(f"dilations[{i}]", d)
        r += d * (k - 1) * j
        j *= Fraction(s).limit_denominator(1 << 20)
        out.append(math.ceil(r))
    return out


def receptive_field_size(kernel_sizes, strides=None, dilations=None):
    """Theoretical receptive field (side, in input pixels) of the last layer of a stack.

    Same arguments as :func:`receptive_field_growth`; returns its last entry.

    Example:
        >>> receptive_field_size([3] * 4)              # four 3x3 convolutions: 1 + 4 * 2
        9
        >>> receptive_field_size([3, 3], dilations=[1, 4])
        11
    """
    return receptive_field_growth(kernel_sizes, strides, dilations)[-1]


def unet_receptive_field(depth, convs_per_level=2, kernel_size=3, pool_size=2, up_kernel=1):
    """Theoretical receptive field of a U-Net output pixel, through its deepest path.

    The path: at each of ``depth`` levels, ``convs_per_level`` convolutions then a
    ``pool_size`` pooling; the bottleneck's convolutions; then at each level back up, a
    ``pool_size``-times upsampling followed by ``convs_per_level`` convolutions. Skip
    connections give shorter paths with smaller windows, so the deepest path bounds them all::

        r = 1 + sum_{l<depth} p^l [2 c (k-1) + (p-1) + (u-1) p] + p^depth c (k-1)

    with ``c`` convs per level, kernel ``k``, pool ``p`` and upsampling kernel ``u`` (1 for
    nearest-neighbour or a transposed convolution whose kernel equals its stride).

    Args:
        depth: number of poolings (non-negative integer).
        convs_per_level: convolutions per level (and in the bottleneck).
        kernel_size: convolution kernel side.
        pool_size: pooling size = stride, and the upsampling factor.
        up_kernel: kernel side of the upsampling, counted at the coarse resolution.

    Returns:
        int, the window side in input pixels.

    Example:
        >>> unet_receptive_field(2)     # 3x3 convs, two per level, two 2x2 poolings
        44
    """
    depth = _checks.non_negative_int("depth", depth)
    convs_per_level = _checks.positive_int("convs_per_level", convs_per_level)
    kernel_size = _checks.positive_int("kernel_size", kernel_size)
    pool_size = _checks.positive_int("pool_size", pool_size)
    up_kernel = _checks.positive_int("up_kernel", up_kernel)
    kernels, strides = [], []
    for _ in range(depth):
        kernels += [kernel_size] * convs_per_level + [pool_size]
        strides += [1] * convs_per_level + [pool_size]
    kernels += [kernel_size] * convs_per_level
    strides += [1] * convs_per_level
    for _ in range(depth):
        kernels += [up_kernel] + [kernel_size] * convs_per_level
        strides += [Fraction(1, pool_size)] + [1] * convs_per_level
    return receptive_field_size(kernels, strides)


def _check_pixel(pixel, height, width):
    try:
        row, col = _checks.int_tuple("pixel", pixel, minimum=0, length=2)
    except ValueError:
        raise ValueError(f"pixel must be a (row, col) pair of non-negative integers, got {pixel!r}") from None
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"pixel must lie inside the {height}x{width} output, got {(row, col)}")
    return row, col


def influence_map(model, image, pixel, channel=None):
    """How strongly each input pixel influences one output pixel: ``sum_c |d y / d x_c|``.

    For output pixel ``(row, col)`` of ``model(image)``, the map at input position ``(u, v)`` is
    the sum over input channels ``c`` of ``|d y[row, col, k] / d x[u, v, c]|``, summed over
    output channels ``k`` too when ``channel`` is None (one backward pass per output channel).
    Zero outside the theoretical receptive field; inside it, usually positive (a dead ReLU can
    make some of it zero). Computed in inference mode (``training=False``). Needs TensorFlow.

    Args:
        model: a Keras model mapping (B, H, W, C) to (B, H', W', K).
        image: array (H, W, C) or (1, H, W, C).
        pixel: (row, col) of the output pixel.
        channel: output channel ``k`` to differentiate, or None for all of them.
            (With a softmax output, do not sum the probabilities before differentiating:
            they add up to 1 and the gradient of the sum is zero.)

    Returns:
        float32 array (H, W).

    Example:
        >>> import keras
        >>> inputs = keras.Input((16, 16, 1))
        >>> model = keras.Model(inputs, keras.layers.Conv2D(2, 3, padding="same")(inputs))
        >>> m = influence_map(model, np.ones((16, 16, 1)), pixel=(8, 8))
        >>> m.shape, influence_bbox(m)               # one 3x3 conv: a 3x3 window
        ((16, 16), (7, 7, 10, 10))
    """
    import tensorflow as tf  # only here: the arithmetic above needs no TensorFlow

    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"image must have shape (H, W, C) or (1, H, W, C), got {np.shape(image)}")
    x = tf.convert_to_tensor(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = model(x, training=False)
        if y.shape.rank != 4:
            raise ValueError(f"model must output (batch, height, width, channels), got shape {tuple(y.shape)}")
        row, col = _check_pixel(pixel, int(y.shape[1]), int(y.shape[2]))
        num_out = int(y.shape[3])
        if channel is None:
            channels = range(num_out)
        else:
            channels = [_checks.integer("channel", channel, 0, num_out - 1)]
        targets = [y[0, row, col, k] for k in channels]
    total = np.zeros(x.shape[1:3], dtype=np.float32)
    for target in targets:
        grad = tape.gradient(target, x)
        if grad is not None:
            total += np.abs(grad.numpy()[0]).sum(axis=-1)
    del tape
    return total


def influence_bbox(influence, threshold=0.0):
    """Bounding box of the entries of an influence map above ``threshold * max``.

    Args:
        influence: array (H, W), e.g. from :func:`influence_map`.
        threshold: fraction of the map's maximum in [0, 1). 0 keeps every non-zero entry
            (the region the output depends on at all); e.g. 0.05 gives a rough *effective*
            receptive field (Luo et al. 2016).

    Returns:
        ``(top, left, bottom, right)`` with ``bottom``/``right`` exclusive, so the box is
        ``influence[top:bottom, left:right]`` and its height is ``bottom - top``.

    Raises:
        ValueError: ``influence`` not 2-D, ``threshold`` outside [0, 1), or no entry above it.

    Example:
        >>> m = np.zeros((8, 8)); m[2:5, 3:7] = 1.0
        >>> influence_bbox(m)
        (2, 3, 5, 7)
    """
    m = np.abs(np.asarray(influence, dtype=np.float64))
    if m.ndim != 2:
        raise ValueError(f"influence must be a 2-D (H, W) array, got shape {m.shape}")
    threshold = _checks.fraction("threshold", threshold)
    peak = m.max() if m.size else 0.0
    if not peak > 0:
        raise ValueError("influence has no non-zero entry: the output does not depend on this input")
    rows, cols = np.nonzero(m > threshold * peak)
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1
