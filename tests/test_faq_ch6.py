"""Chapter 6's instruments (gruseg.book.faq) and the chapter's own rules.

The helpers: ``train_row_model`` seeds, trains and scores one row model; ``row_update_gate`` reads the
update gate of its GRU, the same one Keras computes; ``overfit_run`` / ``inference_losses`` train a
small ReSeg and measure the losses the chapter compares. The notebook checks are cheap and
structural: no carriage return where ``\\rceil`` was meant, the GRU *mitigates* vanishing gradients,
and the chapter ends with its Chinese summary that names mini-batch SGD.
"""

import json
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from gruseg.book.analysis import make_recurrent_layer  # noqa: E402
from gruseg.book.faq import (VOID, RowRun, inference_losses, make_row_memory, overfit_run, row_model,  # noqa: E402
                             row_update_gate, train_row_model)
from gruseg.gru import gru_sequence, gru_weights_from_keras  # noqa: E402

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "06_faq.ipynb"


def _tiny_memory(n=4, width=8, seed=0):
    return (*make_row_memory(n, rows=2, width=width, seed=seed), *make_row_memory(2, rows=2, width=width, seed=seed + 1))


def test_train_row_model_trains_scores_and_times():
    run = train_row_model(make_recurrent_layer("gru", 3, seed=0, return_sequences=True), *_tiny_memory(),
                          steps=12, batch_size=2, ignore_class=VOID)
    assert isinstance(run, RowRun)
    assert run.model.output_shape == (None, 2, 8, 2)
    assert run.params == run.model.count_params()
    assert 0.0 <= run.miou <= 1.0 and run.step_ms > 0


def test_train_row_model_is_repeatable_with_the_same_seed():
    def weights(seed):
        run = train_row_model(make_recurrent_layer("gru", 2, seed=seed, return_sequences=True), *_tiny_memory(),
                              steps=3, batch_size=2, seed=seed, ignore_class=VOID)
        return run.model.get_weights()

    first, again, other = weights(0), weights(0), weights(1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_row_update_gate_is_the_gate_keras_computes():
    """z from row_update_gate reproduces the layer's own states when fed to the NumPy GRU."""
    keras.utils.set_random_seed(0)
    gru = make_recurrent_layer("gru", 3, seed=0, update_bias=-2.0, return_sequences=True)
    model = row_model(gru, (2, 5, 3))
    images = np.random.default_rng(0).random((2, 2, 5, 3)).astype("float32")
    z = row_update_gate(model, images)
    assert z.shape == (2, 2, 5, 3) and ((z > 0) & (z < 1)).all()
    conv_layer = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    conv = keras.Model(model.inputs[0], conv_layer.output)(images)
    features = np.asarray(conv, "float64").reshape(4, 5, -1)
    states, gates = gru_sequence(features, gru_weights_from_keras(gru), return_gates=True)
    np.testing.assert_allclose(gates["z"].reshape(2, 2, 5, 3), z, atol=1e-12)
    np.testing.assert_allclose(states, np.asarray(gru(features.astype("float32"))), atol=1e-5)


def test_row_update_gate_refuses_a_model_without_one_gru():
    model = row_model(make_recurrent_layer("rnn", 2, return_sequences=True), (2, 5, 3))
    with pytest.raises(ValueError, match="exactly one keras.layers.GRU, found 0"):
        row_update_gate(model, np.zeros((1, 2, 5, 3)))


def test_overfit_run_records_both_losses_every_validation_period():
    from gruseg.data import make_shapes

    images, masks = make_shapes(4, size=16, seed=0)
    val_images, val_masks = make_shapes(2, size=16, seed=1)
    model, history = overfit_run(images, masks, val_images, val_masks, regularised=True, epochs=4,
                                 validation_freq=2, batch_size=2)
    assert len(history["loss"]) == len(history["val_loss"]) == 2
    losses = inference_losses(model, images, masks, val_images, val_masks)
    assert set(losses) == {"train_loss", "val_loss", "gap", "val_miou"}
    assert losses["gap"] == pytest.approx(losses["val_loss"] - losses["train_loss"])
    with pytest.raises(ValueError, match="multiple of validation_freq"):
        overfit_run(images, masks, val_images, val_masks, regularised=False, epochs=5, validation_freq=2)


def _chapter():
    return json.loads(CHAPTER.read_text(encoding="utf-8"))


def test_chapter_has_no_carriage_return_where_rceil_was_meant():
    sources = ["".join(c["source"]) for c in _chapter()["cells"]]
    assert not [i for i, s in enumerate(sources) if "\r" in s]
    assert any("\\rceil" in s for s in sources)


def test_chapter_says_the_gru_mitigates_vanishing_gradients_and_does_not_solve_them():
    prose = "\n".join("".join(c["source"]) for c in _chapter()["cells"] if c["cell_type"] == "markdown")
    assert "mitigates" in prose and "stays (nearly) closed" in prose
    assert "solves vanishing" not in prose and "solves the vanishing" not in prose


def test_chapter_ends_with_a_chinese_summary_naming_mini_batch_sgd():
    last = _chapter()["cells"][-1]
    text = "".join(last["source"])
    assert last["cell_type"] == "markdown" and text.startswith("## 中文摘要")
    assert "批量梯度下降" in text and "小批量随机梯度下降" in text
