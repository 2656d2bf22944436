"""The handwriting synthesis cell (kerasrnn.layers.handwriting_cell) against a numpy evaluation of
the paper's network (stacked LSTMs, the window between layers 1 and 2, skip connections), padded
strokes and padded texts changing nothing, every weight reached by the loss, and a `.keras` round
trip of a model of the cell and MixtureDensity."""


import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasrnn.errors import InputError
from kerasrnn.layers.gaussian_window import window_passed_end
from kerasrnn.layers.handwriting_cell import HandwritingCell, cell_inputs
from kerasrnn.layers.mixture_density import MixtureDensity, mixture_nll

V, UNITS, LAYERS, K = 6, 5, 3, 2


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy_lstm(x, h, c, kernel, recurrent, bias):
    """Keras's LSTMCell: gates i, f, candidate, o in that order."""
    i, f, g, o = np.split(x @ kernel + h @ recurrent + bias, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def numpy_network(cell, strokes, ids):
    """The paper's equations, one example at a time: returns outputs `(T, L units)`, kappa
    `(T, K)`, phi `(T, U + 1)`."""
    lstm_weights = [[np.asarray(v, np.float64) for v in lstm.weights] for lstm in cell.lstms]
    window_kernel, window_bias = (np.asarray(v, np.float64) for v in cell.window.weights)
    length = int((ids >= 0).sum())
    chars = np.eye(V)[ids[:length]]
    h = [np.zeros(UNITS) for _ in range(LAYERS)]
    c = [np.zeros(UNITS) for _ in range(LAYERS)]
    kappa, w = np.zeros(K), np.zeros(V)
    outputs, kappas, phis = [], [], []
    for x in strokes:
        for n in range(LAYERS):
            layer_input = np.concatenate([x, w] if n == 0 else [x, h[n - 1], w])
            h[n], c[n] = numpy_lstm(layer_input, h[n], c[n], *lstm_weights[n])
            if n == 0:  # the window, from h^1_t; w_t then feeds layers 2..L
                raw = np.clip(h[0] @ window_kernel + window_bias, -10, 10)
                alpha, beta = np.exp(raw[:K]), np.exp(raw[K:2 * K])
                kappa = kappa + np.exp(raw[2 * K:])
                phi = np.zeros(len(ids) + 1)
                for u in range(1, length + 2):
                    phi[u - 1] = np.sum(alpha * np.exp(-beta * (kappa - u) ** 2))
                w = phi[:length] @ chars
        outputs.append(np.concatenate(h))
        kappas.append(kappa)
        phis.append(phi)
    return np.array(outputs), np.array(kappas), np.array(phis)


def run(cell, strokes, ids, mask=None, **rnn_args):
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True, **rnn_args)
    outputs, *states = rnn(cell_inputs(strokes.astype(np.float32), ids), mask=mask)
    return np.asarray(outputs), [np.asarray(s) for s in states]


def inputs(seed, batch=3, steps=6):
    rng = np.random.default_rng(seed)
    strokes = np.concatenate([rng.normal(size=(batch, steps, 2)),
                              rng.integers(0, 2, (batch, steps, 1))], axis=-1)
    ids = rng.integers(0, V, (batch, 4))
    ids[1, 2:] = -1  # a text of 2 characters
    ids[2, 3:] = -1  # and one of 3
    return strokes, ids


def small_cell(**kwargs):
    return HandwritingCell(V, units=UNITS, layers=LAYERS, window_components=K, **kwargs)


def test_the_cell_is_the_papers_network():
    strokes, ids = inputs(0)
    cell = small_cell(return_window=True)
    outputs, states = run(cell, strokes, ids)
    assert outputs.shape == (3, 6, LAYERS * UNITS + K + 4 + 1)
    assert [s.shape for s in states] == [(3, UNITS)] * (2 * LAYERS) + [(3, K), (3, V)]
    hidden, kappa, phi = (np.asarray(v) for v in cell.split_output(outputs))
    for b in range(3):
        want_hidden, want_kappa, want_phi = numpy_network(cell, strokes[b], ids[b])
        np.testing.assert_allclose(hidden[b], want_hidden, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(kappa[b], want_kappa, rtol=1e-5)
        np.testing.assert_allclose(phi[b], want_phi, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(states[-2][b], want_kappa[-1], rtol=1e-5)
    # phi one past the end is there for the stopping rule, and beyond it is zero
    assert (phi[1, :, 2] > 0).all() and not phi[1, :, 3:].any()
    assert window_passed_end(phi[:, -1], ids >= 0).shape == (3,)
    # without return_window the output is the layers' outputs alone
    plain = small_cell()
    plain_outputs, _ = run(plain, strokes, ids)
    plain.set_weights(cell.get_weights())
    plain_outputs, _ = run(plain, strokes, ids)
    np.testing.assert_allclose(plain_outputs, hidden, rtol=1e-6)


def test_in_float64_the_network_and_its_gradients_are_exact():
    """The cell and MixtureDensity in float64: the network equals the numpy one to 1e-10, and the
    NLL's gradient with respect to a few weights of every part matches finite differences."""
    strokes, ids = inputs(5, steps=4)
    cell = small_cell(dtype="float64")
    rnn = keras.layers.RNN(cell, return_sequences=True, dtype="float64")
    head = MixtureDensity(2, dtype="float64")
    x = tf.constant(cell_inputs(strokes, ids))  # float64 strokes: float64 steps
    hidden = np.asarray(rnn(x))
    assert hidden.dtype == np.float64 and head(hidden).dtype == "float64"
    for b in range(3):
        np.testing.assert_allclose(hidden[b], numpy_network(cell, strokes[b], ids[b])[0],
                                   rtol=1e-10, atol=1e-13)

    def loss():
        return tf.reduce_sum(mixture_nll(head(rnn(x)), strokes))

    weights = {"window": cell.window.params.kernel, "lstm_1": cell.lstms[0].kernel,
               "lstm_3": cell.lstms[2].recurrent_kernel, "mixture": head.dense.kernel}
    with tf.GradientTape() as tape:
        value = loss()
    grads = dict(zip(weights, tape.gradient(value, list(weights.values()))))
    rng = np.random.default_rng(6)
    eps = 1e-6
    for name, weight in weights.items():
        for _ in range(2):
            index = tuple(int(rng.integers(0, n)) for n in weight.shape)
            start = weight.numpy()
            moved = [start.copy(), start.copy()]
            moved[0][index] += eps
            moved[1][index] -= eps
            weight.assign(moved[0])
            up = float(loss())
            weight.assign(moved[1])
            down = float(loss())
            weight.assign(start)
            assert grads[name].numpy()[index] == pytest.approx((up - down) / (2 * eps),
                                                               rel=1e-5, abs=1e-8), name


def test_padded_steps_change_nothing():
    """Strokes padded with 3 steps of garbage under a mask: the same outputs on the real steps,
    the same final states (kappa and w included)."""
    strokes, ids = inputs(1)
    cell = small_cell(return_window=True)
    outputs, states = run(cell, strokes, ids)
    padded = np.concatenate([strokes, np.full((3, 3, 3), 7.0)], axis=1)
    mask = np.concatenate([np.ones((3, 6), bool), np.zeros((3, 3), bool)], axis=1)
    padded_outputs, padded_states = run(cell, padded, ids, mask=mask)
    np.testing.assert_allclose(padded_outputs[:, :6], outputs, rtol=1e-6, atol=1e-7)
    for a, b in zip(padded_states, states):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    unmasked_outputs, _ = run(cell, padded, ids)  # the mask is what keeps the states
    assert np.abs(unmasked_outputs[:, -1] - padded_outputs[:, -1]).max() > 1e-3


def test_padded_texts_change_nothing():
    """The same texts with 5 more padding positions: the same hidden outputs, kappa and w, and phi
    the same on the first U + 1 positions and 0 on the new ones."""
    strokes, ids = inputs(2)
    cell = small_cell(return_window=True)
    outputs, states = run(cell, strokes, ids)
    longer = small_cell(return_window=True)
    wide_ids = np.concatenate([ids, np.full((3, 5), -1)], axis=1)
    run(longer, strokes, wide_ids)
    longer.set_weights(cell.get_weights())
    wide_outputs, wide_states = run(longer, strokes, wide_ids)
    hidden, kappa, phi = cell.split_output(outputs)
    wide_hidden, wide_kappa, wide_phi = longer.split_output(wide_outputs)
    np.testing.assert_allclose(wide_hidden, hidden, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(wide_kappa, kappa, rtol=1e-6)
    np.testing.assert_allclose(wide_phi[..., :5], phi, rtol=1e-6, atol=1e-7)
    assert not np.asarray(wide_phi[..., 5:]).any()
    np.testing.assert_allclose(wide_states[-1], states[-1], rtol=1e-6, atol=1e-7)


def test_every_weight_gets_a_gradient():
    """The NLL of a model of the cell and MixtureDensity reaches every weight, the window's
    included (it does only through w_{t-1} in layer 1 and w_t in layers 2..L)."""
    strokes, ids = inputs(3)
    cell = small_cell()
    rnn = keras.layers.RNN(cell, return_sequences=True)
    head = MixtureDensity(3)
    x = tf.constant(cell_inputs(strokes.astype(np.float32), ids))
    with tf.GradientTape() as tape:
        raw = head(rnn(x))
        loss = tf.reduce_mean(mixture_nll(raw, strokes.astype(np.float32)))
    weights = rnn.trainable_weights + head.trainable_weights
    grads = tape.gradient(loss, weights)
    assert np.isfinite(float(loss))
    for weight, grad in zip(weights, grads):
        assert grad is not None and np.abs(np.asarray(grad)).max() > 0, weight.path


def build_model(return_window=True):
    strokes = keras.Input((None, 3), name="strokes")
    text = keras.Input((4,), dtype="int32", name="text")
    cell = small_cell(return_window=return_window, name="cell")
    out = keras.layers.RNN(cell, return_sequences=True, name="rnn")(cell_inputs(strokes, text))
    hidden, kappa, phi = cell.split_output(out)
    raw = MixtureDensity(3, name="mixture")(hidden)
    return keras.Model([strokes, text], [raw, kappa, phi])


def test_a_round_trip(tmp_path):
    model = build_model()
    model.save(tmp_path / "hw.keras")
    again = keras.saving.load_model(tmp_path / "hw.keras")
    strokes, ids = inputs(4, steps=5)
    for a, b in zip(model([strokes, ids]), again([strokes, ids])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    cell = again.get_layer("rnn").cell
    assert (cell.alphabet_size, cell.units, cell.layers, cell.window_components,
            cell.return_window, cell.text_length) == (V, UNITS, LAYERS, K, True, 4)


@pytest.mark.parametrize("field", ["alphabet_size", "units", "layers", "window_components"])
def test_rejects_bad_sizes(field):
    args = {"alphabet_size": V, "units": UNITS, "layers": LAYERS, "window_components": K}
    with pytest.raises(InputError, match=field):
        HandwritingCell(**{**args, field: 0})


def test_needs_a_text():
    with pytest.raises(InputError, match="3 \\+ U"):
        keras.layers.RNN(small_cell())(np.zeros((1, 2, 3), np.float32))
