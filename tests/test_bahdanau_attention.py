"""BahdanauAttention: the additive score in numpy, weights that sum to 1, exact masking, saving."""

import keras
import numpy as np
import pytest

from kerasrnn.layers import BahdanauAttention


def _numpy_attention(a, h, W1, W2, b, v, mask=None):
    scores = (np.tanh(a @ W1 + (h @ W2 + b)[:, None, :]) @ v)[..., 0]
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    alpha = e / e.sum(-1, keepdims=True)
    return (alpha[..., None] * a).sum(1), alpha


@pytest.fixture
def inputs():
    rng = np.random.default_rng(0)
    return rng.standard_normal((3, 7, 5)).astype("float32"), rng.standard_normal((3, 4)).astype("float32")


def test_context_and_weights_equal_the_formula(inputs):
    a, h = inputs
    layer = BahdanauAttention(6)
    context, alpha = layer(a, h)
    assert tuple(context.shape) == (3, 5) and tuple(alpha.shape) == (3, 7)
    W1, W2, b, v = (w.numpy() for w in layer.weights)
    ref_context, ref_alpha = _numpy_attention(a, h, W1, W2, b, v)
    np.testing.assert_allclose(alpha, ref_alpha, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(context, ref_context, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.sum(alpha, -1), 1.0, atol=1e-6)
    reused, _ = layer(a, h, projected_annotations=layer.project_annotations(a))
    np.testing.assert_allclose(reused, context, atol=1e-6)


def test_masked_locations_get_exactly_zero(inputs):
    a, h = inputs
    mask = np.ones((3, 7), bool)
    mask[0, 4:] = False
    mask[1, ::2] = False
    mask[2, :] = False  # nothing to attend to
    layer = BahdanauAttention(6)
    context, alpha = (np.asarray(t) for t in layer(a, h, mask=mask))
    assert np.all(alpha[~mask] == 0.0)
    np.testing.assert_allclose(alpha[:2].sum(-1), 1.0, atol=1e-6)
    W1, W2, b, v = (w.numpy() for w in layer.weights)
    ref_context, ref_alpha = _numpy_attention(a[:2], h[:2], W1, W2, b, v, mask[:2])
    np.testing.assert_allclose(alpha[:2], ref_alpha, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(context[:2], ref_context, rtol=1e-5, atol=1e-5)
    assert np.all(alpha[2] == 0.0) and np.all(context[2] == 0.0)


def test_keras_round_trip_is_exact_and_gradients_flow(tmp_path, inputs):
    import tensorflow as tf

    a, h = inputs
    ann, query = keras.Input((7, 5)), keras.Input((4,))
    context, alpha = BahdanauAttention(6, name="attention")(ann, query)
    model = keras.Model([ann, query], [context, alpha])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    for x, y in zip(model([a, h]), loaded([a, h])):
        np.testing.assert_array_equal(x, y)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model([a, h])[0] ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"annotations \(batch, L, D\)"):
        BahdanauAttention(4)(np.zeros((2, 5), "float32"), np.zeros((2, 3), "float32"))
