"""Real-image features end to end: void labels, class weights, HxW sizes, --resize, and CamVid on the command line.

Fixtures are small folders written here (random photographs, masks with a void value); the CamVid run
uses a tiny model at 24x32 so that the whole train + evaluate takes seconds.
"""

import json

import keras
import numpy as np
import pytest
from PIL import Image

from gruseg.cli import main
from gruseg.data.camvid import CAMVID_CLASSES, CAMVID_VOID
from gruseg.inference import predict_labels
from gruseg.losses import SegmentationLoss, median_frequency_weights
from gruseg.metrics import (confusion_matrix, iou_per_class, mean_dice, mean_iou, pixel_accuracy,
                            segmentation_metrics, segmentation_report)

UNET = ["--model", "unet", "--model-arg", "base_filters=2", "--model-arg", "depth=1", "--batch-size", "4"]
TINY_RENET_UNET = ["--model", "renet-unet", "--model-arg", "base_filters=2", "--model-arg", "renet_units=2",
                   "--batch-size", "16"]


def _void_folder(root, n=6, shape=(12, 20), void=255, classes=3, seed=0):
    """images/ + masks/: labels 0..classes-1 by brightness bands, a void border of ``void`` two pixels wide."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        image = (rng.random((*shape, 3)) * 255).astype(np.uint8)
        mask = (image[..., 0].astype(int) * classes // 256).astype(np.uint8)
        mask[:2] = void
        Image.fromarray(image).save(root / "images" / f"p{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"p{i}.png")
    return root


# ------------------------------------------------------------------------------ metrics with void


Y_TRUE = np.array([[[0, 0, 1, 11],
                    [1, 2, 11, 11]]])
Y_PRED = np.array([[[0, 1, 1, 2],
                    [1, 2, 0, 0]]])          # the three predictions on void pixels are never scored


def test_numpy_metrics_leave_void_out_by_hand():
    # scored pixels: (0,0) (0,1) (1,1) (1,1) (2,2): class 0 TP1 FN1; class 1 TP2 FP1; class 2 TP1
    np.testing.assert_array_equal(confusion_matrix(Y_TRUE, Y_PRED, 3, ignore_class=11),
                                  [[1, 1, 0], [0, 2, 0], [0, 0, 1]])
    np.testing.assert_allclose(iou_per_class(Y_TRUE, Y_PRED, 3, ignore_class=11), [1 / 2, 2 / 3, 1.0])
    assert mean_iou(Y_TRUE, Y_PRED, 3, ignore_class=11) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert pixel_accuracy(Y_TRUE, Y_PRED, 3, ignore_class=11) == pytest.approx(4 / 5)
    assert mean_dice(Y_TRUE, Y_PRED, 3, ignore_class=11) == pytest.approx((2 / 3 + 4 / 5 + 1) / 3)
    report = segmentation_report(Y_TRUE, Y_PRED, 3, class_names=["a", "b", "c"], ignore_class=11)
    assert report["void_pixels"] == 3 and report["num_pixels"] == 5 and report["ignore_class"] == 11
    assert report["per_class"]["a"] == {"iou": 0.5, "dice": pytest.approx(2 / 3), "support": 2, "predicted": 1}
    with pytest.raises(Exception, match="labels in \\[0, 11\\] but num_classes=3"):
        confusion_matrix(Y_TRUE, Y_PRED, 3)           # without ignore_class, 11 is not a class


def test_keras_metrics_with_a_void_label_beyond_the_classes_match_numpy():
    """ignore_class=11 with 11 classes (CamVid's case): the compiled metrics equal the NumPy references."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 12, (2, 6, 8))
    probs = rng.random((2, 6, 8, 11)).astype(np.float32)
    metrics = {m.name: m for m in segmentation_metrics(11, class_names=CAMVID_CLASSES, ignore_class=CAMVID_VOID)}
    for metric in metrics.values():
        metric.update_state(y, probs)
    pred = probs.argmax(-1)
    assert float(metrics["pixel_accuracy"].result()) == pytest.approx(pixel_accuracy(y, pred, 11, 11), abs=1e-6)
    assert float(metrics["mean_iou"].result()) == pytest.approx(mean_iou(y, pred, 11, 11), abs=1e-6)
    assert float(metrics["mean_dice"].result()) == pytest.approx(mean_dice(y, pred, 11, 11), abs=1e-6)
    np.testing.assert_allclose([float(metrics[f"iou_{c}"].result()) for c in CAMVID_CLASSES],
                               np.nan_to_num(iou_per_class(y, pred, 11, 11)), atol=1e-6)
    # void pixels predicted anything change nothing
    metric = segmentation_metrics(11, per_class=False, ignore_class=CAMVID_VOID)[1]
    other = probs.copy()
    other[y == CAMVID_VOID] = rng.random((int((y == CAMVID_VOID).sum()), 11))
    metric.update_state(y, other)
    assert float(metric.result()) == pytest.approx(float(metrics["mean_iou"].result()), abs=1e-6)


def test_predict_labels_never_emits_the_excluded_void_class():
    """A model with an output channel for void (label 2 of 3 here) that prefers it everywhere."""
    inputs = keras.Input((4, 4, 3))
    logits = keras.layers.Conv2D(3, 1, kernel_initializer="zeros",
                                 bias_initializer=keras.initializers.Constant([0.0, 0.5, 5.0]))(inputs)
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    images = np.zeros((2, 4, 4, 3), np.float32)
    assert (predict_labels(model, images) == 2).all()
    assert (predict_labels(model, images, exclude=2) == 1).all()
    assert (predict_labels(model, images, exclude=11) == 2).all()      # a void id beyond the outputs: no effect


# ------------------------------------------------------------------------------ the command line


def test_ignore_label_and_median_class_weights_train_and_evaluate(tmp_path, capsys):
    data = _void_folder(tmp_path / "data")
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--size", "12x20", "--epochs", "1", "--ignore-label", "255",
                 "--class-weights", "median", "--dice-weight", "0.5", "--val-fraction", "0.34", "--quiet",
                 "--out", str(out), *UNET]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    config, report = metrics["config"], metrics["report"]
    assert config["ignore_label"] == 255 and config["num_classes"] == 3 and config["class_weights"] == "median"
    assert config["size"] == [12, 20]
    assert report["ignore_class"] == 255 and report["void_pixels"] == 2 * 2 * 20       # 2 validation images
    assert report["num_pixels"] == 2 * 10 * 20 and list(report["per_class"]) == ["class_0", "class_1", "class_2"]
    # the saved loss carries the median-frequency weights of the 4 training masks
    model = keras.saving.load_model(out / "model.keras")
    assert isinstance(model.loss, SegmentationLoss) and model.loss.ignore_class == 255
    assert model.loss.dice_weight == 0.5
    from gruseg.data.sources import training_splits
    train, _ = training_splits(data=data, size=(12, 20), val_fraction=0.34, ignore_label=255)
    assert len(train) == 4
    np.testing.assert_allclose(model.loss.class_weights, median_frequency_weights(train.masks, 3, 255), rtol=1e-6)
    assert not np.allclose(model.loss.class_weights, 1.0)
    capsys.readouterr()
    # evaluate reads the void label and the size from the run
    assert main(["evaluate", "--model", str(out / "model.keras"), "--data", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["size"] == [12, 20] and report["void_pixels"] == 6 * 2 * 20 and report["num_pixels"] == 6 * 10 * 20


def test_without_ignore_label_the_void_value_is_refused_with_the_fix(tmp_path, capsys):
    data = _void_folder(tmp_path / "data")
    assert main(["train", "--data", str(data), "--size", "12x20", "--epochs", "1", "--out", str(tmp_path / "r"),
                 *UNET]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gruseg: error: ") and "\n" not in err
    assert "If 255 marks 'ignore' pixels" in err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_non_square_size_and_resize_crop_and_pad_on_the_command_line(tmp_path, capsys):
    data = _void_folder(tmp_path / "data", n=4, shape=(16, 32), void=9)
    for resize in ("crop", "pad"):
        out = tmp_path / resize
        assert main(["train", "--data", str(data), "--size", "8x8", "--resize", resize, "--ignore-label", "9",
                     "--epochs", "1", "--val-fraction", "0.25", "--quiet", "--out", str(out), *UNET]) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["config"]["resize"] == resize and metrics["config"]["size"] == [8, 8]
        assert metrics["config"]["class_weights"] == "none"      # a folder's default
        capsys.readouterr()
        assert main(["evaluate", "--model", str(out / "model.keras"), "--data", str(data), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        # crop: 16x32 -> 8x16 (nearest keeps source rows 1, 3, ...: one of the two void rows) -> centre 8x8;
        # pad: 16x32 -> 4x8 (source rows 2, 6, 10, 14: no void row) on 8x8 with 2 + 2 void rows
        assert report["void_pixels"] == 4 * (1 * 8 if resize == "crop" else 4 * 8)
    # pad with no void label: one line, exit 2
    assert main(["train", "--data", str(_void_folder(tmp_path / "plain", n=2, void=0)), "--size", "8",
                 "--resize", "pad", "--out", str(tmp_path / "p"), *UNET]) == 2
    assert "resize='pad' (--resize pad) fills each mask's border" in capsys.readouterr().err


def test_synthetic_sets_refuse_a_non_square_size(tmp_path, capsys):
    assert main(["train", "--size", "16x24", "--out", str(tmp_path / "s"), *UNET]) == 2
    assert "the synthetic dataset 'shapes' is square; pass one side, e.g. --size 24" in capsys.readouterr().err


@pytest.mark.slow  # ~10 s alone, ~30 s on the shared machine: 367 + 101 + 233 photographs through a tiny model
def test_camvid_train_and_evaluate_report_eleven_classes_with_void_excluded(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--dataset", "camvid", "--size", "24x32", "--epochs", "1", "--quiet", "--out", str(out),
                 *TINY_RENET_UNET]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["train_images"] == 367 and metrics["config"]["validation_images"] == 101
    assert metrics["config"]["ignore_label"] == CAMVID_VOID and len(metrics["config"]["colors"]) == 11
    assert metrics["config"]["class_weights"] == "median"        # CamVid's default: its rare classes need it
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out / "model.keras"), "--dataset", "camvid", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["data"] == "camvid test" and report["images"] == 233 and report["size"] == [24, 32]
    assert list(report["per_class"]) == list(CAMVID_CLASSES)
    assert report["ignore_class"] == 11 and report["void_pixels"] > 0
    assert report["num_pixels"] + report["void_pixels"] == 233 * 24 * 32
    assert all(c["support"] > 0 for c in report["per_class"].values())


# ------------------------------------------------------------------------------ pictures


def test_show_segmentations_draws_void_black_and_one_column_per_model():
    import matplotlib
    matplotlib.use("Agg")
    from gruseg.data.camvid import CAMVID_COLORS
    from gruseg.plotting import _colorize_with_void, show_segmentations

    masks = np.array([[[0, 3], [11, 10]]] * 2)
    fig = show_segmentations(np.zeros((2, 2, 2, 3)), masks, {"U-Net": masks, "ReNet U-Net": np.zeros((2, 2, 2), int)},
                             class_names=CAMVID_CLASSES, colors=CAMVID_COLORS, void_label=CAMVID_VOID)
    assert [ax.get_title() for ax in fig.axes[:4]] == ["photograph", "ground truth", "U-Net", "ReNet U-Net"]
    assert len(fig.axes) == 8 and len(fig.legends[0].get_texts()) == 11      # void is not in the legend
    picture = _colorize_with_void(masks[0], 11, CAMVID_COLORS, CAMVID_VOID, "m")
    np.testing.assert_allclose(picture[1, 0], 0.0)                                      # void: black
    np.testing.assert_allclose(picture[0, 1], CAMVID_COLORS[3])                         # road: SegNet's colour
    with pytest.raises(ValueError, match="holds class id 11, which is not below num_classes=11"):
        show_segmentations(np.zeros((1, 2, 2, 3)), masks[:1], class_names=CAMVID_CLASSES)   # void not declared
    with pytest.raises(ValueError, match=r"predictions\['a'\] must have one entry per image \(2\), got 1"):
        show_segmentations(np.zeros((2, 2, 2, 3)), masks, {"a": masks[:1]})


def test_plot_class_iou_bars_heights_are_the_ious():
    import matplotlib
    matplotlib.use("Agg")
    from gruseg.plotting import plot_class_iou

    fig = plot_class_iou({"U-Net": [0.5, 0.1, 0.0], "ReNet U-Net": [0.6, None, 0.2]}, ["sky", "pole", "sign"])
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, [0.5, 0.1, 0.0, 0.6, 0.0, 0.2])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["sky", "pole", "sign"]
    with pytest.raises(ValueError, match=r"ious\['a'\] must hold one IoU per class \(3\), got 2"):
        plot_class_iou({"a": [0.1, 0.2]}, ["sky", "pole", "sign"])


# ------------------------------------------------------------------------------ the ReNet U-Net's allocation


def test_renet_unet_bottleneck_filters_set_the_width_around_the_sweep():
    from gruseg.models import build_renet_unet, build_unet

    default = build_renet_unet((120, 160, 3), 11)
    assert default.count_params() == 197_447
    assert default.get_layer("bottleneck_in_conv").filters == 48 == default.get_layer("bottleneck_out_conv").filters
    assert default.get_layer("down1a_conv").filters == 12
    assert build_renet_unet((32, 32, 3), 2, base_filters=4, depth=2).get_layer("bottleneck_in_conv").filters == 8
    unet_width = build_renet_unet((120, 160, 3), 11, base_filters=10, bottleneck_filters=80)
    assert unet_width.count_params() == 178_245 and unet_width.get_layer("bottleneck_in_conv").filters == 80
    assert abs(default.count_params() - build_unet((120, 160, 3), 11).count_params()) / 190_021 < 0.05
    with pytest.raises(ValueError, match="bottleneck_filters must be a positive integer, got 0"):
        build_renet_unet((32, 32, 3), 2, bottleneck_filters=0)
