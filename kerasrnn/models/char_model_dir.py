"""The trained char model's directory: what training writes and sampling/export read.

A directory holds:

* `config.json`  format name and version, package version, the builder's arguments
  (`model`) and the training settings (`training`);
* `vocab.json`   the character vocabulary (`Vocabulary.save`);
* `model.keras`  the trained model, stateless, any batch and length (`keras.saving.load_model`);
* `metrics.json` training results; `backup/`, `checkpoints/`, `logs/` while and after training.
"""

import json
import os
import pathlib

import keras

from kerasrnn import __version__
from kerasrnn.data.text import Vocabulary
from kerasrnn.errors import InputError
from kerasrnn.models.char_rnn import build_char_rnn

FORMAT = "kerasrnn.char_rnn"
FORMAT_VERSION = 1
CONFIG_FILE, MODEL_FILE, METRICS_FILE = "config.json", "model.keras", "metrics.json"


def write_json_atomic(path, obj):
    """Writes `obj` as JSON to `path` through a temporary file, so readers never see half a file."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def write_run_config(directory, model_config, training_config, vocab):
    """Writes `config.json` and `vocab.json` for a run about to train in `directory`."""
    directory = pathlib.Path(directory)
    vocab.save(directory)
    write_json_atomic(directory / CONFIG_FILE, {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kerasrnn_version": __version__,
        "model": model_config, "training": training_config,
    })


def read_run_config(directory):
    """Reads and checks `config.json`; raises `InputError` if it is not ours or too new."""
    path = pathlib.Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise InputError(f"{directory} is not a kerasrnn char model directory (no {CONFIG_FILE}); "
                         "pass the --out directory of train_char_rnn.py")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise InputError(f"{path} is corrupt (not JSON); retrain or restore the file") from None
    if config.get("format") != FORMAT:
        raise InputError(f"{directory} holds a {config.get('format')!r} model, not a char model")
    if config.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{directory} was written by kerasrnn {config.get('kerasrnn_version')} in format "
            f"version {config.get('format_version')}; this kerasrnn {__version__} reads version "
            f"{FORMAT_VERSION}: retrain, or use the kerasrnn version that wrote it")
    return config


def save_trained_model(directory, model, metrics):
    """Writes `model.keras` (atomically) and `metrics.json` into a run directory."""
    directory = pathlib.Path(directory)
    tmp = directory / ("tmp-" + MODEL_FILE)
    model.save(tmp)
    os.replace(tmp, directory / MODEL_FILE)
    write_json_atomic(directory / METRICS_FILE, metrics)


def inference_model(model_config, weights_from=None, with_state=False):
    """Builds a stateless, any-batch, any-length copy of a char model.

    Args:
        model_config: `build_char_rnn` keyword arguments (the `model` part of `config.json`).
        weights_from: A built char model with the same layers to copy weights from.
        with_state: Build the step model that takes and returns states (sampling, serving).
    """
    model = build_char_rnn(**model_config, with_state=with_state)
    if weights_from is not None:
        model.set_weights(weights_from.get_weights())
    return model


def load_char_model(directory, with_state=False):
    """Loads a trained char model directory.

    Args:
        directory: What `train_char_rnn.py --out` wrote.
        with_state: Return the step model (`[ids, *states] -> [logits, *states]`) instead of
            the sequence model.

    Returns:
        `(model, vocab, config)`.

    Raises:
        InputError: Missing or incompatible files, each named in the message.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise InputError(f"model directory {directory} does not exist")
    config = read_run_config(directory)
    if not (directory / Vocabulary.FILENAME).is_file():
        raise InputError(f"{directory} is missing {Vocabulary.FILENAME}; the directory is incomplete")
    if not (directory / MODEL_FILE).is_file():
        raise InputError(f"{directory} has no {MODEL_FILE}: training has not finished; "
                         "finish it with train_char_rnn.py --out DIR --resume")
    vocab = Vocabulary.load(directory)
    try:
        model = keras.saving.load_model(directory / MODEL_FILE)
    except Exception as e:  # Keras raises many types for a damaged zip / config
        raise InputError(f"cannot load {directory / MODEL_FILE} ({type(e).__name__}); "
                         "the file is damaged or from an incompatible Keras") from None
    if model.output_shape[-1] != len(vocab):
        raise InputError(f"{directory}: model has {model.output_shape[-1]} outputs but "
                         f"{Vocabulary.FILENAME} has {len(vocab)} characters")
    if with_state:
        model = inference_model(config["model"], weights_from=model, with_state=True)
    return model, vocab, config
