"""Files written whole or not at all, files read with a size cap and JSON files with their shape
checked, and disk errors as one line: what every floor that writes or reads a user's files shares.

A write goes to a new temporary file beside the target, created exclusively under a random
name (`.tmp-NAME-XXXXXXXX`, so no planted file or link is ever opened), which is renamed over
the target: readers see the old file or the whole new one, a link at the target's name is
replaced, not followed, and a failed write leaves nothing behind. A read checks the file's size
before it reads, so a huge file is refused before it takes memory. A problem a user can fix (a
damaged or oversized file, a full disk, a read-only folder) raises `FileError`, an
`InputError` whose message names the file and what to do.
"""

import errno
import json
import os
import pathlib
import shutil
import tempfile
import time

from kerasrnn.errors import InputError

RESTORE = "retrain or restore the file"
RESUME_HINT = "free disk space or make the folder writable, then continue the run with `resume`"
AGAIN_HINT = "free disk space or make the folder writable, then run the command again"

MiB = 1024 * 1024
# The most bytes of a JSON file any reader takes (a run's settings, vocabulary, metrics and
# history, a model card, request limits): the largest real ones (a captioner's vocabulary of
# 100,000 words, the history of thousands of epochs) hold a few MB, and `json.loads` needs
# about ten times a file's size in memory, so a bigger file is damage or a trap.
JSON_MAX_BYTES = 16 * MiB
# `config.json` of a run: the builder's arguments and the training settings, a few kB.
CONFIG_MAX_BYTES = 1 * MiB
# Temporary files of `write_bytes_atomic` left by a process killed mid-write are removed by the
# next write into the same folder once they are this old (a live write renames its own within
# seconds; this leaves any write in progress alone).
STALE_TEMPORARY_SECONDS = 15 * 60


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


def _write_bytes(f, data):
    """Writes `data` to the new file object `f` and flushes it to the disk (the lowest write;
    `f.name` is the temporary file's path)."""
    f.write(data)
    f.flush()
    os.fsync(f.fileno())


def _temporary_prefix(path):
    return f".tmp-{path.name[:100]}-"  # room for the random part in a 255-byte name


def creation_mode(folder=False):
    """The permissions `open(path, "w")` gives a new file (`folder`: `os.mkdir` a new folder):
    0o666 (0o777) less the process's umask, read from /proc where there is one (setting the
    umask to read it is not thread-safe). `tempfile` makes its files 0o600 and folders 0o700;
    what it makes to keep is given these instead."""
    umask = None
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    if umask is None:
        umask = os.umask(0o022)
        os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


def remove_stale_temporaries(path, older_than=STALE_TEMPORARY_SECONDS):
    """Removes the temporary files of writes of `path` (`.tmp-NAME-*` beside it) that a killed
    process left behind, those not modified for `older_than` seconds. Regular files only: a
    link or folder of that name is left alone."""
    path = pathlib.Path(path)
    prefix, now = _temporary_prefix(path), time.time()
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if entry.is_file(follow_symlinks=False) and now - info.st_mtime > older_than:
                os.unlink(entry.path)
        except OSError:
            pass


def write_bytes_atomic(path, data, hint=RESUME_HINT):
    """Writes `data` to `path` through a temporary file renamed over it: readers see the old
    file or the whole new one, and a failed write leaves no temporary file behind.

    The temporary file, `.tmp-NAME-XXXXXXXX` beside `path`, is created exclusively under a
    random name (`tempfile.mkstemp`: nothing planted there, link or file, is opened) and given
    the permissions a plain `open(path, "w")` would (0o666 less the umask); `os.replace` then
    puts it in place, replacing a link at `path` rather than writing through it. Temporary
    files of `path` that a killed process left are removed here once they are
    `STALE_TEMPORARY_SECONDS` old (`remove_stale_temporaries`); no reader looks at them.

    Raises:
        FileError: The write failed (a full disk, a read-only folder), naming `path`.
    """
    path = pathlib.Path(path)
    remove_stale_temporaries(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path))
        with open(tmp, "wb", opener=lambda _name, _flags: fd) as f:
            os.fchmod(f.fileno(), creation_mode())
            _write_bytes(f, data)
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise write_problem_error(path, e, hint) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def write_text_atomic(path, text, hint=RESUME_HINT):
    """`write_bytes_atomic` for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"), hint)


def write_json_atomic(path, obj, hint=RESUME_HINT):
    """Writes `obj` as JSON to `path` through a temporary file, so readers never see half a file."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", hint)


def disk_error(e, where=None, hint=RESUME_HINT):
    """A `FileError` for an exception that is a failed write (full disk, read-only or
    unwritable folder), from Python or TensorFlow; None for any other exception.

    Args:
        where: What was being written, for the message where the exception does not name a
            file (TensorFlow's never do). Default: the TensorBoard logs, the one thing TensorFlow
            writes while a script trains; code that writes with TensorFlow itself (an export)
            names its own output.
        hint: What to do, after the problem.
    """
    if isinstance(e, FileError):
        return e
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES,
                                               errno.EPERM, errno.EDQUOT, errno.ENOTDIR):
        return write_problem_error(e.filename or where or "the output folder", e, hint)
    if type(e).__module__.startswith("tensorflow"):
        text = str(e)
        for phrase, code in (("No space left on device", errno.ENOSPC),
                             ("Read-only file system", errno.EROFS),
                             ("Permission denied", errno.EACCES)):
            if phrase in text:
                return write_problem_error(where or "the TensorBoard logs",
                                           OSError(code, phrase), hint)
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


def read_bytes_capped(path, max_bytes, fix=RESTORE):
    """The bytes of the file at `path`, refused when it holds more than `max_bytes`: its size is
    checked before reading, and at most `max_bytes + 1` bytes are read (a file that grows
    meanwhile, or a device that reports no size, is refused too).

    Raises:
        FileError: The file is missing, unreadable or larger than `max_bytes`, naming it.
    """
    path = pathlib.Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= max_bytes:
                raw = f.read(max_bytes + 1)
                size = max(size, len(raw))
    except FileNotFoundError:
        raise FileError(f"{path} is missing; {fix}") from None
    except OSError as e:
        raise FileError(f"cannot read {path} ({e.strerror or type(e).__name__}); {fix}") from None
    if size > max_bytes:
        raise damaged(path, f"{size:,} bytes or more, above the {max_bytes:,} such a file may "
                            "hold", fix)
    return raw


def parse_json_bytes(path, raw, fix=RESTORE):
    """`raw`, the bytes of the JSON file `path`, parsed.

    Raises:
        FileError: Empty, not UTF-8, not JSON or nested too deep for the parser, naming `path`.
    """
    if not raw.strip():
        raise damaged(path, "empty", fix)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise damaged(path, "not UTF-8 text", fix) from None
    except RecursionError:
        raise damaged(path, "nested too deeply", fix) from None
    except ValueError:
        raise damaged(path, "not JSON", fix) from None


def read_json_file(path, fix=RESTORE, max_bytes=JSON_MAX_BYTES):
    """Reads a JSON file (of a run directory, an exported version, ...), at most `max_bytes`
    long (`read_bytes_capped`).

    Raises:
        FileError: The file cannot be read, is too large or is not JSON (damaged), naming it.
    """
    path = pathlib.Path(path)
    return parse_json_bytes(path, read_bytes_capped(path, max_bytes, fix), fix)


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
