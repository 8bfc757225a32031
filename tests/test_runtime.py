"""gruseg.runtime: precision policies (both sweeps under mixed precision), strategies, determinism.

The multi-device test runs in a subprocess: TensorFlow's logical CPU devices must be configured
before TensorFlow initialises, and JAX's host device count (XLA_FLAGS) before JAX does.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from gruseg import runtime
from gruseg.errors import GrusegError
from gruseg.models import build_model
from gruseg.training import compile_segmenter

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0", "MPLBACKEND": "Agg"}
BACKEND = keras.backend.backend()


@pytest.fixture
def restore_policy():
    before = keras.config.dtype_policy().name
    yield
    keras.config.set_dtype_policy(before)


def test_configure_precision_returns_the_previous_policy(restore_policy):
    assert runtime.configure_precision("mixed_float16") == "float32"
    assert keras.config.dtype_policy().name == "mixed_float16"
    assert runtime.configure_precision("float32") == "mixed_float16"
    with pytest.raises(ValueError, match="policy must be one of 'float32', 'mixed_float16', 'mixed_bfloat16'"):
        runtime.configure_precision("float16")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("sweep", ["renet", "mingru"])
def test_both_sweeps_train_under_mixed_precision_with_float32_output(policy, sweep, restore_policy):
    runtime.configure_precision(policy)
    model = build_model("reseg", (8, 8, 3), 3, seed=0, sweep=sweep, renet_units=(2,), filters=(2,))
    sweeps = [layer for layer in model.layers if "renet" in layer.name or "mingru" in layer.name]
    assert sweeps and all(layer.compute_dtype == policy.removeprefix("mixed_") for layer in sweeps)
    compile_segmenter(model, 3, per_class_metrics=False, jit_compile=BACKEND == "jax")
    rng = np.random.default_rng(0)
    x, y = rng.random((4, 8, 8, 3)).astype("float32"), rng.integers(0, 3, (4, 8, 8)).astype("int32")
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0).history
    assert np.isfinite(history["loss"][0])
    if policy == "mixed_float16":
        assert type(model.optimizer).__name__ == "LossScaleOptimizer"  # Keras adds loss scaling for float16
    probabilities = model.predict(x, verbose=0)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-3)


def test_strategy_none_and_bad_names():
    with runtime.strategy_scope("none") as strategy:
        assert strategy is None and runtime.replicas(strategy) == 1
    with pytest.raises(ValueError, match="name must be one of 'none', 'mirrored', 'multi-worker'"):
        with runtime.strategy_scope("tpu"):
            pass


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TF_CONFIG is TensorFlow's multi-worker contract")
def test_multi_worker_without_tf_config_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(GrusegError, match="--distribute multi-worker: TF_CONFIG is not set; set it on every worker"):
        with runtime.strategy_scope("multi-worker"):
            pass


def test_require_tensorflow_names_the_feature_and_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import fails as if not installed
    with pytest.raises(GrusegError, match=r"^gruseg export: needs TensorFlow, which is not installed; "
                       r"pip install tensorflow \(or gruseg\[tf\]\) and run with KERAS_BACKEND=tensorflow"):
        runtime.require_tensorflow("gruseg export", backend_too=True)
    with pytest.raises(GrusegError, match=r"--tensorboard: needs TensorFlow.*gruseg\[tf\]\)$"):
        runtime.require_tensorflow("--tensorboard")


def test_configure_determinism_on_this_backend():
    """In a subprocess: TensorFlow's op determinism is process-wide and would slow the rest of the run."""
    code = "from gruseg import runtime; print(runtime.configure_determinism(True)); print(runtime.configure_determinism(False))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr
    expected = {"tensorflow": "tensorflow op determinism", "jax": "jax: deterministic on cpu"}[BACKEND]
    assert out.stdout.splitlines() == [expected, "off"]


@pytest.mark.slow  # two tiny trainings in subprocesses
def test_cli_deterministic_runs_repeat_byte_for_byte(tmp_path):
    """``--deterministic`` (TensorFlow op determinism / XLA on a CPU) in fresh processes: the same metrics.json."""
    argv = ["train", "--size", "16", "--samples", "10", "--epochs", "2", "--quiet", "--deterministic",
            "--model", "unet", "--model-arg", "base_filters=2", "--model-arg", "depth=1", "--batch-size", "8"]
    for name in ("a", "b"):
        out = subprocess.run([sys.executable, "-m", "gruseg", *argv, "--out", str(tmp_path / name)],
                             capture_output=True, text=True, env=ENV, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
    first = (tmp_path / "a" / "metrics.json").read_text()
    assert json.loads(first)["config"]["deterministic"] is True
    assert first == (tmp_path / "b" / "metrics.json").read_text()


# Two logical CPU devices, then the CLI: a mirrored run, its resume, and a one-device run to compare with.
_MIRRORED = textwrap.dedent("""
    import json, os, sys
    import keras
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from gruseg.cli import main
    from gruseg import runtime
    with runtime.strategy_scope("mirrored") as strategy:
        replicas = runtime.replicas(strategy)
    root = sys.argv[1]
    base = ["train", "--size", "16", "--samples", "20", "--quiet", "--model", "unet", "--model-arg", "base_filters=2",
            "--model-arg", "depth=1", "--batch-size", "8"]
    codes = [main([*base, "--epochs", "2", "--distribute", "mirrored", "--out", root + "/m"]),
             main([*base, "--epochs", "3", "--distribute", "mirrored", "--resume", "--out", root + "/m"]),
             main([*base, "--epochs", "3", "--out", root + "/one"]),
             main([*base, "--epochs", "1", "--distribute", "mirrored", "--batch-size", "7", "--out", root + "/odd"])]
    if keras.backend.backend() == "jax":  # JAX shards every batch evenly: a last batch of 3 cannot be split
        codes.append(main([*base, "--samples", "15", "--epochs", "1", "--distribute", "mirrored",
                           "--out", root + "/odd"]))
    print(json.dumps({"replicas": replicas, "codes": codes}))
""")


@pytest.mark.slow  # three tiny trainings in a subprocess (~1 min on the shared machine)
def test_mirrored_on_two_logical_cpus_trains_checkpoints_and_resumes(tmp_path):
    env = dict(ENV)
    if BACKEND == "jax":
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    out = subprocess.run([sys.executable, "-c", _MIRRORED, str(tmp_path)], capture_output=True, text=True, env=env,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"replicas": 2, "codes": [0, 0, 0, 2] + ([2] if BACKEND == "jax" else [])}, out.stderr[-2000:]
    assert "--batch-size 7: --distribute mirrored splits each batch between 2 devices; pass a multiple of 2" in out.stderr
    if BACKEND == "jax":
        assert "on JAX every batch must split evenly between 2 devices, but the validation split's last batch " \
               "has 3 images" in out.stderr
    assert not (tmp_path / "odd").exists()
    mirrored = json.loads((tmp_path / "m" / "history.json").read_text())
    single = json.loads((tmp_path / "one" / "history.json").read_text())
    assert mirrored["epoch"] == [1, 2, 3]  # two epochs, then the resume's third
    state = json.loads((tmp_path / "m" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 3 and (tmp_path / "m" / "checkpoint" / state["checkpoint"]).is_file()
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["config"]["distribute"] == "mirrored"
    # the same curve: each replica sees half of every batch, the summed gradient is the same up to
    # batch-norm statistics (computed per replica) and float rounding
    np.testing.assert_allclose(mirrored["loss"], single["loss"], rtol=0.05)
    assert np.sign(np.diff(mirrored["loss"])).tolist() == np.sign(np.diff(single["loss"])).tolist()
