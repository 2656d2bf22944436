"""The imports kerasrnn 0.1's docs showed still work and give the kind packages' objects; the
ONNX drivers' old paths still load no TensorFlow (fast: the model builders are imported, nothing
is built)."""

import subprocess
import sys
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

OLD_TO_NEW = [
    ("kerasrnn.models.char_rnn", "build_char_rnn", "kerasrnn.kinds.char_rnn.model"),
    ("kerasrnn.models.stn_classifier", "build_stn_classifier", "kerasrnn.kinds.stn_classifier.model"),
    ("kerasrnn.models.captioner", "build_captioner", "kerasrnn.kinds.captioner.model"),
    ("kerasrnn.export.char.onnx_driver", "CharGenerator", "kerasrnn.kinds.char_rnn.onnx_driver"),
    ("kerasrnn.export.captioner.onnx_driver", "CaptionerONNX", "kerasrnn.kinds.captioner.onnx_driver"),
]


@pytest.mark.parametrize("old, name, new", OLD_TO_NEW)
def test_an_import_the_docs_showed_gives_the_kind_packages_object(old, name, new):
    import importlib

    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


@pytest.mark.parametrize("old", ["kerasrnn.export.char.onnx_driver", "kerasrnn.export.captioner.onnx_driver"])
def test_the_old_onnx_driver_paths_load_no_tensorflow(old):
    code = (f"import sys, {old}; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
