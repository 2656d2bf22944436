"""Reading an exported version's files without TensorFlow: ONNX Runtime sessions and JSON files,
with damage reported as one `InputError` naming the file.

Imports only onnxruntime (lazily) and the standard library.
"""

import json
import pathlib

from kerasrnn.errors import InputError


def session(path):
    """An ONNX Runtime CPU session for the `.onnx` file at `path`.

    Raises:
        InputError: The file is missing or not a model ONNX Runtime can load (truncated,
            damaged, another format); the message names it.
    """
    import onnxruntime

    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist; export the model again")
    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's own exception types (InvalidProtobuf, Fail, ...)
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise InputError(f"{path} is not a model ONNX Runtime can load ({reason}); "
                         "export the model again") from None


def read_json(path, required):
    """A JSON object file with the keys `required` (`{key: type or tuple of types}`).

    Raises:
        InputError: Missing, not JSON, not an object, or a key missing or of another type.
    """
    path = pathlib.Path(path)
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path} does not exist; export the model again") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path} is damaged ({type(e).__name__}); export the model again") from None
    if not isinstance(value, dict):
        raise InputError(f"{path} is damaged (not a JSON object); export the model again")
    return require(value, required, path)


def require(value, required, path):
    """`value` (a dict read from `path`) if it has the keys `required` with their types.

    Raises:
        InputError: A key is missing or of another type (a bool is not an int); names `path`.
    """
    for key, kind in required.items():
        got = value.get(key)
        if not isinstance(got, kind) or (isinstance(got, bool) and kind is not bool):
            names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise InputError(f"{path} is damaged ({key!r} is missing or not a {names}); "
                             "export the model again")
    return value
