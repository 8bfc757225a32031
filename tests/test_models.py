"""Tests for gruseg.models: the builders, the name table and the article's corrected model."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from gruseg.errors import GrusegError  # noqa: E402
from gruseg.models import (  # noqa: E402
    MODEL_BUILDERS, build_article_model, build_model, build_renet_unet, build_reseg, build_seed_model, build_unet,
    size_multiple,
)

TINY = {
    "reseg": dict(filters=(4, 6), renet_units=(3,)),
    "reseg-mingru": dict(filters=(4, 6), renet_units=(3, 2), sweep="mingru"),
    "unet": dict(base_filters=4, depth=2),
    "article": dict(units=4, filters=(4, 6)),
    "renet-unet": dict(base_filters=4, depth=2, renet_units=3),
}
BUILD = {
    "reseg": build_reseg, "reseg-mingru": build_reseg, "unet": build_unet, "article": build_article_model,
    "renet-unet": build_renet_unet,
}


def _tiny(kind, input_shape=(16, 16, 3), num_classes=3, seed=0, **kw):
    return BUILD[kind](input_shape=input_shape, num_classes=num_classes, seed=seed, **{**TINY[kind], **kw})


def _images(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _predict(model, x):
    """Eager inference call: no tf.function tracing, which dominates these tiny tests' time."""
    return keras.ops.convert_to_numpy(model(x, training=False))


def _randomize(model, seed=0):
    """Random positive weights everywhere (BN variances included), so a round trip that dropped or
    mixed up any weight would change the predictions."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) / max(1, w.shape[0]) ** 0.5
                       for w in model.get_weights()])


@pytest.mark.parametrize("kind", list(TINY))
def test_outputs_are_probabilities_at_input_resolution(kind):
    model = _tiny(kind)
    assert model.output_shape == (None, 16, 16, 3)
    for batch in (1, 3):
        probs = _predict(model, _images((batch, 16, 16, 3)))
        assert probs.shape == (batch, 16, 16, 3) and probs.dtype == np.float32
        assert np.all(probs >= 0)
        np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ["reseg", "unet", "article", "renet-unet"])
def test_unknown_size_models_take_any_allowed_size(kind):
    model = _tiny(kind, input_shape=(None, None, 3), num_classes=2)
    assert model.output_shape == (None, None, None, 2)
    for shape in [(1, 16, 24, 3), (2, 8, 32, 3)]:
        assert _predict(model, _images(shape)).shape == (*shape[:3], 2)


def test_article_model_article_call_builds_and_trains_one_step():
    assert build_seed_model is build_article_model  # the old name stays
    model = build_article_model((256, 256, 3), 2, seed=0)
    assert model.output_shape == (None, 256, 256, 2)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy())
    x = _images((1, 256, 256, 3))
    y = (x[..., 0] > 0.5).astype("int32")
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert _predict(model, x).shape == (1, 256, 256, 2)


def test_article_model_sweep_variants_and_layer_names():
    assert build_article_model((32, 32, 3), 2, units=8, sweep="mingru", seed=0).get_layer("mingru").output.shape[-1] == 8
    model = build_article_model((32, 32, 3), 2, units=8, sweep="renet", seed=0)
    names = [layer.name for layer in model.layers]
    assert "renet" in names and "upsample" in names and names[-1] == "probabilities"
    assert model.get_layer("renet").output.shape[-1] == 8
    assert "row_gru" in [layer.name for layer in build_article_model((32, 32, 3), units=8).layers]


def test_reseg_and_unet_defaults_have_matched_parameter_counts():
    reseg = build_reseg().count_params()
    assert 170_000 <= reseg <= 210_000
    for classes in (2, 11):  # the ReNet U-Net stays within 10 % of the U-Net it is compared with
        unet, renet_unet = build_unet(num_classes=classes).count_params(), build_renet_unet(num_classes=classes).count_params()
        assert abs(renet_unet - unet) / unet < 0.10, (classes, unet, renet_unet)
    for base_filters, depth in [(10, 3), (20, 2), (5, 4)]:
        unet = build_unet(base_filters=base_filters, depth=depth).count_params()
        assert abs(unet - reseg) / reseg < 0.15, (base_filters, depth, unet, reseg)


def test_reseg_layer_counts_follow_arguments():
    model = build_reseg((32, 32, 3), 2, filters=(4, 4, 4), renet_units=(2, 3, 4), seed=0)
    names = [layer.name for layer in model.layers]
    assert [n for n in names if n.startswith("renet")] == ["renet1", "renet2", "renet3"]
    assert [n for n in names if n.endswith("upconv")] == ["dec1_upconv", "dec2_upconv", "dec3_upconv"]
    assert model.get_layer("renet3").output.shape[-1] == 8
    mingru = build_reseg((32, 32, 3), 2, filters=(4,), renet_units=(2,), sweep="mingru", seed=0)
    assert "mingru1" in [layer.name for layer in mingru.layers]


@pytest.mark.parametrize("kind", list(TINY))
def test_same_seed_same_weights(kind):
    a, b, c = _tiny(kind, seed=3), _tiny(kind, seed=3), _tiny(kind, seed=4)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights(), strict=True))


@pytest.mark.parametrize("kind", list(TINY))
def test_get_config_round_trip(kind):
    model = _tiny(kind, input_shape=(None, None, 3))
    clone = keras.Model.from_config(model.get_config())
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    clone.set_weights(model.get_weights())
    x = _images((2, 16, 8, 3))
    np.testing.assert_allclose(_predict(clone, x), _predict(model, x), atol=1e-6)


@pytest.mark.parametrize("kind", ["reseg", "reseg-mingru", "article", "renet-unet"])
def test_keras_file_round_trip(kind, tmp_path):
    model = _tiny(kind, input_shape=(None, None, 3))
    x = _images((2, 16, 16, 3))
    _randomize(model)
    before = _predict(model, x)
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    np.testing.assert_array_equal(_predict(keras.saving.load_model(path), x), before)


# ------------------------------------------------------------------------------------------
# build_model and MODEL_BUILDERS
# ------------------------------------------------------------------------------------------
def test_model_builders_table():
    assert set(MODEL_BUILDERS) == {"reseg", "unet", "renet-unet", "article"}
    assert build_model("seed", (16, 16, 3), 2, units=2, filters=(2, 2)).name == "article_model"  # old name
    model = build_model("unet", (16, 16, 1), 4, base_filters=2, depth=1, seed=0)
    assert model.output_shape == (None, 16, 16, 4) and model.name == "unet"
    assert build_model("reseg", num_classes=3, renet_units=(2,)).output_shape == (None, None, None, 3)


def test_build_model_unknown_name_lists_known_names():
    with pytest.raises(GrusegError, match="unknown model 'segnet'; choose one of: article, renet-unet, reseg, unet"):
        build_model("segnet", (16, 16, 3), 2)


# ------------------------------------------------------------------------------------------
# bad arguments
# ------------------------------------------------------------------------------------------
BAD = [
    (build_unet, dict(input_shape=(30, 32, 3), depth=3), GrusegError, "height 30 is not divisible by 8.*e.g. 32"),
    (build_unet, dict(input_shape=(32, 22, 3), depth=2), GrusegError, "width 22 is not divisible by 4"),
    (build_reseg, dict(input_shape=(18, 18, 3)), GrusegError, "height 18 is not divisible by 4"),
    (build_seed_model, dict(input_shape=(250, 250, 3)), GrusegError, "height 250 is not divisible by 4"),
    (build_unet, dict(input_shape=(32, 32)), ValueError, "input_shape must be \\(height, width, channels\\)"),
    (build_unet, dict(input_shape=(32, 32, None)), ValueError, "input_shape channels .* must be a positive integer, got None"),
    (build_unet, dict(num_classes=1), ValueError, "num_classes must be an integer >= 2, got 1"),
    (build_unet, dict(base_filters=0), ValueError, "base_filters must be a positive integer, got 0"),
    (build_unet, dict(depth=2.0), ValueError, "depth must be a positive integer, got 2.0"),
    (build_unet, dict(batch_norm="no"), ValueError, "batch_norm must be True or False, got 'no'"),
    (build_reseg, dict(filters=()), ValueError, "filters must be a non-empty sequence of integers >= 1"),
    (build_reseg, dict(renet_units=(48, 0)), ValueError, "renet_units must be a non-empty sequence.*got \\(48, 0\\)"),
    (build_reseg, dict(sweep="lstm"), ValueError, "sweep must be one of 'renet', 'mingru'; got 'lstm'"),
    (build_reseg, dict(dropout=1.5), ValueError, "dropout must be a number in \\[0, 1\\), got 1.5"),
    (build_reseg, dict(reset_after=1), ValueError, "reset_after must be True or False, got 1"),
    (build_reseg, dict(seed="a"), ValueError, "seed must be None or an integer in \\[0, 4294967295\\], got 'a'"),
    (build_seed_model, dict(units=0), ValueError, "units must be a positive integer, got 0"),
    (build_seed_model, dict(filters=(32,)), ValueError, "filters must hold 2 integers"),
    (build_seed_model, dict(sweep="column"), ValueError, "sweep must be one of 'row', 'renet', 'mingru'; got 'column'"),
]


@pytest.mark.parametrize("builder,kwargs,error,message", BAD)
def test_bad_arguments(builder, kwargs, error, message):
    with pytest.raises(error, match=message):
        builder(**kwargs)


# ------------------------------------------------------------------------------------------
# BatchNorm momentum, the ReNet U-Net, the size a model needs
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(TINY))
def test_bn_momentum_reaches_every_batch_norm(kind):
    for momentum in (0.9, 0.5):
        model = _tiny(kind, bn_momentum=momentum)
        norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        assert norms and {layer.momentum for layer in norms} == {momentum}


def test_renet_unet_has_a_global_receptive_field_and_unet_skips():
    """The far corner's output depends on input pixel (0, 0) in the ReNet U-Net, not in the U-Net.

    Measured with a gradient (a nudge's effect can fall below float32 resolution after a long
    sweep; a gradient of 1e-30 is still exactly non-zero, and exactly zero outside the U-Net's
    receptive field).
    """
    tf = pytest.importorskip("tensorflow")  # GradientTape

    renet, unet = (build(input_shape=(64, 64, 3), num_classes=2, base_filters=4, depth=2, seed=0)
                   for build in (lambda **k: build_renet_unet(renet_units=4, **k), build_unet))
    x = tf.constant(_images((1, 64, 64, 3)))
    for model, reaches_all in ((renet, True), (unet, False)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            corner = model(x, training=False)[0, -1, -1, 1]
        grad = np.abs(tape.gradient(corner, x).numpy()[0]).max(-1)
        assert (grad[0, 0] > 0) == reaches_all, model.name
    names = [layer.name for layer in renet.layers]
    assert "renet" in names and "up1_skip" in names and "bottleneck_in_conv" in names


def test_renet_unet_patches_and_sweep_order():
    model = build_renet_unet((32, 32, 3), 3, base_filters=4, depth=2, renet_units=2, patch_size=2,
                             order="columns_first", seed=0)
    assert model.output_shape == (None, 32, 32, 3)
    assert model.get_layer("renet").order == "columns_first" and size_multiple(model) == 8
    with pytest.raises(GrusegError, match="height 20 is not divisible by 8"):
        build_renet_unet((20, 32, 3), 2, depth=2, patch_size=2)


@pytest.mark.parametrize("kind, multiple", [("reseg", 4), ("unet", 4), ("article", 4), ("renet-unet", 4)])
def test_size_multiple_reads_the_downsampling(kind, multiple):
    assert size_multiple(_tiny(kind, input_shape=(None, None, 3))) == multiple
