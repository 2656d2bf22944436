"""CarryStreamState: state carried across windows, zeroed at each pass, kept safe across validation."""

import keras
import numpy as np

from kerasrnn.kinds.char_rnn.model import build_char_rnn
from kerasrnn.kinds.char_rnn.streams import CarryStreamState


def _states(model):
    return [np.array(v) for layer in model.layers if getattr(layer, "stateful", False) for v in layer.states]


def test_validation_starts_from_zero_and_training_state_comes_back():
    model = build_char_rnn(7, cell="lstm", num_layers=2, hidden_size=4, batch_size=2,
                           seq_length=3, stateful=True)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    callback = CarryStreamState(windows_per_pass=5)
    callback.set_model(model)
    callback.on_train_batch_begin(0)
    model.predict_on_batch(np.ones((2, 3), "int32"))  # a training window moves the state
    before = _states(model)
    assert all(np.abs(s).sum() > 0 for s in before)

    callback.on_test_begin()
    assert all(np.abs(s).sum() == 0 for s in _states(model))
    model.predict_on_batch(np.full((2, 3), 3, "int32"))  # validation moves it elsewhere
    callback.on_test_end()
    for a, b in zip(_states(model), before):
        np.testing.assert_array_equal(a, b)


def test_state_is_zeroed_when_the_streams_wrap_around():
    model = build_char_rnn(7, cell="gru", num_layers=1, hidden_size=4, batch_size=2,
                           seq_length=3, stateful=True)
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    callback = CarryStreamState(windows_per_pass=5)
    callback.set_model(model)
    callback.on_train_batch_begin(0)
    model.predict_on_batch(np.ones((2, 3), "int32"))
    model.optimizer.iterations.assign(4)  # still in the first pass: state kept
    callback.on_train_batch_begin(4)
    assert np.abs(_states(model)[0]).sum() > 0
    model.optimizer.iterations.assign(5)  # window 0 of the second pass: state zeroed
    callback.on_train_batch_begin(5)
    assert np.abs(_states(model)[0]).sum() == 0
