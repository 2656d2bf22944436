"""One training run, written once for every kind: resume -> settings -> validation ->
distribution -> seed -> data and schedule -> where to start -> model -> datasets -> run config
-> callbacks -> `fit` -> final model -> metrics -> save. A kind's `Task` supplies only what
differs.

What the loop keeps for every kind: one process or a `Distribution` of replicas and workers
(the chief writes the run directory, other workers only their backups), gradient accumulation
(the kind's optimizer), the backup after every epoch (`run_backup.RunBackup`, restored by the
training model itself, so its layer tree, optimizer slot order and random-number variables are
the ones the backup was written from), SIGTERM and time limits, a kind's extra backed-up state
(the char model's stream states), and the resume checks (settings, the run's files, the
workers' positions, a run already trained to its end).

Epochs are counted in steps (`Schedule.steps_per_epoch` each). A run counted in steps (the
char model: `Schedule.in_steps`) stops after `total_steps`; one counted in epochs stops after
`epochs * steps_per_epoch` and resumes mid-epoch by skipping the batches of that epoch already
trained (`Start.skip`).
"""

import dataclasses
import pathlib
import typing

import keras

from kerasrnn import run_backup, run_dir
from kerasrnn.config_checks import check_max_seconds, resumed_settings
from kerasrnn.errors import InputError
from kerasrnn.train.callbacks import EpochsOfSteps, StopAfterSteps, Throughput, run_callbacks
from kerasrnn.train.distribution import (epoch_run_start, prepare_run, record_distribution,
                                         resume_position, without_distribution)


class Schedule(typing.NamedTuple):
    """How `fit` runs: `epochs` Keras epochs of `steps_per_epoch` steps, `total_steps` in all
    (counted across resumes). `in_steps`: the run is counted in steps, so its last epoch may
    be cut short (else `total_steps` is `epochs * steps_per_epoch`)."""

    steps_per_epoch: int
    epochs: int
    total_steps: int
    in_steps: bool = False


class Start(typing.NamedTuple):
    """Where this process starts: the backup's `run_backup.Position` (step 0 for a new run),
    the `epoch` that step lies in and the batches of that epoch already trained (`skip`)."""

    position: run_backup.Position
    epoch: int
    skip: int


class Data(typing.NamedTuple):
    """`fit`'s data: the repeating training dataset, the validation one (or None) and its
    batches (None: until it ends)."""

    train: typing.Any
    val: typing.Any = None
    val_steps: int | None = None


class Fitted(typing.NamedTuple):
    """What `fit` left, for a task's metrics: the trained `model`, `history` (the whole run's,
    resumed epochs included), `epochs` in it, `steps` trained, the timed speed in items per
    second (`per_second`, None when too few steps were timed), `seconds` timed and whether the
    time limit stopped training."""

    model: typing.Any
    history: dict
    epochs: int
    steps: int
    per_second: float | None
    seconds: float
    stopped_by_time_limit: bool

    def common_metrics(self, final_model):
        """The metrics every kind reports: `train_loss`, `epochs`, `steps`, `train_seconds`,
        `stopped_by_time_limit`, `history` (floats) and `parameters` (of `final_model`)."""
        losses = self.history.get("loss", [])
        return {"train_loss": losses[-1] if losses else None, "epochs": self.epochs,
                "steps": self.steps, "train_seconds": self.seconds,
                "stopped_by_time_limit": self.stopped_by_time_limit,
                "history": {k: [float(v) for v in vs] for k, vs in self.history.items()},
                "parameters": int(final_model.count_params())}


class Task:
    """What one kind's training supplies to `train` (subclass it; the defaults fit a kind
    counted in epochs whose model is saved as trained).

    Attributes:
        run_format: The kind's `run_config.RunFormat` (its `training` is the config dataclass).
        resumable: Settings a resume may change.
        replaced_together: Settings replaced as a group on resume (`steps`, `epochs`).
        divergence_hint: What to change when the loss diverges (for `StopOnDivergence`).

    The loop calls, in this order: `read_run` (once the settings are known), `validate`,
    `schedule` (after the seed is set: reads and splits the data), `build` (inside the
    distribution's scope), `datasets`, `write_run` (a new run, by the chief), `callbacks`,
    then after `fit` `final_model` and `metrics`.
    """

    run_format = None
    resumable = ()
    replaced_together = ()
    divergence_hint = "lower learning_rate"

    def read_run(self, config, saved, out_dir):
        """Reads what `validate` needs beyond the settings (e.g. a vocabulary, from the data
        or from the run being resumed, `saved` its config or None); raises `InputError`."""

    def validate(self, config, allow_large, replicas):
        """Raises `InputError` for settings that cannot train."""
        raise NotImplementedError

    def steps_per_execution(self, config):
        """Steps `fit` runs in one compiled execution."""
        return 1

    def schedule(self, config, distribution):
        """Reads and splits the data; returns the run's `Schedule`."""
        raise NotImplementedError

    def build(self, config, distribution):
        """The compiled training model (called inside `distribution.scope()`).

        `fit` trains this model itself, unwrapped, and a resume restores its backup into it:
        the backup is keyed by its layer tree, the optimizer's slots by variable index and the
        random-number states by variable order, so it must be built the same way on every
        run of the same settings (same layers, same order, the optimizer compiled in)."""
        raise NotImplementedError

    def datasets(self, config, distribution, start, model):
        """`Data` for `fit`, starting at `start` (a `Start`); `model` is the training model."""
        raise NotImplementedError

    def write_run(self, out_dir, config):
        """Writes a new run's `config.json` and the kind's own files (e.g. its vocabulary)."""
        raise NotImplementedError

    def learning_rate(self, config):
        """The rate a resumed run trains at (`SetLearningRate`), or None to leave the optimizer's."""
        return config.learning_rate

    def items_per_step(self, config):
        """Items (images, captions, characters) in one training step, for the speed."""
        return config.batch_size

    def backup_state(self, config, schedule):
        """A callback whose state the backup keeps beside the weights (it also runs first
        among `fit`'s callbacks), or None."""
        return None

    def callbacks(self, config, distribution):
        """The kind's own callbacks, after the standard ones (e.g. a text sampler)."""
        return []

    def final_model(self, config, model, distribution):
        """The model to save and score (default: the training model itself)."""
        return model

    def metrics(self, config, fitted, final, distribution):
        """The metrics dict `train` returns and the chief saves (`fitted` is a `Fitted`)."""
        return fitted.common_metrics(final)


def _start(schedule, distribution, own_dir, out_dir, resume, accumulation):
    """Where this process starts (`Start`): step 0, or the step every worker's backup agrees
    on; raises `InputError` when a resumed run has nothing left to train."""
    if not schedule.in_steps:
        position, epoch, skip = epoch_run_start(distribution, own_dir, out_dir, resume,
                                                schedule.steps_per_epoch, schedule.epochs,
                                                accumulation)
        return Start(position, epoch, skip)
    position = (resume_position(distribution, own_dir, schedule.steps_per_epoch) if resume
                else run_backup.Position(0, 0))
    if resume and position.step >= schedule.total_steps:
        raise InputError(f"resume: {out_dir} has already trained {position.step} steps, nothing "
                         "is left to train; pass a larger `steps` (or `epochs`) to train further")
    return Start(position, *divmod(position.step, schedule.steps_per_epoch))


def train(task, config, out_dir, *, resume=False, distribution=None, max_seconds=None,
          allow_large=False, verbose=1, extra_callbacks=()):
    """Trains `task`'s kind and writes the run directory `out_dir`; every setting is checked
    before anything is written.

    Args:
        task: The kind's `Task`.
        config: The kind's config dataclass, or (resuming) a dict of the settings given; a
            resume takes the rest from the run and refuses a changed setting outside
            `task.resumable`.
        out_dir: The run directory (see `kerasrnn.run_dir`).
        resume: Continue the run in `out_dir` from its last backup.
        distribution: A `kerasrnn.train.distribution.Distribution` (default: one process).
        max_seconds: Stop after this much wall time; `None` or > 0.
        allow_large: Train settings above the memory estimates' limit.
        verbose: Keras progress bar setting.
        extra_callbacks: More Keras callbacks for `fit`.

    Returns:
        `task.metrics(...)`, which the chief also writes to `out_dir/metrics.json`.

    Raises:
        InputError: A bad setting (before anything is written), or training diverged.
        FileError: The run to resume is damaged.
    """
    check_max_seconds(max_seconds)
    dist, own, saved = prepare_run(distribution, out_dir, resume, task.run_format, max_seconds)
    out = pathlib.Path(out_dir)
    if saved is not None:
        config = resumed_settings(task.run_format.training, saved["training"],
                                  without_distribution(config), task.resumable,
                                  replaced_together=task.replaced_together)
    task.read_run(config, saved, out)
    task.validate(config, allow_large, dist.replicas)  # the settings' one check
    dist.check_steps_per_execution(task.steps_per_execution(config))
    config = record_distribution(config, saved, dist)
    keras.utils.set_random_seed(config.seed)
    schedule = task.schedule(config, dist)
    start = _start(schedule, dist, own, out, resume, config.gradient_accumulation_steps)
    with dist.scope():
        model = task.build(config, dist)
    data = task.datasets(config, dist, start, model)
    if dist.is_chief:
        out.mkdir(parents=True, exist_ok=True)
        if saved is None:
            task.write_run(out, config)
        else:
            run_dir.update_training_config(out, dataclasses.asdict(config))

    throughput = Throughput(task.items_per_step(config))
    stopper = StopAfterSteps(schedule.total_steps, max_seconds)
    state = task.backup_state(config, schedule)
    standard, run_history = run_callbacks(
        own, schedule.steps_per_epoch, best_checkpoint=data.val is not None,
        start_epoch=start.position.epoch, learning_rate=task.learning_rate(config),
        divergence_hint=task.divergence_hint, chief=dist.is_chief, extra_state=state,
        distribution=dist)
    callbacks = [*([state] if state is not None else []), *standard, stopper, throughput,
                 *task.callbacks(config, dist), *extra_callbacks,
                 EpochsOfSteps(schedule.steps_per_epoch)]
    model.fit(data.train, epochs=schedule.epochs, steps_per_epoch=schedule.steps_per_epoch,
              validation_data=data.val, validation_steps=data.val_steps or None,
              callbacks=callbacks, verbose=verbose, shuffle=False)

    fitted = Fitted(model, run_history.history, run_history.epochs, run_dir.steps_trained(model),
                    throughput.per_second, throughput.seconds, stopper.stopped_by_time)
    final = task.final_model(config, model, dist)
    metrics = task.metrics(config, fitted, final, dist)
    if dist.is_chief:
        run_dir.save_trained_model(out, final, metrics)
    return metrics
