"""Speed of the GRU engine, measured side by side in one run on this machine.

Prints two tables:

1. Train-step time (median over ``--steps`` steps after ``--warmup``; all candidates timed
   round-robin, one step each per round, so load from other processes hits them alike) of ``build_reseg`` against
   ``build_unet`` at matched parameter counts, at 64x64 and 128x128, batch 16, and the ratio.
   The baseline is the parameter-matched U-Net that trained best at 128x128 in our probes (10 base filters,
   3 poolings, batch norm; ~190k parameters against ReSeg's ~187k); the U-Net without batch norm
   and the shallower 20-40-80 U-Net (~184k) are listed too, so the choice of baseline is visible.
2. Forward throughput of one ReNet2D layer (and MinGRUSweep2D) in GFLOP/s, as a fraction of a
   dense float32 matmul's GFLOP/s measured in the same run (1024x1024 @ 1024x1024, near this
   machine's peak; a matmul of one GRU step's own small shape is dominated by call overhead when
   timed alone, so it is not a useful reference).

3. The same train steps under TensorFlow and under JAX (XLA compiles JAX's whole step, the GRU
   loops included), side by side: the JAX models live in a subprocess with its own backend
   (``--jax-python``, a Python that has jax; default this one if it has jax, else
   ``.ci/venv-jax/bin/python``), and each round times one TF step of every model, then one JAX
   step of every model, so load from other processes hits both alike. Ratios are to the TF U-Net
   of the same rounds. The first step (graph building / XLA compilation) is listed separately.

Peak memory is the process's peak resident set size (``resource.getrusage(...).ru_maxrss``):
TensorFlow's runtime included, for the whole run.

Run:  python benchmarks/bench_engine.py            (full: ~6-10 min on 2 cores)
      python benchmarks/bench_engine.py --quick    (fewer steps, 64x64 only for the models)
      python benchmarks/bench_engine.py --only backends --jax-python .ci/venv-jax/bin/python
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import keras  # noqa: E402

if keras.backend.backend() == "tensorflow":  # the JAX worker (section 3) runs without TensorFlow
    import tensorflow as tf

    # Six models each trace their own train step; TF's "retracing" notice about that is noise here.
    tf.get_logger().setLevel("ERROR")

from gruseg.layers import MinGRUSweep2D, ReNet2D  # noqa: E402
from gruseg.models import build_reseg, build_unet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Section 3's models: the baseline U-Net and the two ReSeg sweeps.
BACKEND_CONFIGS = [
    ("unet 10 filters, depth 3, BN", lambda: build_unet(base_filters=10, depth=3, seed=0)),
    ("reseg ReNet2D(48) x2", lambda: build_reseg(seed=0)),
    ("reseg minGRU sweep (48) x2", lambda: build_reseg(sweep="mingru", seed=0)),
]


def interleaved_medians(fns, steps, warmup):
    """Median time of each callable, timed round-robin (one call of each per round), so that a
    load spike from other processes hits every candidate alike instead of whichever ran then."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(steps):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def train_step_fn(model, size, batch, num_classes=2):
    """One ``train_on_batch`` step; Keras' default jit_compile ("auto": off on a TF CPU, on under JAX)."""
    rng = np.random.default_rng(0)
    x = rng.random((batch, size, size, 3), dtype=np.float32)
    y = rng.integers(0, num_classes, (batch, size, size)).astype("int32")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy())
    return lambda: float(np.asarray(model.train_on_batch(x, y)))


def first_call_then(fn):
    """Time ``fn``'s first call (tracing / compilation plus one step); return (seconds, fn)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0, fn


def jax_worker(size, batch, warmup):
    """Section 3's other process: build the models under JAX, then time one step of each per "step" line."""
    fns, first, params = [], [], []
    for _, build in BACKEND_CONFIGS:
        model = build()
        seconds, fn = first_call_then(train_step_fn(model, size, batch))
        fns.append(fn)
        first.append(seconds)
        params.append(model.count_params())
    for fn in fns:
        for _ in range(warmup - 1):
            fn()
    print(json.dumps({"first": first, "params": params, "keras": keras.__version__,
                      "jax": __import__("jax").__version__}), flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            break
        times = []
        for fn in fns:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        print(json.dumps(times), flush=True)


def find_jax_python(requested):
    if requested:
        return requested
    if importlib.util.find_spec("jax") is not None:
        return sys.executable
    candidate = ROOT / ".ci" / "venv-jax" / "bin" / "python"
    return str(candidate) if candidate.exists() else None


def backends_table(sizes, steps, warmup, batch, jax_python):
    """Section 3: TF and JAX train steps, round-robin across the two processes."""
    print(f"\nTrain step under TensorFlow and JAX, batch {batch}, median of {steps} after {warmup} warm-up; both "
          "backends timed round-robin (one step of each model per round, TF then JAX); ratio = time / TF U-Net "
          "time of the same rounds; first = the first step (graph building / XLA compilation)")
    if jax_python is None:
        print("(skipped: no Python with jax found; pass --jax-python, e.g. .ci/venv-jax/bin/python)")
        return
    header = f"{'model':30s} {'backend':>10s} {'params':>8s}" + "".join(
        f" {f'{s}^2 ms':>9s} {'ratio':>5s} {'first s':>7s}" for s in sizes)
    rows = {}
    versions = ""
    for size in sizes:
        env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        worker = subprocess.Popen([jax_python, __file__, "--jax-worker", "--size", str(size), "--batch", str(batch),
                                   "--warmup", str(warmup)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=env)
        models = [build() for _, build in BACKEND_CONFIGS]
        tf_first, tf_fns = zip(*(first_call_then(train_step_fn(m, size, batch)) for m in models))
        for fn in tf_fns:
            for _ in range(warmup - 1):
                fn()
        ready = json.loads(worker.stdout.readline())
        versions = f"JAX {ready['jax']}, Keras {ready['keras']} (in the subprocess)"
        tf_times, jax_times = [[] for _ in models], [[] for _ in models]
        for _ in range(steps):
            for fn, ts in zip(tf_fns, tf_times):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            worker.stdin.write("step\n")
            worker.stdin.flush()
            for t, ts in zip(json.loads(worker.stdout.readline()), jax_times):
                ts.append(t)
        worker.stdin.close()
        worker.wait(timeout=120)
        baseline = statistics.median(tf_times[0])
        for i, ((label, _), model) in enumerate(zip(BACKEND_CONFIGS, models)):
            for name, times, first, params in (("tensorflow", tf_times[i], tf_first[i], model.count_params()),
                                               ("jax", jax_times[i], ready["first"][i], ready["params"][i])):
                median = statistics.median(times)
                rows.setdefault((label, name), [params, ""])
                rows[label, name][1] += f" {median * 1e3:9.0f} {median / baseline:5.2f} {first:7.1f}"
        del models, tf_fns
    print(versions)
    print(header)
    print("-" * len(header))
    for (label, name), (params, cells) in rows.items():
        print(f"{label:30s} {name:>10s} {params:8,d}{cells}", flush=True)


def gru_sweep_flops(b, h, w, c, units, merge_mode="concat"):
    """Multiply-add FLOPs of a ReNet2D forward pass (matmuls only): 4 GRUs, each step
    2*(C_in*3U + U*3U) per pixel; rows read C, columns read the merged row output."""
    d = 2 * units if merge_mode == "concat" else units
    per_pixel = 2 * (2 * (c * 3 * units + units * 3 * units)) + 2 * (2 * (d * 3 * units + units * 3 * units))
    return b * h * w * per_pixel


def mingru_sweep_flops(b, h, w, c, units):
    """Matmul FLOPs of a MinGRUSweep2D forward pass: 4 directions, 2*C_in*2U per pixel."""
    return b * h * w * (2 * 2 * (c * 2 * units) + 2 * 2 * (2 * units * 2 * units))


def matmul_fn(n=1024):
    """A traced float32 (n x n) @ (n x n) matmul and its FLOP count."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda: tf.matmul(a, b))
    return (lambda: f().numpy()), 2 * n ** 3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps; models at 64x64 only")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 10, quick 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (tracing)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--units", type=int, default=64, help="ReNet2D units for the layer throughput table")
    parser.add_argument("--only", choices=("models", "layers", "backends"), action="append",
                        help="run only these sections (repeatable; default all three)")
    parser.add_argument("--jax-python", metavar="PYTHON", help="a Python with jax for section 3 (see above)")
    parser.add_argument("--sizes", type=int, nargs="+", help="image sides for sections 1 and 3 (default 64 128; quick 64)")
    parser.add_argument("--jax-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    steps = args.steps or (3 if args.quick else 10)
    sizes = tuple(args.sizes) if args.sizes else (64,) if args.quick else (64, 128)
    keras.utils.set_random_seed(0)
    if args.jax_worker:
        return jax_worker(args.size, args.batch, args.warmup)
    sections = set(args.only or ("models", "layers", "backends"))

    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"(1/5/15 min), {os.cpu_count()} CPUs; TF {tf.__version__}, Keras {keras.__version__}")

    if "models" in sections:
        models_table(args, steps, sizes)
    if "layers" in sections:
        layers_table(args, steps)
    if "backends" in sections:
        backends_table(sizes, steps, args.warmup, args.batch, find_jax_python(args.jax_python))

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (ru_maxrss, this process incl. TensorFlow; not the JAX subprocess): {peak_mb:,.0f} MB")
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min)")


def models_table(args, steps, sizes):
    # 1. train steps ------------------------------------------------------------------------
    configs = [  # the baseline first, so every later row can print its ratio
        ("unet 10 filters, depth 3, BN  [baseline]", lambda: build_unet(base_filters=10, depth=3, seed=0)),
        ("unet 10 filters, depth 3, no BN", lambda: build_unet(base_filters=10, depth=3, batch_norm=False, seed=0)),
        ("unet 20 filters, depth 2, BN", lambda: build_unet(base_filters=20, depth=2, seed=0)),
        ("reseg ReNet2D(48) x2, reset_after=True", lambda: build_reseg(seed=0)),
        ("reseg ReNet2D(48) x2, reset_after=False", lambda: build_reseg(reset_after=False, seed=0)),
        ("reseg minGRU sweep (48) x2, sequential", lambda: build_reseg(sweep="mingru", seed=0)),
    ]
    print(f"\nTrain step (Adam, sparse CE, train_on_batch), batch {args.batch}, median of {steps} after "
          f"{args.warmup} warm-up, models timed round-robin; ratio = time / baseline U-Net time at the same size")
    header = f"{'model':42s} {'params':>8s}" + "".join(f" {f'{s}^2 ms':>9s} {'ratio':>5s}" for s in sizes)
    print(header)
    print("-" * len(header))
    times = {}
    for s in sizes:
        models = [build() for _, build in configs]
        fns = [train_step_fn(m, s, args.batch) for m in models]
        for (label, _), t in zip(configs, interleaved_medians(fns, steps, args.warmup)):
            times[label, s] = t
        params = {label: m.count_params() for (label, _), m in zip(configs, models)}
        del models, fns
    for label, _ in configs:
        row = "".join(f" {times[label, s] * 1e3:9.0f} {times[label, s] / times[configs[0][0], s]:5.2f}" for s in sizes)
        print(f"{label:42s} {params[label]:8,d}{row}", flush=True)


def layers_table(args, steps):
    # 2. layer throughput --------------------------------------------------------------------
    b, h, w, c, u = args.batch, 32, 32, args.units, args.units
    print(f"\nLayer forward throughput, input ({b}, {h}, {w}, {c}), units {u} "
          f"(the ReNet2D of a ReSeg at 128^2), median of {steps}")
    x = tf.random.normal((b, h, w, c))
    layers = [
        ("ReNet2D reset_after=True", ReNet2D(u, seed=0), gru_sweep_flops(b, h, w, c, u)),
        ("ReNet2D reset_after=False", ReNet2D(u, reset_after=False, seed=0), gru_sweep_flops(b, h, w, c, u)),
        ("MinGRUSweep2D sequential", MinGRUSweep2D(u, seed=0), mingru_sweep_flops(b, h, w, c, u)),
        ("MinGRUSweep2D parallel", MinGRUSweep2D(u, scan="parallel", seed=0), mingru_sweep_flops(b, h, w, c, u)),
    ]
    mm, mm_flops = matmul_fn(1024)
    fns = [tf.function(lambda layer=layer: layer(x)) for _, layer, _ in layers]
    fns = [mm] + [lambda f=f: f().numpy() for f in fns]
    mm_time, *layer_times = interleaved_medians(fns, steps, args.warmup)
    peak = mm_flops / mm_time / 1e9
    print(f"dense matmul 1024x1024 @ 1024x1024 (timed in the same rounds): {peak:7.1f} GFLOP/s")
    header = f"{'layer':28s} {'ms':>7s} {'GFLOP':>7s} {'GFLOP/s':>8s} {'% of matmul':>12s}"
    print(header)
    print("-" * len(header))
    for (label, _, flops), t in zip(layers, layer_times):
        gf = flops / t / 1e9
        print(f"{label:28s} {t * 1e3:7.1f} {flops / 1e9:7.2f} {gf:8.1f} {100 * gf / peak:11.0f}%", flush=True)
    print("(MinGRU FLOPs count its own, smaller, matmuls: compare its ms with ReNet2D's, not its GFLOP/s.)")


if __name__ == "__main__":
    main()
