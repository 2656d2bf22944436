"""The mixture density output of handwriting synthesis (Graves 2013, section 4.1, and the
sampling bias of section 5.4): M bivariate Gaussians for the pen's offset and a Bernoulli for
the end of the stroke.

One linear layer gives `1 + 6 M` raw numbers per point, split in this order:

    e_logit (1), pi_logits (M), mu1 (M), mu2 (M), log_sigma1 (M), log_sigma2 (M), rho^ (M)

    e = sigmoid(e_logit)          the probability that the stroke ends at this point (the
                                  paper writes e = 1 / (1 + exp(e^)), that is e^ = -e_logit)
    pi = softmax(pi_logits)       sigma = exp(log_sigma)       rho = tanh(rho^)

Clips, so that every number stays finite: log sigma is clipped to [LOG_SIGMA_MIN, LOG_SIGMA_MAX]
= [log 1e-4, 10] (sigma in [1e-4, 2.2e4]); rho to |rho| <= 1 - RHO_EPS = 1 - 1e-6 (1 - rho^2 is
computed as (1 - rho)(1 + rho)). A clip has zero gradient beyond its bound.

Per point `(dx, dy, eos)` the negative log-likelihood is

    -log sum_j pi_j N(dx, dy | mu1_j, mu2_j, sigma1_j, sigma2_j, rho_j) - log (e if eos else 1 - e)

    log N = -log(2 pi) - log sigma1 - log sigma2 - 1/2 log(1 - rho^2) - Z / (2 (1 - rho^2))
    Z = z1^2 + z2^2 - 2 rho z1 z2,    z1 = (dx - mu1) / sigma1,    z2 = (dy - mu2) / sigma2

with a log-sum-exp over the components, a log-softmax for pi and softplus for the Bernoulli.

Sampling with the bias b >= 0 (b = 0 samples the model as trained; larger b, neater writing):
pi = softmax(pi_logits (1 + b)), sigma = exp(log_sigma - b), e unchanged. The random numbers
are inputs, so a sample is a pure function of them: four per point, `noise[..., :4] =
(u_component, u_eos, n1, n2)`, u uniform in [0, 1), n standard normal:

    component j = the smallest j with u_component < pi_1 + ... + pi_j (the last one if rounding
                  leaves the sum below u_component)
    dx = mu1_j + sigma1_j n1
    dy = mu2_j + sigma2_j (rho_j n1 + sqrt(1 - rho_j^2) n2)
    eos = 1 if u_eos < e else 0
"""

import math

import keras
from keras import ops

from kerasrnn.errors import InputError

LOG_SIGMA_MIN = math.log(1e-4)  # sigma floor 1e-4
LOG_SIGMA_MAX = 10.0
RHO_EPS = 1e-6  # |rho| <= 1 - RHO_EPS


def mixture_size(components):
    """The raw parameters per point of an M-component mixture: `1 + 6 M`."""
    return 1 + 6 * components


def split_mixture(raw):
    """The mixture's parameters from the raw outputs, clipped as the module says.

    Args:
        raw: `(..., 1 + 6 M)`.

    Returns:
        `(e_logit, pi_logits, mu1, mu2, log_sigma1, log_sigma2, rho)`: `e_logit` `(..., 1)`,
        the others `(..., M)`.
    """
    size = raw.shape[-1]
    if size is None or (size - 1) % 6 or size < 7:
        raise InputError(f"split_mixture: the last axis must be 1 + 6 M for M >= 1 components, "
                         f"got {size}.")
    m = (size - 1) // 6
    e_logit, rest = raw[..., :1], raw[..., 1:]
    pi_logits, mu1, mu2, log_sigma1, log_sigma2, rho_hat = (rest[..., i * m:(i + 1) * m]
                                                            for i in range(6))
    log_sigma1 = ops.clip(log_sigma1, LOG_SIGMA_MIN, LOG_SIGMA_MAX)
    log_sigma2 = ops.clip(log_sigma2, LOG_SIGMA_MIN, LOG_SIGMA_MAX)
    rho = ops.clip(ops.tanh(rho_hat), -1.0 + RHO_EPS, 1.0 - RHO_EPS)
    return e_logit, pi_logits, mu1, mu2, log_sigma1, log_sigma2, rho


def mixture_nll(raw, targets, mask=None):
    """The negative log-likelihood of each point, in nats.

    Args:
        raw: `(..., 1 + 6 M)`, the `MixtureDensity` outputs.
        targets: `(..., 3)`: dx, dy, eos (0 or 1).
        mask: `(...)`, 1 on real points, 0 on padding (which contributes 0); `None`: all real.

    Returns:
        `(...)`, -log p(dx, dy) - log p(eos) per point.
    """
    e_logit, pi_logits, mu1, mu2, log_sigma1, log_sigma2, rho = split_mixture(raw)
    targets = ops.cast(targets, raw.dtype)
    dx, dy, eos = targets[..., 0:1], targets[..., 1:2], targets[..., 2]
    z1 = (dx - mu1) * ops.exp(-log_sigma1)
    z2 = (dy - mu2) * ops.exp(-log_sigma2)
    one_minus_rho2 = (1.0 - rho) * (1.0 + rho)
    z = ops.square(z1) + ops.square(z2) - 2.0 * rho * z1 * z2
    log_normal = (-math.log(2 * math.pi) - log_sigma1 - log_sigma2
                  - 0.5 * ops.log(one_minus_rho2) - z / (2.0 * one_minus_rho2))
    log_mixture = ops.logsumexp(ops.log_softmax(pi_logits, axis=-1) + log_normal, axis=-1)
    e_logit = e_logit[..., 0]
    bernoulli = ops.softplus(e_logit) - eos * e_logit  # -log sigmoid(l) if eos, -log(1 - ...) if not
    nll = bernoulli - log_mixture
    if mask is None:
        return nll
    return ops.where(ops.cast(mask, "bool"), nll, ops.zeros_like(nll))


def sample_point(raw, bias, noise):
    """One point from the mixture with the paper's bias, from given random numbers.

    Args:
        raw: `(..., 1 + 6 M)`.
        bias: b >= 0, a number or `(...)` (one per row).
        noise: `(..., 4)`: u_component, u_eos (uniform in [0, 1)), n1, n2 (standard normal).

    Returns:
        `(..., 3)`: dx, dy, eos (0. or 1.).
    """
    e_logit, pi_logits, mu1, mu2, log_sigma1, log_sigma2, rho = split_mixture(raw)
    noise = ops.cast(noise, raw.dtype)
    bias = ops.expand_dims(ops.cast(bias, raw.dtype), -1)
    pi = ops.softmax(pi_logits * (1.0 + bias), axis=-1)
    m = pi.shape[-1]
    below = ops.cast(ops.cumsum(pi, axis=-1) <= noise[..., 0:1], "int32")
    component = ops.minimum(ops.sum(below, axis=-1), m - 1)
    chosen = ops.one_hot(component, m, dtype=raw.dtype)

    def pick(values):
        return ops.sum(values * chosen, axis=-1)

    sigma1, sigma2 = pick(ops.exp(log_sigma1 - bias)), pick(ops.exp(log_sigma2 - bias))
    r = pick(rho)
    n1, n2 = noise[..., 2], noise[..., 3]
    dx = pick(mu1) + sigma1 * n1
    dy = pick(mu2) + sigma2 * (r * n1 + ops.sqrt((1.0 - r) * (1.0 + r)) * n2)
    eos = ops.cast(noise[..., 1] < ops.sigmoid(e_logit[..., 0]), raw.dtype)
    return ops.stack([dx, dy, eos], axis=-1)


@keras.saving.register_keras_serializable(package="kerasrnn")
class MixtureDensity(keras.layers.Layer):
    """The mixture density output: one linear layer to the mixture's raw parameters.

    Args:
        components: M, the bivariate Gaussians (the paper's: 20).
        **kwargs: Base `Layer` arguments.

    Call arguments:
        inputs: `(batch, ..., D)`.

    Returns:
        `(batch, ..., 1 + 6 M)`, the raw parameters in the order `split_mixture` reads them.
    """

    def __init__(self, components=20, **kwargs):
        if isinstance(components, bool) or not isinstance(components, int) or components < 1:
            raise InputError(f"MixtureDensity: components must be a positive integer, got "
                             f"{components!r}.")
        super().__init__(**kwargs)
        self.components = components
        self.dense = keras.layers.Dense(mixture_size(components), name="params",
                                        dtype=self.dtype_policy)

    def build(self, inputs_shape):
        self.dense.build(inputs_shape)

    def call(self, inputs):
        return self.dense(inputs)

    def compute_output_shape(self, inputs_shape):
        return (*inputs_shape[:-1], mixture_size(self.components))

    def split(self, raw):
        """`split_mixture(raw)`: the seven parameter tensors."""
        return split_mixture(raw)

    def get_config(self):
        return {**super().get_config(), "components": self.components}
