"""Tests for gruseg.plotting: colours, overlays and that every figure function returns a Figure."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from gruseg.plotting import (  # noqa: E402
    PALETTE, colorize_mask, overlay_mask, plot_gate_maps, plot_history, show_samples,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_colorize_mask_uses_fixed_palette():
    mask = np.array([[0, 1], [2, 3]])
    rgb = colorize_mask(mask, num_classes=4)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.float32
    np.testing.assert_array_equal(rgb[0, 0], PALETTE[0])
    np.testing.assert_array_equal(rgb[1, 1], PALETTE[3])
    # distinct classes get distinct colours
    assert len({tuple(c) for c in rgb.reshape(-1, 3)}) == 4


def test_colorize_mask_accepts_probabilities_and_wraps_palette():
    probs = np.zeros((1, 2, 3))
    probs[0, 0, 2] = 1.0
    probs[0, 1, 1] = 1.0
    rgb = colorize_mask(probs)
    np.testing.assert_array_equal(rgb[0, 0], PALETTE[2])
    many = colorize_mask(np.array([[len(PALETTE)]]))
    np.testing.assert_array_equal(many[0, 0], PALETTE[0])


def test_colorize_mask_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match="num_classes=2"):
        colorize_mask(np.array([[0, 2]]), num_classes=2)
    with pytest.raises(ValueError, match=">= 0"):
        colorize_mask(np.array([[-1, 0]]))


def test_overlay_mask_blends_and_keeps_background():
    image = np.full((2, 2, 3), 0.5, dtype=np.float32)
    mask = np.array([[0, 1], [1, 0]])
    out = overlay_mask(image, mask, alpha=0.25)
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], image[0, 0])
    np.testing.assert_allclose(out[0, 1], 0.75 * 0.5 + 0.25 * PALETTE[1], rtol=1e-6)
    tinted_all = overlay_mask(image, mask, alpha=1.0, background=None)
    np.testing.assert_allclose(tinted_all[0, 0], PALETTE[0])


def test_overlay_mask_accepts_uint8_and_custom_colors():
    image = np.full((2, 2, 3), 255, dtype=np.uint8)
    out = overlay_mask(image, np.ones((2, 2), int), alpha=0.5, colors=[(0, 0, 0), (255, 0, 0)])
    np.testing.assert_allclose(out[0, 0], [1.0, 0.5, 0.5])


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": 1.5}, "alpha"),
    ({"mask": np.zeros((3, 2), int)}, "height and width"),
])
def test_overlay_mask_rejects_bad_arguments(kwargs, match):
    args = {"image": np.zeros((2, 2, 3)), "mask": np.zeros((2, 2), int)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        overlay_mask(**args)


def test_show_samples_grid_with_and_without_predictions():
    rng = np.random.default_rng(0)
    images = rng.random((5, 8, 8, 3)).astype(np.float32)
    masks = rng.integers(0, 3, (5, 8, 8))
    fig = show_samples(images, masks, class_names=("bg", "a", "b"), max_items=3)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * 3
    probs = rng.random((5, 8, 8, 3))
    fig = show_samples(images, masks, preds=probs, max_items=2)
    assert len(fig.axes) == 2 * 4
    assert [ax.get_title() for ax in fig.axes[:4]] == ["image", "true mask", "prediction", "overlay (prediction)"]


def test_show_samples_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        show_samples(np.zeros((2, 4, 4, 3)), np.zeros((3, 4, 4), int))
    with pytest.raises(ValueError, match="class_names"):
        show_samples(np.zeros((1, 4, 4, 3)), np.full((1, 4, 4), 2), class_names=["a"])


def test_plot_history_draws_train_and_val_curves():
    history = {"epoch": [1, 2, 3], "loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7],
               "mean_iou": [0.2, 0.4, 0.5], "val_mean_iou": [0.1, 0.3, 0.4]}
    fig = plot_history(history)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    np.testing.assert_allclose(lines[1].get_ydata(), history["val_loss"])
    np.testing.assert_allclose(lines[0].get_xdata(), [1, 2, 3])


def test_plot_history_accepts_keras_history_like_object_and_names_missing_metric():
    class History:
        history = {"loss": [1.0, 0.5]}

    assert len(plot_history(History(), metrics="loss").axes) == 1
    with pytest.raises(ValueError, match="mean_iou.*available: \\['loss'\\]"):
        plot_history({"loss": [1.0]})


def test_plot_gate_maps_dict_list_and_stack_share_colour_scale():
    a, b = np.zeros((4, 5)), np.ones((4, 5))
    fig = plot_gate_maps({"z rows": a, "z cols": b})
    assert isinstance(fig, Figure)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert [im.get_clim() for im in images] == [(0.0, 1.0), (0.0, 1.0)]
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["z rows", "z cols"]
    fig = plot_gate_maps(np.stack([a, b, a, b, a]), titles=list("abcde"), ncols=2)
    assert sum(1 for ax in fig.axes if ax.images) == 5
    fig = plot_gate_maps(a)
    assert sum(1 for ax in fig.axes if ax.images) == 1


def test_plot_gate_maps_rejects_non_2d_maps_and_title_mismatch():
    with pytest.raises(ValueError, match="2-D"):
        plot_gate_maps([np.zeros((2, 2, 3))])
    with pytest.raises(ValueError, match="titles"):
        plot_gate_maps([np.zeros((2, 2))], titles=["a", "b"])
