"""The browser page (`export/web/`, served by `export/serve_web.py`) computes what the Python ONNX
drivers compute, in a real headless Chromium, and shows bad input as a message in the page.

Fast (no browser, no TensorFlow): the server serves the page, ONNX Runtime Web's WASM build and,
of a version, only the card and the ONNX files it lists, each file's own bytes with its MIME
type; it refuses every path outside those (404), and bad input ends in one `error:` line and
exit status 2.

Slow (marked `slow`): tiny untrained exports of each kind, each served by `serve_web.py` in its
own process, driven by Selenium in headless Chromium: the char text for a seed, temperature and
top-k is `CharGenerator.generate`'s; the captions (greedy and beam 3, the image chosen or
dropped, its name then shown) are `CaptionerONNX`'s tokens for the same pixels (a PNG at the model's input size, and
of other sizes resized as `resize_image` resizes), and the attention map drawn for a word holds
and shows that word's weights; the digit class and probabilities are those of `classifier.onnx`
in ONNX Runtime (Python), the rectified image drawn is `rectifier.onnx`'s, and a digit drawn
with the pointer is prepared as documented (a Python reference of it) and classified as
`classifier.onnx` classifies the prepared pixels; a text file named .png, a PNG claiming more
pixels than max_image_pixels, a prime character outside the vocabulary and limits of the model
card show a message in the page, as does a model card naming a kind outside the page's table
of kinds (nothing is imported for it).
Without Chromium and chromedriver (Debian: `apt-get install chromium chromium-driver`),
Selenium or ONNX Runtime Web (`make install`) they skip, saying which is missing.
"""

import base64
import http.client
import json
import pathlib
import shutil
import socket
import struct
import subprocess
import sys
import threading
import zlib

import numpy as np
import pytest

from fake_web import fake_page, fake_version
import web_browser
from web_browser import act, canvas_pixels, click, error_text, open_page, set_value, start_server, wait_for
from kerasrnn.export import web_files
from script_runs import run_script, script_module

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAR_MAX_LENGTH = 100  # the tiny char export's max_length limit


# -- the server, without a browser ---------------------------------------------------------------

@pytest.fixture
def site(tmp_path):
    """`(host, port)` of the page server (`serve_web.make_server`) on a fake page and
    version, in a thread; `tmp_path/secret.txt` lies beside both."""
    (tmp_path / "secret.txt").write_text("secret")
    version = fake_version(tmp_path / "models" / "tiny" / "1")
    page = fake_page(tmp_path / "web")
    (page / "link.mjs").symlink_to(tmp_path / "secret.txt")
    make_server = script_module("export/serve_web.py").make_server
    server = make_server(web_files.web_site(version, page), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address
    server.shutdown()
    server.server_close()


def fetch(address, path, method="GET", headers=None, response_header="Content-Type"):
    """`(status, a header, body)` of a request for `path` sent as it is (not normalised)."""
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.getheader(response_header), response.read()
    finally:
        connection.close()


SERVED = {
    "/": "text/html; charset=utf-8",
    "/index.html": "text/html; charset=utf-8",
    "/page.mjs": "text/javascript; charset=utf-8",
    "/driver/kind.mjs": "text/javascript; charset=utf-8",
    "/style.css": "text/css; charset=utf-8",
    "/help.html": "text/html; charset=utf-8",
    "/extra.js": "text/javascript; charset=utf-8",
    "/images/logo.png": "image/png",
    "/images/logo.svg": "image/svg+xml",
    "/favicon.ico": "image/x-icon",
    "/ort/ort.wasm.min.mjs": "text/javascript; charset=utf-8",
    "/ort/ort-wasm-simd-threaded.mjs": "text/javascript; charset=utf-8",
    "/ort/ort-wasm-simd-threaded.wasm": "application/wasm",
    "/model/assets.extra/model_card.json": "application/json",
    "/model/onnx/step.onnx": "application/octet-stream",
    "/model/onnx/vocab.json": "application/json",
    "/model/onnx/limits.json?cache=no": "application/json",
}


def served_file(tmp_path, path):
    """The file of the `site` fixture (built in `tmp_path`) that a served path names."""
    relative = path.split("?", 1)[0][1:] or "index.html"
    if relative.startswith("model/"):
        return tmp_path / "models" / "tiny" / "1" / relative[len("model/"):]
    if relative.startswith("ort/"):
        return tmp_path / "web" / web_files.ORT_DIST / relative[len("ort/"):]
    return tmp_path / "web" / relative


def test_the_server_serves_the_page_onnx_runtime_web_and_the_listed_model_files(site, tmp_path):
    for path, mime in SERVED.items():
        status, content_type, body = fetch(site, path)
        assert (status, content_type) == (200, mime), path
        assert body == served_file(tmp_path, path).read_bytes(), path
    _, policy, _ = fetch(site, "/", response_header="Content-Security-Policy")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    status, content_type, body = fetch(site, "/ort/ort-wasm-simd-threaded.wasm", "HEAD")
    assert (status, content_type, body) == (200, "application/wasm", b"")
    # A browser's copy is checked, not sent again.
    _, tag, _ = fetch(site, "/ort/ort-wasm-simd-threaded.wasm", response_header="ETag")
    assert fetch(site, "/ort/ort-wasm-simd-threaded.wasm", headers={"If-None-Match": tag})[::2] == (304, b"")
    assert fetch(site, "/ort/ort-wasm-simd-threaded.wasm", headers={"If-None-Match": '"other"'})[0] == 200


def test_the_page_server_loads_no_tensorflow_or_onnxruntime():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import script_runs; "
            "script_runs.script_module('export/serve_web.py'); import kerasrnn.export.web_files; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'onnxruntime', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "tests")], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


REFUSED = [
    "/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "//secret.txt", "/./index.html",
    "/model/../../../../secret.txt", "/model/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/model/onnx/../../../../secret.txt", "/model/onnx/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
    "/model/saved_model.pb", "/model/onnx/unlisted.onnx", "/model/onnx/", "/model/", "/model",
    "/ort/../../../../package.json", "/ort/ort.all.min.mjs", "/ort/", "/package.json",
    "/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs", "/.hidden.mjs", "/notes.txt", "/link.mjs",
    "/driver/../../secret.txt", "/driver/%2e%2e/%2e%2e/secret.txt", "/page.mjs%00.png", "/%ff.mjs",
    "/driver\\..\\..\\secret.txt", "/driver/",
]


def test_paths_outside_what_the_page_needs_are_refused(site):
    for path in REFUSED:
        status, _, body = fetch(site, path)
        assert status == 404 and b"secret" not in body, path
    assert fetch(site, "/index.html", "POST")[0] == 501
    assert fetch(site, "/index.html", "PUT")[0] == 501


def one_error_line(capsys):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("case,expected", [
    ("missing", "does not exist; give BASE/NAME/VERSION"),
    ("no card",
     "is not an exported kerasrnn model version (no saved_model.pb or assets.extra/model_card.json)"),
    ("missing onnx file", "onnx/step.onnx is missing (the model card lists it); export the model again"),
    ("no onnx files listed", "lists no ONNX files (onnx.files)"),
    ("damaged card", "model_card.json"),
    ("onnxruntime-web not installed", "onnxruntime-web is not installed in"),
    ("port in use", "is in use; choose another with --port"),
])
def test_bad_input_ends_in_one_error_line(tmp_path, capsys, script, case, expected):
    version = tmp_path / "models" / "tiny" / "1"
    page = fake_page(tmp_path / "web", ort=case != "onnxruntime-web not installed")
    argv = [str(version), "--port", "0", "--page-dir", str(page)]
    if case != "missing":
        fake_version(version)
    if case == "no card":
        (version / "assets.extra" / "model_card.json").unlink()
    elif case == "missing onnx file":
        (version / "onnx" / "step.onnx").unlink()
    elif case == "no onnx files listed":
        card = json.loads((version / "assets.extra" / "model_card.json").read_text())
        card["onnx"] = {"opset": 17}
        (version / "assets.extra" / "model_card.json").write_text(json.dumps(card))
    elif case == "damaged card":
        (version / "assets.extra" / "model_card.json").write_text('{"format": ')
    busy = socket.socket()
    try:
        if case == "port in use":
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            argv = [str(version), "--port", str(busy.getsockname()[1]), "--page-dir", str(page)]
        assert script("export/serve_web.py")(argv) == 2
    finally:
        busy.close()
    err = one_error_line(capsys)
    assert expected in err, err
    if case == "onnxruntime-web not installed":
        assert "run `make install` (or `npm ci --ignore-scripts` in export/web)" in err


def test_a_bad_version_folder_exits_2_with_one_error_line(tmp_path):
    done = run_script("export/serve_web.py", tmp_path / "nothing", timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr


# -- the page in headless Chromium ----------------------------------------------------------------

browser = web_browser.browser  # the fixture (tests/web_browser.py)


@pytest.fixture(scope="module")
def versions(browser, tmp_path_factory):
    """`{kind: version_dir}`: tiny untrained exports of a char LSTM (max_length 100), a captioner
    (32 x 32 images) and an ST-CNN (28 x 28 digits, with a rectifier)."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    import keras

    from kerasrnn.kinds import registry
    from tiny_runs import captioner_run, char_run, st_cnn_run

    root = tmp_path_factory.mktemp("web")
    out = {}
    for kind, make, options in (("char", char_run, {"max_length": CHAR_MAX_LENGTH}),
                                ("captioner", captioner_run, {}), ("stn", st_cnn_run("affine"), {})):
        keras.utils.set_random_seed(0)
        make(root / f"run-{kind}")
        out[kind] = registry.export_model(root / f"run-{kind}", root / "models", kind, **options)
    return out


@pytest.fixture(scope="module")
def urls(versions, tmp_path_factory):
    """`{kind: URL}` of one `serve_web.py` process per version."""
    logs = tmp_path_factory.mktemp("web-logs")
    servers = {}
    try:
        for kind, version in versions.items():
            servers[kind] = start_server(version, (logs / f"{kind}.log").open("w"))
        yield {kind: url for kind, (_, url) in servers.items()}
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=10)


def choose_file(browser, element_id, path):
    browser.find_element("id", element_id).send_keys(str(path))


def chosen_name(browser, kind):
    """The file name the page shows in the `kind` ("caption" or "stn") file zone."""
    return browser.find_element("id", f"{'caption' if kind == 'captioner' else kind}-file-name").text


def drop_file(browser, zone_id, path):
    """Drops the file at `path` on the element `zone_id`, as a user dragging it onto the page."""
    browser.execute_script("""
        const [zoneId, name, encoded] = arguments;
        const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: "image/png"}));
        const zone = document.getElementById(zoneId);
        for (const type of ["dragover", "drop"]) {
          zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""", zone_id, path.name, base64.b64encode(path.read_bytes()).decode())


def generate(browser, prime, length, temperature, top_k, seed):
    for element_id, value in (("prime", prime), ("length", str(length)), ("temperature", str(temperature)),
                              ("top-k", str(top_k)), ("seed", str(seed))):
        set_value(browser, element_id, value)
    return act(browser, lambda: click(browser, "generate"))


CHAR_CASES = [("def se", 60, 0.8, 5, 7), ("", 40, 0.0, 0, 0), ("(a, b", 50, 1.3, 0, 2**63 - 1),
              ("x", 30, 0.5, 3, -12345)]


@pytest.mark.slow
def test_the_char_page_generates_the_python_drivers_text(browser, versions, urls):
    from kerasrnn.kinds.char_rnn.onnx_driver import CharGenerator

    generator = CharGenerator(versions["char"] / "onnx")
    open_page(browser, urls["char"])
    assert browser.find_element("id", "char-ui").is_displayed()
    # Counts the pieces of text that arrive, to see the text streamed into the page.
    browser.execute_script("window.pieces = 0; new MutationObserver(() => window.pieces++)"
                           ".observe(document.getElementById('char-text'), {childList: true})")
    for prime, length, temperature, top_k, seed in CHAR_CASES:
        assert generate(browser, prime, length, temperature, top_k, seed) == "ready", error_text(browser)
        text = browser.execute_script("return document.getElementById('char-text').textContent")
        want = generator.generate(prime, length, temperature=temperature, top_k=top_k, seed=seed)
        assert text == want, (prime, length, temperature, top_k, seed)
        assert browser.execute_script("return document.getElementById('char-prime').textContent") == prime
    assert browser.execute_script("return window.pieces") >= sum(case[1] for case in CHAR_CASES)


@pytest.mark.slow
def test_the_char_page_shows_bad_requests_as_messages(browser, urls):
    open_page(browser, urls["char"])
    assert generate(browser, "deZ", 20, 0.8, 0, 0) == "error"
    assert "Z" in error_text(browser) and "vocabulary" in error_text(browser)
    assert generate(browser, "def", CHAR_MAX_LENGTH + 1, 0.8, 0, 0) == "error"
    assert "max_length" in error_text(browser) and str(CHAR_MAX_LENGTH) in error_text(browser)
    assert generate(browser, "def", 10, 0.8, 0, "1.5") == "error"
    assert "Seed must be a whole number" in error_text(browser)
    assert generate(browser, "def", 10, 0.8, 0, 1) == "ready" and error_text(browser) == ""


@pytest.mark.slow
def test_stop_ends_a_generation_early(browser, versions, urls):
    """*Stop*, enabled only while a generation runs, ends it after the text so far (a prefix of
    the Python driver's text); *Generate* is disabled meanwhile."""
    from kerasrnn.export.char.onnx_driver import CharGenerator

    open_page(browser, urls["char"])
    assert browser.execute_script("return [document.getElementById('stop').disabled, "
                                  "document.getElementById('generate').disabled]") == [True, False]
    # Stop is clicked when the first piece of text arrives.
    browser.execute_script("""
        window.seen = null;
        const observer = new MutationObserver(() => {
          observer.disconnect();
          window.seen = [document.getElementById('stop').disabled, document.getElementById('generate').disabled];
          document.getElementById('stop').click();
        });
        observer.observe(document.getElementById('char-text'), {childList: true});""")
    assert generate(browser, "def", CHAR_MAX_LENGTH, 0.8, 0, 3) == "ready", error_text(browser)
    assert browser.execute_script("return window.seen") == [False, True]
    assert browser.find_element("id", "status").text == "Stopped."
    text = browser.execute_script("return document.getElementById('char-text').textContent")
    want = CharGenerator(versions["char"] / "onnx").generate("def", CHAR_MAX_LENGTH, temperature=0.8, seed=3)
    assert 1 <= len(text) < CHAR_MAX_LENGTH // 2 and want.startswith(text), (text, want)
    assert browser.execute_script("return [document.getElementById('stop').disabled, "
                                  "document.getElementById('generate').disabled]") == [True, False]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["../../index", "__proto__", "char"])
def test_a_card_of_a_kind_outside_the_table_shows_a_message(browser, tmp_path, kind):
    """The page imports a kind's modules only for a kind of driver/kind.mjs's table: a card naming
    another kind (a path, an Object property, the old driver name) loads nothing and says so."""
    version = fake_version(tmp_path / "models" / "tiny" / "1")
    card_path = version / "assets.extra" / "model_card.json"
    card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "kind": kind}))
    process, url = start_server(version, (tmp_path / "serve.log").open("w"))
    try:
        browser.get(url)
        state = wait_for(browser, "const s = document.body.dataset.state; return s !== 'loading' && s")
        assert state == "error"
        assert error_text(browser) == (f"The model did not load: the model card names kind {json.dumps(kind)}; "
                                       "these drivers run captioner, char_rnn, draw, stn_classifier")
        assert browser.execute_script("return document.getElementById('controls').children.length") == 0
        assert browser.execute_script("return document.body.dataset.kind ?? null") is None
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_png(path, pixels):
    from PIL import Image

    Image.fromarray(pixels).save(path)
    return path


def word_alphas(captioner, caption):
    """The attention map (L,) of each word of `caption` (a `Caption`): its tokens before <end>,
    without <pad> and <start>, as the page shows them."""
    maps = []
    for token, alphas in zip(caption.tokens, caption.alphas):
        if token == captioner.end_id:
            break
        if token not in (captioner.pad_id, captioner.start_id):
            maps.append(np.reshape(alphas, -1))
    return maps


def drawn_attention(browser):
    """`(word index, weights, alpha)` of the attention map the page shows: the index of the word,
    the weights it holds (data-weights) and the canvas's alpha channel (H, W)."""
    word, weights, width, alpha = browser.execute_script("""
        const c = document.getElementById('caption-attention');
        const a = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return [c.dataset.word, c.dataset.weights, c.width, Array.from(a.filter((_, i) => i % 4 === 3))];""")
    return int(word), np.asarray(json.loads(weights)), np.reshape(alpha, (-1, width))


def check_attention_drawn(alpha, weights):
    """The map drawn over the image is `weights` upscaled: at each grid cell's centre the alpha
    the page gives the cell (dimmer where the model weighed less), the most weighed cell the
    least dimmed."""
    g = int(round(np.sqrt(weights.size)))
    assert g * g == weights.size
    rows = ((np.arange(g) + 0.5) * alpha.shape[0] / g).astype(int)
    columns = ((np.arange(g) + 0.5) * alpha.shape[1] / g).astype(int)
    centres = alpha[np.ix_(rows, columns)].reshape(-1).astype(float)
    share = weights / weights.max()
    want = 255 * (0.62 * (1 - share) + 0.42 * share)
    np.testing.assert_allclose(centres, want, atol=1.5)  # 8-bit rounding and the upscaling filter
    assert np.corrcoef(centres, want)[0, 1] > 0.9  # these weights in these cells, not transposed or shifted


@pytest.mark.slow
def test_the_captioner_page_captions_as_the_python_driver_and_draws_attention(browser, versions, urls,
                                                                            tmp_path):
    from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX

    captioner = CaptionerONNX(versions["captioner"] / "onnx")
    pixels = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    image = write_png(tmp_path / "scene.png", pixels)
    images = pixels[None].astype(np.float32) / np.float32(255)
    open_page(browser, urls["captioner"])
    for beam in (1, 3):
        set_value(browser, "beam", str(beam))
        if beam == 1:
            state = act(browser, lambda: choose_file(browser, "caption-file", image))
        else:
            state = act(browser, lambda: click(browser, "caption-button"))
        assert state == "ready", error_text(browser)
        assert chosen_name(browser, "caption") == "scene.png"  # not the emptied input's "No file chosen"
        tokens = browser.execute_script("return document.getElementById('caption-words').dataset.tokens")
        want = captioner.beam_search(images, beam_width=beam)[0].tokens
        assert [int(t) for t in tokens.split()] == want, beam
    words = browser.find_elements("css selector", "#caption-words .word")
    want = captioner.beam_search(images, beam_width=3)[0]
    assert [w.text for w in words] == captioner.decode(want.tokens).split()
    assert words, "the tiny captioner wrote an empty caption; pick another test image"
    maps = word_alphas(captioner, want)
    word, weights, alpha = drawn_attention(browser)
    assert word == 0
    np.testing.assert_allclose(weights, maps[0], atol=1e-5)
    check_attention_drawn(alpha, weights)
    words[-1].click()
    word, weights, alpha = drawn_attention(browser)
    assert word == len(words) - 1
    np.testing.assert_allclose(weights, maps[-1], atol=1e-5)
    check_attention_drawn(alpha, weights)

    set_value(browser, "beam", "11")
    assert act(browser, lambda: click(browser, "caption-button")) == "error"
    assert "max_beam_width" in error_text(browser)

    # the same image dropped on the page instead of chosen (under another name, which is shown)
    set_value(browser, "beam", "1")
    browser.execute_script("document.getElementById('caption-words').dataset.tokens = ''")
    dropped = pathlib.Path(shutil.copy(image, tmp_path / "dropped.png"))
    assert act(browser, lambda: drop_file(browser, "caption-drop", dropped)) == "ready", error_text(browser)
    assert chosen_name(browser, "caption") == "dropped.png"
    tokens = browser.execute_script("return document.getElementById('caption-words').dataset.tokens")
    assert [int(t) for t in tokens.split()] == captioner.beam_search(images, beam_width=1)[0].tokens


@pytest.mark.slow
def test_the_captioner_page_resizes_as_training_does(browser, versions, urls, tmp_path):
    """An image of another size is resized as training resized it (`resize_image`): the page's
    caption is `CaptionerONNX`'s of the resized pixels."""
    from kerasrnn.data.image_files import resize_image
    from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX

    captioner = CaptionerONNX(versions["captioner"] / "onnx")
    open_page(browser, urls["captioner"])
    set_value(browser, "beam", "3")
    rng = np.random.default_rng(11)
    for shape in ((50, 70, 3), (17, 23, 3)):  # shrunk and enlarged
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        image = write_png(tmp_path / f"scene-{shape[0]}.png", pixels)
        assert act(browser, lambda: choose_file(browser, "caption-file", image)) == "ready", error_text(browser)
        tokens = browser.execute_script("return document.getElementById('caption-words').dataset.tokens")
        want = captioner.beam_search(resize_image(pixels, captioner.image_size).numpy()[None], beam_width=3)[0]
        assert [int(t) for t in tokens.split()] == want.tokens, shape


@pytest.mark.slow
def test_a_file_that_is_no_image_or_too_large_shows_a_message(browser, urls, tmp_path):
    """A file the browser cannot decode, a PNG whose header claims more pixels than
    max_image_pixels (refused before decoding: its pixel data is missing), and a JPEG of more
    scans than the captioner's decoding work allows."""
    bad = tmp_path / "notes.png"
    bad.write_text("these are notes, not a picture\n")
    huge = tmp_path / "huge.png"
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", 5000, 5000, 8, 2, 0, 0, 0)
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr)))
    for kind, input_id in (("captioner", "caption-file"), ("stn", "stn-file")):
        open_page(browser, urls[kind])
        assert act(browser, lambda: choose_file(browser, input_id, bad)) == "error"
        assert "notes.png is not an image the browser can decode" in error_text(browser), kind
        assert chosen_name(browser, kind) == "notes.png", kind
        assert act(browser, lambda: choose_file(browser, input_id, huge)) == "error"
        assert "huge.png is 5000 x 5000 pixels, more than the model takes (max_image_pixels 16777216)" \
            in error_text(browser), kind
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from costly_images import progressive_jpeg

    scans = tmp_path / "scans.jpg"  # the captioner's max_decode_work: refused before the browser decodes it
    scans.write_bytes(progressive_jpeg(64, 64, repeats=300))
    open_page(browser, urls["captioner"])
    assert act(browser, lambda: choose_file(browser, "caption-file", scans)) == "error"
    assert "scans.jpg needs too much decoding: a JPEG of at most 100 scans is accepted; it holds 310" \
        in error_text(browser)


def digit_pixels():
    """A 28 x 28 grey 7: light strokes on black, as MNIST's digits."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (28, 28), 0)
    draw = ImageDraw.Draw(image)
    draw.line([(7, 7), (21, 7), (12, 23)], fill=255, width=3)
    draw.line([(10, 15), (19, 15)], fill=200, width=2)
    return np.asarray(image)


def classified_input(browser, size=28):
    """The image the page last classified (#stn-draw's data-input), RGBA (size, size, 4)."""
    encoded = browser.execute_script("return document.getElementById('stn-draw').dataset.input")
    return np.frombuffer(base64.b64decode(encoded), np.uint8).reshape(size, size, 4)


def shown_probabilities(browser):
    """`(class shown, probabilities shown)` of the STN page."""
    shown = browser.execute_script("return document.getElementById('stn-class').dataset.class")
    got = json.loads(browser.execute_script("return document.getElementById('stn-probabilities').dataset.values"))
    return int(shown), np.asarray(got)


def centre_of_mass(grey):
    """`(row, column)` of a grey image's centre of mass."""
    rows, columns = np.indices(grey.shape)
    return np.array([(rows * grey).sum(), (columns * grey).sum()]) / grey.sum()


def prepared_like_mnist(drawing, size=28):
    """The documented preparation of a drawing (grey, dark background), in Python: the strokes'
    bounding box scaled to fit 20 / 28 of `size` (aspect kept), placed with its centre of mass at
    the centre of a `size` x `size` image."""
    from PIL import Image

    rows, columns = np.nonzero(drawing)
    box = drawing[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    scale = (size * 20 / 28) / max(box.shape)
    height, width = (max(1, round(n * scale)) for n in box.shape)
    small = np.asarray(Image.fromarray(box).resize((width, height), Image.Resampling.BOX), np.float64)
    out = np.zeros((size, size))
    top, left = (size - height) // 2, (size - width) // 2
    out[top:top + height, left:left + width] = small
    shift = np.round((size - 1) / 2 - centre_of_mass(out)).astype(int)
    return np.roll(out, shift, axis=(0, 1))


@pytest.mark.slow
def test_the_stn_page_classifies_as_onnx_runtime_and_shows_the_rectified_image(browser, versions, urls,
                                                                             tmp_path):
    import onnxruntime
    from selenium.webdriver.common.action_chains import ActionChains

    onnx_dir = versions["stn"] / "onnx"
    classifier, rectifier = (onnxruntime.InferenceSession(str(onnx_dir / f"{name}.onnx"),
                                                          providers=["CPUExecutionProvider"])
                             for name in ("classifier", "rectifier"))
    pixels = digit_pixels()
    image = write_png(tmp_path / "seven.png", pixels)
    images = pixels[None, :, :, None].astype(np.float32) / np.float32(255)
    want = classifier.run(["probabilities"], {"images": images})[0][0]
    open_page(browser, urls["stn"])
    assert act(browser, lambda: choose_file(browser, "stn-file", image)) == "ready", error_text(browser)
    # An image at the model's input size is classified pixel for pixel.
    np.testing.assert_array_equal(classified_input(browser)[..., :3], np.repeat(pixels[..., None], 3, axis=-1))
    shown, got = shown_probabilities(browser)
    assert shown == int(np.argmax(want))
    np.testing.assert_allclose(got, want, atol=1e-5)
    # The rectified image drawn is rectifier.onnx's output, 8-bit, each pixel scaled up to a block.
    assert browser.find_element("id", "stn-rectified-figure").is_displayed()
    rectified = rectifier.run(["rectified"], {"images": images})[0][0]
    drawn = canvas_pixels(browser, "stn-rectified")
    rows = ((np.arange(rectified.shape[0]) + 0.5) * drawn.shape[0] / rectified.shape[0]).astype(int)
    columns = ((np.arange(rectified.shape[1]) + 0.5) * drawn.shape[1] / rectified.shape[1]).astype(int)
    blocks = drawn[np.ix_(rows, columns)]
    want_drawn = np.round(255 * np.clip(rectified, 0, 1))
    np.testing.assert_allclose(blocks[..., :3], np.broadcast_to(want_drawn, blocks[..., :3].shape), atol=1)
    assert (blocks[..., 3] == 255).all() and want_drawn.max() > 0

    # A digit drawn with the pointer is prepared as MNIST's digits were and classified when the
    # stroke ends.
    click(browser, "stn-clear")
    canvas = browser.find_element("id", "stn-draw")
    stroke = (ActionChains(browser).move_to_element_with_offset(canvas, -60, -80).click_and_hold()
              .move_by_offset(120, 0).move_by_offset(-70, 170).release())
    assert act(browser, stroke.perform) == "ready", error_text(browser)
    drawing = canvas_pixels(browser, "stn-draw")[..., 0]
    prepared = classified_input(browser)
    grey = prepared[..., 0].astype(np.float64)
    assert (prepared[..., 0] == prepared[..., 1]).all() and (prepared[..., 0] == prepared[..., 2]).all()
    reference = prepared_like_mnist(drawing)
    # Within the browser's and PIL's filters of each other: the same box and centre of mass.
    assert np.abs(grey - reference).mean() < 8
    boxes = [np.array([f(np.nonzero(a > 64)[axis]) for axis in (0, 1) for f in (np.min, np.max)])
             for a in (grey, reference)]
    assert np.abs(boxes[0] - boxes[1]).max() <= 1, boxes
    assert max(boxes[0][1] - boxes[0][0], boxes[0][3] - boxes[0][2]) + 1 in (19, 20, 21), boxes
    assert np.abs(centre_of_mass(grey) - 13.5).max() <= 0.6
    images = (grey / 255).astype(np.float32)[None, :, :, None]  # float32(byte) / 255, as the driver reads it
    want = classifier.run(["probabilities"], {"images": images})[0][0]
    shown, got = shown_probabilities(browser)
    assert shown == int(np.argmax(want))
    np.testing.assert_allclose(got, want, atol=1e-5)
