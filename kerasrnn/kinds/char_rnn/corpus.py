"""The embedded default corpus: this Python's own standard library sources.

The lecture's RNN learned to write C from the Linux kernel; ours learns to write Python from
the `.py` files every Python install carries, so the demo needs no network and no data folder.
"""

import pathlib
import sysconfig

# Folders of the standard library that are tests, vendored code or generated tables.
_SKIPPED_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__",
                 "encodings", "unittest", "lib2to3", "idlelib", "turtledemo", "pydoc_data"}

DEFAULT_MAX_BYTES = 3_000_000


def stdlib_source_files(stdlib_dir=None):
    """Lists the standard library's `.py` files in a fixed (sorted) order.

    Args:
        stdlib_dir: Folder to read; default is this interpreter's standard library.

    Returns:
        List of `pathlib.Path`, sorted by path relative to `stdlib_dir`.
    """
    root = pathlib.Path(stdlib_dir or sysconfig.get_paths()["stdlib"])
    files = [
        p for p in root.rglob("*.py")
        if not _SKIPPED_DIRS.intersection(p.relative_to(root).parts[:-1])
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def python_stdlib_corpus(max_bytes=DEFAULT_MAX_BYTES, stdlib_dir=None):
    """Concatenates ASCII-only standard-library sources, in sorted order, up to `max_bytes`.

    Files with any non-ASCII byte are skipped so the vocabulary stays near 100 characters.
    The result is deterministic for a given Python installation.

    Args:
        max_bytes: Stop adding whole files once the text reaches this many characters.
        stdlib_dir: Folder to read; default is this interpreter's standard library.

    Returns:
        The corpus as one `str`, files separated by a blank line.
    """
    parts, total = [], 0
    for path in stdlib_source_files(stdlib_dir):
        raw = path.read_bytes()
        if not raw.isascii() or b"\x00" in raw:
            continue
        text = raw.decode("ascii").replace("\r\n", "\n").replace("\t", "    ")
        parts.append(text.rstrip("\n") + "\n\n")
        total += len(parts[-1])
        if total >= max_bytes:
            break
    return "".join(parts)
