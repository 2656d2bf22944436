"""The layers use keras.ops only: run the char model on the PyTorch or JAX backend when installed.

The default install has neither (TensorFlow is the package's backend), so CI skips these;
`pip install torch` (or `jax`) and rerun to check another backend.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import numpy as np, keras
assert keras.backend.backend() == BACKEND, keras.backend.backend()
from kerasrnn.models.char_rnn import build_char_rnn, min_char_rnn_params
V, H, T = 11, 8, 6
model = build_char_rnn(V, cell="vanilla", num_layers=1, hidden_size=H)
ids = np.random.default_rng(0).integers(0, V, (2, T)).astype("int32")
out = keras.ops.convert_to_numpy(model(ids))
p = {k: v.astype(np.float64) for k, v in min_char_rnn_params(model).items()}
for b in range(2):
    h = np.zeros((H, 1))
    for t in range(T):
        x = np.zeros((V, 1)); x[ids[b, t]] = 1
        h = np.tanh(p["Wxh"] @ x + p["Whh"] @ h + p["bh"])
        np.testing.assert_allclose((p["Why"] @ h + p["by"])[:, 0], out[b, t], atol=1e-5)
model.save(PATH)
np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras.saving.load_model(PATH)(ids)), out)
"""


@pytest.mark.parametrize("backend,module", [("torch", "torch"), ("jax", "jax")])
def test_char_model_runs_on_other_backends(backend, module, tmp_path):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install {module} to check the {backend} backend)")
    code = SCRIPT.replace("BACKEND", repr(backend)).replace("PATH", repr(str(tmp_path / "m.keras")))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "KERAS_BACKEND": backend}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
