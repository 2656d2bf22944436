"""IAM-OnDB, the real handwriting (Liwicki and Bunke 2005), read from its own files for users
who have it (it is handed out on registration).

The folder holds `ascii/` and `lineStrokes/` as unpacked from `ascii-all.tar.gz` and
`lineStrokes-all.tar.gz`:

- `ascii/a01/a01-000/a01-000u.txt`: a form's transcription; the lines after its `CSR:` line are
  the form's text lines, in order (blank lines skipped, a run of 11 `%` read as a line break;
  ISO-8859-1).
- `lineStrokes/a01/a01-000/a01-000u-01.xml`, `-02.xml`, ...: the form's lines in number order,
  each a `<StrokeSet>` of `<Stroke>`s of `<Point x= y= time=/>` in tablet units, y downwards.

A form whose `lineStrokes` folder has no file of its name is skipped (the database has
transcriptions of forms without on-line strokes), and so is `z01-000z` (`SKIPPED_FORMS`);
a form with more or fewer line files than CSR lines, an unreadable file or a file not in this
format is an `InputError` naming the file. Each
line's points are kept as recorded (no smoothing or deslanting), y turned upwards, moved so
that the first point is the origin, and converted with `strokes.to_offsets`.
"""

import pathlib
import re
import xml.etree.ElementTree as ElementTree

import numpy as np

from kerasrnn.errors import InputError
from kerasrnn.files import read_bytes_capped
from kerasrnn.kinds.handwriting.strokes import to_offsets

MAX_FILE_BYTES = 4 * 1024 * 1024  # the largest lineStrokes file is a few hundred KB
# Forms every known reader skips: z01-000z's transcription does not match its line files.
SKIPPED_FORMS = frozenset({"z01-000z"})
FIX = "check the IAM-OnDB folder (ascii/ and lineStrokes/ as unpacked from the database)"


def _problem(path, what):
    return InputError(f"{path}: {what}; {FIX}.")


def read_transcription(path):
    """The text lines of a form's `ascii` file: the non-blank lines after `CSR:`.

    Returns:
        A list of strings, stripped.
    """
    text = read_bytes_capped(path, MAX_FILE_BYTES, fix=FIX).decode("iso-8859-1")
    lines = [line.strip() for line in text.replace("%" * 11, "\n").splitlines()]
    if "CSR:" not in lines:
        raise _problem(path, "has no CSR: line, so it is not an IAM-OnDB transcription")
    csr = [line for line in lines[lines.index("CSR:") + 1:] if line]
    if not csr:
        raise _problem(path, "lists no text lines after CSR:")
    return csr


def read_line_strokes(path):
    """A `lineStrokes` file's strokes, y upwards, the first point at the origin.

    Returns:
        A list of float64 `(n_i, 2)` arrays, one per stroke with points.
    """
    raw = read_bytes_capped(path, MAX_FILE_BYTES, fix=FIX)
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as e:
        raise _problem(path, f"is not well-formed XML ({e})") from None
    stroke_set = next(root.iter("StrokeSet"), None)
    if stroke_set is None:
        raise _problem(path, "has no <StrokeSet>, so it is not an IAM-OnDB lineStrokes file")
    strokes = []
    for stroke in stroke_set.iter("Stroke"):
        try:
            points = [(float(p.attrib["x"]), -float(p.attrib["y"])) for p in stroke.iter("Point")]
        except (KeyError, ValueError):
            raise _problem(path, "has a <Point> without numbers x and y") from None
        if points:
            strokes.append(np.array(points))
    if not strokes:
        raise _problem(path, "has no <Point> in its <StrokeSet>")
    if not all(np.all(np.isfinite(s)) for s in strokes):
        raise _problem(path, "has a <Point> whose x or y is not finite")
    origin = strokes[0][0].copy()
    return [s - origin for s in strokes]


def _line_files(ascii_file, stroke_dir, count):
    """The form's line files `<form>-NN.xml` in number order, None when it has none; there must
    be one per transcribed line."""
    form = ascii_file.stem
    pattern = re.compile(re.escape(form) + r"-(\d+)\.xml")
    numbered = sorted((int(match.group(1)), path) for path in stroke_dir.glob(f"{form}-*.xml")
                      if (match := pattern.fullmatch(path.name))) if stroke_dir.is_dir() else []
    if not numbered:
        return None
    if len(numbered) != count:
        raise _problem(ascii_file, f"lists {count} lines after CSR: but {stroke_dir} holds "
                       f"{len(numbered)} line files {form}-NN.xml")
    return [path for _, path in numbered]


def iam_lines(root):
    """The lines of an IAM-OnDB folder, forms in sorted path order, lines in form order.

    Args:
        root: The folder holding `ascii/` and `lineStrokes/`.

    Yields:
        `(text, offsets)`: the line's transcription and float32 `(N, 3)` offsets.
    """
    root = pathlib.Path(root)
    for sub in ("ascii", "lineStrokes"):
        if not (root / sub).is_dir():
            raise InputError(f"{root} has no {sub}/ folder, so it is not an IAM-OnDB folder; "
                             f"{FIX}.")
    ascii_files = sorted((root / "ascii").rglob("*.txt"),
                         key=lambda p: p.relative_to(root).as_posix())
    if not ascii_files:
        raise InputError(f"{root / 'ascii'} holds no transcription (.txt); {FIX}.")
    for ascii_file in ascii_files:
        if ascii_file.stem in SKIPPED_FORMS:
            continue
        relative = ascii_file.parent.relative_to(root / "ascii")
        texts = read_transcription(ascii_file)
        files = _line_files(ascii_file, root / "lineStrokes" / relative, len(texts))
        for text, line_file in zip(texts, files or ()):
            yield text, to_offsets(read_line_strokes(line_file))
