"""Spatial Transformer (Jaderberg et al. 2015): localisation net -> grid -> bilinear sampler.

Coordinates. A sampling grid holds, for every output pixel, the `(x, y)` point of the input image
to read, in normalised units where the input spans `[-1, 1]` in both axes (`x` along the width,
`y` along the height), as in PyTorch's `affine_grid`/`grid_sample`. A transform maps the regular
grid of *output* pixels to *source* points: the identity copies the image, and a translation by
`+2/W` (one pixel, see below) reads each output pixel from one pixel to its right, so the content
moves one pixel left.

`align_corners` says where `-1` and `+1` are, and defaults to `False`:

- `False` (default, PyTorch's current default): `-1`/`+1` are the outer *edges* of the corner
  pixels. Pixel `i` of `W` has its centre at `(2 i + 1) / W - 1`, one pixel is `2 / W`, and
  `[-1, 1]` covers the same area of the image whatever the resolution, so an identity `theta` with
  a smaller `output_size` is a true (area-aligned) resize and the "zoom 0.5" of the STN paper reads
  the central half of the picture for any image size.
- `True`: `-1`/`+1` are the *centres* of the corner pixels; pixel `i` is at `2 i / (W - 1) - 1`,
  one pixel is `2 / (W - 1)` (a size-1 axis sits at `0`). Corner pixels map to corner pixels
  whatever the resolution, as in TF1's `resize_bilinear(align_corners=True)`.

With either setting the identity transform with `output_size` equal to the input size returns
the input to float rounding, and a one-pixel translation equals shifting the image by one pixel
with zeros filled in: unlike the two common TensorFlow STN samplers, which scale coordinates to
`[0, W - 2]` or `[0, W]` and so stretch the image or lose its last row and column.
"""

import functools

import keras
import numpy as np
from keras import ops

TRANSFORMS = ("affine", "projective", "tps")


def _coord_dtype(dtype):
    """Coordinates and weights are float32 at least: a float16 grid would be off by pixels."""
    return "float64" if keras.backend.standardize_dtype(dtype) == "float64" else "float32"


def _float_tensor(x):
    x = ops.convert_to_tensor(x)
    if not keras.backend.is_float_dtype(x.dtype):
        x = ops.cast(x, keras.config.floatx())
    return x


def _params(theta, n, what):
    """Returns `theta` as a float `(batch, n)` tensor, checking its static size."""
    theta = _float_tensor(theta)
    size = np.prod([d for d in theta.shape[1:] if d is not None], dtype=int)
    if len(theta.shape) < 2 or None in theta.shape[1:] or size != n:
        raise ValueError(f"{what} takes parameters (batch, {n}), got shape {tuple(theta.shape)}.")
    return ops.reshape(theta, (-1, n))


def _axis(n, align_corners):
    """Normalised coordinates of the centres of `n` pixels along one axis, float64 `(n,)`."""
    if align_corners:
        return np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    return (2.0 * np.arange(n) + 1.0) / n - 1.0


def _check_size(size):
    """Returns `size` as `(out_h, out_w)` Python ints, or raises a `ValueError`."""
    size = tuple(size)
    if len(size) != 2 or not all(isinstance(n, (int, np.integer)) and n > 0 for n in size):
        raise ValueError(
            f"The output size must be two positive integers (out_h, out_w), got {size!r}.")
    return int(size[0]), int(size[1])


def _base_grid(out_h, out_w, align_corners):
    """The output pixels' own coordinates: `(xs, ys)`, float64 arrays `(out_h, out_w)` each."""
    out_h, out_w = _check_size((out_h, out_w))
    return np.meshgrid(_axis(out_w, align_corners), _axis(out_h, align_corners))


def affine_grid(theta, out_h, out_w, align_corners=False):
    """Sampling grid of an affine transform, as PyTorch's `affine_grid`.

    `[x_s, y_s] = theta @ [x_t, y_t, 1]` for every output point `(x_t, y_t)`.

    Args:
        theta: `(batch, 2, 3)` or `(batch, 6)` (row-major); the identity is
            `[[1, 0, 0], [0, 1, 0]]`.
        out_h: Output height, a positive integer.
        out_w: Output width, a positive integer.
        align_corners: Coordinate convention, see the module docstring.

    Returns:
        Grid `(batch, out_h, out_w, 2)` of source `(x, y)` in normalised `[-1, 1]` units.
    """
    t = _params(theta, 6, "affine_grid")
    xs, ys = (ops.cast(a[None], t.dtype) for a in _base_grid(out_h, out_w, align_corners))
    t = [ops.reshape(t[:, i], (-1, 1, 1)) for i in range(6)]
    # Elementwise on purpose: a matmul may run in TF32 on a GPU and spoil the identity.
    return ops.stack([t[0] * xs + t[1] * ys + t[2], t[3] * xs + t[4] * ys + t[5]], axis=-1)


def projective_grid(theta, out_h, out_w, align_corners=False, epsilon=1e-7):
    """Sampling grid of a projective transform (a homography with `h33 = 1`).

    `x_s = (h11 x + h12 y + h13) / (h31 x + h32 y + 1)`, `y_s = (h21 x + h22 y + h23) / (same)`.

    Args:
        theta: `(batch, 8)`, `[h11, h12, h13, h21, h22, h23, h31, h32]`; the identity is
            `[1, 0, 0, 0, 1, 0, 0, 0]`, and with `h31 = h32 = 0` it is the affine transform.
        out_h: Output height, a positive integer.
        out_w: Output width, a positive integer.
        align_corners: Coordinate convention, see the module docstring.
        epsilon: Denominators smaller than this in magnitude are clamped to it (keeping their
            sign), so points sent to infinity read zeros instead of NaN.

    Returns:
        Grid `(batch, out_h, out_w, 2)` of source `(x, y)` in normalised `[-1, 1]` units.
    """
    t = _params(theta, 8, "projective_grid")
    xs, ys = (ops.cast(a[None], t.dtype) for a in _base_grid(out_h, out_w, align_corners))
    t = [ops.reshape(t[:, i], (-1, 1, 1)) for i in range(8)]
    den = t[6] * xs + t[7] * ys + 1.0
    den = ops.where(ops.abs(den) < epsilon, ops.where(den < 0, -epsilon, epsilon), den)
    return ops.stack([(t[0] * xs + t[1] * ys + t[2]) / den,
                      (t[3] * xs + t[4] * ys + t[5]) / den], axis=-1)


def tps_control_points(grid_size=4):
    """A regular `grid_size x grid_size` grid of control points spanning `[-1, 1]^2`.

    Args:
        grid_size: Points per side, at least 2 (the STN paper uses 4: 16 points).

    Returns:
        float64 array `(grid_size ** 2, 2)` of `(x, y)`, row by row (x varies fastest).
    """
    if not isinstance(grid_size, (int, np.integer)) or grid_size < 2:
        raise ValueError(f"The TPS grid size must be an integer >= 2, got {grid_size!r}.")
    xs, ys = np.meshgrid(np.linspace(-1, 1, grid_size), np.linspace(-1, 1, grid_size))
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def _tps_kernel(d2):
    """The thin-plate radial basis `U(r) = r^2 log r^2` of squared distances, `U(0) = 0`."""
    return np.where(d2 > 0, d2 * np.log(np.where(d2 > 0, d2, 1.0)), 0.0)


@functools.lru_cache(maxsize=32)
def _tps_matrix(out_h, out_w, points, align_corners):
    """`M` `(out_h * out_w, K)`: grid = own coordinates + `M @ (targets - control points)`.

    The TPS through the control points `c_k` -> targets `v_k` is `f(p) = sum_k w_k U(|p - c_k|)
    + a_0 + a_1 x + a_2 y` with `[w; a] = L^-1 [v; 0]`, `L = [[U(|c_i - c_j|), P], [P^T, 0]]`,
    `P = [1, x, y]`; so `f(p) = [U(|p - c|), 1, x, y] @ L^-1[:, :K] @ v`, linear in `v`. The
    affine part makes `M`'s rows sum to one, which is why the residual form is exact for the
    identity.
    """
    c = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    k = len(c)
    p = np.concatenate([np.ones((k, 1)), c], axis=1)
    lmat = np.zeros((k + 3, k + 3))
    lmat[:k, :k] = _tps_kernel(((c[:, None] - c[None]) ** 2).sum(-1))
    lmat[:k, k:], lmat[k:, :k] = p, p.T
    xs, ys = _base_grid(out_h, out_w, align_corners)
    q = np.stack([xs.ravel(), ys.ravel()], axis=1)
    phi = np.concatenate(
        [_tps_kernel(((q[:, None] - c[None]) ** 2).sum(-1)), np.ones((len(q), 1)), q], axis=1)
    return q, phi @ np.linalg.inv(lmat)[:, :k]


def tps_grid(theta, out_h, out_w, control_points, align_corners=False):
    """Sampling grid of a thin-plate-spline transform, as in the STN paper.

    The spline sends each control point `c_k` (a fixed point of the output) to the source point
    `theta_k` and interpolates smoothly in between. The system is solved once, in numpy, for a
    given output size, so this is one small matmul per call.

    Args:
        theta: `(batch, 2 K)` (or `(batch, K, 2)`), the source points `(x_1, y_1, x_2, ...)` of the
            `K` control points; equal to `control_points` it is the identity.
        out_h: Output height, a positive integer.
        out_w: Output width, a positive integer.
        control_points: Array `(K, 2)` of `(x, y)` in `[-1, 1]` units, not all on one line,
            e.g. `tps_control_points(4)`.
        align_corners: Coordinate convention, see the module docstring.

    Returns:
        Grid `(batch, out_h, out_w, 2)` of source `(x, y)` in normalised `[-1, 1]` units.
    """
    out_h, out_w = _check_size((out_h, out_w))
    c = np.asarray(control_points, dtype=np.float64).reshape(-1, 2)
    t = _params(theta, 2 * len(c), "tps_grid")
    q, m = _tps_matrix(out_h, out_w, tuple(c.ravel()), bool(align_corners))
    offsets = ops.reshape(t, (-1, len(c), 2)) - ops.cast(c, t.dtype)
    grid = ops.cast(q, t.dtype) + ops.einsum("nk,bkd->bnd", ops.cast(m, t.dtype), offsets)
    return ops.reshape(grid, (-1, out_h, out_w, 2))


def bilinear_sample(images, grid, align_corners=False):
    """Reads `images` at the (fractional) grid points, bilinearly, with zeros outside the image.

    The result is differentiable with respect to both `images` and `grid` (the bilinear
    weights have kinks where a coordinate crosses a pixel centre). It equals PyTorch's
    `grid_sample(..., mode="bilinear", padding_mode="zeros")` on channels-last tensors.

    Args:
        images: `(batch, height, width, channels)`, a float dtype.
        grid: `(batch, out_h, out_w, 2)` of `(x, y)` in normalised `[-1, 1]` units.
        align_corners: Coordinate convention, see the module docstring.

    Returns:
        `(batch, out_h, out_w, channels)`, the dtype of `images`.
    """
    images = ops.convert_to_tensor(images)
    if len(images.shape) != 4 or not keras.backend.is_float_dtype(images.dtype):
        raise ValueError("bilinear_sample expects float images (batch, height, width, channels), "
                         f"got shape {tuple(images.shape)} and dtype {images.dtype}.")
    grid = ops.cast(grid, _coord_dtype(images.dtype))
    batch, height, width, channels = ops.shape(images)
    out_h, out_w = ops.shape(grid)[1], ops.shape(grid)[2]

    def pixel(coord, size):
        size = ops.cast(size, grid.dtype)
        # x * s + o with exact s, o rounds less than ((x + 1) * W - 1) / 2 does.
        scale = (size - 1.0) * 0.5 if align_corners else size * 0.5
        pos = coord * scale + (size - 1.0) * 0.5
        # Anything beyond one pixel outside reads only zeros; clipping keeps the ints small.
        return ops.clip(pos, -2.0, size + 1.0)

    ix, iy = pixel(grid[..., 0], width), pixel(grid[..., 1], height)
    x0f, y0f = ops.floor(ix), ops.floor(iy)
    wx1, wy1 = ix - x0f, iy - y0f
    x0, y0 = ops.cast(x0f, "int32"), ops.cast(y0f, "int32")
    flat = ops.reshape(images, (-1, channels))
    base = ops.reshape(ops.arange(batch, dtype="int32") * (height * width), (-1, 1, 1))

    out = 0.0
    for dy, wy in ((0, 1.0 - wy1), (1, wy1)):
        for dx, wx in ((0, 1.0 - wx1), (1, wx1)):
            xi, yi = x0 + dx, y0 + dy
            inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
            index = base + ops.clip(yi, 0, height - 1) * width + ops.clip(xi, 0, width - 1)
            values = ops.reshape(ops.take(flat, ops.reshape(index, (-1,)), axis=0),
                                 (batch, out_h, out_w, channels))
            weight = ops.cast(ops.where(inside, wx * wy, 0.0), images.dtype)
            out = out + weight[..., None] * values
    return out


@keras.saving.register_keras_serializable(package="kerasrnn")
class SpatialTransformer(keras.layers.Layer):
    """Warps images by a transform that a localisation network predicts from them.

    `localization` maps the images to features (any shape `(batch, ...)`, flattened); this layer
    owns the final linear layer `theta = features @ kernel + bias` that turns them into the
    transform's parameters. `kernel` starts at zero and `bias` at the identity, so an untrained
    transformer passes its input through (resized to `output_size`), as the paper recommends.
    The grid generator (`affine_grid`, `projective_grid` or `tps_grid`) and `bilinear_sample`
    do the rest; `align_corners` is explained in the module docstring.

    Args:
        localization: A Keras layer or model from images `(batch, height, width, channels)` to
            features `(batch, ...)`, e.g. a small CNN ending in a `Dense` layer.
        output_size: `(out_h, out_w)` of the transformed images.
        transform: `"affine"` (6 parameters), `"projective"` (8) or `"tps"` (a thin-plate
            spline through `tps_grid_size ** 2` control points, 2 parameters each).
        tps_grid_size: Control points per side for `transform="tps"`.
        align_corners: Coordinate convention (default `False`: `[-1, 1]` spans the pixels'
            outer edges and one pixel is `2 / W`).
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        images: `(batch, height, width, channels)`, float.
        training: Passed to `localization` (dropout, batch norm).
        return_theta: Also return the parameters.

    Returns:
        The transformed images `(batch, out_h, out_w, channels)`; with `return_theta=True`, the
        pair `(images, theta)` with `theta` `(batch, num_params)`.

    Example:
        >>> loc = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(32, "relu")])
        >>> st = SpatialTransformer(loc, output_size=(28, 28))
        >>> st(keras.ops.ones((2, 40, 40, 1))).shape
        (2, 28, 28, 1)
    """

    def __init__(self, localization, output_size, transform="affine", tps_grid_size=4,
                 align_corners=False, **kwargs):
        super().__init__(**kwargs)
        if transform not in TRANSFORMS:
            raise ValueError(f"SpatialTransformer: `transform` must be one of {TRANSFORMS}, "
                             f"got {transform!r}.")
        if transform == "tps":
            self.control_points = tps_control_points(tps_grid_size)
            identity = self.control_points.ravel()
        else:
            self.control_points = None
            identity = np.eye(2, 3).ravel() if transform == "affine" else np.eye(3).ravel()[:8]
        self.localization = localization
        self.output_size = _check_size(output_size)
        self.transform = transform
        self.tps_grid_size = tps_grid_size
        self.align_corners = bool(align_corners)
        self.identity_params = identity
        self.num_params = len(identity)
        self._channels = None

    def _check_shape(self, shape):
        channels = self._channels
        if len(shape) != 4 or (channels is not None and shape[-1] not in (None, channels)):
            built = f" with {self._channels} channels (as built)" if self._channels else ""
            raise ValueError(f"SpatialTransformer '{self.name}' expects images of shape "
                             f"(batch, height, width, channels){built}, got shape {tuple(shape)}.")

    def _check_images(self, images):
        self._check_shape(images.shape)
        if not keras.backend.is_float_dtype(images.dtype):
            raise ValueError(f"SpatialTransformer '{self.name}' expects float images of shape "
                             "(batch, height, width, channels), got dtype "
                             f"{keras.backend.standardize_dtype(images.dtype)}.")

    def build(self, input_shape):
        self._check_shape(input_shape)
        self._channels = input_shape[-1]
        if not self.localization.built:
            self.localization.build(input_shape)
        spec = self.localization.compute_output_spec(
            keras.KerasTensor(input_shape, dtype=self.compute_dtype))
        if len(spec.shape) < 2 or None in spec.shape[1:]:
            raise ValueError(f"SpatialTransformer: the localisation net must give features of a "
                             f"known size (batch, ...), got shape {tuple(spec.shape)}.")
        features = int(np.prod(spec.shape[1:]))
        self.kernel = self.add_weight(shape=(features, self.num_params), name="kernel",
                                      initializer="zeros")
        self.bias = self.add_weight(
            shape=(self.num_params,), name="bias",
            initializer=lambda shape, dtype=None: ops.cast(self.identity_params, dtype))

    def transform_parameters(self, images, training=None):
        """The transform's parameters predicted from `images`: `(batch, num_params)`."""
        if not self.built:
            self.build(tuple(images.shape))
        features = self.localization(images, training=training)
        features = ops.reshape(features, (ops.shape(features)[0], -1))
        return ops.matmul(features, self.kernel) + self.bias

    def call(self, images, training=None, return_theta=False):
        self._check_images(images)
        theta = self.transform_parameters(images, training=training)
        coords = ops.cast(theta, _coord_dtype(images.dtype))
        out_h, out_w = self.output_size
        if self.transform == "affine":
            grid = affine_grid(coords, out_h, out_w, self.align_corners)
        elif self.transform == "projective":
            grid = projective_grid(coords, out_h, out_w, self.align_corners)
        else:
            grid = tps_grid(coords, out_h, out_w, self.control_points, self.align_corners)
        out = bilinear_sample(images, grid, self.align_corners)
        return (out, theta) if return_theta else out

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_size, input_shape[-1])

    def compute_output_spec(self, images, training=None, return_theta=False):
        self._check_images(images)
        out = keras.KerasTensor(self.compute_output_shape(images.shape), dtype=self.compute_dtype)
        theta = keras.KerasTensor((images.shape[0], self.num_params), dtype=self.compute_dtype)
        return (out, theta) if return_theta else out

    def get_config(self):
        return {
            **super().get_config(),
            "localization": keras.saving.serialize_keras_object(self.localization),
            "output_size": list(self.output_size),
            "transform": self.transform,
            "tps_grid_size": self.tps_grid_size,
            "align_corners": self.align_corners,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["localization"] = keras.saving.deserialize_keras_object(config["localization"])
        return cls(**config)
