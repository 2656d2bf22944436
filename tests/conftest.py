"""Shared test set-up: quiet TensorFlow, fixed seeds, small generated data (no ../shared needed)."""

import os
import pathlib
import runpy

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def script():
    """`script("export/verify.py")`: the `main(argv)` function of one of the repository's scripts."""

    def main_of(relative_path):
        return runpy.run_path(str(ROOT / relative_path))["main"]

    return main_of


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture
def tiny_text():
    """A deterministic ~6 kB text with learnable structure (repeated words) and 20-odd chars."""
    rng = np.random.default_rng(0)
    words = ["def ", "return ", "self", ".x", " = ", "(a, b)", ":\n", "    ", "if ", "else"]
    return "".join(words[i] for i in rng.integers(0, len(words), 1200))
