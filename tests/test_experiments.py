"""Tests for gruseg.book.experiments: timing helpers, sweep cost, fixed-step runs, equal-budget comparisons.

No asserts on measured times (speed is machine-dependent): a fake clock for the timing arithmetic,
and otherwise shapes, keys, bookkeeping and determinism.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from gruseg.book import experiments  # noqa: E402
from gruseg.book.experiments import (  # noqa: E402
    RunResult,
    StepTimer,
    compare_under_budget,
    fit_steps,
    layer_step_time,
    median_time,
    sequential_steps,
    sweep_cost,
)
from gruseg.data import make_long_range  # noqa: E402
from gruseg.layers import ReNet2D  # noqa: E402
from gruseg.metrics import iou_per_class  # noqa: E402


class FakeClock:
    """Stands in for time.perf_counter: each call of ``work`` advances it by the next duration."""

    def __init__(self, durations):
        self.now, self.durations = 0.0, list(durations)

    def __call__(self):
        return self.now

    def work(self):
        self.now += self.durations.pop(0)


def test_median_time_is_the_median_of_the_timed_calls_after_warmup(monkeypatch):
    clock = FakeClock([100.0, 3.0, 1.0, 2.0])                # one slow warm-up call, then 3, 1, 2 seconds
    monkeypatch.setattr(experiments.time, "perf_counter", clock)
    assert median_time(clock.work, repeats=3, warmup=1) == 2.0
    assert clock.durations == []                              # 1 + 3 calls, no more


@pytest.mark.parametrize("kwargs, message", [
    (dict(repeats=0), "repeats must be a positive integer, got 0"),
    (dict(warmup=-1), "warmup must be a non-negative integer, got -1"),
    (dict(fn=3), "fn must be callable, got 3"),
])
def test_median_time_refuses_bad_arguments(kwargs, message):
    args = dict(fn=lambda: None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        median_time(**args)


def test_sequential_steps_is_height_plus_width():
    assert sequential_steps(3, 5) == 8
    with pytest.raises(ValueError, match="height must be a positive integer, got 0"):
        sequential_steps(0, 5)


def _conv(filters=4):
    return lambda: keras.layers.Conv2D(filters, 1)


def test_sweep_cost_rows():
    rows = sweep_cost(_conv(), sizes=(4, 8), channels=2, repeats=1)
    assert [r["size"] for r in rows] == [4, 8]
    assert [r["pixels"] for r in rows] == [16, 64]
    assert [r["sequential_steps"] for r in rows] == [8, 16]
    for r in rows:
        assert r["output_bytes"] == r["pixels"] * 4 * 4  # 4 float32 channels
        assert r["seconds_per_pixel"] == pytest.approx(r["seconds"] / r["pixels"])


def test_backward_needs_weights_to_differentiate():
    rows = sweep_cost(_conv(), sizes=(4,), channels=3, backward=True, repeats=1)
    assert rows[0]["output_bytes"] == 16 * 4 * 4
    with pytest.raises(ValueError, match="Activation has no trainable weights; use backward=False"):
        sweep_cost(lambda: keras.layers.Activation("relu"), sizes=(4,), channels=3, backward=True, repeats=1)
    assert len(sweep_cost(lambda: keras.layers.Activation("relu"), sizes=(4,), channels=3, repeats=1)) == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(sizes=(8, 4)), r"sizes must be increasing, got \[8, 4\]"),
    (dict(sizes=()), "sizes must be a non-empty sequence of integers >= 1"),
    (dict(channels=0), "channels must be a positive integer, got 0"),
    (dict(make_layer=None), "make_layer must be callable"),
])
def test_sweep_cost_refuses_bad_arguments(kwargs, message):
    args = dict(make_layer=_conv(), sizes=(4,), channels=2, repeats=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        sweep_cost(**args)


def test_layer_step_time_of_a_sweep_forward_and_backward():
    for layer, backward in ((ReNet2D(2, seed=0), True), (_conv()(), False)):
        seconds = layer_step_time(layer, (1, 4, 4, 2), backward=backward, repeats=1)
        assert isinstance(seconds, float) and np.isfinite(seconds)
    with pytest.raises(ValueError, match="input_shape must hold 4 integers"):
        layer_step_time(_conv()(), (4, 4, 2))


# ------------------------------------------------------------------------------------------
# StepTimer and fit_steps
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_data():
    x, y = make_long_range(10, size=16, seed=0)
    return x[:6], y[:6], x[6:], y[6:]


def _tiny(filters):
    """A two-layer per-pixel classifier: quick to trace, unlike the book's models."""
    def build():
        inputs = keras.Input((16, 16, 3))
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Conv2D(2, 1, activation="softmax")(x))
    return build


def test_fit_steps_takes_exactly_the_steps_on_the_same_batches(tiny_data):
    x, y = tiny_data[:2]
    a, b = _tiny(2)(), _tiny(2)()
    b.set_weights(a.get_weights())
    timer = StepTimer()
    assert fit_steps(a, x, y, steps=5, learning_rate=1e-2, batch_size=4, callbacks=[timer]) is a
    assert len(timer.times) == len(timer.ends) == len(timer.losses) == 5
    assert a.optimizer.iterations.numpy() == 5
    fit_steps(b, x, y, steps=5, learning_rate=1e-2, batch_size=4)       # same seed: same batches
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, atol=1e-6)


def test_fit_steps_uses_the_given_loss(tiny_data):
    x, y = tiny_data[:2]
    unlabelled = np.full_like(y, 255)                                    # every pixel ignored
    model = _tiny(2)()
    before = model.get_weights()
    timer = StepTimer()
    fit_steps(model, x, unlabelled, steps=2, batch_size=4, callbacks=[timer],
              loss=keras.losses.SparseCategoricalCrossentropy(ignore_class=255))
    assert timer.losses == [0.0, 0.0]                                    # nothing to learn from
    for w0, w1 in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "steps must be a positive integer, got 0"),
    (dict(learning_rate=0), "learning_rate must be a positive number, got 0"),
    (dict(batch_size=2.0), "batch_size must be a positive integer, got 2.0"),
])
def test_fit_steps_refuses_bad_arguments(tiny_data, kwargs, message):
    args = dict(steps=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        fit_steps(_tiny(2)(), *tiny_data[:2], **args)


def test_step_timer_refuses_a_bad_budget():
    with pytest.raises(ValueError, match="seconds must be a positive number, got -1"):
        StepTimer(seconds=-1)


# ------------------------------------------------------------------------------------------
# compare_under_budget
# ------------------------------------------------------------------------------------------
def _builders():
    return {"a": _tiny(2), "b": _tiny(4)}


@pytest.fixture(scope="module")
def two_runs(tiny_data):
    return compare_under_budget(_builders(), tiny_data, steps=3, batch_size=4, seed=0)


def test_compare_under_budget_steps(two_runs, tiny_data):
    test_masks = tiny_data[3]
    assert list(two_runs) == ["a", "b"]
    for name, r in two_runs.items():
        assert isinstance(r, RunResult)
        assert r.name == name
        assert r.steps == 3
        assert len(r.loss) == 3 and all(np.isfinite(r.loss))
        assert r.params == r.model.count_params()
        assert r.predictions.shape == (4, 16, 16)
        np.testing.assert_array_equal(r.predictions, np.argmax(r.model.predict(tiny_data[2], verbose=0), -1))
        iou = iou_per_class(test_masks, r.predictions, 2)
        np.testing.assert_allclose(r.iou_per_class, iou)
        assert r.mean_iou == pytest.approx(np.nanmean(iou))
    assert two_runs["a"].params < two_runs["b"].params


def test_compare_under_budget_is_deterministic(tiny_data, two_runs):
    again = compare_under_budget({"a": _builders()["a"]}, tiny_data, steps=3, batch_size=4, seed=0)["a"]
    np.testing.assert_allclose(again.loss, two_runs["a"].loss, rtol=1e-6)
    np.testing.assert_array_equal(again.predictions, two_runs["a"].predictions)


def test_compare_under_budget_seconds_stops_after_the_budget(tiny_data):
    r = compare_under_budget({"a": _builders()["a"]}, tiny_data, seconds=0.01, batch_size=4)["a"]
    assert r.steps >= 1
    assert r.seconds >= 0.01


@pytest.mark.parametrize("kwargs, message", [
    (dict(), "give exactly one of steps or seconds"),
    (dict(steps=2, seconds=1.0), "give exactly one of steps or seconds"),
    (dict(steps=0), "steps must be a positive integer, got 0"),
    (dict(seconds=-1.0), "seconds must be a positive number, got -1.0"),
    (dict(steps=1, builders={}), "builders must be a non-empty dict"),
    (dict(steps=1, builders={"x": 3}), r"builders\['x'\] must be callable"),
    (dict(steps=1, data=(1, 2)), "data must be a tuple"),
    (dict(steps=1, batch_size=0), "batch_size must be a positive integer, got 0"),
    (dict(steps=1, seed=-1), r"seed must be an integer in \[0, 4294967295\], got -1"),
])
def test_compare_under_budget_refuses_bad_arguments(tiny_data, kwargs, message):
    args = dict(builders=_builders(), data=tiny_data)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        compare_under_budget(**args)


def test_compare_under_budget_refuses_mismatched_masks(tiny_data):
    x, y, xt, yt = tiny_data
    with pytest.raises(ValueError, match="data test images must be"):
        compare_under_budget(_builders(), (x, y, xt, yt[:, :8]), steps=1)
