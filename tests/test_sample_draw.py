"""DRAW's pictures (kerasrnn.kinds.draw.pictures) and the sample script (training/sample_draw.py):
the write window's rectangle lies on the filters' centres, a frame per step, the GIF holds every
step, the same seed gives the same files, and bad input or files in the way are refused before
anything is written."""

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from kerasrnn.files import FileError
from kerasrnn.kinds.draw import pictures

STEPS = 5


def test_the_window_brackets_the_centres_of_the_first_and_last_filters():
    # g = 14.5 (the middle of 28 pixels), delta 1, N 5: centres 12.5 .. 16.5 (1-based), which are
    # the image coordinates 12.0 .. 16.0: columns 12 and 16, or 48 and 64 four times larger.
    assert pictures.window_lines((14.5, 14.5, 1.0, 1.0), 5, scale=1) == (12, 16, 12, 16)
    assert pictures.window_lines((14.5, 14.5, 1.0, 1.0), 5, scale=4) == (48, 64, 48, 64)
    # g_x = 14, g_y = 8 (pixel centres), delta 2: centres 10..18 across, 4..12 down (1-based), the
    # 0-based pixels 9..17 and 3..11, whose middles are 4 x 9.5 = 38 ... 4 x 11.5 = 46.
    assert pictures.window_lines((14.0, 8.0, 2.0, 0.5), 5, scale=4) == (38, 70, 14, 46)


def test_the_rectangle_lands_on_the_pixels_the_layers_filters_peak_on():
    from keras import ops

    from kerasrnn.layers.draw_attention import filterbank

    for g, delta, size in ((14.0, 2.0, 5), (6.3, 1.7, 5), (20.0, 3.0, 3), (14.5, 1.0, 4)):
        bank = ops.convert_to_numpy(filterbank(np.array([g], np.float32),
                                               np.array([delta], np.float32),
                                               np.array([0.01], np.float32), 28, size))[0]
        first, last = np.argmax(bank[0]), np.argmax(bank[-1])  # 0-based pixels
        for scale in (1, 2, 4):
            left, right, top, bottom = pictures.window_lines((g, g, delta, 0.1), size, scale)
            # each line lies on the picture pixels of the image pixel its filter peaks on
            assert left // scale == first and right // scale == last, (g, delta, scale)
            assert (top, bottom) == (left, right)


def test_the_rectangle_is_drawn_red_where_the_lines_are_and_clipped_at_the_border():
    canvas = np.zeros((28, 28, 1), np.float32)
    picture = pictures.canvas_picture(canvas, (14.0, 8.0, 2.0, 0.5), 5, scale=4)
    assert picture.shape == (112, 112, 3) and picture.dtype == np.uint8
    red = np.all(picture == pictures.WINDOW, axis=-1)
    rows, cols = np.nonzero(red)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (14, 46, 38, 70)
    assert red[14, 38:71].all() and red[46, 38:71].all() and red[14:47, 38].all() and red[14:47, 70].all()
    assert red.sum() == 2 * 33 + 2 * 31  # the outline only
    # a window hanging over the left edge: its left line is outside and not drawn
    edge = np.all(pictures.canvas_picture(canvas, (1.0, 14.5, 3.0, 1.0), 5, scale=1)
                  == pictures.WINDOW, axis=-1)
    # centres -5..7 across (1-based): the right line at column 6, rows 8..20 (14.5 +- 6, less 0.5)
    assert np.nonzero(edge[:, 6])[0].tolist() == list(range(8, 21))
    assert edge[8, :7].all() and not edge[:, 7:].any()
    # a canvas of ones is white, of zeros black; no window: no red
    plain = pictures.canvas_picture(np.ones((28, 28, 1)), None, 5, scale=2)
    assert plain.shape == (56, 56, 3) and (plain == 255).all()


def generated(count=3, steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    canvases = rng.uniform(size=(count, steps, 28, 28, 1)).astype(np.float32)
    windows = np.stack([rng.uniform(5, 20, (count, steps)), rng.uniform(5, 20, (count, steps)),
                        rng.uniform(0.5, 3, (count, steps)), np.ones((count, steps))], axis=-1)
    return canvases, windows


def test_a_frame_per_step_a_strip_of_samples_by_steps_and_a_gif_of_every_step():
    canvases, windows = generated(count=3)
    frames = pictures.drawing_frames(canvases, windows, 5, scale=2)
    assert frames.shape == (3, STEPS, 56, 56, 3)
    for t in range(STEPS):  # frame t is the canvas after step t with step t's window
        np.testing.assert_array_equal(frames[1, t], pictures.canvas_picture(
            canvases[1, t], windows[1, t], 5, scale=2))
    strip = pictures.drawing_strip(frames)
    gap = pictures.GAP
    assert strip.shape == (3 * 56 + 2 * gap, STEPS * 56 + (STEPS - 1) * gap, 3)
    np.testing.assert_array_equal(strip[56 + gap: 112 + gap, 2 * (56 + gap): 2 * (56 + gap) + 56],
                                  frames[1, 2])
    grid = pictures.samples_grid(canvases, scale=4)  # 3 samples: 2 x 2, the last cell empty
    assert grid.shape == (2 * 112 + gap, 2 * 112 + gap, 3)
    np.testing.assert_array_equal(grid[:112, 112 + gap:], pictures.canvas_picture(canvases[1, -1]))
    animation = list(pictures.animation_frames(canvases, windows, 5, scale=2))
    assert len(animation) == STEPS
    bar = 3 + gap  # the progress bar under the grid of 2 x 2 cells
    for t, frame in enumerate(animation):
        assert frame.shape == (2 * 56 + gap + bar, 2 * 56 + gap, 3)
        np.testing.assert_array_equal(frame[56 + gap: 112 + gap, :56], frames[2, t])
        assert np.all(frame[-1] == pictures.PROGRESS, axis=-1).sum() == round((t + 1) / STEPS * 114)
    gif = Image.open(io.BytesIO(pictures.gif_bytes(animation)))
    assert gif.n_frames == STEPS and gif.info["loop"] == 0


def test_the_gif_holds_the_frames_colours_exactly_where_they_are_the_palettes():
    canvases = np.zeros((2, STEPS, 28, 28, 1), np.float32)
    for t in range(STEPS):
        canvases[:, t, : 4 * (t + 1)] = 1.0  # white rows grow step by step
    windows = np.tile(np.array([14.0, 14.0, 2.0, 1.0]), (2, STEPS, 1))
    animation = list(pictures.animation_frames(canvases, windows, 5))
    gif = Image.open(io.BytesIO(pictures.gif_bytes(animation)))
    assert gif.n_frames == STEPS
    for t in range(STEPS):
        gif.seek(t)
        np.testing.assert_array_equal(np.asarray(gif.convert("RGB")), animation[t])


def test_the_noise_is_the_seeds():
    a = pictures.sample_noise(4, STEPS, 3, seed=7)
    assert a.shape == (4, STEPS, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, pictures.sample_noise(4, STEPS, 3, seed=7))
    assert not np.array_equal(a, pictures.sample_noise(4, STEPS, 3, seed=8))
    assert abs(pictures.sample_noise(100, 20, 50, seed=0).std() - 1) < 0.01


def test_a_failed_write_leaves_none_of_the_files(tmp_path):
    with pytest.raises(FileError, match="missing"):
        pictures.write_files({tmp_path / "a.png": b"a", tmp_path / "missing" / "b.png": b"b"})
    assert list(tmp_path.iterdir()) == []


# The script, on an untrained model saved as a finished run (what sampling needs from a run).

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from kerasrnn import run_dir
    from kerasrnn.kinds.draw.config import KIND, DRAWConfig
    from kerasrnn.kinds.draw.model import build_draw

    config = DRAWConfig(steps=STEPS, encoder_units=16, decoder_units=16, latent_dim=4,
                        read_size=2, write_size=3)
    out = tmp_path_factory.mktemp("draw") / "run"
    out.mkdir()
    run_dir.write_run_config(out, KIND, config.model_config(), dataclasses.asdict(config))
    run_dir.save_trained_model(out, build_draw(**config.model_config()), {})
    return out


def written(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_the_script_draws_the_same_files_from_the_same_seed(run, tmp_path, script, capsys):
    main = script("training/sample_draw.py")
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert main(["--model", str(run), "--out", str(tmp_path / name), "--count", "6",
                     "--seed", seed, "--sequence", "2"]) == 0
    assert "drawing.gif (5 frames)" in capsys.readouterr().out
    a, b, c = (written(tmp_path / n) for n in "abc")
    assert sorted(a) == ["drawing.gif", "drawing.png", "samples.png"]
    assert a == b  # byte for byte
    assert a["samples.png"] != c["samples.png"]
    gap = pictures.GAP
    samples = Image.open(io.BytesIO(a["samples.png"]))  # 6 digits: 3 x 2 of 112 pixels
    assert samples.size == (3 * 112 + 2 * gap, 2 * 112 + gap)
    strip = Image.open(io.BytesIO(a["drawing.png"]))  # 2 samples x 5 steps of 56 pixels
    assert strip.size == (STEPS * 56 + (STEPS - 1) * gap, 2 * 56 + gap)
    assert Image.open(io.BytesIO(a["drawing.gif"])).n_frames == STEPS
    # --out NAME.png: the grid there, the drawing beside it
    assert main(["--model", str(run), "--out", str(tmp_path / "d" / "grid.png"), "--count", "6",
                 "--seed", "3", "--sequence", "2"]) == 0
    assert written(tmp_path / "d") == {"grid.png": a["samples.png"], "grid-drawing.png":
                                       a["drawing.png"], "grid-drawing.gif": a["drawing.gif"]}


@pytest.mark.slow
def test_the_script_refuses_bad_input_and_never_overwrites(run, tmp_path, script, capsys):
    main = script("training/sample_draw.py")
    out = tmp_path / "out"
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    for argv, message in ((["--count", "0"], "--count"), (["--count", "1000"], "--count"),
                          (["--seed", "-1"], "--seed"), (["--sequence", "0"], "--sequence"),
                          (["--count", "3", "--sequence", "4"], "--sequence"),
                          (["--model", str(tmp_path / "nowhere")], "does not exist"),
                          (["--model", str(tmp_path / "empty")], "not a kerasrnn draw model"),
                          (["--out", str(tmp_path / "notes.txt")], "is a file")):
        options = {"--model": str(run), "--out": str(out)}
        options.update(zip(argv[::2], argv[1::2]))
        assert main([a for kv in options.items() for a in kv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and err.startswith("error:"), err
        assert not out.exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"
    # a user's file of one of the names in the folder: refused, nothing written, nothing changed
    out.mkdir()
    (out / "drawing.gif").write_bytes(b"mine")
    assert main(["--model", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "drawing.gif already exists" in err and "never overwrites" in err, err
    assert written(out) == {"drawing.gif": b"mine"}
    (tmp_path / "grid-drawing.png").write_bytes(b"mine")
    assert main(["--model", str(run), "--out", str(tmp_path / "grid.png")]) == 2
    assert "grid-drawing.png already exists" in capsys.readouterr().err
    assert not (tmp_path / "grid.png").exists() and not (tmp_path / "grid-drawing.gif").exists()
