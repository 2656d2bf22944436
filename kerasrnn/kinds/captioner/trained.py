"""Loading a trained captioning run: `model.keras` with its `vocab.json` (the caption
vocabulary), its settings checked."""

import pathlib

from kerasrnn import run_dir
from kerasrnn.errors import InputError
from kerasrnn.files import FileError, damaged
from kerasrnn.kinds.captioner.config import RUN_FORMAT, CaptionerConfig
from kerasrnn.kinds.captioner.vocab import CaptionVocabulary
from kerasrnn.run_dir import TrainedRun


def load_captioner(directory):
    """Loads a finished captioning run: a `TrainedRun` (`model, vocab, config`).

    Raises:
        InputError: Missing, unfinished or damaged files, each named in the message.
    """
    model, config = run_dir.load_trained_model(directory, RUN_FORMAT)
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
