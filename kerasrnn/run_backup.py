"""A run directory's backup (`backup/`): the weights, optimizer and position training resumes
from, written whole or not at all, with what Keras does not keep (the random-number
generators' states, a kind's extra state such as the char model's streams) and a metadata file
recording the weights' sha256, checked before a resume uses them.

`write_backup` and `restore_backup` are what training's backup callback
(`kerasrnn.train.callbacks.RunBackup`) does; `restored_position` says where a backup resumes;
`roll_back_backup` falls back to `backup.previous/` after a damaged write.
"""

import hashlib
import io
import json
import os
import pathlib
import typing
import zipfile

import numpy as np

from kerasrnn.errors import InputError
from kerasrnn.files import (FileError, check_object, damaged, read_json_file, write_bytes_atomic,
                            write_problem_error, write_text_atomic)
from kerasrnn.keras_internals import set_initial_epoch, steps_trained, weights_bytes
from kerasrnn.run_dir import BACKUP_DIR

# The files of a backup folder: the weights with the optimizer's state (the file Keras's
# `BackupAndRestore` wrote, as in runs of earlier versions), the metadata (epoch, step, the
# weights' sha256; written last, it marks the backup complete), the random-number generators'
# states (dropout, sampling).
BACKUP_WEIGHTS, BACKUP_METADATA = "latest.weights.h5", "training_metadata.json"
BACKUP_RNG = "rng_states.npz"


def _backup_fix(backup):
    return (f"delete {backup} and run again with `resume` to retrain the run from its first "
            "epoch (its settings are kept)")


class Position(typing.NamedTuple):
    """Where a backup resumes: `epoch` (Keras's epoch index to start from; epochs before it
    are complete) and `step` (optimizer steps done, a mid-epoch position after a preemption)."""

    epoch: int
    step: int


def restored_position(out_dir, steps_per_epoch):
    """The `Position` the backup in `out_dir/backup` resumes from (0, 0 without one).

    Epochs are counted in steps: epoch `e` is steps `[e * steps_per_epoch, (e + 1) *
    steps_per_epoch)`, so a backup at step `s` resumes in epoch `s // steps_per_epoch` (an epoch
    cut short, by the end of the run's steps, a time limit or SIGTERM, is trained to its end).

    A backup is written whole into `backup.next/` and then swapped in, keeping the one before
    as `backup.previous/`; a swap cut short by a crash is finished here first.

    Raises:
        FileError: The backup is damaged or half there (the message says how to start over).
    """
    backup = pathlib.Path(out_dir) / BACKUP_DIR
    _finish_swap(backup)
    metadata = _backup_metadata(backup)
    if metadata is None:
        return Position(0, 0)
    step = metadata.get("step", metadata["epoch"] * steps_per_epoch)
    return Position(step // steps_per_epoch, step)


def previous_step(out_dir, steps_per_epoch):
    """The step of the backup kept before the latest (`backup.previous/`), or `None`."""
    previous = pathlib.Path(out_dir) / (BACKUP_DIR + ".previous")
    if not (previous / BACKUP_METADATA).is_file():
        return None
    metadata = _backup_metadata(previous)
    return metadata.get("step", metadata["epoch"] * steps_per_epoch)


def roll_back_backup(out_dir):
    """Makes the backup before the latest the one to resume from (when another worker of the
    job has not reached the latest); with none before it, the run starts from scratch."""
    out = pathlib.Path(out_dir)
    backup, previous = out / BACKUP_DIR, out / (BACKUP_DIR + ".previous")
    aside = out / (BACKUP_DIR + ".ahead")
    _remove_tree(aside)
    try:
        if backup.exists():
            os.replace(backup, aside)
        if previous.exists():
            os.replace(previous, backup)
    except OSError as e:
        raise write_problem_error(backup, e) from None


def _finish_swap(backup):
    staging = backup.with_name(backup.name + ".next")
    if not backup.exists() and (staging / BACKUP_METADATA).is_file():
        try:
            os.replace(staging, backup)
        except OSError as e:
            raise write_problem_error(backup, e) from None


def _remove_tree(folder):
    import shutil

    if folder.exists():
        try:
            shutil.rmtree(folder)
        except OSError as e:
            raise write_problem_error(folder, e) from None


def _backup_metadata(backup):
    """A backup folder's checked metadata, or `None` if the folder holds no backup."""
    meta, weights = backup / BACKUP_METADATA, backup / BACKUP_WEIGHTS
    fix = _backup_fix(backup)
    if not meta.exists() and not weights.exists():
        return None
    if not weights.is_file():
        raise FileError(f"{weights} is missing (the backup has only {BACKUP_METADATA}); {fix}")
    if not meta.is_file():
        raise FileError(f"{meta} is missing (the backup has only {BACKUP_WEIGHTS}); {fix}")
    metadata = read_json_file(meta, fix)
    check_object(meta, metadata, {"epoch": (int,), "batch": (int,), "step": (int,),
                                  "weights_sha256": (str,)},
                 required=("epoch",), fix=fix, unknown_ok=True)
    for key in ("epoch", "step"):
        if metadata.get(key, 0) < 0:
            raise damaged(meta, f"{key} is {metadata[key]}", fix)
    _check_backup_weights(weights, metadata.get("weights_sha256"), fix)
    return metadata


def _sha256(path):
    """The sha256 of the file at `path`, read in blocks (a backup may be large)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _check_backup_weights(weights, sha256, fix):
    """Checks a backup's weights file against the checksum its metadata records (HDF5 has
    none: changed bytes inside an array would load silently) and reads every array, so that a
    damaged file is refused here, before a resume writes anything, not when `fit` restores it
    (`restore_backup`)."""
    import h5py

    if sha256 is not None and _sha256(weights) != sha256:
        raise FileError(f"cannot restore {weights}: its bytes do not match the checksum in "
                        f"{BACKUP_METADATA} (the file is damaged); {fix}")

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]

    try:
        with h5py.File(weights, "r") as f:
            f.visititems(read)
    except Exception as e:  # noqa: BLE001 - h5py raises many types for a damaged file
        raise FileError(f"cannot restore {weights} ({type(e).__name__}): it is damaged; {fix}") from None


def restore_backup(backup_dir, model, steps_per_epoch, extra_state=None):
    """Loads the backup in `backup_dir` into `model`, when training starts (from a callback's
    `on_train_begin`): the weights with the optimizer's state, the random-number states and
    `extra_state`, and makes `fit` start in the backup's epoch (`steps_trained //
    steps_per_epoch`). Does nothing where there is no backup. Its metadata was checked by
    `restored_position` before training started.

    Raises:
        FileError: A file of the backup is damaged or from another model (the message says how
            to start over).
    """
    backup = pathlib.Path(backup_dir)
    weights = backup / BACKUP_WEIGHTS
    try:
        if weights.exists():
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)  # its variables, to load into
            model.load_weights(weights)
    except InputError:
        raise
    except Exception as e:  # h5py and Keras raise many types for a damaged file
        raise FileError(f"cannot restore {weights} ({type(e).__name__}): it is damaged or from "
                        f"another model; {_backup_fix(backup)}") from None
    if (backup / BACKUP_METADATA).is_file():
        set_initial_epoch(model, steps_trained(model) // steps_per_epoch)
        _restore_rng_states(model, backup)
        if extra_state is not None:
            epoch = read_json_file(backup / BACKUP_METADATA)["epoch"]
            extra_state.restore(backup, epoch)


def write_backup(backup_dir, model, steps_per_epoch, extra_state=None):
    """Writes a backup of `model` at the step it has reached (its epoch and batch follow from
    it, mid-epoch included) into `backup.next/`, then swaps it in whole; the backup before it
    stays as `backup.previous/`.

    Args:
        backup_dir: The backup folder (`out_dir/backup`).
        steps_per_epoch: Steps (batches) in one epoch of the run.
        extra_state: Optional state the weights do not hold (the char model's stream states),
            an object with `save(folder, epoch)` and `restore(folder, epoch)`: saved after the
            weights and before the metadata (which marks the backup complete).

    Raises:
        FileError: A write failed; the last whole backup stays as it was.
    """
    backup = pathlib.Path(backup_dir)
    staging, previous = backup.with_name(backup.name + ".next"), backup.with_name(backup.name + ".previous")
    _remove_tree(staging)
    try:
        staging.mkdir(parents=True)
    except OSError as e:
        raise write_problem_error(staging, e) from None
    step = steps_trained(model)
    epoch, batch = divmod(step, steps_per_epoch)
    try:
        data = weights_bytes(model)
        write_bytes_atomic(staging / BACKUP_WEIGHTS, data)
        _save_rng_states(model, staging)
        if extra_state is not None:
            extra_state.save(staging, epoch)
        write_text_atomic(staging / BACKUP_METADATA, json.dumps(
            {"epoch": epoch, "batch": batch, "step": step,
             "weights_sha256": hashlib.sha256(data).hexdigest()}))
    except FileError:
        _remove_tree(staging)  # the last whole backup stays as it was
        raise
    _remove_tree(previous)
    try:
        if backup.exists():
            os.replace(backup, previous)
        os.replace(staging, backup)
    except OSError as e:
        raise write_problem_error(backup, e) from None


def _rng_variables(model):
    """The states of the model's random-number generators (`keras.random.SeedGenerator`, e.g.
    dropout's), which its weights file does not hold."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _save_rng_states(model, folder):
    variables = _rng_variables(model)
    if variables:
        buffer = io.BytesIO()
        np.savez(buffer, *[np.asarray(v) for v in variables])
        write_bytes_atomic(folder / BACKUP_RNG, buffer.getvalue())


def _restore_rng_states(model, folder):
    variables = _rng_variables(model)
    if not variables:
        return
    path, fix = folder / BACKUP_RNG, _backup_fix(folder)
    try:
        with np.load(path, allow_pickle=False) as saved:
            values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    except FileNotFoundError:
        raise FileError(f"{path} is missing: the backup lacks the random-number states; {fix}") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise FileError(f"{path} is damaged ({type(e).__name__}); {fix}") from None
    if len(values) != len(variables) or any(v.shape != tuple(w.shape) for v, w in zip(values, variables)):
        raise FileError(f"{path} does not hold this model's random-number states; {fix}")
    for variable, value in zip(variables, values):
        variable.assign(value)
