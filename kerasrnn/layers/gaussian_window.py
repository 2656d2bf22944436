"""The soft window of handwriting synthesis (Graves 2013, section 5.1, equations 46-51): K
Gaussians over the positions of the text, whose weights, widths and positions the network picks
at every step, weigh the one-hot characters into a window vector.

From the first layer's output `h_t`, one linear layer gives `(a^, b^, k^)`, K each, and

    alpha_t = exp(a^)        beta_t = exp(b^)        kappa_t = kappa_{t-1} + exp(k^)
    phi(t, u) = sum_k alpha_t^k exp(-beta_t^k (kappa_t^k - u)^2)
    w_t = sum_{u=1..U} phi(t, u) c_u

Positions are 1-based as in the paper: character `u` of a text of length `U` sits at `u = 1..U`.
kappa starts at 0, just before the first character, so the first increments exp(k^) (about 1 at
initialisation) move the window onto it. `phi` is also given at `u = U + 1`, one past the last
character, which no character fills: the paper stops writing when `phi(t, U + 1) > phi(t, u)` for
every `u <= U` (`window_passed_end`).

Numerical safety: a^, b^ and k^ are clipped to [-MAX_EXPONENT, MAX_EXPONENT] = [-10, 10] before
the exponential, so alpha, beta and each step's move of kappa lie in [4.5e-5, 2.2e4] (no
overflow, and a gradient of zero beyond the clip).

Texts of different lengths in a batch are padded: `char_mask` (batch, U) is 1 on real characters
and 0 on padding (a prefix of ones). Padding gets no weight in `w`, and `phi` is 0 there except at
the first padded position, one past the text's last character, which keeps its value for the
stopping rule.
"""

import keras
from keras import ops

from kerasrnn.errors import InputError

MAX_EXPONENT = 10.0  # a^, b^, k^ are clipped to [-MAX_EXPONENT, MAX_EXPONENT] before exp


def window_parameters(raw, kappa_prev):
    """alpha, beta and the new kappa from the linear layer's outputs.

    Args:
        raw: `(batch, 3 K)`: a^, b^, k^ (K each, in that order).
        kappa_prev: `(batch, K)`, kappa_{t-1} (zeros at the first step).

    Returns:
        `(alpha, beta, kappa)`, each `(batch, K)`.
    """
    a_hat, b_hat, k_hat = ops.split(ops.clip(raw, -MAX_EXPONENT, MAX_EXPONENT), 3, axis=-1)
    return ops.exp(a_hat), ops.exp(b_hat), kappa_prev + ops.exp(k_hat)


def window_phi(alpha, beta, kappa, positions):
    """`phi(t, u) = sum_k alpha_k exp(-beta_k (kappa_k - u)^2)` at `u = 1..positions`.

    Args:
        alpha, beta, kappa: `(batch, K)`.
        positions: How many positions (U + 1 for a text of U characters).

    Returns:
        `(batch, positions)`.
    """
    u = ops.arange(1, positions + 1, dtype=kappa.dtype)
    distance = kappa[:, :, None] - u[None, None, :]  # (batch, K, positions)
    return ops.sum(alpha[:, :, None] * ops.exp(-beta[:, :, None] * ops.square(distance)), axis=1)


def extend_mask(char_mask):
    """`(batch, U)` -> `(batch, U + 1)`: position u is kept when u = 1 or character u - 1 is real,
    that is every character and the position just past the last one."""
    ones = ops.ones_like(char_mask[:, :1])
    return ops.concatenate([ones, char_mask], axis=1)


def window_passed_end(phi, char_mask):
    """The paper's stopping rule: `phi(t, L + 1) > phi(t, u)` for every `u <= L`, L the text's
    length (an empty text has passed its end).

    Args:
        phi: `(batch, U + 1)`, as `GaussianWindow` returns it.
        char_mask: `(batch, U)`, 1 on real characters (a prefix).

    Returns:
        `(batch,)` booleans.
    """
    lengths = ops.cast(ops.sum(ops.cast(char_mask, "int32"), axis=1), "int32")
    end = ops.take_along_axis(phi, lengths[:, None], axis=1)[:, 0]
    inside = ops.arange(ops.shape(phi)[1])[None, :] < lengths[:, None]
    most_inside = ops.max(ops.where(inside, phi, ops.full_like(phi, -1.0)), axis=1)
    return end > most_inside


@keras.saving.register_keras_serializable(package="kerasrnn")
class GaussianWindow(keras.layers.Layer):
    """The window over the text of handwriting synthesis (the paper's equations 46-51).

    Args:
        components: K, the window's Gaussians (the paper's: 10).
        **kwargs: Base `Layer` arguments.

    Call arguments:
        state: `(batch, D)`, the first LSTM layer's output h^1_t.
        kappa: `(batch, K)`, kappa_{t-1}.
        chars: `(batch, U, V)`, the text, one-hot (padding rows may be anything: they are masked).
        char_mask: `(batch, U)`, 1 on real characters, 0 on padding; `None`: every position real.

    Returns:
        `(w, kappa, phi)`: `w` `(batch, V)` the window vector, `kappa` `(batch, K)` the new
        positions (1-based character units), `phi` `(batch, U + 1)` the weights of positions
        1..U+1, zero beyond one past each text's end.
    """

    def __init__(self, components=10, **kwargs):
        if isinstance(components, bool) or not isinstance(components, int) or components < 1:
            raise InputError(f"GaussianWindow: components must be a positive integer, got "
                             f"{components!r}.")
        super().__init__(**kwargs)
        self.components = components
        self.params = keras.layers.Dense(3 * components, name="params", dtype=self.dtype_policy)

    def build(self, state_shape, kappa_shape=None, chars_shape=None, char_mask_shape=None):
        self.params.build(state_shape)

    def call(self, state, kappa, chars, char_mask=None):
        alpha, beta, kappa = window_parameters(self.params(state), kappa)
        phi = window_phi(alpha, beta, kappa, ops.shape(chars)[1] + 1)
        if char_mask is None:
            char_mask = ops.ones(ops.shape(chars)[:2], dtype=phi.dtype)
        char_mask = ops.cast(char_mask, phi.dtype)
        phi = phi * extend_mask(char_mask)
        w = ops.einsum("bu,buv->bv", phi[:, :-1] * char_mask, ops.cast(chars, phi.dtype))
        return w, kappa, phi

    def compute_output_shape(self, state_shape, kappa_shape=None, chars_shape=None,
                             char_mask_shape=None):
        batch, length, vocab = chars_shape
        return ((batch, vocab), (batch, self.components),
                (batch, None if length is None else length + 1))

    def get_config(self):
        return {**super().get_config(), "components": self.components}
