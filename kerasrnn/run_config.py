"""A run directory's `config.json`: what it holds for each model kind (`RunFormat`), writing
it, reading it back with every key's type checked, and checking the settings a run to resume
was trained with.

`config.json` holds `format` (`kerasrnn.<kind>`), `format_version`, `kerasrnn_version`,
`model` (the builder's arguments) and `training` (the settings of the kind's training config
dataclass, `distribution` among them).
"""

import dataclasses
import pathlib
import typing

from kerasrnn import __version__
from kerasrnn.errors import InputError
from kerasrnn.files import (AGAIN_HINT, CONFIG_MAX_BYTES, FileError, check_object, damaged,
                            read_json_file, type_name, write_json_atomic)

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"

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


# `training.distribution` of every kind, where it is an object: how the run was spread over
# devices (`kerasrnn.train.distribution`), which a resume compares key by key.
_DISTRIBUTION = {"distribute": STR, "replicas": ANY_INT, "workers": ANY_INT,
                 "replica_batch_size": ANY_INT}


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


def _config_object(directory, kind=None):
    """`(path, the JSON object)` of a run directory's `config.json` (size-capped); raises
    `InputError` if there is none (`kind`: the kind expected, for the message) and `FileError`
    if it is not an object."""
    path = pathlib.Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise InputError(f"{directory} is not a kerasrnn {kind + ' ' if kind else ''}model directory "
                         f"(no {CONFIG_FILE}); give the run directory "
                         f"{'its' if kind else 'a'} training script wrote")
    config = read_json_file(path, max_bytes=CONFIG_MAX_BYTES)
    if not isinstance(config, dict):
        raise damaged(path, f"the file is {type_name(config)}, not an object")
    return path, config


def read_kind(directory):
    """The model kind a run directory's `config.json` names (format `kerasrnn.KIND` -> `KIND`),
    whichever kinds exist; raises `InputError` for a directory that is not a kerasrnn run."""
    _, config = _config_object(directory)
    fmt = config.get("format", "")
    if not isinstance(fmt, str) or not fmt.startswith("kerasrnn."):
        raise InputError(f"{directory} is not a kerasrnn model directory ({CONFIG_FILE} "
                         f"has format {fmt!r})")
    return fmt[len("kerasrnn."):]


def read_run_config(directory, run_format):
    """Reads and checks `config.json` against a kind's `RunFormat`; raises `InputError` if it
    is not a run of that kind or too new, and `FileError` if it is damaged (not an object, a
    key missing or of the wrong type)."""
    kind = run_format.kind
    path, config = _config_object(directory, kind)
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


def read_resumable_config(directory, run_format):
    """`config.json` of a run to resume: `read_run_config`, and every setting of the kind's
    training config there (a run to continue must hold every setting it was trained with).

    Raises:
        InputError, FileError: As `read_run_config`; `FileError` also for a setting missing.
    """
    config = read_run_config(directory, run_format)
    missing = [name for name in training_schema(run_format) if name not in config["training"]]
    if missing:
        raise damaged(pathlib.Path(directory) / CONFIG_FILE, f"no training.{missing[0]}")
    return config


def check_vocabulary(directory, run_format, config):
    """The vocabulary of a run whose kind has one, checked against `config.json`'s size
    (`None` where the kind has none or the file is missing: a missing one is reported where
    training reads it, after the settings).

    Raises:
        FileError: The sizes differ (one of the files is damaged).
    """
    out, loader = pathlib.Path(directory), run_format.vocabulary
    if loader is None or not (out / loader.FILENAME).exists():
        return None
    vocab = loader.load(out)
    size = config["model"].get("vocab_size")
    if size is not None and size != len(vocab):
        raise FileError(f"{out / CONFIG_FILE} says the vocabulary has {size} entries but "
                        f"{out / vocab.FILENAME} has {len(vocab)}; one of them is damaged: "
                        "retrain or restore the files")
    return vocab


def check_saved_settings(out_dir, run_format, resumable=(), given=None):
    """Checks the settings a run to resume was trained with (its `config.json`'s `training`)
    as its config class checks new ones, so that a bad saved one is named as damage in the
    file, not as a bad flag. Does nothing where `out_dir` holds no `config.json`
    (`run_dir.prepare_run_dir` says what is wrong).

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
