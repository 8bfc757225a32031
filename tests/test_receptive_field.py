"""Receptive fields: the closed-form recurrence, and gradients that vanish exactly outside it."""

from fractions import Fraction

import numpy as np
import pytest

from gruseg.book.receptive_field import (
    influence_bbox,
    influence_map,
    receptive_field_size,
    receptive_field_growth,
    unet_receptive_field,
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
