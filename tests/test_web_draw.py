"""DRAW on the JavaScript side computes what the Python ONNX driver computes: the JS driver
(export/web/kinds/draw/driver.mjs, in ONNX Runtime for Node.js) draws and reconstructs the
Python `DRAWGenerator`'s images and bounds for the same seeds; the Node.js example writes a PNG
of those images (8-bit) and refuses bad seeds and counts with one `error:` line, writing
nothing; the page, in headless Chromium, animates a generated digit step by step (the canvas
after the last step is the driver's image, one frame per step, the write window drawn as its
rectangle), *Draw again* draws another seed's digit, a digit drawn on the pad is reconstructed as
the Python driver reconstructs its pixels, and a bad seed shows a message.

One tiny DRAW (3 steps) is trained for an epoch on generated squares and exported with max_rows 4.
Skips without node and export/node's packages, or Chromium, chromedriver, Selenium and ONNX
Runtime Web (tests/web_browser.py), saying which is missing.
"""

import base64
import json

import numpy as np
import pytest

import web_browser
from test_js_driver import KINDS, NODE_DIR, example, node_json
from web_browser import act, canvas_pixels, click, error_text, open_page, set_value, start_server

pytestmark = pytest.mark.slow

ROWS = 4  # the export's max_rows
STEPS = 3
browser = web_browser.browser  # the fixture (tests/web_browser.py)


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    """A tiny trained DRAW's exported version folder."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    from test_train_draw import TINY, blobs

    from kerasrnn.kinds.draw.config import DRAWConfig
    from kerasrnn.kinds.draw.train import train_draw
    from kerasrnn.kinds.registry import export_model

    root = tmp_path_factory.mktemp("draw_web")
    data = (blobs(240, 0), np.zeros(240, int)), (blobs(60, 1), np.zeros(60, int))
    train_draw(DRAWConfig(**TINY, epochs=1), data, root / "run", verbose=0)
    return export_model(root / "run", root / "saved_models", "draw", max_rows=ROWS)


@pytest.fixture(scope="module")
def drawer(version):
    from kerasrnn.kinds.draw.onnx_driver import DRAWGenerator

    return DRAWGenerator(version / "onnx")


def js_driver(version, request):
    """Runs the JS `DRAWGenerator` on `request` ({seeds, images, image_seeds, bad}) in Node."""
    if not (NODE_DIR / "node_modules" / "onnxruntime-node").is_dir():
        pytest.skip("export/node's packages are not installed (npm ci --ignore-scripts in export/node)")
    return node_json("""
        const ort = (await import("onnxruntime-node")).default;
        const fs = (await import("node:fs")).default;
        const { DRAWGenerator } = await import(KINDS + "draw/driver.mjs");
        const model = await DRAWGenerator.create(ort, (p) => fs.promises.readFile(input.dir + "/" + p));
        const drawn = await model.generate(input.seeds);
        const steps = [];
        await model.generate(input.seeds.slice(0, 1), { onStep: (t, canvas, window) => { steps.push(t); } });
        const images = input.images.map((data) => ({ data: Float32Array.from(data), width: 28, height: 28 }));
        const again = await model.reconstruct(images, input.image_seeds);
        const refused = [];
        for (const [kind, images, seeds] of input.bad) {
          try {
            if (kind === "generate") await model.generate(seeds);
            else await model.reconstruct(images.map((d) => ({ data: Float32Array.from(d), width: 28, height: 28 })), seeds);
            refused.push(null);
          } catch (e) { refused.push(e.message); }
        }
        console.log(JSON.stringify({
          images: Array.from(drawn.images), canvases: Array.from(drawn.canvases), windows: Array.from(drawn.windows),
          steps, writeSize: model.writeSize, reconstructions: Array.from(again.reconstructions),
          bound: Array.from(again.nllBound), refused,
        }));""", {"dir": str(version), **request}, cwd=NODE_DIR)


def test_the_js_driver_draws_and_reconstructs_as_the_python_driver(version, drawer):
    seeds = [0, 7, -(2**63), 2**63 - 1]
    grey = np.random.default_rng(4).random((2, 28, 28, 1)).astype(np.float32)
    got = js_driver(version, {
        "seeds": [str(s) for s in seeds], "images": grey.reshape(2, -1).tolist(), "image_seeds": ["3", "-5"],
        "bad": [["generate", [], list(range(ROWS + 1))], ["generate", [], ["1.5"]], ["generate", [], [str(2**63)]],
                ["reconstruct", [[0.5] * 784], ["1", "2"]], ["reconstruct", [[1.5] * 784], ["1"]]]})
    want = drawer.generate(seeds)
    for key in ("images", "canvases", "windows"):
        np.testing.assert_allclose(np.reshape(got[key], want[key].shape), want[key], atol=1e-5)
    assert np.abs(want["images"][0] - want["images"][1]).max() > 1e-3  # the seeds draw different digits
    assert got["steps"] == list(range(STEPS)) and got["writeSize"] == 3
    again = drawer.reconstruct(grey, [3, -5])
    np.testing.assert_allclose(np.reshape(got["reconstructions"], (2, 28, 28, 1)), again["reconstructions"], atol=1e-5)
    np.testing.assert_allclose(got["bound"], again["nll_bound"], rtol=1e-5)
    refused = got["refused"]
    assert refused[0] == f"too many seeds in one request: at most {ROWS} (max_rows); got {ROWS + 1}"
    assert "seed must be an integer" in refused[1] and "64-bit signed integer" in refused[2]
    assert refused[3] == "seeds must be one per image: got 2 for 1 images"
    assert refused[4] == "images must hold pixels between 0 and 1 (grey levels; not NaN)"


def read_png(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def test_the_node_example_writes_a_png_of_the_drivers_images(version, drawer, tmp_path):
    out = tmp_path / "digits.png"
    done = example(version, "--seed=-2", "--count", "3", "--out", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote {out}: 3 digits (seed -2 to 0), 56 x 56 pixels\n"
    pixels = read_png(out)
    assert pixels.shape == (56, 56, 4) and (pixels[..., 3] == 255).all()
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 0] == pixels[..., 2]).all()
    want = np.round(255 * drawer.generate([-2, -1, 0])["images"][..., 0])
    cells = [pixels[:28, :28, 0], pixels[:28, 28:, 0], pixels[28:, :28, 0]]
    for cell, image in zip(cells, want):
        np.testing.assert_allclose(cell, image, atol=1)  # float32 rounding at a half
    assert (pixels[28:, 28:, :3] == 0).all()  # the grid's empty cell
    done = example(version, "--seed", "9", "--out", out, "--json")
    assert json.loads(done.stdout) == {"out": str(out), "seeds": ["9"], "width": 28, "height": 28}
    np.testing.assert_allclose(read_png(out)[..., 0], np.round(255 * drawer.generate([9])["images"][0, ..., 0]), atol=1)


@pytest.mark.parametrize("args,message", [
    (["--seed", "1.5"], '--seed must be an integer, got "1.5"'),
    (["--seed", str(2**63)], "seed must be a 64-bit signed integer"),
    (["--seed", str(2**63 - 1), "--count", "2"], "seed must be a 64-bit signed integer"),
    (["--count", "0"], f"--count must be between 1 and {ROWS} (the export's max_rows), got 0"),
    (["--count", str(ROWS + 1)], f"--count must be between 1 and {ROWS}"),
    (["--count", "x"], '--count must be an integer, got "x"'),
    ([], "a DRAW model needs --out FILE.png"),
    (["--out", "{tmp}/digits.jpg"], "--out must name a .png file"),
    (["--image", "x.png"], "--image does not apply to a DRAW model"),
])
def test_bad_input_to_the_node_example_is_one_error_line_and_nothing_written(version, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args and message != "a DRAW model needs --out FILE.png":
        args += ["--out", str(tmp_path / "digits.png")]
    done = example(version, *args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []


# -- the page in headless Chromium ----------------------------------------------------------------

@pytest.fixture(scope="module")
def url(browser, version, tmp_path_factory):
    process, address = start_server(version, (tmp_path_factory.mktemp("draw-log") / "serve.log").open("w"))
    yield address
    process.terminate()
    process.wait(timeout=10)


def blocks(browser, element_id, size=28):
    """The grey level at the centre of each of the canvas's size x size blocks, and its alpha."""
    drawn = canvas_pixels(browser, element_id)
    centres = ((np.arange(size) + 0.5) * drawn.shape[0] / size).astype(int)
    return drawn[np.ix_(centres, centres)]


def draw(browser, button="draw-generate"):
    """Clicks `button`, recording every value #draw-canvas's data-steps takes; the page's state
    and those values."""
    browser.execute_script("""
        window.stepsSeen = [];
        window.stepsObserver?.disconnect();
        window.stepsObserver = new MutationObserver(
          () => window.stepsSeen.push(document.getElementById('draw-canvas').dataset.steps));
        window.stepsObserver.observe(document.getElementById('draw-canvas'),
                                     {attributes: true, attributeFilter: ['data-steps']});""")
    state = act(browser, lambda: click(browser, button))
    return state, [int(s) for s in browser.execute_script("return window.stepsSeen")]


def check_drawn(browser, drawer, seed):
    """The page's canvas is the driver's image for `seed` and its window the last step's."""
    want = drawer.generate([seed])
    shown = blocks(browser, "draw-canvas")
    assert (shown[..., 3] == 255).all()
    np.testing.assert_allclose(shown[..., 0], np.round(255 * want["images"][0, ..., 0]), atol=1)
    window = json.loads(browser.execute_script("return document.getElementById('draw-window').dataset.window"))
    np.testing.assert_allclose(window, want["windows"][0, -1], atol=1e-4)
    return want


def check_rectangle(browser, window, write_size=3, scale=8, size=224):
    """The overlay holds the window's rectangle g +- (N / 2) delta in canvas pixels, its part past
    the canvas cut at the canvas's edge (1 pixel in), and nothing else."""
    gx, gy, delta = window[:3]
    half = write_size / 2 * delta
    rect = np.array([gx - half - 0.5, gy - half - 0.5, gx + half - 0.5, gy + half - 0.5]) * scale
    got = json.loads(browser.execute_script("return document.getElementById('draw-window').dataset.rect"))
    np.testing.assert_allclose(got, rect, atol=1e-3)
    x0, y0 = max(1, rect[0]), max(1, rect[1])
    x1, y1 = min(size - 1, rect[2]), min(size - 1, rect[3])
    alpha = canvas_pixels(browser, "draw-window")[..., 3]
    ys, xs = np.nonzero(alpha)
    assert len(xs) > 0
    near = np.minimum.reduce([np.abs(xs + 0.5 - x0), np.abs(xs + 0.5 - x1), np.abs(ys + 0.5 - y0),
                              np.abs(ys + 0.5 - y1)])
    assert (near <= 1.5).all()  # every pixel drawn is on the outline (a 2-pixel line)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (
        int(np.floor(x0 - 1)), int(np.ceil(x1 + 1)) - 1, int(np.floor(y0 - 1)), int(np.ceil(y1 + 1)) - 1)


def test_the_page_animates_a_generated_digit_with_its_window(browser, url, drawer):
    open_page(browser, url)
    assert browser.find_element("id", "draw-ui").is_displayed()
    set_value(browser, "draw-seed", "5")
    state, seen = draw(browser)
    assert state == "ready", error_text(browser)
    assert seen == list(range(1, STEPS + 1))  # one frame per step
    want = check_drawn(browser, drawer, 5)
    check_rectangle(browser, want["windows"][0, -1])
    assert browser.find_element("id", "draw-step").text == f"Seed 5: step {STEPS} of {STEPS}"

    # Draw again: a new seed, shown in the field, and its digit.
    state, seen = draw(browser, "draw-again")
    assert state == "ready", error_text(browser)
    seed = int(browser.execute_script("return document.getElementById('draw-seed').value"))
    assert seed != 5 and browser.execute_script("return document.getElementById('draw-canvas').dataset.seed") == str(seed)
    assert seen == list(range(1, STEPS + 1))
    again = check_drawn(browser, drawer, seed)
    assert np.abs(again["images"] - want["images"]).max() > 1e-3


def test_a_digit_drawn_on_the_pad_is_reconstructed_as_the_python_driver(browser, url, drawer):
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(browser, url)
    set_value(browser, "draw-seed", "-3")
    pad = browser.find_element("id", "draw-pad")
    stroke = (ActionChains(browser).move_to_element_with_offset(pad, -50, -70).click_and_hold()
              .move_by_offset(100, 0).move_by_offset(-60, 140).release())
    stroke.perform()
    before = canvas_pixels(browser, "draw-reconstruction")
    state = act(browser, lambda: click(browser, "draw-reconstruct"))
    assert state == "ready", error_text(browser)
    encoded = browser.execute_script("return document.getElementById('draw-pad').dataset.input")
    rgba = np.frombuffer(base64.b64decode(encoded), np.uint8).reshape(28, 28, 4)
    assert (rgba[..., 0] >= 128).sum() > 20  # the stroke, binarized, is there
    grey = (rgba[..., :1].astype(np.float32) / np.float32(255))[None]
    want = drawer.reconstruct(grey, [-3])
    bound = float(browser.execute_script("return document.getElementById('draw-bound').dataset.bound"))
    assert bound == pytest.approx(float(want["nll_bound"][0]), rel=1e-5)
    assert f"{want['nll_bound'][0]:.2f} nats" in browser.find_element("id", "draw-bound").text
    shown = blocks(browser, "draw-reconstruction")
    np.testing.assert_allclose(shown[..., 0], np.round(255 * want["reconstructions"][0, ..., 0]), atol=1)
    assert not np.array_equal(before, canvas_pixels(browser, "draw-reconstruction"))
    assert browser.execute_script("return document.getElementById('draw-reconstruction').dataset.steps") == str(STEPS)


def test_bad_seeds_show_a_message_in_the_page(browser, url):
    open_page(browser, url)
    for seed, message in (("1.5", 'Seed must be a whole number, got "1.5"'), ("", "Seed must be a whole number"),
                          (str(2**63), "seed must be a 64-bit signed integer")):
        set_value(browser, "draw-seed", seed)
        assert act(browser, lambda: click(browser, "draw-generate")) == "error"
        assert message in error_text(browser), error_text(browser)
        assert act(browser, lambda: click(browser, "draw-reconstruct")) == "error"
        assert message in error_text(browser)
    set_value(browser, "draw-seed", "1")
    assert act(browser, lambda: click(browser, "draw-generate")) == "ready" and error_text(browser) == ""
