"""Handwriting's two sources behind one interface: synthetic lines (the offline default) and
IAM-OnDB read from a folder.

`load_lines` gives a split of either as plain Python lists of texts and `(N, 3)` offsets (see
`strokes`), the lines `strokes.line_problem` rejects left out and counted. Both sources hold out
every 10th line (line i, from 0, when i % 10 == 9) from training: for the synthetic data these
are the held-out texts of `lines.txt`, for IAM-OnDB its lines in reading order (forms sorted
by path), so the held-out texts are lines the model never trained on.
"""

import dataclasses
import itertools

from kerasrnn.errors import InputError
from kerasrnn.kinds.handwriting.iam_ondb import iam_lines
from kerasrnn.kinds.handwriting.strokes import line_problem
from kerasrnn.kinds.handwriting.synthetic import HELD_OUT_EVERY, SPLITS, synthetic_lines

SOURCES = ("synthetic", "iam-ondb")
IAM_STYLE = "iam-ondb"


@dataclasses.dataclass
class HandwritingLines:
    """Lines of handwriting.

    Attributes:
        texts: The lines' texts.
        offsets: float32 `(N_i, 3)` arrays, (dx, dy, eos), not normalised.
        styles: Each line's style: the synthetic writer's font, or `"iam-ondb"`.
        dropped: How many lines `strokes.line_problem` left out.
    """

    texts: list
    offsets: list
    styles: list
    dropped: int = 0


def _iam_split(root, split):
    for i, (text, offsets) in enumerate(iam_lines(root)):
        if (i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1) == (split == "held_out"):
            yield text, offsets, IAM_STYLE


def load_lines(source="synthetic", split="train", count=None, seed=0, styles="all",
               data_dir=None):
    """A split of handwriting lines from one source.

    Args:
        source: `"synthetic"` or `"iam-ondb"`.
        split: `"train"` or `"held_out"`.
        count: How many lines to read before leaving any out: required for the synthetic
            source (it has no end), at most all of IAM-OnDB's split (None: all).
        seed: The synthetic lines' seed (`synthetic.synthetic_lines`).
        styles: The synthetic writers' fonts: `"all"`, `"print"`, `"cursive"` or a font.
        data_dir: The IAM-OnDB folder (holding `ascii/` and `lineStrokes/`).

    Returns:
        `HandwritingLines`.
    """
    if source not in SOURCES:
        raise InputError(f"source must be one of {', '.join(SOURCES)}, got {source!r}.")
    if split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}.")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise InputError(f"count must be a positive integer, got {count!r}.")
    if source == "synthetic":
        if count is None:
            raise InputError("count must be given for the synthetic source: it has no end.")
        if data_dir is not None:
            raise InputError("data_dir is for the iam-ondb source; the synthetic source reads "
                             "no files.")
        lines = synthetic_lines(count, seed=seed, split=split, styles=styles)
    else:
        if data_dir is None:
            raise InputError("data_dir must name the IAM-OnDB folder for the iam-ondb source.")
        if styles != "all":
            raise InputError(f"styles is for the synthetic source; got {styles!r} with iam-ondb.")
        lines = itertools.islice(_iam_split(data_dir, split), count)
    kept = HandwritingLines([], [], [])
    for text, offsets, style in lines:
        if line_problem(text, offsets) is not None:
            kept.dropped += 1
            continue
        kept.texts.append(text)
        kept.offsets.append(offsets)
        kept.styles.append(style)
    return kept
