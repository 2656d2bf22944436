"""The same request rules in every runtime, limits that fit the graph, old versions still load.

Fast: the limits' ranges and the loading of a `limits.json` written before a field was added.
Slow (marked one by one): tiny exports asked the same hostile requests through every runtime that
takes them (the SavedModel's signatures, the Python ONNX drivers, the JavaScript driver in Node.js):
each is refused with a message naming the same rule, or answered with the same output. A request
of zero rows is answered with zero rows everywhere; a `step` with no token per row is refused.
"""

import json
import math
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest

from kerasrnn.errors import InputError
from kerasrnn.export.request_limits import INT32_MAX, MAXIMA
from kerasrnn.kinds.captioner.limits import CaptionerLimits
from kerasrnn.kinds.char_rnn.limits import CharLimits
from kerasrnn.kinds.stn_classifier.limits import STNLimits

ROOT = pathlib.Path(__file__).resolve().parents[1]
NODE = shutil.which("node")
NODE_DIR = ROOT / "export" / "node"
CHAR_DRIVER = ROOT / "export" / "web" / "kinds" / "char_rnn" / "driver.mjs"


# -- the limits themselves (fast) --------------------------------------------------------------

@pytest.mark.parametrize("limits, field, value", [
    (CharLimits, "max_length", 4294967301),     # wrapped to 5 in the graph
    (CharLimits, "max_rows", 2**40),            # made a version that refused every request
    (CaptionerLimits, "max_image_pixels", 2**62),
    (CharLimits, "max_prime_bytes", 2**26 + 1),
    (CharLimits, "max_request_chars", 2**31),
    (STNLimits, "max_rows", 2**16 + 1),
    (CaptionerLimits, "max_beam_width", 101),
    (CharLimits, "max_prime_bytes", 0),
])
def test_a_limit_the_graph_cannot_hold_is_refused(limits, field, value):
    most = MAXIMA.get(field, INT32_MAX)
    with pytest.raises(InputError, match=rf"^{field} must be an integer between 1 and {most}, got {value}$"):
        limits(**{field: value})
    assert getattr(limits(**{field: most}), field) == most  # the ceiling itself is a limit


def test_every_ceiling_fits_int32():
    # max_decode_work alone is counted in float64 (exact to 2^53), not int32.
    assert all(1 <= most <= INT32_MAX for name, most in MAXIMA.items() if name != "max_decode_work")
    assert MAXIMA["max_decode_work"] <= 2**53
    # The steps of one row (prime + length) stay in int32.
    assert MAXIMA["max_prime_length"] + MAXIMA["max_length"] <= INT32_MAX


def test_a_limits_file_written_before_max_prime_bytes_loads_with_it_unchecked(tmp_path):
    old = CharLimits(max_length=77).as_dict()
    del old["max_prime_bytes"]
    (tmp_path / "limits.json").write_text(json.dumps(old))
    loaded = CharLimits.load(tmp_path)
    assert loaded.max_prime_bytes is None and loaded.max_length == 77
    del old["max_length"]  # a field every version has is still required
    (tmp_path / "limits.json").write_text(json.dumps(old))
    with pytest.raises(InputError, match="does not hold the limits"):
        CharLimits.load(tmp_path)


def test_the_python_driver_counts_bytes_then_decoded_code_points():
    from kerasrnn.kinds.char_rnn.onnx_driver import check_request

    limits = CharLimits(max_prime_length=40, max_prime_bytes=80, max_request_chars=60, max_length=50)
    assert check_request(limits, b"a\x80\xe2\x82", 0, 1.0, 0, 0) == "a\ufffd\ufffd"
    assert check_request(limits, "\ud800b", 0, 1.0, 0, 0) == "\ufffdb"  # a lone surrogate: one U+FFFD
    # Temperatures a float32 request cannot carry, top_k and seeds outside int32 / int64.
    for kwargs, message in [(dict(temperature=1e300), "temperature must be a finite number >= 0"),
                            (dict(temperature=10**400), "temperature must be a finite number >= 0"),
                            (dict(top_k=float("nan")), "top_k must be an integer >= 0"),
                            (dict(top_k=2**31), "top_k must be an integer >= 0"),
                            (dict(seed=2**63), "seed must be an integer between"),
                            (dict(length=True), "length must be an integer between 0 and 50")]:
        request = {"prime": "ab", "length": 1, "temperature": 1.0, "top_k": 0, "seed": 0, **kwargs}
        with pytest.raises(InputError, match=message):
            check_request(limits, **request)
    assert check_request(CharLimits(max_prime_bytes=None), b"\x80" * 10_000, 0, 0.0, 0, 0) == "\ufffd" * 10_000


# -- tiny exports ------------------------------------------------------------------------------

CHAR_LIMITS = dict(max_rows=4, max_length=50, max_prime_length=40, max_prime_bytes=80,
                   max_request_chars=60, max_step_tokens=16)


def fffd_char_run(directory):
    """An untrained char LSTM whose vocabulary holds U+FFFD (what invalid UTF-8 decodes to)."""
    from kerasrnn import run_dir
    from kerasrnn.kinds.char_rnn.text import Vocabulary
    from kerasrnn.kinds.char_rnn.model import build_char_rnn
    from kerasrnn.kinds.char_rnn.trained import write_char_run_config

    vocab = Vocabulary(sorted(set("ab \n\ufffd")))
    config = dict(vocab_size=len(vocab), cell="lstm", num_layers=1, hidden_size=8, dropout=0.0,
                  embedding_dim=4)
    directory.mkdir()
    write_char_run_config(directory, config, {"sample_prime": "ab"}, vocab)
    run_dir.save_trained_model(directory, build_char_rnn(**config), {"epochs": 0})


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """`{name: version dir}`: the U+FFFD char model with `CHAR_LIMITS`, the tiny classifier and
    captioner with the default limits."""
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("export needs the TensorFlow backend")
    from tiny_runs import captioner_run, stn_run

    from kerasrnn.kinds.registry import export_model

    root = tmp_path_factory.mktemp("rules")
    out = {}
    for name, make, limits in (("char", fffd_char_run, CHAR_LIMITS), ("digits", stn_run, {}),
                               ("scenes", captioner_run, {})):
        keras.utils.set_random_seed(0)
        make(root / name)
        out[name] = export_model(root / name, root / "models", name, **limits)
    return out


@pytest.fixture(scope="module")
def saved(versions):
    """`{name: loaded SavedModel}`."""
    from kerasrnn.export.version_dir import load_saved_model

    return {name: load_saved_model(path) for name, path in versions.items()}


def served(signature, **inputs):
    """Calls a signature: `("answered", {output: numpy})` or `("refused", the assertion's words)`."""
    import tensorflow as tf

    from kerasrnn.data.image_files import assertion_text

    try:
        out = signature(**{k: tf.constant(v) for k, v in inputs.items()})
        return "answered", {k: v.numpy() for k, v in out.items()}
    except tf.errors.InvalidArgumentError as e:
        return "refused", assertion_text(e)


def python(call):
    """`("answered", result)` or `("refused", message)` of an ONNX driver call."""
    try:
        return "answered", call()
    except InputError as e:
        return "refused", str(e)


# -- char generate: the table -----------------------------------------------------------------

RULES = {
    "length": r"length must be (an integer )?between 0 and 50 \(max_length\)",
    "temperature": r"temperature must be (a )?finite",
    "top_k": r"top_?[kK] must be (an integer )?>= 0",
    "prime_bytes": r"prime too long: at most 80 bytes of UTF-8 \(max_prime_bytes\)",
    "prime_length": r"prime too long: at most 40 characters \(max_prime_length\)",
    "request": r"request too large: rows x \(longest prime \+ longest length\) must be at most 60 "
               r"\(max_request_chars\)",
}

# (what, request, rule or None for "answered the same"). `prime` is bytes (the SavedModel's input,
# also given to the Python driver); `text` is the same prime as text (a JavaScript string, also
# given to the Python driver): a lone surrogate is what a browser encodes as U+FFFD (EF BF BD).
# A value None means the runtime cannot carry the request (the SavedModel's int32 top_k).
LONE = "\ud800"


def req(prime, length=5, temperature=0.0, top_k=0, seed=0, text=None):
    return {"prime": prime, "text": text, "length": length, "temperature": temperature, "top_k": top_k,
            "seed": seed}


GENERATE = [
    ("a plain request", req(b"ab \n", 20, 1.0, 2, 7, text="ab \n"), None),
    ("an empty prime", req(b"", 10, 0.7, 0, 1, text=""), None),
    ("length 0", req(b"ab", 0, text="ab"), None),
    ("invalid UTF-8: each 0x80 is a U+FFFD the model steps over",
     req(b"\x80" * 10, 8, 0.8, 0, 3, text=LONE * 10), None),
    ("temperature 1e-50 is 0 in float32: argmax", req(b"ab", 8, 1e-50, 0, 3, text="ab"), None),
    ("a prime longer than one step request (max_step_tokens 16)",
     req(b"ab \n" * 8, 10, 0.9, 0, 4, text="ab \n" * 8), None),
    ("41 bytes 0x80: 41 characters (UTF8_CHAR counted 0)", req(b"\x80" * 41), "prime_length"),
    ("26 bytes 0x80 + length 40: 66 steps (UTF8_CHAR counted 40)",
     req(b"\x80" * 26, 40, text=LONE * 26), "request"),
    ("81 bytes of 0x80", req(b"\x80" * 81, text=LONE * 27), "prime_bytes"),
    ("41 x U+00E9: 82 bytes", req("\u00e9".encode() * 41, text="\u00e9" * 41), "prime_bytes"),
    ("41 characters", req(b"a" * 41, text="a" * 41), "prime_length"),
    ("length -1", req(b"ab", -1, text="ab"), "length"),
    ("length over max_length", req(b"ab", 51, text="ab"), "length"),
    ("temperature 1e300 (float32 infinity)", req(b"ab", temperature=1e300, text="ab"), "temperature"),
    ("temperature inf", req(b"ab", temperature=math.inf, text="ab"), "temperature"),
    ("temperature NaN", req(b"ab", temperature=math.nan, text="ab"), "temperature"),
    ("temperature -1", req(b"ab", temperature=-1.0, text="ab"), "temperature"),
    ("top_k -1", req(b"ab", top_k=-1, text="ab"), "top_k"),
    ("top_k NaN", req(b"ab", top_k=math.nan, text="ab"), "top_k"),
    ("top_k 2.5", req(b"ab", top_k=2.5, text="ab"), "top_k"),
    ("top_k 2^31", req(b"ab", top_k=2**31, text="ab"), "top_k"),
]


def saved_model_generate(loaded, r):
    if not float(r["top_k"]).is_integer() or not -2**31 <= r["top_k"] < 2**31:
        return None  # an int32 input cannot carry it
    with np.errstate(over="ignore"):
        temperature = np.array([r["temperature"]], np.float32)
    result = served(loaded.signatures["generate"], prime=np.array([r["prime"]], object),
                    length=np.array([r["length"]], np.int32), temperature=temperature,
                    top_k=np.array([r["top_k"]], np.int32), seed=np.array([r["seed"]], np.int64))
    return result if result[0] == "refused" else ("answered", result[1]["text"][0].decode())


def js_generate(version, requests):
    """The JS driver (onnxruntime-node) on each request's `text`: `("answered", text)` or
    `("refused", message)`."""
    if NODE is None or not (NODE_DIR / "node_modules" / "onnxruntime-node").is_dir():
        pytest.skip("no node, or export/node's packages are not installed")

    def number(x):
        return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(x, "NaN" if x != x else x)

    script = f"""
        const ort = await import("onnxruntime-node");
        const fs = (await import("node:fs")).default;
        const {{ CharGenerator }} = await import({json.dumps(CHAR_DRIVER.as_uri())});
        const input = JSON.parse(fs.readFileSync(0, "utf8"));
        const gen = await CharGenerator.create(ort, (name) => fs.promises.readFile(input.dir + "/" + name));
        const out = [];
        for (const r of input.requests) {{
          try {{
            let text = "";
            for await (const c of gen.generate(r.text, Number(r.length),
                {{ temperature: Number(r.temperature), topK: Number(r.top_k), seed: r.seed }})) text += c;
            out.push(["answered", text]);
          }} catch (e) {{ out.push(["refused", e.message]); }}
        }}
        console.log(JSON.stringify(out));
        """
    data = {"dir": str(version), "requests": [{**{k: number(r[k]) for k in ("length", "temperature", "top_k")},
                                               "text": r["text"], "seed": r["seed"]} for r in requests]}
    done = subprocess.run([NODE, "--input-type=module", "-e", script], input=json.dumps(data),
                          capture_output=True, text=True, timeout=300, cwd=NODE_DIR)
    assert done.returncode == 0, done.stderr
    return [tuple(x) for x in json.loads(done.stdout)]


@pytest.mark.slow
def test_generate_requests_are_refused_or_answered_alike_in_every_runtime(versions, saved):
    from kerasrnn.kinds.char_rnn.onnx_driver import CharGenerator

    gen = CharGenerator(versions["char"] / "onnx")
    with_text = [r for _, r, _ in GENERATE if r["text"] is not None]
    js = dict(zip(map(id, with_text), js_generate(versions["char"], with_text)))
    for what, r, rule in GENERATE:
        args = (r["length"], r["temperature"], r["top_k"], r["seed"])
        results = {"SavedModel": saved_model_generate(saved["char"], r),
                   "ONNX driver (bytes)": python(lambda: gen.generate(r["prime"], *args))}
        if r["text"] is not None:
            results["ONNX driver (text)"] = python(lambda: gen.generate(r["text"], *args))
            results["JS driver"] = js[id(r)]
        results = {k: v for k, v in results.items() if v is not None}
        if rule is None:
            assert {v for v in results.values()} == {results["SavedModel"]}, (what, results)
            assert results["SavedModel"][0] == "answered" and len(results["SavedModel"][1]) == r["length"]
        else:
            for runtime, (outcome, message) in results.items():
                assert outcome == "refused" and re.search(RULES[rule], message), (what, runtime, message)
                assert "\n" not in message


@pytest.mark.slow
def test_a_vocabulary_holding_u_fffd_steps_over_invalid_bytes(saved):
    """The model steps over each invalid byte: the SavedModel skips none of them."""
    outcome, out = served(saved["char"].signatures["generate"], prime=np.array([b"\x80" * 20], object),
                          length=np.array([3], np.int32), temperature=np.array([0], np.float32),
                          top_k=np.array([0], np.int32), seed=np.array([0], np.int64))
    assert outcome == "answered" and out["skipped"].tolist() == [0] and len(out["text"][0]) == 3


# -- empty requests, steps, mismatched rows -----------------------------------------------------

@pytest.mark.slow
def test_char_step_and_empty_generate_alike_in_the_savedmodel_and_the_onnx_driver(versions, saved):
    from kerasrnn.kinds.char_rnn.onnx_driver import CharGenerator

    gen = CharGenerator(versions["char"] / "onnx")
    step = saved["char"].signatures["step"]
    vocab = len(gen.chars)

    def both(tokens):
        tokens = np.asarray(tokens, np.int32)
        states = gen.zero_states(tokens.shape[0])
        return (served(step, tokens=tokens, **{i.name: s for i, s in zip(gen.state_inputs, states)}),
                python(lambda: gen.step(tokens, states)))

    for sm, onnx in (both(np.zeros((1, 0))), both(np.zeros((3, 0)))):
        assert sm[0] == onnx[0] == "refused", (sm, onnx)
        assert "tokens must have at least one token per row" in sm[1]
        assert "tokens must have at least one token per row" in onnx[1]
    sm, onnx = both(np.zeros((0, 3)))  # no rows: answered with no rows
    assert sm[0] == onnx[0] == "answered"
    assert sm[1]["logits"].shape == onnx[1][0].shape == (0, 3, vocab)
    assert all(s.shape == (0, 8) for s in onnx[1][1])
    assert all(sm[1]["next_" + i.name].shape == (0, 8) for i in gen.state_inputs)
    outcome, out = served(saved["char"].signatures["generate"], prime=np.zeros(0, object),
                          length=np.array([5], np.int32), temperature=np.array([0], np.float32),
                          top_k=np.array([0], np.int32), seed=np.array([0], np.int64))
    assert outcome == "answered" and out["text"].shape == (0,) and out["skipped"].shape == (0,)


@pytest.mark.slow
def test_zero_images_are_answered_with_zero_rows(versions, saved):
    from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX

    outcome, out = served(saved["digits"].signatures["classify"], images=np.zeros((0, 28, 28, 1), np.float32))
    assert outcome == "answered"
    assert out["probabilities"].shape == out["logits"].shape == (0, 10) and out["class_ids"].shape == (0,)
    captioner = CaptionerONNX(versions["scenes"] / "onnx")
    none = np.zeros((0, 32, 32, 3), np.float32)
    outcome, out = served(saved["scenes"].signatures["caption_images"], images=none,
                          beam_width=np.array([2], np.int32))
    assert outcome == "answered" and out["tokens"].shape[0] == 0
    assert captioner.beam_search(none, 2) == [] and captioner.caption(none) == []
    captions = np.zeros((0, 8), np.int32)
    outcome, out = served(saved["scenes"].signatures["teacher_forced"], images=none, captions=captions)
    logits, attention = captioner.teacher_forced(none, captions)
    assert outcome == "answered" and out["logits"].shape == logits.shape == (0, 7, len(captioner.words))
    assert out["attention"].shape == attention.shape


@pytest.mark.slow
def test_captions_with_other_rows_than_images_are_refused_alike(versions, saved):
    from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX

    captioner = CaptionerONNX(versions["scenes"] / "onnx")
    images = np.zeros((2, 32, 32, 3), np.float32)
    captions = np.array([[2, 4, 5, 3, 0, 0, 0, 0]], np.int32)
    sm = served(saved["scenes"].signatures["teacher_forced"], images=images, captions=captions)
    onnx = python(lambda: captioner.teacher_forced(images, captions))
    for outcome, message in (sm, onnx):
        assert outcome == "refused" and re.search(r"captions must have one row per image; got 1 rows? for 2 images",
                                                  message), message
    outcome, message = python(lambda: captioner.teacher_forced(images[:1], captions[:, :1]))
    assert outcome == "refused" and "captions must be int (B, T + 1) with T >= 1" in message


# -- versions exported before the new limits ----------------------------------------------------

@pytest.mark.slow
def test_a_version_exported_before_max_prime_bytes_loads_and_generates(versions, tmp_path):
    from kerasrnn.kinds.char_rnn.onnx_driver import CharGenerator

    old = tmp_path / "old"
    shutil.copytree(versions["char"], old)
    for path, key in ((old / "onnx" / "limits.json", None), (old / "assets.extra" / "model_card.json", "limits")):
        data = json.loads(path.read_text())
        (data[key] if key else data).pop("max_prime_bytes")
        path.write_text(json.dumps(data))
    gen = CharGenerator(old / "onnx")
    assert gen.limits.max_prime_bytes is None
    # 30 x U+FFFD: 90 bytes, over the export's max_prime_bytes (80); 30 characters, within the rest.
    long_in_bytes = req(b"", 5, 0.0, 0, 0, text="\ufffd" * 30)
    assert python(lambda: CharGenerator(versions["char"] / "onnx").generate("\ufffd" * 30, 5))[0] == "refused"
    assert js_generate(versions["char"], [long_in_bytes])[0][0] == "refused"
    # The old version: not checked, as when it was exported; the other limits hold.
    want = gen.generate("\ufffd" * 30, 5, 0.0)
    assert len(want) == 5
    assert js_generate(old, [long_in_bytes, req(b"", 6, 0.9, 0, 5, text="ab"), req(b"", 1, text="a" * 41)]) == [
        ("answered", want), ("answered", gen.generate("ab", 6, 0.9, 0, 5)),
        ("refused", "prime too long: at most 40 characters (max_prime_length), got 41; shorten it")]


# -- export and verify --------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("flags, message", [
    (["--max-length", "4294967301"], "--max-length must be an integer between 1 and 16777216"),
    (["--max-rows", str(2**40)], "--max-rows must be an integer between 1 and 65536"),
    (["--max-prime-bytes", "0"], "--max-prime-bytes must be an integer between 1 and 67108864"),
])
def test_export_refuses_a_limit_outside_the_graph_before_writing(script, tmp_path, capsys, flags, message):
    from tiny_runs import char_run

    char_run(tmp_path / "run")
    base = tmp_path / "models"
    status = script("export/export_model.py")(["--model", str(tmp_path / "run"), "--name", "m",
                                               "--base", str(base), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not base.exists()


@pytest.mark.slow
def test_export_refuses_pixels_over_the_ceiling(script, tmp_path, capsys):
    from tiny_runs import captioner_run

    captioner_run(tmp_path / "run")
    status = script("export/export_model.py")(["--model", str(tmp_path / "run"), "--name", "m", "--base",
                                               str(tmp_path / "models"), "--max-image-pixels", str(2**62)])
    err = capsys.readouterr().err
    assert status == 2 and "--max-image-pixels must be an integer between 1 and 1073741824" in err
    assert not (tmp_path / "models").exists()


@pytest.mark.slow
def test_verify_keeps_to_a_versions_tight_limits(script, tmp_path, capsys):
    from tiny_runs import char_run

    from kerasrnn.kinds.registry import export_model

    char_run(tmp_path / "run")
    version = export_model(tmp_path / "run", tmp_path / "models", "m", max_rows=1, max_step_tokens=1,
                           max_request_chars=6)
    status = script("export/verify.py")([str(version)])
    out = capsys.readouterr()
    assert status == 0, out
    assert "checks hold" in out.out and "FAIL" not in out.out


@pytest.mark.slow
def test_verify_answers_a_version_whose_limits_refuse_its_images_in_one_line(script, tmp_path, capsys):
    from tiny_runs import captioner_run

    from kerasrnn.kinds.registry import export_model

    captioner_run(tmp_path / "run")
    version = export_model(tmp_path / "run", tmp_path / "models", "m", max_rows=1, max_beam_width=1,
                           max_image_bytes=10)
    status = script("export/verify.py")([str(version)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert err[0].startswith("error: the version refused one of verify's requests (image too large: at most 10 "
                             "bytes (max_image_bytes)"), err
