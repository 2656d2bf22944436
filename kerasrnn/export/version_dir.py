"""An exported version, `BASE/NAME/<version>/`: what it holds, and reading it back.

What one version holds:

    BASE/NAME/3/
      saved_model.pb, variables/, fingerprint.pb   the SavedModel (signatures per model kind)
      assets.extra/model_card.json                 what was exported, from what, when (below)
      assets.extra/tf_serving_warmup_requests      one request per signature (TFRecord of
                                                   PredictionLog), if tensorflow-serving-api
                                                   is installed
      onnx/                                        the ONNX files (and what a driver needs)

TF Serving treats every all-digit subfolder of `BASE/NAME` as a version and serves the highest
one (a version's name is ASCII digits only, `is_version_name`: `str.isdigit` would take `²` or
`١٢`, which TF Serving does not); in a version it loads the SavedModel (`saved_model.pb`, `variables/`, `assets/`) and reads
`assets.extra/` for warm-up, and ignores anything else, so the `onnx/` folder travels with the
version without disturbing the server.

`kerasrnn.export.write_version` writes versions; `kerasrnn.export.verification` checks one
against the Keras model it came from. Only `load_saved_model` needs TensorFlow (imported there),
so the TensorFlow-free scripts use the layout rules too.
"""

import pathlib
import re

from kerasrnn.errors import InputError

WARMUP_FILE = "tf_serving_warmup_requests"
ONNX_DIR = "onnx"
_VERSION_NAME = re.compile(r"[0-9]+")


def is_version_name(name):
    """Whether a folder named `name` is a version: ASCII digits only (`fullmatch`, so no trailing
    newline either)."""
    return isinstance(name, str) and _VERSION_NAME.fullmatch(name) is not None


def parse_version(text):
    """The version number `text` names (ASCII digits, >= 1).

    Raises:
        InputError: `text` is not such a number.
    """
    if not is_version_name(text) or int(text) < 1:
        raise InputError(f"version must be an integer >= 1 written in the digits 0-9, got {text!r}")
    return int(text)


def versions(model_dir):
    """The versions in `BASE/NAME` (its subfolders named by `is_version_name`), ascending."""
    return sorted(int(p.name) for p in version_dirs(model_dir))


def version_dirs(model_dir):
    """The version folders of `BASE/NAME`: its subfolders named by ASCII digits."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return [p for p in model_dir.iterdir() if is_version_name(p.name) and p.is_dir()]


def next_version(model_dir):
    """One above the highest version in `model_dir` (1 for a new model)."""
    return max(versions(model_dir), default=0) + 1


def load_saved_model(version_dir):
    """`tf.saved_model.load` of an exported version, damage reported as one `InputError`.

    Raises:
        InputError: `saved_model.pb` or `variables/` is missing, truncated or damaged.
    """
    import tensorflow as tf

    try:
        return tf.saved_model.load(str(version_dir))
    except Exception as e:  # damage surfaces as OpError, DecodeError, IndexError, ValueError, ...
        reason = str(getattr(e, "message", e)).strip().splitlines()
        reason = (reason[0] if reason else type(e).__name__)[:160]
        raise InputError(f"the SavedModel in {version_dir} cannot be loaded ({reason}); "
                         "export the model again") from None
