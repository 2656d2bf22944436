"""Keras callbacks that the training runs need and Keras does not ship, and `run_callbacks`,
the ones every run uses, writing into its run directory."""

import math
import pathlib
import time

import keras

from kerasrnn import run_backup, run_dir
from kerasrnn.errors import InputError
from kerasrnn.files import check_free_space, write_bytes_atomic, write_json_atomic, write_problem_error
from kerasrnn.keras_internals import inside_accumulation, steps_trained, weights_bytes
from kerasrnn.train.preemption import SaveOnPreemption


class StopAfterSteps(keras.callbacks.Callback):
    """Stops training after `max_steps` training steps, or once `max_seconds` have passed (at
    the next weight update, with gradient accumulation).

    Args:
        max_steps: Total training steps (batches), counted across resumes; `None` for no limit.
        max_seconds: Wall-clock budget for this call of `fit`; `None` for no limit.
    """

    def __init__(self, max_steps=None, max_seconds=None):
        super().__init__()
        self.max_steps, self.max_seconds = max_steps, max_seconds
        self.stopped_by_time = False

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.max_steps is not None and steps_trained(self.model) >= self.max_steps:
            self.model.stop_training = True
        if (self.max_seconds is not None and time.perf_counter() - self._start >= self.max_seconds
                and not inside_accumulation(self.model)):
            self.stopped_by_time = True
            self.model.stop_training = True


class EpochsOfSteps(keras.callbacks.Callback):
    """Ends every epoch at a multiple of `steps_per_epoch` steps, as an uninterrupted run does:
    a run resumed mid-epoch (after a time limit, SIGTERM, or a finished run given more steps)
    trains its first epoch only to the next multiple. `fit` itself runs `steps_per_epoch`
    steps per epoch from wherever it starts.

    It ends the epoch with `model.stop_training` set to a marker of its own, and clears it when
    the epoch has ended; any other stop (`True`) stands. Put it last among `fit`'s callbacks, so
    it sees the others' stops of the same step.

    Args:
        steps_per_epoch: Steps (batches) in one epoch.
    """

    def __init__(self, steps_per_epoch):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self._end = None

    def on_epoch_begin(self, epoch, logs=None):
        start = steps_trained(self.model)
        # only an epoch that starts off a multiple needs watching (one sync per execution)
        whole, done = divmod(start, self.steps_per_epoch)
        self._end = (whole + 1) * self.steps_per_epoch if done else None

    def on_train_batch_end(self, batch, logs=None):
        if (self._end is not None and not self.model.stop_training
                and steps_trained(self.model) >= self._end):
            self.model.stop_training = _END_OF_EPOCH

    def on_epoch_end(self, epoch, logs=None):
        self._end = None
        if self.model.stop_training is _END_OF_EPOCH:
            self.model.stop_training = False


class _EndOfEpoch:
    """`EpochsOfSteps`'s `stop_training` value: true (ends the epoch), and its own."""

    def __bool__(self):
        return True


_END_OF_EPOCH = _EndOfEpoch()


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
        return steps_trained(self.model)

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
        """Items per second over the timed steps, or `None` when no step was timed (each
        epoch's first execution is not: a run of one execution per epoch times none)."""
        if not self.steps or not self.seconds:
            return None
        return self.steps * self.items_per_step / self.seconds


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
            step = steps_trained(self.model)
            self.on_sample(epoch + 1, step, self.make_sample(self.model))


class StopOnDivergence(keras.callbacks.Callback):
    """Stops training with an `InputError` when the loss is not finite or climbs above `factor`
    times the first loss this `fit` evaluated.

    It raises inside `fit` (rather than setting `stop_training`), so the epoch does not end and
    `RunBackup` keeps the last good epoch's backup to resume from with a lower rate.

    Args:
        hint: What to do about it, e.g. "lower learning_rate".
        factor: How far above the first loss counts as diverged.
    """

    def __init__(self, hint="lower learning_rate", factor=10.0):
        super().__init__()
        self.hint, self.factor = hint, factor
        self.first = None

    def on_train_begin(self, logs=None):
        self.first = None

    def _check(self, logs):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if not math.isfinite(loss):
            raise InputError(f"training diverged: loss {loss} at step {self._step()} is not finite; "
                             f"{self.hint}")
        if self.first is None:
            self.first = loss
        elif loss > self.factor * self.first:
            raise InputError(f"training diverged: loss {loss:.4g} at step {self._step()} is more than "
                             f"{self.factor:g}x the first evaluation's {self.first:.4g}; {self.hint}")

    def _step(self):  # read from the optimizer only for the message: no extra sync per batch
        return steps_trained(self.model)

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs)


class SetLearningRate(keras.callbacks.Callback):
    """Sets the optimizer's (constant) learning rate when training starts.

    `RunBackup` restores the optimizer's variables, the learning rate among them, in its
    `on_train_begin`; put this callback after it so a resumed run trains at the rate it was
    resumed with. A learning-rate schedule is not a variable (the new schedule stays).
    """

    def __init__(self, learning_rate):
        super().__init__()
        self.learning_rate = learning_rate

    def on_train_begin(self, logs=None):
        rate = self.model.optimizer.learning_rate  # a schedule's value at this step otherwise
        if isinstance(rate, keras.Variable):
            rate.assign(self.learning_rate)


class RunHistory(keras.callbacks.Callback):
    """The whole run's per-epoch logs, across resumes, kept in a JSON file.

    Every epoch's logs are appended and the file rewritten; when a run resumes at epoch
    `start_epoch` (from `RunBackup`), the stored history is cut back to that many epochs,
    so epochs that ran after the last backup (a crash) are not counted twice.

    Args:
        path: The JSON file (`{metric: [value per epoch]}`), or `None` to keep the history in
            memory only (a worker that does not write the run directory).
        start_epoch: The epoch training starts from (0 for a new run).
    """

    def __init__(self, path, start_epoch=0):
        super().__init__()
        self.path = pathlib.Path(path) if path is not None else None
        self.start_epoch = start_epoch
        self.history = {}
        self.epochs = start_epoch  # epochs of the run finished so far

    def on_train_begin(self, logs=None):
        stored = {}
        if self.start_epoch and self.path is not None:
            stored = run_dir.read_history(self.path)
        self.history = {k: list(v)[: self.start_epoch] for k, v in stored.items()}
        self.epochs = self.start_epoch

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if self.path is not None:
            write_json_atomic(self.path, self.history)


class RunBackup(keras.callbacks.Callback):
    """The run's backup (`kerasrnn.run_backup`): restored when training starts, written whole
    at every epoch's end (and by `save_backup`, e.g. on SIGTERM).

    Epochs are counted in steps (see `run_backup.restored_position`): a backup at step `s`
    records epoch `s // steps_per_epoch`, and a restored run starts `fit` in that epoch.

    Args:
        backup_dir: The backup folder (`out_dir/backup`).
        steps_per_epoch: Steps (batches) in one epoch of the run.
        extra_state: Optional state the weights do not hold (the char model's stream states),
            see `run_backup.write_backup`.
    """

    def __init__(self, backup_dir, steps_per_epoch, extra_state=None):
        super().__init__()
        self.backup_dir, self.steps_per_epoch = pathlib.Path(backup_dir), steps_per_epoch
        self.extra_state = extra_state

    def on_train_begin(self, logs=None):
        run_backup.restore_backup(self.backup_dir, self.model, self.steps_per_epoch, self.extra_state)

    def on_epoch_end(self, epoch, logs=None):
        self.save_backup()

    def save_backup(self):
        """Writes a backup at the step the model has reached (`run_backup.write_backup`)."""
        run_backup.write_backup(self.backup_dir, self.model, self.steps_per_epoch, self.extra_state)


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the lowest `val_loss` in `path` (written atomically)."""

    def __init__(self, path, monitor="val_loss"):
        super().__init__()
        self.path, self.monitor = pathlib.Path(path), monitor
        self.best = math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not float(value) < self.best:
            return
        self.best = float(value)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_problem_error(self.path.parent, e) from None
        write_bytes_atomic(self.path, weights_bytes(self.model))


LOG_MARGIN_BYTES = 256 * 1024  # TensorBoard events and the JSON files of a few epochs


def _weights_size(model):
    """Bytes of the model's and its optimizer's variables (as a backup file holds them)."""
    size = sum(math.prod(v.shape) * 4 for v in model.weights)
    optimizer = getattr(model, "optimizer", None)
    built = optimizer is not None and getattr(optimizer, "built", False)
    return size + (sum(math.prod(v.shape) * 4 for v in optimizer.variables) if built else 2 * size)


class DiskSpaceCheck(keras.callbacks.Callback):
    """Stops training with a `FileError` before an epoch's files are written when the disk
    cannot hold them (a backup and a checkpoint beside the old ones, the final model, logs)."""

    def __init__(self, directory):
        super().__init__()
        self.directory = pathlib.Path(directory)

    def _check(self):
        backup = _weights_size(self.model)
        check_free_space(self.directory, 2 * backup + LOG_MARGIN_BYTES, "the backup and logs")

    def on_train_begin(self, logs=None):
        self._check()

    def on_epoch_end(self, epoch, logs=None):
        self._check()


def run_callbacks(out_dir, steps_per_epoch, best_checkpoint=True, start_epoch=0, learning_rate=None,
                  divergence_hint="lower learning_rate", chief=True, extra_state=None,
                  distribution=None):
    """The callbacks every training run uses, writing into the run directory's layout.

    Epochs are counted in steps (`steps_per_epoch` each, see `RunBackup`); give `fit`
    an `EpochsOfSteps` as its last callback.

    `DiskSpaceCheck` and `StopOnDivergence` (first, so a diverged epoch is never backed up and a
    full disk stops training before it breaks a file), `RunBackup` (`backup/`), then with
    `learning_rate` a `SetLearningRate` (after the restore, so a resumed run trains at its new
    rate), `RunHistory` (`history.json`, cut back to `start_epoch`), `TensorBoard` (`logs/`) and,
    with `best_checkpoint`, the weights of the lowest `val_loss` (`checkpoints/best.weights.h5`).

    A worker that is not the chief of a multi-worker job (`chief=False`) writes only its backup
    (into `out_dir`, its own folder): no history file, logs or checkpoint. `extra_state` is kept
    in the backup beside the weights (see `RunBackup`). With a `distribution`, SIGTERM
    stops training after a mid-epoch backup (`preemption.SaveOnPreemption`; `out_dir/preemption`
    holds a multi-worker job's coordination checkpoint).

    Returns:
        `(callbacks, run_history)`: the list for `fit`, and the `RunHistory` whose `history` is
        the whole run's.
    """
    out = pathlib.Path(out_dir)
    history = RunHistory(out / run_dir.HISTORY_FILE if chief else None, start_epoch)
    backup = RunBackup(out / run_dir.BACKUP_DIR, steps_per_epoch, extra_state)
    callbacks = [DiskSpaceCheck(out), StopOnDivergence(divergence_hint), backup]
    if distribution is not None:
        callbacks.append(SaveOnPreemption(backup, distribution, out / "preemption"))
    if learning_rate is not None:
        callbacks.append(SetLearningRate(learning_rate))
    callbacks.append(history)
    if not chief:
        return callbacks, history
    callbacks.append(keras.callbacks.TensorBoard(str(out / "logs"), update_freq="epoch"))
    if best_checkpoint:
        callbacks.append(BestWeights(out / "checkpoints" / "best.weights.h5"))
    return callbacks, history
