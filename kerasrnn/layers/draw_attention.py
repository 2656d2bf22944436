"""DRAW's selective attention (Gregor et al. 2015, section 3.2): an N x N grid of Gaussian
filters whose centre, stride and width the network picks from its decoder state, to read a
glimpse of an image and to write a patch onto a canvas.

The paper's indices are 1-based and so is this code's grid: pixel `a` of a row of `A` runs
1..A, filter `i` runs 1..N, and

    g_X = (A + 1) / 2 (g~_X + 1)        g_Y = (B + 1) / 2 (g~_Y + 1)
    delta = (max(A, B) - 1) / (N - 1) delta~
    mu_X^i = g_X + (i - N/2 - 0.5) delta        mu_Y^j = g_Y + (j - N/2 - 0.5) delta
    F_X[i, a] = exp(-(a - mu_X^i)^2 / (2 sigma^2)) / Z_X   (each row sums to 1)

from `(g~_X, g~_Y, log sigma^2, log delta~, log gamma)`, one linear layer of the decoder state.
With `N = A = B`, `delta~ = 1`, `g~ = 0` and a small sigma the filters are the identity (0-based
indices would shift the grid by a pixel). `read` is `gamma F_Y x F_X^T` of the image and of the
error image; `write` is `1/gamma F_Y^T w F_X` of a patch `w`. The paper's baseline without
attention reads the whole images and writes a full-size patch (`attention=False`).

Images are `(batch, height, width, channels)`; every channel goes through the same filters.
"""

import keras
from keras import ops

EPSILON = 1e-8  # floor of each filter row's sum (a window far outside the image has ~0 weight)


def window_parameters(params, height, width, size):
    """The attention window from the linear layer's 5 outputs.

    Args:
        params: `(batch, 5)`: g~_X, g~_Y, log sigma^2, log delta~, log gamma.
        height, width: The image's B (rows) and A (columns).
        size: N, the filters per axis.

    Returns:
        `(g_x, g_y, sigma2, delta, gamma)`, each `(batch,)`, in 1-based pixel units.
    """
    g_x = (width + 1) / 2 * (params[:, 0] + 1)
    g_y = (height + 1) / 2 * (params[:, 1] + 1)
    sigma2 = ops.exp(params[:, 2])
    stride = (max(height, width) - 1) / max(size - 1, 1)
    delta = stride * ops.exp(params[:, 3])
    gamma = ops.exp(params[:, 4])
    return g_x, g_y, sigma2, delta, gamma


def filterbank(centre, delta, sigma2, length, size):
    """One axis's filters: `(batch, N, length)`, row i the Gaussian around
    `centre + (i - N/2 - 0.5) delta` over pixels 1..length, normalised to sum 1.

    Args:
        centre, delta, sigma2: `(batch,)`.
        length: Pixels along the axis (A or B).
        size: N.
    """
    i = ops.arange(1, size + 1, dtype=centre.dtype)
    mu = centre[:, None] + (i[None, :] - size / 2 - 0.5) * delta[:, None]  # (batch, N)
    a = ops.arange(1, length + 1, dtype=centre.dtype)
    weights = ops.exp(-ops.square(a[None, None, :] - mu[:, :, None]) / (2 * sigma2[:, None, None]))
    return weights / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), EPSILON)


def filterbanks(params, height, width, size):
    """`(F_x, F_y, gamma, window)` from the linear layer's `(batch, 5)` outputs: `F_x`
    `(batch, N, width)`, `F_y` `(batch, N, height)`, `gamma` `(batch,)`, and `window`
    `(batch, 4)`: g_x, g_y, delta, sigma in 1-based pixel units (to draw the window)."""
    g_x, g_y, sigma2, delta, gamma = window_parameters(params, height, width, size)
    f_x = filterbank(g_x, delta, sigma2, width, size)
    f_y = filterbank(g_y, delta, sigma2, height, size)
    return f_x, f_y, gamma, ops.stack([g_x, g_y, delta, ops.sqrt(sigma2)], axis=-1)


def read_glimpse(image, f_x, f_y, gamma):
    """`gamma F_y x F_x^T` per channel: `(batch, H, W, C)` -> `(batch, N, N, C)`."""
    return gamma[:, None, None, None] * ops.einsum("biy,byxc,bjx->bijc", f_y, image, f_x)


def write_patch(patch, f_x, f_y, gamma):
    """`1/gamma F_y^T w F_x` per channel: `(batch, N, N, C)` -> `(batch, H, W, C)`."""
    return ops.einsum("biy,bijc,bjx->byxc", f_y, patch, f_x) / gamma[:, None, None, None]


def _check_size(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


@keras.saving.register_keras_serializable(package="kerasrnn")
class DRAWRead(keras.layers.Layer):
    """DRAW's read: a glimpse of the image and of the error image, from the decoder state.

    Args:
        glimpse_size: N (the paper's MNIST read is 2 x 2). Ignored without attention.
        attention: False: the paper's baseline, which reads both images whole.
        **kwargs: Base `Layer` arguments.

    Call arguments:
        image: `(batch, H, W, C)`.
        error_image: `(batch, H, W, C)`, `image - sigmoid(canvas)`.
        state: `(batch, D)`, the decoder's previous hidden state.

    Returns:
        `(batch, 2 N N C)` (without attention `(batch, 2 H W C)`): the two glimpses, flattened
        and concatenated.
    """

    def __init__(self, glimpse_size=2, attention=True, **kwargs):
        _check_size("glimpse_size", glimpse_size)
        super().__init__(**kwargs)
        self.glimpse_size, self.attention = glimpse_size, bool(attention)
        self.window = keras.layers.Dense(5, name="window") if self.attention else None

    def build(self, image_shape, error_image_shape=None, state_shape=None):
        if len(image_shape) != 4:
            raise ValueError(f"DRAWRead expects images (batch, H, W, C), got {tuple(image_shape)}.")
        self.image_shape = tuple(image_shape[1:])
        if self.window is not None:
            self.window.build(state_shape)

    def call(self, image, error_image, state):
        batch = ops.shape(image)[0]
        if not self.attention:
            both = ops.concatenate([image, error_image], axis=-1)
            return ops.reshape(both, (batch, -1))
        height, width = self.image_shape[0], self.image_shape[1]
        f_x, f_y, gamma, _ = filterbanks(self.window(state), height, width, self.glimpse_size)
        glimpses = [read_glimpse(x, f_x, f_y, gamma) for x in (image, error_image)]
        return ops.reshape(ops.concatenate(glimpses, axis=-1), (batch, -1))

    def compute_output_shape(self, image_shape, error_image_shape=None, state_shape=None):
        channels = image_shape[-1]
        if not self.attention:
            return (image_shape[0], 2 * image_shape[1] * image_shape[2] * channels)
        return (image_shape[0], 2 * self.glimpse_size**2 * channels)

    def get_config(self):
        return {**super().get_config(), "glimpse_size": self.glimpse_size, "attention": self.attention}


@keras.saving.register_keras_serializable(package="kerasrnn")
class DRAWWrite(keras.layers.Layer):
    """DRAW's write: what the decoder state adds to the canvas.

    Args:
        image_shape: `(H, W, C)` of the canvas.
        patch_size: N (the paper's MNIST write is 5 x 5). Ignored without attention.
        attention: False: the paper's baseline, a full-size patch, linear from the state.
        **kwargs: Base `Layer` arguments.

    Call arguments:
        state: `(batch, D)`, the decoder's hidden state.

    Returns:
        `(canvas_delta, window)`: `(batch, H, W, C)` and `(batch, 4)`, the write window (g_x,
        g_y, delta, sigma in 1-based pixels; zeros without attention), to draw it.
    """

    def __init__(self, image_shape, patch_size=5, attention=True, **kwargs):
        image_shape = tuple(image_shape)
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (height, width, channels), got {image_shape!r}.")
        for n in image_shape:
            _check_size("each of image_shape", n)
        _check_size("patch_size", patch_size)
        super().__init__(**kwargs)
        self.image_shape, self.patch_size, self.attention = image_shape, patch_size, bool(attention)
        height, width, channels = image_shape
        if self.attention:
            self.window = keras.layers.Dense(5, name="window")
            self.patch = keras.layers.Dense(patch_size * patch_size * channels, name="patch")
        else:
            self.window = None
            self.patch = keras.layers.Dense(height * width * channels, name="patch")

    def build(self, state_shape):
        self.patch.build(state_shape)
        if self.window is not None:
            self.window.build(state_shape)

    def call(self, state):
        batch = ops.shape(state)[0]
        height, width, channels = self.image_shape
        if not self.attention:
            delta = ops.reshape(self.patch(state), (batch, height, width, channels))
            return delta, ops.zeros((batch, 4), dtype=delta.dtype)
        n = self.patch_size
        patch = ops.reshape(self.patch(state), (batch, n, n, channels))
        f_x, f_y, gamma, window = filterbanks(self.window(state), height, width, n)
        return write_patch(patch, f_x, f_y, gamma), window

    def compute_output_shape(self, state_shape):
        return (state_shape[0], *self.image_shape), (state_shape[0], 4)

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape),
                "patch_size": self.patch_size, "attention": self.attention}
