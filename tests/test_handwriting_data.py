"""Handwriting synthesis's data (kerasrnn.kinds.handwriting): pen offsets and their inverse, the
normalisation, the alphabet, IAM-OnDB files (written here in its format), the synthetic writers
on the Hershey fonts and the held-out text lines."""

import pathlib

import numpy as np
import pytest

from kerasrnn.errors import InputError
from kerasrnn.kinds.handwriting import iam_ondb, line_grammar, sources, strokes, synthetic
from kerasrnn.kinds.handwriting.strokes import Alphabet, StrokeScale, to_offsets, to_strokes

pytest.importorskip("HersheyFonts")


def random_strokes(rng, count=5):
    return [rng.normal(size=(int(rng.integers(1, 9)), 2)) * 50 for _ in range(count)]


# Offsets -------------------------------------------------------------------------------------

def test_offsets_are_moves_with_the_pen_lifted_after_each_stroke():
    offsets = to_offsets([[[1, 2], [4, 6]], [[10, 0]], [[10, 1], [12, 1], [12, 3]]])
    np.testing.assert_array_equal(offsets, [[1, 2, 0], [3, 4, 1], [6, -6, 1], [0, 1, 0],
                                            [2, 0, 0], [0, 2, 1]])
    assert offsets.dtype == np.float32


def test_to_strokes_inverts_to_offsets():
    rng = np.random.default_rng(0)
    for _ in range(20):
        original = random_strokes(rng)
        back = to_strokes(to_offsets(original))
        assert len(back) == len(original)
        for a, b in zip(back, original):
            np.testing.assert_allclose(a, b, atol=1e-3)


def test_points_after_the_last_end_of_stroke_are_a_last_stroke():
    offsets = np.array([[0, 0, 0], [1, 0, 1], [2, 0, 0], [0, 3, 0]], np.float32)
    back = to_strokes(offsets)
    assert [len(s) for s in back] == [2, 2]
    np.testing.assert_allclose(back[1], [[3, 0], [3, 3]])


@pytest.mark.parametrize("bad", [[], [np.zeros((0, 2))], [np.zeros((3, 3))], [[[0, np.nan]]]])
def test_bad_strokes_are_refused(bad):
    with pytest.raises(InputError, match="stroke"):
        to_offsets(bad)


def test_the_scale_is_the_std_of_the_moves_and_is_undone():
    rng = np.random.default_rng(1)
    lines = [to_offsets(random_strokes(rng)) for _ in range(10)]
    scale = StrokeScale.from_lines(lines)
    moves = np.concatenate(lines)[:, :2].astype(np.float64)
    np.testing.assert_allclose([scale.x, scale.y], moves.std(axis=0), rtol=1e-9)
    normalised = [scale.normalise(o) for o in lines]
    np.testing.assert_allclose(np.concatenate(normalised)[:, :2].std(axis=0), [1, 1], rtol=1e-5)
    for original, n in zip(lines, normalised):
        np.testing.assert_array_equal(n[:, 2], original[:, 2])
        np.testing.assert_allclose(scale.denormalise(n), original, rtol=1e-6, atol=1e-5)
    assert StrokeScale.from_dict(scale.as_dict()) == scale


@pytest.mark.parametrize("bad", [{"x": 0.0, "y": 1.0}, {"x": float("inf"), "y": 1.0},
                                 {"x": "1", "y": 1.0}, {"x": 1.0}, [1.0, 1.0]])
def test_a_bad_stored_scale_is_refused(bad):
    with pytest.raises(InputError, match="stroke scale"):
        StrokeScale.from_dict(bad)


def test_lines_left_out_by_points_text_and_pen_glitches():
    steady = to_offsets([np.stack([np.arange(50.0), np.zeros(50)], 1)])
    assert strokes.line_problem("a line", steady) is None
    assert "points" in strokes.line_problem("a", np.tile(steady, (25, 1)))
    assert "characters" in strokes.line_problem("x" * 76, steady)
    glitch = steady.copy()
    glitch[20, 0] = 61.0  # 61 times the median move of 1
    assert "median" in strokes.line_problem("a line", glitch)
    glitch[20, 0] = 59.0
    assert strokes.line_problem("a line", glitch) is None


# The alphabet ---------------------------------------------------------------------------------

def test_alphabet_ids_start_at_one_and_unknown_characters_are_zero():
    alphabet = Alphabet("ab ")
    assert alphabet.size == 4
    np.testing.assert_array_equal(alphabet.encode("a b!"), [1, 3, 2, 0])
    assert alphabet.decode([1, 3, 2, 0]) == "a b\ufffd"
    with pytest.raises(InputError, match="'!'"):
        alphabet.encode("a b!", strict=True)
    with pytest.raises(InputError, match="distinct"):
        Alphabet("aba")


def test_every_character_of_the_text_lines_is_in_the_default_alphabet():
    text = synthetic.LINES_FILE.read_text(encoding="utf-8")
    assert Alphabet().unknown_characters(text.replace("\n", "")) == []
    assert Alphabet().size == len(strokes.DEFAULT_CHARACTERS) + 1 == 77


# The text lines -------------------------------------------------------------------------------

def test_the_shipped_lines_are_the_grammars_and_held_out_lines_are_never_trained_on():
    lines = synthetic.LINES_FILE.read_text(encoding="utf-8").splitlines()
    assert lines == line_grammar.generate_lines()
    assert len(set(lines)) == len(lines) == 4000
    assert all(20 <= len(line) <= 60 for line in lines)
    train, held = synthetic.text_lines("train"), synthetic.text_lines("held_out")
    assert (len(train), len(held)) == (3600, 400)
    assert not set(train) & set(held)
    assert held == tuple(lines[9::10])
    written = {text for text, _, _ in synthetic.synthetic_lines(30, seed=4, split="held_out")}
    assert written <= set(held)


# Synthetic handwriting ------------------------------------------------------------------------

def font_polylines(style, text):
    """The font's strokes of `text` from the Hershey package itself, in cap heights."""
    from HersheyFonts import HersheyFonts
    font = HersheyFonts()
    font.load_default_font(style)
    cap = font.render_options["base_line"] - font.render_options["cap_line"]
    font.render_options.scalex = 1 / cap
    font.render_options.scaley = -1 / cap
    font.render_options.yofs = font.render_options["base_line"] / cap
    return [np.array(s, np.float64) for s in font.strokes_for_text(text) if len(s)]


def distance_to_polylines(points, polylines):
    """Each point's distance to the nearest segment (or lone point) of `polylines`."""
    best = np.full(len(points), np.inf)
    for line in polylines:
        if len(line) == 1:
            best = np.minimum(best, np.hypot(*(points - line[0]).T))
        for a, b in zip(line[:-1], line[1:]):
            ab = b - a
            t = np.clip(((points - a) @ ab) / max(ab @ ab, 1e-12), 0, 1)
            best = np.minimum(best, np.hypot(*(points - (a + t[:, None] * ab)).T))
    return best


@pytest.mark.parametrize("style, joined", [("futural", False), ("scripts", True)])
def test_without_noise_or_slant_the_pen_follows_the_fonts_strokes(style, joined):
    text = "minimum Jig"
    writer = synthetic.Writer(style=style, size=25.0, pen_step=0.04)
    writer_line = synthetic.write_line(text, writer)
    written = to_strokes(writer_line)
    font = font_polylines(style, text)
    points = np.concatenate(written) / writer.size + font[0][0]
    assert np.max(distance_to_polylines(points, font)) < 1e-5
    vertices = np.concatenate(font)
    assert np.max(distance_to_polylines(vertices, [points[i:i + 1] for i in range(len(points))])) \
        <= writer.pen_step / 2 + 1e-9
    pen_down = np.hypot(*writer_line[1:, :2].T)[writer_line[:-1, 2] == 0] / writer.size
    assert np.max(pen_down) <= writer.pen_step + 1e-6
    if joined:  # the cursive letters meet, and a word's letters are written without lifting
        assert len(written) < len(font)
    else:
        assert len(written) == len(font)


def test_a_writers_slant_and_size_move_the_points():
    plain = synthetic.Writer(style="futural", size=10.0)
    line = to_strokes(synthetic.write_line("l", plain))
    slanted = to_strokes(synthetic.write_line("l", synthetic.Writer(style="futural", size=20.0,
                                                                    slant=0.5)))
    # `l` is one vertical stroke drawn downwards: the slant turns dx into 0.5 dy.
    np.testing.assert_allclose(np.ptp(line[0], axis=0), [0, 10], atol=1e-4)
    np.testing.assert_allclose(np.ptp(slanted[0], axis=0), [10, 20], atol=1e-4)


def test_synthetic_lines_are_deterministic_and_differ_across_seeds_and_writers():
    first = list(synthetic.synthetic_lines(6, seed=7))
    again = list(synthetic.synthetic_lines(6, seed=7))
    other = list(synthetic.synthetic_lines(6, seed=8))
    for (t1, o1, s1), (t2, o2, s2) in zip(first, again):
        assert (t1, s1) == (t2, s2)
        np.testing.assert_array_equal(o1, o2)
    assert [t for t, _, _ in first] != [t for t, _, _ in other]
    rng = np.random.default_rng(0)
    a, b = (synthetic.Writer.sample(rng, "futural") for _ in range(2))
    line_a = synthetic.write_line("the same words", a, rng)
    line_b = synthetic.write_line("the same words", b, rng)
    assert line_a.shape != line_b.shape or not np.allclose(line_a, line_b)


@pytest.mark.parametrize("kwargs, message", [
    (dict(style="gothic"), "style must be one of"), (dict(size=0.0), "size must be a positive"),
    (dict(pen_step=float("nan")), "pen_step"), (dict(noise=-1.0), "noise must be 0 or more"),
])
def test_a_bad_writer_is_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        synthetic.Writer(**{"style": "futural", **kwargs})


def test_styles_pick_the_writers_fonts():
    assert {s for _, _, s in synthetic.synthetic_lines(12, styles="print")} <= \
        set(synthetic.PRINT_STYLES)
    assert {s for _, _, s in synthetic.synthetic_lines(12, styles="cursive")} <= \
        set(synthetic.CURSIVE_STYLES)
    assert {s for _, _, s in synthetic.synthetic_lines(3, styles="scriptc")} == {"scriptc"}
    with pytest.raises(InputError, match="styles"):
        list(synthetic.synthetic_lines(1, styles="gothic"))


def test_points_per_character_are_the_documented_ones():
    lines = list(synthetic.synthetic_lines(150, seed=0))
    points = sum(len(o) for _, o, _ in lines)
    characters = sum(len(t) for t, _, _ in lines)
    assert 11.5 < points / characters < 14.5  # the module's docstring: about 13
    assert max(len(o) for _, o, _ in lines) < strokes.MAX_POINTS
    assert all(o[0, 0] == o[0, 1] == 0 for _, o, _ in lines)


# IAM-OnDB files -------------------------------------------------------------------------------

TRANSCRIPTION = """OCR:

A MOVE to stop Mr. Gaitskell from nominating

CSR:

A MOVE to stop
Mr. Gaitskell
%%%%%%%%%%%
"""


def stroke_xml(strokes_points):
    body = "".join(
        '<Stroke colour="black">' + "".join(f'<Point x="{x}" y="{y}" time="0.5"/>'
                                            for x, y in points) + "</Stroke>"
        for points in strokes_points)
    return ('<?xml version="1.0" encoding="ISO-8859-1"?><WhiteboardCaptureSession>'
            '<WhiteboardDescription><SensorLocation corner="top_left"/></WhiteboardDescription>'
            f"<StrokeSet>{body}</StrokeSet></WhiteboardCaptureSession>")


def write_form(root, form, texts, lines):
    """IAM-OnDB's files of one form: ascii/a01/<a01-000>/<form>.txt and its line files."""
    folder = "-".join(form.split("-")[:2])[:7]
    (root / "ascii" / form[:3] / folder).mkdir(parents=True, exist_ok=True)
    (root / "lineStrokes" / form[:3] / folder).mkdir(parents=True, exist_ok=True)
    (root / "ascii" / form[:3] / folder / f"{form}.txt").write_text(texts, encoding="latin-1")
    for k, points in enumerate(lines, 1):
        (root / "lineStrokes" / form[:3] / folder / f"{form}-{k:02d}.xml").write_text(
            stroke_xml(points))
    return root / "lineStrokes" / form[:3] / folder


def test_iam_ondb_lines_are_the_csr_lines_with_their_strokes(tmp_path):
    write_form(tmp_path, "a01-000u", TRANSCRIPTION,
               [[[(100, 500), (103, 496)], [(110, 500)]], [[(7, 7), (8, 9), (9, 7)]]])
    write_form(tmp_path, "a01-001", "CSR:\n\nThe end.\n", [[[(0, 0), (5, 0)]]])
    write_form(tmp_path, "z01-000z", "CSR:\n\none\ntwo\n", [[[(0, 0)]]])  # known bad: skipped
    (tmp_path / "ascii" / "a02" / "a02-000").mkdir(parents=True)  # a form without strokes
    (tmp_path / "ascii" / "a02" / "a02-000" / "a02-000x.txt").write_text("CSR:\n\nno strokes\n")
    lines = list(iam_ondb.iam_lines(tmp_path))
    assert [t for t, _ in lines] == ["A MOVE to stop", "Mr. Gaitskell", "The end."]
    # y turned upwards, the first point at the origin.
    np.testing.assert_array_equal(lines[0][1], [[0, 0, 0], [3, 4, 1], [7, -4, 1]])
    np.testing.assert_array_equal(lines[1][1], [[0, 0, 0], [1, -2, 0], [1, 2, 1]])
    np.testing.assert_array_equal(lines[2][1], [[0, 0, 0], [5, 0, 1]])


def test_a_bad_lines_xml_is_one_error_naming_the_file(tmp_path):
    folder = write_form(tmp_path, "a01-000u", TRANSCRIPTION, [[[(0, 0)]], [[(1, 1)]]])
    (folder / "a01-000u-02.xml").write_text("<StrokeSet><Stroke><Point x='1'")
    with pytest.raises(InputError, match=r"a01-000u-02\.xml: is not well-formed XML"):
        list(iam_ondb.iam_lines(tmp_path))
    (folder / "a01-000u-02.xml").write_text(
        "<StrokeSet><Stroke><Point y='1'/></Stroke></StrokeSet>")
    with pytest.raises(InputError, match=r"a01-000u-02\.xml: has a <Point> without numbers"):
        list(iam_ondb.iam_lines(tmp_path))
    (folder / "a01-000u-02.xml").unlink()
    with pytest.raises(InputError, match=r"a01-000u\.txt: lists 2 lines after CSR: but .* "
                                         r"holds 1 line files a01-000u-NN\.xml"):
        list(iam_ondb.iam_lines(tmp_path))


def test_a_folder_that_is_not_iam_ondb_is_refused(tmp_path):
    with pytest.raises(InputError, match="has no ascii/ folder"):
        list(iam_ondb.iam_lines(tmp_path))
    write_form(tmp_path, "a01-000u", "no sections\n", [[[(0, 0)]]])
    with pytest.raises(InputError, match=r"a01-000u\.txt: has no CSR: line"):
        list(iam_ondb.iam_lines(tmp_path))


# One interface --------------------------------------------------------------------------------

def test_both_sources_hold_out_every_tenth_line(tmp_path):
    texts = [f"line number {i}" for i in range(12)]
    write_form(tmp_path, "a01-000u", "CSR:\n\n" + "\n".join(texts) + "\n",
               [[[(0, 0), (i + 1, 1), (2 * i + 3, 0)]] for i in range(12)])
    train = sources.load_lines("iam-ondb", "train", data_dir=tmp_path)
    held = sources.load_lines("iam-ondb", "held_out", data_dir=tmp_path)
    assert held.texts == ["line number 9"] and train.texts == texts[:9] + texts[10:]
    assert set(train.styles) == {"iam-ondb"} and train.dropped == 0
    synthetic_lines = sources.load_lines("synthetic", "held_out", count=5, seed=2, styles="print")
    assert len(synthetic_lines.texts) == 5 and synthetic_lines.dropped == 0
    assert set(synthetic_lines.texts) <= set(synthetic.text_lines("held_out"))
    assert set(synthetic_lines.styles) <= set(synthetic.PRINT_STYLES)


def test_load_lines_drops_the_lines_the_rule_leaves_out(tmp_path):
    write_form(tmp_path, "a01-000u", "CSR:\n\nfine\nglitch\n",
               [[[(0, 0), (1, 0), (2, 0), (3, 0)]], [[(0, 0), (1, 0), (2, 0), (90, 0)]]])
    lines = sources.load_lines("iam-ondb", data_dir=tmp_path)
    assert lines.texts == ["fine"] and lines.dropped == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(source="iam"), "source must be one of"),
    (dict(split="test", count=1), "split must be one of"),
    (dict(count=None), "count must be given"),
    (dict(count=0), "count must be a positive integer"),
    (dict(source="iam-ondb"), "data_dir must name"),
    (dict(count=1, data_dir=pathlib.Path(".")), "data_dir is for the iam-ondb source"),
])
def test_load_lines_refuses_bad_arguments(kwargs, message):
    with pytest.raises(InputError, match=message):
        sources.load_lines(**kwargs)
