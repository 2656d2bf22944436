"""The window of handwriting synthesis (kerasrnn.layers.gaussian_window) against a direct numpy
evaluation of the paper's equations 46-51 (1-based positions), the padding and phi at one past
the end, the clips, the stopping rule, gradients against finite differences and a `.keras`
round trip."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasrnn.errors import InputError
from kerasrnn.layers.gaussian_window import (MAX_EXPONENT, GaussianWindow, window_parameters,
                                             window_passed_end, window_phi)


def paper_window(raw, kappa_prev, chars, length):
    """Equations 46-51 for one example, loops over 1-based positions u = 1..U+1; characters past
    `length` are padding: no weight in w, phi 0 beyond position length + 1."""
    K = len(kappa_prev)
    U, V = chars.shape
    clip = lambda v: min(max(v, -MAX_EXPONENT), MAX_EXPONENT)  # noqa: E731
    alpha = [math.exp(clip(raw[k])) for k in range(K)]
    beta = [math.exp(clip(raw[K + k])) for k in range(K)]
    kappa = [kappa_prev[k] + math.exp(clip(raw[2 * K + k])) for k in range(K)]
    phi = np.zeros(U + 1)
    for u in range(1, U + 2):
        if u <= length + 1:
            phi[u - 1] = sum(alpha[k] * math.exp(-beta[k] * (kappa[k] - u) ** 2) for k in range(K))
    w = np.zeros(V)
    for u in range(1, length + 1):
        w += phi[u - 1] * chars[u - 1]
    return w, np.array(kappa), phi


def random_text(rng, batch, U, V, lengths):
    """One-hot texts whose padding rows hold characters too (the mask alone must hide them)."""
    chars = np.eye(V)[rng.integers(0, V, (batch, U))]
    mask = (np.arange(U)[None, :] < np.asarray(lengths)[:, None]).astype(np.float64)
    return chars, mask


def test_the_window_is_the_papers_equations_with_padding():
    rng = np.random.default_rng(0)
    B, D, K, U, V = 4, 6, 3, 7, 5
    lengths = [7, 4, 1, 0]
    layer = GaussianWindow(K)
    h = rng.normal(size=(B, D)).astype(np.float32)
    kappa_prev = rng.uniform(0, 5, (B, K)).astype(np.float32)
    chars, mask = random_text(rng, B, U, V, lengths)
    w, kappa, phi = (np.asarray(v) for v in layer(h, kappa_prev, chars.astype(np.float32),
                                                  mask.astype(np.float32)))
    assert w.shape == (B, V) and kappa.shape == (B, K) and phi.shape == (B, U + 1)
    kernel, bias = (np.asarray(v, np.float64) for v in layer.params.weights)
    raw = h.astype(np.float64) @ kernel + bias
    for b in range(B):
        want_w, want_kappa, want_phi = paper_window(raw[b], kappa_prev[b], chars[b], lengths[b])
        np.testing.assert_allclose(kappa[b], want_kappa, rtol=1e-6)
        np.testing.assert_allclose(phi[b], want_phi, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(w[b], want_w, rtol=1e-5, atol=1e-7)
        # one past the end keeps its value (not 0) and every position beyond it is 0
        assert phi[b, lengths[b]] > 0
        assert not phi[b, lengths[b] + 1:].any()
    assert not w[3].any()  # an empty text: nothing to read
    # no mask: every position is a character
    w_all, _, phi_all = layer(h, kappa_prev, chars.astype(np.float32))
    for b in range(B):
        want_w, _, want_phi = paper_window(raw[b], kappa_prev[b], chars[b], U)
        np.testing.assert_allclose(np.asarray(phi_all)[b], want_phi, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(np.asarray(w_all)[b], want_w, rtol=1e-5, atol=1e-7)


def test_the_functions_in_float64():
    rng = np.random.default_rng(1)
    B, K, U = 3, 4, 6
    raw = rng.normal(size=(B, 3 * K))
    kappa_prev = rng.uniform(0, 4, (B, K))
    alpha, beta, kappa = (np.asarray(v) for v in window_parameters(raw, kappa_prev))
    np.testing.assert_allclose(alpha, np.exp(raw[:, :K]), rtol=1e-14)
    np.testing.assert_allclose(beta, np.exp(raw[:, K:2 * K]), rtol=1e-14)
    np.testing.assert_allclose(kappa, kappa_prev + np.exp(raw[:, 2 * K:]), rtol=1e-14)
    phi = np.asarray(window_phi(alpha, beta, kappa, U + 1))
    u = np.arange(1, U + 2)
    want = (alpha[:, :, None] * np.exp(-beta[:, :, None] * (kappa[:, :, None] - u) ** 2)).sum(1)
    np.testing.assert_allclose(phi, want, rtol=1e-13)


def test_positions_are_one_based_kappa_starts_before_the_first_character():
    """kappa_0 = 0 and a first move exp(k^) = 1 put the window on character 1: a sharp window
    then reads exactly the first character (0-based positions would read the second)."""
    K, U, V = 1, 4, 4
    layer = GaussianWindow(K)
    layer.build((1, 2))
    # zero kernel; bias: a^ = 0 (alpha 1), b^ = log 50 (a sharp window), k^ = 0 (move by 1)
    layer.params.set_weights([np.zeros((2, 3 * K)), np.array([0.0, math.log(50.0), 0.0])])
    chars = np.eye(V)[[[2, 0, 3, 1]]].astype(np.float32)
    w, kappa, phi = (np.asarray(v) for v in layer(np.zeros((1, 2), np.float32),
                                                  np.zeros((1, K), np.float32), chars))
    assert kappa[0, 0] == pytest.approx(1.0) and phi.shape == (1, U + 1)
    assert phi[0].argmax() == 0 and phi[0, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(w[0], np.eye(V)[2], atol=1e-20)


def test_the_clips_keep_everything_finite():
    """Raw outputs of +-1000 (exp would overflow float32 at 89) are clipped to +-10."""
    K, U = 2, 5
    raw = np.array([[1000.0, -1000.0, 1000.0, -1000.0, 1000.0, -1000.0]], np.float32)
    kappa_prev = np.zeros((1, K), np.float32)
    alpha, beta, kappa = (np.asarray(v) for v in window_parameters(raw, kappa_prev))
    np.testing.assert_allclose(alpha[0], [math.exp(10), math.exp(-10)], rtol=1e-6)
    np.testing.assert_allclose(kappa[0], [math.exp(10), math.exp(-10)], rtol=1e-6)
    phi = np.asarray(window_phi(alpha, beta, kappa, U + 1))
    assert np.isfinite(phi).all()
    layer = GaussianWindow(K)
    layer.build((1, 3))
    layer.params.set_weights([np.full((3, 3 * K), 500.0), np.zeros(3 * K)])
    x = tf.constant(np.ones((1, 3), np.float32))
    chars = np.eye(4)[[[0, 1, 2, 3, 0]]].astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        w, kappa, phi = layer(x, kappa_prev, chars)
        total = tf.reduce_sum(w) + tf.reduce_sum(phi) + tf.reduce_sum(kappa)
    grads = tape.gradient(total, [x, *layer.trainable_weights])
    assert all(np.isfinite(np.asarray(v)).all() for v in [w, kappa, phi, *grads])


def test_the_stopping_rule():
    phi = np.array([[0.1, 0.9, 0.2, 0.0],    # length 2: at position 2, not past
                    [0.1, 0.2, 0.3, 0.0],    # length 2: phi(3) beats both characters
                    [0.5, 0.6, 0.7, 0.8],    # length 3: past
                    [0.3, 0.0, 0.0, 0.0]])   # empty text: past at once
    mask = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 1], [0, 0, 0]], np.float32)
    np.testing.assert_array_equal(np.asarray(window_passed_end(phi, mask)),
                                  [False, True, True, True])


def test_the_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    B, K, U, V = 2, 2, 5, 3
    raw = tf.constant(rng.normal(scale=0.7, size=(B, 3 * K)))
    kappa_prev = rng.uniform(0, 3, (B, K))
    chars = np.eye(V)[rng.integers(0, V, (B, U))]
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], np.float64)
    target = rng.normal(size=(B, V))

    def loss(r):
        alpha, beta, kappa = window_parameters(r, kappa_prev)
        phi = window_phi(alpha, beta, kappa, U + 1)
        w = tf.einsum("bu,buv->bv", phi[:, :-1] * mask, chars)
        return tf.reduce_sum(w * target) + tf.reduce_sum(tf.sin(kappa))

    with tf.GradientTape() as tape:
        tape.watch(raw)
        value = loss(raw)
    grad = tape.gradient(value, raw).numpy()
    eps = 1e-6
    for i, j in [(0, 0), (0, K + 1), (1, 2 * K), (1, K - 1), (0, 3 * K - 1)]:
        step = np.zeros((B, 3 * K))
        step[i, j] = eps
        numeric = (loss(raw + step) - loss(raw - step)).numpy() / (2 * eps)
        assert grad[i, j] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_a_round_trip(tmp_path):
    h = keras.Input((5,))
    kappa = keras.Input((3,))
    chars = keras.Input((4, 6))
    mask = keras.Input((4,))
    model = keras.Model([h, kappa, chars, mask], GaussianWindow(3, name="window")(h, kappa, chars, mask))
    model.save(tmp_path / "window.keras")
    again = keras.saving.load_model(tmp_path / "window.keras")
    rng = np.random.default_rng(3)
    inputs = [rng.normal(size=(2, 5)), rng.uniform(0, 2, (2, 3)),
              np.eye(6)[rng.integers(0, 6, (2, 4))], np.array([[1, 1, 1, 1], [1, 1, 0, 0]])]
    inputs = [x.astype(np.float32) for x in inputs]
    for a, b in zip(model(inputs), again(inputs)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert again.get_layer("window").components == 3


@pytest.mark.parametrize("components", [0, -1, 2.5, True, "3"])
def test_rejects_bad_components(components):
    with pytest.raises(InputError, match="components"):
        GaussianWindow(components)
