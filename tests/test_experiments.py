"""Tests for gruseg.book.experiments: timing/memory helpers, sweep cost, equal-budget comparisons.

No timing asserts (speed is machine-dependent): only shapes, keys, bookkeeping and determinism.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from gruseg.data.synthetic import make_long_range  # noqa: E402
from gruseg.book.experiments import (  # noqa: E402
    RunResult,
    compare_under_budget,
    layer_step_time,
    sequential_steps,
    sweep_cost,
    time_call,
)
from gruseg.layers import ReNet2D  # noqa: E402


def test_time_call_counts_calls_and_returns_a_median():
    calls = []
    seconds = time_call(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5
    assert seconds >= 0.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(repeats=0), "repeats must be a positive integer, got 0"),
    (dict(warmup=-1), "warmup must be a non-negative integer, got -1"),
])
def test_time_call_refuses_bad_counts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        time_call(lambda: None, **kwargs)


def test_time_call_refuses_non_callable():
    with pytest.raises(ValueError, match="fn must be callable"):
        time_call(3)


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
        assert r["seconds"] > 0
        assert r["output_bytes"] == r["pixels"] * 4 * 4  # 4 float32 channels
        assert r["seconds_per_pixel"] == pytest.approx(r["seconds"] / r["pixels"])


def test_sweep_cost_backward():
    rows = sweep_cost(_conv(), sizes=(4,), channels=3, backward=True, repeats=1)
    assert rows[0]["seconds"] > 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(sizes=(8, 4)), "sizes must be a non-empty increasing sequence"),
    (dict(sizes=()), "sizes must be a non-empty increasing sequence"),
    (dict(channels=0), "channels must be a positive integer, got 0"),
    (dict(make_layer=None), "make_layer must be callable"),
])
def test_sweep_cost_refuses_bad_arguments(kwargs, message):
    args = dict(make_layer=_conv(), sizes=(4,), channels=2, repeats=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        sweep_cost(**args)


def test_layer_step_time_of_a_sweep_forward_and_backward():
    assert layer_step_time(ReNet2D(2, seed=0), (1, 4, 4, 2), backward=True, repeats=1) > 0
    assert layer_step_time(_conv()(), (1, 4, 4, 2), backward=False, repeats=1) > 0
    with pytest.raises(ValueError, match="input_shape must be"):
        layer_step_time(_conv()(), (4, 4, 2))


# ------------------------------------------------------------------------------------------
# compare_under_budget
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


def _builders():
    return {"a": _tiny(2), "b": _tiny(4)}


@pytest.fixture(scope="module")
def two_runs(tiny_data):
    return compare_under_budget(_builders(), tiny_data, steps=3, batch_size=4, seed=0)


def test_compare_under_budget_steps(two_runs):
    assert list(two_runs) == ["a", "b"]
    for name, r in two_runs.items():
        assert isinstance(r, RunResult)
        assert r.name == name
        assert r.steps == 3
        assert len(r.loss) == 3 and all(np.isfinite(r.loss))
        assert r.params == r.model.count_params()
        assert r.predictions.shape == (4, 16, 16)
        assert set(np.unique(r.predictions)) <= {0, 1}
        assert 0.0 <= r.mean_iou <= 1.0
        assert len(r.iou_per_class) == 2
        assert r.seconds > 0
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


def test_predict_labels_matches_the_argmax_of_predict(tiny_data):
    from gruseg.book.experiments import predict_labels

    model = _tiny(2)()
    x = tiny_data[2]
    expected = np.argmax(model.predict(x, verbose=0), axis=-1)
    got = predict_labels(model, x, batch_size=3)
    assert got.dtype == np.uint8 and got.shape == (4, 16, 16)
    np.testing.assert_array_equal(got, expected)
