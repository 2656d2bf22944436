"""A vocabulary's `vocab.json`: one JSON object holding a list of distinct entries (a char
model's characters, a captioner's words), written whole or not at all and read with its size
capped and its shape checked. What the vocabularies share; each says what an entry may be."""

import json

from kerasrnn.files import AGAIN_HINT, damaged, read_json_file, type_name, write_text_atomic


def write_vocab_file(path, fields):
    """Writes the object `fields` (e.g. `{"chars": [...]}`) as compact JSON to `path`, whole or
    not at all; returns `path`.

    Raises:
        FileError: The write failed (a full disk, a read-only folder), naming `path`.
    """
    write_text_atomic(path, json.dumps(fields), AGAIN_HINT)
    return path


def read_vocab_list(path, key, noun, entry_problem, fixed=None, empty_ok=True):
    """Reads the list under `key` of the JSON object in `path`, checked.

    Args:
        path: The `vocab.json` file.
        key: The list's key, e.g. `"chars"`.
        noun: What an entry is, for the duplicate message: "duplicate NOUN 'x'".
        entry_problem: `entry -> str | None`: what is wrong with one entry, in words (the
            damage message), or None when it is fine; checked before duplicates.
        fixed: `{key: value}` the file must hold exactly (e.g. the special tokens).
        empty_ok: Whether the list may be empty.

    Returns:
        The list, as stored.

    Raises:
        FileError: The file is missing, too large, not JSON, not an object, has another value
            under a `fixed` key, no list under `key`, an entry `entry_problem` refuses, or an
            entry twice; "PATH is damaged (WHAT); retrain or restore the file".
    """
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise damaged(path, f"the file is {type_name(data)}, not an object")
    for name, value in (fixed or {}).items():
        if data.get(name) != value:
            raise damaged(path, f"{name} is {data.get(name)!r}, not {value!r}")
    entries = data.get(key)
    if not isinstance(entries, list):
        raise damaged(path, f"no {key} list" if entries is None else
                      f"{key} is {type_name(entries)}, not a list")
    if not entries and not empty_ok:
        raise damaged(path, f"{key} is empty")
    seen = set()
    for entry in entries:
        problem = entry_problem(entry)
        if problem is not None:
            raise damaged(path, problem)
        if entry in seen:
            raise damaged(path, f"duplicate {noun} {entry!r}")
        seen.add(entry)
    return entries
