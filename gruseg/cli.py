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
import errno
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

from gruseg import _checks
from gruseg._interrupts import DeferredInterrupt
from gruseg.errors import GrusegError

__all__ = ["main", "build_parser"]

PROG = "gruseg"
OUTPUT_FILES = ("model.keras", "history.json", "history.csv", "curves.png", "metrics.json")  # metrics.json last
# Listed here to keep --help import-free; tests check them against the library's tables.
_DATASET_NAMES = ("shapes", "long-range", "camvid")        # gruseg.data.sources.DATASET_NAMES
_MODEL_NAMES = ("reseg", "unet", "renet-unet", "article")  # gruseg.models.MODEL_BUILDERS
_MODEL_ALIASES = {"seed": "article"}                         # gruseg.models.MODEL_ALIASES
_PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # gruseg.runtime.PRECISIONS
_STRATEGIES = ("none", "mirrored", "multi-worker")            # gruseg.runtime.STRATEGIES
_EXPORT_FORMATS = ("savedmodel", "tflite")                    # gruseg.export.FORMATS
# arguments that must be the same when resuming (epochs and patience may change)
_RESUME_KEYS = ("model", "data", "dataset", "size", "num_classes", "ignore_label", "samples", "val_fraction", "seed",
                "batch_size", "learning_rate", "lr_schedule", "class_weights", "dice_weight", "augment", "model_args",
                "mixed_precision", "resize")
MAX_SIDE = 4096
MAX_BATCH = 4096
MAX_EPOCHS = 100_000
MAX_SAMPLES = 1_000_000
MAX_CLASSES = 1024  # the confusion-matrix metrics hold num_classes**2 counters; 65536 classes need 32 GB each

EXAMPLES = """examples:
  gruseg train --out runs/shapes                            # the embedded synthetic shapes, ReSeg
  gruseg train --dataset camvid --model renet-unet --size 120x160 --epochs 30 --class-weights median --out runs/camvid
  gruseg train --data my_data --model unet --size 128 --epochs 20 --patience 5 --out runs/mine
  gruseg train --data my_data --epochs 20 --out runs/mine --resume           # after an interruption
  gruseg evaluate --model runs/camvid/model.keras --dataset camvid --json   # scores the test split
  gruseg predict --model runs/mine/model.keras photo1.jpg photo2.png --out predictions
  gruseg export --model runs/mine/model.keras --format savedmodel --out exported/mine
  gruseg train --data my_data --mixed-precision mixed_float16 --distribute mirrored --out runs/gpu   # all local GPUs
  KERAS_BACKEND=jax gruseg train --out runs/jax                # on JAX (pip install jax); no TensorFlow needed
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


_PATIENCE = _checks.argparse_type(_checks.positive_int, maximum=MAX_EPOCHS)
_SEED = _checks.argparse_type(_checks.seed, allow_none=False)
_BATCH = _checks.argparse_type(_checks.positive_int, maximum=MAX_BATCH)
_EPOCHS = _checks.argparse_type(_checks.positive_int, maximum=MAX_EPOCHS)
_SAMPLES = _checks.argparse_type(_checks.positive_int, maximum=MAX_SAMPLES)
_LABEL = _checks.argparse_type(_checks.non_negative_int, maximum=65535)
_NUM_CLASSES = _checks.argparse_type(_checks.integer, minimum=2, maximum=MAX_CLASSES)
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
    sub = parser.add_subparsers(dest="command", metavar="{train,evaluate,predict,export}", parser_class=_Parser)

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
        p.add_argument("--allow-lossy-masks", action="store_true",
                       help="accept JPEG/WebP masks (refused by default: compression changes the labels near edges)")
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
    t.add_argument("--patience", type=_PATIENCE,
                   help="stop after this many epochs without a better validation mean IoU (the best epoch is kept "
                   "in any case)")
    t.add_argument("--deterministic", action="store_true",
                   help="deterministic kernels: bit-identical reruns on a GPU too, at some speed cost (TensorFlow op "
                   "determinism; on a JAX GPU set XLA_FLAGS=--xla_gpu_deterministic_ops=true)")
    t.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=None,
                   help="XLA-compile the train step (default: on under JAX, off under TensorFlow, where it was "
                   "slower for the GRU sweeps on a CPU)")
    t.add_argument("--mixed-precision", choices=_PRECISIONS, default="float32", metavar="POLICY",
                   help="compute in 16 bits, keep float32 weights and outputs: mixed_float16 (NVIDIA GPUs), "
                   "mixed_bfloat16 (TPUs, recent GPUs/CPUs) or float32 (default)")
    t.add_argument("--distribute", choices=_STRATEGIES, default="none",
                   help="mirrored: one model copy per local GPU, each batch split between them; multi-worker: "
                   "several machines (TF_CONFIG on TensorFlow); default none")
    t.add_argument("--tensorboard", metavar="DIR",
                   help="also write TensorBoard event files to DIR (view with: pip install tensorboard; "
                   "tensorboard --logdir DIR)")
    t.add_argument("--out", default="runs/gruseg", metavar="DIR", help="output directory (default runs/gruseg)")
    again = t.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    again.add_argument("--overwrite", action="store_true", help="start over in a non-empty --out: its checkpoint and "
                       "gruseg outputs are deleted first (other files are kept)")
    t.set_defaults(func=_train_on_runtime)

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

    x = sub.add_parser("export", help="export a model for serving: a TensorFlow SavedModel or a TFLite file",
                       description="Export a trained model: --format savedmodel writes a SavedModel (any batch size) "
                       "into --out, --format tflite writes --out/model.tflite (one image at a time, TFLite built-in "
                       "ops). Each export is loaded back and checked against the Keras model before it is kept. "
                       "Needs TensorFlow.")
    x.add_argument("--model", required=True, metavar="MODEL", help="a model.keras written by 'gruseg train'")
    x.add_argument("--format", choices=_EXPORT_FORMATS, default="savedmodel", help="default savedmodel")
    x.add_argument("--out", required=True, metavar="DIR", help="output directory")
    x.add_argument("--size", type=_size, metavar="N|HxW",
                   help="image size when the model accepts any size (default: the training size)")
    x.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    x.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    x.set_defaults(func=_cmd_export)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 diverged, 2 user error, 130 interrupted).

    Every failure the user can act on ends as ONE line on stderr, ``gruseg: error: ...``: a
    :class:`~gruseg.errors.GrusegError`, an argparse error, Ctrl-C, a full disk, running out of
    memory. For ``train``, the line ends with what ``--out`` now holds and what to run next.

    Example:
        >>> main(["train", "--dataset", "shapes", "--size", "32", "--epochs", "1", "--out", "runs/x"])  # doctest: +SKIP
        0
    """
    _configure_matplotlib()
    import warnings

    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning  # a warning is one line too, e.g. lossy masks accepted
        with _INTERRUPTS.installed():  # Ctrl-C inside a Keras call waits for the next batch boundary
            return _main(argv)


_INTERRUPTS = DeferredInterrupt()  # installed by main(); holds Ctrl-C inside Keras calls


def _held_interrupts():
    """Hold Ctrl-C until a batch boundary or the end of the block (see :mod:`gruseg._interrupts`)."""
    return _INTERRUPTS.deferred()


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def _main(argv):
    parser = build_parser()
    args = None
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise _UsageError("choose a command: train, evaluate, predict or export", PROG)
        return args.func(args)
    except _UsageError as err:
        return _fail(f"{err}; see '{err.prog} --help'")
    except GrusegError as err:
        return _fail_user_error(err, args)
    except KeyboardInterrupt:
        if _command(args) == "train":
            kept, todo = _train_status(Path(args.out))
            return _fail(f"interrupted; {kept}: {todo}", code=130)
        return _fail("interrupted; nothing was written" if _command(args) == "predict" else "interrupted", code=130)
    except OSError as err:
        from gruseg._files import DiskFullError, is_disk_full

        if is_disk_full(err):
            where = err.filename or (getattr(args, "out", None) or "the disk")
            return _fail_user_error(DiskFullError(f"{where}: no space left on the device; free some space and run "
                                                  "the command again", where), args)
        if err.filename is None or err.errno not in _FILE_SYSTEM_ERRORS:
            raise
        # a path the user chose that cannot be written or read (permissions, a read-only mount, ...)
        message = f"{err.filename}: {err.strerror}; check the path and its permissions, or choose another location"
        if _command(args) == "train":
            kept, todo = _train_status(Path(args.out))
            message += f"; {kept}: then {todo}"
        return _fail(message)
    except MemoryError:
        return _fail_out_of_memory("", args)
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as err:
        if type(err).__name__ != "ResourceExhaustedError":  # TensorFlow's out-of-memory error
            raise
        shape = re.search(r"shape\s*\[[^\]]*\]", str(err))
        return _fail_out_of_memory(f" (TensorFlow could not allocate a tensor of {shape.group(0)})" if shape else "",
                                   args)


_FILE_SYSTEM_ERRORS = {getattr(errno, name) for name in ("EACCES", "EPERM", "EROFS", "ENOENT", "ENOTDIR", "EISDIR",
                                                         "ENAMETOOLONG", "ELOOP", "EEXIST", "EXDEV", "EMLINK")
                       if hasattr(errno, name)}


def _command(args):
    return getattr(args, "command", None)


def _fail_user_error(err, args) -> int:
    """One line for a GrusegError; for ``train``, a full disk or a divergence also says what ``--out`` holds."""
    from gruseg._files import DiskFullError

    diverged = "gruseg.training" in sys.modules and isinstance(err, sys.modules["gruseg.training"].TrainingDiverged)
    if _command(args) != "train" or not isinstance(err, DiskFullError) and not diverged:
        return _fail(str(err), code=1 if diverged else 2)
    kept, todo = _train_status(Path(args.out))
    if diverged:
        kept_run = "--resume" in todo
        again = " (with --overwrite, or a new --out)" if kept_run else ""
        resume = f", or {todo} to continue from there" if kept_run else ""
        return _fail(f"training diverged: the loss became {err.loss} in epoch {err.epoch} (step {err.step}) at "
                     f"learning rate {err.learning_rate:g}; {kept}: start again with a lower --learning-rate"
                     f"{again}{resume}", code=1)
    return _fail(f"{str(err).split('; ')[0]}; {kept}: free some space, then {todo}")


def _fail_out_of_memory(detail, args) -> int:
    message = f"out of memory{detail}; lower --batch-size or --size"
    if _command(args) == "train":
        kept, todo = _train_status(Path(args.out))
        message += f", or use less data (--samples) or a smaller model (--model-arg); {kept}: then {todo}"
    return _fail(message)


def _configure_matplotlib() -> None:
    """Give matplotlib a private config/cache directory when its default one is not writable.

    Otherwise it warns on stderr ("Matplotlib created a temporary cache directory ...") on every
    run, even under ``--quiet`` (e.g. when ``HOME`` is read-only). Must run before matplotlib is
    imported; an ``MPLCONFIGDIR`` the user set is left alone.
    """
    if os.environ.get("MPLCONFIGDIR") or "matplotlib" in sys.modules:
        return
    try:
        home = Path.home()
    except (RuntimeError, KeyError):
        home = None
    if sys.platform.startswith(("linux", "freebsd")):
        config = os.environ.get("XDG_CONFIG_HOME") or (home and home / ".config")
        cache = os.environ.get("XDG_CACHE_HOME") or (home and home / ".cache")
        candidates = [config and Path(config) / "matplotlib", cache and Path(cache) / "matplotlib"]
    else:
        candidates = [home and home / ".matplotlib"]
    if all(path and _writable_dir(path) for path in candidates):
        return
    import atexit

    private = tempfile.mkdtemp(prefix="gruseg-matplotlib-")
    atexit.register(shutil.rmtree, private, ignore_errors=True)
    os.environ["MPLCONFIGDIR"] = private


def _writable_dir(path: Path) -> bool:
    """``path`` is (or can be made) a directory we can write in: tried for real, as matplotlib would
    (``os.access`` says yes to root on /proc, and cannot see every read-only mount)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    return True


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
    if out.is_symlink() and not out.exists():
        raise GrusegError(f"{flag} {out}: a broken symbolic link (to {out.readlink()}); fix the link or choose "
                          f"another {flag}")
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
    """Nothing in ``path`` but (possibly) a lock file."""
    from gruseg._lock import LOCK_FILE

    return not path.exists() or all(p.name == LOCK_FILE for p in path.iterdir())


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
        "mixed_precision": getattr(args, "mixed_precision", "float32"), "distribute": getattr(args, "distribute", "none"),
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
        if not args.model_arg:
            raise
        raise GrusegError(f"--model-arg: {err}") from None


def _augmentation(args):
    from gruseg.data.pipeline import Augmentation

    choice = args.augment
    if choice is None:
        choice = "none" if args.dataset == "long-range" else "flip"
    return {"none": None, "flip": Augmentation(), "flip-scale": Augmentation(scale=(1.0, 1.25))}[choice]


def _check_out(args, out: Path) -> None:
    """``--out`` suits the run: empty (or ``--overwrite``), or holding a complete checkpoint (``--resume``)."""
    from gruseg.checkpoints import read_run_config, read_state  # light: no TensorFlow

    if args.resume:
        # both raise GrusegError naming the damaged file; run.json alone is a run killed before its first state
        if read_state(out) is None and read_run_config(out) is None:
            raise GrusegError(f"--resume: no checkpoint in {out / 'checkpoint'}; run without --resume "
                              "to start a new run")
    elif not args.overwrite and not _is_empty_dir(out):
        raise GrusegError(f"--out {out}: exists and is not empty; pass --resume to continue its run, "
                          "--overwrite to replace it, or choose another --out")


def _train_status(out: Path):
    """(what ``out`` holds now, what to run next), for the last line of a failed or interrupted run."""
    from gruseg.checkpoints import CHECKPOINT_DIR, RUN_FILE, read_state

    try:
        state = read_state(out)
    except GrusegError:
        return f"the checkpoint in {out} is damaged", "start over with --overwrite"
    if state is not None and state["epoch"] >= 1:
        return f"{out} keeps the checkpoint of epoch {state['epoch']}", "run the same command with --resume"
    if state is not None or (out / CHECKPOINT_DIR / RUN_FILE).exists():
        return f"{out} holds a run that has not finished an epoch", "run the same command with --resume"
    return f"nothing of this run was kept in {out}", "run the same command again"


def _forget_unfinished(out: Path) -> None:
    """Remove the checkpoint of a new run that failed before finishing an epoch: it holds nothing of value,
    and leaving it would make a plain rerun refuse a non-empty --out."""
    from gruseg.checkpoints import CHECKPOINT_DIR, STATE_FILE

    try:
        epoch = json.loads((out / CHECKPOINT_DIR / STATE_FILE).read_text(encoding="utf-8")).get("epoch", 0)
    except (OSError, ValueError, AttributeError):
        epoch = 0
    if epoch == 0:
        shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)


def _check_trainable(split, ignore, class_names) -> None:
    """The training masks must hold at least two classes, or there is nothing to learn."""
    import numpy as np

    present = np.unique(split.masks)
    if ignore is not None:
        present = present[present != ignore]
    if len(present) >= 2:
        return
    if len(present) == 1:
        label = int(present[0])
        name = f" ({class_names[label]})" if label < len(class_names) else ""
        what = f"only class {label}{name}"
    else:
        what = f"only void pixels (label {ignore})"
    raise GrusegError(f"{split.source}: the {len(split)} training masks hold {what}, so there is nothing to learn; "
                      "check that the masks hold class indices (a binary mask 0/1 or 0/255, not all 0), or add "
                      "images that show the other classes")


def _check_synthetic_memory(args, size) -> None:
    if args.data or args.dataset == "camvid":
        return
    from gruseg._memory import check_fits

    check_fits(2 * args.samples * size[0] * size[1] * (3 * 4 + 1), f"--samples {args.samples} --size {size[0]}",
               "lower --samples or --size")


def _cmd_train(args) -> int:
    """``gruseg train``: :func:`_train` under a lock on ``--out``, leaving ``--out`` resumable or as it was.

    The lock is taken just before the first write and released however the run ends; a new run
    that fails before finishing an epoch (Ctrl-C, a full disk, a divergence, a bug) removes the
    checkpoint it had started, so a plain rerun is accepted.
    """
    from gruseg._lock import DirectoryLock

    out = Path(args.out)
    lock = DirectoryLock(out, what=f"--out {out}", command="gruseg train")
    writing = []  # becomes [True] once this run has the lock and writes into --out
    try:
        return _train(args, out, lock, writing)
    except BaseException:
        if writing and not args.resume:
            _forget_unfinished(out)
        raise
    finally:
        lock.release()


def _train(args, out: Path, lock, writing) -> int:
    _check_writable_target(out)
    from gruseg.checkpoints import RUN_FILE, read_state

    lock.check()  # another run is writing into --out: refuse before anything else
    _check_out(args, out)

    from gruseg._files import disk_full, write_json
    from gruseg.data.pipeline import batches
    from gruseg.data.sources import training_splits
    from gruseg.losses import median_frequency_weights
    from gruseg.training import compile_segmenter, set_seed, train

    set_seed(args.seed, deterministic=args.deterministic)
    size = args.size or ((120, 160) if args.dataset == "camvid" and not args.data else (128, 128))
    args.class_weights = args.class_weights or ("median" if args.dataset == "camvid" and not args.data else "none")
    _check_synthetic_memory(args, size)
    train_split, val_split = training_splits(data=args.data, dataset=args.dataset, size=size,
                                             num_classes=args.num_classes, samples=args.samples, seed=args.seed,
                                             val_fraction=args.val_fraction, ignore_label=args.ignore_label,
                                             resize=args.resize or "stretch",
                                             allow_lossy_masks=args.allow_lossy_masks)
    num_classes = args.num_classes or train_split.num_classes
    class_names = train_split.class_names if len(train_split.class_names) == num_classes else \
        tuple(f"class_{c}" for c in range(num_classes))
    ignore = train_split.ignore_label
    _check_trainable(train_split, ignore, class_names)
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
    _check_last_batches(args, train=len(train_split), validation=0 if val_split is None else len(val_split))
    train_data = batches(train_split.images, train_split.masks, batch_size=args.batch_size, shuffle=True,
                         seed=args.seed, augment=_augmentation(args))
    val_data = (batches(val_split.images, val_split.masks, batch_size=args.batch_size)
                if val_split is not None else None)

    # --- from here on, --out is written to (checkpoints first; final files at the end)
    lock.acquire()  # held until the run ends in any way (see _cmd_train); a second run is refused
    _check_out(args, out)  # again, now that nobody else can write there
    writing.append(True)
    if args.overwrite:
        if (out / "checkpoint").is_dir() and not (out / "checkpoint").is_symlink():
            shutil.rmtree(out / "checkpoint")
        else:
            (out / "checkpoint").unlink(missing_ok=True)  # a file or a link in its place
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
    (out / "checkpoint").mkdir(parents=True, exist_ok=True)
    if not args.resume:
        with disk_full(out / "checkpoint" / RUN_FILE):
            write_json(out / "checkpoint" / RUN_FILE, config)
    n_val = 0 if val_split is None else len(val_split)
    _say(args, f"training {config['model']} on {train_split.source}: {len(train_split)} training / {n_val} validation "
               f"images of {size[0]}x{size[1]}, {num_classes} classes, up to {args.epochs} epochs "
               f"(checkpoints in {out / 'checkpoint'}); the first step builds the graph and is slow")
    start = time.perf_counter()
    held = [_INTERRUPTS.callback()]
    with _held_interrupts():
        history = train(model, train_data, val_data, epochs=args.epochs, out_dir=out, patience=args.patience,
                        resume=args.resume, seed=args.seed, deterministic=args.deterministic, restore_best=True,
                        verbose=0, callbacks=[*held, *_train_callbacks(args)])
    seconds = time.perf_counter() - start
    state = read_state(out)

    with _held_interrupts():
        final = {"train": model.evaluate(batches(train_split.images, train_split.masks, batch_size=args.batch_size),
                                         verbose=0, return_dict=True, callbacks=held)}
        if val_data is not None:
            final["validation"] = model.evaluate(val_data, verbose=0, return_dict=True, callbacks=held)
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


def _train_on_runtime(args) -> int:
    """``gruseg train`` inside its runtime: precision policy, device strategy, determinism, backend defaults.

    The strategy scope covers building, compiling, fitting (and a resume's checkpoint restore);
    the precision policy is restored afterwards, so ``main`` can run again in the same process.
    """
    import warnings

    from gruseg import runtime

    if args.tensorboard is not None:
        _check_tensorboard(args.tensorboard)
    if args.jit_compile is None:  # JAX without jit runs the step op by op, ~5x slower here
        args.jit_compile = runtime.backend() == "jax"
    previous = runtime.configure_precision(args.mixed_precision)
    try:
        with warnings.catch_warnings():
            # Keras' confusion matrix asks JAX for int64 indices (JAX gives int32; harmless): one warning per trace
            warnings.filterwarnings("ignore", message="Explicitly requested dtype int64", category=UserWarning)
            runtime.configure_determinism(args.deterministic)
            with runtime.strategy_scope(args.distribute) as strategy:
                args.replicas = runtime.replicas(strategy)
                _check_batch_split(args, args.replicas)
                return _cmd_train(args)
    finally:
        runtime.configure_precision(previous)


def _check_tensorboard(log_dir) -> None:
    """Keras writes event files with ``tf.summary``, whose scalar writer lives in the tensorboard package."""
    import importlib.util

    from gruseg import runtime

    runtime.require_tensorflow("--tensorboard")
    if importlib.util.find_spec("tensorboard") is None:
        raise GrusegError("--tensorboard: writing TensorBoard logs needs the tensorboard package, which TensorFlow "
                          "2.21 no longer installs; pip install tensorboard (or drop --tensorboard)")
    _check_writable_target(Path(log_dir), flag="--tensorboard")


def _check_batch_split(args, replicas) -> None:
    if replicas > 1 and args.batch_size % replicas:
        raise GrusegError(f"--batch-size {args.batch_size}: --distribute {args.distribute} splits each batch between "
                          f"{replicas} devices; pass a multiple of {replicas}")


def _check_last_batches(args, **split_sizes) -> None:
    """JAX shards every batch evenly between the devices, the last one of each split included."""
    replicas = getattr(args, "replicas", 1)
    if replicas == 1:
        return
    from gruseg import runtime

    if runtime.backend() != "jax":
        return  # TensorFlow's MirroredStrategy takes an uneven last batch
    for name, n in split_sizes.items():
        last = n % args.batch_size
        if last % replicas:
            raise GrusegError(f"--distribute {args.distribute}: on JAX every batch must split evenly between "
                              f"{replicas} devices, but the {name} split's last batch has {last} images ({n} "
                              f"images, --batch-size {args.batch_size}); choose --samples, --val-fraction or "
                              "--batch-size so that it does, or train with KERAS_BACKEND=tensorflow")


def _train_callbacks(args) -> list:
    """The epoch-line printer (not with --quiet) and the TensorBoard writer (with --tensorboard)."""
    from gruseg.progress import EpochLine

    callbacks = [] if args.quiet else [EpochLine()]
    if args.tensorboard is not None:
        import keras

        callbacks.append(keras.callbacks.TensorBoard(log_dir=args.tensorboard, write_graph=False))
    return callbacks


def _write_outputs(out, model, history, metrics):
    from gruseg._files import disk_full, quiet_keras_save, to_json, write_history_csv
    from gruseg.plotting import save_history_figure

    with _Staging(out) as stage, disk_full(out, kept="the checkpoint is kept"):
        with quiet_keras_save():
            model.save(stage.path / "model.keras")
        (stage.path / "history.json").write_text(to_json(history) + "\n", encoding="utf-8")
        write_history_csv(stage.path / "history.csv", history)
        save_history_figure(history, stage.path / "curves.png")
        (stage.path / "metrics.json").write_text(to_json(metrics) + "\n", encoding="utf-8")
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


def _labels_beyond_model(err, args, num_classes, ignore) -> GrusegError:
    labels = ", ".join(str(v) for v in err.labels[:8]) + (", ..." if len(err.labels) > 8 else "")
    void = (f", or pass --ignore-label {err.labels[0]} if {err.labels[0]} marks void pixels"
            if len(err.labels) == 1 and ignore is None else "")
    return GrusegError(f"{err.path}: mask labels {{{labels}}} are beyond the {num_classes} classes the model "
                       f"--model {args.model} predicts (labels 0..{num_classes - 1}); evaluate it on masks labelled "
                       f"for this model{void}")


def _cmd_evaluate(args) -> int:
    from gruseg.data.folder import MaskLabelError
    from gruseg.data.sources import load_split
    from gruseg.inference import input_size, load_model
    from gruseg.metrics import format_report

    model = load_model(args.model, what="--model")
    info = _run_info(args.model)
    trained = tuple(info["size"]) if isinstance(info.get("size"), list) and len(info["size"]) == 2 else None
    size = input_size(model, args.size or trained, what="--size")
    num_classes = int(model.output_shape[-1])
    ignore = args.ignore_label if args.ignore_label is not None else info.get("ignore_label")
    _check_synthetic_memory(args, size)
    try:
        split = load_split(data=args.data, dataset=args.dataset, split=args.split, size=size,
                           num_classes=num_classes if args.data else None, samples=args.samples, seed=args.seed,
                           ignore_label=ignore if args.data else None,
                           resize=args.resize or info.get("resize") or "stretch",
                           allow_lossy_masks=args.allow_lossy_masks)
    except MaskLabelError as err:  # its fix names --num-classes, which evaluate does not have
        raise _labels_beyond_model(err, args, num_classes, ignore) from None
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


def _cmd_export(args) -> int:
    from gruseg.export import export_model

    out = Path(args.out)
    _check_writable_target(out)
    info = _run_info(args.model)
    trained = tuple(info["size"]) if isinstance(info.get("size"), list) and len(info["size"]) == 2 else None
    try:
        result = export_model(args.model, out, format=args.format, size=args.size or trained, overwrite=args.overwrite)
    except OSError as err:
        full = _disk_full(out.parent, err)
        if full is None:
            raise
        raise full from None
    _say(args, f"exported {args.model} as {args.format}: {result['path']} (input {result['input_shape']}, "
               f"checked: largest difference {result['max_abs_diff']:.1e} from the Keras model)")
    return 0


def _fmt(value):
    """`` 0.123`` (a leading space, whatever the size) or `` n/a``."""
    return " n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f" {value:.3f}"


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
    from gruseg._files import disk_full
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
    with _Staging(out) as stage, disk_full(out, kept="nothing was written there: free some space and run the "
                                                   "command again"):
        for path, original, label in zip(paths, originals, labels, strict=True):
            mask = resize_labels(label, original.shape[:2])
            names = [f"{path.stem}_mask.png", f"{path.stem}_color.png", f"{path.stem}_overlay.png"]
            save_label_png(mask, stage.path / names[0], num_classes=num_classes, colors=colors)
            save_rgb_png(colorize_mask(mask, num_classes, colors=colors), stage.path / names[1])
            save_rgb_png(overlay_mask(original, mask, colors=colors, background=None if colors else 0),
                         stage.path / names[2])
            written += names
        stage.publish(written)
    for path in paths:
        _say(args, f"{path} -> {out / (path.stem + '_mask.png')}, {path.stem}_color.png, {path.stem}_overlay.png")
    return 0
