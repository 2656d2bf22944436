"""The layers use keras.ops only: run the char model, the ST-CNN and the captioner (soft and hard
attention, cell and centroid coordinates, training included) on the PyTorch or JAX backend when
installed.

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
from kerasrnn.kinds.char_rnn.model import build_char_rnn, min_char_rnn_params
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


VISION_SCRIPT = r"""
import numpy as np, keras
assert keras.backend.backend() == BACKEND, keras.backend.backend()
from kerasrnn.kinds.stn_classifier.model import build_stn_classifier, rectifier
from kerasrnn.kinds.captioner.model import beam_search_batch, build_captioner, greedy_decode
rng = np.random.default_rng(0)
x = rng.random((4, 28, 28, 1)).astype("float32")
st = build_stn_classifier(28, "st-cnn", "tps")
assert tuple(st(x).shape) == (4, 10)
np.testing.assert_allclose(keras.ops.convert_to_numpy(rectifier(st)(x)), x, atol=1e-5)
images = rng.random((8, 32, 32, 3)).astype("float32")
captions = rng.integers(1, 12, (8, 7)).astype("int32")
for attention in ("soft", "hard"):
    model = build_captioner(12, 32, 5, cell="gru", attention=attention, embedding_dim=8, units=16,
                            attention_units=8, seed=0,
                            coordinates="centroid" if attention == "hard" else "cell")
    model.compile("adam", [keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0), None])
    history = model.fit([images, captions], captions[:, 1:], batch_size=4, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"])), history.history
    if attention == "hard":
        assert float(keras.ops.convert_to_numpy(model.get_layer("decoder").reward_baseline)) < 0
    greedy = greedy_decode(model, images[:2], 2, 3, 6)
    beam = beam_search_batch(model, images[:2], 2, 3, 6, beam_width=1, length_penalty=0.0)
    assert [g.tokens for g in greedy] == [b.tokens for b in beam]
"""


@pytest.mark.parametrize("backend,module", [("torch", "torch"), ("jax", "jax")])
@pytest.mark.parametrize("script", ["char", "vision"])
def test_models_run_on_other_backends(backend, module, script, tmp_path):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install {module} to check the {backend} backend)")
    code = (SCRIPT if script == "char" else VISION_SCRIPT).replace("BACKEND", repr(backend))
    code = code.replace("PATH", repr(str(tmp_path / "m.keras")))
    # On GPUs JAX multiplies float32 matrices in TF32 by default (1e-4 off the numpy reference
    # on an H100); ask for full float32 so the parity check means what it says.
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_DEFAULT_MATMUL_PRECISION": "highest"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
