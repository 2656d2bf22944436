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

import tensorflow as tf

from kerasrnn.errors import InputError
from kerasrnn.export.version_files import versions  # the rule, TensorFlow-free

WARMUP_FILE = "tf_serving_warmup_requests"
ONNX_DIR = "onnx"


def next_version(model_dir):
    """One above the highest version in `model_dir` (1 for a new model)."""
    return max(versions(model_dir), default=0) + 1


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
