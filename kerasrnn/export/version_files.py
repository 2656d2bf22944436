"""Reading an exported version's files without TensorFlow: ONNX Runtime sessions and JSON files,
with damage reported as one `InputError` naming the file.

Imports only onnxruntime (lazily), the standard library and `kerasrnn.files`.
"""

import pathlib
import re

from kerasrnn.errors import InputError
from kerasrnn.files import check_object, read_json_file

EXPORT_AGAIN = "export the model again"
# A model's name: its folder under the models folder and TF Serving's model name. Match it whole
# (`fullmatch`): a `$` would let a trailing newline through, which breaks a models.config.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


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
