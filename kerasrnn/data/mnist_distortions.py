"""The distorted-MNIST variants of the Spatial Transformer Networks paper.

Jaderberg et al. 2015 ("Spatial Transformer Networks", section 4.1 and appendix A) train on
MNIST distorted five ways. Here each is drawn on the fly in a `tf.data` pipeline, so every epoch
sees fresh distortions, and every draw is a pure function of `(seed, epoch, example index)`
(stateless random ops), so the same seed gives the same images on every run and any batch size:

| name | what | canvas |
|---|---|---|
| `R` | rotation, uniform in +-90 degrees | 28 |
| `RTS` | rotation +-45 degrees, scale 0.7-1.2, random translation (all uniform) | 42 |
| `P` | projective: scale 0.75, then each corner moved by a Gaussian (std 5 px, cut at 2 std) | 28 |
| `E` | elastic (Simard et al. 2003): uniform(-1, 1) shifts, Gaussian-smoothed (sigma 4), times 34 | 28 |
| `cluttered` | digit at a random place, plus 6 random 6x6 crops of other digits | 60 |

Drawing is split in two: `_sample_params` draws one example's random parameters (cheap, per
example), and `apply_distortion` renders a whole batch from given parameters (bilinear
resampling, zero fill). Calling `apply_distortion` yourself fixes the parameters, for example
a rotation of exactly 90 degrees.
"""

import math

import numpy as np
import tensorflow as tf

from kerasrnn.data.epochs import epoch_batches
from kerasrnn.data.mnist_files import IMAGE_SIZE
from kerasrnn.errors import InputError

DISTORTIONS = ("R", "RTS", "P", "E", "cluttered")

R_MAX_DEGREES = 90.0
RTS_MAX_DEGREES = 45.0
RTS_SCALE_RANGE = (0.7, 1.2)
RTS_CANVAS = 42
P_SCALE = 0.75
P_CORNER_STD = 5.0  # pixels; the draw is a truncated normal (re-drawn beyond 2 std)
P_TRIES = 4  # draws of the four corners, of which the first convex one is used
E_ALPHA = 34.0  # Simard et al. 2003's values for MNIST
E_SIGMA = 4.0
CLUTTER_CANVAS = 60
CLUTTER_PATCHES = 6
CLUTTER_PATCH_SIZE = 6


def output_size(distortion):
    """Side of the square images that `distortion` makes: 28, 42 (`RTS`) or 60 (`cluttered`)."""
    _check_distortion(distortion)
    return {"RTS": RTS_CANVAS, "cluttered": CLUTTER_CANVAS}.get(distortion, IMAGE_SIZE)


def _check_distortion(distortion):
    if distortion not in DISTORTIONS:
        raise InputError(f"unknown distortion {distortion!r}; use one of {', '.join(DISTORTIONS)}")


def distorted_mnist_dataset(images, labels, distortion, batch_size, seed=0, shuffle=True,
                            epoch=0, repeat=False, drop_remainder=False, shard=0, shards=1):
    """Batches of distorted MNIST, drawn on the fly.

    Example `i` of epoch `e` is distorted with a key made from `(seed, e, i)`, and with
    `shuffle` the order of epoch `e` is a permutation made from `(seed, e)`, so a run is the
    same every time, whatever the batch size or parallelism. Batches never straddle two
    epochs: an epoch is `ceil(N / batch_size)` batches (`floor` with `drop_remainder`), and
    `epoch=k` starts exactly where a run that finished `k` epochs would continue.

    For a fixed test set (the paper distorts the test set once), use `shuffle=False`,
    `epoch=0`, `repeat=False`.

    Args:
        images: uint8 `(N, 28, 28)`, as `load_mnist` returns them.
        labels: int `(N,)`.
        distortion: One of `DISTORTIONS`.
        batch_size: Images per batch B.
        seed: Integer seed of the distortions and the order.
        shuffle: Visit the images in a fresh random order each epoch.
        epoch: The first epoch to draw.
        repeat: Go on with epochs `epoch + 1, epoch + 2, ...` forever (for `model.fit` with
            `steps_per_epoch`); otherwise stop after one epoch.
        drop_remainder: Drop each epoch's last, smaller batch.
        shard, shards: Distort only this replica's rows of each global batch of `batch_size`
            (`kerasrnn.data.shards.shard_rows`); needs `drop_remainder`.

    Returns:
        `tf.data.Dataset` of `(images, labels)`: float32 `(B / shards, S, S, 1)` in [0, 1] with
        `S = output_size(distortion)`, and int32 `(B,)`.
    """
    _check_distortion(distortion)
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or images.dtype != np.uint8:
        raise ValueError(f"`images` must be uint8 (N, 28, 28), got {images.dtype} {images.shape}.")
    if labels.shape != (len(images),) or len(images) == 0:
        raise ValueError(f"`labels` must be (N,) with N = {len(images)} > 0, got {labels.shape}.")
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    if drop_remainder and batch_size > len(images):
        raise InputError(f"batch size {batch_size} is larger than the {len(images)} images and "
                         "drop_remainder is set, so no batch would be made; use a smaller batch size")

    bank = tf.constant(images)
    label_table = tf.constant(labels.astype(np.int32))
    n = len(images)
    order_key = tf.constant([seed, 1], tf.int64)
    draw_key = tf.constant([seed, 2], tf.int64)

    def one_example(e, i):
        key = tf.random.experimental.stateless_fold_in(
            tf.random.experimental.stateless_fold_in(draw_key, e), i)
        return bank[i], _sample_params(distortion, key, bank), label_table[i]

    def render(image, params, label):
        return apply_distortion(tf.cast(image, tf.float32) / 255.0, distortion, params), label

    return epoch_batches(n, one_example, batch_size, order_key, shuffle, epoch, repeat,
                         drop_remainder, finish_batch=render, shard=shard, shards=shards)


def _sample_params(distortion, key, bank):
    """Draws one example's distortion parameters (the `params` of `apply_distortion`, unbatched).

    Args:
        distortion: One of `DISTORTIONS`.
        key: int64 `(2,)` stateless seed of this example.
        bank: uint8 `(N, 28, 28)`, the images clutter is cropped from.
    """
    keys = tf.unstack(tf.random.experimental.stateless_split(key, num=4))

    def uniform(shape, k, low, high):
        return tf.random.stateless_uniform(shape, seed=keys[k], minval=low, maxval=high)

    if distortion == "R":
        limit = math.radians(R_MAX_DEGREES)
        return {"angle": uniform([], 0, -limit, limit)}
    if distortion == "RTS":
        limit = math.radians(RTS_MAX_DEGREES)
        scale = uniform([], 1, *RTS_SCALE_RANGE)
        # Translation keeps the scaled 28x28 square's centre far enough in that it fits unrotated.
        room = (RTS_CANVAS - IMAGE_SIZE * scale) / 2.0
        return {"angle": uniform([], 0, -limit, limit), "scale": scale,
                "shift": uniform([2], 2, -1.0, 1.0) * room}
    if distortion == "P":
        # A draw whose corners do not make a convex quadrilateral in the original order (about
        # 1.4% of them at std 5) would fold the image through infinity: take the first of
        # `P_TRIES` draws that is convex (none being so is about 1e-8 likely; then no noise).
        c = (IMAGE_SIZE - 1) / 2.0
        noise = tf.random.stateless_truncated_normal([P_TRIES, 4, 2], seed=keys[0], stddev=P_CORNER_STD)
        corners = c + P_SCALE * (_corners() - c) + noise
        edges = tf.roll(corners, -1, axis=1) - corners  # (tries, 4, 2)
        after = tf.roll(edges, -1, axis=1)
        turns = edges[..., 0] * after[..., 1] - edges[..., 1] * after[..., 0]  # > 0: clockwise as displayed
        ok = tf.concat([tf.reduce_all(turns > 0, axis=1), [True]], axis=0)
        corners = tf.concat([corners, [c + P_SCALE * (_corners() - c)]], axis=0)
        return {"corners": corners[tf.argmax(tf.cast(ok, tf.int32))]}
    if distortion == "E":
        return {"noise": uniform([IMAGE_SIZE, IMAGE_SIZE, 2], 0, -1.0, 1.0)}
    # cluttered
    k, p = CLUTTER_PATCHES, CLUTTER_PATCH_SIZE

    def ints(shape, which, high):
        return tf.random.stateless_uniform(shape, seed=keys[which], minval=0, maxval=high, dtype=tf.int32)

    sources = tf.gather(bank, ints([k], 0, tf.shape(bank)[0]))  # (k, 28, 28)
    start = ints([k, 2], 1, IMAGE_SIZE - p + 1)  # crop's top-left (row, col) in its digit
    rows = start[:, :1] + tf.range(p)
    cols = start[:, 1:] + tf.range(p)
    patches = tf.gather(tf.gather(sources, rows, batch_dims=1), cols, axis=2, batch_dims=1)
    offset = ints([2], 2, CLUTTER_CANVAS - IMAGE_SIZE + 1)  # digit's top-left (row, col)
    patch_offsets = ints([k, 2], 3, CLUTTER_CANVAS - p + 1)
    return {"offset": offset, "patches": tf.cast(patches, tf.float32) / 255.0,
            "patch_offsets": patch_offsets}


def apply_distortion(images, distortion, params):
    """Renders a batch of distorted images from given parameters.

    Pixel `(row, col)` has coordinates `x = col`, `y = row`; images turn about their centre
    `((size - 1) / 2, (size - 1) / 2)`. Resampling is bilinear with zero outside the image.

    Args:
        images: float32 `(B, 28, 28)` or `(B, 28, 28, 1)`, values in [0, 1].
        distortion: One of `DISTORTIONS`.
        params: dict of float32 batched tensors, by distortion:
            `R`: `angle` `(B,)`, radians, counter-clockwise as displayed (+pi/2 is `np.rot90`).
            `RTS`: `angle` `(B,)`, `scale` `(B,)`, `shift` `(B, 2)` (x, y) pixels from the
                canvas centre.
            `P`: `corners` `(B, 4, 2)`: where the image's corner pixels (0, 0), (27, 0),
                (27, 27), (0, 27) (x, y) land.
            `E`: `noise` `(B, 28, 28, 2)` raw (dx, dy) displacements; they are smoothed with a
                Gaussian of std `E_SIGMA` and scaled by `E_ALPHA` (zeros: no change).
            `cluttered`: `offset` int32 `(B, 2)` (row, col) of the digit's top-left corner;
                `patches` `(B, K, p, p)` clutter; `patch_offsets` int32 `(B, K, 2)`.

    Returns:
        float32 `(B, S, S, 1)` in [0, 1], `S = output_size(distortion)`.
    """
    size = output_size(distortion)
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank == 3:
        images = images[..., None]
    if distortion == "R":
        no_shift = tf.zeros([tf.shape(images)[0], 2])
        out = _warp(images, _similarity(params["angle"], 1.0, no_shift, size), size)
    elif distortion == "RTS":
        out = _warp(images, _similarity(params["angle"], params["scale"], params["shift"], size), size)
    elif distortion == "P":
        out = _warp(images, _homography(params["corners"], _corners()), size)
    elif distortion == "E":
        out = _elastic(images, params["noise"])
    else:
        out = _clutter(images, params["offset"], params["patches"], params["patch_offsets"])
    return tf.clip_by_value(out, 0.0, 1.0)


def _corners(size=IMAGE_SIZE):
    """The corner pixels (x, y) of a `size` square, clockwise from the top-left: float32 (4, 2)."""
    s = float(size - 1)
    return tf.constant([[0.0, 0.0], [s, 0.0], [s, s], [0.0, s]])


def _warp(images, transforms, size):
    """Samples `images` (B, H, W, C) at `transforms` (B, 8) (output -> input pixel maps)."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=tf.cast(transforms, tf.float32), output_shape=[size, size],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")


def _similarity(angle, scale, shift, size):
    """Output -> input maps of: turn by `angle`, scale, move by `shift`, onto a `size` canvas.

    Forward (input -> output), about the centres: `p_out = c_out + shift + scale * R p_in`, with
    R counter-clockwise as displayed (y points down). Returns float32 (B, 8).
    """
    angle = tf.convert_to_tensor(angle, tf.float32)
    scale = tf.broadcast_to(tf.convert_to_tensor(scale, tf.float32), tf.shape(angle))
    shift = tf.convert_to_tensor(shift, tf.float32)
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    c_in, c_out = (IMAGE_SIZE - 1) / 2.0, (size - 1) / 2.0
    ox, oy = c_out + shift[:, 0], c_out + shift[:, 1]
    zero = tf.zeros_like(angle)
    return tf.stack([cos, -sin, c_in - (cos * ox - sin * oy),
                     sin, cos, c_in - (sin * ox + cos * oy), zero, zero], axis=1)


def _homography(out_points, in_points):
    """Output -> input projective maps taking `out_points` (B, 4, 2) to `in_points` (4, 2).

    Solves the 8 x 8 linear system of the four point pairs (x, y) -> (X, Y):
    `X = (a0 x + a1 y + a2) / (c0 x + c1 y + 1)`, `Y = (b0 x + b1 y + b2) / (...)`.
    Returns float32 (B, 8).
    """
    p = tf.cast(out_points, tf.float64)
    q = tf.broadcast_to(tf.cast(in_points, tf.float64), tf.shape(p))
    x, y, X, Y = p[..., 0], p[..., 1], q[..., 0], q[..., 1]
    one, zero = tf.ones_like(x), tf.zeros_like(x)
    rows_x = tf.stack([x, y, one, zero, zero, zero, -x * X, -y * X], axis=-1)
    rows_y = tf.stack([zero, zero, zero, x, y, one, -x * Y, -y * Y], axis=-1)
    a = tf.concat([rows_x, rows_y], axis=1)  # (B, 8, 8)
    b = tf.concat([X, Y], axis=1)[..., None]  # (B, 8, 1)
    return tf.cast(tf.linalg.solve(a, b)[..., 0], tf.float32)


def _gaussian_kernel(sigma):
    radius = int(math.ceil(4 * sigma))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).astype(np.float32), radius


def _elastic(images, noise):
    """Simard et al.'s elastic distortion: smooth the raw field (reflected edges), scale, resample."""
    kernel, r = _gaussian_kernel(E_SIGMA)
    field = tf.convert_to_tensor(noise, tf.float32)
    field = tf.pad(field, [[0, 0], [r, r], [r, r], [0, 0]], mode="REFLECT")
    field = tf.nn.depthwise_conv2d(field, tf.tile(kernel.reshape(-1, 1, 1, 1), [1, 1, 2, 1]),
                                   [1, 1, 1, 1], "VALID")
    field = tf.nn.depthwise_conv2d(field, tf.tile(kernel.reshape(1, -1, 1, 1), [1, 1, 2, 1]),
                                   [1, 1, 1, 1], "VALID")
    field = E_ALPHA * field
    grid = tf.range(IMAGE_SIZE, dtype=tf.float32)
    return _bilinear(images, grid[None, None, :] + field[..., 0], grid[None, :, None] + field[..., 1])


def _bilinear(images, x, y):
    """Samples `images` (B, H, W, C) at float pixel coordinates `x`, `y` (B, H', W'); zero outside."""
    h, w = images.shape[1], images.shape[2]
    x0, y0 = tf.floor(x), tf.floor(y)
    out = 0.0
    for dy in (0.0, 1.0):
        for dx in (0.0, 1.0):
            xi, yi = x0 + dx, y0 + dy
            weight = (1.0 - tf.abs(x - xi)) * (1.0 - tf.abs(y - yi))
            inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
            index = tf.cast(tf.stack([tf.clip_by_value(yi, 0, h - 1), tf.clip_by_value(xi, 0, w - 1)],
                                     axis=-1), tf.int32)
            value = tf.gather_nd(images, index, batch_dims=1)
            out += value * (weight * tf.cast(inside, tf.float32))[..., None]
    return out


def _clutter(images, offset, patches, patch_offsets):
    """Places each digit and its clutter patches on a blank canvas (pixel-wise maximum)."""
    size = CLUTTER_CANVAS
    patches = tf.convert_to_tensor(patches, tf.float32)
    b, k, p = tf.shape(patches)[0], tf.shape(patches)[1], tf.shape(patches)[2]

    def place(pictures, top_left):  # integer moves: bilinear sampling is exact
        shift = tf.cast(top_left[:, ::-1], tf.float32)  # (x, y)
        one, zero = tf.ones_like(shift[:, 0]), tf.zeros_like(shift[:, 0])
        t = tf.stack([one, zero, -shift[:, 0], zero, one, -shift[:, 1], zero, zero], axis=1)
        return _warp(pictures, t, size)

    canvas = place(images, offset)
    clutter = place(tf.reshape(patches, [b * k, p, p, 1]), tf.reshape(patch_offsets, [b * k, 2]))
    clutter = tf.reduce_max(tf.reshape(clutter, [b, k, size, size, 1]), axis=1)
    return tf.maximum(canvas, clutter)
