"""The fixtures kerasrnn 0.1.0 wrote (`tests/fixtures/v0.1-2026-12/`, made once by
`tests/fixtures/make_fixtures.py`) still work: the run directories load with each kind's loader
(`kerasrnn.kinds.<kind>.trained`), export again and verify; the committed exported versions pass
`export/verify.py` against their runs and run in the ONNX drivers (Python and Node.js); the
runs stopped by SIGTERM mid-epoch resume to the weights of an uninterrupted run of the same
settings trained here from scratch, and a finished char run trained further ends as an
uninterrupted run of the new length."""

import json
import pathlib
import shutil
import subprocess

import keras
import numpy as np
import pytest

from kerasrnn.kinds.captioner.trained import load_captioner
from kerasrnn.kinds.char_rnn.trained import load_char_model
from kerasrnn.kinds.stn_classifier.trained import load_stn_model
from script_runs import script_module

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "v0.1-2026-12"
NODE_DIR = ROOT / "export" / "node"
EXPORTED = {"char": "char-finished", "stn": "stn-finished", "captioner": "captioner-finished"}
KINDS = {"char": "char_rnn", "stn": "stn_classifier", "captioner": "captioner"}
ONNX_FILES = {
    "char": {"step.onnx", "vocab.json", "limits.json"},
    "stn": {"classifier.onnx", "rectifier.onnx", "limits.json"},
    "captioner": {"encoder.onnx", "decoder_step.onnx", "vocab.json", "decoding.json", "limits.json"},
}


MAKE = script_module("tests/fixtures/make_fixtures.py")


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """A copy of the fixtures folder (the tests write into runs and versions; the committed
    files stay as they are)."""
    copy = tmp_path_factory.mktemp("fixtures") / "v0.1"
    shutil.copytree(FIXTURES, copy)
    return copy


def assert_same_weights(a, b):
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)


def test_the_fixtures_are_the_formats_of_0_1(fixtures):
    for run, kind in [("char-finished", "char_rnn"), ("char-sigterm", "char_rnn"),
                      ("stn-finished", "stn_classifier"), ("captioner-finished", "captioner"),
                      ("captioner-sigterm", "captioner")]:
        config = json.loads((fixtures / "run_dirs" / run / "config.json").read_text())
        assert (config["format"], config["format_version"], config["kerasrnn_version"]) == (
            f"kerasrnn.{kind}", 1, "0.1.0")
    for sigterm, step, batch in [("char-sigterm", 8, 3), ("captioner-sigterm", 4, 1)]:  # mid-epoch
        metadata = json.loads((fixtures / "run_dirs" / sigterm / "backup" / "training_metadata.json").read_text())
        assert (metadata["step"], metadata["batch"]) == (step, batch)
        assert not (fixtures / "run_dirs" / sigterm / "model.keras").exists()
    for name, kind in KINDS.items():
        card = json.loads((fixtures / "exports" / name / "1" / "assets.extra" / "model_card.json").read_text())
        assert (card["format"], card["format_version"], card["kind"]) == ("kerasrnn.model_card", 1, kind)
        assert card["run_dir"] == f"run_dirs/{EXPORTED[name]}"  # no path of the machine that made it
        assert {p.name for p in (fixtures / "exports" / name / "1" / "onnx").iterdir()} == ONNX_FILES[name]


def test_the_run_directories_load(fixtures):
    runs = fixtures / "run_dirs"
    model, vocab, config = load_char_model(runs / "char-finished")
    assert vocab.chars == sorted(set(MAKE.char_text()))
    assert config["model"]["cell"] == "gru" and config["training"]["steps"] == 10
    assert model.predict(np.array([vocab.encode("def ")]), verbose=0).shape == (1, 4, len(vocab))
    step_model, _, _ = load_char_model(runs / "char-finished", with_state=True)
    assert_same_weights(model, step_model)

    model, config = load_stn_model(runs / "stn-finished")
    assert config["model"]["model"] == "st-cnn"
    assert model.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0).shape == (2, 10)

    model, vocab, config = load_captioner(runs / "captioner-finished")
    assert config["model"]["vocab_size"] == len(vocab)
    assert any(type(layer).__name__ == "AttentionDecoder" for layer in model.layers)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_committed_versions_verify_against_their_runs(fixtures, script, name):
    version = fixtures / "exports" / name / "1"
    assert script("export/verify.py")([str(version), "--model", str(fixtures / "run_dirs" / EXPORTED[name])]) == 0


@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_run_directories_export_again_and_verify(fixtures, script, tmp_path, name):
    run = fixtures / "run_dirs" / EXPORTED[name]
    assert script("export/export_model.py")(["--model", str(run), "--name", name, "--base", str(tmp_path)]) == 0
    assert script("export/verify.py")([str(tmp_path / name / "1")]) == 0
    # the card is strict JSON, whatever the run's metrics hold (NaN scores become null)
    card = (tmp_path / name / "1" / "assets.extra" / "model_card.json").read_text()
    json.loads(card, parse_constant=lambda token: pytest.fail(f"{token} in the model card"))


def node_example(*args):
    node = shutil.which("node")
    if node is None or not all((NODE_DIR / "node_modules" / p).is_dir()
                               for p in ("onnxruntime-node", "pngjs", "jpeg-js")):
        pytest.skip("no node, or export/node's packages are not installed")
    done = subprocess.run([node, str(NODE_DIR / "example.mjs"), *map(str, args), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_committed_char_version_generates_the_same_text_in_both_drivers(fixtures):
    from kerasrnn.kinds.char_rnn.onnx_driver import CharGenerator

    version = fixtures / "exports" / "char" / "1"
    text = CharGenerator(version / "onnx").generate("def ", 40, 0.8, 0, 3)
    assert len(text) == 40  # the generated characters, after the prime
    assert set(text) <= set(MAKE.char_text())
    assert node_example(version, "--prime", "def ", "--length", 40, "--temperature", 0.8, "--seed", 3)["text"] == text


def committed_caption(fixtures):
    """`(pixels, the Python ONNX driver's beam-3 caption)` of a random 32 x 32 image."""
    from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX

    captioner = CaptionerONNX(fixtures / "exports" / "captioner" / "1" / "onnx")
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    return pixels, captioner, captioner.beam_search(pixels[None].astype(np.float32) / np.float32(255), 3)[0]


def test_the_committed_captioner_version_captions_in_the_python_driver(fixtures):
    _, captioner, caption = committed_caption(fixtures)
    assert 1 <= len(caption.tokens) <= 6 + 1 and np.isfinite(caption.log_prob) and caption.log_prob < 0
    words = captioner.decode(caption.tokens).split()
    vocab = json.loads((fixtures / "run_dirs" / "captioner-finished" / "vocab.json").read_text())
    assert set(words) <= {*vocab["words"], "<unk>"}


# kerasrnn 0.1.0 wrote the localisation scores it cannot compute (no test caption names an
# object) as NaN into metrics.json and the model card, which `JSON.parse` refuses; the committed
# card keeps that NaN, and the JavaScript drivers read it as null (`parsePythonJson`).
def test_the_committed_captioner_version_captions_the_same_in_both_drivers(fixtures, tmp_path):
    from test_js_driver import png_bytes

    version = fixtures / "exports" / "captioner" / "1"
    pixels, _, want = committed_caption(fixtures)
    (tmp_path / "image.png").write_bytes(png_bytes(pixels))
    got = node_example(version, "--image", tmp_path / "image.png", "--beam", 3)
    assert got["tokens"] == [int(t) for t in want.tokens]
    assert got["logProb"] == pytest.approx(want.log_prob, abs=1e-5)


def test_the_committed_stn_version_classifies_as_its_run(fixtures, tmp_path):
    from test_js_driver import png_bytes

    pixels = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    (tmp_path / "digit.png").write_bytes(png_bytes(pixels))
    got = node_example(fixtures / "exports" / "stn" / "1", "--image", tmp_path / "digit.png")
    model, _ = load_stn_model(fixtures / "run_dirs" / "stn-finished")
    keras_out = model.predict((pixels / np.float32(255))[None, :, :, None].astype(np.float32), verbose=0)[0]
    np.testing.assert_allclose(got["probabilities"], keras.ops.convert_to_numpy(keras.ops.softmax(keras_out)),
                               atol=1e-5)


class Keep(keras.callbacks.Callback):
    """Keeps the trained model and the step each epoch ended at."""

    def __init__(self):
        super().__init__()
        self.epoch_ends = []

    def on_epoch_end(self, epoch, logs=None):
        from kerasrnn.run_dir import steps_trained

        self.epoch_ends.append(steps_trained(self.model))


def test_the_char_run_stopped_by_sigterm_resumes_to_the_uninterrupted_weights(fixtures, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(fixtures / "run_dirs" / "char-sigterm", run)
    resumed, keep = Keep(), Keep()
    metrics = MAKE.train_char(run, resume=True, extra_callbacks=[resumed])
    whole = MAKE.train_char(tmp_path / "whole", extra_callbacks=[keep])
    assert resumed.epoch_ends == [10] and keep.epoch_ends == [5, 10] and metrics["steps"] == 10
    assert_same_weights(resumed.model, keep.model)
    np.testing.assert_allclose(metrics["history"]["val_loss"], whole["history"]["val_loss"], rtol=0, atol=1e-6)
    assert_same_weights(load_char_model(run).model, load_char_model(tmp_path / "whole").model)


def test_the_finished_char_run_trains_further_to_the_uninterrupted_weights(fixtures, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(fixtures / "run_dirs" / "char-finished", run)
    metrics = MAKE.train_char(run, resume=True, steps=15)
    MAKE.train_char(tmp_path / "whole", steps=15)
    assert metrics["steps"] == 15 and metrics["epochs"] == 3
    assert_same_weights(load_char_model(run).model, load_char_model(tmp_path / "whole").model)


def test_the_captioner_run_stopped_by_sigterm_resumes_to_the_uninterrupted_weights(fixtures, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(fixtures / "run_dirs" / "captioner-sigterm", run)
    resumed, keep = Keep(), Keep()
    metrics = MAKE.train_captioner_run(run, resume=True, extra_callbacks=[resumed])
    whole = MAKE.train_captioner_run(tmp_path / "whole", extra_callbacks=[keep])
    assert resumed.epoch_ends == [6] and keep.epoch_ends == [3, 6] and metrics["steps"] == 6
    assert_same_weights(resumed.model, keep.model)
    # the resumed epoch's training loss averages only the steps after the backup; validation
    # sees the same weights
    np.testing.assert_allclose(metrics["history"]["val_loss"], whole["history"]["val_loss"], rtol=0, atol=1e-6)
    assert metrics["history"]["loss"][0] == pytest.approx(whole["history"]["loss"][0], abs=1e-6)
    assert_same_weights(load_captioner(run).model, load_captioner(tmp_path / "whole").model)
