"""Loading a trained handwriting synthesis run: `model.keras`, and the kind's own file,
`stroke_scale.json` (`SCALE_FILE`), the normalisation fitted on the training lines, which
writing undoes."""

import pathlib

from kerasrnn import run_dir
from kerasrnn.errors import InputError
from kerasrnn.files import damaged, read_json_file, write_json_atomic
from kerasrnn.kinds.handwriting.config import RUN_FORMAT
from kerasrnn.kinds.handwriting.strokes import Alphabet, StrokeScale

SCALE_FILE = "stroke_scale.json"  # the run's StrokeScale.as_dict()


def write_scale(directory, scale):
    """Writes a run's `StrokeScale` to `directory/stroke_scale.json` (whole or not at all)."""
    write_json_atomic(pathlib.Path(directory) / SCALE_FILE, scale.as_dict())


def read_scale(directory):
    """A run's `StrokeScale` from `directory/stroke_scale.json`.

    Raises:
        FileError: The file is missing or damaged, named in the message.
    """
    path = pathlib.Path(directory) / SCALE_FILE
    if not path.is_file():
        raise damaged(directory, f"{SCALE_FILE} is missing")
    value = read_json_file(path)
    try:
        return StrokeScale.from_dict(value)
    except InputError as e:
        raise damaged(path, str(e).rstrip(".")) from None


def load_handwriting(directory):
    """Loads a finished handwriting synthesis run directory.

    Returns:
        `(model, config, scale, alphabet)`: the training model (`model.build_handwriting`),
        `config.json`, the run's `StrokeScale` and its `Alphabet`.

    Raises:
        InputError: Missing, unfinished or damaged files, each named in the message.
    """
    model, config = run_dir.load_trained_model(directory, RUN_FORMAT)
    scale = read_scale(directory)
    try:
        alphabet = Alphabet(config["model"]["alphabet"])
    except InputError as e:
        raise damaged(pathlib.Path(directory) / run_dir.CONFIG_FILE,
                      f"model.alphabet: {str(e).rstrip('.')}") from None
    return model, config, scale, alphabet
