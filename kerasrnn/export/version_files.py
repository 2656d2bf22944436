"""Reading an exported version's files without TensorFlow: the versions of a model, its model
card, ONNX Runtime sessions and JSON files, with damage reported as one `InputError` naming the
file.

Imports only onnxruntime (lazily), the standard library and `kerasrnn.files`.
"""

import pathlib
import re

from kerasrnn.errors import InputError
from kerasrnn.files import check_object, read_json_file

EXPORT_AGAIN = "export the model again"
EXTRA_DIR, CARD_FILE = "assets.extra", "model_card.json"
CARD_FORMAT, CARD_FORMAT_VERSION = "kerasrnn.model_card", 1
# The model card fields every kind has, checked on reading (a kind's module adds its own).
CARD_FIELDS = {"name": str, "version": int, "kind": str, "run_dir": str, "signatures": dict,
               "default_signature": str, "limits": dict, "onnx": dict}
# A model's name: its folder under the models folder and TF Serving's model name. Match it whole
# (`fullmatch`): a `$` would let a trailing newline through, which breaks a models.config.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def versions(model_dir):
    """The versions in `BASE/NAME` (its all-digit subfolders), ascending."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def session(path):
    """An ONNX Runtime CPU session for the `.onnx` file at `path`.

    Raises:
        InputError: The file is missing or not a model ONNX Runtime can load (truncated,
            damaged, another format); the message names it.
    """
    import onnxruntime

    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist; {EXPORT_AGAIN}")
    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's own exception types (InvalidProtobuf, Fail, ...)
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise InputError(f"{path} is not a model ONNX Runtime can load ({reason}); "
                         f"{EXPORT_AGAIN}") from None


def read_json(path, required=None):
    """A JSON object file of an exported version, with the keys `required` of their types.

    `kerasrnn.files.read_json_file` and `check_object` (other keys are allowed), with "export
    the model again" as the fix.

    Args:
        path: The file.
        required: `{key: type or tuple of types}` that must be there (a bool is no int).

    Raises:
        FileError: Missing, not JSON, not an object, or a key missing or of another type.
    """
    return require(read_json_file(path, EXPORT_AGAIN), required or {}, path)


def require(value, required, path):
    """`value` (an object read from `path`) if it has the keys `required` of their types.

    Raises:
        FileError: `value` is not an object, or a key is missing or of another type.
    """
    schema = {key: kind if isinstance(kind, tuple) else (kind,) for key, kind in required.items()}
    check_object(path, value, schema, required=tuple(schema), fix=EXPORT_AGAIN, unknown_ok=True)
    return value


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
    card = read_json(path)
    if card.get("format") != CARD_FORMAT or card.get("format_version") != CARD_FORMAT_VERSION:
        raise InputError(f"{path} is not a kerasrnn model card of format version {CARD_FORMAT_VERSION}")
    return require(card, CARD_FIELDS, path)
