"""Training: seeding, compiling a segmenter, and ``fit`` with atomic checkpoints and resume.

The loop is Keras' own ``model.fit``; this module adds what a tutorial run and the command line
need around it:

* :func:`set_seed` makes a run repeatable (same seed -> same weights, same history).
* :func:`compile_segmenter` attaches Adam/AdamW, sparse cross-entropy on probabilities and the
  segmentation metrics of :func:`gruseg.metrics.segmentation_metrics`.
* :func:`train` fits with validation, optional early stopping, a checkpoint after every epoch
  (written atomically) and resume from the last completed epoch.

Checkpoint layout (``out_dir/checkpoint/``)::

    epoch_0003.keras    the whole model after epoch 3: architecture, weights AND optimizer state
    best.weights.h5     weights of the best epoch so far (only when ``patience`` is set)
    state.json          {"epoch": 3, "checkpoint": "epoch_0003.keras", "history": {...}, ...}

Every file is written to a temporary file in the same directory and moved into place with
``os.replace``, which is atomic on POSIX and Windows: a reader (or a resumed run) sees either the
old file or the new one, never half of one, even if the process is killed mid-write.
``state.json`` is replaced *after* the model file it names, so it always points at a complete
checkpoint; the previous epoch's file is deleted only after that.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import warnings
from pathlib import Path

from gruseg.errors import GrusegError

__all__ = ["set_seed", "compile_segmenter", "train", "CHECKPOINT_DIR", "load_checkpoint_state"]

#: Name of the sub-directory of ``out_dir`` that :func:`train` writes its checkpoints to.
CHECKPOINT_DIR = "checkpoint"
_STATE = "state.json"
_BEST = "best.weights.h5"
_TMP_PREFIX = ".tmp-"
_EPOCH_FILE = re.compile(r"^epoch_(\d+)\.keras$")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's kernels deterministic.

    Calls ``keras.utils.set_random_seed(seed)`` (seeds ``random``, ``numpy.random`` and the
    backend's global generator) and ``tf.config.experimental.enable_op_determinism()``, so two
    runs with the same seed, data and code produce the same weights and the same history.

    Cost: op determinism is a process-wide switch that forbids the non-deterministic fast paths
    of a few kernels (some GPU reductions and scatter ops run slower or raise
    ``UnimplementedError``, and ``tf.data`` keeps element order in parallel maps). On CPU the
    difference is usually a few percent. It cannot be switched off again in the same process
    except with ``tf.config.experimental.disable_op_determinism()``.

    Args:
        seed: a non-negative integer.

    Example:
        >>> set_seed(0); a = keras.random.uniform((2,))
        >>> set_seed(0); b = keras.random.uniform((2,))  # a == b
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    import keras

    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def compile_segmenter(model, num_classes: int, learning_rate: float = 1e-3, weight_decay: float = 0.0,
                      clipnorm: float | None = None, jit_compile: bool = False, metrics=None,
                      class_names=None):
    """Compile ``model`` for per-pixel classification with sparse integer masks.

    Loss: mean over pixels of the sparse categorical cross-entropy on probabilities,
    ``L = -mean_{b,i,j} log p[b, i, j, y[b, i, j]]`` (the models end in a softmax, so
    ``from_logits=False``). Optimizer: Adam, or AdamW (decoupled weight decay) when
    ``weight_decay > 0``.

    Args:
        model: a ``keras.Model`` whose output is ``(B, H, W, num_classes)`` probabilities.
        num_classes: number of classes (>= 2), must equal the model's last output dimension.
        learning_rate: positive float.
        weight_decay: non-negative float; ``> 0`` selects ``keras.optimizers.AdamW``.
        clipnorm: optional positive float, clip each gradient to this norm (helps recurrent nets).
        jit_compile: XLA-compile the train step. Off by default: on CPU it was slower for the
            GRU sweeps (see FINDINGS.md) and it is not needed for determinism.
        metrics: metrics list; default ``gruseg.metrics.segmentation_metrics(num_classes,
            class_names)``: pixel_accuracy, mean_iou, mean_dice and one ``iou_<class>`` per class.
        class_names: optional class names for the per-class metric names.

    Returns:
        The same ``model``, compiled.

    Example:
        >>> model = compile_segmenter(build_reseg((32, 32, 3), 4), num_classes=4)
    """
    import keras

    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    out_classes = model.output_shape[-1] if hasattr(model, "output_shape") else None
    if out_classes is not None and out_classes != num_classes:
        raise ValueError(f"num_classes must match the model's output ({out_classes} classes), got {num_classes}")
    if not _positive_number(learning_rate):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if not _number(weight_decay) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a non-negative number, got {weight_decay!r}")
    if clipnorm is not None and not _positive_number(clipnorm):
        raise ValueError(f"clipnorm must be None or a positive number, got {clipnorm!r}")
    if weight_decay > 0:
        optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=clipnorm)
    if metrics is None:
        from gruseg.metrics import segmentation_metrics

        metrics = segmentation_metrics(num_classes, class_names=class_names)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
        metrics=list(metrics),
        jit_compile=jit_compile,
    )
    return model


def train(model, train_ds, val_ds=None, epochs: int = 10, out_dir=None, patience: int | None = None,
          resume: bool = False, seed: int | None = 0, verbose="auto", callbacks=()) -> dict:
    """Fit a compiled model, checkpointing every epoch; optionally stop early and resume.

    Early stopping watches ``val_loss`` (``loss`` without ``val_ds``): training stops after
    ``patience`` epochs without improvement and the weights of the best epoch are restored at the
    end of training (also when all ``epochs`` ran). Its state (best value, epochs waited, best
    weights) is part of the checkpoint, so a resumed run stops where an uninterrupted one would.

    With ``out_dir``, after every epoch the whole model including the optimizer state is written
    atomically to ``out_dir/checkpoint/epoch_NNNN.keras`` and ``state.json`` records the epoch
    and the history so far (see the module docstring). ``resume=True`` loads the last checkpoint
    into ``model`` (same architecture, compiled the same way) and continues with
    ``initial_epoch`` = the last completed epoch, so ``epochs`` is the *total* number of epochs.
    A run that stopped early stays stopped. A resumed run is not bit-identical to an
    uninterrupted one (the data shuffle restarts from ``seed``).

    Args:
        model: a model compiled with :func:`compile_segmenter` (or any compiled Keras model).
        train_ds: ``tf.data.Dataset`` of ``(images (B,H,W,3), masks (B,H,W))`` batches.
        val_ds: optional dataset of the same form, evaluated after every epoch.
        epochs: total number of epochs, a positive integer.
        out_dir: directory for the checkpoints (created if needed), or None for no checkpoints.
        patience: None (no early stopping) or a positive integer.
        resume: continue from ``out_dir``'s last checkpoint; without one, start from epoch 0.
        seed: passed to :func:`set_seed` before fitting (None: leave the random state alone).
        verbose: Keras ``fit`` verbosity: "auto", 0 (silent), 1 (progress bar), 2 (one line/epoch).
        callbacks: extra Keras callbacks. They run before the checkpointer, so values they add to
            ``logs`` in ``on_epoch_end`` are recorded in the history.

    Returns:
        dict ``{metric name: [one float per epoch]}`` covering ALL epochs done, including those
        before a resume, plus ``"epoch"`` (1-based epoch numbers).

    Example:
        >>> history = train(model, train_ds, val_ds, epochs=5, out_dir="runs/a", patience=2)
        >>> history = train(model, train_ds, val_ds, epochs=8, out_dir="runs/a", resume=True)
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience must be None or a positive integer, got {patience!r}")
    if verbose not in ("auto", 0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the directory holding the checkpoint), got out_dir=None")
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ValueError("model must be compiled before training; call compile_segmenter(model, num_classes) first")
    if train_ds is None:
        raise ValueError("train_ds must be a dataset of (image, mask) batches, got None")
    callbacks = list(callbacks)

    if seed is not None:
        set_seed(seed)

    ckpt_dir = None
    state = _fresh_state()
    if out_dir is not None:
        ckpt_dir = Path(out_dir) / CHECKPOINT_DIR
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(ckpt_dir)
        if resume:
            loaded = load_checkpoint_state(out_dir)
            if loaded is not None:
                state = loaded
                _restore_into(model, ckpt_dir / state["checkpoint"])

    monitor = "val_loss" if val_ds is not None else "loss"
    initial_epoch = state["epoch"]
    if initial_epoch < epochs and not state.get("stopped_early", False):
        keeper = _Checkpointer(ckpt_dir, state, monitor, patience)
        model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
                  verbose=verbose, callbacks=[*callbacks, keeper], shuffle=False)
    if patience is not None and state["best_epoch"] is not None and state["best_epoch"] != state["epoch"]:
        _restore_best(model, state, ckpt_dir)
    return {key: list(values) for key, values in state["history"].items()}


def load_checkpoint_state(out_dir) -> dict | None:
    """Read ``out_dir/checkpoint/state.json``; None when there is no checkpoint yet.

    Raises:
        GrusegError: ``state.json`` is unreadable or names a checkpoint file that is missing.

    Returns:
        dict with ``epoch`` (epochs completed), ``checkpoint`` (file name of the model saved after
        that epoch, in ``out_dir/checkpoint``), ``history``, and the early-stopping fields
        ``best``, ``best_epoch``, ``wait``, ``stopped_early``.
    """
    path = Path(out_dir) / CHECKPOINT_DIR / _STATE
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        name = state["checkpoint"]
        missing = not (path.parent / name).is_file()
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GrusegError(f"{path}: unreadable checkpoint state ({type(err).__name__}: {err}); "
                          f"delete {path.parent} to start over") from None
    if missing:
        raise GrusegError(f"{path} names the checkpoint {name}, which is missing; "
                          f"delete {path.parent} to start over")
    return state


# ------------------------------------------------------------------------------------------ helpers


def _fresh_state() -> dict:
    return {"epoch": 0, "checkpoint": None, "history": {"epoch": []}, "best": None, "best_epoch": None,
            "wait": 0, "stopped_early": False}


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _positive_number(x) -> bool:
    return _number(x) and x > 0


def _remove_stale_temps(directory: Path) -> None:
    """Delete temporary files left by a run killed in the middle of a write."""
    for path in directory.glob(_TMP_PREFIX + "*"):
        path.unlink(missing_ok=True)


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then move it onto ``path``.

    The temporary file keeps ``path``'s suffixes (Keras picks the format from them).
    """
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX, suffix=suffix)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    try:
        with _quiet_keras_save():
            write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _quiet_keras_save():
    """Hide one harmless warning while Keras saves.

    Keras' h5 writer converts TF variables with ``np.array(x, copy=False)``; NumPy 2 emits a
    DeprecationWarning per variable. Not ours to fix; keep the user's output clean.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"__array__ implementation doesn't accept a copy",
                                category=DeprecationWarning)
        yield


def _write_json(path: Path, obj) -> None:
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)

    _atomic_write(path, write)


def _restore_into(model, checkpoint: Path) -> None:
    """Load weights and optimizer state from a ``.keras`` checkpoint into ``model``."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(str(checkpoint))


def _restore_best(model, state, ckpt_dir) -> None:
    weights = state.get("_best_weights")
    if weights is not None:
        model.set_weights(weights)
    elif ckpt_dir is not None and (ckpt_dir / _BEST).is_file():
        model.load_weights(str(ckpt_dir / _BEST))


def _improved(value, best) -> bool:
    return best is None or value < best


class _Checkpointer:
    """Keras callback: record history, track early stopping, write the checkpoint every epoch.

    Defined lazily as a ``keras.callbacks.Callback`` subclass (see ``__new__``) so that importing
    this module does not import Keras.
    """

    def __new__(cls, ckpt_dir, state, monitor, patience):
        import keras

        class Checkpointer(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                logs = dict(logs or {})
                history = state["history"]
                done = epoch + 1
                history.setdefault("epoch", []).append(done)
                for key, value in logs.items():
                    history.setdefault(key, []).append(float(value))
                state["epoch"] = done
                if patience is not None:
                    if monitor not in logs:
                        raise ValueError(f"early stopping monitors {monitor!r}, which fit did not report; "
                                         f"available: {sorted(logs)}")
                    value = float(logs[monitor])
                    if _improved(value, state["best"]):
                        state["best"], state["best_epoch"], state["wait"] = value, done, 0
                        state["_best_weights"] = self.model.get_weights()
                        if ckpt_dir is not None:
                            _atomic_write(ckpt_dir / _BEST, self.model.save_weights)
                    else:
                        state["wait"] += 1
                        if state["wait"] >= patience:
                            state["stopped_early"] = True
                            self.model.stop_training = True
                if ckpt_dir is not None:
                    self._save(done)

            def _save(self, done):
                name = f"epoch_{done:04d}.keras"
                _atomic_write(ckpt_dir / name, self.model.save)
                state["checkpoint"] = name
                _write_json(ckpt_dir / _STATE, {k: v for k, v in state.items() if not k.startswith("_")})
                for path in ckpt_dir.glob("epoch_*.keras"):
                    if path.name != name and _EPOCH_FILE.match(path.name):
                        path.unlink(missing_ok=True)

        return Checkpointer()
