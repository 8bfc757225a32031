"""Receptive fields: the closed-form recurrence (nominal for a U-Net), the exact U-Net window traced
through the index arithmetic, and gradients that vanish exactly outside it."""

from fractions import Fraction

import numpy as np
import pytest

from gruseg.book.receptive_field import (
    influence_bbox,
    influence_map,
    receptive_field_size,
    receptive_field_growth,
    unet_max_receptive_field,
    unet_receptive_field,
    unet_window,
)


# ---------------------------------------------------------------- theory (no TensorFlow)

def test_single_pixel_and_plain_conv_stack():
    assert receptive_field_size([]) == 1
    assert receptive_field_size([3]) == 3
    assert receptive_field_size([3] * 5) == 11          # 1 + 5 * 2
    assert receptive_field_size([5, 5]) == 9


def test_growth_with_pooling_doubles_later_steps():
    # conv conv pool conv conv pool conv: steps of 2, 2, 1, then 4, 4, 2, then 8
    assert receptive_field_growth([3, 3, 2, 3, 3, 2, 3], [1, 1, 2, 1, 1, 2, 1]) == [1, 3, 5, 6, 10, 14, 16, 24]


def test_dilation_widens_the_kernel():
    assert receptive_field_size([3, 3, 3], dilations=[1, 2, 4]) == 1 + 2 + 4 + 8
    assert receptive_field_size([3], dilations=[3]) == receptive_field_size([7])


def test_upsampling_only_halves_the_jump():
    # pool then upsample: the window stays 2 wide, and a following 3x3 conv adds 2 (jump back to 1)
    assert receptive_field_size([2, 1, 3], [2, 0.5, 1]) == 4
    assert receptive_field_size([2, 1, 3], [2, Fraction(1, 2), 1]) == 4


@pytest.mark.parametrize("depth, expected", [(0, 5), (1, 18), (2, 44), (3, 96), (4, 200)])
def test_unet_closed_form(depth, expected):
    assert unet_receptive_field(depth) == expected
    # the docstring's sum, written out
    c, k, p = 2, 3, 2
    total = 1 + sum(p ** l * (2 * c * (k - 1) + (p - 1)) for l in range(depth)) + p ** depth * c * (k - 1)
    assert total == expected


@pytest.mark.parametrize("kwargs, match", [
    (dict(kernel_sizes=[3, 0]), r"kernel_sizes\[1\] must be a positive integer, got 0"),
    (dict(kernel_sizes=[3], strides=[0]), r"strides\[0\] must be a positive number"),
    (dict(kernel_sizes=[3], dilations=[-1]), r"dilations\[0\] must be a positive integer, got -1"),
    (dict(kernel_sizes=[3, 3], strides=[1]), r"strides must have one entry per layer \(2\), got 1"),
    (dict(kernel_sizes=3), r"kernel_sizes must be a sequence"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        receptive_field_size(**kwargs)


# ---------------------------------------------------------------- the exact U-Net window (no TensorFlow)

def _side(window):
    top, left, bottom, right = window
    return bottom - top, right - left


@pytest.mark.parametrize("depth, by_position", [
    (1, [18] * 2),
    (2, [44] * 4),
    (3, [92, 92, 100, 100, 100, 100, 92, 92]),
    (4, [188, 188] + [204] * 12 + [188, 188]),
])
def test_unet_window_depends_on_the_position_on_the_pooling_grid(depth, by_position):
    period = 2 ** depth
    assert [_side(unet_window(depth, (i, i)))[0] for i in range(period)] == by_position
    # the pattern repeats with the period of the grid, for rows and columns alike
    assert [_side(unet_window(depth, (7, i + 5 * period)))[1] for i in range(period)] == by_position
    assert unet_max_receptive_field(depth) == max(by_position)


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_nominal_value_is_the_average_and_not_a_bound(depth):
    sides = [_side(unet_window(depth, (i, 0)))[0] for i in range(2 ** depth)]
    assert np.mean(sides) == unet_receptive_field(depth)
    assert (unet_max_receptive_field(depth) > unet_receptive_field(depth)) == (depth >= 3)


def test_unet_window_respects_the_borders():
    assert unet_window(3, (81, 83), image_shape=(160, 160)) == (34, 34, 126, 134)     # 92 x 100
    assert unet_window(3, (0, 0), image_shape=(160, 160, 3)) == (0, 0, 46, 46)
    assert unet_window(4, (80, 80), image_shape=(160, 160)) == (0, 0, 160, 160)       # 204 > 160: all of it
    # unbounded, the same pixel sees the same window shifted
    top, left, bottom, right = unet_window(3, (81, 83))
    assert (bottom - top, right - left) == (92, 100) and (top, left) == (34, 34)


def test_unet_window_other_configurations():
    assert unet_window(0, (10, 10), kernel_size=5) == (6, 6, 15, 15)                 # two 5x5 convs: 9
    # one conv per level, by hand: output 0 reads up-sampled 0, +-1, i.e. bottleneck 0 and -1, each
    # [2j - 3, 2j + 4] (conv, pool, conv): [-5, 4], 10 pixels, as the recurrence says
    assert unet_window(1, (0, 0), convs_per_level=1) == (-5, -5, 5, 5)
    assert unet_receptive_field(1, convs_per_level=1) == 10
    assert unet_max_receptive_field(3, pool_size=2) == unet_max_receptive_field(3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(depth=3, pixel=(0, 0), image_shape=(100, 160)), r"image_shape height must be divisible by 8"),
    (dict(depth=3, pixel=(160, 0), image_shape=(160, 160)), r"pixel must lie inside the 160x160 output"),
    (dict(depth=3, pixel=(0, 0), image_shape=160), r"image_shape must be \(height, width\)"),
    (dict(depth=-1, pixel=(0, 0)), r"depth must be a non-negative integer, got -1"),
    (dict(depth=2, pixel=(0.5, 0)), r"pixel must be a \(row, col\) pair of integers"),
    (dict(depth=2, pixel=(0, 0), pool_size=1), r"pool_size must be an integer >= 2"),
])
def test_unet_window_refuses(kwargs, match):
    with pytest.raises(ValueError, match=match):
        unet_window(**kwargs)


def test_unet_bad_depth():
    with pytest.raises(ValueError, match="depth must be a non-negative integer, got -1"):
        unet_receptive_field(-1)


def test_bbox_exclusive_ends_and_threshold():
    m = np.zeros((8, 8))
    m[2:5, 3:7] = 0.1
    m[3, 4] = 1.0
    assert influence_bbox(m) == (2, 3, 5, 7)
    assert influence_bbox(m, threshold=0.5) == (3, 4, 4, 5)


@pytest.mark.parametrize("arg, kwargs, match", [
    (np.zeros((4, 4)), {}, "no non-zero entry"),
    (np.ones((4, 4, 1)), {}, "must be a 2-D"),
    (np.ones((4, 4)), {"threshold": 1.0}, r"threshold must be a number in \[0, 1\), got 1.0"),
])
def test_bbox_refuses(arg, kwargs, match):
    with pytest.raises(ValueError, match=match):
        influence_bbox(arg, **kwargs)


# ---------------------------------------------------------------- practice (Keras)

def _conv_stack(kernel_sizes, channels=2):
    """A tiny fully convolutional net of tanh convolutions with 'same' padding."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 1))
    x = inputs
    for k in kernel_sizes:
        x = keras.layers.Conv2D(channels, k, padding="same", activation="tanh")(x)
    return keras.Model(inputs, x)


def test_influence_is_zero_exactly_outside_the_theoretical_window():
    model = _conv_stack([3, 3, 3])    # three 3x3 convs: window 7
    image = np.random.default_rng(0).uniform(size=(16, 16, 1)).astype("float32")
    m = influence_map(model, image, pixel=(8, 5))
    assert m.shape == (16, 16) and m.dtype == np.float32
    top, left, bottom, right = influence_bbox(m)
    assert (top, left, bottom, right) == (5, 2, 12, 9)    # exactly the 7x7 window centred on (8, 5)
    assert np.count_nonzero(m) == 49


def test_influence_with_pooling_fits_in_the_window():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(2, 3, padding="same", activation="tanh")(inputs)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Conv2D(2, 3, padding="same", activation="tanh")(x)
    x = keras.layers.UpSampling2D(2)(x)
    model = keras.Model(inputs, x)
    rf = receptive_field_size([3, 2, 3, 1], [1, 2, 1, 0.5])       # 1 + 2 + 1 + 4 = 8
    assert rf == 8
    image = np.random.default_rng(1).uniform(size=(16, 16, 1)).astype("float32")
    for pixel in [(7, 7), (8, 9), (0, 15)]:
        top, left, bottom, right = influence_bbox(influence_map(model, image, pixel))
        assert bottom - top <= rf and right - left <= rf
        assert top <= pixel[0] < bottom and left <= pixel[1] < right


def test_single_channel_and_softmax_sum_warning_case():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    logits = keras.layers.Conv2D(2, 3, padding="same")(inputs)
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    image = np.random.default_rng(2).uniform(size=(1, 8, 8, 1)).astype("float32")
    m0 = influence_map(model, image, (4, 4), channel=0)
    m1 = influence_map(model, image, (4, 4), channel=1)
    # two classes: p0 = 1 - p1, so the two gradients have the same magnitude
    np.testing.assert_allclose(m0, m1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(influence_map(model, image, (4, 4)), m0 + m1, rtol=1e-5)
    assert influence_bbox(m0) == (3, 3, 6, 6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(pixel=(8, 0)), r"pixel must lie inside the 8x8 output, got \(8, 0\)"),
    (dict(pixel=(1.5, 0)), r"pixel must be a \(row, col\) pair of non-negative integers, got \(1.5, 0\)"),
    (dict(pixel=(0, 0), channel=3), r"channel must be an integer in \[0, 1\], got 3"),
])
def test_influence_map_refuses(kwargs, match):
    keras = pytest.importorskip("keras")
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    with pytest.raises(ValueError, match=match):
        influence_map(model, np.zeros((8, 8, 1), "float32"), **kwargs)


def test_influence_map_refuses_bad_image():
    keras = pytest.importorskip("keras")
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, C\) or \(1, H, W, C\)"):
        influence_map(model, np.zeros((2, 8, 8, 1), "float32"), (0, 0))


@pytest.mark.parametrize("depth, size, pixels", [
    (2, 96, [(48, 48), (0, 95), (13, 70)]),
    (3, 160, [(81, 83), (80, 80), (0, 0), (159, 3)]),
    (4, 224, [(115, 110), (112, 112), (10, 200)]),
])
def test_exact_window_is_what_gradients_measure_on_build_unet(depth, size, pixels):
    """The traced window is exactly the non-zero region of the influence map of a real build_unet model."""
    pytest.importorskip("keras")
    from gruseg.models import build_unet

    model = build_unet(input_shape=(size, size, 3), depth=depth, seed=3)
    image = np.random.default_rng(depth).uniform(size=(size, size, 3)).astype("float32")
    for pixel in pixels:
        measured = influence_bbox(influence_map(model, image, pixel))
        assert measured == unet_window(depth, pixel, image_shape=(size, size)), pixel
    if depth >= 3:   # a pixel that sees more than the nominal window
        assert max(_side(influence_bbox(influence_map(model, image, pixels[0])))) > unet_receptive_field(depth)
