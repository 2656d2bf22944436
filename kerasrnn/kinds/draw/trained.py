"""Loading a trained DRAW run (`model.keras`; the kind adds no other file)."""

from kerasrnn import run_dir
from kerasrnn.kinds.draw.config import RUN_FORMAT


def load_draw(directory):
    """Loads a finished DRAW run directory. Returns `(model, config)`: the training model
    (`model.build_draw`) and `config.json`; `model.generator_from(model, **config["model"])`
    gives the generation model.

    Raises:
        InputError: Missing, unfinished or damaged files, each named in the message.
    """
    return run_dir.load_trained_model(directory, RUN_FORMAT)
