"""Where a model runs: the Keras backend's needs, numeric precision, several devices, determinism.

Each function here is one explicit choice a training script (or ``gruseg train``) makes before it
builds a model; nothing changes at import.

* :func:`configure_precision` sets Keras' global dtype policy: ``"float32"`` (the default),
  ``"mixed_float16"`` or ``"mixed_bfloat16"`` (layers compute in 16 bits and keep float32
  weights; gruseg's builders end in a float32 softmax, so the probabilities stay float32; under
  ``mixed_float16`` Keras wraps the optimizer in a ``LossScaleOptimizer`` at compile time).
* :func:`strategy_scope` opens a device strategy around building, compiling *and* fitting a
  model: ``"mirrored"`` copies the model onto every local device and splits each batch
  (``tf.distribute.MirroredStrategy`` on TensorFlow, ``keras.distribution.DataParallel`` on
  JAX); ``"multi-worker"`` does the same across machines (``MultiWorkerMirroredStrategy`` with
  ``TF_CONFIG`` set on every worker; on JAX ``keras.distribution.initialize()`` then
  ``DataParallel`` over every process's devices).
* :func:`configure_determinism` makes kernels deterministic: TensorFlow's op determinism, or,
  under JAX, nothing on a CPU (XLA's CPU kernels already repeat) and a clear request for
  ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` on a GPU.
* :func:`require_tensorflow` is the one place that says what to install when a feature needs
  TensorFlow (tf.data, SavedModel/TFLite export, TensorBoard event files, ``tf.distribute``).

Example:
    >>> previous = configure_precision("mixed_bfloat16")
    >>> keras.config.dtype_policy().name
    'mixed_bfloat16'
    >>> configure_precision(previous)
    'mixed_bfloat16'
    >>> with strategy_scope("none") as strategy:
    ...     strategy is None
    True
"""

from __future__ import annotations

import contextlib
import os

import keras

from gruseg import _checks
from gruseg.errors import GrusegError

__all__ = ["PRECISIONS", "STRATEGIES", "configure_precision", "strategy_scope", "replicas", "configure_determinism",
           "require_tensorflow", "backend"]

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
"""Dtype policies :func:`configure_precision` accepts."""

STRATEGIES = ("none", "mirrored", "multi-worker")
"""Device strategies :func:`strategy_scope` accepts."""

_TF_INSTALL = "pip install tensorflow (or gruseg[tf])"


def backend() -> str:
    """The Keras backend in use: ``"tensorflow"``, ``"jax"``, ``"torch"`` or ``"numpy"``."""
    return keras.backend.backend()


def require_tensorflow(what: str, backend_too: bool = False):
    """Import TensorFlow for ``what``, or say in one line what to install.

    Args:
        what: the feature, as the user named it (``"--tensorboard"``, ``"gruseg export"``).
        backend_too: the feature also needs Keras to run on TensorFlow (not only TF importable).

    Returns:
        The ``tensorflow`` module.

    Raises:
        GrusegError: TensorFlow is missing, or (``backend_too``) Keras runs on another backend.
    """
    try:
        import tensorflow as tf
    except ModuleNotFoundError:
        also = " and run with KERAS_BACKEND=tensorflow (the default)" if backend_too else ""
        raise GrusegError(f"{what}: needs TensorFlow, which is not installed; {_TF_INSTALL}{also}") from None
    if backend_too and backend() != "tensorflow":
        raise GrusegError(f"{what}: runs on the TensorFlow backend, but Keras runs on {backend()}; "
                          "run it with KERAS_BACKEND=tensorflow")
    return tf


def configure_precision(policy: str = "float32") -> str:
    """Set Keras' global dtype policy for the models built after this call.

    ``mixed_float16`` suits NVIDIA GPUs with tensor cores (compute capability >= 7.0); on a CPU it
    runs, slower than float32. ``mixed_bfloat16`` suits TPUs and recent GPUs and CPUs with bf16
    instructions. Weights, the loss and the softmax output stay float32 in both.

    Args:
        policy: one of :data:`PRECISIONS`.

    Returns:
        The previous policy's name (pass it back to undo).
    """
    policy = _checks.choice("policy", policy, PRECISIONS)
    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(policy)
    return previous


def _tf_strategy(name):
    tf = require_tensorflow(f"--distribute {name}")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if not os.environ.get("TF_CONFIG"):
        raise GrusegError("--distribute multi-worker: TF_CONFIG is not set; set it on every worker to "
                          '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", '
                          '"index": N}} (see chapters/appendix_gpu.md), or use --distribute mirrored on one machine')
    return tf.distribute.MultiWorkerMirroredStrategy()


@contextlib.contextmanager
def strategy_scope(name: str = "none"):
    """A context in which to build, compile and fit a model on several devices.

    Keep the model's ``fit`` (and a resumed run's checkpoint restore, which builds the optimizer's
    variables) inside the same ``with`` block.

    Args:
        name: one of :data:`STRATEGIES`: ``"none"`` (the default device), ``"mirrored"`` (all
            local devices: GPUs, or the logical CPUs a test configures) or ``"multi-worker"``.

    Yields:
        None for ``"none"``; the ``tf.distribute.Strategy`` (TensorFlow) or the
        ``keras.distribution.DataParallel`` (JAX) otherwise.

    Raises:
        GrusegError: a backend without a strategy (PyTorch, NumPy), TensorFlow missing, or
            ``"multi-worker"`` on TensorFlow without ``TF_CONFIG``.
    """
    name = _checks.choice("name", name, STRATEGIES)
    if name == "none":
        yield None
        return
    which = backend()
    if which == "tensorflow":
        strategy = _tf_strategy(name)
        with strategy.scope():
            yield strategy
    elif which == "jax":
        if name == "multi-worker":
            keras.distribution.initialize()   # reads JAX's coordinator address, process count and id
        distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
        with distribution.scope():
            yield distribution
    else:
        raise GrusegError(f"--distribute {name}: supported on the tensorflow and jax backends, not {which}; "
                          "set KERAS_BACKEND=tensorflow or jax")


def replicas(strategy) -> int:
    """How many copies of the model a strategy from :func:`strategy_scope` trains (1 for None)."""
    if strategy is None:
        return 1
    if hasattr(strategy, "num_replicas_in_sync"):
        return int(strategy.num_replicas_in_sync)
    return int(strategy.device_mesh.devices.size)


def configure_determinism(enabled: bool = True) -> str:
    """Make the backend's kernels deterministic, or say what is needed.

    * TensorFlow: ``tf.config.experimental.enable_op_determinism()`` (process-wide; some GPU ops
      then run slower or raise ``UnimplementedError``).
    * JAX on a CPU: nothing to do (XLA's CPU kernels give the same result every run).
    * JAX on a GPU: needs ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` set before the process
      starts (XLA reads it once); without it, a :class:`~gruseg.errors.GrusegError` says so.

    Args:
        enabled: False does nothing (returns ``"off"``).

    Returns:
        str: what was done, ``"off"``, ``"tensorflow op determinism"`` or ``"jax: deterministic on cpu"``
        (or ``"... on gpu (XLA flag set)"``).

    Raises:
        GrusegError: a backend or device on which it cannot be promised.
    """
    if not _checks.boolean("enabled", enabled):
        return "off"
    which = backend()
    if which == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        return "tensorflow op determinism"
    if which == "jax":
        import jax

        platforms = {device.platform for device in jax.devices()}
        if platforms <= {"cpu"}:
            return "jax: deterministic on cpu"
        if "--xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", ""):
            return f"jax: deterministic on {'/'.join(sorted(platforms))} (XLA flag set)"
        raise GrusegError("--deterministic: on a JAX GPU, XLA needs XLA_FLAGS=--xla_gpu_deterministic_ops=true "
                          "in the environment before the run starts; set it and run again")
    raise GrusegError(f"--deterministic: not supported on the {which} backend; use KERAS_BACKEND=tensorflow or jax")
