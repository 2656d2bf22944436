"""Keras callbacks that char-rnn-style training needs and Keras does not ship."""

import time

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
        self._saved = [[np.array(v) for v in layer.states] for layer in _stateful_layers(self.model)]
        reset_rnn_states(self.model)

    def on_test_end(self, logs=None):
        if self._saved is None:
            return
        for layer, values in zip(_stateful_layers(self.model), self._saved):
            for var, value in zip(layer.states, values):
                var.assign(value)
        self._saved = None


class StopAfterSteps(keras.callbacks.Callback):
    """Stops training once the optimizer has made `max_steps` updates (or `max_seconds` passed).

    Args:
        max_steps: Total optimizer steps, counted across resumes; `None` for no limit.
        max_seconds: Wall-clock budget for this call of `fit`; `None` for no limit.
    """

    def __init__(self, max_steps=None, max_seconds=None):
        super().__init__()
        self.max_steps, self.max_seconds = max_steps, max_seconds
        self.stopped_by_time = False

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.max_steps is not None and int(self.model.optimizer.iterations.numpy()) >= self.max_steps:
            self.model.stop_training = True
        if self.max_seconds is not None and time.perf_counter() - self._start >= self.max_seconds:
            self.stopped_by_time = True
            self.model.stop_training = True


class Throughput(keras.callbacks.Callback):
    """Measures training items (characters, images) per second, excluding validation, sampling
    and compilation.

    The clock runs from the end of each epoch's first training execution (the first one
    traces and compiles) to the epoch's validation or end.

    Args:
        items_per_step: Items in one batch (`batch_size * seq_length` characters, or
            `batch_size` images).
    """

    def __init__(self, items_per_step):
        super().__init__()
        self.items_per_step = items_per_step
        self.seconds, self.steps = 0.0, 0
        self._t0 = self._step0 = None

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())

    def _pause(self):
        if self._t0 is not None:
            self.seconds += time.perf_counter() - self._t0
            self.steps += self._step() - self._step0
            self._t0 = None

    def on_train_batch_end(self, batch, logs=None):
        if self._t0 is None:  # the epoch's first execution (which may compile) is not timed
            self._t0, self._step0 = time.perf_counter(), self._step()

    def on_test_begin(self, logs=None):
        self._pause()

    def on_epoch_end(self, epoch, logs=None):
        self._pause()

    def on_train_end(self, logs=None):
        self._pause()

    @property
    def per_second(self):
        """Items per second over the timed steps (NaN before any)."""
        return self.steps * self.items_per_step / self.seconds if self.seconds else float("nan")


class SampleText(keras.callbacks.Callback):
    """Every `every` epochs, samples text from the model being trained and hands it on.

    Args:
        make_sample: Function `model -> str` that generates text from the training model's
            current weights.
        on_sample: Function `(epoch, step, text) -> None`, e.g. a script's printer.
        every: Sample after every `every`-th epoch.
    """

    def __init__(self, make_sample, on_sample, every=1):
        super().__init__()
        self.make_sample, self.on_sample, self.every = make_sample, on_sample, every

    def on_epoch_end(self, epoch, logs=None):
        if self.every and (epoch + 1) % self.every == 0:
            step = int(self.model.optimizer.iterations.numpy())
            self.on_sample(epoch + 1, step, self.make_sample(self.model))
