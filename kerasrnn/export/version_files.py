"""Reading an exported version's files without TensorFlow: its model card, ONNX Runtime sessions
and JSON files, with damage reported as one `InputError` naming the file.

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
# A model's name: its folder under the models folder and TF Serving's model name, at most
# `MODEL_NAME_MAX` characters (a file name may have 255 bytes; a name is also part of URLs, paths
# and log lines). Match it whole (`fullmatch`): a `$` would let a trailing newline through,
# which breaks a models.config. `model_name_problem` says what is wrong with one.
MODEL_NAME_MAX = 100
MODEL_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MODEL_NAME_MAX - 1}}}")
MODEL_NAME_RULE = (f"use at most {MODEL_NAME_MAX} letters, digits, '_', '-' and '.', starting with a "
                   "letter or digit")


def model_name_problem(name):
    """None if `name` can be a model's name (`MODEL_NAME`), else what is wrong, in words."""
    if not isinstance(name, str):
        return f"{name!r} is not a string"
    if len(name) > MODEL_NAME_MAX:
        return f"{len(name)} characters ({name[:20]!r}...), above {MODEL_NAME_MAX}"
    if not MODEL_NAME.fullmatch(name):
        return f"{name!r} has characters a model name cannot have"
    return None


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
