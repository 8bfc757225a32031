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

For a stack of convolutions and poolings the recurrence is exact: away from the borders every
output unit depends on exactly ``r_L x r_L`` input pixels. Once an upsampling is followed by
more layers it is only **nominal**: the fine grid no longer sits the same way on the coarse one
at every position, so some output pixels see more than ``r_L`` and others less.
:func:`unet_receptive_field` is the nominal value for a U-Net; :func:`unet_window` traces
``gruseg.build_unet``'s index arithmetic exactly (3x3 convolutions, 2x2 max-pooling, 2x2
stride-2 transposed convolutions, skip concatenations), and :func:`unet_max_receptive_field` is
the largest window any of its output pixels has. For ``build_unet`` the nominal value is the
average of the true windows over the positions of the pooling grid (checked for depths 1-5):
at depth 3 rows whose index is 2-5 modulo 8 see 100 input rows, the others 92, nominally 96.

The *empirical* influence of the input on one output pixel is measured with gradients
(:func:`influence_map`): outside the true window they are exactly zero, because the output does
not depend on those inputs at all.

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
    "unet_window",
    "unet_max_receptive_field",
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
        them fractional. Exact for convolutions and poolings; nominal once an upsampling is
        followed by other layers (see the module docstring).

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
    """Nominal receptive field of a U-Net output pixel: the recurrence along its deepest path.

    The path: at each of ``depth`` levels, ``convs_per_level`` convolutions then a
    ``pool_size`` pooling; the bottleneck's convolutions; then at each level back up, a
    ``pool_size``-times upsampling followed by ``convs_per_level`` convolutions::

        r = 1 + sum_{l<depth} p^l [2 c (k-1) + (p-1) + (u-1) p] + p^depth c (k-1)

    with ``c`` convs per level, kernel ``k``, pool ``p`` and upsampling kernel ``u`` (1 for
    nearest-neighbour or a transposed convolution whose kernel equals its stride).

    This is a *nominal* size, not a bound: the upsamplings do not sit evenly on the pooling
    grid, so an output pixel's true window depends on its position. For ``gruseg.build_unet``
    the nominal value is the average of the true windows over positions, and from depth 3 on
    some pixels see more (100 rows at depth 3, 204 at depth 4): :func:`unet_window` and
    :func:`unet_max_receptive_field` give the exact numbers.

    Args:
        depth: number of poolings (non-negative integer).
        convs_per_level: convolutions per level (and in the bottleneck).
        kernel_size: convolution kernel side.
        pool_size: pooling size = stride, and the upsampling factor.
        up_kernel: kernel side of the upsampling, counted at the coarse resolution.

    Returns:
        int, the nominal window side in input pixels.

    Example:
        >>> unet_receptive_field(2), unet_receptive_field(3)   # 3x3 convs, two per level, 2x2 poolings
        (44, 96)
        >>> unet_max_receptive_field(3)                          # what the widest-seeing pixels really see
        100
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


def _unet_extent(depth, size, convs_per_level, kernel_size, pool_size):
    """Along one axis of length ``size`` (None: unbounded), a function from an output index of a
    ``build_unet``-shaped network to the (first, last) input index it depends on (None if none).

    Traces the layers' index arithmetic: a 'same' convolution of kernel ``k`` reads indices
    ``i - (k-1)//2 .. i + k//2`` that lie inside the map (padding depends on nothing); a
    ``p x p`` max-pool reads ``p*i .. p*i + p-1``; a ``p x p`` stride-``p`` transposed
    convolution writes output ``o`` from input ``o // p`` alone; a concatenation depends on both
    of its inputs. Windows are intervals' hulls, which is exact for the bounding box.
    """
    lo_off, hi_off = -((kernel_size - 1) // 2), kernel_size // 2

    def hull(a, b):
        if a is None or b is None:
            return a if b is None else b
        return (min(a[0], b[0]), max(a[1], b[1]))

    def memoized(fn):
        cache = {}

        def g(i):
            if i not in cache:
                cache[i] = fn(i)
            return cache[i]
        return g

    def inside(i, n):
        return n is None or 0 <= i < n

    def conv(f, n):
        def g(i):
            out = None
            for d in range(lo_off, hi_off + 1):
                if inside(i + d, n):
                    out = hull(out, f(i + d))
            return out
        return memoized(g)

    def double_conv(f, n):
        for _ in range(convs_per_level):
            f = conv(f, n)
        return f

    def pool(f):
        def g(i):
            out = None
            for d in range(pool_size):
                out = hull(out, f(pool_size * i + d))
            return out
        return memoized(g)

    def level_size(level):
        return None if size is None else size // pool_size ** level

    x = memoized(lambda i: (i, i) if inside(i, size) else None)
    skips = []
    for level in range(depth):
        x = double_conv(x, level_size(level))
        skips.append(x)
        x = pool(x)
    x = double_conv(x, level_size(depth))
    for level in reversed(range(depth)):
        up = x
        x = double_conv(lambda o, up=up, skip=skips[level]: hull(up(o // pool_size), skip(o)), level_size(level))
    return x


def _unet_args(depth, convs_per_level, kernel_size, pool_size):
    return (_checks.non_negative_int("depth", depth), _checks.positive_int("convs_per_level", convs_per_level),
            _checks.positive_int("kernel_size", kernel_size), _checks.integer("pool_size", pool_size, 2))


def unet_window(depth, pixel, image_shape=None, convs_per_level=2, kernel_size=3, pool_size=2):
    """The exact window of input pixels that one output pixel of ``gruseg.build_unet`` depends on.

    Traces the network's index arithmetic layer by layer, along rows and along columns (the
    layers act on each axis separately): ``depth`` levels of ``convs_per_level`` 'same' ``k x k``
    convolutions and a ``p x p`` max-pool, the bottleneck's convolutions, then per level a
    ``p x p`` stride-``p`` transposed convolution, the skip concatenation and the convolutions;
    the 1x1 head adds nothing. With ``image_shape`` the borders are respected (zero padding
    depends on no pixel), so the result is what :func:`influence_bbox` of :func:`influence_map`
    measures on a built model; without it the image is unbounded.

    Args:
        depth: number of poolings (non-negative integer).
        pixel: ``(row, col)`` of the output pixel (any integers if ``image_shape`` is None).
        image_shape: ``(H, W)`` (or ``(H, W, C)``) of the input, H and W divisible by
            ``pool_size ** depth``; or None for an unbounded image.
        convs_per_level, kernel_size, pool_size: as in ``build_unet`` (3x3 convs, two per level,
            2x2 pools by default).

    Returns:
        ``(top, left, bottom, right)``, bottom/right exclusive, as :func:`influence_bbox` returns.

    Example:
        >>> unet_window(3, (81, 83), image_shape=(160, 160))   # 92 rows x 100 columns
        (34, 34, 126, 134)
        >>> [unet_window(3, (i, 0))[2] - unet_window(3, (i, 0))[0] for i in range(8)]   # by row index mod 8
        [92, 92, 100, 100, 100, 100, 92, 92]
    """
    depth, convs_per_level, kernel_size, pool_size = _unet_args(depth, convs_per_level, kernel_size, pool_size)
    if image_shape is None:
        try:
            row, col = _checks.int_tuple("pixel", pixel, minimum=-(1 << 62), length=2)
        except ValueError:
            raise ValueError(f"pixel must be a (row, col) pair of integers, got {pixel!r}") from None
        sizes = (None, None)
    else:
        if not isinstance(image_shape, (tuple, list)) or len(image_shape) not in (2, 3):
            raise ValueError(f"image_shape must be (height, width) or (height, width, channels), got {image_shape!r}")
        multiple = pool_size ** depth
        sizes = tuple(_checks.positive_int(f"image_shape {name}", v)
                      for name, v in zip(("height", "width"), image_shape[:2], strict=True))
        for name, v in zip(("height", "width"), sizes, strict=True):
            if v % multiple:
                raise ValueError(f"image_shape {name} must be divisible by {multiple} (pool_size ** depth), got {v}")
        row, col = _check_pixel(pixel, *sizes)
    (top, bottom), (left, right) = (_unet_extent(depth, n, convs_per_level, kernel_size, pool_size)(i)
                                    for i, n in zip((row, col), sizes, strict=True))
    return top, left, bottom + 1, right + 1


def unet_max_receptive_field(depth, convs_per_level=2, kernel_size=3, pool_size=2):
    """The largest window side any output pixel of ``gruseg.build_unet`` has (an unbounded image).

    The true maximum, from :func:`unet_window`: the window repeats with the period
    ``pool_size ** depth`` of the pooling grid, so one period is enough.

    Args:
        depth, convs_per_level, kernel_size, pool_size: as for :func:`unet_window`.

    Returns:
        int, in input pixels.

    Example:
        >>> [unet_max_receptive_field(d) for d in (1, 2, 3, 4)]   # nominal: 18, 44, 96, 200
        [18, 44, 100, 204]
    """
    depth, convs_per_level, kernel_size, pool_size = _unet_args(depth, convs_per_level, kernel_size, pool_size)
    extent = _unet_extent(depth, None, convs_per_level, kernel_size, pool_size)
    return max(hi - lo + 1 for lo, hi in map(extent, range(pool_size ** depth)))


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
    Exactly zero outside the window the output depends on (for ``gruseg.build_unet``,
    :func:`unet_window`; for convolutions and poolings, the recurrence's window); inside it
    usually positive, though a dead ReLU or a max-pool that passes the gradient to one input
    of its four can make some of it zero. Computed in inference mode (``training=False``).
    Needs TensorFlow.

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
