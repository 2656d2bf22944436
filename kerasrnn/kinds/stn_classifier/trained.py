"""Loading a trained STN run (`model.keras`; the kind adds no other file)."""

import pathlib

from kerasrnn import run_dir
from kerasrnn.data import mnist
from kerasrnn.files import damaged
from kerasrnn.kinds.stn_classifier.config import RUN_FORMAT


def load_stn_model(directory):
    """Loads a trained STN run directory. Returns `(model, config)`.

    Raises:
        InputError: Missing, unfinished or damaged files, each named in the message.
    """
    model, config = run_dir.load_trained_model(directory, RUN_FORMAT)
    if config["training"]["distortion"] not in mnist.DISTORTIONS:
        raise damaged(pathlib.Path(directory) / run_dir.CONFIG_FILE,
                      f"training.distortion {config['training']['distortion']!r} is none "
                      f"of {', '.join(mnist.DISTORTIONS)}")
    return model, config
