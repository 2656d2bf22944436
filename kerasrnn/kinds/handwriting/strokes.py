"""Pen strokes as the synthesis network reads and writes them, and the text's character ids.

**A line of handwriting** is one float32 array `(N, 3)`, a row per pen point: `(dx, dy, eos)`,
the pen's move from the previous point (the first row's from the origin) and `eos` = 1 on the
last point of each stroke (the pen lifts after it, so the next row is a move with the pen up).
x runs to the right and y upwards. Both sources start a line at its first pen point, so its
first row is `(0, 0, eos)`. `to_offsets` and `to_strokes` convert from and to absolute points
grouped in strokes.

**Normalisation** (Graves 2013, section 4): offsets are divided by a scale, the standard
deviation of the training lines' dx and of their dy (`StrokeScale.from_lines`), stored with a model so
that writing can undo it (`StrokeScale.denormalise`; `as_dict`/`from_dict` for its JSON).

**Lines left out** (the rule of sjvasquez/handwriting-synthesis, with dropping for truncating):
a line is dropped when it has more than `MAX_POINTS` (1,200) points or its text more than
`MAX_CHARACTERS` (75) characters, or when one of its moves is longer than `MAX_STEP_RATIO` (60)
times the line's median move (a pen glitch of the tablet), `line_problem` says why.

**The alphabet**: the characters a model knows. Id 0 is *unknown*: every character outside the
alphabet maps to it (the model sees one shared symbol there, as sjvasquez's does); the
alphabet's characters are ids 1..V-1, V = `size` (the default: space, `!"#&'(),-.:;?`, digits and
letters, 76 characters, V = 77). Padding past a text's end is not an id of the alphabet: the
network's input takes -1 there (`kerasrnn.layers.handwriting_cell.PADDING_ID`).
"""

import dataclasses
import math

import numpy as np

from kerasrnn.errors import InputError

MAX_POINTS = 1200
MAX_CHARACTERS = 75
MAX_STEP_RATIO = 60.0

UNKNOWN_ID = 0
DEFAULT_CHARACTERS = (" !\"#&'(),-.:;?" + "0123456789"
                      + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "abcdefghijklmnopqrstuvwxyz")


def to_offsets(strokes):
    """Absolute pen points grouped in strokes -> one line of offsets.

    Args:
        strokes: A sequence of strokes, each `(n_i, 2)` absolute (x, y) points, n_i >= 1.

    Returns:
        float32 `(sum n_i, 3)`: (dx, dy, eos), the first move from the origin (0, 0), eos 1 on
        each stroke's last point.
    """
    if len(strokes) == 0:
        raise InputError("strokes must hold at least one stroke, got none.")
    arrays = []
    for i, stroke in enumerate(strokes):
        points = np.asarray(stroke, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
            raise InputError(f"stroke {i} must be an (n, 2) array of points with n >= 1, got "
                             f"shape {points.shape}.")
        arrays.append(points)
    points = np.concatenate(arrays)
    if not np.all(np.isfinite(points)):
        raise InputError("strokes must hold finite coordinates only.")
    eos = np.zeros(len(points))
    eos[np.cumsum([len(a) for a in arrays]) - 1] = 1.0
    moves = np.diff(points, axis=0, prepend=np.zeros((1, 2)))
    return np.concatenate([moves, eos[:, None]], axis=1).astype(np.float32)


def check_offsets(offsets, name="offsets"):
    """`offsets` as a float array `(N, 3)`, N >= 1, finite, eos 0 or 1; else `InputError`."""
    offsets = np.asarray(offsets)
    if offsets.ndim != 2 or offsets.shape[1] != 3 or len(offsets) == 0:
        raise InputError(f"{name} must be an (N, 3) array of (dx, dy, eos) rows with N >= 1, "
                         f"got shape {offsets.shape}.")
    if not np.all(np.isfinite(offsets)):
        raise InputError(f"{name} must be finite.")
    if not np.all((offsets[:, 2] == 0) | (offsets[:, 2] == 1)):
        raise InputError(f"{name}'s end-of-stroke column must be 0 or 1.")
    return offsets


def to_strokes(offsets):
    """One line of offsets -> absolute pen points grouped in strokes (`to_offsets`'s inverse).

    Args:
        offsets: `(N, 3)` (dx, dy, eos). Points after the last eos (a line cut short) form a
            last stroke.

    Returns:
        A list of float64 `(n_i, 2)` arrays.
    """
    offsets = check_offsets(offsets)
    points = np.cumsum(offsets[:, :2].astype(np.float64), axis=0)
    ends = np.flatnonzero(offsets[:, 2] == 1) + 1
    return [s for s in np.split(points, ends) if len(s)]


@dataclasses.dataclass(frozen=True)
class StrokeScale:
    """The normalisation of offsets: dx divided by `x`, dy by `y`.

    Attributes:
        x, y: The standard deviations of the training lines' dx and dy.
    """

    x: float
    y: float

    def __post_init__(self):
        for name in ("x", "y"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                raise InputError(f"the stroke scale's {name} must be a positive finite number, "
                                 f"got {value!r}.")

    @classmethod
    def from_lines(cls, lines):
        """The scale of a list of `(N_i, 3)` training lines: dx's and dy's standard deviations."""
        if len(lines) == 0:
            raise InputError("fitting a stroke scale needs at least one line, got none.")
        moves = np.concatenate([check_offsets(o)[:, :2] for o in lines]).astype(np.float64)
        std = moves.std(axis=0)
        if not np.all(std > 0):
            raise InputError("fitting a stroke scale needs lines whose pen moves in x and y; "
                             "these lines do not.")
        return cls(float(std[0]), float(std[1]))

    def normalise(self, offsets):
        """`(N, 3)` offsets with dx / x and dy / y, float32."""
        offsets = np.array(offsets, dtype=np.float32)
        offsets[:, :2] /= np.array([self.x, self.y], np.float32)
        return offsets

    def denormalise(self, offsets):
        """`normalise` undone: `(N, 3)` offsets with dx * x and dy * y, float32."""
        offsets = np.array(offsets, dtype=np.float32)
        offsets[:, :2] *= np.array([self.x, self.y], np.float32)
        return offsets

    def as_dict(self):
        return {"x": self.x, "y": self.y}

    @classmethod
    def from_dict(cls, value):
        """The scale from `as_dict`'s dictionary (read from JSON), its values checked."""
        if not isinstance(value, dict) or set(value) != {"x", "y"}:
            raise InputError(f"a stroke scale must be an object with the numbers x and y, got "
                             f"{value!r}.")
        return cls(value["x"], value["y"])


def line_problem(text, offsets, max_points=MAX_POINTS, max_characters=MAX_CHARACTERS,
                 max_step_ratio=MAX_STEP_RATIO):
    """Why a line is left out of the data, or None when it is kept (the rule in the docstring).

    Args:
        text: The line's text.
        offsets: `(N, 3)` its pen offsets.

    Returns:
        A short reason (`"1,310 points, above 1,200"`), or None.
    """
    offsets = check_offsets(offsets)
    if len(offsets) > max_points:
        return f"{len(offsets):,} points, above {max_points:,}"
    if len(text) > max_characters:
        return f"{len(text)} characters, above {max_characters}"
    if len(text) == 0:
        return "no text"
    steps = np.hypot(offsets[1:, 0], offsets[1:, 1])
    moving = steps[steps > 0]
    if len(moving) == 0:
        return "the pen does not move"
    median = float(np.median(moving))
    if steps.max() > max_step_ratio * median:
        return (f"a move of {steps.max():.4g}, above {max_step_ratio:g} times the median move "
                f"{median:.4g}")
    return None


@dataclasses.dataclass(frozen=True)
class Alphabet:
    """The characters a model knows: id 0 is unknown, `characters[i]` is id i + 1.

    Attributes:
        characters: Distinct characters, in id order.
    """

    characters: str = DEFAULT_CHARACTERS

    def __post_init__(self):
        if not isinstance(self.characters, str) or not self.characters:
            raise InputError("an alphabet must be a non-empty string of characters.")
        if len(set(self.characters)) != len(self.characters):
            repeated = sorted({c for c in self.characters if self.characters.count(c) > 1})
            raise InputError(f"an alphabet's characters must be distinct; {repeated!r} repeat.")
        object.__setattr__(self, "_ids", {c: i + 1 for i, c in enumerate(self.characters)})

    @property
    def size(self):
        """V, the one-hot size: the characters and the unknown id."""
        return len(self.characters) + 1

    def unknown_characters(self, text):
        """The characters of `text` outside the alphabet, sorted."""
        return sorted(set(text) - set(self.characters))

    def encode(self, text, strict=False):
        """`text` -> int32 ids `(len(text),)`; a character outside the alphabet is 0 (unknown),
        or with `strict` an `InputError` naming it."""
        if strict and self.unknown_characters(text):
            raise InputError(f"the text {text!r} has characters outside the alphabet: "
                             f"{''.join(self.unknown_characters(text))!r}; the alphabet is "
                             f"{self.characters!r}.")
        return np.array([self._ids.get(c, UNKNOWN_ID) for c in text], dtype=np.int32)

    def decode(self, ids, unknown="\ufffd"):
        """int ids -> text, 0 written as `unknown`."""
        chars = (unknown,) + tuple(self.characters)
        ids = np.asarray(ids)
        if ids.size and (ids.min() < 0 or ids.max() >= self.size):
            raise InputError(f"ids must lie in 0..{self.size - 1}, got {ids.min()}..{ids.max()}.")
        return "".join(chars[i] for i in ids.tolist())
