"""Hostile requests against every served signature and the ONNX drivers: each is refused with an
error that names the broken rule, without large memory or runaway work.

Every serving probe runs in a fresh process (`benchmarks/request_cost.py`): it loads the
SavedModel, answers a small valid request of the same signature (the warm-up baseline), then the
probe, and reports the probe's error and how far the process's peak memory rose above the
baseline. The bound is `MAX_GROWTH_MIB` (64 MiB; the requests themselves are at most ~9 MB and are
in the baseline). Before the limits were checked ahead of the work, some of these probes aborted
the process (`length` 10^9) or rose by gigabytes (a 20000 x 20000 PNG header); `MAX_SECONDS` is a
generous bound on runaway work, not a performance test.

The models are untrained and tiny (tests/tiny_runs.py), exported with the default limits.
"""

import io
import json
import pickle
import re
import struct
import zlib

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

import keras  # noqa: E402
from script_runs import run_script  # noqa: E402
from tiny_runs import captioner_run, char_run, draw_run, stn_run  # noqa: E402

from kerasrnn.errors import InputError  # noqa: E402
from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX  # noqa: E402
from kerasrnn.kinds.char_rnn.onnx_driver import CharGenerator  # noqa: E402
from kerasrnn.kinds.draw.onnx_driver import DRAWGenerator  # noqa: E402
from kerasrnn.kinds.draw.limits import DRAWLimits  # noqa: E402
from kerasrnn.kinds.captioner.limits import CaptionerLimits  # noqa: E402
from kerasrnn.kinds.char_rnn.limits import CharLimits  # noqa: E402
from kerasrnn.kinds.stn_classifier.limits import STNLimits  # noqa: E402
from kerasrnn.kinds.registry import export_model  # noqa: E402

MAX_GROWTH_MIB = 64
MAX_SECONDS = 20

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="export needs the TensorFlow backend")

CHAR, CAP, STN, DRAW = CharLimits(), CaptionerLimits(), STNLimits(), DRAWLimits()


# -- encoded images ----------------------------------------------------------------------------

def encoded(fmt, height=32, width=32):
    """A real image file of `fmt` (PIL's name: PNG, JPEG, BMP, GIF, WEBP)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(out, fmt)
    return out.getvalue()


def png_claiming(height, width):
    """A 150-byte PNG whose header claims `height x width` pixels (a decompression bomb's header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def jpeg_claiming(height, width):
    """A small JPEG whose frame header is rewritten to claim `height x width` pixels."""
    data = bytearray(encoded("JPEG", 8, 8))
    at = data.index(b"\xff\xc0")  # baseline frame header: marker, length (2), precision (1), H, W
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


# -- requests ----------------------------------------------------------------------------------

def generate(primes, length=5, temperature=0.0, top_k=0, seed=0):
    n = len(primes)

    def per_row(value, dtype):
        value = np.asarray(value, dtype)
        return np.full(n, value, dtype) if value.ndim == 0 else value

    return {"prime": np.array([p.encode() if isinstance(p, str) else p for p in primes], object),
            "length": per_row(length, np.int32), "temperature": per_row(temperature, np.float32),
            "top_k": per_row(top_k, np.int32), "seed": per_row(seed, np.int64)}


def step(tokens, rows=None):
    tokens = np.asarray(tokens, np.int32)
    rows = tokens.shape[0] if rows is None else rows
    return {"tokens": tokens, "state_1_0": np.zeros((rows, 8), np.float32),
            "state_1_1": np.zeros((rows, 8), np.float32)}


def caption(images, beam_width=1):
    return {"image_bytes": np.array(images, object), "beam_width": np.array([beam_width], np.int32)}


WARMUP = {
    ("char", "generate"): generate(["def "], length=20),
    ("char", "step"): step(np.ones((2, 5))),
    ("scenes", "caption"): caption([encoded("PNG")], beam_width=3),
    ("scenes", "caption_images"): {"images": np.zeros((2, 32, 32, 3), np.float32),
                                   "beam_width": np.array([3], np.int32)},
    ("scenes", "teacher_forced"): {"images": np.zeros((1, 32, 32, 3), np.float32),
                                   "captions": np.array([[2, 4, 5, 3, 0, 0, 0, 0]], np.int32)},
    ("digits", "classify"): {"images": np.zeros((2, 28, 28, 1), np.float32)},
    ("drawing", "generate"): {"seed": np.arange(2, dtype=np.int64)},
    ("drawing", "reconstruct"): {"images": np.zeros((2, 28, 28, 1), np.float32),
                                 "seed": np.arange(2, dtype=np.int64)},
}

# (model, signature, what the probe is, request, the error it must get)
PROBES = [
    ("char", "generate", "length 10^9", generate(["a"], length=10**9),
     rf"length must be between 0 and {CHAR.max_length} \(max_length\)"),
    ("char", "generate", "length 2^31 - 1", generate(["a"], length=2**31 - 1), "length must be between"),
    ("char", "generate", "negative length", generate(["a"], length=-5), "length must be between"),
    ("char", "generate", "1,000 rows of 10,000 characters", generate(["a"] * 1000, length=10_000),
     rf"too many primes in one request: at most {CHAR.max_rows} \(max_rows\)"),
    ("char", "generate", "rows x length over the request budget", generate(["a"] * 32, length=10_000),
     rf"request too large: .* at most {CHAR.max_request_chars} \(max_request_chars\)"),
    ("char", "generate", "a prime of 20,000 characters", generate(["a" * 20_000]),
     rf"prime too long: at most {CHAR.max_prime_length} characters"),
    # UTF8_CHAR counts a stray 0x80 byte as no character; the decoder makes each a U+FFFD.
    ("char", "generate", "a prime of 9 MB of 0x80 bytes", generate([b"\x80" * 9_000_000]),
     rf"prime too long: at most {CHAR.max_prime_bytes} bytes of UTF-8 \(max_prime_bytes\)"),
    ("char", "generate", "a prime of 20,000 0x80 bytes", generate([b"\x80" * 20_000]),
     rf"prime too long: at most {CHAR.max_prime_length} characters \(max_prime_length\)"),
    ("char", "generate", "temperature NaN", generate(["a"], temperature=np.nan), "temperature must be finite"),
    ("char", "generate", "temperature inf", generate(["a"], temperature=np.inf), "temperature must be finite"),
    ("char", "generate", "negative top_k", generate(["a"], top_k=-1), r"top_k must be >= 0"),
    ("char", "generate", "3 lengths for 2 primes", generate(["a", "b"], length=np.array([1, 2, 3])),
     "one value per prime or a single value"),
    ("char", "step", "token id past the vocabulary", step([[1, 2, 10_000]]),
     "tokens must be character ids between 0 and"),
    ("char", "step", "negative token id", step([[-1]]), "tokens must be character ids"),
    ("char", "step", "100,000 tokens", step(np.ones((1, 100_000))),
     rf"at most {CHAR.max_step_tokens} \(max_step_tokens\)"),
    ("char", "step", "1,000 rows", step(np.ones((1000, 1))), r"too many token rows .* \(max_rows\)"),
    ("char", "step", "states for another batch", step(np.ones((2, 3)), rows=5), "one row per token row"),
    ("char", "step", "no token per row", step(np.ones((2, 0))), "tokens must have at least one token per row"),
    ("scenes", "caption", "PNG claiming 20000 x 20000", caption([png_claiming(20_000, 20_000)]),
     rf"image too large: at most {CAP.max_image_pixels} pixels \(max_image_pixels\)"),
    ("scenes", "caption", "JPEG claiming 60000 x 60000", caption([jpeg_claiming(60_000, 60_000)]),
     "image too large: at most"),
    ("scenes", "caption", "GIF", caption([encoded("GIF")]), "image format not accepted"),
    ("scenes", "caption", "WebP", caption([encoded("WEBP")]), "image format not accepted"),
    ("scenes", "caption", "empty bytes", caption([b""]), "image format not accepted"),
    ("scenes", "caption", "9 MB of bytes", caption([b"\x89PNG\r\n\x1a\n" + b"\0" * 9_000_000]),
     rf"image too large: at most {CAP.max_image_bytes} bytes \(max_image_bytes\)"),
    ("scenes", "caption", "100 images", caption([encoded("PNG", 8, 8)] * 100),
     r"too many images in one request: at most 32 \(max_rows\)"),
    ("scenes", "caption", "beam width 10^6", caption([encoded("PNG")], beam_width=10**6),
     rf"beam_width must be between 1 \(greedy\) and {CAP.max_beam_width}"),
    ("scenes", "caption_images", "100 images", {"images": np.zeros((100, 32, 32, 3), np.float32),
                                                "beam_width": np.array([1], np.int32)},
     r"too many images .* \(max_rows\)"),
    ("scenes", "teacher_forced", "word id past the vocabulary",
     {"images": np.zeros((1, 32, 32, 3), np.float32),
      "captions": np.array([[2, 4, 99, 3, 0, 0, 0, 0]], np.int32)}, "captions must hold word ids"),
    ("scenes", "teacher_forced", "captions for another number of images",
     {"images": np.zeros((2, 32, 32, 3), np.float32),
      "captions": np.array([[2, 4, 5, 3, 0, 0, 0, 0]], np.int32)}, "captions must have one row per image"),
    ("digits", "classify", "1,000 images", {"images": np.zeros((1000, 28, 28, 1), np.float32)},
     rf"too many images in one request: at most {STN.max_rows} \(max_rows\)"),
    ("drawing", "generate", "a million seeds", {"seed": np.arange(10**6, dtype=np.int64)},
     rf"too many seeds in one request: at most {DRAW.max_rows} \(max_rows\)"),
    ("drawing", "reconstruct", "1,000 images", {"images": np.zeros((1000, 28, 28, 1), np.float32),
                                                "seed": np.arange(1000, dtype=np.int64)},
     rf"too many images in one request: at most {DRAW.max_rows} \(max_rows\)"),
    ("drawing", "reconstruct", "seeds for another number of images",
     {"images": np.zeros((2, 28, 28, 1), np.float32), "seed": np.arange(10**6, dtype=np.int64)},
     "seed must have one value per image"),
    ("drawing", "reconstruct", "NaN pixels", {"images": np.full((2, 28, 28, 1), np.nan, np.float32),
                                              "seed": np.arange(2, dtype=np.int64)},
     "images must hold pixels between 0 and 1"),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`{model name: version dir}` of the four tiny models, exported with the default limits."""
    root = tmp_path_factory.mktemp("hostile")
    versions = {}
    for name, make in (("char", char_run), ("digits", stn_run), ("scenes", captioner_run),
                       ("drawing", draw_run)):
        keras.utils.set_random_seed(0)
        make(root / name)
        versions[name] = export_model(root / name, root / "saved_models", name)
    return versions


def request_cost(version, signature, request, warmup, tmp_path):
    """Runs `benchmarks/request_cost.py` on one request in a fresh process; its JSON result."""
    files = []
    for name, inputs in (("request", request), ("warmup", warmup)):
        files.append(tmp_path / f"{name}.pkl")
        files[-1].write_bytes(pickle.dumps(inputs))
    done = run_script("benchmarks/request_cost.py", version, signature, files[0], "--warmup", files[1],
                      timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("model, signature, what, request_inputs, message", PROBES,
                         ids=[f"{p[1]}: {p[2]}" for p in PROBES])
def test_hostile_request_is_refused_cheaply(exported, tmp_path, model, signature, what, request_inputs,
                                            message):
    result = request_cost(exported[model], signature, request_inputs, WARMUP[model, signature], tmp_path)
    assert not result["ok"] and result["error_type"] == "InvalidArgumentError", result
    assert "\n" not in result["error"] and re.search(message, result["error"]), result
    assert result["growth_mib"] < MAX_GROWTH_MIB, result
    assert result["seconds"] < MAX_SECONDS, result


def test_the_warmup_requests_are_answered(exported, tmp_path):
    """The probes' baseline requests are valid: the harness itself does not fail them."""
    for (model, signature), inputs in WARMUP.items():
        if signature in ("generate", "caption", "reconstruct"):
            result = request_cost(exported[model], signature, inputs, inputs, tmp_path)
            assert result["ok"], result


# -- the ONNX drivers --------------------------------------------------------------------------

def test_the_accepted_image_formats_are_the_decoders():
    from kerasrnn.data.image_files import UNTRUSTED_FORMATS
    from kerasrnn.kinds.captioner.limits import IMAGE_FORMATS

    assert IMAGE_FORMATS == UNTRUSTED_FORMATS == CaptionerLimits().image_formats


def test_char_onnx_driver_keeps_the_limits(exported):
    gen = CharGenerator(exported["char"] / "onnx")
    assert gen.limits == CHAR
    assert len(gen.generate("def ", 5)) == 5
    cases = [
        (lambda: gen.generate("a", 10**9), r"length must be an integer between 0 and 10000 \(max_length\)"),
        (lambda: gen.generate("a", -1), "length must be an integer between"),
        (lambda: gen.generate("a" * 20_000, 1), r"prime too long: at most 10000 characters"),
        (lambda: gen.generate("a", 5, temperature=float("nan")), "temperature must be a finite number"),
        (lambda: gen.generate("a", 5, temperature=float("inf")), "temperature must be a finite number"),
        (lambda: gen.generate("a", 5, top_k=-2), "top_k must be an integer >= 0"),
        (lambda: gen.generate("a", 5, top_k=float("nan")), "top_k must be an integer >= 0"),
        (lambda: gen.generate("a", 5, temperature=1e300), "temperature must be a finite number >= 0 in float32"),
        (lambda: gen.generate(b"\x80" * 9_000_000, 5), r"at most 40000 bytes of UTF-8 \(max_prime_bytes\)"),
        (lambda: gen.generate(b"\x80" * 20_000, 5), r"at most 10000 characters \(max_prime_length\)"),
        (lambda: gen.step(np.ones((1, 0), np.int32), gen.zero_states(1)), "at least one token per row"),
        (lambda: gen.step(np.array([[1, 99]]), gen.zero_states(1)), "ids must be character ids"),
        (lambda: gen.step(np.array([[-1]]), gen.zero_states(1)), "ids must be character ids"),
        (lambda: gen.step(np.ones((1, 100_000), np.int32), gen.zero_states(1)), r"max_step_tokens"),
        (lambda: gen.step(np.ones((1000, 1), np.int32), gen.zero_states(1000)), r"\(max_rows\)"),
    ]
    for call, message in cases:
        with pytest.raises(InputError, match=message):
            call()


def test_captioner_onnx_driver_keeps_the_limits(exported):
    captioner = CaptionerONNX(exported["scenes"] / "onnx")
    assert captioner.limits == CAP
    images = np.zeros((1, 32, 32, 3), np.float32)
    assert len(captioner.beam_search(images, 2)) == 1
    cases = [
        (lambda: captioner.beam_search(np.zeros((100, 32, 32, 3), np.float32)), r"at most 32 \(max_rows\)"),
        (lambda: captioner.beam_search(images, 10**6), r"between 1 \(greedy\) and 10 \(max_beam_width\)"),
        (lambda: captioner.beam_search(images, 0), "beam_width must be between"),
        (lambda: captioner.beam_search(images, 2, max_length=10**6), "max_length must be between 1 and"),
        (lambda: captioner.step(np.array([10**6]), None, None, None), "tokens must be word ids"),
        (lambda: captioner.teacher_forced(np.zeros((2, 32, 32, 3), np.float32), np.ones((1, 8), np.int32)),
         "captions must have one row per image"),
    ]
    for call, message in cases:
        with pytest.raises(InputError, match=message):
            call()


class ValuesUnread(list):
    """A list whose values must not be looked at (only its length)."""

    def __iter__(self):
        raise AssertionError("the driver looked at the values before the count")

    def __getitem__(self, index):
        raise AssertionError("the driver looked at the values before the count")


def test_draw_onnx_driver_keeps_the_limits(exported):
    drawer = DRAWGenerator(exported["drawing"] / "onnx")
    assert drawer.limits == DRAW
    assert drawer.generate([1, 2])["images"].shape == (2, 28, 28, 1)
    too_many = rf"too many seeds in one request: at most {DRAW.max_rows} \(max_rows\)"
    cases = [
        # A million seeds are refused by their count, before a value is read.
        (lambda: drawer.generate(ValuesUnread(range(10**6))), too_many),
        (lambda: drawer.generate(np.arange(10**6)), too_many),
        (lambda: drawer.generate(np.zeros((2, 2), np.int64)), "seeds must be a list of int64 integers"),
        (lambda: drawer.generate([2**63]), "seeds must be a list of int64 integers"),
        (lambda: drawer.generate([1.5]), "seeds must be a list of int64 integers"),
        (lambda: drawer.generate([True]), "seeds must be a list of int64 integers"),
        (lambda: drawer.generate("123"), "seeds must be a list of int64 integers"),
    ]
    for call, message in cases:
        with pytest.raises(InputError, match=message):
            call()


def test_drivers_refuse_a_damaged_limits_file(exported, tmp_path):
    import shutil

    onnx = tmp_path / "onnx"
    shutil.copytree(exported["char"] / "onnx", onnx)
    for text, message in (("{", "limits.json is damaged"), ('{"max_rows": 1}', "does not hold the limits"),
                          (json.dumps({**CHAR.as_dict(), "max_length": -3}), "max_length must be an integer between 1 and")):
        (onnx / "limits.json").write_text(text)
        with pytest.raises(InputError, match=message):
            CharGenerator(onnx)
    (onnx / "limits.json").unlink()
    with pytest.raises(InputError, match="has no limits.json"):
        CharGenerator(onnx)


# -- caption_image.py ---------------------------------------------------------------------------

@pytest.mark.parametrize("data, flags, message", [
    (png_claiming(20_000, 20_000), [], r"image too large: at most 16777216 pixels"),
    (encoded("PNG", 64, 64), ["--max-image-pixels", "1000"], r"at most 1000 pixels"),
    (encoded("GIF"), [], "image format not accepted"),
    (b"not an image", [], "image format not accepted"),
    (encoded("PNG"), ["--beam", "1000000"], "--beam must be at most 100"),
    (encoded("PNG"), ["--max-image-pixels", "0"], "--max-image-pixels must be >= 1"),
])
def test_caption_image_refuses_hostile_images(tmp_path, data, flags, message):
    run = tmp_path / "run"
    captioner_run(run)
    (tmp_path / "in.png").write_bytes(data)
    out = tmp_path / "out.png"
    done = run_script("training/caption_image.py", "--model", run, "--image", tmp_path / "in.png",
                      "--out", out, *flags, timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines[-1].startswith("error: "), done.stderr[-1500:]
    assert re.search(message, lines[-1]), lines[-1]
    assert not out.exists()
