"""The command line: ``gruseg train | evaluate | predict`` (also ``python -m gruseg``).

A thin layer: it parses arguments, stages what it writes into ``--out``, and prints. Everything
else is a library call: :mod:`gruseg.data.sources` loads and splits the data,
:mod:`gruseg.models` builds, :mod:`gruseg.training` fits and checkpoints, :mod:`gruseg.inference`
loads models and predicts, :mod:`gruseg.metrics` scores, :mod:`gruseg.plotting` draws.

What ``train --out DIR`` holds:

* ``DIR/checkpoint/`` from the start: ``run.json`` (the arguments), ``state.json`` and, after every
  epoch, the last epoch's model with its optimizer state. Each file is replaced atomically, so a
  run killed at any moment continues with ``--resume``.
* at the end: ``model.keras``, ``history.json``, ``history.csv``, ``curves.png`` and
  ``metrics.json`` (the run's config, final train/validation metrics and the per-class report on
  the validation split). They are written into a temporary directory next to ``DIR`` and moved in
  when all are complete, ``metrics.json`` last: if it exists, the run finished.

Exit codes: 0 success; 2 a problem with the input that the user can fix (one line on stderr,
``gruseg: error: <problem and fix>``, nothing half-written); 1 the training diverged (the last
finite checkpoint is kept); 130 interrupted with Ctrl-C (``--out`` stays resumable).
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from gruseg import _checks
from gruseg.errors import GrusegError

__all__ = ["main", "build_parser"]

PROG = "gruseg"
OUTPUT_FILES = ("model.keras", "history.json", "history.csv", "curves.png", "metrics.json")  # metrics.json last
# Listed here to keep --help import-free; tests check them against the library's tables.
_DATASET_NAMES = ("shapes", "long-range", "camvid")        # gruseg.data.sources.DATASET_NAMES
_MODEL_NAMES = ("reseg", "unet", "renet-unet", "article")  # gruseg.models.MODEL_BUILDERS
_MODEL_ALIASES = {"seed": "article"}                         # gruseg.models.MODEL_ALIASES
# arguments that must be the same when resuming (epochs and patience may change)
_RESUME_KEYS = ("model", "data", "dataset", "size", "num_classes", "ignore_label", "samples", "val_fraction", "seed",
                "batch_size", "learning_rate", "lr_schedule", "class_weights", "dice_weight", "augment", "model_args",
                "resize")
MAX_SIDE = 4096
MAX_BATCH = 4096
MAX_EPOCHS = 100_000
MAX_SAMPLES = 1_000_000

EXAMPLES = """examples:
  gruseg train --out runs/shapes                            # the embedded synthetic shapes, ReSeg
  gruseg train --dataset camvid --model renet-unet --size 120x160 --epochs 30 --class-weights median --out runs/camvid
  gruseg train --data my_data --model unet --size 128 --epochs 20 --patience 5 --out runs/mine
  gruseg train --data my_data --epochs 20 --out runs/mine --resume           # after an interruption
  gruseg evaluate --model runs/camvid/model.keras --dataset camvid --json   # scores the test split
  gruseg predict --model runs/mine/model.keras photo1.jpg photo2.png --out predictions
"""


class _UsageError(Exception):
    """An argparse error, reported on one line like every other user error."""

    def __init__(self, message, prog):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message, self.prog)


# ------------------------------------------------------------------------------ argument types


def _number(text):
    return float(text)


def _size(text):
    try:
        return _checks.parse_image_size(text, maximum=MAX_SIDE)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


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


_POSITIVE = _checks.argparse_type(_checks.positive_int)
_SEED = _checks.argparse_type(_checks.seed, allow_none=False)
_BATCH = _checks.argparse_type(_checks.positive_int, maximum=MAX_BATCH)
_EPOCHS = _checks.argparse_type(_checks.positive_int, maximum=MAX_EPOCHS)
_SAMPLES = _checks.argparse_type(_checks.positive_int, maximum=MAX_SAMPLES)
_LABEL = _checks.argparse_type(_checks.non_negative_int, maximum=65535)
_NUM_CLASSES = _checks.argparse_type(_checks.integer, minimum=2, maximum=65536)
_LEARNING_RATE = _checks.argparse_type(_checks.positive_number, parse=_number, maximum=10.0)
_FRACTION = _checks.argparse_type(_checks.fraction, parse=_number)
_WEIGHT = _checks.argparse_type(_checks.number, parse=_number, minimum=0, maximum=100)


# ------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``gruseg`` argument parser (sub-commands ``train``, ``evaluate``, ``predict``)."""
    from gruseg import __version__

    parser = _Parser(prog=PROG, description="Image segmentation with GRUs (ReSeg, a ReNet U-Net), U-Nets and the "
                     "article's model.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gruseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{train,evaluate,predict}", parser_class=_Parser)

    def data_args(p, default_samples, default_seed, split_help):
        source = p.add_mutually_exclusive_group()
        source.add_argument("--data", metavar="DIR", help="folder with images/ and masks/ (paired by file name)")
        source.add_argument("--dataset", choices=_DATASET_NAMES,
                            help="a shipped dataset: synthetic shapes (the default without --data), the synthetic "
                            "long-range task, or camvid (real street scenes, 11 classes + void)")
        p.add_argument("--ignore-label", type=_LABEL, metavar="N",
                       help="mask value of void pixels, left out of the loss and the metrics (e.g. 255 for Pascal "
                       "VOC; CamVid's 11 is set automatically)")
        p.add_argument("--resize", choices=("stretch", "crop", "pad"), default=None,
                       help="how photographs reach --size: stretch (the default for training), or keep the aspect "
                       "ratio and crop the centre or pad the border (the mask's border is void: needs --ignore-label "
                       "or CamVid); evaluate defaults to the training run's choice")
        p.add_argument("--samples", type=_SAMPLES, default=default_samples,
                       help=f"number of synthetic images (default {default_samples})")
        p.add_argument("--seed", type=_SEED, default=default_seed,
                       help=f"random seed for synthetic data, splits, weights and augmentation (default {default_seed})")
        p.add_argument("--batch-size", type=_BATCH, default=16, help="batch size (default 16)")
        p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
        if split_help:
            p.add_argument("--split", choices=("train", "val", "test"), default="test", help=split_help)

    t = sub.add_parser("train", help="train a model; writes model.keras, metrics.json, history and curves into --out",
                       description="Train a segmentation model. Without --data/--dataset: synthetic shapes.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_args(t, default_samples=200, default_seed=0, split_help=None)
    t.add_argument("--model", choices=_MODEL_NAMES + tuple(_MODEL_ALIASES), default="reseg",
                   help="architecture (default reseg; 'seed' is the old name of 'article')")
    t.add_argument("--model-arg", type=_model_arg, action="append", default=[], metavar="KEY=VALUE",
                   help="extra builder argument, JSON value, repeatable (e.g. --model-arg renet_units=[16])")
    t.add_argument("--size", type=_size, metavar="N|HxW",
                   help="image size: a side (128) or HEIGHTxWIDTH (120x160); default 128, CamVid's own 120x160")
    t.add_argument("--epochs", type=_EPOCHS, default=10, help="total epochs (default 10)")
    t.add_argument("--num-classes", type=_NUM_CLASSES,
                   help="number of classes (default: the dataset's, or max mask label + 1 for --data)")
    t.add_argument("--val-fraction", type=_FRACTION, default=0.2,
                   help="fraction held out for validation, chosen by --seed (default 0.2; CamVid uses its val split)")
    t.add_argument("--learning-rate", type=_LEARNING_RATE, default=1e-3, help="Adam step size (default 1e-3)")
    t.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                   help="constant, or cosine decay after a one-epoch warm-up (default constant)")
    t.add_argument("--class-weights", choices=("none", "median"), default=None,
                   help="weight the loss by class: median-frequency weights from the training masks help rare "
                   "classes (default: median for camvid, none otherwise)")
    t.add_argument("--dice-weight", type=_WEIGHT, default=0.0,
                   help="add this times a soft Dice loss to the cross-entropy (default 0)")
    t.add_argument("--augment", choices=("none", "flip", "flip-scale"), default=None,
                   help="training augmentation: left-right flips, and random zoom-in up to 1.25x (default: flip for "
                   "photographs and shapes, none for the long-range task)")
    t.add_argument("--patience", type=_POSITIVE,
                   help="stop after this many epochs without a better validation mean IoU (the best epoch is kept "
                   "in any case)")
    t.add_argument("--deterministic", action="store_true",
                   help="TensorFlow op determinism: bit-identical reruns on a GPU too, at some speed cost")
    t.add_argument("--jit-compile", action="store_true", help="XLA-compile the train step")
    t.add_argument("--out", default="runs/gruseg", metavar="DIR", help="output directory (default runs/gruseg)")
    again = t.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    again.add_argument("--overwrite", action="store_true", help="start over in a non-empty --out: its checkpoint and "
                       "gruseg outputs are deleted first (other files are kept)")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="score a model: per-class IoU, mean IoU, Dice, pixel accuracy",
                       description="Evaluate a trained model on a folder or a shipped dataset.")
    e.add_argument("--model", required=True, metavar="MODEL", help="a model.keras written by 'gruseg train'")
    data_args(e, default_samples=64, default_seed=1, split_help="CamVid split to score (default test)")
    e.add_argument("--size", type=_size, metavar="N|HxW",
                   help="image size when the model accepts any size (default: the training size)")
    e.add_argument("--json", action="store_true", help="print the report as JSON")
    e.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="segment images; writes <stem>_mask.png, <stem>_color.png, <stem>_overlay.png",
                       description="Segment image files. Writes, per image, <stem>_mask.png (a palette PNG whose "
                       "pixel values are class ids), <stem>_color.png (coloured mask) and <stem>_overlay.png, "
                       "all at the image's original size.")
    p.add_argument("--model", required=True, metavar="MODEL", help="a model.keras written by 'gruseg train'")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG or JPEG)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--overwrite", action="store_true", help="allow a non-empty --out (files are replaced)")
    p.add_argument("--size", type=_size, metavar="N|HxW",
                   help="image size when the model accepts any size (default: the training size)")
    p.add_argument("--batch-size", type=_BATCH, default=8, help="batch size (default 8)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    p.set_defaults(func=_cmd_predict)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 diverged, 2 user error, 130 interrupted).

    Example:
        >>> main(["train", "--dataset", "shapes", "--size", "32", "--epochs", "1", "--out", "runs/x"])  # doctest: +SKIP
        0
    """
    parser = build_parser()
    args = None
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise _UsageError("choose a command: train, evaluate or predict", PROG)
        return args.func(args)
    except _UsageError as err:
        return _fail(f"{err}; see '{err.prog} --help'")
    except GrusegError as err:
        from gruseg.training import TrainingDiverged

        return _fail(str(err), code=1 if isinstance(err, TrainingDiverged) else 2)
    except KeyboardInterrupt:
        where = ""
        if getattr(args, "command", None) == "train":
            where = f"; {args.out} keeps the last complete epoch: run the same command with --resume to continue"
        return _fail(f"interrupted{where}", code=130)
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0


def _fail(message: str, code: int = 2) -> int:
    one_line = " ".join(str(message).split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)
    return code


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


class _Staging:
    """A temporary directory next to ``out``; :meth:`publish` moves finished files in atomically.

    Removed on exit, whatever happens, so no half-written output is ever left behind.
    """

    def __init__(self, out: Path):
        self.out = out

    def __enter__(self):
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(dir=self.out.parent, prefix=f".{self.out.name}.staging-"))
        return self

    def publish(self, names) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for name in names:
            os.replace(self.path / name, self.out / name)

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        return False


def _disk_full(path, err):
    import errno

    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return GrusegError(f"{path}: no space left on the device; free some space and run the command again "
                           "(nothing was written to the output directory)")
    return None


# -------------------------------------------------------------------------------------- train


def _run_config(args, num_classes, class_names, ignore_label, size):
    return {
        "model": _MODEL_ALIASES.get(args.model, args.model),
        "model_args": {k: list(v) if isinstance(v, tuple) else v for k, v in args.model_arg},
        "data": str(Path(args.data).resolve()) if args.data else None,
        "dataset": None if args.data else (args.dataset or "shapes"),
        "size": list(size), "num_classes": num_classes, "class_names": list(class_names),
        "ignore_label": ignore_label, "resize": args.resize or "stretch",
        "samples": None if args.data or args.dataset == "camvid" else args.samples,
        "val_fraction": args.val_fraction, "seed": args.seed, "batch_size": args.batch_size,
        "learning_rate": args.learning_rate, "lr_schedule": args.lr_schedule, "class_weights": args.class_weights,
        "dice_weight": args.dice_weight, "augment": args.augment, "epochs": args.epochs, "patience": args.patience,
        "deterministic": args.deterministic, "jit_compile": args.jit_compile,
    }


def _check_resume_config(out: Path, config: dict) -> None:
    from gruseg.checkpoints import RUN_FILE, read_run_config

    before = read_run_config(out)
    if before is None:
        return
    diffs = [f"{key} {before.get(key)!r} -> {config.get(key)!r}" for key in _RESUME_KEYS
             if before.get(key) != config.get(key)]
    if diffs:
        raise GrusegError(f"--resume: the run in {out} used different arguments ({'; '.join(diffs)}); "
                          f"repeat the original arguments (see {out / 'checkpoint' / RUN_FILE}) or choose a new --out")


def _build(args, size, num_classes):
    from gruseg.models import MODEL_BUILDERS, build_model

    name = _MODEL_ALIASES.get(args.model, args.model)
    kwargs = dict(args.model_arg)
    builder = MODEL_BUILDERS[name]
    accepted = [p for p in inspect.signature(builder).parameters if p not in ("input_shape", "num_classes")]
    for key in kwargs:
        if key not in accepted:
            raise GrusegError(f"--model-arg {key}: the {name} builder has no argument {key!r}; "
                              f"accepted: {', '.join(accepted)}")
    kwargs.setdefault("seed", args.seed)
    size_text = f"{size[0]}x{size[1]}"
    try:
        return build_model(name, (*size, 3), num_classes, **kwargs)
    except GrusegError as err:
        raise GrusegError(f"--model {name} --size {size_text}: {err}") from None
    except ValueError as err:  # a --model-arg value the builder refuses (its message names it)
        if not kwargs.keys() - {"seed"}:
            raise
        raise GrusegError(f"--model-arg: {err}") from None


def _augmentation(args):
    from gruseg.data.pipeline import Augmentation

    choice = args.augment
    if choice is None:
        choice = "none" if args.dataset == "long-range" else "flip"
    return {"none": None, "flip": Augmentation(), "flip-scale": Augmentation(scale=(1.0, 1.25))}[choice]


def _cmd_train(args) -> int:
    out = Path(args.out)
    _check_writable_target(out)
    from gruseg.checkpoints import RUN_FILE, read_state  # light: no TensorFlow

    if args.resume:
        if read_state(out) is None:  # raises GrusegError for a damaged checkpoint
            raise GrusegError(f"--resume: no checkpoint in {out / 'checkpoint'}; run without --resume "
                              "to start a new run")
    elif not args.overwrite and not _is_empty_dir(out):
        raise GrusegError(f"--out {out}: exists and is not empty; pass --resume to continue its run, "
                          "--overwrite to replace it, or choose another --out")

    from gruseg._files import write_json
    from gruseg.data.pipeline import batches
    from gruseg.data.sources import training_splits
    from gruseg.losses import median_frequency_weights
    from gruseg.training import compile_segmenter, set_seed, train

    set_seed(args.seed, deterministic=args.deterministic)
    size = args.size or ((120, 160) if args.dataset == "camvid" and not args.data else (128, 128))
    args.class_weights = args.class_weights or ("median" if args.dataset == "camvid" and not args.data else "none")
    train_split, val_split = training_splits(data=args.data, dataset=args.dataset, size=size,
                                             num_classes=args.num_classes, samples=args.samples, seed=args.seed,
                                             val_fraction=args.val_fraction, ignore_label=args.ignore_label,
                                             resize=args.resize or "stretch")
    num_classes = args.num_classes or train_split.num_classes
    class_names = train_split.class_names if len(train_split.class_names) == num_classes else \
        tuple(f"class_{c}" for c in range(num_classes))
    ignore = train_split.ignore_label
    config = _run_config(args, num_classes, class_names, ignore, size)
    if args.resume:
        _check_resume_config(out, config)
    model = _build(args, size, num_classes)
    weights = (median_frequency_weights(train_split.masks, num_classes, ignore) if args.class_weights == "median"
               else None)
    steps_per_epoch = -(-len(train_split) // args.batch_size)
    compile_segmenter(model, num_classes, learning_rate=args.learning_rate, class_names=class_names,
                      ignore_class=ignore, class_weights=weights, dice_weight=args.dice_weight, per_class_metrics=False,
                      jit_compile=args.jit_compile, lr_schedule=args.lr_schedule,
                      total_steps=steps_per_epoch * args.epochs,
                      warmup_steps=min(steps_per_epoch, steps_per_epoch * args.epochs - 1))
    train_data = batches(train_split.images, train_split.masks, batch_size=args.batch_size, shuffle=True,
                         seed=args.seed, augment=_augmentation(args))
    val_data = (batches(val_split.images, val_split.masks, batch_size=args.batch_size)
                if val_split is not None else None)

    # --- from here on, --out is written to (checkpoints first; final files at the end)
    if args.overwrite:
        shutil.rmtree(out / "checkpoint", ignore_errors=True)
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
    (out / "checkpoint").mkdir(parents=True, exist_ok=True)
    if not args.resume:
        write_json(out / "checkpoint" / RUN_FILE, config)
    n_val = 0 if val_split is None else len(val_split)
    _say(args, f"training {config['model']} on {train_split.source}: {len(train_split)} training / {n_val} validation "
               f"images of {size[0]}x{size[1]}, {num_classes} classes, up to {args.epochs} epochs "
               f"(checkpoints in {out / 'checkpoint'}); the first step builds the graph and is slow")
    start = time.perf_counter()
    history = train(model, train_data, val_data, epochs=args.epochs, out_dir=out, patience=args.patience,
                    resume=args.resume, seed=args.seed, deterministic=args.deterministic, restore_best=True,
                    verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2))
    seconds = time.perf_counter() - start
    state = read_state(out)

    final = {"train": model.evaluate(batches(train_split.images, train_split.masks, batch_size=args.batch_size),
                                     verbose=0, return_dict=True)}
    if val_data is not None:
        final["validation"] = model.evaluate(val_data, verbose=0, return_dict=True)
    report_split, report_name = (val_split, "validation") if val_split is not None else (train_split, "train")
    report = _report(model, report_split, num_classes, class_names, args.batch_size)
    config.update({"epochs_done": len(history.get("epoch", [])), "epochs_requested": args.epochs,
                   "stopped_early": bool(state and state.get("stopped_early")),
                   "best_epoch": state.get("best_epoch") if state else None,
                   "train_images": len(train_split), "validation_images": n_val,
                   "colors": None if train_split.colors is None else train_split.colors.tolist()})
    # no timings in metrics.json: the same seed and data must give a byte-identical file
    metrics = {"config": config, "final": final, "report_split": report_name, "report": report}
    _write_outputs(out, model, history, metrics)

    val = final.get("validation", final["train"])
    _say(args, f"done: {config['epochs_done']} epochs in {seconds:.1f} s (best epoch {config['best_epoch']}); "
               f"{report_name} mean IoU{_fmt(report['mean_iou'])}, mean Dice{_fmt(report['mean_dice'])}, "
               f"pixel accuracy{_fmt(report['pixel_accuracy'])}, loss{_fmt(val.get('loss'))}")
    _say(args, f"wrote {out / 'model.keras'}, metrics.json, history.json, history.csv, curves.png")
    return 0


def _write_outputs(out, model, history, metrics):
    from gruseg._files import quiet_keras_save, to_json, write_history_csv
    from gruseg.plotting import save_history_figure

    with _Staging(out) as stage:
        try:
            with quiet_keras_save():
                model.save(stage.path / "model.keras")
            (stage.path / "history.json").write_text(to_json(history) + "\n", encoding="utf-8")
            write_history_csv(stage.path / "history.csv", history)
            save_history_figure(history, stage.path / "curves.png")
            (stage.path / "metrics.json").write_text(to_json(metrics) + "\n", encoding="utf-8")
        except OSError as err:
            full = _disk_full(stage.path, err)
            if full is None:
                raise
            raise full from None
        stage.publish(OUTPUT_FILES)


def _report(model, split, num_classes, class_names, batch_size):
    from gruseg.inference import predict_labels
    from gruseg.metrics import segmentation_report

    labels = predict_labels(model, split.images, batch_size, exclude=split.ignore_label)
    return segmentation_report(split.masks, labels, num_classes, class_names=class_names,
                               ignore_class=split.ignore_label)


# ----------------------------------------------------------------------------------- evaluate


def _run_info(model_path: Path) -> dict:
    """The training run's config (``metrics.json`` beside the model), or {} when there is none."""
    path = Path(model_path).parent / "metrics.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8")).get("config", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return config if isinstance(config, dict) else {}


def _cmd_evaluate(args) -> int:
    from gruseg.data.sources import load_split
    from gruseg.inference import input_size, load_model
    from gruseg.metrics import format_report

    model = load_model(args.model, what="--model")
    info = _run_info(args.model)
    trained = tuple(info["size"]) if isinstance(info.get("size"), list) and len(info["size"]) == 2 else None
    size = input_size(model, args.size or trained, what="--size")
    num_classes = int(model.output_shape[-1])
    ignore = args.ignore_label if args.ignore_label is not None else info.get("ignore_label")
    split = load_split(data=args.data, dataset=args.dataset, split=args.split, size=size,
                       num_classes=num_classes if args.data else None, samples=args.samples, seed=args.seed,
                       ignore_label=ignore if args.data else None,
                       resize=args.resize or info.get("resize") or "stretch")
    if split.num_classes != num_classes:
        if args.data is None:
            raise GrusegError(f"--dataset {args.dataset or 'shapes'}: has {split.num_classes} classes but the model "
                              f"predicts {num_classes}; evaluate on the data the model was trained for")
    class_names = split.class_names if split.num_classes == num_classes else tuple(info.get("class_names") or ())
    if len(class_names) != num_classes:
        class_names = tuple(f"class_{c}" for c in range(num_classes))
    report = _report(model, split, num_classes, class_names, args.batch_size)
    report = {"model": str(args.model), "data": split.source, "images": len(split), "size": list(size), **report}
    if args.json:
        from gruseg._files import to_json

        print(to_json(report))
    elif not args.quiet:
        print(format_report(report))
    return 0


def _fmt(value):
    return "   n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:6.3f}"


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
        if path.is_dir():
            raise GrusegError(f"{path}: is a directory; pass image files (e.g. {path}/*.jpg)")
        if path.stem in stems:
            raise GrusegError(f"{stems[path.stem]} and {path} share the name {path.stem!r}, so their outputs "
                              "would overwrite each other; rename one or predict them separately")
        stems[path.stem] = path
    from gruseg.data.folder import read_image
    from gruseg.inference import input_size, load_model, predict_labels, resize_labels
    from gruseg.plotting import colorize_mask, overlay_mask, save_label_png, save_rgb_png

    originals = [read_image(path) for path in paths]  # checks every file before the slow part
    model = load_model(args.model, what="--model")
    info = _run_info(args.model)
    trained = tuple(info["size"]) if isinstance(info.get("size"), list) and len(info["size"]) == 2 else None
    size = input_size(model, args.size or trained, what="--size")
    num_classes = int(model.output_shape[-1])
    colors = info.get("colors") if isinstance(info.get("colors"), list) and len(info["colors"]) == num_classes else None

    import numpy as np

    batch = np.stack([read_image(path, size=size) for path in paths])
    labels = predict_labels(model, batch, args.batch_size, exclude=info.get("ignore_label"))
    written = []
    with _Staging(out) as stage:
        try:
            for path, original, label in zip(paths, originals, labels, strict=True):
                mask = resize_labels(label, original.shape[:2])
                names = [f"{path.stem}_mask.png", f"{path.stem}_color.png", f"{path.stem}_overlay.png"]
                save_label_png(mask, stage.path / names[0], num_classes=num_classes, colors=colors)
                save_rgb_png(colorize_mask(mask, num_classes, colors=colors), stage.path / names[1])
                save_rgb_png(overlay_mask(original, mask, colors=colors, background=None if colors else 0),
                             stage.path / names[2])
                written += names
        except OSError as err:
            full = _disk_full(stage.path, err)
            if full is None:
                raise
            raise full from None
        stage.publish(written)
    for path in paths:
        _say(args, f"{path} -> {out / (path.stem + '_mask.png')}, {path.stem}_color.png, {path.stem}_overlay.png")
    return 0
