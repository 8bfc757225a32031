"""Training checkpoints on disk: the layout, the state file, and checking a checkpoint before resuming.

Layout (``out_dir/checkpoint/``)::

    epoch_0003.keras    the whole model after epoch 3: architecture, weights AND optimizer state
    best.weights.h5     weights of the best epoch so far (only when early stopping is on)
    state.json          {"epoch": 3, "checkpoint": "epoch_0003.keras", "history": {...}, ...}
    run.json            the command line's arguments (written by ``gruseg train``)

Every file is replaced atomically (``gruseg._files.atomic_write``); ``state.json`` is replaced
*after* the model file it names, so it always points at a complete checkpoint, and the previous
epoch's file is deleted only after that. This module imports neither Keras nor TensorFlow: the
command line checks a checkpoint before it pays for either.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from gruseg.errors import GrusegError

__all__ = ["CHECKPOINT_DIR", "STATE_FILE", "BEST_FILE", "RUN_FILE", "EPOCH_FILE", "fresh_state", "read_state",
           "read_run_config", "public_state"]

CHECKPOINT_DIR = "checkpoint"
"""Name of the sub-directory of ``out_dir`` that :func:`gruseg.training.train` writes checkpoints to."""
STATE_FILE = "state.json"
BEST_FILE = "best.weights.h5"
RUN_FILE = "run.json"
EPOCH_FILE = re.compile(r"^epoch_(\d+)\.keras$")

_FRESH = "delete {dir} to start over (gruseg train --overwrite)"


def fresh_state() -> dict:
    """The state of a run before its first epoch."""
    return {"epoch": 0, "checkpoint": None, "history": {"epoch": []}, "best": None, "best_epoch": None,
            "wait": 0, "stopped_early": False, "monitor": None, "mode": None}


def public_state(state) -> dict:
    """``state`` without in-memory fields (keys starting with ``_``), as written to ``state.json``."""
    return {k: v for k, v in state.items() if not k.startswith("_")}


def _is_int(value, minimum=0):
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _problems(state, directory: Path):
    """Everything wrong with a parsed ``state.json`` (an empty list when it is usable)."""
    if not isinstance(state, dict):
        return [f"holds a {type(state).__name__}, not an object"]
    problems = []
    epoch = state.get("epoch")
    if "epoch" not in state:
        problems.append("has no 'epoch'")
    elif not _is_int(epoch):
        problems.append(f"'epoch' is {epoch!r}, not a non-negative integer")
    name = state.get("checkpoint")
    if epoch == 0 and name is None:
        pass
    elif not isinstance(name, str) or not EPOCH_FILE.match(name):
        problems.append(f"'checkpoint' is {name!r}, not a file name like epoch_0003.keras")
    elif _is_int(epoch) and int(EPOCH_FILE.match(name).group(1)) != epoch:
        problems.append(f"'checkpoint' {name!r} is not the model of epoch {epoch}")
    history = state.get("history")
    if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
        problems.append("'history' is not an object of per-epoch lists")
    elif not all(_is_number(x) for v in history.values() for x in v):
        problems.append("'history' holds values that are not numbers")
    elif _is_int(epoch) and len(history.get("epoch", [])) != epoch:
        problems.append(f"'history' covers {len(history.get('epoch', []))} epochs but 'epoch' is {epoch}")
    if "wait" in state and not _is_int(state["wait"]):
        problems.append(f"'wait' is {state['wait']!r}, not a non-negative integer")
    best_epoch = state.get("best_epoch")
    if best_epoch is not None and (not _is_int(best_epoch, 1) or (_is_int(epoch) and best_epoch > epoch)):
        problems.append(f"'best_epoch' is {best_epoch!r}, not an epoch done")
    if state.get("best") is not None and not _is_number(state["best"]):
        problems.append(f"'best' is {state['best']!r}, not a number")
    if state.get("monitor") is not None and not isinstance(state["monitor"], str):
        problems.append(f"'monitor' is {state['monitor']!r}, not a metric name")
    if state.get("mode") not in (None, "min", "max"):
        problems.append(f"'mode' is {state['mode']!r}, not 'min' or 'max'")
    if "stopped_early" in state and not isinstance(state["stopped_early"], bool):
        problems.append(f"'stopped_early' is {state['stopped_early']!r}, not true/false")
    return problems


def _is_number(value):
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _check_best_file(path: Path, state_path: Path):
    """The best epoch's weights (an HDF5 file), needed when the best epoch is not the last one."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise GrusegError(f"{state_path} says the best epoch's weights are in {path.name}, which is missing; "
                          f"{_FRESH.format(dir=path.parent)}") from None
    except OSError as err:
        raise GrusegError(f"{path}: unreadable ({err}); {_FRESH.format(dir=path.parent)}") from None
    if head != _HDF5_SIGNATURE:
        raise GrusegError(f"{path}: the best epoch's weights are damaged (not an HDF5 file); "
                          f"{_FRESH.format(dir=path.parent)}")


def _check_model_file(path: Path, state_path: Path):
    """A ``.keras`` file is a zip archive holding ``config.json`` and ``model.weights.h5``."""
    if path.is_dir():
        raise GrusegError(f"{path}: a directory, not a checkpoint file; {_FRESH.format(dir=path.parent)}")
    if not path.is_file():
        raise GrusegError(f"{state_path} names the checkpoint {path.name}, which is missing; "
                          f"{_FRESH.format(dir=path.parent)}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            bad = archive.testzip()
            weights_head = None
            if "model.weights.h5" in names and not bad:
                with archive.open("model.weights.h5") as member:
                    weights_head = member.read(8)
            config_ok = "config.json" in names and not bad and _is_json_object(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise GrusegError(f"{path}: the checkpoint is damaged (not a complete .keras archive: {err}); "
                          f"{_FRESH.format(dir=path.parent)}") from None
    if bad is not None or not {"config.json", "model.weights.h5"} <= names:
        raise GrusegError(f"{path}: the checkpoint is damaged ({'corrupt member ' + bad if bad else 'incomplete'}); "
                          f"{_FRESH.format(dir=path.parent)}")
    if weights_head != _HDF5_SIGNATURE or not config_ok:
        member = "model.weights.h5 is not an HDF5 file" if weights_head != _HDF5_SIGNATURE else \
            "config.json is not a JSON object"
        raise GrusegError(f"{path}: the checkpoint is damaged ({member}); {_FRESH.format(dir=path.parent)}")


def _is_json_object(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError):
        return False


def read_state(out_dir) -> dict | None:
    """Read and check ``out_dir/checkpoint/state.json``; None when there is no checkpoint yet.

    Checks that the file is JSON of the right form (epoch, the checkpoint of that epoch, a
    numeric history of that many epochs, early stopping fields), that the model file it names
    exists and is a complete ``.keras`` archive, and that the best epoch's weights exist when
    they will be needed. Whether the weights fit the model being trained is checked when they
    are loaded (:func:`gruseg.training.train`).

    Raises:
        GrusegError: naming the damaged file and what to do.

    Returns:
        dict with ``epoch`` (epochs completed), ``checkpoint`` (file name of the model saved after
        that epoch, in ``out_dir/checkpoint``), ``history``, and the early-stopping fields
        ``best``, ``best_epoch``, ``wait``, ``stopped_early``, ``monitor``, ``mode``.
    """
    directory = Path(out_dir) / CHECKPOINT_DIR
    path = directory / STATE_FILE
    if not path.exists():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise GrusegError(f"{path}: unreadable checkpoint state ({type(err).__name__}: {err}); "
                          f"{_FRESH.format(dir=directory)}") from None
    problems = _problems(state, directory)
    if problems:
        raise GrusegError(f"{path}: damaged checkpoint state ({'; '.join(problems)}); {_FRESH.format(dir=directory)}")
    if state["checkpoint"] is not None:
        _check_model_file(directory / state["checkpoint"], path)
    if state.get("best_epoch") is not None and state["best_epoch"] != state["epoch"]:
        _check_best_file(directory / BEST_FILE, path)
    return {**fresh_state(), **state}


def read_run_config(out_dir) -> dict | None:
    """``out_dir/checkpoint/run.json`` (the arguments of the run), None if absent.

    Raises:
        GrusegError: the file exists but is not a JSON object.
    """
    directory = Path(out_dir) / CHECKPOINT_DIR
    path = directory / RUN_FILE
    if not path.exists():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise GrusegError(f"{path}: unreadable run record ({type(err).__name__}); {_FRESH.format(dir=directory)}") \
            from None
    if not isinstance(config, dict):
        raise GrusegError(f"{path}: damaged run record (not a JSON object); {_FRESH.format(dir=directory)}")
    return config
