"""The JavaScript drivers (export/web/driver/ and each kind's export/web/kinds/KIND/driver.mjs, shared
by the web page and export/node/example.mjs)
compute what the Python ONNX drivers compute: the counter-based random numbers bit for bit, the
sampling rule's choices, the beam search's captions, and, end to end on tiny exported models, the
same generated text, the same caption tokens and the same digit probabilities; the example
refuses bad input with one `error:` line.

Skips, saying why, without `node` on the PATH; the end-to-end tests also without export/node's
packages (`npm ci --ignore-scripts` in export/node). The random numbers, the sampling rule and
the beam search need only `node`.
"""

import base64
import json
import pathlib
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from kerasrnn.kinds.char_rnn.onnx_driver import counter_uniform
from kerasrnn.kinds.captioner.beam_search_numpy import beam_search
from kerasrnn.kinds.char_rnn.token_choice import choose_next

ROOT = pathlib.Path(__file__).resolve().parents[1]
NODE = shutil.which("node")
NODE_DIR = ROOT / "export" / "node"
DRIVER = ROOT / "export" / "web" / "driver"
KINDS = ROOT / "export" / "web" / "kinds"
EXAMPLE = NODE_DIR / "example.mjs"
PACKAGES = ("onnxruntime-node", "pngjs", "jpeg-js")

pytestmark = pytest.mark.skipif(NODE is None, reason="no `node` on the PATH")


def node_json(script, data, cwd=None):
    """Runs an ES module `script` (given `data` as JSON on stdin, `DRIVER` and `KINDS` as the URLs
    of those folders) in node, in the folder `cwd` (whose node_modules its bare imports resolve
    from); returns the JSON it prints."""
    source = (f"const DRIVER = {json.dumps(DRIVER.as_uri() + '/')};\n"
              f"const KINDS = {json.dumps(KINDS.as_uri() + '/')};\n"
              "const input = JSON.parse((await import('node:fs')).default.readFileSync(0, 'utf8'));\n" + script)
    done = subprocess.run([NODE, "--input-type=module", "-e", source], input=json.dumps(data),
                          capture_output=True, text=True, timeout=120, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def example(*args):
    """`node export/node/example.mjs ARGS`: the finished process (skips without export/node's
    packages)."""
    if not all((NODE_DIR / "node_modules" / p).is_dir() for p in PACKAGES):
        pytest.skip("export/node's packages are not installed (npm ci --ignore-scripts in export/node)")
    return subprocess.run([NODE, str(EXAMPLE), *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


# --- the random numbers, the sampling rule and the beam search, on fixed numbers -----------------

def test_counter_uniform_is_bit_identical():
    rng = np.random.default_rng(0)
    seeds = [0, 1, -1, 7, -7, 2**62, -2**62, 2**63 - 1, -2**63, 2**53 + 1,
             *map(int, rng.integers(-2**63, 2**63 - 1, 40, dtype=np.int64))]
    indices = [0, 1, 2, 3, 99, 1000, 2**31, 2**40, *map(int, rng.integers(0, 10**6, 12))]
    want = [[float(counter_uniform(s, i)) for i in indices] for s in seeds]
    got = node_json("""
        const { counterUniform } = await import(DRIVER + "rng.mjs");
        console.log(JSON.stringify(input.seeds.map((s) => input.indices.map((i) => counterUniform(s, i)))));
        """, {"seeds": [str(s) for s in seeds], "indices": indices})
    assert got == want  # exact float64 equality (JSON round-trips float64 exactly)


def test_counter_normal_is_pythons_within_float_rounding():
    """Box-Muller in float64 on the same uniforms: equal to `counter_normal` within 1e-12 (the
    last bits of Math.log1p and Math.cos may differ from numpy's), for negative and int64-extreme
    seeds, large indices included; an index outside [0, 2**62) is refused."""
    from kerasrnn.export.counter_random import counter_normal

    rng = np.random.default_rng(2)
    seeds = [0, 1, -1, -3, 7, 2**63 - 1, -2**63, 2**53 + 1,
             *map(int, rng.integers(-2**63, 2**63 - 1, 20, dtype=np.int64))]
    indices = [0, 1, 2, 99, 1000, 2**31, 2**40, 2**62 - 1, *map(int, rng.integers(0, 10**6, 20))]
    want = np.array([[float(counter_normal(s, i)) for i in indices] for s in seeds])
    got = node_json("""
        const { counterNormal } = await import(DRIVER + "rng.mjs");
        const refused = (i) => { try { counterNormal(0, i); return null; } catch (e) { return e.message; } };
        console.log(JSON.stringify({
          values: input.seeds.map((s) => input.indices.map((i) => counterNormal(s, BigInt(i)))),
          refused: [refused(-1), refused(2n ** 62n), refused(1.5)],
        }));
        """, {"seeds": [str(s) for s in seeds], "indices": [str(i) for i in indices]})
    np.testing.assert_allclose(np.array(got["values"]), want, rtol=0, atol=1e-12)
    assert np.abs(want).max() > 2  # the tails too, not only values near 0
    assert all(m is not None for m in got["refused"]), got["refused"]


class Uniform:
    """`choose_next`'s rng, giving one fixed number."""

    def __init__(self, u):
        self.u = u

    def random(self, shape):
        return np.full(shape, self.u)


def sampling_cases(n=4000):
    """`(logits float32, temperature, top_k, u)`: sizes 1..300 (numpy's pairwise sums change
    shape at 8 and 128), temperatures 0, float32-rounded and large, top-k 0, 1, V, beyond V,
    logits with many ties, and uniforms exactly on a cumulative probability.

    The boundary cases keep only tied maxima (probabilities exactly 1/m): elsewhere `exp` may
    round differently in its last bit in numpy and in JavaScript, which moves a boundary by
    about 1e-16 (a uniform that close to it picks another id; a random one never is)."""
    rng = np.random.default_rng(1)
    cases = []
    for c in range(n):
        v = int(rng.choice([1, 2, 3, 7, 8, 9, 16, 65, 127, 128, 129, 200, 300]))
        if c % 4 == 0:
            logits = rng.integers(-3, 3, v).astype(np.float32)  # ties
        else:
            logits = rng.normal(0, float(rng.choice([0.1, 1, 5])), v).astype(np.float32)
        temperature = float(np.float32(rng.choice([0.0, 0.1, 0.5, 0.7, 1.0, 1.3, 10.0])))
        top_k = int(rng.choice([0, 1, 2, 5, v, v + 3]))
        u = float(rng.random())
        if c % 7 == 0:  # u exactly on a boundary: `<` must decide as numpy does; ties all kept
            logits = rng.integers(-3, 1, v).astype(np.float32)
            logits[rng.integers(0, v)] = 0
            tied = int((logits == 0).sum())
            if tied < v:
                top_k = int(rng.integers(1, tied + 1))
                u = float((np.ones(tied) / tied).cumsum()[rng.integers(0, tied)])
                temperature = float(np.float32(rng.choice([0.1, 0.7, 1.0, 3.0])))
        cases.append((logits, temperature, top_k, u))
    return cases


def test_choose_next_picks_the_python_ids():
    cases = sampling_cases()
    want = [int(choose_next(logits[None], t, k, Uniform(u))[0]) for logits, t, k, u in cases]
    got = node_json("""
        const { chooseNext } = await import(DRIVER + "sampling.mjs");
        console.log(JSON.stringify(input.map(([logits, t, k, u]) =>
          chooseNext(Float32Array.from(logits), t, k, u))));
        """, [[[float(x) for x in logits], t, k, u] for logits, t, k, u in cases])
    mismatches = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not mismatches, f"{len(mismatches)} of {len(cases)} differ, e.g. {mismatches[:5]}"


def beam_cases():
    """Synthetic decoders: a table of logits (R, V) float32 with ties, read at a state that
    hashes the beam's history (so slots' states must follow their parents), attention maps (R, L)."""
    rng = np.random.default_rng(2)
    cases = []
    for c in range(60):
        rows, v = int(rng.integers(3, 12)), int(rng.integers(4, 9))
        logits = rng.normal(0, 2, (rows, v)).astype(np.float32)
        if c % 3 == 0:
            logits = np.round(logits).astype(np.float32)  # ties
        cases.append({"logits": logits, "attention": rng.random((rows, 3)).astype(np.float32),
                      "start": 0, "end": int(rng.integers(1, v)), "max_length": int(rng.integers(1, 9)),
                      "k": int(rng.integers(1, 6)), "penalty": float(rng.choice([0.0, 0.0, 0.7, 1.0]))})
    return cases


def python_beam(case):
    rows = len(case["logits"])

    def step(tokens, states, annotations, projected):
        new = (states[0][:, 0].astype(np.int64) * 7 + tokens + 1) % rows
        return case["logits"][new], [new[:, None].astype(np.float32)], case["attention"][new]

    dummy = np.zeros((1, 1, 1), np.float32)
    c = beam_search(step, dummy, dummy, [np.zeros((1, 1), np.float32)], case["start"], case["end"],
                    case["max_length"], case["k"], case["penalty"])[0]
    return {"tokens": [int(t) for t in c.tokens], "logProb": c.log_prob, "score": c.score,
            "attention": c.alphas.tolist()}


def test_beam_search_gives_the_python_captions():
    cases = beam_cases()
    want = [python_beam(c) for c in cases]
    got = node_json("""
        const { beamSearch } = await import(DRIVER + "beam_search.mjs");
        const out = [];
        for (const c of input) {
          const rows = c.logits.length;
          let states = null;
          const step = async (tokens, parents) => {
            const previous = parents === null ? Array(tokens.length).fill(0) : Array.from(parents, (p) => states[p]);
            states = previous.map((s, i) => (s * 7 + tokens[i] + 1) % rows);
            return { logits: Float32Array.from(states.flatMap((s) => c.logits[s])),
                     attention: Float32Array.from(states.flatMap((s) => c.attention[s])) };
          };
          const r = await beamSearch(step, { startId: c.start, endId: c.end, maxLength: c.max_length,
                                             beamWidth: c.k, lengthPenalty: c.penalty });
          out.push({ tokens: r.tokens, logProb: r.logProb, score: r.score, attention: r.attention.map((a) => Array.from(a)) });
        }
        console.log(JSON.stringify(out));
        """, [{**c, "logits": c["logits"].tolist(), "attention": c["attention"].tolist()} for c in cases])
    for g, w, c in zip(got, want, cases):
        assert g["tokens"] == w["tokens"], (c["k"], c["max_length"], g, w)
        assert g["logProb"] == pytest.approx(w["logProb"], abs=1e-12)
        assert g["score"] == pytest.approx(w["score"], abs=1e-12)
        np.testing.assert_array_equal(np.asarray(g["attention"], np.float32).reshape(-1, 3), w["attention"])


# --- end to end: tiny exported models, the Node example against the Python ONNX drivers --------

def png_bytes(pixels):
    """A PNG file of uint8 pixels `(H, W)` (grey) or `(H, W, 3)` (RGB), written with zlib."""
    pixels = np.asarray(pixels, np.uint8)
    h, w = pixels.shape[:2]
    color = 0 if pixels.ndim == 2 else 2
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """`{"char", "captioner", "stn"}: version folder` of tiny untrained exports."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("export needs the TensorFlow backend")
    from kerasrnn.kinds import registry
    from tiny_runs import captioner_run, char_run, st_cnn_run

    root = tmp_path_factory.mktemp("js_driver")
    out = {}
    for name, make in {"char": char_run, "captioner": captioner_run, "stn": st_cnn_run("affine")}.items():
        keras.utils.set_random_seed(0)
        make(root / name)
        out[name] = registry.export_model(root / name, root / "models", name)
    return out


def error_line(done):
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stdout)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("prime,length,temperature,top_k,seed", [
    ("def ", 60, 0.0, 0, 0),
    ("self.x = ", 80, 1.0, 0, 1),
    ("", 50, 0.7, 5, -7),
    ("return (a, b)", 70, 1.3, 0, 2**62),
    ("d", 40, 0.9, 1, 3),
])
def test_the_example_generates_the_python_drivers_text(versions, prime, length, temperature, top_k, seed):
    from kerasrnn.kinds.char_rnn.onnx_driver import CharGenerator

    want = CharGenerator(versions["char"] / "onnx").generate(prime, length, temperature, top_k, seed)
    done = example(versions["char"], "--prime", prime, "--length", length, "--temperature", temperature,
                   "--top-k", top_k, f"--seed={seed}", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"] == want
    plain = example(versions["char"], "--prime", prime, "--length", length, "--temperature", temperature,
                    "--top-k", top_k, f"--seed={seed}")
    assert plain.stdout == want + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("beam", [1, 3])
def test_the_example_captions_as_the_python_driver(versions, tmp_path, beam):
    from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX

    captioner = CaptionerONNX(versions["captioner"] / "onnx")
    rng = np.random.default_rng(beam)
    pixels = rng.integers(0, 256, (captioner.image_size, captioner.image_size, 3), dtype=np.uint8)
    (tmp_path / "image.png").write_bytes(png_bytes(pixels))
    want = captioner.beam_search(pixels[None].astype(np.float32) / np.float32(255), beam)[0]
    done = example(versions["captioner"], "--image", tmp_path / "image.png", "--beam", beam, "--json")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["tokens"] == [int(t) for t in want.tokens]
    assert got["text"] == captioner.decode(want.tokens) == " ".join(got["words"])
    kept = []  # the tokens that are words: before <end>, not <pad> or <start>
    for i, t in enumerate(want.tokens):
        if t == captioner.end_id:
            break
        if t not in (captioner.pad_id, captioner.start_id):
            kept.append(i)
    np.testing.assert_allclose(got["attention"], want.alphas[kept].reshape(len(kept), -1), atol=1e-5)
    assert got["logProb"] == pytest.approx(want.log_prob, abs=1e-5)
    plain = example(versions["captioner"], "--image", tmp_path / "image.png", "--beam", beam)
    assert plain.stdout == captioner.decode(want.tokens) + "\n"


def test_a_model_card_with_the_nan_older_exports_wrote_reads_as_null():
    """Versions exported before cards were written strictly hold `NaN` for scores that could not
    be computed (Python's json); `JSON.parse` refuses it, the drivers read it as null, outside
    strings only, and still refuse what is not JSON."""
    got = node_json("""
        const { parsePythonJson } = await import(DRIVER + "load.mjs");
        let refused = null;
        try { parsePythonJson('{"a": Nan}'); } catch (e) { refused = e.message; }
        console.log(JSON.stringify({ value: parsePythonJson(input), refused }));
        """, '{"a": NaN, "b": [Infinity, -Infinity, 1.5], "c": "x: NaN, \\" NaN", "d": {"e": NaN}}')
    assert got["value"] == {"a": None, "b": [None, None, 1.5], "c": 'x: NaN, " NaN', "d": {"e": None}}
    assert got["refused"]


def test_a_wide_flat_image_is_resized_without_a_huge_intermediate():
    """Rows first, a 1 x 1,000,000 image resized to 32 x 32 passes through 32 x 1,000,000 x 3
    float64 values (768 MB); `resizeImage` takes the width first for an image shorter than the
    output and wider than tall, as `resize_image` does, and equals it. The largest array it
    makes is counted by wrapping Float64Array before the module loads."""
    from kerasrnn.data.image_files import resize_image

    small = np.random.default_rng(6).integers(0, 256, (3, 500, 3), dtype=np.uint8)
    got = node_json("""
        let largest = 0;
        globalThis.Float64Array = new Proxy(Float64Array, { construct(target, args) {
          if (typeof args[0] === "number") largest = Math.max(largest, args[0]);
          return new target(...args);
        } });
        const { resizeImage } = await import(DRIVER + "resize.mjs");
        const [pixels, h, w] = input;
        const small = Array.from(resizeImage({ data: Uint8Array.from(pixels), width: w, height: h }, 32).data);
        largest = 0;
        resizeImage({ data: new Uint8Array(3 * 1000000), width: 1000000, height: 1 }, 32);
        console.log(JSON.stringify({ small, largest }));
        """, [small.reshape(-1).tolist(), 3, 500])
    np.testing.assert_allclose(np.asarray(got["small"]).reshape(32, 32, 3), resize_image(small, 32).numpy(),
                               atol=1e-6)
    assert got["largest"] <= 32 * 32 * 3  # rows first: 32 x 1,000,000 x 3


@pytest.mark.slow
def test_the_example_resizes_as_training_does(versions, tmp_path):
    """An image of another size is resized as `image_files.resize_image` resizes (within 1e-6);
    a JPEG file decodes (jpeg-js) to TensorFlow's pixels, within JPEG decoders' rounding."""
    from kerasrnn.data.image_files import resize_image

    rng = np.random.default_rng(5)
    cases = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(50, 40, 3), (20, 70, 3), (32, 32, 3),
                                                                       (97, 131, 3), (8, 9, 3)]]
    got = node_json("""
        const { resizeImage } = await import(DRIVER + "resize.mjs");
        console.log(JSON.stringify(input.map(([pixels, h, w]) =>
          Array.from(resizeImage({ data: Uint8Array.from(pixels), width: w, height: h }, 32).data))));
        """, [[c.reshape(-1).tolist(), c.shape[0], c.shape[1]] for c in cases])
    for g, c in zip(got, cases):
        np.testing.assert_allclose(np.asarray(g).reshape(32, 32, 3), resize_image(c, 32).numpy(), atol=1e-6)

    from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX

    captioner = CaptionerONNX(versions["captioner"] / "onnx")
    (tmp_path / "big.png").write_bytes(png_bytes(cases[0]))
    want = captioner.beam_search(resize_image(cases[0], captioner.image_size).numpy()[None], 1)[0]
    done = example(versions["captioner"], "--image", tmp_path / "big.png", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tokens"] == [int(t) for t in want.tokens]

    import tensorflow as tf  # a JPEG file decodes (jpeg-js) as TensorFlow decodes it

    # smooth and with full-resolution colour: JPEG decoders differ in chroma upsampling (here up to
    # 13 levels with 4:2:0) and in their IDCT (up to 3 levels against TensorFlow's accurate one)
    y, x = np.mgrid[0:97, 0:131]
    photo = np.stack([128 + 100 * np.sin(x / 9), 128 + 100 * np.cos(y / 7), x + y], -1).astype(np.uint8)
    jpeg = tf.io.encode_jpeg(photo, quality=95, chroma_downsampling=False).numpy()
    (tmp_path / "photo.jpg").write_bytes(jpeg)
    decoded = node_json("""
        const jpeg = (await import("jpeg-js")).default;
        const image = jpeg.decode(Buffer.from(input, "base64"), { useTArray: true });
        console.log(JSON.stringify([image.height, image.width, Array.from(image.data)]));
        """, base64.b64encode(jpeg).decode(), cwd=NODE_DIR)
    height, width, rgba = decoded
    want_pixels = tf.io.decode_jpeg(jpeg, channels=3, dct_method="INTEGER_ACCURATE").numpy().astype(np.int16)
    got_pixels = np.asarray(rgba, np.int16).reshape(height, width, 4)[..., :3]
    assert got_pixels.shape == want_pixels.shape
    assert np.abs(got_pixels - want_pixels).max() <= 4 and np.abs(got_pixels - want_pixels).mean() < 1
    done = example(versions["captioner"], "--image", tmp_path / "photo.jpg", "--beam", 2, "--json")
    assert done.returncode == 0, done.stderr
    assert 1 <= len(json.loads(done.stdout)["tokens"]) <= captioner.max_length


@pytest.mark.slow
def test_the_example_classifies_as_onnx_runtime(versions, tmp_path):
    import onnxruntime

    onnx_dir = versions["stn"] / "onnx"
    pixels = np.random.default_rng(3).integers(0, 256, (28, 28), dtype=np.uint8)
    (tmp_path / "digit.png").write_bytes(png_bytes(pixels))
    images = (pixels.astype(np.float32) / np.float32(255))[None, :, :, None]
    logits, probabilities = onnxruntime.InferenceSession(str(onnx_dir / "classifier.onnx")).run(
        ["logits", "probabilities"], {"images": images})
    rectified, = onnxruntime.InferenceSession(str(onnx_dir / "rectifier.onnx")).run(["rectified"], {"images": images})
    done = example(versions["stn"], "--image", tmp_path / "digit.png", "--json")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["classId"] == int(logits[0].argmax())
    np.testing.assert_allclose(got["probabilities"], probabilities[0], atol=1e-5)
    np.testing.assert_allclose(got["logits"], logits[0], atol=1e-5)
    r = got["rectified"]
    np.testing.assert_allclose(np.reshape(r["data"], (r["height"], r["width"], r["channels"])), rectified[0],
                               atol=1e-5)
    plain = example(versions["stn"], "--image", tmp_path / "digit.png")
    assert plain.stdout == f"class {got['classId']} (probability {probabilities[0].max():.4f})\n"


@pytest.mark.slow
def test_the_example_refuses_bad_input_with_one_error_line(versions, tmp_path):
    (tmp_path / "notes.png").write_text("not an image\n")
    (tmp_path / "cut.png").write_bytes(png_bytes(np.zeros((32, 32, 3), np.uint8))[:60])
    (tmp_path / "image.bmp").write_bytes(b"BM" + bytes(60))
    char, captioner = versions["char"], versions["captioner"]
    for args, message in [
        ((char, "--prime", "ZEBRA", "--length", 5), 'the prime has characters the model does not know: "Z" "E" "B" "R" "A"'),
        ((char, "--length", 10**6), "length must be an integer between 0 and 10000 (max_length)"),
        ((char, "--temperature=-1"), "temperature must be a finite number >= 0"),
        ((char, "--seed", "-1"), "To specify an option argument starting with a dash use '--seed=-XYZ'"),
        ((char, "--seed", str(2**63)), "seed must be a 64-bit signed integer"),
        ((char, "--length", "ten"), "--length must be an integer"),
        ((char, "--colour", "red"), "Unknown option '--colour'"),
        ((captioner, "--image", tmp_path / "notes.png"), "notes.png is not a JPEG or PNG image"),
        ((captioner, "--image", tmp_path / "cut.png"), "cut.png is a damaged PNG image"),
        ((captioner, "--image", tmp_path / "image.bmp"), "image.bmp is a BMP image; give a JPEG or PNG image"),
        ((captioner, "--image", tmp_path / "missing.png"), "cannot read"),
        ((captioner, "--image", tmp_path / "notes.png", "--beam", 11), "--beam must be between 1 (greedy) and 10"),
        ((captioner,), "a captioner needs --image FILE"),
        ((char, "--image", tmp_path / "notes.png"), "--image does not apply to a char model"),
        ((captioner, "--image", tmp_path / "notes.png", "--seed", 1), "--seed does not apply to a captioner"),
        ((tmp_path / "no_such_version",), "does not exist; give the folder of an exported model version"),
        ((tmp_path,), "cannot read assets.extra/model_card.json of the model version"),
    ]:
        line = error_line(example(*args))
        assert message in line, (args, line)


@pytest.mark.slow
def test_the_drivers_run_unchanged_with_onnxruntime_web(versions):
    """The same modules with the browser's runtime (onnxruntime-web's WebAssembly build, here in
    Node.js from export/web's packages) give the same text, caption tokens and probabilities."""
    if not (ROOT / "export" / "web" / "node_modules" / "onnxruntime-web").is_dir():
        pytest.skip("export/web's packages are not installed (npm ci --ignore-scripts in export/web)")
    import onnxruntime
    from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX
    from kerasrnn.kinds.char_rnn.onnx_driver import CharGenerator

    rng = np.random.default_rng(7)
    requests = [("def ", 40, 0.8, 3, 11), ("self", 30, 0.0, 0, 0)]
    captioner = CaptionerONNX(versions["captioner"] / "onnx")
    photo = rng.integers(0, 256, (captioner.image_size, captioner.image_size, 3), dtype=np.uint8)
    digit = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    char = CharGenerator(versions["char"] / "onnx")
    want_texts = [char.generate(*r) for r in requests]
    want_tokens = [[int(t) for t in c.tokens] for beam in (1, 3)
                   for c in captioner.beam_search(photo[None].astype(np.float32) / np.float32(255), beam)]
    want_probabilities, = onnxruntime.InferenceSession(str(versions["stn"] / "onnx" / "classifier.onnx")).run(
        ["probabilities"], {"images": (digit.astype(np.float32) / np.float32(255))[None, :, :, None]})
    script = """
        const ort = await import("onnxruntime-web");
        ort.env.wasm.numThreads = 1;
        const fs = (await import("node:fs")).default;
        const loader = (dir) => (name) => fs.promises.readFile(dir + "/" + name);
        const { CharGenerator } = await import(KINDS + "char_rnn/driver.mjs");
        const { Captioner } = await import(KINDS + "captioner/driver.mjs");
        const { STNClassifier } = await import(KINDS + "stn_classifier/driver.mjs");
        const { readKind } = await import(DRIVER + "kind.mjs");
        const kinds = [];
        for (const dir of [input.char, input.captioner, input.stn]) kinds.push(await readKind(loader(dir)));
        const char = await CharGenerator.create(ort, loader(input.char));
        const texts = [];
        for (const [prime, length, temperature, topK, seed] of input.requests) {
          let text = "";
          for await (const c of char.generate(prime, length, { temperature, topK, seed })) text += c;
          texts.push(text);
        }
        const captioner = await Captioner.create(ort, loader(input.captioner));
        const image = { data: Uint8Array.from(input.photo), width: input.size, height: input.size };
        const tokens = [(await captioner.caption(image, { beam: 1 })).tokens,
                        (await captioner.caption(image, { beam: 3 })).tokens];
        const stn = await STNClassifier.create(ort, loader(input.stn));
        const digit = await stn.classify({ data: Uint8Array.from(input.digit), width: 28, height: 28 });
        console.log(JSON.stringify({ kinds, texts, tokens, probabilities: Array.from(digit.probabilities) }));
        """
    data = {"char": str(versions["char"]), "captioner": str(versions["captioner"]), "stn": str(versions["stn"]),
            "requests": requests, "photo": photo.reshape(-1).tolist(), "size": captioner.image_size,
            "digit": digit.reshape(-1).tolist()}
    got = node_json(script, data, cwd=ROOT / "export" / "web")
    assert got["kinds"] == ["char_rnn", "captioner", "stn_classifier"]
    assert got["texts"] == want_texts
    assert got["tokens"] == want_tokens
    np.testing.assert_allclose(got["probabilities"], want_probabilities[0], atol=1e-5)


# --- the decoding work of an image file, counted before anything decodes it ----------------------

DECODE_WORK_JS = """
const m = await import(DRIVER + "image_bytes.mjs");
const out = { work: {}, checks: {} };
const bytesOf = (name) => new Uint8Array(Buffer.from(input.files[name], "base64"));
for (const name of Object.keys(input.files)) {
  const header = m.sniffImage(bytesOf(name));
  out.work[name] = header && m.decodeWork(bytesOf(name), header);
}
for (const [key, [name, limits]] of Object.entries(input.checks)) {
  try { m.checkImageBytes(bytesOf(name), limits); out.checks[key] = "ok"; }
  catch (e) { out.checks[key] = e.message; }
}
console.log(JSON.stringify(out));
"""


def test_the_js_decode_work_is_pythons_and_gates_the_image():
    """`decodeWork` counts what Python's `decode_work` counts, file for file; `checkImageBytes`
    refuses a JPEG of too many scans, a PNG inflating past its rows and a 2^32-1 squared PNG
    header, and checks no work where the limits (an older export's) have no max_decode_work."""
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("PIL")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from costly_images import interlaced_png, pil_file, png_file, progressive_jpeg, smooth

    from kerasrnn.data.image_files import decode_work
    from kerasrnn.kinds.captioner.limits import CaptionerLimits

    rows = b"".join(b"\0" + bytes(48) for _ in range(16))
    files = {"scans": progressive_jpeg(1024, 1024, repeats=300), "progressive": progressive_jpeg(64, 48),
             "baseline": pil_file(smooth(40, 70), "JPEG"), "gray": pil_file(smooth(40, 70, 1), "JPEG"),
             "png": pil_file(smooth(40, 70), "PNG"), "interlaced": interlaced_png(smooth(9, 11)),
             "rgba16": png_file(16, 1000, b"".join(b"\0" + bytes(8000) for _ in range(16)), depth=16, color_type=6),
             "bomb": png_file(16, 16, rows, trailing=20 * 2**20), "huge": png_file(2**32 - 1, 2**32 - 1, bytes(64)),
             "bmp": pil_file(smooth(30, 33), "BMP")}
    new, old = CaptionerLimits().as_dict(), CaptionerLimits().as_dict()
    del old["max_decode_work"]
    checks = {"scans": ["scans", new], "scans, older export": ["scans", old], "bomb": ["bomb", {**new, "max_decode_work": 10**6}],
              "huge": ["huge", new], "progressive": ["progressive", new], "png": ["png", new]}
    out = node_json(DECODE_WORK_JS, {"files": {k: base64.b64encode(v).decode() for k, v in files.items()},
                                     "checks": checks})
    for name, data in files.items():
        work, scans = (float(x) for x in decode_work(tf.constant(data)))
        assert out["work"][name] == {"work": pytest.approx(work, rel=1e-15), "scans": scans}, name
    assert out["checks"] == {
        "scans": "the image needs too much decoding: a JPEG of at most 100 scans is accepted; it holds 310",
        "scans, older export": "ok",
        "bomb": f"the image needs too much decoding: at most 1000000 units of work (max_decode_work); "
                f"it needs {1032 * len(files['bomb']) + 16 * 49}",
        "huge": "the image is 4294967295 x 4294967295 pixels, more than the model takes (max_image_pixels 16777216); shrink it",
        "progressive": "ok", "png": "ok"}


@pytest.mark.slow
def test_the_example_refuses_a_jpeg_of_too_many_scans_unless_the_export_is_older(versions, tmp_path):
    """The Node example refuses a JPEG whose last scan repeats before jpeg-js decodes it; a version
    exported before max_decode_work (its limits.json lacks it) loads and decodes it as before."""
    pytest.importorskip("PIL")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from costly_images import progressive_jpeg

    (tmp_path / "scans.jpg").write_bytes(progressive_jpeg(1024, 1024, repeats=300))
    line = error_line(example(versions["captioner"], "--image", tmp_path / "scans.jpg"))
    assert "scans.jpg needs too much decoding: a JPEG of at most 100 scans is accepted; it holds 310" in line, line
    older = tmp_path / "older"
    shutil.copytree(versions["captioner"], older)
    limits = json.loads((older / "onnx" / "limits.json").read_text())
    del limits["max_decode_work"]
    (older / "onnx" / "limits.json").write_text(json.dumps(limits))
    (tmp_path / "small.jpg").write_bytes(progressive_jpeg(32, 32, repeats=150))
    done = example(older, "--image", tmp_path / "small.jpg")
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
    assert error_line(example(versions["captioner"], "--image", tmp_path / "small.jpg"))


@pytest.mark.slow
def test_the_captioner_refuses_a_damaged_max_decode_work(versions, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(versions["captioner"], damaged)
    limits = json.loads((damaged / "onnx" / "limits.json").read_text())
    (damaged / "onnx" / "limits.json").write_text(json.dumps({**limits, "max_decode_work": -1}))
    (tmp_path / "notes.png").write_text("not an image\n")
    line = error_line(example(damaged, "--image", tmp_path / "notes.png"))
    assert "onnx/limits.json does not hold the limit max_decode_work (an integer >= 1); export the model again" in line, line
