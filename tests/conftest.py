"""Shared test set-up: quiet TensorFlow, fixed seeds, small generated data (no ../shared needed)."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from script_runs import script_main  # noqa: E402


ROOT = pathlib.Path(__file__).resolve().parents[1]

# The slow tier: files whose tests train, export or serve models, or run scripts in other
# processes. `make test-fast` (pytest -m "not slow") leaves them out; `make test` runs everything.
SLOW_FILES = {
    "test_backends.py", "test_bad_training_input.py", "test_check_distributed_gpu.py", "test_bench_captioner.py", "test_bench_serving.py",
    "test_bench_stn.py", "test_damaged_exports.py", "test_damaged_runs.py", "test_damaged_stn_captioner_runs.py",
    "test_disk_errors.py", "test_distributed_training.py",
    "test_export_captioner.py", "test_export_captioner_onnx.py", "test_export_char.py",
    "test_export_onnx_runtimes.py", "test_export_stn.py", "test_export_stn_onnx.py", "test_export_verify.py",
    "test_hostile_requests.py", "test_serving_live.py", "test_train_captioner.py", "test_train_char_rnn.py",
    "test_train_stn.py",
}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def script():
    """`script("export/verify.py")`: the `main(argv)` function of one of the repository's scripts
    (`script_runs.script_main`)."""
    return script_main


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture
def tiny_text():
    """A deterministic ~6 kB text with learnable structure (repeated words) and 20-odd chars."""
    rng = np.random.default_rng(0)
    words = ["def ", "return ", "self", ".x", " = ", "(a, b)", ":\n", "    ", "if ", "else"]
    return "".join(words[i] for i in rng.integers(0, len(words), 1200))
