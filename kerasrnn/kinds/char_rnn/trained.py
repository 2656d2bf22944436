"""Loading a trained char-model run: `model.keras` with its `vocab.json` (the characters).

`model.keras` holds the stateless sequence model (any batch and length); `load_char_model` can
also give the step model. Raises `InputError` (a `FileError` for damaged files) naming the file
and what to do.
"""

import pathlib

from kerasrnn import run_dir
from kerasrnn.errors import InputError
from kerasrnn.files import FileError
from kerasrnn.kinds.char_rnn.config import KIND, RUN_FORMAT
from kerasrnn.kinds.char_rnn.model import inference_model
from kerasrnn.kinds.char_rnn.text import Vocabulary
from kerasrnn.run_dir import TrainedRun


def write_char_run_config(directory, model_config, training_config, vocab):
    """Writes `config.json` and `vocab.json` for a char run about to train in `directory`
    (neither is left behind if the second cannot be written)."""
    path = vocab.save(directory)
    try:
        run_dir.write_run_config(directory, KIND, model_config, training_config)
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
    model, config = run_dir.load_trained_model(directory, RUN_FORMAT)
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
