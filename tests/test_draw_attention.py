"""DRAW's attention (kerasrnn.layers.draw_attention) against a direct numpy evaluation of the
paper's equations (1-based indices), its gradients against finite differences, the identity
window reading back the image and writing back the patch, and a `.keras` round trip."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasrnn.layers.draw_attention import (EPSILON, DRAWRead, DRAWWrite, filterbanks,
                                            read_glimpse, write_patch)


def paper_filterbank(params, A, B, N):
    """Equations 19-26 of the paper, one example, loops over 1-based indices."""
    gx_, gy_, log_s2, log_d, log_g = params
    g_x, g_y = (A + 1) / 2 * (gx_ + 1), (B + 1) / 2 * (gy_ + 1)
    delta = (max(A, B) - 1) / (N - 1) * math.exp(log_d)
    s2, gamma = math.exp(log_s2), math.exp(log_g)
    F_x, F_y = np.zeros((N, A)), np.zeros((N, B))
    for i in range(1, N + 1):
        mu_x = g_x + (i - N / 2 - 0.5) * delta
        mu_y = g_y + (i - N / 2 - 0.5) * delta
        for a in range(1, A + 1):
            F_x[i - 1, a - 1] = math.exp(-(a - mu_x) ** 2 / (2 * s2))
        for b in range(1, B + 1):
            F_y[i - 1, b - 1] = math.exp(-(b - mu_y) ** 2 / (2 * s2))
    # normalised rows; a row whose weights sum below EPSILON (a filter far outside the image,
    # whose Gaussian underflows in float32) is divided by EPSILON instead, so it stays ~0
    F_x /= np.maximum(F_x.sum(axis=1, keepdims=True), EPSILON)
    F_y /= np.maximum(F_y.sum(axis=1, keepdims=True), EPSILON)
    return F_x, F_y, gamma


def test_the_filterbanks_are_the_papers_equations():
    rng = np.random.default_rng(0)
    A, B, N = 28, 20, 5  # a non-square image tells the axes apart
    params = np.concatenate([rng.uniform(-0.8, 0.8, (4, 2)), rng.uniform(-0.5, 1.5, (4, 1)),
                             rng.uniform(-1, 0.5, (4, 1)), rng.uniform(-0.5, 0.5, (4, 1))], axis=1)
    f_x, f_y, gamma, window = (np.asarray(v) for v in filterbanks(params, B, A, N))
    for k in range(len(params)):
        want_x, want_y, want_gamma = paper_filterbank(params[k], A, B, N)
        np.testing.assert_allclose(f_x[k], want_x, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(f_y[k], want_y, rtol=1e-12, atol=1e-15)
        assert gamma[k] == pytest.approx(want_gamma, rel=1e-12)
    images = rng.uniform(size=(4, B, A, 2))
    glimpse = np.asarray(read_glimpse(images, f_x, f_y, gamma))
    for k in range(len(params)):
        for c in range(2):
            want = gamma[k] * f_y[k] @ images[k, :, :, c] @ f_x[k].T
            np.testing.assert_allclose(glimpse[k, :, :, c], want, rtol=1e-12)
    patches = rng.normal(size=(4, N, N, 2))
    canvas = np.asarray(write_patch(patches, f_x, f_y, gamma))
    for k in range(len(params)):
        want = f_y[k].T @ patches[k, :, :, 0] @ f_x[k] / gamma[k]
        np.testing.assert_allclose(canvas[k, :, :, 0], want, rtol=1e-12)
    # the window: the centre in 1-based pixels, and the stride
    assert window[0, 0] == pytest.approx((A + 1) / 2 * (params[0, 0] + 1))
    assert window[0, 2] == pytest.approx((max(A, B) - 1) / (N - 1) * math.exp(params[0, 3]))


def test_the_identity_window_reads_back_the_image_and_writes_back_the_patch():
    """N = image size, delta~ = 1, centred, small sigma: every filter is one pixel. With 0-based
    indices the glimpse would be the image shifted by one pixel."""
    rng = np.random.default_rng(1)
    size = 28
    params = np.array([[0.0, 0.0, math.log(0.05**2), 0.0, 0.0]], np.float32)
    f_x, f_y, gamma, window = filterbanks(params, size, size, size)
    np.testing.assert_allclose(np.asarray(f_x)[0], np.eye(size), atol=1e-6)
    image = rng.uniform(size=(1, size, size, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(read_glimpse(image, f_x, f_y, gamma)), image, atol=1e-6)
    np.testing.assert_allclose(np.asarray(write_patch(image, f_x, f_y, gamma)), image, atol=1e-6)
    np.testing.assert_allclose(np.asarray(window)[0, :3], [14.5, 14.5, 1.0], rtol=1e-6)


def test_the_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    A = B = 9
    image = tf.constant(rng.uniform(size=(2, B, A, 1)))
    patch = tf.constant(rng.normal(size=(2, 3, 3, 1)))
    params = rng.uniform(-0.4, 0.4, (2, 5))

    def loss(p):
        f_x, f_y, gamma, _ = filterbanks(p, B, A, 3)
        glimpse = read_glimpse(image, f_x, f_y, gamma)
        canvas = write_patch(patch, f_x, f_y, gamma)
        return tf.reduce_sum(glimpse * glimpse) + tf.reduce_sum(tf.sin(canvas))

    p = tf.Variable(params)
    with tf.GradientTape() as tape:
        value = loss(p)
    analytic = tape.gradient(value, p).numpy()
    numeric = np.zeros_like(params)
    eps = 1e-6
    for index in np.ndindex(params.shape):
        up, down = params.copy(), params.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (loss(tf.constant(up)) - loss(tf.constant(down))).numpy() / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_the_layers_round_trip_and_the_baseline_shapes(tmp_path):
    image = keras.Input((28, 28, 1))
    error = keras.Input((28, 28, 1))
    state = keras.Input((16,))
    glimpse = DRAWRead(2)(image, error, state)
    delta, window = DRAWWrite((28, 28, 1), 5)(state)
    plain = DRAWRead(attention=False)(image, error, state)
    plain_delta, _ = DRAWWrite((28, 28, 1), attention=False)(state)
    model = keras.Model([image, error, state], [glimpse, delta, window, plain, plain_delta])
    assert [tuple(o.shape) for o in model.outputs] == [
        (None, 8), (None, 28, 28, 1), (None, 4), (None, 2 * 784), (None, 28, 28, 1)]
    rng = np.random.default_rng(3)
    inputs = [rng.uniform(size=(3, 28, 28, 1)).astype("float32"),
              rng.normal(size=(3, 28, 28, 1)).astype("float32"),
              rng.normal(size=(3, 16)).astype("float32")]
    model.save(tmp_path / "draw.keras")
    again = keras.saving.load_model(tmp_path / "draw.keras")
    for a, b in zip(model.predict(inputs, verbose=0), again.predict(inputs, verbose=0)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="patch_size"):
        DRAWWrite((28, 28, 1), 0)
    with pytest.raises(ValueError, match="image_shape"):
        DRAWWrite((28, 28))
