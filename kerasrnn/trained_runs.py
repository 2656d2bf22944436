"""Trained runs of every model kind: their kind names, what each kind adds to a run directory
(`kerasrnn.run_dir`), and the one loader per kind that scripts, export and benchmarks use.

    char_rnn        `vocab.json` (the characters); `model.keras` holds the stateless sequence
                    model (any batch and length), `load_char_model` can also give the step model
    stn_classifier  nothing more
    captioner       `vocab.json` (the caption vocabulary)

Every loader raises `InputError` (a `FileError` for damaged files) naming the file and what to do.
"""

import pathlib
import typing

import keras

from kerasrnn import run_dir
from kerasrnn.data import mnist
from kerasrnn.data.caption_vocab import CaptionVocabulary
from kerasrnn.data.text import Vocabulary
from kerasrnn.errors import InputError
from kerasrnn.files import FileError, damaged
from kerasrnn.models.char_rnn import inference_model
from kerasrnn.training_configs import CaptionerConfig

CHAR_RNN, STN_CLASSIFIER, CAPTIONER = "char_rnn", "stn_classifier", "captioner"


class TrainedRun(typing.NamedTuple):
    """A loaded run with a vocabulary (char model, captioner): unpacks as `model, vocab, config`."""

    model: keras.Model
    vocab: object  # `Vocabulary` or `CaptionVocabulary`
    config: dict  # `config.json`: `model` (the builder's arguments), `training` (the settings)


def write_char_run_config(directory, model_config, training_config, vocab):
    """Writes `config.json` and `vocab.json` for a char run about to train in `directory`
    (neither is left behind if the second cannot be written)."""
    path = vocab.save(directory)
    try:
        run_dir.write_run_config(directory, CHAR_RNN, model_config, training_config)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def load_char_model(directory, with_state=False):
    """Loads a trained char model directory.

    Args:
        directory: What `train_char_rnn.py --out` wrote.
        with_state: Return the step model (`[ids, *states] -> [logits, *states]`) instead of
            the sequence model.

    Returns:
        A `TrainedRun` (`model, vocab, config`).

    Raises:
        InputError: Missing or incompatible files, each named in the message.
    """
    directory = pathlib.Path(directory)
    if directory.is_dir() and not (directory / Vocabulary.FILENAME).is_file():
        raise InputError(f"{directory} is missing {Vocabulary.FILENAME}; the directory is incomplete")
    model, config = run_dir.load_trained_model(directory, CHAR_RNN)
    vocab = Vocabulary.load(directory)
    outputs = model.output_shape[-1] if isinstance(model.output_shape, tuple) else None
    if outputs != len(vocab):
        raise FileError(f"{directory}: {run_dir.MODEL_FILE} has {outputs} outputs but "
                                  f"{Vocabulary.FILENAME} has {len(vocab)} characters; one of "
                                  "them is damaged: retrain or restore the files")
    if config["model"]["vocab_size"] != len(vocab):
        raise FileError(
            f"{directory / run_dir.CONFIG_FILE} says the vocabulary has "
            f"{config['model']['vocab_size']} characters but {Vocabulary.FILENAME} has "
            f"{len(vocab)}; one of them is damaged: retrain or restore the files")
    if with_state:
        try:
            model = inference_model(config["model"], weights_from=model, with_state=True)
        except Exception as e:  # the settings cannot build the model, or its weights differ
            raise FileError(
                f"{directory / run_dir.CONFIG_FILE}: its model settings do not match "
                f"{run_dir.MODEL_FILE} ({type(e).__name__}); one of them is damaged: retrain or "
                "restore the files") from None
    return TrainedRun(model, vocab, config)


def load_stn_model(directory):
    """Loads a trained STN run directory. Returns `(model, config)`.

    Raises:
        InputError: Missing, unfinished or damaged files, each named in the message.
    """
    model, config = run_dir.load_trained_model(directory, STN_CLASSIFIER)
    if config["training"]["distortion"] not in mnist.DISTORTIONS:
        raise damaged(pathlib.Path(directory) / run_dir.CONFIG_FILE,
                      f"training.distortion {config['training']['distortion']!r} is none "
                      f"of {', '.join(mnist.DISTORTIONS)}")
    return model, config


def load_captioner(directory):
    """Loads a finished captioning run: a `TrainedRun` (`model, vocab, config`).

    Raises:
        InputError: Missing, unfinished or damaged files, each named in the message.
    """
    model, config = run_dir.load_trained_model(directory, CAPTIONER)
    vocab = CaptionVocabulary.load(directory)
    directory = pathlib.Path(directory)
    config_path = directory / run_dir.CONFIG_FILE
    if config["model"]["vocab_size"] != len(vocab):
        raise FileError(
            f"{config_path} says the vocabulary has {config['model']['vocab_size']} entries but "
            f"{CaptionVocabulary.FILENAME} has {len(vocab)}; one of them is damaged: retrain or "
            "restore the files")
    shapes = model.output_shape if isinstance(model.output_shape, list) else [model.output_shape]
    if not shapes or not isinstance(shapes[0], tuple) or shapes[0][-1] != len(vocab):
        raise FileError(
            f"{directory / run_dir.MODEL_FILE} does not predict the {len(vocab)} words of "
            f"{CaptionVocabulary.FILENAME}; one of them is damaged: retrain or restore the files")
    training = config["training"]
    try:
        CaptionerConfig(**training).validate(len(vocab), allow_large=True)
    except InputError as e:
        raise damaged(config_path, f"training: {e}") from None
    except Exception as e:  # noqa: BLE001 - a value no check foresaw
        raise damaged(config_path, f"training: {type(e).__name__}") from None
    return TrainedRun(model, vocab, config)
