"""What every export shares: versions (next free, never overwritten, no half version), refusals of
directories that are not exportable runs, and verify.py failing on a mismatch.

The run directory is an untrained small CNN classifier written directly (no training needed).
"""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

import keras  # noqa: E402

from kerasrnn import run_dir  # noqa: E402
from kerasrnn.errors import InputError  # noqa: E402
from kerasrnn.export import version_dir, version_files, write_version  # noqa: E402
from kerasrnn.kinds import registry  # noqa: E402
from kerasrnn.kinds.stn_classifier import kind as stn_kind  # noqa: E402
from kerasrnn.kinds.stn_classifier.signatures import with_probabilities  # noqa: E402
from kerasrnn.export.onnx import to_onnx  # noqa: E402
from kerasrnn.kinds.stn_classifier.model import build_stn_classifier  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL = {"input_size": 28, "model": "cnn", "transform": "affine", "filters": [4, 8]}

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="export needs the TensorFlow backend")


def cnn_run(directory, seed=0):
    """A finished STN-classifier run directory holding an untrained CNN with fixed weights."""
    keras.utils.set_random_seed(seed)
    directory.mkdir(parents=True)
    run_dir.write_run_config(directory, "stn_classifier", MODEL, {"distortion": "R", "seed": seed})
    model = build_stn_classifier(**MODEL)
    run_dir.save_trained_model(directory, model, {"test_error_pct": 90.0, "epochs": 0})
    return directory


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return cnn_run(tmp_path_factory.mktemp("verify") / "run")


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_versions_count_up_and_are_never_overwritten(run, tmp_path, capsys, script):
    export = script("export/export_model.py")
    base = tmp_path / "models"
    assert export(["--model", str(run), "--name", "digits", "--base", str(base)]) == 0
    assert "as digits version 1" in capsys.readouterr().out
    pb = (base / "digits" / "1" / "saved_model.pb").read_bytes()
    card = (base / "digits" / "1" / "assets.extra" / "model_card.json").read_text()

    assert export(["--model", str(run), "--name", "digits", "--base", str(base), "--version", "1"]) == 2
    err = one_line_error(capsys)
    assert "already exists" in err and "the next free one is 2" in err
    assert (base / "digits" / "1" / "saved_model.pb").read_bytes() == pb
    assert (base / "digits" / "1" / "assets.extra" / "model_card.json").read_text() == card

    assert export(["--model", str(run), "--name", "digits", "--base", str(base)]) == 0
    assert export(["--model", str(run), "--name", "digits", "--base", str(base), "--version", "7"]) == 0
    assert export(["--model", str(run), "--name", "digits", "--base", str(base)]) == 0
    assert sorted(p.name for p in (base / "digits").iterdir()) == ["1", "2", "7", "8"]
    card = json.loads((base / "digits" / "8" / "assets.extra" / "model_card.json").read_text())
    assert card["version"] == 8


def test_next_version_counts_only_integer_folders(tmp_path):
    for name in ("1", "3", "tmp", ".tmp-9-123", "04"):
        (tmp_path / name).mkdir()
    (tmp_path / "12").write_text("a file, not a version")
    assert version_dir.versions(tmp_path) == [1, 3, 4]
    assert version_dir.next_version(tmp_path) == 5
    assert version_dir.next_version(tmp_path / "new") == 1


def test_a_failed_export_leaves_no_half_version(run, tmp_path, monkeypatch):
    real_export = stn_kind.export

    def crash_after_the_saved_model(model_run_dir, staging_dir, limits):
        real_export(model_run_dir, staging_dir, limits)
        assert (staging_dir / "saved_model.pb").is_file()
        raise RuntimeError("power cut")

    monkeypatch.setattr(stn_kind, "export", crash_after_the_saved_model)
    with pytest.raises(RuntimeError, match="power cut"):
        registry.export_model(run, tmp_path, "digits")
    assert not (tmp_path / "digits").exists()  # no half version, and no model folder it made


def test_script_refuses_what_it_cannot_export_in_one_line(run, tmp_path, capsys, script):
    export = script("export/export_model.py")
    base = str(tmp_path / "models")
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"name": "not ours"}))
    (tmp_path / "future").mkdir()
    (tmp_path / "future" / "config.json").write_text(json.dumps({"format": "kerasrnn.diffusion"}))
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "config.json").write_text((run / "config.json").read_text())  # no model
    cases = [
        (["--model", str(tmp_path / "missing")], "is not a kerasrnn model directory"),
        (["--model", str(tmp_path / "empty")], "is not a kerasrnn model directory"),
        (["--model", str(tmp_path / "other")], "is not a kerasrnn model directory"),
        (["--model", str(tmp_path / "future")], "holds a 'diffusion' model; export knows"),
        (["--model", str(tmp_path / "unfinished")], "training has not finished"),
        (["--model", str(run), "--version", "0"], "--version must be an integer >= 1"),
        (["--model", str(run), "--max-length", "50"], "--max-length does not apply to stn_classifier"),
        (["--model", str(run), "--max-beam-width", "3"], "--max-beam-width does not apply to stn_classifier"),
        (["--model", str(run), "--max-rows", "0"], "--max-rows must be an integer between 1 and 65536, got 0"),
        (["--model", str(run), "--max-rows", "-5"], "--max-rows must be an integer between 1 and 65536, got -5"),
    ]
    for args, message in cases:
        assert export([*args, "--name", "m", "--base", base]) == 2, args
        assert message in one_line_error(capsys)
    for name in ("../up", "", ".hidden", "a/b", "digits\n", "digits\nx", "d i", "ü"):
        assert export(["--model", str(run), "--name", name, "--base", base]) == 2
        assert "--name" in one_line_error(capsys)
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").rglob("saved_model.pb"))


def test_verify_fails_on_a_mismatch_and_refuses_bad_directories(run, tmp_path, capsys, script):
    version = registry.export_model(run, tmp_path / "models", "digits")
    verify = script("export/verify.py")
    assert verify([str(version)]) == 0
    assert "3 of 3 checks hold" in capsys.readouterr().out

    # An ONNX file from other weights: verify names the failed check and exits 1.
    other = build_stn_classifier(**MODEL)
    to_onnx(with_probabilities(other), version / "onnx" / "classifier.onnx",
            output_name=["logits", "probabilities"])
    assert verify([str(version)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  logits+probabilities: Keras vs ONNX" in out and "FAIL  classes of 8 images" in out
    assert "ok    logits+probabilities: Keras vs SavedModel" in out and "2 FAILED" in out

    assert verify([str(tmp_path / "models" / "digits")]) == 2  # the model folder, not a version
    assert "is not an exported kerasrnn model version" in one_line_error(capsys)
    assert verify([str(tmp_path / "nope")]) == 2
    assert "does not exist" in one_line_error(capsys)
    assert verify([str(version), "--prime", "abc"]) == 2
    assert "--prime does not apply to stn_classifier" in one_line_error(capsys)
    card_path = version / "assets.extra" / "model_card.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "run_dir": str(tmp_path / "moved")}))
    assert verify([str(version)]) == 2
    assert "pass the run directory with --model" in one_line_error(capsys)
    assert verify([str(version), "--model", str(run)]) == 1  # found again; still the wrong ONNX file


def test_library_errors_are_input_errors(run, tmp_path):
    with pytest.raises(InputError, match="no exporter for model kind 'diffusion'"):
        registry.kind_module("diffusion")
    with pytest.raises(InputError, match="version must be an integer >= 1"):
        registry.export_model(run, tmp_path, "m", version=-3)
    with pytest.raises(InputError, match="is not an exported kerasrnn model version"):
        version_files.read_model_card(run)
    assert not any(tmp_path.iterdir())
    np.testing.assert_equal(version_dir.versions(tmp_path / "m"), [])


def test_warmup_file_is_skipped_with_a_note_without_tensorflow_serving(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_serving", None)
    monkeypatch.setitem(sys.modules, "tensorflow_serving.apis", None)
    requests = [("classify", {"images": np.zeros((1, 28, 28, 1), np.float32)})]
    assert write_version.write_warmup_requests(tmp_path / "warmup", "m", requests) is None
    assert not (tmp_path / "warmup").exists()


def test_a_killed_exports_staging_folder_is_removed_by_the_next_export(run, tmp_path):
    """A process killed outright leaves `.tmp-<version>-<pid>`; the next export removes it."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stale = tmp_path / "digits" / f".tmp-1-{gone.stdout.strip()}"
    (stale / "variables").mkdir(parents=True)
    registry.export_model(run, tmp_path, "digits")
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["1"]


def test_export_needs_only_tensorflow_and_the_export_extra(tmp_path):
    """`pip install ".[cpu,export]"` is enough to export: with the data, scores and plots extras
    made unimportable, every kind exports and verifies."""
    code = f'''
import importlib.abc, sys
sys.path.insert(0, {str(ROOT / "tests")!r})

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow_datasets", "nltk", "matplotlib", "tf_keras_vis"):
            raise ImportError(name + " is not installed")

sys.meta_path.insert(0, Blocked())
import pathlib
from script_runs import script_main
from tiny_runs import captioner_run, char_run, stn_run
root = pathlib.Path({str(tmp_path)!r})
export = script_main("export/export_model.py")
verify = script_main("export/verify.py")
codes = []
for name, make in (("char", char_run), ("digits", stn_run), ("scenes", captioner_run)):
    make(root / name)
    codes.append(export(["--model", str(root / name), "--name", name, "--base", str(root / "models")]))
    codes.append(verify([str(root / "models" / name / "1")]))
print("codes", codes)
'''
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "codes [0, 0, 0, 0, 0, 0]" in done.stdout, done.stdout[-3000:]
