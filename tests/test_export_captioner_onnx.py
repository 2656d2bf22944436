"""The teacher-forced captioner (soft and hard attention) exports with `model.export` to a
SavedModel and with tf2onnx to ONNX, and both compute Keras's logits and attention maps (atol 1e-4).
"""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

import keras  # noqa: E402

from kerasrnn.export.onnx import onnx_outputs, to_onnx  # noqa: E402
from kerasrnn.kinds.captioner.model import build_captioner  # noqa: E402

ATOL = 1e-4
WORDS = 6


@pytest.mark.parametrize("cell,attention,coordinates",
                         [("lstm", "soft", "cell"), ("gru", "hard", "cell"), ("vanilla", "soft", "centroid")])
def test_saved_model_and_onnx_match_keras(tmp_path, cell, attention, coordinates):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("export needs the TensorFlow backend")
    model = build_captioner(20, 32, WORDS, cell=cell, attention=attention, embedding_dim=16,
                            units=24, attention_units=16, coordinates=coordinates)
    rng = np.random.default_rng(0)
    images = rng.random((3, 32, 32, 3)).astype("float32")
    captions = rng.integers(1, 20, (3, WORDS + 2)).astype("int32")
    captions[0, 4:] = 0  # a padded caption
    logits, alphas = map(keras.ops.convert_to_numpy, model([images, captions]))

    model.export(tmp_path / "saved_model", format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))  # keep it: it owns the variables
    served = loaded.serve([images, captions])
    np.testing.assert_allclose(served[0].numpy(), logits, rtol=0, atol=1e-5)
    np.testing.assert_allclose(served[1].numpy(), alphas, rtol=0, atol=1e-5)

    path = to_onnx(model, tmp_path / "captioner.onnx", output_name=["logits", "alphas"])
    got_logits, got_alphas = onnx_outputs(path, {"images": images, "captions": captions},
                                          names=["logits", "alphas"])
    assert got_logits.shape == logits.shape and got_alphas.shape == alphas.shape
    assert np.abs(got_logits - logits).max() <= ATOL
    assert np.abs(got_alphas - alphas).max() <= ATOL
