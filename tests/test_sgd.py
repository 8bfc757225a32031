"""gruseg.book.sgd: the hand-written mini-batch loop agrees with model.fit and refuses bad arguments."""

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from gruseg.book.sgd import max_weight_difference, train_with_gradient_tape  # noqa: E402


def _data(n=10, t=6, d=3, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, d)).astype("float32")
    y = rng.integers(0, classes, size=(n, t)).astype("int32")
    return x, y


def _gru_model(seed=0, t=6, d=3, classes=3, regularizer=None):
    """A tiny per-step classifier: GRU over a sequence, softmax at every step."""
    inputs = keras.Input((t, d))
    h = keras.layers.GRU(4, return_sequences=True, seed=seed,
                         kernel_initializer=keras.initializers.GlorotUniform(seed),
                         recurrent_initializer=keras.initializers.Orthogonal(seed=seed + 1))(inputs)
    outputs = keras.layers.Dense(classes, activation="softmax", kernel_regularizer=regularizer,
                                 kernel_initializer=keras.initializers.GlorotUniform(seed + 2))(h)
    return keras.Model(inputs, outputs)


def _fit_and_loop(regularizer=None, batch_size=4, epochs=2, lr=0.1):
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)   # 10 = 4 + 4 + 2: a short last batch
    a, b = _gru_model(regularizer=regularizer), _gru_model(regularizer=regularizer)
    b.set_weights(a.get_weights())
    a.compile(optimizer=keras.optimizers.SGD(lr), loss=keras.losses.SparseCategoricalCrossentropy())
    fit = a.fit(ds, epochs=epochs, verbose=0, shuffle=False).history
    loop = train_with_gradient_tape(b, ds, epochs=epochs, optimizer=keras.optimizers.SGD(lr))
    return a, b, fit, loop


def test_matches_model_fit_weights_and_losses():
    a, b, fit, loop = _fit_and_loop()
    before = _gru_model().get_weights()
    assert any(not np.allclose(w0, w1) for w0, w1 in zip(before, a.get_weights(), strict=True)), "fit did not train"
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wb, wa, atol=1e-5, rtol=0)
    np.testing.assert_allclose(loop["loss"], fit["loss"], rtol=1e-5)
    assert loop["epoch"] == [1, 2]
    assert len(loop["batch_loss"]) == 2 * 3                 # ceil(10 / 4) updates per epoch


def test_regularisation_losses_are_added_like_fit():
    a, b, fit, loop = _fit_and_loop(regularizer=keras.regularizers.L2(0.5), epochs=1)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wb, wa, atol=1e-5, rtol=0)
    np.testing.assert_allclose(loop["loss"], fit["loss"], rtol=1e-5)
    _, _, fit_plain, _ = _fit_and_loop(epochs=1)
    assert loop["loss"][0] > fit_plain["loss"][0] + 0.01    # the penalty is really in the loss


def test_epoch_loss_is_batch_size_weighted_mean_of_batch_losses():
    _, _, _, loop = _fit_and_loop(epochs=1)
    expected = (4 * loop["batch_loss"][0] + 4 * loop["batch_loss"][1] + 2 * loop["batch_loss"][2]) / 10
    assert math.isclose(loop["loss"][0], expected, rel_tol=1e-9)


def test_full_batch_is_one_plain_gradient_step():
    """batch = N: one update theta - lr * grad(mean loss over all N), computed independently here."""
    x, y = _data()
    model = _gru_model()
    w0 = [v.numpy().copy() for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        full_loss = keras.losses.SparseCategoricalCrossentropy()(y, model(x, training=True))
    grads = tape.gradient(full_loss, model.trainable_variables)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x))
    history = train_with_gradient_tape(model, ds, epochs=1, optimizer=keras.optimizers.SGD(0.5))
    assert len(history["batch_loss"]) == 1
    assert math.isclose(history["loss"][0], float(full_loss), rel_tol=1e-6)
    for v, w, g in zip(model.trainable_variables, w0, grads, strict=True):
        np.testing.assert_allclose(v.numpy(), w - 0.5 * g.numpy(), atol=1e-6)


def test_loss_given_by_name_is_averaged_like_compile():
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(5)
    a, b = _gru_model(), _gru_model()
    b.set_weights(a.get_weights())
    h_obj = train_with_gradient_tape(a, ds, optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy())
    h_name = train_with_gradient_tape(b, ds, optimizer="sgd", loss="sparse_categorical_crossentropy")
    np.testing.assert_allclose(h_name["batch_loss"], h_obj["batch_loss"], rtol=1e-6)


def test_same_seed_same_history_with_dropout():
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(5)

    def run():
        keras.utils.set_random_seed(3)            # Dropout draws its seed when it is built
        inputs = keras.Input((6, 3))
        h = keras.layers.Dropout(0.5)(inputs)
        outputs = keras.layers.Dense(3, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(0))(h)
        return train_with_gradient_tape(keras.Model(inputs, outputs), ds, epochs=2, seed=3)["batch_loss"]

    assert run() == run()


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True, "2"])
def test_bad_epochs(epochs):
    with pytest.raises(ValueError, match=r"epochs must be a positive integer, got"):
        train_with_gradient_tape(_gru_model(), [], epochs=epochs)


def test_bad_optimizer_and_loss():
    ds = tf.data.Dataset.from_tensor_slices(_data()).batch(5)
    with pytest.raises(ValueError, match=r"optimizer must be .* got 'no-such-optimizer'"):
        train_with_gradient_tape(_gru_model(), ds, optimizer="no-such-optimizer")
    with pytest.raises(ValueError, match=r"optimizer must be .* got int"):
        train_with_gradient_tape(_gru_model(), ds, optimizer=3)
    with pytest.raises(ValueError, match=r"loss must be .* got 5"):
        train_with_gradient_tape(_gru_model(), ds, loss=5)


def test_bad_dataset():
    x, y = _data()
    triples = tf.data.Dataset.from_tensor_slices((x, y, np.ones(len(x), "float32"))).batch(5)
    with pytest.raises(ValueError, match=r"dataset must yield \(x, y\) pairs, got a 3-tuple"):
        train_with_gradient_tape(_gru_model(), triples)
    used_up = ((x[i:i + 5], y[i:i + 5]) for i in (0, 5))   # a generator: empty on the second epoch
    with pytest.raises(ValueError, match=r"dataset yielded no batches; it must be re-iterable"):
        train_with_gradient_tape(_gru_model(), used_up, epochs=2)
    with pytest.raises(ValueError, match=r"model must be a keras.Model, got str"):
        train_with_gradient_tape("model", triples)


def test_max_weight_difference_of_models_and_lists():
    a, b = _gru_model(seed=0), _gru_model(seed=0)
    assert max_weight_difference(a, b) == 0.0                       # same seeds: the same function
    weights = b.get_weights()
    weights[1] = weights[1] + 0.25                                  # move one weight array
    b.set_weights(weights)
    assert max_weight_difference(a, b) == pytest.approx(0.25, rel=1e-6)
    assert max_weight_difference(b.get_weights(), a) == pytest.approx(0.25, rel=1e-6)


def test_max_weight_difference_refuses_different_architectures():
    with pytest.raises(ValueError, match="same number of weights, got 2 and 1"):
        max_weight_difference([np.zeros(2), np.zeros(3)], [np.zeros(2)])
    with pytest.raises(ValueError, match=r"weight 0 has shape \(2,\) in a and \(3,\) in b"):
        max_weight_difference([np.zeros(2)], [np.zeros(3)])
