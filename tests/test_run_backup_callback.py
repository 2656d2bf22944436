"""`RunBackup`, training's backup callback over `kerasrnn.run_backup`: what it writes at an
epoch's end a new `fit` restores (weights, optimizer state, the step, the epoch it starts in),
in the folder layout runs of earlier versions have (Keras's `BackupAndRestore` files)."""

import json

import keras
import numpy as np
import pytest

from kerasrnn.files import FileError
from kerasrnn.keras_internals import steps_trained
from kerasrnn.run_backup import BACKUP_METADATA, BACKUP_WEIGHTS, restored_position
from kerasrnn.train.callbacks import RunBackup

STEPS_PER_EPOCH = 3


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dropout(0.5),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 3)).astype("float32"), rng.normal(size=(6, 1)).astype("float32")


class _Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


def test_a_backup_is_restored_into_a_new_model_and_fit_starts_in_its_epoch(tmp_path):
    backup = tmp_path / "backup"
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[RunBackup(backup, STEPS_PER_EPOCH)])
    metadata = json.loads((backup / BACKUP_METADATA).read_text())
    assert (metadata["epoch"], metadata["step"], metadata["batch"]) == (2, 6, 0)
    assert (backup / BACKUP_WEIGHTS).is_file() and (tmp_path / "backup.previous").is_dir()
    assert restored_position(tmp_path, STEPS_PER_EPOCH) == (2, 6)

    other, epochs = _model(), _Epochs()
    restore = RunBackup(backup, STEPS_PER_EPOCH)
    restore.set_model(other)
    restore.on_train_begin()  # what fit does first: the weights and state come back
    assert steps_trained(other) == 6
    for a, b in zip(model.weights + model.optimizer.variables, other.weights + other.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other.fit(x, y, batch_size=2, epochs=3, verbose=0, callbacks=[RunBackup(backup, STEPS_PER_EPOCH), epochs])
    assert epochs.seen == [2] and steps_trained(other) == 9


def test_damaged_backup_weights_are_one_line_naming_the_file(tmp_path):
    backup = tmp_path / "backup"
    x, y = _data()
    _model().fit(x, y, batch_size=2, epochs=1, verbose=0, callbacks=[RunBackup(backup, STEPS_PER_EPOCH)])
    (backup / BACKUP_WEIGHTS).write_bytes(b"not hdf5")
    with pytest.raises(FileError) as e:
        _model().fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[RunBackup(backup, STEPS_PER_EPOCH)])
    assert "\n" not in str(e.value) and str(backup / BACKUP_WEIGHTS) in str(e.value)
    assert "delete" in str(e.value) and "resume" in str(e.value)
