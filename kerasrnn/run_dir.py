"""A training run's directory, the same for every model kind: its layout, the check of an
`out_dir` before training writes anything, and the model files.

* `config.json`  the format (`kerasrnn.<kind>`) and its version, the package version, the
  builder's arguments (`model`) and the training settings (`training`): `kerasrnn.run_config`;
* `model.keras`  the trained model (`keras.saving.load_model`), written atomically at the end;
* `metrics.json` the results (its `history` holds every epoch of the run, across resumes);
* `history.json` the per-epoch history so far, rewritten every epoch (by training's `RunHistory`);
* `backup/` (written and read by `kerasrnn.run_backup`), `checkpoints/`, `logs/` (TensorBoard),
  and whatever a kind adds (the char model's `vocab.json`).

Every file is written whole or not at all (a temporary file renamed over it; the model is
serialised in memory first, so a full disk fails in Python, not inside a library). Reading
checks each file's shape and raises `FileError` naming the file and what to do.

`CONFIG_FILE`, `write_run_config`, `update_training_config` (`kerasrnn.run_config`) and
`steps_trained`, `inside_accumulation` (`kerasrnn.keras_internals`) are importable from here too,
as the kinds' training modules use them.
"""

import os
import pathlib
import typing
import zipfile

import keras

from kerasrnn.errors import InputError
from kerasrnn.files import (JSON_MAX_BYTES, MiB, FileError, check_free_space, damaged,
                            read_json_file, type_name, value_has_type, write_bytes_atomic,
                            write_json_atomic)
from kerasrnn.keras_internals import inside_accumulation, model_bytes, steps_trained  # noqa: F401
from kerasrnn.run_config import (CONFIG_FILE, check_vocabulary, read_resumable_config,  # noqa: F401
                                 read_run_config, update_training_config, write_run_config)

MODEL_FILE, METRICS_FILE, HISTORY_FILE = "model.keras", "metrics.json", "history.json"
BACKUP_DIR = "backup"

# `model.keras` is a zip that Keras writes uncompressed (`ZIP_STORED`): its entries unpack to
# about the file's size. Before Keras opens one, each entry's declared size is checked: the
# JSON entries (`config.json`, `metadata.json`: the architecture, kB) against `JSON_MAX_BYTES`,
# all of them together against `MODEL_MAX_EXPANSION` times the file's size plus
# `MODEL_EXPANSION_SLACK` (room for a repacked, compressed file; a zip bomb unpacks to
# hundreds of times its size).
MODEL_MAX_EXPANSION, MODEL_EXPANSION_SLACK = 4, 1 * MiB


class TrainedRun(typing.NamedTuple):
    """A loaded run with a vocabulary (char model, captioner): unpacks as `model, vocab, config`."""

    model: keras.Model
    vocab: object  # the kind's vocabulary (`RunFormat.vocabulary`)
    config: dict  # `config.json`: `model` (the builder's arguments), `training` (the settings)


def read_history(path):
    """A run's `history.json` at `path`: `{metric: [number per epoch]}` ({} when absent).

    Raises:
        FileError: The file is too large, not JSON or not of that shape (it is named).
    """
    path = pathlib.Path(path)
    if not path.exists():
        return {}
    fix = "delete it to resume (the run's history then starts at this resume)"
    history = read_json_file(path, fix)
    if not isinstance(history, dict):
        raise damaged(path, f"the file is {type_name(history)}, not an object", fix)
    for key, values in history.items():
        if not isinstance(values, list) or not all(value_has_type(v, (int, float)) for v in values):
            raise damaged(path, f"{key} is not a list of numbers", fix)
    return history


def _check_out_dir(out):
    """Refuses an `--out` under a file or in a folder we cannot write, before anything is written."""
    ancestor = out
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor != out and not ancestor.is_dir():
        raise FileError(f"out_dir {out}: {ancestor} is a file, not a folder; choose another out_dir")
    if ancestor.is_dir() and not os.access(ancestor, os.W_OK | os.X_OK):
        raise FileError(f"out_dir {out}: cannot write in {ancestor} (read-only or no permission); "
                        "choose a writable out_dir")


def prepare_run_dir(out_dir, resume, run_format):
    """Checks `out_dir` before anything is written. Returns the saved config when resuming.

    Raises:
        InputError: `out_dir` already holds files and `resume` is False (we never overwrite a
            trained model), or `resume` is True and there is no run to resume.
        FileError: `out_dir` lies under a file or in an unwritable folder, or the run to
            resume is damaged (its config, history or vocabulary).
    """
    out = pathlib.Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"out_dir {out} is a file; give a directory")
    _check_out_dir(out)
    has_run = (out / CONFIG_FILE).is_file()
    if resume:
        if not has_run:
            raise InputError(f"resume: {out} holds no run to resume (no {CONFIG_FILE})")
        config = read_resumable_config(out, run_format)
        read_history(out / HISTORY_FILE)  # checked before anything is written
        check_vocabulary(out, run_format, config)
        return config
    if has_run or (out.is_dir() and any(out.iterdir())):
        raise InputError(f"out_dir {out} already holds files (a trained model?); pass `resume` to "
                         "continue that run, or choose a new out_dir")
    return None


def save_trained_model(directory, model, metrics):
    """Writes `model.keras` and `metrics.json` into a run directory, each whole or not at all.

    Raises:
        FileError: A write failed (full disk, read-only folder); no half file is left.
    """
    directory = pathlib.Path(directory)
    hint = ("free disk space or make the folder writable, then run again with `resume` and more "
            "`steps` or `epochs` (the backup holds the trained weights)")
    data = model_bytes(model)
    check_free_space(directory, 2 * len(data), MODEL_FILE, hint)
    write_bytes_atomic(directory / MODEL_FILE, data, hint)
    write_json_atomic(directory / METRICS_FILE, metrics, hint)


def check_model_archive(path):
    """Checks the zip `model.keras` at `path` by its entries' declared sizes before anything
    unpacks it: a JSON entry above `JSON_MAX_BYTES`, or entries that together would unpack to
    more than `MODEL_MAX_EXPANSION` times the file's size plus `MODEL_EXPANSION_SLACK`, are
    refused. (`zipfile` stops reading an entry at its declared size, so the check holds.)

    Raises:
        FileError: Not a zip, or an entry too large, naming the file.
    """
    path = pathlib.Path(path)
    fix = "retrain or restore it"
    try:
        size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        raise FileError(f"cannot load {path} ({type(e).__name__}); the file is damaged: "
                        f"{fix}") from None
    for entry in entries:
        if entry.filename.endswith(".json") and entry.file_size > JSON_MAX_BYTES:
            raise damaged(path, f"its {entry.filename} would unpack to {entry.file_size:,} bytes, "
                                f"above the {JSON_MAX_BYTES:,} it may hold", fix)
    total, most = sum(e.file_size for e in entries), MODEL_MAX_EXPANSION * size + MODEL_EXPANSION_SLACK
    if total > most:
        raise damaged(path, f"its entries would unpack to {total:,} bytes, above the {most:,} a "
                            f"{size:,}-byte model file may hold", fix)


def load_trained_model(directory, run_format):
    """Loads `model.keras` of a finished run of one model kind.

    Args:
        directory: The run directory.
        run_format: The kind's `RunFormat` (its `config` module's `RUN_FORMAT`).

    Returns:
        `(model, config)`.

    Raises:
        InputError: Missing, unfinished, damaged or incompatible directory, said in one line.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise InputError(f"model directory {directory} does not exist")
    config = read_run_config(directory, run_format)
    if not (directory / MODEL_FILE).is_file():
        raise InputError(f"{directory} has no {MODEL_FILE}: training has not finished; "
                         "finish it with `resume`")
    metrics = directory / METRICS_FILE
    if metrics.exists():
        fix = "restore it, or delete it (it holds only the run's results)"
        if not isinstance(read_json_file(metrics, fix), dict):
            raise damaged(metrics, "not a JSON object", fix)
    check_model_archive(directory / MODEL_FILE)
    try:
        model = keras.saving.load_model(directory / MODEL_FILE)
    except Exception as e:  # Keras raises many types for a damaged zip or config
        raise FileError(f"cannot load {directory / MODEL_FILE} ({type(e).__name__}); "
                          "the file is damaged or from an incompatible Keras: retrain or restore "
                          "it") from None
    if not isinstance(model, keras.Model):
        raise damaged(directory / MODEL_FILE, f"it holds a {type(model).__name__}, not a model")
    return model, config
