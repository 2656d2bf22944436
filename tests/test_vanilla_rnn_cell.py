"""VanillaRNNCell: the Keras cell protocol, masks, state, serialization, and the recurrence itself."""

import keras
import numpy as np
import pytest

from kerasrnn.layers import VanillaRNNCell


def _numpy_rnn(x, kernel, recurrent, bias, h0):
    h, out = h0, []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ kernel + h @ recurrent + bias)
        out.append(h)
    return np.stack(out, 1)


def test_weights_have_keras_names_and_shapes():
    cell = VanillaRNNCell(7)
    keras.layers.RNN(cell)(np.zeros((2, 3, 5), "float32"))
    assert [(w.name, tuple(w.shape)) for w in cell.weights] == [
        ("kernel", (5, 7)), ("recurrent_kernel", (7, 7)), ("bias", (7,))]


def test_sequence_and_state_equal_numpy_recurrence():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 4)).astype("float32")
    h0 = rng.standard_normal((3, 5)).astype("float32")
    rnn = keras.layers.RNN(VanillaRNNCell(5), return_sequences=True, return_state=True)
    seq, h_last = rnn(x, initial_state=[h0])
    kernel, recurrent, bias = (w.numpy() for w in rnn.cell.weights)
    expected = _numpy_rnn(x, kernel, recurrent, bias, h0)
    np.testing.assert_allclose(seq, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_last, expected[:, -1], rtol=1e-5, atol=1e-6)


def test_matches_keras_simple_rnn_with_same_weights():
    x = np.random.default_rng(2).standard_normal((2, 9, 3)).astype("float32")
    ours = keras.layers.RNN(VanillaRNNCell(4), return_sequences=True)
    theirs = keras.layers.SimpleRNN(4, return_sequences=True)
    ours(x), theirs(x)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-6, atol=1e-6)


def test_mask_keeps_state_through_padded_steps():
    x = np.random.default_rng(3).standard_normal((2, 5, 3)).astype("float32")
    x[0, 3:] = 0.0  # sequence 0 is 3 steps long, then padding
    inputs = keras.Input((5, 3))
    masked = keras.layers.Masking(0.0)(inputs)
    seq, state = keras.layers.RNN(VanillaRNNCell(4), return_sequences=True, return_state=True)(masked)
    model = keras.Model(inputs, [seq, state])
    seq, state = (np.asarray(t) for t in model(x))
    np.testing.assert_allclose(state[0], seq[0, 2], atol=1e-6)  # last valid step's state
    np.testing.assert_allclose(seq[0, 3], seq[0, 2], atol=1e-6)  # masked steps repeat it
    assert not np.allclose(state[1], seq[1, 2])


def test_stateful_carries_state_between_calls_and_resets():
    x = np.random.default_rng(4).standard_normal((2, 8, 3)).astype("float32")
    full = keras.layers.RNN(VanillaRNNCell(4), return_sequences=True)
    stateful = keras.layers.RNN(VanillaRNNCell(4), return_sequences=True, stateful=True)
    full(x), stateful(x[:, :4])
    stateful.set_weights(full.get_weights())
    stateful.reset_state()
    halves = np.concatenate([stateful(x[:, :4]), stateful(x[:, 4:])], axis=1)
    np.testing.assert_allclose(halves, full(x), rtol=1e-5, atol=1e-6)
    stateful.reset_state()
    np.testing.assert_allclose(stateful(x[:, 4:]), full(x[:, 4:]), rtol=1e-5, atol=1e-6)


def test_keras_file_round_trip_is_exact(tmp_path):
    inputs = keras.Input((None, 3))
    outputs = keras.layers.RNN(VanillaRNNCell(6, activation="relu"), return_sequences=True)(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(5).standard_normal((2, 4, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[1].cell, VanillaRNNCell)
    assert loaded.layers[1].cell.get_config()["activation"] == "relu"
    np.testing.assert_array_equal(loaded(x), model(x))


def test_rejects_bad_units():
    with pytest.raises(ValueError, match="units"):
        VanillaRNNCell(0)
