"""Synthetic handwriting, the offline default: text lines written by random "writers" with the
Hershey fonts of the `hershey-fonts` package (glyphs drawn as pen strokes).

**The text** is `lines.txt`, 4,000 different English sentences of 20 to 60 characters
(35 on average) written by `line_grammar.py`. Line i (counting from 0) is *held out* when
i % 10 == 9 (400 lines): the texts a trained model is scored on (legibility) are never in the
training split (`text_lines`).

**A writer** (`Writer.sample`) has one style, a Hershey font: print (`futural`, single line;
`futuram`, double line; `timesr`, serif) or cursive (`scripts`, single line; `scriptc`, double
line). (The package's `rowmans` and `cursive` are the same glyphs as `futural` and `scripts`.)
It draws, uniformly in its range: its size (cap height 20 to 40 units), width (0.85 to 1.15),
slant (-0.1 to 0.45, x moved by slant times y), letter spacing (-0.04 to 0.12 cap heights added
to each letter's advance) and word spacing (0 to 0.25 added to a space's), a baseline drift (a
sine of amplitude up to 0.12 cap heights and period 4 to 12 cap heights, plus a tilt of up to
+-0.03), its pen speed and smooth noise (each point moved by Gaussian noise of standard
deviation up to 0.035 cap heights, smoothed along the stroke over 3 to 8 points).

**Writing a line** (`write_line`): each character's glyph is placed at the pen's position;
within a word a stroke that starts where the previous one ended (the cursive fonts' letters
meet at their joins) continues it with the pen down; slant, drift and tilt move every point;
each stroke is then resampled at equal steps along its path no longer than the pen speed (its
two ends kept), and the noise is added. With noise 0 the points lie on the font's strokes
(moved by the writer's size, spacing, slant and drift).

**Points per character** are fixed by the pen speed: a writer's step is its font's mean ink
per lower-case letter (`letter_ink`, about twice as long in the double-line fonts) divided by
a number drawn from 9 to 14 (`POINTS_PER_LETTER`), so a letter takes about the same number of
points in every font. Measured on 1,000 lines (35 characters each on average): 13.1 points per
character (spaces and pen-up moves included; 10.9 for `scripts` to 14.7 for `timesr`; 8.8 to
17.4 for 98% of the lines), 459 points per line, the longest line 762 points, under
`strokes.MAX_POINTS`:

    python -c "from kerasrnn.kinds.handwriting.synthetic import synthetic_lines as s
    L = list(s(1000, seed=0)); print(sum(len(o) for _, o, _ in L) / sum(len(t) for t, _, _ in L))"

**Deterministic**: line `index` of `synthetic_lines(count, seed, ...)` depends only on (seed,
index, split, styles): the writer and its noise come from `numpy.random.default_rng((seed,
index))`, the text from a permutation of the split drawn from `seed`.
"""

import dataclasses
import functools
import pathlib

import numpy as np

from kerasrnn.errors import InputError
from kerasrnn.kinds.handwriting.strokes import to_offsets

PRINT_STYLES = ("futural", "futuram", "timesr")
CURSIVE_STYLES = ("scripts", "scriptc")
STYLE_FAMILIES = {"all": PRINT_STYLES + CURSIVE_STYLES, "print": PRINT_STYLES,
                  "cursive": CURSIVE_STYLES}
SPLITS = ("train", "held_out")
HELD_OUT_EVERY = 10
LINES_FILE = pathlib.Path(__file__).with_name("lines.txt")

# A stroke continues the previous one when it starts this close to its end (cap heights).
JOIN_DISTANCE = 0.03
# A writer's pen speed: a lower-case letter's ink is resampled into this many steps, on average.
POINTS_PER_LETTER = (9.0, 14.0)


@functools.lru_cache(maxsize=None)
def _all_lines():
    return tuple(LINES_FILE.read_text(encoding="utf-8").splitlines())


def text_lines(split="train"):
    """The text lines of a split: line i of `lines.txt` is held out when i % 10 == 9.

    Args:
        split: `"train"` or `"held_out"`.

    Returns:
        A tuple of strings, in the file's order.
    """
    if split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}.")
    held = split == "held_out"
    return tuple(line for i, line in enumerate(_all_lines())
                 if (i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1) == held)


def style_names(styles):
    """The fonts of `styles`: `"all"`, `"print"`, `"cursive"` or one font's name."""
    if styles in STYLE_FAMILIES:
        return STYLE_FAMILIES[styles]
    if styles in STYLE_FAMILIES["all"]:
        return (styles,)
    raise InputError(f"styles must be one of {', '.join(STYLE_FAMILIES)} or a font of "
                     f"{', '.join(STYLE_FAMILIES['all'])}, got {styles!r}.")


@functools.lru_cache(maxsize=None)
def font_glyphs(style):
    """A Hershey font's glyphs in cap heights: {character: (strokes, advance)}.

    Each stroke is float64 `(n, 2)`, x from the glyph's left side, y up from the baseline, both
    divided by the font's cap height; `advance` is the glyph's width in the same unit.
    """
    try:
        from HersheyFonts import HersheyFonts  # the handwriting extra
    except ImportError:
        raise InputError("the synthetic handwriting needs the hershey-fonts package: "
                         "pip install 'kerasrnn[handwriting]'") from None
    font = HersheyFonts()
    font.load_default_font(style)
    options = font.render_options
    base, height = float(options["base_line"]), float(options["base_line"] - options["cap_line"])
    glyphs = {}
    for char, glyph in font.all_glyphs.items():
        strokes = tuple(np.array([((x - glyph.left_offset) / height, (base - y) / height)
                                  for x, y in stroke], dtype=np.float64)
                        for stroke in glyph.strokes if len(stroke))
        glyphs[char] = (strokes, glyph.char_width / height)
    return glyphs


@functools.lru_cache(maxsize=None)
def letter_ink(style):
    """The mean path length of a font's letters a-z, in cap heights (the double-line fonts'
    is about twice the single-line fonts')."""
    glyphs = font_glyphs(style)
    return float(np.mean([sum(np.hypot(*np.diff(s, axis=0).T).sum() for s in glyphs[c][0])
                          for c in "abcdefghijklmnopqrstuvwxyz"]))


@dataclasses.dataclass(frozen=True)
class Writer:
    """How one writer writes (see the module's docstring for the ranges `sample` draws from).

    Lengths are in cap heights except `size`, the cap height in the line's units. The defaults
    write the font as it is (no slant, spacing, drift or noise).
    """

    style: str
    size: float = 30.0
    width: float = 1.0
    slant: float = 0.0
    letter_spacing: float = 0.0
    word_spacing: float = 0.0
    drift_amplitude: float = 0.0
    drift_period: float = 8.0
    drift_phase: float = 0.0
    tilt: float = 0.0
    pen_step: float = 0.12
    noise: float = 0.0
    noise_length: float = 3.0

    def __post_init__(self):
        if self.style not in STYLE_FAMILIES["all"]:
            raise InputError(f"a writer's style must be one of "
                             f"{', '.join(STYLE_FAMILIES['all'])}, got {self.style!r}.")
        for name in ("size", "width", "drift_period", "pen_step", "noise_length"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InputError(f"a writer's {name} must be a positive number, got {value!r}.")
        if not np.isfinite(self.noise) or self.noise < 0:
            raise InputError(f"a writer's noise must be 0 or more, got {self.noise!r}.")

    @classmethod
    def sample(cls, rng, styles="all"):
        """A random writer of one of `styles`' fonts, drawn from `rng` (`numpy` Generator)."""
        names = style_names(styles)
        style = names[rng.integers(len(names))]
        return cls(style=style,
                   size=rng.uniform(20, 40), width=rng.uniform(0.85, 1.15),
                   slant=rng.uniform(-0.1, 0.45), letter_spacing=rng.uniform(-0.04, 0.12),
                   word_spacing=rng.uniform(0.0, 0.25), drift_amplitude=rng.uniform(0, 0.12),
                   drift_period=rng.uniform(4, 12), drift_phase=rng.uniform(0, 2 * np.pi),
                   tilt=rng.uniform(-0.03, 0.03),
                   pen_step=letter_ink(style) / rng.uniform(*POINTS_PER_LETTER),
                   noise=rng.uniform(0, 0.035), noise_length=rng.uniform(3, 8))


def layout_strokes(text, writer):
    """The pen-down strokes of `text` placed on the line, before slant, drift and resampling.

    Args:
        text: The line.
        writer: A `Writer`.

    Returns:
        A list of float64 `(n, 2)` strokes in cap heights, the line's baseline at y = 0.
    """
    glyphs = font_glyphs(writer.style)
    scale = np.array([writer.width, 1.0])
    # Joins are found where the glyphs meet without the writer's spacing (`natural_x`).
    strokes, pen_x, natural_x, previous_end = [], 0.0, 0.0, None
    for char in text:
        if char not in glyphs:
            raise InputError(f"the font {writer.style} has no glyph for {char!r}.")
        glyph_strokes, advance = glyphs[char]
        for stroke in glyph_strokes:
            natural = stroke * scale + [natural_x, 0.0]
            placed = stroke * scale + [pen_x, 0.0]
            if previous_end is not None and np.hypot(*(natural[0] - previous_end)) < JOIN_DISTANCE:
                strokes[-1] = np.concatenate([strokes[-1], placed])
            else:
                strokes.append(placed)
            previous_end = natural[-1]
        pen_x += advance * writer.width + writer.letter_spacing
        natural_x += advance * writer.width
        if char == " ":
            pen_x += writer.word_spacing
            previous_end = None
    return strokes


def resample(stroke, step):
    """Points at equal distances no longer than `step` along a polyline, both ends kept.

    Args:
        stroke: float64 `(n, 2)`.
        step: The longest distance between consecutive points, > 0.

    Returns:
        float64 `(m, 2)`; one point when the stroke has no length.
    """
    lengths = np.hypot(*np.diff(stroke, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(lengths)])
    if arc[-1] == 0:
        return stroke[:1].copy()
    at = np.linspace(0.0, arc[-1], int(np.ceil(arc[-1] / step)) + 1)
    return np.stack([np.interp(at, arc, stroke[:, 0]), np.interp(at, arc, stroke[:, 1])], 1)


def _smooth_noise(rng, n, scale, length):
    """`(n, 2)` Gaussian noise of standard deviation `scale` smoothed over `length` points."""
    white = rng.normal(size=(n + 6 * int(np.ceil(length)), 2))
    taps = np.arange(-3 * int(np.ceil(length)), 3 * int(np.ceil(length)) + 1)
    kernel = np.exp(-0.5 * (taps / length) ** 2)
    kernel /= np.sqrt(np.sum(kernel ** 2))
    smooth = np.stack([np.convolve(white[:, i], kernel, mode="valid") for i in range(2)], 1)
    return scale * smooth[:n]


def write_line(text, writer, rng=None):
    """One line of handwriting: `text` written by `writer`.

    Args:
        text: The line, characters of the font (every printable ASCII character).
        writer: A `Writer`.
        rng: The noise's `numpy` Generator; needed only when `writer.noise` > 0.

    Returns:
        float32 `(N, 3)` offsets (`strokes.to_offsets`), in the line's units (cap height =
        `writer.size`), starting at the first pen point.
    """
    if writer.noise > 0 and rng is None:
        raise InputError("write_line needs rng, the noise's random generator, for a writer with "
                         "noise.")
    strokes = layout_strokes(text, writer)
    if not strokes:
        raise InputError(f"the text {text!r} has nothing to write.")
    written = []
    for stroke in strokes:
        x, y = stroke[:, 0], stroke[:, 1]
        x = x + writer.slant * y
        y = (y + writer.drift_amplitude
             * np.sin(2 * np.pi * x / writer.drift_period + writer.drift_phase)
             + writer.tilt * x)
        points = resample(np.stack([x, y], 1), writer.pen_step)
        if writer.noise > 0:
            points = points + _smooth_noise(rng, len(points), writer.noise, writer.noise_length)
        written.append(points * writer.size)
    origin = written[0][0].copy()
    return to_offsets([points - origin for points in written])


def synthetic_lines(count, seed=0, split="train", styles="all"):
    """Synthetic handwriting lines, each by its own random writer.

    Args:
        count: How many lines.
        seed: Line `index` depends only on (seed, index, split, styles).
        split: `"train"` or `"held_out"` (`text_lines`).
        styles: `"all"`, `"print"`, `"cursive"` or one font's name.

    Yields:
        `(text, offsets, style)`: the line, float32 `(N, 3)` offsets, the writer's font.
    """
    for name, value in (("count", count), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"{name} must be a non-negative integer, got {value!r}.")
    texts = text_lines(split)
    style_names(styles)
    order = np.random.default_rng(seed).permutation(len(texts))
    for index in range(count):
        rng = np.random.default_rng((seed, index))
        writer = Writer.sample(rng, styles)
        text = texts[order[index % len(texts)]]
        yield text, write_line(text, writer, rng), writer.style
