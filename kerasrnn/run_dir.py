"""A training run's directory, the same for every model kind: what training writes, what
sampling, plotting and export read.

* `config.json`  the format (`kerasrnn.<kind>`) and its version, the package version, the
  builder's arguments (`model`) and the training settings (`training`);
* `model.keras`  the trained model (`keras.saving.load_model`), written atomically at the end;
* `metrics.json` the results (its `history` holds every epoch of the run, across resumes);
* `history.json` the per-epoch history so far, rewritten every epoch (`RunHistory`);
* `backup/` (`BackupAndRestore`), `checkpoints/`, `logs/` (TensorBoard), and whatever a kind
  adds (the char model's `vocab.json`).
"""

import json
import os
import pathlib

import keras

from kerasrnn import __version__
from kerasrnn.errors import InputError

FORMAT_VERSION = 1
CONFIG_FILE, MODEL_FILE, METRICS_FILE = "config.json", "model.keras", "metrics.json"
HISTORY_FILE = "history.json"


def write_json_atomic(path, obj):
    """Writes `obj` as JSON to `path` through a temporary file, so readers never see half a file."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def write_run_config(directory, kind, model_config, training_config):
    """Writes `config.json` for a run of model `kind` about to train in `directory`."""
    write_json_atomic(pathlib.Path(directory) / CONFIG_FILE, {
        "format": f"kerasrnn.{kind}", "format_version": FORMAT_VERSION,
        "kerasrnn_version": __version__, "model": model_config, "training": training_config,
    })


def update_training_config(directory, training_config):
    """Rewrites the `training` part of a run's `config.json` (a resume's new rate or length)."""
    path = pathlib.Path(directory) / CONFIG_FILE
    config = json.loads(path.read_text())
    config["training"] = training_config
    write_json_atomic(path, config)


def read_run_config(directory, kind):
    """Reads and checks `config.json`; raises `InputError` if it is not a `kind` run or too new."""
    path = pathlib.Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise InputError(f"{directory} is not a kerasrnn {kind} model directory (no {CONFIG_FILE}); "
                         "pass the --out directory of its training script")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise InputError(f"{path} is corrupt (not JSON); retrain or restore the file") from None
    if config.get("format") != f"kerasrnn.{kind}":
        raise InputError(f"{directory} holds a {config.get('format')!r} model, not a {kind} model")
    if config.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{directory} was written by kerasrnn {config.get('kerasrnn_version')} in format "
            f"version {config.get('format_version')}; this kerasrnn {__version__} reads version "
            f"{FORMAT_VERSION}: retrain, or use the kerasrnn version that wrote it")
    return config


def prepare_run_dir(out_dir, resume, kind):
    """Checks `out_dir` before anything is written. Returns the saved config when resuming.

    Raises:
        InputError: `out_dir` already holds files and `resume` is False (we never overwrite a
            trained model), or `resume` is True and there is no run to resume.
    """
    out = pathlib.Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a directory")
    has_run = (out / CONFIG_FILE).is_file()
    if resume:
        if not has_run:
            raise InputError(f"--resume: {out} holds no run to resume (no {CONFIG_FILE})")
        return read_run_config(out, kind)
    if has_run or (out.is_dir() and any(out.iterdir())):
        raise InputError(f"--out {out} already holds files (a trained model?); pass --resume to "
                         "continue that run, or choose a new --out")
    return None


def restored_epoch(out_dir):
    """The epoch `keras.callbacks.BackupAndRestore` in `out_dir/backup` will resume from (0 if none)."""
    meta = pathlib.Path(out_dir) / "backup" / "training_metadata.json"
    return json.loads(meta.read_text()).get("epoch", 0) if meta.is_file() else 0


def backup_callback(out_dir):
    """`BackupAndRestore` into `out_dir/backup`, kept after training so a run can be extended."""
    return keras.callbacks.BackupAndRestore(str(pathlib.Path(out_dir) / "backup"),
                                            delete_checkpoint=False)


def run_callbacks(out_dir, best_checkpoint=True, start_epoch=0, learning_rate=None,
                  divergence_hint="lower learning_rate"):
    """The callbacks every training run uses, writing into the run directory's layout.

    `StopOnDivergence` (first, so a diverged epoch is never backed up), `BackupAndRestore`
    (`backup/`), then with `learning_rate` a `SetLearningRate` (after the restore, so a resumed
    run trains at its new rate), `RunHistory` (`history.json`, cut back to `start_epoch`),
    `TensorBoard` (`logs/`) and, with `best_checkpoint`, the weights of the lowest `val_loss`
    (`checkpoints/best.weights.h5`).

    Returns:
        `(callbacks, run_history)`: the list for `fit`, and the `RunHistory` whose `history` is
        the whole run's.
    """
    from kerasrnn.train.callbacks import RunHistory, SetLearningRate, StopOnDivergence

    out = pathlib.Path(out_dir)
    history = RunHistory(out / HISTORY_FILE, start_epoch)
    callbacks = [StopOnDivergence(divergence_hint), backup_callback(out)]
    if learning_rate is not None:
        callbacks.append(SetLearningRate(learning_rate))
    callbacks += [history, keras.callbacks.TensorBoard(str(out / "logs"), update_freq="epoch")]
    if best_checkpoint:
        callbacks.append(keras.callbacks.ModelCheckpoint(
            str(out / "checkpoints" / "best.weights.h5"), monitor="val_loss",
            save_best_only=True, save_weights_only=True))
    return callbacks, history


def save_trained_model(directory, model, metrics):
    """Writes `model.keras` (atomically) and `metrics.json` into a run directory."""
    directory = pathlib.Path(directory)
    tmp = directory / ("tmp-" + MODEL_FILE)
    model.save(tmp)
    os.replace(tmp, directory / MODEL_FILE)
    write_json_atomic(directory / METRICS_FILE, metrics)


def load_trained_model(directory, kind, resume_hint):
    """Loads `model.keras` of a finished run of model `kind`.

    Args:
        directory: The run directory.
        kind: Model kind, e.g. `"char_rnn"`.
        resume_hint: The command that finishes an unfinished run (for the error message).

    Returns:
        `(model, config)`.

    Raises:
        InputError: Missing, unfinished, damaged or incompatible directory, said in one line.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise InputError(f"model directory {directory} does not exist")
    config = read_run_config(directory, kind)
    if not (directory / MODEL_FILE).is_file():
        raise InputError(f"{directory} has no {MODEL_FILE}: training has not finished; "
                         f"finish it with {resume_hint}")
    try:
        model = keras.saving.load_model(directory / MODEL_FILE)
    except Exception as e:  # Keras raises many types for a damaged zip or config
        raise InputError(f"cannot load {directory / MODEL_FILE} ({type(e).__name__}); "
                         "the file is damaged or from an incompatible Keras") from None
    return model, config
