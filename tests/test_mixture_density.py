"""The mixture density output of handwriting synthesis (kerasrnn.layers.mixture_density): the
NLL against the bivariate normal written out in numpy, extreme parameters, the mask, gradients
against finite differences, and sampling from given random numbers with and without the bias."""

import math

import numpy as np
import pytest
import tensorflow as tf

from kerasrnn.errors import InputError
from kerasrnn.layers.mixture_density import (LOG_SIGMA_MAX, LOG_SIGMA_MIN, RHO_EPS,
                                             MixtureDensity, mixture_nll, sample_point,
                                             split_mixture)


def unpack(raw):
    """The parameters of one point's raw vector `(1 + 6 M,)`, with the documented clips."""
    m = (len(raw) - 1) // 6
    e_logit = raw[0]
    pi_logits, mu1, mu2, ls1, ls2, rho_hat = raw[1:].reshape(6, m)
    ls1, ls2 = np.clip(ls1, LOG_SIGMA_MIN, LOG_SIGMA_MAX), np.clip(ls2, LOG_SIGMA_MIN, LOG_SIGMA_MAX)
    rho = np.clip(np.tanh(rho_hat), -1 + RHO_EPS, 1 - RHO_EPS)
    pi = np.exp(pi_logits - pi_logits.max())
    return e_logit, pi / pi.sum(), mu1, mu2, np.exp(ls1), np.exp(ls2), rho


def numpy_nll(raw, point, log_space=False):
    """-log sum_j pi_j N(x | mu_j, sigma_j, rho_j) - log Bernoulli(eos), the density written out;
    `log_space`: the same sum of log pi_j + log N_j, for densities that underflow float64."""
    e_logit, pi, mu1, mu2, s1, s2, rho = unpack(raw)
    dx, dy, eos = point
    z = ((dx - mu1) / s1) ** 2 + ((dy - mu2) / s2) ** 2 - 2 * rho * (dx - mu1) * (dy - mu2) / (s1 * s2)
    if log_space:
        m = (len(raw) - 1) // 6
        logits = raw[1:1 + m]
        log_pi = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
        terms = (log_pi - z / (2 * (1 - rho**2))
                 - np.log(2 * math.pi * s1 * s2 * np.sqrt(1 - rho**2)))
        log_p = terms.max() + np.log(np.exp(terms - terms.max()).sum())
        return -log_p + np.logaddexp(0.0, e_logit) - eos * e_logit
    density = np.exp(-z / (2 * (1 - rho**2))) / (2 * math.pi * s1 * s2 * np.sqrt(1 - rho**2))
    e = 1 / (1 + math.exp(-e_logit))
    return -math.log((pi * density).sum()) - math.log(e if eos else 1 - e)


def random_raw(rng, shape, m):
    e = rng.normal(size=(*shape, 1))
    pi = rng.normal(size=(*shape, m))
    mu = rng.normal(scale=0.5, size=(*shape, 2 * m))
    log_sigma = rng.uniform(-1.0, 0.5, (*shape, 2 * m))
    rho = rng.normal(scale=0.8, size=(*shape, m))
    return np.concatenate([e, pi, mu, log_sigma, rho], axis=-1)


def random_points(rng, shape):
    return np.concatenate([rng.normal(size=(*shape, 2)), rng.integers(0, 2, (*shape, 1))], axis=-1)


def test_the_split_and_its_clips():
    m = 3
    raw = np.arange(1 + 6 * m, dtype=np.float64)[None] - 9.0
    raw[0, 1 + 3 * m] = -50.0  # log sigma1 of component 1, below the floor
    raw[0, 1 + 6 * m - 1] = 40.0  # rho^ of the last component: tanh = 1 exactly
    e, pi, mu1, mu2, ls1, ls2, rho = (np.asarray(v) for v in split_mixture(raw))
    assert e.shape == (1, 1) and pi.shape == mu1.shape == rho.shape == (1, m)
    np.testing.assert_array_equal(pi[0], [-8, -7, -6])
    np.testing.assert_array_equal(mu2[0], [-2, -1, 0])
    assert ls1[0, 0] == pytest.approx(math.log(1e-4)) and ls2[0, 2] == 6
    assert rho[0, 2] == 1 - RHO_EPS
    with pytest.raises(InputError, match="1 \\+ 6 M"):
        split_mixture(np.zeros((2, 8)))


def test_the_nll_is_the_bivariate_mixture():
    rng = np.random.default_rng(0)
    m = 4
    raw, points = random_raw(rng, (3, 5), m), random_points(rng, (3, 5))
    nll = np.asarray(mixture_nll(raw, points))  # float64 in, float64 out
    assert nll.shape == (3, 5)
    want = np.array([[numpy_nll(raw[i, t], points[i, t]) for t in range(5)] for i in range(3)])
    np.testing.assert_allclose(nll, want, rtol=1e-12)
    # float32, through the layer's dtype
    nll32 = np.asarray(mixture_nll(raw.astype(np.float32), points.astype(np.float32)))
    np.testing.assert_allclose(nll32, want, rtol=1e-5, atol=1e-5)


def test_the_end_of_stroke_term():
    """A mixture far from its point contributes the same to both; the difference is the
    Bernoulli: -log sigmoid(l) against -log(1 - sigmoid(l))."""
    m = 1
    raw = np.zeros((1, 1 + 6 * m))
    raw[0, 0] = 1.3
    ends = np.asarray(mixture_nll(raw, np.array([[0.2, 0.1, 1.0]])))
    goes_on = np.asarray(mixture_nll(raw, np.array([[0.2, 0.1, 0.0]])))
    e = 1 / (1 + math.exp(-1.3))
    assert ends[0] - goes_on[0] == pytest.approx(-math.log(e) + math.log(1 - e), rel=1e-12)


def test_extreme_parameters_stay_finite():
    """rho near +-1 (tanh saturated), sigma below its floor, huge pi logits, points far off: the
    NLL and its gradients are finite in float32, and the float64 value is the written-out one."""
    m = 3
    raw = np.zeros((4, 1 + 6 * m))
    raw[:, 0] = [40.0, -40.0, 0.0, 80.0]                       # e logit
    raw[:, 1:1 + m] = [[1e4, -1e4, 0.0]] * 4                    # pi logits
    raw[:, 1 + 3 * m:1 + 5 * m] = -30.0                         # log sigma: floored at 1e-4
    raw[:, 1 + 5 * m:] = [[30.0, -30.0, 0.999]] * 4             # rho^: tanh = +-1, clipped
    points = np.array([[0.0, 0.0, 0.0], [1e-4, -1e-4, 1.0], [3.0, -2.0, 0.0], [50.0, 50.0, 1.0]])
    want = [numpy_nll(raw[i], points[i], log_space=True) for i in range(4)]
    got64 = np.asarray(mixture_nll(raw, points))
    assert np.isfinite(got64).all()
    np.testing.assert_allclose(got64, want, rtol=1e-9)
    assert got64[1] > 1e4  # a point across the line of rho = 1 - 1e-6: very unlikely, finite
    raw32 = tf.constant(raw.astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(raw32)
        nll = mixture_nll(raw32, points.astype(np.float32))
        total = tf.reduce_sum(nll)
    grad = tape.gradient(total, raw32).numpy()
    assert np.isfinite(nll.numpy()).all() and np.isfinite(grad).all()
    assert np.abs(grad).max() > 0


def test_masked_points_contribute_nothing():
    rng = np.random.default_rng(1)
    raw, points = random_raw(rng, (2, 6), 2), random_points(rng, (2, 6))
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    full = np.asarray(mixture_nll(raw, points))
    masked = np.asarray(mixture_nll(raw, points, mask))
    np.testing.assert_array_equal(masked[0, 4:], 0.0)
    np.testing.assert_array_equal(masked[0, :4], full[0, :4])
    np.testing.assert_array_equal(masked[1], full[1])
    assert (full[0, 4:] != 0).all()


def test_the_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    m = 3
    raw = tf.constant(random_raw(rng, (2,), m))
    points = random_points(rng, (2,))
    with tf.GradientTape() as tape:
        tape.watch(raw)
        total = tf.reduce_sum(mixture_nll(raw, points))
    grad = tape.gradient(total, raw).numpy()
    eps = 1e-6
    # e logit, a pi logit, mu1, mu2, log sigma1, log sigma2, rho^
    for i, j in [(0, 0), (1, 2), (0, 1 + m), (1, 1 + 2 * m + 1), (0, 1 + 3 * m + 2),
                 (1, 1 + 4 * m), (0, 1 + 5 * m + 1), (1, 1 + 5 * m + 2)]:
        step = np.zeros(raw.shape)
        step[i, j] = eps
        numeric = (np.sum(mixture_nll(raw + step, points)) - np.sum(mixture_nll(raw - step, points))) / (2 * eps)
        assert grad[i, j] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def numpy_sample(raw, bias, noise):
    """The documented sampling rule, one point."""
    e_logit, _, mu1, mu2, s1, s2, rho = unpack(raw)
    m = len(mu1)
    pi_logits = raw[1:1 + m] * (1 + bias)
    pi = np.exp(pi_logits - pi_logits.max())
    pi /= pi.sum()
    u, u_eos, n1, n2 = noise
    j = min(int(np.sum(np.cumsum(pi) <= u)), m - 1)
    s1, s2 = s1[j] * math.exp(-bias), s2[j] * math.exp(-bias)
    dx = mu1[j] + s1 * n1
    dy = mu2[j] + s2 * (rho[j] * n1 + math.sqrt(1 - rho[j] ** 2) * n2)
    return np.array([dx, dy, float(u_eos < 1 / (1 + math.exp(-e_logit)))]), j


def test_sampling_follows_the_documented_rule():
    rng = np.random.default_rng(3)
    m = 5
    raw = random_raw(rng, (64,), m)
    noise = np.concatenate([rng.uniform(size=(64, 2)), rng.normal(size=(64, 2))], axis=-1)
    bias = np.linspace(0.0, 3.0, 64)  # one bias per row
    points = np.asarray(sample_point(raw, bias, noise))
    components = set()
    for i in range(64):
        want, j = numpy_sample(raw[i], bias[i], noise[i])
        components.add(j)
        np.testing.assert_allclose(points[i], want, rtol=1e-12, atol=1e-14)
    assert len(components) > 1 and set(np.unique(points[:, 2])) == {0.0, 1.0}
    # a scalar bias is every row's
    np.testing.assert_allclose(np.asarray(sample_point(raw, 0.5, noise)),
                               np.asarray(sample_point(raw, np.full(64, 0.5), noise)), rtol=1e-15)


def test_unbiased_samples_have_the_mixtures_statistics():
    """Bias 0: components drawn as often as pi says, and each component's points with its mean
    and covariance (20,000 draws)."""
    rng = np.random.default_rng(4)
    n = 20000
    raw = np.array([0.4, math.log(0.2), math.log(0.8), 1.0, -2.0, 0.5, 1.0,
                    math.log(0.5), math.log(0.1), math.log(2.0), math.log(0.3), 0.6, -1.2])
    noise = np.concatenate([rng.uniform(size=(n, 2)), rng.normal(size=(n, 2))], axis=-1)
    points = np.asarray(sample_point(np.broadcast_to(raw, (n, len(raw))), 0.0, noise))
    first = noise[:, 0] < 0.2  # the rule: u < pi_1 picks component 1
    assert first.mean() == pytest.approx(0.2, abs=0.01)
    for chosen, mu, sigma, rho in [(first, (1.0, 0.5), (0.5, 2.0), math.tanh(0.6)),
                                   (~first, (-2.0, 1.0), (0.1, 0.3), math.tanh(-1.2))]:
        xy = points[chosen, :2]
        np.testing.assert_allclose(xy.mean(0), mu, atol=4 * max(sigma) / math.sqrt(len(xy)))
        cov = np.cov(xy.T)
        np.testing.assert_allclose(np.sqrt(np.diag(cov)), sigma, rtol=0.04)
        assert cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) == pytest.approx(rho, abs=0.03)
    assert points[:, 2].mean() == pytest.approx(1 / (1 + math.exp(-0.4)), abs=0.01)


def test_a_large_bias_writes_the_mean_of_the_likeliest_component():
    rng = np.random.default_rng(5)
    m = 4
    raw = random_raw(rng, (400,), m)
    top_two = np.sort(raw[:, 1:1 + m], axis=1)[:, -2:]
    raw = raw[top_two[:, 1] - top_two[:, 0] > 0.3][:200]  # (1 + b) 0.3 > 15: pi ~ one-hot
    noise = np.concatenate([rng.uniform(0, 0.999, (200, 2)), rng.normal(size=(200, 2))], axis=-1)
    points = np.asarray(sample_point(raw.astype(np.float32), 50.0, noise.astype(np.float32)))
    likeliest = raw[:, 1:1 + m].argmax(axis=1)
    rows = np.arange(200)
    np.testing.assert_allclose(points[:, 0], raw[rows, 1 + m + likeliest], atol=1e-6)
    np.testing.assert_allclose(points[:, 1], raw[rows, 1 + 2 * m + likeliest], atol=1e-6)
    # bias 0 with the same numbers does not: the noise moves the point
    unbiased = np.asarray(sample_point(raw.astype(np.float32), 0.0, noise.astype(np.float32)))
    assert np.abs(unbiased[:, 0] - raw[rows, 1 + m + likeliest]).mean() > 0.1


def test_the_layer():
    layer = MixtureDensity(5)
    out = layer(np.zeros((2, 7, 11), np.float32))
    assert tuple(out.shape) == (2, 7, 31) == layer.compute_output_shape((2, 7, 11))
    assert len(layer.split(out)) == 7
    assert MixtureDensity.from_config(layer.get_config()).components == 5
    for bad in [0, 1.5, True]:
        with pytest.raises(InputError, match="components"):
            MixtureDensity(bad)
