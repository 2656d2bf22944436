"""The ST-CNN exports with `model.export` to a SavedModel and with tf2onnx to ONNX, and ONNX Runtime
computes the same logits and the same rectified images as Keras (atol 1e-4).

The transformer's kernel is set to random values, so theta is far from the identity and a wrongly
exported grid or sampler shows in the rectified images.
"""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

import keras  # noqa: E402

from kerasrnn.export.onnx import onnx_outputs, to_onnx  # noqa: E402
from kerasrnn.kinds.stn_classifier.model import TRANSFORMER_NAME, build_stn_classifier, rectifier  # noqa: E402

ATOL = 1e-4


def perturbed_st_cnn(size, transform):
    """A small ST-CNN whose transformer predicts a clearly non-identity transform."""
    model = build_stn_classifier(size, "st-cnn", transform, filters=(4, 8))
    st = model.get_layer(TRANSFORMER_NAME)
    st.kernel.assign(np.random.default_rng(0).normal(0.0, 0.1, st.kernel.shape).astype("float32"))
    return model


@pytest.mark.parametrize("size,transform", [(28, "affine"), (28, "projective"), (28, "tps"),
                                            (60, "affine")])
def test_saved_model_and_onnx_match_keras(tmp_path, size, transform):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("export needs the TensorFlow backend")
    model = perturbed_st_cnn(size, transform)
    rect = rectifier(model)
    x = np.random.default_rng(1).random((4, size, size, 1)).astype("float32")
    logits = keras.ops.convert_to_numpy(model(x))
    st = model.get_layer(TRANSFORMER_NAME)
    rectified, theta = map(keras.ops.convert_to_numpy, st(x, return_theta=True))
    assert np.abs(theta - st.identity_params).max() > 0.1

    # SavedModel (TF Serving): the `serve` endpoint reloads and computes the same logits.
    model.export(tmp_path / "saved_model", format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    np.testing.assert_allclose(loaded.serve(x).numpy(), logits, rtol=0, atol=1e-5)

    # ONNX: the classifier and the rectifier, with a dynamic batch axis.
    onnx_logits = to_onnx(model, tmp_path / "model.onnx", (size, size, 1), output_name="logits")
    onnx_rect = to_onnx(rect, tmp_path / "rectifier.onnx", (size, size, 1), output_name="rectified")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "rectifier.onnx",
                                                          "saved_model"]
    (got_logits,) = onnx_outputs(onnx_logits, {"images": x})
    (got_rect,) = onnx_outputs(onnx_rect, x)
    assert got_rect.shape == rectified.shape
    assert np.abs(got_logits - logits).max() <= ATOL
    assert np.abs(got_rect - rectified).max() <= ATOL
    (one,) = onnx_outputs(onnx_logits, x[:1])
    assert np.abs(one - logits[:1]).max() <= ATOL


def test_to_onnx_replaces_a_file_atomically(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("export needs the TensorFlow backend")
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    to_onnx(model, path, (3,))
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(onnx_outputs(path, x)[0], model.predict(x, verbose=0), atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_to_onnx_converts_several_inputs_and_outputs(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("export needs the TensorFlow backend")
    a, b = keras.Input((2,), name="a"), keras.Input((3,), name="b")
    model = keras.Model([a, b], [a * 2.0, keras.ops.sum(b, axis=-1, keepdims=True)])
    path = to_onnx(model, tmp_path / "m.onnx")
    x, y = np.ones((4, 2), "float32"), np.arange(12, dtype="float32").reshape(4, 3)
    got = onnx_outputs(path, {"a": x, "b": y})
    np.testing.assert_allclose(got[0], 2 * x)
    np.testing.assert_allclose(got[1], y.sum(-1, keepdims=True))
    with pytest.raises(ValueError, match="has 2 outputs; got 1 names"):
        to_onnx(model, tmp_path / "n.onnx", output_name="x")
