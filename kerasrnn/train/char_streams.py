"""char-rnn's contiguous streams under Keras `fit`: each stateful RNN layer carries its state from
one window of its stream to the next, zeroed at the start of every pass over the text and kept
safe across validation (which runs from a zero state)."""

import keras
import numpy as np

from kerasrnn.models.char_rnn import reset_rnn_states


def _stateful_layers(model):
    return [l for l in model.layers if getattr(l, "stateful", False)]


class CarryStreamState(keras.callbacks.Callback):
    """Keeps a stateful model's hidden state right for contiguous-stream (TBPTT) training.

    * zeroes the state when training starts and whenever the data wraps around to the start
      of the streams (every `windows_per_pass` steps, checked once per execution);
    * validation runs from a zero state on its own streams, and the training state is put
      back afterwards, so validating mid-pass does not disturb the next training window.

    Under a `tf.distribute` strategy each replica carries the state of its own streams, and
    each replica's state is saved and put back on its own.

    Args:
        windows_per_pass: Training batches in one pass over the streams.
    """

    def __init__(self, windows_per_pass):
        super().__init__()
        self.windows_per_pass = windows_per_pass
        self._pass = None
        self._saved = None

    def on_train_batch_begin(self, batch, logs=None):
        current = int(self.model.optimizer.iterations.numpy()) // self.windows_per_pass
        if current != self._pass:
            reset_rnn_states(self.model)
            self._pass = current

    def on_test_begin(self, logs=None):
        if self._pass is None:  # evaluate() outside fit
            return reset_rnn_states(self.model)
        self._saved = [[[np.array(c) for c in self._replicas(v)] for v in layer.states]
                       for layer in _stateful_layers(self.model)]
        reset_rnn_states(self.model)

    def on_test_end(self, logs=None):
        if self._saved is None:
            return
        for layer, values in zip(_stateful_layers(self.model), self._saved):
            for var, replica_values in zip(layer.states, values):
                for component, value in zip(self._replicas(var), replica_values):
                    component.assign(value)
        self._saved = None

    def _replicas(self, variable):
        """This process's copies of a state variable, one per local replica."""
        return self.model.distribute_strategy.experimental_local_results(variable.value)
