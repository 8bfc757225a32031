"""Training: seeding, compiling a segmenter, and ``fit`` with atomic checkpoints, resume and safeguards.

The loop is Keras' own ``model.fit``; this module adds what a tutorial run and the command line
need around it:

* :func:`set_seed` makes a run repeatable (same seed -> same weights, same history); op
  determinism is a separate, explicit choice (``deterministic=True``).
* :func:`compile_segmenter` attaches Adam/AdamW (optionally with a warm-up + cosine learning-rate
  schedule), the loss (sparse cross-entropy, or :class:`gruseg.losses.SegmentationLoss` with class
  weights and a Dice term; void pixels ignored) and the metrics of
  :func:`gruseg.metrics.segmentation_metrics`.
* :func:`train` fits with validation, early stopping and best-epoch selection on a monitored
  metric (validation mean IoU by default), a checkpoint after every epoch written atomically
  (layout: :mod:`gruseg.checkpoints`), resume from the last completed epoch, and a stop on a
  non-finite loss that keeps the last finite checkpoint (:class:`TrainingDiverged`).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import keras
import numpy as np

from gruseg import _checks
from gruseg._files import atomic_write, disk_full, remove_stale_temps, write_json
from gruseg.checkpoints import BEST_FILE, CHECKPOINT_DIR, EPOCH_FILE, STATE_FILE, fresh_state, public_state, read_state
from gruseg.errors import GrusegError

__all__ = ["set_seed", "compile_segmenter", "train", "TrainingDiverged", "CHECKPOINT_DIR", "load_checkpoint_state",
           "LR_SCHEDULES"]

LR_SCHEDULES = ("constant", "cosine")
"""Learning-rate schedules of :func:`compile_segmenter`."""

load_checkpoint_state = read_state
"""The checkpoint state of a run directory (see :func:`gruseg.checkpoints.read_state`)."""


class TrainingDiverged(GrusegError):
    """The loss became NaN or infinite; training stopped and the last finite checkpoint was kept.

    It carries ``loss`` (the non-finite value), ``epoch`` and ``step`` (1-based, where it
    happened) and ``learning_rate`` (at that step), so that a caller can word its own advice.
    """

    def __init__(self, message, loss=None, epoch=None, step=None, learning_rate=None):
        super().__init__(message)
        self.loss, self.epoch, self.step, self.learning_rate = loss, epoch, step, learning_rate


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and the Keras backend; optionally make TensorFlow's kernels deterministic.

    Calls ``keras.utils.set_random_seed(seed)`` (seeds ``random``, ``numpy.random`` and the
    backend's global generator). On CPU that alone makes the runs in this book repeat exactly.

    ``deterministic=True`` also calls ``tf.config.experimental.enable_op_determinism()`` (under
    the TensorFlow backend), which forbids the non-deterministic fast paths of a few kernels:
    needed for bit-identical runs on a GPU, where some reductions and scatter ops would otherwise
    differ from run to run, at a cost in speed (some GPU ops run slower or raise
    ``UnimplementedError``). It is a process-wide switch: it stays on for the rest of the process
    (``tf.config.experimental.disable_op_determinism()`` turns it off), so a library call never
    makes it silently; the command line turns it on only with ``--deterministic``.

    Args:
        seed: an integer in [0, 2**32 - 1].
        deterministic: also enable TensorFlow op determinism.

    Example:
        >>> set_seed(0); a = keras.random.uniform((2,))
        >>> set_seed(0); b = keras.random.uniform((2,))  # a == b
    """
    seed = _checks.seed("seed", seed, allow_none=False)
    deterministic = _checks.boolean("deterministic", deterministic)
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def _learning_rate(learning_rate, schedule, total_steps, warmup_steps):
    learning_rate = _checks.positive_number("learning_rate", learning_rate)
    schedule = _checks.choice("lr_schedule", schedule, LR_SCHEDULES)
    if schedule == "constant":
        return learning_rate
    total_steps = _checks.positive_int("total_steps", total_steps)
    warmup_steps = _checks.non_negative_int("warmup_steps", warmup_steps)
    if warmup_steps >= total_steps:
        raise ValueError(f"warmup_steps must be below total_steps={total_steps}, got {warmup_steps}")
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps, alpha=0.01)
    return keras.optimizers.schedules.CosineDecay(
        learning_rate * 0.1, decay_steps=total_steps - warmup_steps, alpha=0.01,
        warmup_target=learning_rate, warmup_steps=warmup_steps)


def compile_segmenter(model, num_classes: int, learning_rate: float = 1e-3, weight_decay: float = 0.0,
                      clipnorm: float | None = None, jit_compile=None, metrics=None, class_names=None,
                      ignore_class=None, class_weights=None, dice_weight: float = 0.0, per_class_metrics=True,
                      lr_schedule="constant", total_steps=None, warmup_steps=0):
    """Compile ``model`` for per-pixel classification with sparse integer masks.

    Loss: the mean over non-void pixels of the sparse categorical cross-entropy on probabilities,
    ``L = -mean_{pixels} log p[y]`` (the models end in a softmax, so ``from_logits=False``); with
    ``class_weights`` or ``dice_weight`` the weighted form of :class:`gruseg.losses.SegmentationLoss`.
    Optimizer: Adam, or AdamW (decoupled weight decay) when ``weight_decay > 0``.

    Args:
        model: a ``keras.Model`` whose output is ``(B, H, W, num_classes)`` probabilities.
        num_classes: number of classes (>= 2), must equal the model's last output dimension.
        learning_rate: positive float, the (peak) step size.
        weight_decay: non-negative float; ``> 0`` selects ``keras.optimizers.AdamW``.
        clipnorm: optional positive float, clip each gradient to this norm (helps recurrent nets).
        jit_compile: XLA-compile the train step: None (default: on under JAX, where an uncompiled
            step runs op by op and was several times slower here; off under TensorFlow, where XLA
            made the GRU sweeps slower on a CPU: ``benchmarks/README.md``), True, False or ``"auto"``
            (Keras' choice).
        metrics: metrics list; default :func:`gruseg.metrics.segmentation_metrics` (pixel_accuracy,
            mean_iou, mean_dice and, with ``per_class_metrics``, one ``iou_<class>`` per class).
        class_names: optional class names for the per-class metric names.
        ignore_class: optional void label (may be ``>= num_classes``): left out of the loss and
            of every metric.
        class_weights: optional ``num_classes`` weights for the cross-entropy (e.g.
            :func:`gruseg.losses.median_frequency_weights`).
        dice_weight: weight of a soft Dice term added to the loss (0: none).
        per_class_metrics: add the per-class IoU metrics (with the default ``metrics``).
        lr_schedule: ``"constant"`` or ``"cosine"`` (linear warm-up over ``warmup_steps`` from a
            tenth of ``learning_rate``, then cosine decay to 1 % of it at ``total_steps``).
        total_steps: optimizer steps of the whole run (needed for ``"cosine"``).
        warmup_steps: warm-up steps for ``"cosine"``.

    Returns:
        The same ``model``, compiled.

    Example:
        >>> model = compile_segmenter(build_reseg((32, 32, 3), 4), num_classes=4)   # doctest: +SKIP
    """
    from gruseg.losses import SegmentationLoss
    from gruseg.metrics import segmentation_metrics

    num_classes = _checks.num_classes("num_classes", num_classes)
    out_classes = model.output_shape[-1] if hasattr(model, "output_shape") else None
    if out_classes is not None and out_classes != num_classes:
        raise ValueError(f"num_classes must match the model's output ({out_classes} classes), got {num_classes}")
    rate = _learning_rate(learning_rate, lr_schedule, total_steps, warmup_steps)
    weight_decay = _checks.number("weight_decay", weight_decay, 0)
    if clipnorm is not None:
        clipnorm = _checks.positive_number("clipnorm", clipnorm)
    if jit_compile is None:
        jit_compile = keras.backend.backend() == "jax"
    elif jit_compile != "auto":
        jit_compile = _checks.boolean("jit_compile", jit_compile)
    dice_weight = _checks.number("dice_weight", dice_weight, 0)
    if weight_decay > 0:
        optimizer = keras.optimizers.AdamW(learning_rate=rate, weight_decay=weight_decay, clipnorm=clipnorm)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=rate, clipnorm=clipnorm)
    if class_weights is None and not dice_weight:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=False, ignore_class=ignore_class)
    else:
        loss = SegmentationLoss(num_classes, class_weights=class_weights, ignore_class=ignore_class,
                                dice_weight=dice_weight)
    if metrics is None:
        metrics = segmentation_metrics(num_classes, class_names=class_names, per_class=per_class_metrics,
                                       ignore_class=ignore_class)
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics), jit_compile=jit_compile)
    return model


# ------------------------------------------------------------------------------------------ train


def _monitor(monitor, has_validation, model):
    """(monitor name, "min" or "max")."""
    if monitor == "auto":
        names = [m.name for m in getattr(model, "metrics", [])]
        tracked = _metric_names(model)
        if "mean_iou" in tracked or "mean_iou" in names:
            monitor = "val_mean_iou" if has_validation else "mean_iou"
        else:
            monitor = "val_loss" if has_validation else "loss"
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(f"monitor must be 'auto' or a metric name such as 'val_mean_iou', got {monitor!r}")
    lowered = monitor.removeprefix("val_")
    mode = "min" if lowered == "loss" or lowered.endswith("_loss") else "max"
    return monitor, mode


def _metric_names(model):
    compiled = getattr(model, "_compile_metrics", None)
    try:
        return [m.name for m in compiled.metrics] if compiled is not None else []
    except (AttributeError, TypeError):
        return []


def train(model, train_data, val_data=None, epochs: int = 10, out_dir=None, patience: int | None = None,
          resume: bool = False, seed: int | None = 0, deterministic: bool = False, verbose="auto", callbacks=(),
          monitor="auto", restore_best: bool | None = None) -> dict:
    """Fit a compiled model, checkpointing every epoch; optionally stop early, restore the best epoch, resume.

    The monitored value (``monitor="auto"``: ``val_mean_iou`` when the model tracks mean IoU and
    there is validation data, else ``val_loss``/``mean_iou``/``loss``; losses are minimised, every
    other metric maximised) decides early stopping (after ``patience`` epochs without
    improvement) and, with ``restore_best``, which epoch's weights the model ends with. Its state
    (best value, epochs waited, best weights) is part of the checkpoint, so a resumed run stops
    where an uninterrupted one would.

    With ``out_dir``, ``state.json`` is written before the first epoch and after every epoch the
    whole model including the optimizer state is written atomically to
    ``out_dir/checkpoint/epoch_NNNN.keras`` (:mod:`gruseg.checkpoints`). ``resume=True`` checks
    and loads the last checkpoint into ``model`` (same architecture, compiled the same way) and
    continues with ``initial_epoch`` = the last completed epoch, so ``epochs`` is the *total*
    number of epochs. A run that stopped early stays stopped. When ``train_data`` is a
    :class:`gruseg.data.pipeline.ArrayBatches`, a resumed run sees exactly the batches an
    uninterrupted one would.

    A NaN or infinite training loss stops the run at once: the epoch is not checkpointed, the
    last finite checkpoint stays, and :class:`TrainingDiverged` is raised.

    Args:
        model: a model compiled with :func:`compile_segmenter` (or any compiled Keras model).
        train_data: batches of ``(images (B,H,W,3), masks (B,H,W))``: an ``ArrayBatches`` (any
            backend) or a ``tf.data.Dataset``.
        val_data: optional batches of the same form, evaluated after every epoch.
        epochs: total number of epochs, a positive integer.
        out_dir: directory for the checkpoints (created if needed), or None for no checkpoints.
        patience: None (no early stopping) or a positive integer.
        resume: continue from ``out_dir``'s last checkpoint; without one, start from epoch 0.
        seed: passed to :func:`set_seed` before fitting (None: leave the random state alone).
        deterministic: passed to :func:`set_seed` (TensorFlow op determinism, process-wide).
        verbose: Keras ``fit`` verbosity: "auto", 0 (silent), 1 (progress bar), 2 (one line/epoch).
        callbacks: extra Keras callbacks. They run before the checkpointer, so values they add to
            ``logs`` in ``on_epoch_end`` are recorded in the history.
        monitor: ``"auto"`` or the name of a logged value (``"val_mean_iou"``, ``"val_loss"``, ...).
        restore_best: end with the best epoch's weights; default: True when ``patience`` is set.

    Returns:
        dict ``{metric name: [one float per epoch]}`` covering ALL epochs done, including those
        before a resume, plus ``"epoch"`` (1-based epoch numbers).

    Raises:
        TrainingDiverged: the loss became non-finite.
        GrusegError: a damaged checkpoint, a checkpoint of another architecture, a full disk.

    Example:
        >>> history = train(model, train_data, val_data, epochs=5, out_dir="runs/a", patience=2)   # doctest: +SKIP
        >>> history = train(model, train_data, val_data, epochs=8, out_dir="runs/a", resume=True)  # doctest: +SKIP
    """
    epochs = _checks.positive_int("epochs", epochs)
    if patience is not None:
        try:
            patience = _checks.positive_int("patience", patience)
        except ValueError:
            raise ValueError(f"patience must be None or a positive integer, got {patience!r}") from None
    if verbose not in ("auto", 0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    resume = _checks.boolean("resume", resume)
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the directory holding the checkpoint), got out_dir=None")
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ValueError("model must be compiled before training; call compile_segmenter(model, num_classes) first")
    if train_data is None:
        raise ValueError("train_data must be batches of (image, mask), got None")
    restore_best = patience is not None if restore_best is None else _checks.boolean("restore_best", restore_best)
    monitor, mode = _monitor(monitor, val_data is not None, model)
    callbacks = list(callbacks)

    if seed is not None:
        set_seed(seed, deterministic=deterministic)

    ckpt_dir = None
    state = fresh_state()
    if out_dir is not None:
        ckpt_dir = Path(out_dir) / CHECKPOINT_DIR
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(ckpt_dir)
        loaded = read_state(out_dir) if resume else None
        if loaded is not None:
            state = loaded
            if state["checkpoint"] is not None:
                _restore_into(model, ckpt_dir / state["checkpoint"])
        else:
            _disk_guard(lambda: write_json(ckpt_dir / STATE_FILE, public_state(state)), ckpt_dir / STATE_FILE)
    state["monitor"], state["mode"] = monitor, mode

    initial_epoch = state["epoch"]
    if hasattr(train_data, "start_epoch_at"):
        train_data.start_epoch_at(initial_epoch)
    keeper = _Checkpointer(ckpt_dir, state, patience, track_best=restore_best or patience is not None)
    if initial_epoch < epochs and not state.get("stopped_early", False):
        model.fit(train_data, validation_data=val_data, epochs=epochs, initial_epoch=initial_epoch,
                  verbose=verbose, callbacks=[*callbacks, keeper], shuffle=False)
    if keeper.diverged is not None:
        raise TrainingDiverged(*keeper.diverged)
    if restore_best and state["best_epoch"] is not None and state["best_epoch"] != state["epoch"]:
        _restore_best(model, state, ckpt_dir)
    return {key: list(values) for key, values in state["history"].items()}


# ------------------------------------------------------------------------------------------ helpers


def _disk_guard(write, path):
    """Run ``write()``; a full disk becomes a :class:`gruseg._files.DiskFullError` that says what is kept."""
    with disk_full(path, kept="the last complete checkpoint is kept: free some space, then resume"):
        write()


def _restore_into(model, checkpoint: Path) -> None:
    """Load weights and optimizer state from a ``.keras`` checkpoint into ``model``, all of them or none.

    Keras loads what matches and only *warns* about the rest (optimizer variables it skips, say);
    any such warning means the checkpoint is not this model's, and is an error here.
    """
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    before = [v.numpy() for v in model.variables] + [v.numpy() for v in model.optimizer.variables]
    problem = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(str(checkpoint))
        except Exception as err:  # noqa: BLE001 - any failure to read a user's file is reported as such
            problem = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
    skipped = [str(w.message) for w in caught if "skipping" in str(w.message).lower()
               or "could not be loaded" in str(w.message).lower()]
    if problem is None and skipped:
        problem = skipped[0].splitlines()[0][:160]
    if problem is not None:
        for variable, value in zip([*model.variables, *model.optimizer.variables], before):
            variable.assign(value)  # no half-loaded model
        raise GrusegError(
            f"{checkpoint}: this checkpoint does not fit the model being trained ({problem}); resume with the "
            "run's original arguments, or start over (gruseg train --overwrite)")


def _restore_best(model, state, ckpt_dir) -> None:
    weights = state.get("_best_weights")
    if weights is not None:
        model.set_weights(weights)
    elif ckpt_dir is not None and (ckpt_dir / BEST_FILE).is_file():
        try:
            model.load_weights(str(ckpt_dir / BEST_FILE))
        except Exception as err:  # noqa: BLE001 - a damaged user file
            raise GrusegError(f"{ckpt_dir / BEST_FILE}: the best epoch's weights do not load ({type(err).__name__}); "
                              "start over (gruseg train --overwrite)") from None


def _improved(value, best, mode) -> bool:
    if best is None:
        return True
    return value < best if mode == "min" else value > best


class _Checkpointer(keras.callbacks.Callback):
    """Record history, track the best epoch and early stopping, stop on NaN, checkpoint every epoch."""

    def __init__(self, ckpt_dir, state, patience, track_best):
        super().__init__()
        self.ckpt_dir, self.state, self.patience, self.track_best = ckpt_dir, state, patience, track_best
        self.diverged = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            last = self.state["epoch"]
            kept = (f"the last finite checkpoint (epoch {last}) is kept in {self.ckpt_dir}" if self.ckpt_dir and last
                    else "no epoch finished, so no checkpoint was written")
            lr = _current_learning_rate(self.model)
            message = (f"training diverged: the loss became {float(loss)} in epoch {last + 1} (step {batch + 1}); "
                       f"{kept}. Lower the learning rate (now {lr:g}) or add gradient clipping, then train again")
            self.diverged = (message, float(loss), last + 1, batch + 1, lr)
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.diverged is not None:
            return
        state, logs = self.state, dict(logs or {})
        done = epoch + 1
        history = state["history"]
        history.setdefault("epoch", []).append(done)
        for key, value in logs.items():
            history.setdefault(key, []).append(float(value))
        state["epoch"] = done
        if self.track_best:
            monitor = state["monitor"]
            if monitor not in logs:
                raise ValueError(f"early stopping monitors {monitor!r}, which fit did not report; "
                                 f"available: {sorted(logs)}")
            value = float(logs[monitor])
            if math.isfinite(value) and _improved(value, state["best"], state["mode"]):
                state["best"], state["best_epoch"], state["wait"] = value, done, 0
                state["_best_weights"] = self.model.get_weights()
                if self.ckpt_dir is not None:
                    _disk_guard(lambda: atomic_write(self.ckpt_dir / BEST_FILE, self.model.save_weights),
                                self.ckpt_dir / BEST_FILE)
            else:
                state["wait"] += 1
                if self.patience is not None and state["wait"] >= self.patience:
                    state["stopped_early"] = True
                    self.model.stop_training = True
        if self.ckpt_dir is not None:
            self._save(done)

    def _save(self, done):
        name = f"epoch_{done:04d}.keras"
        _disk_guard(lambda: atomic_write(self.ckpt_dir / name, self.model.save), self.ckpt_dir / name)
        self.state["checkpoint"] = name
        _disk_guard(lambda: write_json(self.ckpt_dir / STATE_FILE, public_state(self.state)),
                    self.ckpt_dir / STATE_FILE)
        for path in self.ckpt_dir.glob("epoch_*.keras"):
            if path.name != name and EPOCH_FILE.match(path.name):
                path.unlink(missing_ok=True)


def _current_learning_rate(model) -> float:
    try:
        return float(np.asarray(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    except (AttributeError, TypeError, ValueError):
        return float("nan")
