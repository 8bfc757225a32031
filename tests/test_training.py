"""Tests for gruseg.training: determinism, atomic checkpoints, resume and early stopping.

Training is model-agnostic, so most tests use a tiny convolutional segmenter (a few hundred
weights, 16x16 images) to stay fast; one test trains a real ReNet2D model.
"""

import json

import keras
import numpy as np
import pytest

from gruseg.data.pipeline import batches
from gruseg.training import CHECKPOINT_DIR, compile_segmenter, load_checkpoint_state, set_seed, train

NUM_CLASSES = 3


def _data(n=8, size=16, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((n, size, size, 3)).astype("float32")
    masks = (images[..., 0] * NUM_CLASSES).astype("int32").clip(0, NUM_CLASSES - 1)
    return images, masks


def _datasets(batch_size=4):
    """Training and validation batches on any backend (tf.data: test_train_accepts_a_tf_data_dataset)."""
    images, masks = _data()
    vi, vm = _data(n=4, seed=1)
    return batches(images, masks, batch_size=batch_size), batches(vi, vm, batch_size=batch_size)


def _model(seed=0, learning_rate=1e-2):
    set_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(NUM_CLASSES, 1, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    return compile_segmenter(model, NUM_CLASSES, learning_rate=learning_rate)


def _ckpt_files(out_dir):
    return sorted(p.name for p in (out_dir / CHECKPOINT_DIR).iterdir())


def test_set_seed_repeats_random_numbers():
    set_seed(3)
    a = keras.ops.convert_to_numpy(keras.random.uniform((4,)))
    b = np.random.rand(2)
    set_seed(3)
    np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(keras.random.uniform((4,))))
    np.testing.assert_array_equal(b, np.random.rand(2))
    set_seed(4)
    assert not np.array_equal(a, keras.ops.convert_to_numpy(keras.random.uniform((4,))))


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_set_seed_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 4294967295\]"):
        set_seed(seed)


def test_compile_segmenter_uses_adam_or_adamw_and_segmentation_metrics():
    model = _model()
    assert type(model.optimizer).__name__ == "Adam"
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    history = train(model, *_datasets(), epochs=1, verbose=0)
    assert any("iou" in key for key in history), history.keys()
    set_seed(0)
    inputs = keras.Input((8, 8, 3))
    model2 = keras.Model(inputs, keras.layers.Conv2D(NUM_CLASSES, 1, activation="softmax")(inputs))
    compile_segmenter(model2, NUM_CLASSES, weight_decay=1e-4)
    assert type(model2.optimizer).__name__ == "AdamW"


@pytest.mark.parametrize("kwargs, match", [
    ({"num_classes": 1}, "num_classes must be an integer >= 2"),
    ({"num_classes": 5}, "num_classes must match the model's output"),
    ({"learning_rate": 0}, "learning_rate must be a positive number"),
    ({"weight_decay": -1.0}, "weight_decay must be a non-negative number"),
])
def test_compile_segmenter_rejects_bad_arguments(kwargs, match):
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(NUM_CLASSES, 1, activation="softmax")(inputs))
    args = {"num_classes": NUM_CLASSES, **kwargs}
    with pytest.raises(ValueError, match=match):
        compile_segmenter(model, **args)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs must be a positive integer, got 0"),
    ({"epochs": -2}, "epochs must be a positive integer"),
    ({"epochs": 2.0}, "epochs must be a positive integer"),
    ({"patience": 0}, "patience must be None or a positive integer"),
    ({"verbose": 3}, "verbose must be"),
    ({"resume": True}, "resume=True needs out_dir"),
])
def test_train_rejects_bad_arguments(kwargs, match):
    model = _model()
    train_ds, val_ds = _datasets()
    with pytest.raises(ValueError, match=match):
        train(model, train_ds, val_ds, **{"epochs": 1, "verbose": 0, **kwargs})


def test_train_rejects_uncompiled_model():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(NUM_CLASSES, 1, activation="softmax")(inputs))
    with pytest.raises(ValueError, match="compile_segmenter"):
        train(model, _datasets()[0], epochs=1, verbose=0)


def test_same_seed_gives_identical_history_and_weights():
    runs = []
    for _ in range(2):
        model = _model(seed=7)
        history = train(model, *_datasets(), epochs=2, seed=7, verbose=0)
        runs.append((history, model.get_weights()))
    (h1, w1), (h2, w2) = runs
    assert h1 == h2
    assert h1["epoch"] == [1, 2] and len(h1["loss"]) == 2 and len(h1["val_loss"]) == 2
    for a, b in zip(w1, w2, strict=True):
        np.testing.assert_array_equal(a, b)
    other = _model(seed=8)
    h3 = train(other, *_datasets(), epochs=2, seed=8, verbose=0)
    assert h3["loss"] != h1["loss"]


def test_checkpoint_is_atomic_complete_and_loadable(tmp_path):
    model = _model()
    history = train(model, *_datasets(), epochs=2, out_dir=tmp_path, verbose=0)
    files = _ckpt_files(tmp_path)
    assert files == ["epoch_0002.keras", "state.json"], files  # older epoch removed, no temp left
    state = load_checkpoint_state(tmp_path)
    assert state["epoch"] == 2 and state["checkpoint"] == "epoch_0002.keras"
    assert state["history"] == history
    loaded = keras.saving.load_model(tmp_path / CHECKPOINT_DIR / "epoch_0002.keras")
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # the optimizer state travels with the checkpoint: 2 epochs x 2 batches = 4 steps
    assert int(loaded.optimizer.iterations) == 4


def test_failed_write_leaves_previous_checkpoint_and_no_temp(tmp_path, monkeypatch):
    model = _model()
    train(model, *_datasets(), epochs=1, out_dir=tmp_path, verbose=0)
    before = _ckpt_files(tmp_path)
    state_before = (tmp_path / CHECKPOINT_DIR / "state.json").read_text()

    def broken_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        train(model, *_datasets(), epochs=3, out_dir=tmp_path, resume=True, verbose=0)
    assert _ckpt_files(tmp_path) == before
    assert (tmp_path / CHECKPOINT_DIR / "state.json").read_text() == state_before


def test_resume_continues_from_last_completed_epoch(tmp_path):
    full_model = _model()
    full = train(full_model, *_datasets(), epochs=3, verbose=0)

    first = _model()
    train(first, *_datasets(), epochs=1, out_dir=tmp_path, verbose=0)
    (tmp_path / CHECKPOINT_DIR / ".tmp-crashed.keras").write_bytes(b"junk")  # left by a kill
    second = _model(seed=123)  # fresh weights: must be replaced by the checkpoint's
    seen_epochs = []
    spy = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen_epochs.append(epoch))
    history = train(second, *_datasets(), epochs=3, out_dir=tmp_path, resume=True, verbose=0, callbacks=[spy])
    assert seen_epochs == [1, 2]  # initial_epoch = 1
    assert history["epoch"] == [1, 2, 3] and len(history["loss"]) == 3 == len(history["val_loss"])
    assert int(second.optimizer.iterations) == 3 * 2
    assert _ckpt_files(tmp_path) == ["epoch_0003.keras", "state.json"]
    # same data order and seeds: resumed run follows the uninterrupted run closely
    np.testing.assert_allclose(history["loss"], full["loss"], rtol=1e-4)
    # resuming a finished run trains nothing and returns the full history
    again = train(second, *_datasets(), epochs=3, out_dir=tmp_path, resume=True, verbose=0, callbacks=[spy])
    assert again == history and seen_epochs == [1, 2]


def test_checkpoint_state_naming_a_missing_file_is_a_clear_error(tmp_path):
    from gruseg.errors import GrusegError

    train(_model(), *_datasets(), epochs=1, out_dir=tmp_path, verbose=0)
    (tmp_path / CHECKPOINT_DIR / "epoch_0001.keras").unlink()
    with pytest.raises(GrusegError, match="epoch_0001.keras, which is missing; delete .* to start over"):
        train(_model(), *_datasets(), epochs=2, out_dir=tmp_path, resume=True, verbose=0)


def test_resume_without_checkpoint_starts_at_epoch_zero(tmp_path):
    history = train(_model(), *_datasets(), epochs=1, out_dir=tmp_path, resume=True, verbose=0)
    assert history["epoch"] == [1]


class _ScriptedLoss(keras.callbacks.Callback):
    """Overwrite the monitored value with a scripted sequence (early stopping sees these)."""

    def __init__(self, values, key="val_loss"):
        super().__init__()
        self.values, self.key = values, key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


def test_early_stopping_stops_and_restores_best_weights(tmp_path):
    model = _model()
    snapshots = {}
    values = [1.0, 0.5, 0.7, 0.8, 0.9, 0.95]  # best at epoch 2, then 2 epochs without improvement

    class Snap(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots[epoch + 1] = [w.copy() for w in self.model.get_weights()]

    history = train(model, *_datasets(), epochs=6, out_dir=tmp_path, patience=2, verbose=0,
                    callbacks=[_ScriptedLoss(values), Snap()])
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["val_loss"] == pytest.approx(values[:4])
    assert not np.array_equal(snapshots[4][0], snapshots[2][0])
    for a, b in zip(model.get_weights(), snapshots[2], strict=True):
        np.testing.assert_array_equal(a, b)
    state = json.loads((tmp_path / CHECKPOINT_DIR / "state.json").read_text())
    assert state["stopped_early"] and state["best_epoch"] == 2 and state["epoch"] == 4
    assert (tmp_path / CHECKPOINT_DIR / "best.weights.h5").is_file()
    # a resume after early stopping trains nothing more and restores the best weights from disk
    fresh = _model(seed=99)
    again = train(fresh, *_datasets(), epochs=6, out_dir=tmp_path, patience=2, resume=True, verbose=0)
    assert again == history
    for a, b in zip(fresh.get_weights(), snapshots[2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_state_survives_resume(tmp_path):
    values = [1.0, 0.5, 0.7, 0.8, 0.9, 0.95]
    train(_model(), *_datasets(), epochs=3, out_dir=tmp_path, patience=2, verbose=0,
          callbacks=[_ScriptedLoss(values)])  # epoch 3 is the first without improvement
    history = train(_model(), *_datasets(), epochs=6, out_dir=tmp_path, patience=2, resume=True, verbose=0,
                    callbacks=[_ScriptedLoss(values)])
    assert history["epoch"] == [1, 2, 3, 4]  # stops where an uninterrupted run stops


def test_train_with_renet_model_and_checkpoint_reload(tmp_path):
    from gruseg.layers import ReNet2D

    set_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = ReNet2D(2)(inputs)
    outputs = keras.layers.Conv2D(NUM_CLASSES, 1, activation="softmax")(x)
    model = compile_segmenter(keras.Model(inputs, outputs), NUM_CLASSES)
    history = train(model, *_datasets(), epochs=1, out_dir=tmp_path, verbose=0)
    assert np.isfinite(history["loss"][0])
    loaded = keras.saving.load_model(tmp_path / CHECKPOINT_DIR / "epoch_0001.keras", safe_mode=True)
    x = _data(n=2)[0]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_train_accepts_a_tf_data_dataset():
    tf = pytest.importorskip("tensorflow")
    images, masks = _data()
    vi, vm = _data(n=4, seed=1)
    train_ds = tf.data.Dataset.from_tensor_slices((images, masks)).batch(4)
    val_ds = tf.data.Dataset.from_tensor_slices((vi, vm)).batch(4)
    history = train(_model(), train_ds, val_ds, epochs=2, verbose=0)
    assert history["epoch"] == [1, 2] and np.isfinite(history["val_loss"]).all()
