"""A training run's directory, the same for every model kind: what training writes, what
sampling, plotting and export read.

* `config.json`  the format (`kerasrnn.<kind>`) and its version, the package version, the
  builder's arguments (`model`) and the training settings (`training`);
* `model.keras`  the trained model (`keras.saving.load_model`), written atomically at the end;
* `metrics.json` the results (its `history` holds every epoch of the run, across resumes);
* `history.json` the per-epoch history so far, rewritten every epoch (`RunHistory`);
* `backup/` (`BackupAndRestore`, written and read by `kerasrnn.run_backup`), `checkpoints/`, `logs/` (TensorBoard), and whatever a kind
  adds (the char model's `vocab.json`).

Every file is written whole or not at all (a temporary file renamed over it; the weights are
serialised in memory first, so a full disk fails in Python, not inside HDF5). Reading checks
each file's shape and raises `FileError` naming the file and what to do.
"""

import dataclasses
import io
import math
import os
import pathlib
import typing
import zipfile

import keras

from kerasrnn import __version__
from kerasrnn.errors import InputError
from kerasrnn.files import (AGAIN_HINT, CONFIG_MAX_BYTES, JSON_MAX_BYTES, MiB, FileError,
                            check_free_space, check_object, damaged, read_json_file, type_name,
                            value_has_type, write_bytes_atomic, write_json_atomic,
                            write_problem_error)

FORMAT_VERSION = 1
CONFIG_FILE, MODEL_FILE, METRICS_FILE = "config.json", "model.keras", "metrics.json"
HISTORY_FILE = "history.json"
BACKUP_DIR, BACKUP_WEIGHTS, BACKUP_METADATA = "backup", "latest.weights.h5", "training_metadata.json"
BACKUP_RNG = "rng_states.npz"  # the random-number generators' states (dropout, sampling)
LOG_MARGIN_BYTES = 256 * 1024  # TensorBoard events and the JSON files of a few epochs
# `model.keras` is a zip that Keras writes uncompressed (`ZIP_STORED`): its entries unpack to
# about the file's size. Before Keras opens one, each entry's declared size is checked: the
# JSON entries (`config.json`, `metadata.json`: the architecture, kB) against `JSON_MAX_BYTES`,
# all of them together against `MODEL_MAX_EXPANSION` times the file's size plus
# `MODEL_EXPANSION_SLACK` (room for a repacked, compressed file; a zip bomb unpacks to
# hundreds of times its size).
MODEL_MAX_EXPANSION, MODEL_EXPANSION_SLACK = 4, 1 * MiB

# The JSON value types a `config.json` key may hold (`RunFormat.model`).
ANY_INT, REAL, STR, BOOL, NONE = (int,), (int, float), (str,), (bool,), (type(None),)


class RunFormat(typing.NamedTuple):
    """What `config.json` of one model kind holds, declared by the kind (its `config` module).

    Attributes:
        kind: The kind (`format` is `kerasrnn.<kind>`).
        training: Its training config dataclass: the settings `training` may hold, their types
            (`training_schema`) and checks (`validate`).
        model: `{key: JSON types}` of `model`, the builder's arguments.
        model_required: The `model` keys that must be there (the code reads them by name).
        training_required: The `training` keys that must be there.
        vocabulary: The class of the kind's vocabulary file (with `FILENAME` and `load`), or None.
    """

    kind: str
    training: type
    model: dict
    model_required: tuple = ()
    training_required: tuple = ()
    vocabulary: type | None = None


class TrainedRun(typing.NamedTuple):
    """A loaded run with a vocabulary (char model, captioner): unpacks as `model, vocab, config`."""

    model: keras.Model
    vocab: object  # the kind's vocabulary (`RunFormat.vocabulary`)
    config: dict  # `config.json`: `model` (the builder's arguments), `training` (the settings)


# `training.distribution` of every kind, where it is an object: how the run was spread over
# devices (`kerasrnn.train.distribution`), which a resume compares key by key.
_DISTRIBUTION = {"distribute": STR, "replicas": ANY_INT, "workers": ANY_INT,
                 "replica_batch_size": ANY_INT}


# ---- writing ---------------------------------------------------------------------------------


def model_bytes(model):
    """`model` as the bytes of a `.keras` file (serialised in memory)."""
    from keras.src.saving import saving_lib

    buffer = io.BytesIO()
    saving_lib.save_model(model, buffer)
    return buffer.getvalue()


def steps_trained(model):
    """The batches `model` has trained on, resumes included: its optimizer's step counter.

    With `gradient_accumulation_steps` k the optimizer updates the weights once every k
    batches, and Keras's `optimizer.iterations` counts those updates; positions in the data,
    backups and `steps` settings count batches, which is this.
    """
    return int(model.optimizer._iterations.numpy())


def inside_accumulation(model):
    """Whether `model`'s optimizer holds gradients summed since its last weight update (with
    `gradient_accumulation_steps`): training stops, and backs up, only when it does not."""
    accumulation = model.optimizer.gradient_accumulation_steps
    return bool(accumulation) and steps_trained(model) % accumulation != 0


def weights_bytes(model):
    """`model`'s weights (optimizer state included) as the bytes of a `.weights.h5` file,
    serialised in memory: HDF5 never writes to the disk, where a full disk can crash it."""
    from keras.src.saving import saving_lib

    buffer = io.BytesIO()
    store = saving_lib.H5IOStore(buffer, mode="w")
    try:
        saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="",
                               visited_saveables=set())
    finally:
        store.close()
    return buffer.getvalue()


# ---- reading ---------------------------------------------------------------------------------


def _json_types(annotation):
    """The JSON value types a config dataclass field of type `annotation` may hold."""
    args = typing.get_args(annotation) or (annotation,)
    types = []
    for arg in args:
        origin = typing.get_origin(arg) or arg
        if origin is float:
            types += [int, float]
        elif origin in (tuple, list):
            types.append(list)
        elif origin in (int, str, bool, type(None), dict):
            types.append(origin)
        else:
            return None  # a type JSON does not name: not checked
    return tuple(types)


def training_schema(run_format):
    """`{field: JSON types}` of a kind's training config dataclass (`RunFormat.training`)."""
    config_class = run_format.training
    hints = typing.get_type_hints(config_class)
    schema = {}
    for name in (f.name for f in dataclasses.fields(config_class)):
        schema[name] = _json_types(hints[name]) or (object,)
    return schema


def write_run_config(directory, kind, model_config, training_config):
    """Writes `config.json` for a run of model `kind` about to train in `directory`."""
    write_json_atomic(pathlib.Path(directory) / CONFIG_FILE, {
        "format": f"kerasrnn.{kind}", "format_version": FORMAT_VERSION,
        "kerasrnn_version": __version__, "model": model_config, "training": training_config,
    }, AGAIN_HINT)


def update_training_config(directory, training_config):
    """Rewrites the `training` part of a run's `config.json` (a resume's new rate or length)."""
    path = pathlib.Path(directory) / CONFIG_FILE
    config = read_json_file(path, max_bytes=CONFIG_MAX_BYTES)
    if not isinstance(config, dict):
        raise damaged(path, f"the file is {type_name(config)}, not an object")
    config["training"] = training_config
    write_json_atomic(path, config)


def read_run_config(directory, run_format):
    """Reads and checks `config.json` against a kind's `RunFormat`; raises `InputError` if it
    is not a run of that kind or too new, and `FileError` if it is damaged (not an object, a
    key missing or of the wrong type)."""
    kind = run_format.kind
    path = pathlib.Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise InputError(f"{directory} is not a kerasrnn {kind} model directory (no {CONFIG_FILE}); "
                         "give the run directory its training script wrote")
    config = read_json_file(path, max_bytes=CONFIG_MAX_BYTES)
    if not isinstance(config, dict):
        raise damaged(path, f"the file is {type_name(config)}, not an object")
    fmt = config.get("format")
    if not isinstance(fmt, str):
        raise damaged(path, "no format" if fmt is None else f"format is {type_name(fmt)}, not a string")
    if fmt != f"kerasrnn.{kind}":
        raise InputError(f"{directory} holds a {fmt!r} model, not a {kind} model")
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise damaged(path, "no format_version" if version is None else
                      f"format_version is {type_name(version)}, not an integer")
    if version != FORMAT_VERSION:
        raise InputError(
            f"{directory} was written by kerasrnn {config.get('kerasrnn_version')} in format "
            f"version {version}; this kerasrnn {__version__} reads version "
            f"{FORMAT_VERSION}: retrain, or use the kerasrnn version that wrote it")
    check_object(path, config, {"format": (str,), "format_version": (int,),
                                "kerasrnn_version": (str,), "model": (dict,),
                                "training": (dict,)}, required=("model", "training"),
                 unknown_ok=True)
    check_object(path, config["model"], run_format.model, run_format.model_required, "model")
    check_object(path, config["training"], training_schema(run_format),
                 run_format.training_required, "training")
    if isinstance(config["training"].get("distribution"), dict):
        check_object(path, config["training"]["distribution"], _DISTRIBUTION,
                     ("distribute", "replicas", "workers"), "training.distribution",
                     unknown_ok=True)
    return config


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


def _check_vocabulary(out, run_format, config):
    """The vocabulary of a run whose kind has one, checked against `config.json`'s size."""
    loader = run_format.vocabulary
    if loader is None or not (out / loader.FILENAME).exists():
        return None  # a missing one is reported where training reads it, after the settings
    vocab = loader.load(out)
    size = config["model"].get("vocab_size")
    if size is not None and size != len(vocab):
        raise FileError(f"{out / CONFIG_FILE} says the vocabulary has {size} entries but "
                          f"{out / vocab.FILENAME} has {len(vocab)}; one of them is damaged: "
                          "retrain or restore the files")
    return vocab


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
        config = read_run_config(out, run_format)
        # a run to continue must hold every setting it was trained with
        missing = [name for name in training_schema(run_format) if name not in config["training"]]
        if missing:
            raise damaged(out / CONFIG_FILE, f"no training.{missing[0]}")
        read_history(out / HISTORY_FILE)  # checked before anything is written
        _check_vocabulary(out, run_format, config)
        return config
    if has_run or (out.is_dir() and any(out.iterdir())):
        raise InputError(f"out_dir {out} already holds files (a trained model?); pass `resume` to "
                         "continue that run, or choose a new out_dir")
    return None


def check_saved_settings(out_dir, run_format, resumable=(), given=None):
    """Checks the settings a run to resume was trained with (its `config.json`'s `training`)
    as its config class checks new ones, so that a bad saved one is named as damage in the
    file, not as a bad flag. Does nothing where `out_dir` holds no `config.json`
    (`prepare_run_dir` says what is wrong).

    Args:
        resumable: The settings a resume may replace: they take their `given` values, and a
            bad one is left to the training function (a new value may mend a saved bad one).
        given: `{setting: value}` the resume was given.

    Raises:
        FileError: `config.json` is damaged (its shape, or a saved setting fails its check).
    """
    path = pathlib.Path(out_dir) / CONFIG_FILE
    if not path.is_file():
        return
    training = read_run_config(out_dir, run_format)["training"]
    config_class = run_format.training
    fields = {f.name for f in dataclasses.fields(config_class)}
    settings = {**training, **{k: v for k, v in (given or {}).items() if k in resumable}}
    try:
        config_class(**settings).validate(allow_large=True)
    except InputError as e:
        first = str(e).split(" ", 1)[0]
        if first not in resumable:
            raise damaged(path, f"training{'.' if first in fields else ': '}{e}") from None
    except Exception as e:  # noqa: BLE001 - a value no check foresaw
        raise damaged(path, f"training: {type(e).__name__}") from None


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
