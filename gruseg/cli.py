"""The command line: ``gruseg train | evaluate | predict`` (also ``python -m gruseg``).

A thin layer over the library: ``gruseg.data`` loads and validates, ``gruseg.models`` builds,
``gruseg.training`` fits and checkpoints, ``gruseg.metrics`` scores, ``gruseg.plotting`` draws.

Examples::

    gruseg train --dataset shapes --size 64 --epochs 5 --out runs/shapes
    gruseg train --data my_data --model unet --size 128 --epochs 20 --patience 3 --out runs/mine
    gruseg train --data my_data --epochs 20 --out runs/mine --resume      # after an interruption
    gruseg evaluate --model runs/mine/model.keras --data my_data
    gruseg evaluate --model runs/shapes/model.keras --dataset shapes --json
    gruseg predict --model runs/mine/model.keras photo1.jpg photo2.png --out predictions

What ``train --out DIR`` holds:

* ``DIR/checkpoint/`` from the end of the first epoch: the last epoch's model with its optimizer
  state and ``state.json`` (epoch, history). Each file is replaced atomically, so a run killed at
  any moment can continue with ``--resume``. ``run.json`` there records the arguments.
* at the end: ``model.keras``, ``history.json``, ``curves.png`` and ``metrics.json`` (final
  train/validation metrics, the per-class report on the validation split and the run's config).
  They are written into a temporary directory next to ``DIR`` and moved in when all are complete,
  ``metrics.json`` last: if it exists, the run finished.

Errors the user can fix (bad arguments, unusable data, an ``--out`` in the way) print one line,
``gruseg: error: <problem and fix>``, on stderr and exit with code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from gruseg.errors import GrusegError

__all__ = ["main", "build_parser"]

PROG = "gruseg"
OUTPUT_FILES = ("model.keras", "history.json", "curves.png", "metrics.json")  # metrics.json last
_RUN_JSON = "run.json"
_DATASET_NAMES = ("shapes", "long-range")  # gruseg.data.DATASETS, listed here to keep --help import-free
_MODEL_NAMES = ("reseg", "unet", "seed")    # gruseg.models.MODEL_BUILDERS, same reason
# arguments that must be the same when resuming (epochs and patience may change)
_RESUME_KEYS = ("model", "data", "dataset", "size", "num_classes", "samples", "val_fraction", "seed",
                "batch_size", "learning_rate", "model_args")


class _UsageError(Exception):
    """An argparse error, reported on one line like every other user error."""

    def __init__(self, message, prog):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message, self.prog)


# ------------------------------------------------------------------------------ argument types


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}")
    return value


def _num_classes(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 2, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be an integer >= 2, got {text!r}")
    return value


def _model_arg(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE (e.g. renet_units=[16]), got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key.isidentifier():
        raise argparse.ArgumentTypeError(f"KEY must be a builder argument name, got {key!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string, e.g. sweep=mingru
    if isinstance(value, list):
        value = tuple(value)
    return key, value


# ------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``gruseg`` argument parser (sub-commands ``train``, ``evaluate``, ``predict``)."""
    parser = _Parser(prog=PROG, description="Image segmentation with GRUs (ReSeg), U-Nets and friends.")
    from gruseg import __version__

    parser.add_argument("--version", action="version", version=f"gruseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{train,evaluate,predict}", parser_class=_Parser)

    def data_args(p, default_samples, default_seed):
        source = p.add_mutually_exclusive_group()
        source.add_argument("--data", metavar="DIR",
                            help="folder with images/ and masks/ (paired by file name)")
        source.add_argument("--dataset", choices=_DATASET_NAMES,
                            help="a synthetic dataset (default: shapes, when --data is not given)")
        p.add_argument("--samples", type=_positive_int, default=default_samples,
                       help=f"number of synthetic images (default {default_samples})")
        p.add_argument("--seed", type=_non_negative_int, default=default_seed,
                       help=f"random seed for synthetic data, splits and weights (default {default_seed})")
        p.add_argument("--batch-size", type=_positive_int, default=16, help="batch size (default 16)")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or summary")

    t = sub.add_parser("train", help="train a model; writes model.keras, metrics.json, history.json, "
                       "curves.png and checkpoints into --out",
                       description="Train a segmentation model. Without --data/--dataset: synthetic shapes.")
    data_args(t, default_samples=200, default_seed=0)
    t.add_argument("--model", choices=_MODEL_NAMES, default="reseg", help="architecture (default reseg)")
    t.add_argument("--model-arg", type=_model_arg, action="append", default=[], metavar="KEY=VALUE",
                   help="extra builder argument, JSON value, repeatable (e.g. --model-arg renet_units=[16])")
    t.add_argument("--size", type=_positive_int, default=128, help="image side in pixels (default 128)")
    t.add_argument("--epochs", type=_positive_int, default=10, help="total epochs (default 10)")
    t.add_argument("--num-classes", type=_num_classes,
                   help="number of classes (default: the dataset's, or max mask label + 1 for --data)")
    t.add_argument("--val-fraction", type=_fraction, default=0.2,
                   help="fraction held out for validation, chosen by --seed (default 0.2)")
    t.add_argument("--learning-rate", type=_positive_float, default=1e-3, help="Adam step size (default 1e-3)")
    t.add_argument("--patience", type=_positive_int,
                   help="stop after this many epochs without a better validation loss (keeps the best)")
    t.add_argument("--out", default="runs/gruseg", metavar="DIR", help="output directory (default runs/gruseg)")
    again = t.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    again.add_argument("--overwrite", action="store_true", help="start over in a non-empty --out: its checkpoint and gruseg outputs are deleted "
                       "first (other files are kept)")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="score a model: per-class IoU, mean IoU, Dice, pixel accuracy",
                       description="Evaluate a trained model on a folder or a synthetic dataset.")
    e.add_argument("--model", required=True, metavar="MODEL", help="a model.keras written by 'gruseg train'")
    data_args(e, default_samples=64, default_seed=1)
    e.add_argument("--size", type=_positive_int,
                   help="image side when the model accepts any size (default: the model's, else 128)")
    e.add_argument("--json", action="store_true", help="print the report as JSON")
    e.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="segment images; writes <stem>_mask.png and <stem>_overlay.png",
                       description="Segment image files. Writes, per image, <stem>_mask.png (class ids as "
                       "pixel values), <stem>_color.png (coloured mask) and <stem>_overlay.png, "
                       "all at the image's original size.")
    p.add_argument("--model", required=True, metavar="MODEL", help="a model.keras written by 'gruseg train'")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG or JPEG)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--overwrite", action="store_true", help="allow a non-empty --out (files are replaced)")
    p.add_argument("--size", type=_positive_int,
                   help="image side when the model accepts any size (default: the model's, else 128)")
    p.add_argument("--batch-size", type=_positive_int, default=8, help="batch size (default 8)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    p.set_defaults(func=_cmd_predict)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 user error).

    Example:
        >>> main(["train", "--dataset", "shapes", "--size", "32", "--epochs", "1", "--out", "runs/x"])  # doctest: +SKIP
        0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise _UsageError("choose a command: train, evaluate or predict", PROG)
        return args.func(args)
    except _UsageError as err:
        return _fail(f"{err}; see '{err.prog} --help'")
    except GrusegError as err:
        return _fail(str(err))
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0


def _fail(message: str) -> int:
    one_line = " ".join(str(message).split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)
    return 2


def _say(args, *parts):
    if not getattr(args, "quiet", False):
        print(*parts, flush=True)


# ------------------------------------------------------------------------------ --out handling


def _check_writable_target(out: Path, flag="--out") -> None:
    """``out`` may not exist yet; its nearest existing ancestor must be a writable directory."""
    if out.exists() and not out.is_dir():
        raise GrusegError(f"{flag} {out}: is a file, not a directory; choose a directory path for {flag}")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise GrusegError(f"{flag} {out}: {probe} is a file, not a directory; choose another {flag}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise GrusegError(f"{flag} {out}: cannot write in {probe} (permission denied); "
                          f"choose a writable {flag} or fix the permissions")


def _is_empty_dir(path: Path) -> bool:
    return not path.exists() or not any(path.iterdir())


def _staging_dir(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))


def _publish(stage: Path, out: Path, names) -> None:
    """Move finished files from ``stage`` into ``out`` (same filesystem: each move is atomic)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        os.replace(stage / name, out / name)


def _write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, default=_json_default)
        f.write("\n")


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean(value):
    """NaN/inf -> None so that metrics.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


# ------------------------------------------------------------------------------------- data


def _split(n: int, val_fraction: float, seed: int, source: str):
    """Deterministic train/validation index split (validation = ``round(n * val_fraction)``, >= 1)."""
    import numpy as np

    if val_fraction == 0:
        return np.arange(n), np.arange(0)
    if n < 2:
        raise GrusegError(f"{source}: {n} image(s) cannot be split into training and validation; "
                          "add more images or pass --val-fraction 0")
    n_val = min(max(1, round(n * val_fraction)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _load_data(args, size, num_classes=None):
    """(images, masks, class_names, description) from --data or --dataset (default shapes)."""
    from gruseg import data

    if args.data is not None:
        folder = data.load_folder(args.data, size=(size, size), num_classes=num_classes)
        return folder.images, folder.masks, tuple(folder.class_names), f"{args.data}"
    name = args.dataset or "shapes"
    maker, class_names = data.DATASETS[name]
    if num_classes is not None and num_classes != len(class_names):
        raise GrusegError(f"--num-classes {num_classes}: dataset {name!r} has {len(class_names)} classes "
                          f"({', '.join(class_names)}); drop --num-classes or pass {len(class_names)}")
    try:
        images, masks = maker(args.samples, size=size, seed=args.seed)
    except GrusegError:
        raise
    except ValueError as err:
        raise GrusegError(f"--dataset {name} with --size {size} --samples {args.samples}: {err}") from None
    return images, masks, tuple(class_names), f"dataset {name}"


# ------------------------------------------------------------------------------------- models


def _build(args, num_classes):
    from gruseg.models import MODEL_BUILDERS, build_model

    kwargs = dict(args.model_arg)
    builder = MODEL_BUILDERS[args.model]
    accepted = [p for p in inspect.signature(builder).parameters if p not in ("input_shape", "num_classes")]
    for key in kwargs:
        if key not in accepted:
            raise GrusegError(f"--model-arg {key}: the {args.model} builder has no argument {key!r}; "
                              f"accepted: {', '.join(accepted)}")
    kwargs.setdefault("seed", args.seed)
    try:
        return build_model(args.model, (args.size, args.size, 3), num_classes, **kwargs)
    except (GrusegError, ValueError, TypeError) as err:
        raise GrusegError(f"--model {args.model} --size {args.size}: {err}") from None


def _load_model(path_text: str):
    """Load a ``.keras`` model safely, turning every way a file can be unusable into GrusegError."""
    import zipfile

    import keras

    import gruseg.layers  # noqa: F401  (registers gruseg's custom layers)
    import gruseg.metrics  # noqa: F401  (registers MeanDice)

    path = Path(path_text)
    hint = "pass the model.keras written by 'gruseg train --out DIR' (DIR/model.keras)"
    if not path.exists():
        raise GrusegError(f"--model {path}: file not found; {hint}")
    if path.is_dir():
        raise GrusegError(f"--model {path}: is a directory; {hint}")
    if path.suffix != ".keras":
        raise GrusegError(f"--model {path}: not a .keras file; {hint}")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except (TypeError, ValueError, KeyError, OSError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        text = str(err)
        missing = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
        if missing:
            raise GrusegError(
                f"--model {path}: uses the custom layer or function {missing.group(1)!r}, which is not "
                "registered; decorate it with @keras.saving.register_keras_serializable() and import its "
                "module before loading (gruseg can load models made of Keras and gruseg layers)") from None
        if "Lambda" in text and "safe_mode" in text:
            raise GrusegError(
                f"--model {path}: contains a Lambda layer, which safe loading refuses (it could run "
                "arbitrary code); rebuild the model without Lambda layers") from None
        raise GrusegError(f"--model {path}: not a readable Keras model ({type(err).__name__}); {hint}") from None
    in_shape, out_shape = model.input_shape, model.output_shape
    if not (isinstance(in_shape, tuple) and len(in_shape) == 4 and in_shape[-1] == 3
            and isinstance(out_shape, tuple) and len(out_shape) == 4 and (out_shape[-1] or 0) >= 2):
        raise GrusegError(f"--model {path}: expected a segmentation model (B, H, W, 3) -> (B, H, W, classes), "
                          f"got {in_shape} -> {out_shape}; {hint}")
    return model


def _predict_labels(model, images, batch_size):
    """Arg-max class ids (n, H, W) for images (n, H, W, 3).

    Feeds a ``tf.data`` pipeline rather than a NumPy array: with op determinism on, Keras' array
    adapter makes TensorFlow log a harmless but alarming C++ error line on stderr.
    """
    import numpy as np
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(np.asarray(images, dtype=np.float32)).batch(batch_size)
    return np.asarray(model.predict(ds, verbose=0)).argmax(-1)


def _model_size(model, requested, flag="--size"):
    """Input side: the model's fixed size, else ``requested`` (default 128)."""
    h, w = model.input_shape[1:3]
    if h is not None and w is not None:
        if requested is not None and (requested, requested) != (h, w):
            raise GrusegError(f"{flag} {requested}: the model takes {h}x{w} images only; drop {flag}")
        return h, w
    side = requested or 128
    return side, side


# -------------------------------------------------------------------------------------- train


def _run_config(args, num_classes, class_names):
    return {
        "model": args.model, "model_args": {k: list(v) if isinstance(v, tuple) else v for k, v in args.model_arg},
        "data": str(Path(args.data).resolve()) if args.data else None,
        "dataset": None if args.data else (args.dataset or "shapes"),
        "size": args.size, "num_classes": num_classes, "class_names": list(class_names),
        "samples": None if args.data else args.samples, "val_fraction": args.val_fraction,
        "seed": args.seed, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "epochs": args.epochs, "patience": args.patience,
    }


def _check_resume_config(out: Path, config: dict) -> None:
    path = out / "checkpoint" / _RUN_JSON
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as f:
        before = json.load(f)
    diffs = [f"{key} {before.get(key)!r} -> {config.get(key)!r}" for key in _RESUME_KEYS
             if before.get(key) != config.get(key)]
    if diffs:
        raise GrusegError(f"--resume: the run in {out} used different arguments ({'; '.join(diffs)}); "
                          f"repeat the original arguments (see {path}) or choose a new --out")


def _cmd_train(args) -> int:
    out = Path(args.out)
    _check_writable_target(out)
    from gruseg.training import load_checkpoint_state  # light: no TensorFlow

    if args.resume:
        if load_checkpoint_state(out) is None:  # raises GrusegError for a damaged checkpoint
            raise GrusegError(f"--resume: no checkpoint in {out / 'checkpoint'}; run without --resume "
                              "to start a new run")
    elif not args.overwrite and not _is_empty_dir(out):
        raise GrusegError(f"--out {out}: exists and is not empty; pass --resume to continue its run, "
                          "--overwrite to replace it, or choose another --out")

    from gruseg.data import to_dataset
    from gruseg.metrics import segmentation_report
    from gruseg.training import _quiet_keras_save
    from gruseg.training import _write_json as atomic_json
    from gruseg.training import compile_segmenter, set_seed, train

    set_seed(args.seed)
    images, masks, class_names, source = _load_data(args, args.size, args.num_classes)
    num_classes = args.num_classes or len(class_names)
    train_idx, val_idx = _split(len(images), args.val_fraction, args.seed, source)
    config = _run_config(args, num_classes, class_names)
    if args.resume:
        _check_resume_config(out, config)
    model = _build(args, num_classes)
    compile_segmenter(model, num_classes, learning_rate=args.learning_rate, class_names=class_names)
    train_ds = to_dataset(images[train_idx], masks[train_idx], batch_size=args.batch_size, shuffle=True,
                          seed=args.seed)
    val_ds = (to_dataset(images[val_idx], masks[val_idx], batch_size=args.batch_size)
              if len(val_idx) else None)

    # --- from here on, --out is written to (checkpoints first; final files at the end)
    if args.overwrite:
        shutil.rmtree(out / "checkpoint", ignore_errors=True)
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
    (out / "checkpoint").mkdir(parents=True, exist_ok=True)
    atomic_json(out / "checkpoint" / _RUN_JSON, config)
    _say(args, f"training {args.model} on {source}: {len(train_idx)} training / {len(val_idx)} validation "
               f"images of {args.size}x{args.size}, {num_classes} classes, up to {args.epochs} epochs "
               f"(checkpoints in {out / 'checkpoint'})")
    start = time.perf_counter()
    history = train(model, train_ds, val_ds, epochs=args.epochs, out_dir=out, patience=args.patience,
                    resume=args.resume, seed=args.seed, verbose=0 if args.quiet else "auto")
    seconds = time.perf_counter() - start
    state = load_checkpoint_state(out)

    verbose = 0
    final = {"train": _clean(model.evaluate(train_ds, verbose=verbose, return_dict=True))}
    report_idx, report_split = (val_idx, "validation") if len(val_idx) else (train_idx, "train")
    if val_ds is not None:
        final["validation"] = _clean(model.evaluate(val_ds, verbose=verbose, return_dict=True))
    labels = _predict_labels(model, images[report_idx], args.batch_size)
    report = segmentation_report(masks[report_idx], labels, num_classes, class_names=class_names)
    config.update({"epochs_done": len(history.get("epoch", [])), "epochs_requested": args.epochs,
                   "stopped_early": bool(state and state.get("stopped_early")),
                   "best_epoch": state.get("best_epoch") if state else None,
                   "train_images": int(len(train_idx)), "validation_images": int(len(val_idx))})
    # no timings in metrics.json: the same seed and data must give a byte-identical file
    metrics = {"config": config, "final": final, "report_split": report_split, "report": report}

    stage = _staging_dir(out)
    try:
        with _quiet_keras_save():
            model.save(stage / "model.keras")
        _write_json(stage / "history.json", _clean(history))
        _save_curves(history, stage / "curves.png")
        _write_json(stage / "metrics.json", _clean(metrics))
        _publish(stage, out, OUTPUT_FILES)
    finally:
        shutil.rmtree(stage, ignore_errors=True)

    val = final.get("validation", final["train"])
    loss = val.get("loss")
    _say(args, f"done: {config['epochs_done']} epochs in {seconds:.1f} s; {report_split} mean IoU"
               f"{_fmt(report['mean_iou'])}, mean Dice{_fmt(report['mean_dice'])}, pixel accuracy"
               f"{_fmt(report['pixel_accuracy'])}, loss{_fmt(loss)}")
    _say(args, f"wrote {out / 'model.keras'}, metrics.json, history.json, curves.png")
    return 0


def _save_curves(history, path: Path) -> None:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gruseg.plotting import plot_history

    wanted = [m for m in ("loss", "mean_iou", "pixel_accuracy") if m in history]
    fig = plot_history(history, metrics=wanted or [k for k in history if k != "epoch"][:1])
    try:
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------------- evaluate


def _cmd_evaluate(args) -> int:
    model = _load_model(args.model)
    h, w = _model_size(model, args.size)
    if h != w:
        raise GrusegError(f"--model {args.model}: takes {h}x{w} images; gruseg evaluates square images only")
    num_classes = int(model.output_shape[-1])
    args.size = h
    from gruseg.metrics import segmentation_report

    images, masks, class_names, source = _load_data(args, h, num_classes if args.data else None)
    if args.data is None and len(class_names) != num_classes:
        raise GrusegError(f"--dataset {args.dataset or 'shapes'}: has {len(class_names)} classes but the model "
                          f"predicts {num_classes}; evaluate on the data the model was trained for")
    if len(class_names) != num_classes:
        class_names = tuple(f"class_{c}" for c in range(num_classes))
    labels = _predict_labels(model, images, args.batch_size)
    report = segmentation_report(masks, labels, num_classes, class_names=class_names)
    report = {"model": str(args.model), "data": source, "images": int(len(images)), "size": [h, w], **report}
    if args.json:
        print(json.dumps(_clean(report), indent=2, default=_json_default))
    else:
        print(_format_report(report))
    return 0


def _fmt(value):
    return "   n/a" if value is None else f"{value:6.3f}"


def _format_report(report) -> str:
    names = list(report["per_class"])
    width = max(len("pixel accuracy"), *(len(n) for n in names))
    lines = [f"{report['model']} on {report['data']}: {report['images']} images of "
             f"{report['size'][0]}x{report['size'][1]}",
             "",
             f"{'class':<{width}}  {'IoU':>6}  {'Dice':>6}  {'pixels':>9}",
             "-" * (width + 27)]
    for name, row in report["per_class"].items():
        lines.append(f"{name:<{width}}  {_fmt(row['iou'])}  {_fmt(row['dice'])}  {row['support']:>9}")
    lines += ["-" * (width + 27),
              f"{'mean IoU':<{width}}  {_fmt(report['mean_iou'])}",
              f"{'mean Dice':<{width}}  {_fmt(report['mean_dice'])}",
              f"{'pixel accuracy':<{width}}  {_fmt(report['pixel_accuracy'])}"]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ predict


def _cmd_predict(args) -> int:
    out = Path(args.out)
    _check_writable_target(out)
    if not args.overwrite and not _is_empty_dir(out):
        raise GrusegError(f"--out {out}: exists and is not empty; pass --overwrite to replace files there, "
                          "or choose another --out")
    paths = [Path(p) for p in args.images]
    stems = {}
    for path in paths:
        if path.stem in stems:
            raise GrusegError(f"{stems[path.stem]} and {path} share the name {path.stem!r}, so their outputs "
                              "would overwrite each other; rename one or predict them separately")
        stems[path.stem] = path
    from gruseg.data import read_image

    originals = [read_image(path) for path in paths]  # checks every file before the slow part
    model = _load_model(args.model)
    h, w = _model_size(model, args.size)
    num_classes = int(model.output_shape[-1])

    import numpy as np
    from PIL import Image

    from gruseg.plotting import colorize_mask, overlay_mask

    batch = np.stack([read_image(path, size=(h, w)) for path in paths])
    labels = _predict_labels(model, batch, args.batch_size)
    dtype = np.uint8 if num_classes <= 256 else np.uint16  # PIL mode "L" or "I;16"
    stage = _staging_dir(out)
    written = []
    try:
        for path, original, label in zip(paths, originals, labels):
            height, width = original.shape[:2]
            mask = Image.fromarray(label.astype(dtype)).resize((width, height), Image.NEAREST)
            mask_array = np.asarray(mask)
            names = [f"{path.stem}_mask.png", f"{path.stem}_color.png", f"{path.stem}_overlay.png"]
            mask.save(stage / names[0])
            _save_rgb(colorize_mask(mask_array, num_classes), stage / names[1])
            _save_rgb(overlay_mask(original, mask_array), stage / names[2])
            written += names
        _publish(stage, out, written)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    for path in paths:
        _say(args, f"{path} -> {out / (path.stem + '_mask.png')}, {path.stem}_color.png, {path.stem}_overlay.png")
    return 0


def _save_rgb(array, path: Path) -> None:
    import numpy as np
    from PIL import Image

    Image.fromarray(np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)).save(path)
