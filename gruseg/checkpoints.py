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
    history = state.get("history")
    if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
        problems.append("'history' is not an object of per-epoch lists")
    elif _is_int(epoch) and len(history.get("epoch", [])) != epoch:
        problems.append(f"'history' covers {len(history.get('epoch', []))} epochs but 'epoch' is {epoch}")
    if "wait" in state and not _is_int(state["wait"]):
        problems.append(f"'wait' is {state['wait']!r}, not a non-negative integer")
    if "best_epoch" in state and state["best_epoch"] is not None and not _is_int(state["best_epoch"], 1):
        problems.append(f"'best_epoch' is {state['best_epoch']!r}")
    if "stopped_early" in state and not isinstance(state["stopped_early"], bool):
        problems.append(f"'stopped_early' is {state['stopped_early']!r}, not true/false")
    return problems


def _check_model_file(path: Path, state_path: Path):
    """A ``.keras`` file is a zip archive holding ``config.json`` and ``model.weights.h5``."""
    if not path.is_file():
        raise GrusegError(f"{state_path} names the checkpoint {path.name}, which is missing; "
                          f"{_FRESH.format(dir=path.parent)}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise GrusegError(f"{path}: the checkpoint is damaged (not a complete .keras archive: {err}); "
                          f"{_FRESH.format(dir=path.parent)}") from None
    if bad is not None or not {"config.json", "model.weights.h5"} <= names:
        raise GrusegError(f"{path}: the checkpoint is damaged ({'corrupt member ' + bad if bad else 'incomplete'}); "
                          f"{_FRESH.format(dir=path.parent)}")


def read_state(out_dir) -> dict | None:
    """Read and check ``out_dir/checkpoint/state.json``; None when there is no checkpoint yet.

    Checks that the file is JSON of the right form (epoch, checkpoint name, history, early
    stopping fields) and that the model file it names exists and is a complete ``.keras``
    archive. Whether the weights fit the model being trained is checked when they are loaded
    (:func:`gruseg.training.train`).

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
