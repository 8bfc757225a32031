"""Real photographs: CamVid at 120x160, every model trained with one recipe for the same wall-clock budget.

What it does, in one process on this machine:

1. **CamVid** (the shipped sample: 367 train / 101 val / 233 test photographs, 11 classes + void).
   Each model (U-Net, ReNet U-Net, ReSeg, the corrected article model) trains for ``--minutes`` of
   wall-clock time with the same recipe: Adam (``--learning-rate`` peak; AdamW with ``--weight-decay``),
   median-frequency class weights, void ignored, left-right flips, batch ``--batch-size``, and a
   cosine learning rate *in time*: warm-up over the first 3 % of the budget from a tenth of the
   peak, then cosine decay to 1 % of it at the end of the budget, so every model anneals fully
   whatever its speed. An epoch (training + validation) is started only if the median epoch so
   far still fits in the budget. After every epoch the validation mean IoU is measured; the best
   epoch's weights are scored on the **test** split: mean IoU over the 11 classes (void pixels
   ignored), per-class IoU and global pixel accuracy. U-Net and ReNet U-Net run once per
   ``--seeds`` entry, interleaved (U-Net, ReNet U-Net, ReNet U-Net, U-Net: :func:`run_order`) so that a
   drifting load on a shared machine favours neither; ReSeg and the article model follow with the first
   seed (``--all-seeds``: all).
2. **Synthetic checks** (``--synthetic-seconds`` each, 0 skips them): the ReNet U-Net against the
   U-Net on the binary shapes task and the long-range parity task at 64x64
   (:func:`gruseg.book.experiments.compare_under_budget`, same batches, same seconds).
3. Saves the best weights of the seed-0 U-Net and ReNet U-Net runs as
   ``--weights-dir/<model>_seed0.weights.h5`` with a JSON sidecar (command, date, git commit,
   budget, recipe, builder arguments, metrics, and the benchmark's summary) that chapter 4b reads.

Run (a quiet machine; ~50 min with the defaults):
    python benchmarks/bench_real.py --minutes 7 --seeds 0 1
Smoke test (~3 min; still writes placeholder weights unless --no-save):
    python benchmarks/bench_real.py --minutes 0.3 --seeds 0 --models unet renet-unet --synthetic-seconds 5
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gruseg.data.camvid import CAMVID_CLASSES, CAMVID_VOID, load_camvid  # noqa: E402
from gruseg.data.pipeline import Augmentation, batches  # noqa: E402
from gruseg.inference import predict_labels  # noqa: E402
from gruseg.losses import median_frequency_weights  # noqa: E402
from gruseg.metrics import segmentation_report  # noqa: E402
from gruseg.models import MODEL_BUILDERS, build_model  # noqa: E402
from gruseg.training import compile_segmenter, set_seed, train  # noqa: E402

tf.get_logger().setLevel("ERROR")  # several models trace their own steps: TF's retracing notices are noise here

HERE = Path(__file__).resolve().parent
MODELS = ("unet", "renet-unet", "reseg", "article")
LABELS = {"unet": "U-Net 10/3", "renet-unet": "ReNet U-Net", "reseg": "ReSeg", "article": "article model (fixed)"}
SEEDED = ("unet", "renet-unet")          # the two models run with every seed
SAVED = ("unet", "renet-unet")           # the two whose seed-0 weights are saved
WARMUP_FRACTION = 0.03


class TimeBudget(keras.callbacks.Callback):
    """Cosine learning rate over a wall-clock budget; stops before an epoch that would not fit.

    ``lr(f) = peak * (0.1 + 0.9 f / w)`` for the fraction ``f < w`` of the budget used, then
    ``peak * (0.01 + 0.99 * (1 + cos(pi (f - w) / (1 - w))) / 2)``. Records each epoch's seconds.
    """

    def __init__(self, seconds, peak):
        super().__init__()
        self.seconds, self.peak = float(seconds), float(peak)
        self.start, self.epoch_start, self.epoch_seconds = None, None, []

    def rate(self, fraction):
        f = min(max(fraction, 0.0), 1.0)
        if f < WARMUP_FRACTION:
            return self.peak * (0.1 + 0.9 * f / WARMUP_FRACTION)
        t = (f - WARMUP_FRACTION) / (1 - WARMUP_FRACTION)
        return self.peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(self.rate((time.perf_counter() - self.start) / self.seconds))

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.epoch_seconds.append(now - self.epoch_start)
        if now - self.start + statistics.median(self.epoch_seconds) > self.seconds:
            self.model.stop_training = True

    @property
    def elapsed(self):
        return time.perf_counter() - self.start


def builder_kwargs(name, seed):
    """Every argument of the builder except the shapes: what the sidecar needs to rebuild the model."""
    params = inspect.signature(MODEL_BUILDERS[name]).parameters
    kwargs = {k: p.default for k, p in params.items() if k not in ("input_shape", "num_classes", "name")}
    kwargs["seed"] = seed
    return {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}


def train_camvid(name, seed, data, args, weights):
    """One budgeted run; returns (result dict, trained model with the best epoch's weights)."""
    train_split, val_split, test_split = data
    set_seed(seed)
    kwargs = builder_kwargs(name, seed)
    model = build_model(name, (*args.size, 3), len(CAMVID_CLASSES), **kwargs)
    compile_segmenter(model, len(CAMVID_CLASSES), learning_rate=args.learning_rate, weight_decay=args.weight_decay,
                      class_names=CAMVID_CLASSES, ignore_class=CAMVID_VOID, class_weights=weights,
                      dice_weight=args.dice_weight, per_class_metrics=False)
    train_data = batches(train_split.images, train_split.masks, batch_size=args.batch_size, shuffle=True, seed=seed,
                         augment=Augmentation())
    val_data = batches(val_split.images, val_split.masks, batch_size=16)
    budget = TimeBudget(args.minutes * 60, args.learning_rate)
    history = train(model, train_data, val_data, epochs=100_000, seed=seed, restore_best=True, verbose=0,
                    callbacks=[budget])
    seconds = budget.elapsed
    val_miou = history.get("val_mean_iou", [float("nan")])
    best_epoch = int(np.nanargmax(val_miou)) + 1
    labels = predict_labels(model, test_split.images, batch_size=16, exclude=CAMVID_VOID)
    report = segmentation_report(test_split.masks, labels, len(CAMVID_CLASSES), class_names=CAMVID_CLASSES,
                                 ignore_class=CAMVID_VOID)
    times = budget.epoch_seconds
    result = {
        "model": name, "seed": seed, "params": int(model.count_params()), "builder_kwargs": kwargs,
        "epochs": len(times), "best_epoch": best_epoch, "seconds": round(seconds, 1),
        "sec_per_epoch": round(statistics.median(times[1:] or times), 2), "first_epoch_sec": round(times[0], 2),
        "val_mean_iou_best": float(np.nanmax(val_miou)),
        "test": {"mean_iou": report["mean_iou"], "pixel_accuracy": report["pixel_accuracy"],
                 "mean_dice": report["mean_dice"],
                 "iou": {c: report["per_class"][c]["iou"] for c in CAMVID_CLASSES}},
    }
    return result, model


def synthetic_checks(seconds, seed=0):
    """ReNet U-Net vs U-Net on binary shapes and long-range parity, 64x64, ``seconds`` each."""
    from gruseg.book.experiments import compare_under_budget
    from gruseg.data.synthetic import make_long_range, make_shapes
    from gruseg.models import build_renet_unet, build_unet

    tasks = {}
    x, y = make_shapes(600, size=64, seed=0)
    xt, yt = make_shapes(200, size=64, seed=1)
    tasks["binary shapes"] = (x, (y > 0).astype("uint8"), xt, (yt > 0).astype("uint8"))
    tasks["long-range parity"] = (*make_long_range(1000, size=64, seed=0), *make_long_range(200, size=64, seed=1))
    out = {}
    for task, data in tasks.items():
        runs = compare_under_budget({
            "renet-unet": lambda: build_renet_unet((64, 64, 3), 2, seed=seed),
            "unet": lambda: build_unet((64, 64, 3), 2, seed=seed),
        }, data, seconds=seconds, seed=seed, learning_rate=3e-3)
        out[task] = {name: {"mean_iou": r.mean_iou, "steps": r.steps, "seconds": round(r.seconds, 1),
                            "params": r.params} for name, r in runs.items()}
        print(f"  {task:18s} " + "   ".join(f"{LABELS[n]} mIoU {v['mean_iou']:.3f} ({v['steps']} steps)"
                                            for n, v in out[task].items()), flush=True)
    return out


def git_commit():
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def summarise(results):
    """Per model: mean test mIoU, per-class IoU and accuracy over its seeds."""
    summary = {}
    for name in MODELS:
        runs = [r for r in results if r["model"] == name]
        if not runs:
            continue
        miou = [r["test"]["mean_iou"] for r in runs]
        summary[name] = {
            "seeds": [r["seed"] for r in runs], "mean_iou": float(np.mean(miou)), "mean_iou_runs": miou,
            "pixel_accuracy": float(np.mean([r["test"]["pixel_accuracy"] for r in runs])),
            "iou": {c: float(np.mean([r["test"]["iou"][c] or 0.0 for r in runs])) for c in CAMVID_CLASSES},
            "params": runs[0]["params"], "sec_per_epoch": float(np.median([r["sec_per_epoch"] for r in runs])),
            "epochs": float(np.mean([r["epochs"] for r in runs])),
        }
    return summary


def print_tables(summary, results):
    base = summary.get("unet")
    print("\n| model (test split, best val epoch) | params | ratio | s/epoch | ratio | epochs | seeds "
          "| mean IoU | Δ vs U-Net | pixel acc. |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, s in summary.items():
        ratio_p = f"{s['params'] / base['params']:.2f}" if base else "-"
        ratio_t = f"{s['sec_per_epoch'] / base['sec_per_epoch']:.2f}" if base else "-"
        delta = f"{100 * (s['mean_iou'] - base['mean_iou']):+.1f}" if base else "-"
        runs = " / ".join(f"{100 * v:.1f}" for v in s["mean_iou_runs"])
        print(f"| {LABELS[name]} | {s['params']:,} | {ratio_p} | {s['sec_per_epoch']:.1f} | {ratio_t} | "
              f"{s['epochs']:.0f} | {len(s['seeds'])} | {100 * s['mean_iou']:.1f} ({runs}) | {delta} | "
              f"{100 * s['pixel_accuracy']:.1f} |")
    names = list(summary)
    print("\n| class | " + " | ".join(LABELS[n] for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for c in CAMVID_CLASSES:
        print(f"| {c} | " + " | ".join(f"{100 * summary[n]['iou'][c]:.1f}" for n in names) + " |")
    print("(IoU in %, mean over the model's seeds; void pixels ignored.)")


def verdicts(summary, synthetic):
    lines = []
    if "unet" in summary and "renet-unet" in summary:
        gap = 100 * (summary["renet-unet"]["mean_iou"] - summary["unet"]["mean_iou"])
        n = min(len(summary["unet"]["seeds"]), len(summary["renet-unet"]["seeds"]))
        ok = gap >= 3.0 and n >= 2
        lines.append(f"ReNet U-Net - U-Net = {gap:+.1f} points mean IoU over {n} seed(s) (target >= +3.0 over >= 2 "
                     f"seeds): {'met' if ok else 'MISSED'}")
        zero = [c for c in CAMVID_CLASSES if summary["renet-unet"]["iou"][c] <= 0.0]
        lines.append(f"ReNet U-Net classes at 0 IoU: {', '.join(zero) if zero else 'none'} (target: none): "
                     f"{'met' if not zero else 'MISSED'}")
    for task, runs in (synthetic or {}).items():
        gap = runs["renet-unet"]["mean_iou"] - runs["unet"]["mean_iou"]
        lines.append(f"{task}: ReNet U-Net - U-Net = {gap:+.3f} mean IoU (target >= 0): "
                     f"{'met' if gap >= 0 else 'MISSED'}")
    print("\nTargets:\n  " + "\n  ".join(lines))
    return lines


def weights_stem(result):
    """``<model>_seed<seed>``, the file stem of a run's saved weights and sidecar (``renet_unet_seed0``)."""
    return f"{result['model'].replace('-', '_')}_seed{result['seed']}"


def save_weights(model, result, args, summary, synthetic, command, started):
    args.weights_dir.mkdir(parents=True, exist_ok=True)
    stem = weights_stem(result)
    path = args.weights_dir / f"{stem}.weights.h5"
    tmp = path.with_name(path.name + ".tmp.weights.h5")
    # A compiled model's save_weights also stores the optimizer's moments (3x the size): save an uncompiled twin's.
    twin = build_model(result["model"], (*args.size, 3), len(CAMVID_CLASSES), **result["builder_kwargs"])
    twin.set_weights(model.get_weights())
    twin.save_weights(tmp)
    os.replace(tmp, path)
    sidecar = {
        "weights": path.name, "model": result["model"], "input_shape": [*args.size, 3],
        "num_classes": len(CAMVID_CLASSES), "class_names": list(CAMVID_CLASSES), "ignore_class": CAMVID_VOID,
        "builder_kwargs": result["builder_kwargs"], "command": command, "date": started,
        "git_commit": git_commit(), "budget_minutes": args.minutes,
        "recipe": {"batch_size": args.batch_size, "learning_rate": args.learning_rate,
                   "weight_decay": args.weight_decay, "class_weights": "median", "dice_weight": args.dice_weight,
                   "augment": "flip", "lr_schedule": "cosine in wall-clock time, 3 % warm-up",
                   "selection": "best validation mean IoU epoch"},
        "machine": {"cpus": os.cpu_count(), "load_before": args.load_before, "tensorflow": tf.__version__,
                    "keras": keras.__version__},
        "run": {k: v for k, v in result.items() if k != "builder_kwargs"},
        "benchmark": {"summary": summary, "synthetic": synthetic},
    }
    (args.weights_dir / f"{stem}.json").write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) and {stem}.json")


def run_order(models, seeds, all_seeds=False):
    """(model, seed) pairs in the order they run: the seeded models interleaved A B B A per pair of seeds.

    A shared machine's load drifts over the hour a run takes; running U-Net, ReNet U-Net, ReNet U-Net,
    U-Net (seed 0, 0, 1, 1) gives both models the same average position in time, so a steady drift in
    load does not favour either. The other models follow, with the first seed (``all_seeds``: every seed).

    >>> run_order(["unet", "renet-unet", "reseg"], [0, 1])
    [('unet', 0), ('renet-unet', 0), ('renet-unet', 1), ('unet', 1), ('reseg', 0)]
    """
    seeded = [m for m in models if m in SEEDED]
    order = []
    for i, seed in enumerate(seeds):
        order += [(m, seed) for m in (seeded if i % 2 == 0 else seeded[::-1])]
    for m in models:
        if m not in SEEDED:
            order += [(m, seed) for seed in (seeds if all_seeds else seeds[:1])]
    return order


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=7.0, help="wall-clock training budget per run (default 7)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds of the U-Net and ReNet U-Net runs")
    parser.add_argument("--all-seeds", action="store_true", help="run ReSeg and the article model with every seed too")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--size", type=lambda t: tuple(int(v) for v in t.lower().split("x")), default=(120, 160),
                        help="HxW (default 120x160, the shipped size)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="> 0: AdamW with this decoupled weight decay")
    parser.add_argument("--dice-weight", type=float, default=0.0)
    parser.add_argument("--synthetic-seconds", type=float, default=90.0,
                        help="seconds per model on each synthetic task (0: skip)")
    parser.add_argument("--weights-dir", type=Path, default=HERE / "weights")
    parser.add_argument("--no-save", action="store_true", help="do not write weights")
    parser.add_argument("--json", type=Path, help="also write every result to this JSON file")
    parser.add_argument("--reuse", type=Path,
                        help="the --json file of an earlier run: its results are kept for every (model, seed) not run "
                             "now, e.g. to redo one run that a burst of load from another process disturbed")
    args = parser.parse_args(argv)
    args.load_before = [round(v, 2) for v in os.getloadavg()]
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    command = "python benchmarks/bench_real.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"{command}\n{started}; load before: {' '.join(map(str, args.load_before))} (1/5/15 min), "
          f"{os.cpu_count()} CPUs, TF {tf.__version__}, Keras {keras.__version__}", flush=True)

    data = tuple(load_camvid(split, size=None if tuple(args.size) == (120, 160) else args.size)
                 for split in ("train", "val", "test"))
    weights = median_frequency_weights(data[0].masks, len(CAMVID_CLASSES), CAMVID_VOID)
    print(f"CamVid {args.size[0]}x{args.size[1]}: {len(data[0])} train / {len(data[1])} val / {len(data[2])} test; "
          f"budget {args.minutes:g} min per run", flush=True)

    order = run_order(args.models, args.seeds, args.all_seeds)
    previous = json.loads(args.reuse.read_text(encoding="utf-8")) if args.reuse else {"results": []}
    reused = [r for r in previous["results"] if (r["model"], r["seed"]) not in order]
    if reused:
        print(f"kept from {args.reuse} ({previous['command']}, {previous['date']}): "
              + ", ".join(f"{r['model']} seed {r['seed']}" for r in reused), flush=True)
    results, keep = list(reused), {}
    for name, seed in order:
        result, model = train_camvid(name, seed, data, args, weights)
        results.append(result)
        if name in SAVED and seed == 0:
            keep[name] = (model, result)
        print(f"  {LABELS[name]:22s} seed {seed}: {result['epochs']} epochs in {result['seconds']:.0f} s "
              f"({result['sec_per_epoch']:.1f} s/epoch), best epoch {result['best_epoch']}, "
              f"test mIoU {result['test']['mean_iou']:.3f}, pixel acc. {result['test']['pixel_accuracy']:.3f}",
              flush=True)
    summary = summarise(results)
    synthetic = previous.get("synthetic")             # None unless --reuse brought the earlier run's
    if args.synthetic_seconds > 0:
        print(f"\nSynthetic checks, 64x64, {args.synthetic_seconds:g} s per model (plain CE, Adam 3e-3):", flush=True)
        synthetic = synthetic_checks(args.synthetic_seconds)
    print_tables(summary, results)
    targets = verdicts(summary, synthetic)
    print(f"\nload after: {' '.join(f'{v:.2f}' for v in os.getloadavg())} (1/5/15 min)")
    if not args.no_save:
        for model, result in keep.values():
            save_weights(model, result, args, summary, synthetic, command, started)
        for r in reused:               # weights kept from the earlier run: their sidecars get the new summary
            sidecar = args.weights_dir / f"{weights_stem(r)}.json"
            if r["model"] in SAVED and r["seed"] == 0 and sidecar.is_file():
                side = json.loads(sidecar.read_text(encoding="utf-8"))
                side["benchmark"] = {"summary": summary, "synthetic": synthetic}
                side["summary_updated_by"] = {"command": command, "date": started}
                sidecar.write_text(json.dumps(side, indent=1) + "\n", encoding="utf-8")
                print(f"updated the benchmark summary in {sidecar}")
    if args.json:
        args.json.write_text(json.dumps({"command": command, "date": started, "results": results, "summary": summary,
                                         "synthetic": synthetic, "targets": targets,
                                         "reused": [{"model": r["model"], "seed": r["seed"], "from": previous["command"],
                                                     "date": previous["date"]} for r in reused]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
