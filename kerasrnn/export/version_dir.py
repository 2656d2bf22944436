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
one; in a version it loads the SavedModel (`saved_model.pb`, `variables/`, `assets/`) and reads
`assets.extra/` for warm-up, and ignores anything else, so the `onnx/` folder travels with the
version without disturbing the server.

`kerasrnn.export.write_version` writes versions; `kerasrnn.export.verification` checks one
against the Keras model it came from.
"""

import pathlib

import tensorflow as tf

from kerasrnn.errors import InputError
from kerasrnn.export import version_files

EXTRA_DIR, CARD_FILE, WARMUP_FILE = "assets.extra", "model_card.json", "tf_serving_warmup_requests"
ONNX_DIR = "onnx"
CARD_FORMAT, CARD_FORMAT_VERSION = "kerasrnn.model_card", 1
# The model card fields every kind has, checked on reading (a kind's module adds its own).
CARD_FIELDS = {"name": str, "version": int, "kind": str, "run_dir": str, "signatures": dict,
               "default_signature": str, "limits": dict, "onnx": dict}


def versions(model_dir):
    """The versions in `BASE/NAME` (its all-digit subfolders), ascending."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir):
    """One above the highest version in `model_dir` (1 for a new model)."""
    return max(versions(model_dir), default=0) + 1


def read_model_card(version_dir):
    """Reads `assets.extra/model_card.json` of an exported version (the fields every kind has
    are checked; `verification.verify_version` checks the kind's own).

    Raises:
        InputError: The folder is not a kerasrnn export version, or its card is damaged.
    """
    version_dir = pathlib.Path(version_dir)
    path = version_dir / EXTRA_DIR / CARD_FILE
    if not version_dir.is_dir():
        raise InputError(f"{version_dir} does not exist; give BASE/NAME/VERSION of an export")
    if not path.is_file() or not (version_dir / "saved_model.pb").is_file():
        raise InputError(f"{version_dir} is not an exported kerasrnn model version (no "
                         f"saved_model.pb or {EXTRA_DIR}/{CARD_FILE}); give BASE/NAME/VERSION")
    card = version_files.read_json(path)
    if card.get("format") != CARD_FORMAT or card.get("format_version") != CARD_FORMAT_VERSION:
        raise InputError(f"{path} is not a kerasrnn model card of format version {CARD_FORMAT_VERSION}")
    return version_files.require(card, CARD_FIELDS, path)


def load_saved_model(version_dir):
    """`tf.saved_model.load` of an exported version, damage reported as one `InputError`.

    Raises:
        InputError: `saved_model.pb` or `variables/` is missing, truncated or damaged.
    """
    try:
        return tf.saved_model.load(str(version_dir))
    except Exception as e:  # damage surfaces as OpError, DecodeError, IndexError, ValueError, ...
        reason = str(getattr(e, "message", e)).strip().splitlines()
        reason = (reason[0] if reason else type(e).__name__)[:160]
        raise InputError(f"the SavedModel in {version_dir} cannot be loaded ({reason}); "
                         "export the model again") from None
