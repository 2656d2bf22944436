"""The char model's export: SavedModel `generate`/`step` signatures, ONNX step + numpy driver, verify.

Tiny runs (one layer of 16 units, 20 training steps) of a vanilla (one-hot) and an LSTM model are
trained once for the module and exported once each; the tests read those exports.
"""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

import keras  # noqa: E402

from kerasrnn.kinds.char_rnn import onnx_driver as driver  # noqa: E402
from kerasrnn.kinds.char_rnn.signatures import CharServing, counter_uniform  # noqa: E402
from kerasrnn.kinds.char_rnn.limits import CharLimits  # noqa: E402
from kerasrnn.kinds.char_rnn import sampling  # noqa: E402
from kerasrnn.kinds.char_rnn.trained import load_char_model  # noqa: E402
from kerasrnn.kinds.char_rnn.model import build_char_rnn, zero_states  # noqa: E402
from kerasrnn.kinds.char_rnn.train import train_char_rnn  # noqa: E402
from kerasrnn.kinds.char_rnn.config import CharRNNConfig  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
CELLS = {"vanilla": None, "lstm": 8}  # cell -> embedding (vanilla: one-hot, as min-char-rnn)

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="export needs the TensorFlow backend")


@pytest.fixture(scope="module")
def exports(tmp_path_factory, script):
    """{cell: (run_dir, version_dir)} for a tiny trained vanilla and LSTM model."""
    root = tmp_path_factory.mktemp("char_export")
    rng = np.random.default_rng(0)
    words = ["def ", "return ", "self", ".x", " = ", "(a, b)", ":\n", "    ", "if ", "else"]
    text = "".join(words[i] for i in rng.integers(0, len(words), 600))
    out = {}
    for cell, embedding in CELLS.items():
        keras.utils.set_random_seed(0)
        run = root / f"run-{cell}"
        train_char_rnn(CharRNNConfig(cell=cell, num_layers=1, hidden_size=16, embedding_dim=embedding,
                                     seq_length=20, batch_size=4, optimizer="adam", learning_rate=1e-2,
                                     steps=20, eval_every=20, val_fraction=0.1, sample_length=5),
                       text, run, verbose=0)
        assert script("export/export_model.py")(["--model", str(run), "--name", cell,
                                                 "--base", str(root / "saved_models")]) == 0
        out[cell] = run, root / "saved_models" / cell / "1"
    return out


def generate(loaded, primes, length=20, temperature=0.0, top_k=0, seed=0):
    """Calls the SavedModel's `generate`; returns (texts, skipped)."""
    def rows(value, dtype):  # a number is repeated for every prime
        value = np.asarray(value)
        return tf.constant(np.full(len(primes), value) if value.ndim == 0 else value, dtype)

    out = loaded.signatures["generate"](
        prime=tf.constant(primes, tf.string), length=rows(length, tf.int32),
        temperature=rows(temperature, tf.float32), top_k=rows(top_k, tf.int32),
        seed=rows(seed, tf.int64))
    return [t.decode() for t in out["text"].numpy()], out["skipped"].numpy().tolist()


@pytest.mark.parametrize("cell", list(CELLS))
def test_export_writes_a_version_that_verify_accepts(exports, cell, capsys, script):
    run, version = exports[cell]
    names = {p.relative_to(version).as_posix() for p in version.rglob("*") if p.is_file()}
    assert {"saved_model.pb", "assets.extra/model_card.json", "onnx/step.onnx",
            "onnx/vocab.json"} <= names
    assert any(n.startswith("variables/") for n in names)
    assert [p.name for p in version.parent.iterdir()] == ["1"]  # no temporary folder left
    capsys.readouterr()
    code = script("export/verify.py")([str(version), "--length", "40"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "4 of 4 checks hold" in out and "FAIL" not in out
    assert "argmax text (temperature 0): identical, 40 characters" in out


def test_model_card_records_model_training_and_metrics(exports):
    run, version = exports["lstm"]
    card = json.loads((version / "assets.extra" / "model_card.json").read_text())
    config = json.loads((run / "config.json").read_text())
    assert card["kind"] == "char_rnn" and card["name"] == "lstm" and card["version"] == 1
    assert card["model"] == config["model"] and card["training"] == config["training"]
    assert card["metrics"] == json.loads((run / "metrics.json").read_text())
    _, vocab, _ = load_char_model(run)
    assert card["vocab_size"] == len(vocab) and card["vocabulary"] == vocab.chars
    assert card["kerasrnn_version"] == "0.1.0" and card["tensorflow_version"] == tf.__version__
    assert card["exported_at"].endswith("+00:00") and card["run_dir"] == str(run.resolve())
    assert card["default_signature"] == "generate" and set(card["signatures"]) == {"generate", "step"}
    assert card["signatures"]["step"]["inputs"] == {
        "tokens": {"dtype": "int32", "shape": [None, None]},
        "state_1_0": {"dtype": "float32", "shape": [None, 16]},
        "state_1_1": {"dtype": "float32", "shape": [None, 16]}}
    assert card["onnx"] == {"opset": 17, "files": ["onnx/step.onnx", "onnx/vocab.json",
                                                       "onnx/limits.json"]}
    assert card["limits"] == CharLimits().as_dict()
    assert card["limits"]["max_length"] == 10_000 and card["generate"]["start_char"] == "\n"


def test_warmup_requests_replay_against_the_saved_model(exports):
    """TF Serving replays assets.extra/tf_serving_warmup_requests at load; each request must run."""
    _, version = exports["lstm"]
    card = json.loads((version / "assets.extra" / "model_card.json").read_text())
    try:
        from tensorflow_serving.apis import prediction_log_pb2
    except ImportError:
        assert "tensorflow-serving-api is not installed" in card["warmup_requests"]
        pytest.skip("tensorflow-serving-api is not installed: no warm-up file to read")
    loaded = tf.saved_model.load(str(version))
    records = list(tf.data.TFRecordDataset(str(version / "assets.extra" / "tf_serving_warmup_requests")))
    assert len(records) == card["warmup_requests"] == 2
    for record in records:
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        outputs = loaded.signatures[request.model_spec.signature_name](**inputs)
        assert outputs


def test_onnx_driver_gives_the_keras_text(exports):
    run, version = exports["vanilla"]
    step_model, vocab, _ = load_char_model(run, with_state=True)
    gen = driver.CharGenerator(version / "onnx")
    assert gen.chars == vocab.chars
    prime = "def "
    assert gen.generate(prime, 50, temperature=0) == sampling.generate(step_model, vocab, prime, 50,
                                                                       temperature=0)

    # Sampled text: the Keras step model with the package's choose_next and the same numbers.
    def keras_step(ids, states):
        logits, *states = step_model.predict_on_batch([ids, *states])
        return logits, states

    ids = driver.sample_loop(keras_step, zero_states(step_model, 1), vocab.encode(prime), 50,
                             temperature=1.5, top_k=0, seed=3, choose=sampling.choose_next)
    assert gen.generate(prime, 50, temperature=1.5, seed=3) == vocab.decode(ids)
    assert gen.generate(prime, 50, temperature=1.5, seed=4) != vocab.decode(ids)


def test_onnx_driver_needs_neither_tensorflow_nor_keras(exports):
    run, version = exports["lstm"]
    code = ("import sys; sys.modules.update(tensorflow=None, keras=None, tf2onnx=None)\n"
            "from kerasrnn.kinds.char_rnn.onnx_driver import CharGenerator\n"
            f"print(repr(CharGenerator({str(version / 'onnx')!r}).generate('def ', 30, 0.9, 4, 7)))")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert ran.returncode == 0, ran.stderr[-2000:]
    loaded = tf.saved_model.load(str(version))
    assert ran.stdout.strip() == repr(generate(loaded, ["def "], 30, 0.9, 4, 7)[0][0])


def test_generate_signature_batches_falls_back_and_refuses(exports):
    _, version = exports["lstm"]
    loaded = tf.saved_model.load(str(version))
    chars = json.loads((version / "onnx" / "vocab.json").read_text())["chars"]
    assert "€" not in chars and "é" not in chars
    base, _ = generate(loaded, ["def "])
    # Unknown characters are skipped and counted; invalid UTF-8 too; empty prime = the start char.
    assert generate(loaded, ["d€ef é", "def "]) == (base * 2, [2, 0])
    assert generate(loaded, [b"\xffdef "]) == (base, [1])
    assert generate(loaded, ["", "\n", "€"]) == ([generate(loaded, ["\n"])[0][0]] * 3, [0, 0, 1])
    assert generate(loaded, ["def "], length=0) == ([""], [0])
    assert generate(loaded, [], length=5) == ([], [])
    # Each row is on its own: row 2 of a batch = the same request alone; the seed decides the text.
    hot = dict(temperature=3.0, top_k=0)
    alone, _ = generate(loaded, ["self"], length=30, seed=5, **hot)
    texts, _ = generate(loaded, ["if a", "self"], length=[12, 30], seed=[9, 5], **hot)
    assert texts[1] == alone[0] and len(texts[0]) == 12
    assert generate(loaded, ["self"], length=30, seed=5, **hot)[0] == alone
    assert generate(loaded, ["self"], length=30, seed=6, **hot)[0] != alone
    # Parameters given once apply to every row.
    one = loaded.signatures["generate"](prime=tf.constant(["def ", "self"]), length=tf.constant([7]),
                                        temperature=tf.constant([0.0]), top_k=tf.constant([0]),
                                        seed=tf.constant([0], tf.int64))
    assert [len(t) for t in one["text"].numpy()] == [7, 7]

    for kwargs, message in [(dict(length=100_000), "length must be between 0 and 10000"),
                            (dict(length=-1), "length must be between 0 and 10000"),
                            (dict(temperature=-1.0), "temperature must be finite and >= 0"),
                            (dict(temperature=np.nan), "temperature must be finite and >= 0"),
                            (dict(top_k=-2), "top_k must be >= 0")]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            generate(loaded, ["def "], **kwargs)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one value per prime"):
        generate(loaded, ["a", "b"], length=[1, 2, 3])
    # Wrong dtype and shape: rejected before anything runs.
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a string tensor"):
        loaded.signatures["generate"](prime=tf.constant([1]), length=tf.constant([1]),
                                      temperature=tf.constant([0.0]), top_k=tf.constant([0]),
                                      seed=tf.constant([0], tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"prime \[1,1\] is not compatible"):
        loaded.signatures["generate"](prime=tf.constant([["a"]]), length=tf.constant([1]),
                                      temperature=tf.constant([0.0]), top_k=tf.constant([0]),
                                      seed=tf.constant([0], tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"tokens \[3\] is not compatible"):
        loaded.signatures["step"](tokens=tf.constant([1, 2, 3]), state_1_0=tf.zeros([1, 16]),
                                  state_1_1=tf.zeros([1, 16]))


def test_max_length_and_a_vocabulary_without_newline():
    """Without a newline in the vocabulary an empty prime starts from its first character."""
    step_model = build_char_rnn(3, cell="gru", num_layers=1, hidden_size=4, with_state=True)
    serving = CharServing(step_model, "abc", CharLimits(max_length=5, max_prime_length=5))
    fn, spec = serving.endpoints()["generate"]
    generate_fn = tf.function(fn, input_signature=spec)

    def call(prime, length):
        out = generate_fn(tf.constant([prime]), tf.constant([length]), tf.constant([0.0]),
                          tf.constant([0]), tf.constant([0], tf.int64))
        return out["text"].numpy()[0].decode(), int(out["skipped"].numpy()[0])

    text, skipped = call("", 5)
    assert (text, skipped) == (call("a", 5)[0], 0) and set(text) <= set("abc")
    assert call("\nxa", 5) == (text, 2)
    assert call("abcab", 0) == ("", 0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="length must be between 0 and 5"):
        call("a", 6)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"prime too long: at most 5 characters \(max_prime_length\)"):
        call("abcabc", 1)


def test_saved_model_cli_lists_and_runs_the_signatures(exports):
    """`saved_model_cli` reads the version the way TF Serving does (TF1 loader, no kerasrnn)."""
    _, version = exports["lstm"]
    cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    shown = subprocess.run([*cli, "show", "--dir", str(version), "--all"], capture_output=True,
                           text=True, check=True).stdout
    for name in ("serving_default", "generate", "step"):
        assert f"signature_def['{name}']" in shown
    for name in ("prime", "length", "temperature", "top_k", "seed", "tokens", "state_1_1"):
        assert f"inputs['{name}']" in shown
    for name in ("text", "skipped", "logits", "next_state_1_1"):
        assert f"outputs['{name}']" in shown
    ran = subprocess.run([*cli, "run", "--dir", str(version), "--tag_set", "serve", "--signature_def",
                          "generate", "--input_exprs",
                          'prime=["def ", ""];length=[6];temperature=[0.0];top_k=[0];seed=[0]'],
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-2000:]
    loaded = tf.saved_model.load(str(version))
    texts, _ = generate(loaded, ["def ", ""], length=6)
    assert f"Result for output key text:\n{np.array([t.encode() for t in texts])}" in ran.stdout


def test_counter_uniform_is_the_same_in_tensorflow_and_numpy():
    seeds = np.array([0, 1, -1, 2**63 - 1, -2**63, 1234567890123], np.int64)
    index = np.array([0, 5, 7, 1_000_000, -3, 2**31 - 1], np.int64)
    want = driver.counter_uniform(seeds, index)
    np.testing.assert_array_equal(counter_uniform(tf.constant(seeds), tf.constant(index)).numpy(), want)
    assert ((want >= 0) & (want < 1)).all()
    u = driver.counter_uniform(np.full(20_000, 7), np.arange(20_000))
    assert abs(u.mean() - 0.5) < 0.01 and len(np.unique(u)) == 20_000


def test_the_next_character_rule_is_the_same_in_tensorflow_and_numpy():
    """The one specification both runtimes follow: `token_choice.choose_next` (numpy, the ONNX
    driver and Keras-side sampling) and `char.signatures.choose_next` (in the SavedModel) pick the
    same ids from the same logits, temperature, top-k, seed and position."""
    from kerasrnn.kinds.char_rnn.signatures import choose_next as choose_in_graph
    from kerasrnn.kinds.char_rnn.token_choice import choose_next

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (64, 30)).astype(np.float32)
    logits[:8, :2] = logits[:8, 2:4]  # ties
    seeds = rng.integers(-2**62, 2**62, 64)
    picked = set()
    for temperature in (0.0, 0.3, 1.0, 2.5):
        for top_k in (0, 1, 5, 30, 40):
            for index in (0, 7, 1000):
                numpy_rng = driver.CounterRNG(seeds)
                numpy_rng.draws = index
                want = choose_next(logits, float(np.float32(temperature)), top_k, numpy_rng)
                got = choose_in_graph(tf.constant(logits), tf.fill([64], np.float32(temperature)),
                                      tf.fill([64], top_k), tf.constant(seeds, tf.int64),
                                      tf.fill([64], index)).numpy()
                np.testing.assert_array_equal(got, want, err_msg=f"{temperature} {top_k} {index}")
                picked.update(want.tolist())
    assert len(picked) > 20  # the cases sample many different ids, not only the argmax
