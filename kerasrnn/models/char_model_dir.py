"""The trained char model's directory: a run directory (`kerasrnn.run_dir`) plus `vocab.json`.

`model.keras` holds the stateless sequence model (any batch and length); `load_char_model`
can also give the step model that sampling and serving run.
"""

import pathlib

from kerasrnn import run_dir
from kerasrnn.data.text import Vocabulary
from kerasrnn.errors import InputError
from kerasrnn.models.char_rnn import build_char_rnn

KIND = "char_rnn"


def write_run_config(directory, model_config, training_config, vocab):
    """Writes `config.json` and `vocab.json` for a char run about to train in `directory`."""
    vocab.save(directory)
    run_dir.write_run_config(directory, KIND, model_config, training_config)


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
    if directory.is_dir() and not (directory / Vocabulary.FILENAME).is_file():
        raise InputError(f"{directory} is missing {Vocabulary.FILENAME}; the directory is incomplete")
    model, config = run_dir.load_trained_model(directory, KIND, "train_char_rnn.py --out DIR --resume")
    vocab = Vocabulary.load(directory)
    if model.output_shape[-1] != len(vocab):
        raise InputError(f"{directory}: model has {model.output_shape[-1]} outputs but "
                         f"{Vocabulary.FILENAME} has {len(vocab)} characters")
    if with_state:
        model = inference_model(config["model"], weights_from=model, with_state=True)
    return model, vocab, config
