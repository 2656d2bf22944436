"""Files written whole or not at all, JSON files read with their shape checked, and disk errors
as one line: what every floor that writes or reads a user's files shares.

A write goes to a temporary file that is renamed over the target (readers see the old file or
the whole new one; a failed write leaves nothing behind). A problem a user can fix (a damaged
file, a full disk, a read-only folder) raises `FileError`, an `InputError` whose message names
the file and what to do.
"""

import errno
import json
import os
import pathlib
import shutil

from kerasrnn.errors import InputError

RESTORE = "retrain or restore the file"
RESUME_HINT = "free disk space or make the folder writable, then continue the run with `resume`"
AGAIN_HINT = "free disk space or make the folder writable, then run the command again"


class FileError(InputError):
    """A damaged, incomplete or unwritable file or folder; the message names it."""


def damaged(path, what, fix=RESTORE):
    """The `FileError` for a damaged file: "PATH is damaged (WHAT); FIX"."""
    return FileError(f"{path} is damaged ({what}); {fix}")


def _write_problem(e):
    """What went wrong writing, in words (`e` an `OSError`)."""
    known = {errno.ENOSPC: "no space left on the disk", errno.EROFS: "read-only file system",
             errno.EACCES: "permission denied", errno.EPERM: "permission denied",
             errno.ENOTDIR: "a folder on the way is a file", errno.EDQUOT: "disk quota exceeded"}
    return known.get(e.errno) or e.strerror or type(e).__name__


def write_problem_error(path, e, hint=RESUME_HINT):
    """The `FileError` for an `OSError` `e` met writing `path`."""
    return FileError(f"cannot write {path} ({_write_problem(e)}); {hint}")


def _write_bytes(tmp, data):
    """Writes `data` to the new file `tmp` and flushes it to the disk (the lowest write)."""
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_bytes_atomic(path, data, hint=RESUME_HINT):
    """Writes `data` to `path` through a temporary file renamed over it: readers see the old
    file or the whole new one, and a failed write leaves no temporary file behind.

    Raises:
        FileError: The write failed (a full disk, a read-only folder), naming `path`.
    """
    path = pathlib.Path(path)
    tmp = path.with_name("tmp-" + path.name)
    try:
        _write_bytes(tmp, data)
        os.replace(tmp, path)
    except OSError as e:
        raise write_problem_error(path, e, hint) from None
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass


def write_text_atomic(path, text, hint=RESUME_HINT):
    """`write_bytes_atomic` for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"), hint)


def write_json_atomic(path, obj, hint=RESUME_HINT):
    """Writes `obj` as JSON to `path` through a temporary file, so readers never see half a file."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", hint)


def disk_error(e):
    """A `FileError` for an exception that is a failed write (full disk, read-only or
    unwritable folder), from Python or TensorFlow; None for any other exception."""
    if isinstance(e, FileError):
        return e
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES,
                                               errno.EPERM, errno.EDQUOT, errno.ENOTDIR):
        where = e.filename or "the output folder"
        return write_problem_error(where, e)
    if type(e).__module__.startswith("tensorflow"):
        text = str(e)
        for phrase, code in (("No space left on device", errno.ENOSPC),
                             ("Read-only file system", errno.EROFS),
                             ("Permission denied", errno.EACCES)):
            if phrase in text:
                return FileError(f"cannot write the TensorBoard logs "
                                   f"({_write_problem(OSError(code, phrase))}); {RESUME_HINT}")
    return None


def check_free_space(directory, needed, what, hint=RESUME_HINT):
    """Raises `FileError` if the disk holding `directory` has less than `needed` bytes free."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return
    if free < needed:
        raise FileError(f"no space left on the disk for {what} in {directory} ({free:,} bytes "
                          f"free, about {needed:,} needed); {hint}")


def read_json_file(path, fix=RESTORE):
    """Reads a JSON file (of a run directory, an exported version, ...).

    Raises:
        FileError: The file cannot be read or is not JSON (damaged), naming it.
    """
    path = pathlib.Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileError(f"{path} is missing; {fix}") from None
    except OSError as e:
        raise FileError(f"cannot read {path} ({e.strerror or type(e).__name__}); {fix}") from None
    if not raw.strip():
        raise damaged(path, "empty", fix)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise damaged(path, "not UTF-8 text", fix) from None
    except (ValueError, RecursionError):
        raise damaged(path, "not JSON", fix) from None


def type_name(value):
    return {type(None): "null", bool: "a boolean", int: "an integer", float: "a number",
            str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _types_words(types):
    words = {int: "an integer", float: "a number", str: "a string", bool: "a boolean",
             list: "a list", dict: "an object", type(None): "null"}
    if float in types:
        types = tuple(t for t in types if t is not int)
    return " or ".join(words[t] for t in types)


def value_has_type(value, types):
    """JSON's types: an integer is a number, a boolean is not an integer. (Ranges, NaN among
    them, are the settings' checks: a resume may replace some settings.)"""
    if object in types:
        return True
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def check_object(path, value, schema, required=(), section=None, fix=RESTORE, unknown_ok=False):
    """Checks that `value` (read from `path`) is an object with `schema`'s keys and types.

    Args:
        schema: `{key: tuple of Python types}` (`int`, `float`, `str`, `bool`, `list`,
            `type(None)`).
        required: Keys that must be there.
        section: The key `value` sits under in the file (for the message), e.g. "training".
    """
    where = f"{section} " if section else ""
    if not isinstance(value, dict):
        raise damaged(path, f"{where or 'the file '}is {type_name(value)}, not an object", fix)
    prefix = f"{section}." if section else ""
    for key in required:
        if key not in value:
            raise damaged(path, f"no {prefix}{key}", fix)
    for key, item in value.items():
        if key not in schema:
            if unknown_ok:
                continue
            raise damaged(path, f"unknown key {prefix}{key}", fix)
        if not value_has_type(item, schema[key]):
            raise damaged(path, f"{prefix}{key} is {type_name(item)}"
                                f"{' ' + repr(item) if isinstance(item, float) else ''}, "
                                f"not {_types_words(schema[key])}", fix)
        if isinstance(item, list) and any(isinstance(x, (list, dict)) for x in item):
            raise damaged(path, f"{prefix}{key} holds a list or object, not plain values", fix)
