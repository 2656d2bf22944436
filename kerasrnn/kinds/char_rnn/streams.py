"""char-rnn's contiguous streams under Keras `fit`: each stateful RNN layer carries its state from
one window of its stream to the next, zeroed at the start of every pass over the text and kept
safe across validation (which runs from a zero state); a run's backup keeps them, so a resumed
run carries on with the states it stopped with."""

import io
import zipfile

import keras
import numpy as np

from kerasrnn.files import FileError, write_bytes_atomic
from kerasrnn.kinds.char_rnn.model import reset_rnn_states
from kerasrnn.keras_internals import steps_trained

STATES_FILE = "stream_states.npz"


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

    As the `extra_state` of the run's backup (`train.callbacks.RunBackup`) it writes every local
    replica's states to `stream_states.npz` with each backup, and a resumed run starts from
    them instead of from zero (unless it resumes at the start of a pass).

    Args:
        windows_per_pass: Training batches in one pass over the streams.
    """

    def __init__(self, windows_per_pass):
        super().__init__()
        self.windows_per_pass = windows_per_pass
        self._pass = None
        self._saved = None

    def on_train_batch_begin(self, batch, logs=None):
        current = steps_trained(self.model) // self.windows_per_pass
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

    def save(self, folder, epoch):
        """Writes this process's stream states (every local replica's) for backup `epoch`."""
        arrays = {"epoch": np.int64(epoch), "pass": np.int64(-1 if self._pass is None else self._pass)}
        for l, layer in enumerate(_stateful_layers(self.model)):
            for k, var in enumerate(layer.states):
                for r, component in enumerate(self._replicas(var)):
                    arrays[f"replica{r}_layer{l}_state{k}"] = np.array(component)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_bytes_atomic(folder / STATES_FILE, buffer.getvalue())

    def restore(self, folder, epoch):
        """Puts back the states saved with backup `epoch`; raises `FileError` if they are
        missing, damaged or from another backup."""
        path = folder / STATES_FILE
        fix = f"delete {folder} and run again with `resume` to retrain the run from its first epoch"
        try:
            with np.load(path, allow_pickle=False) as saved:
                arrays = {k: saved[k] for k in saved.files}
        except FileNotFoundError:
            raise FileError(f"{path} is missing: the backup lacks the streams' states; {fix}") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise FileError(f"{path} is damaged ({type(e).__name__}); {fix}") from None
        if int(arrays.get("epoch", -1)) != epoch:
            raise FileError(f"{path} is from another backup (epoch {arrays.get('epoch')}, the "
                            f"backup's is {epoch}); {fix}")
        for l, layer in enumerate(_stateful_layers(self.model)):
            for k, var in enumerate(layer.states):
                for r, component in enumerate(self._replicas(var)):
                    value = arrays.get(f"replica{r}_layer{l}_state{k}")
                    if value is None or value.shape != tuple(component.shape):
                        raise FileError(f"{path} does not hold this model's states (replica {r}, "
                                        f"layer {l}); {fix}")
                    component.assign(value)
        self._pass = None if int(arrays["pass"]) < 0 else int(arrays["pass"])

    def _replicas(self, variable):
        """This process's copies of a state variable, one per local replica."""
        return self.model.distribute_strategy.experimental_local_results(variable.value)
