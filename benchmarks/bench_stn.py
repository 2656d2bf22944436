#!/usr/bin/env python
"""Spatial-transformer throughput, side by side in one run, as ratios to a gather-based reference.

Sampler rows (affine grid + bilinear sampling, batch 256, one channel, output size = input size,
random thetas near the identity), at 28x28 and 60x60, forward and forward+backward (gradients
with respect to the images and theta, from a `tf.GradientTape` inside a `tf.function`):
  (a)  ours: `affine_grid` + `bilinear_sample` (keras.ops), `tf.function(jit_compile=True)`
  (a-) ours, the same function without XLA
  (b)  tf.image reference: `tf.raw_ops.ImageProjectiveTransformV3` (the kernel behind
       `tf.keras.layers.RandomRotation` & co.), bilinear, zero fill, theta converted to its
       pixel convention; forward only, it has no gradient with respect to the transform
  (c)  gather reference: the widespread TF STN sampler (kevinzakka/spatial-transformer-network,
       after daviddao/spatial-transformer-tensorflow): meshgrid, floor/ceil corners,
       `tf.gather_nd`, weighted sum; `tf.function` without XLA, the way it is used (the ratios
       are to this row)
  (c+) the same gather reference under XLA
Then the ST-CNN and its CNN baseline (`build_stn_classifier(28, ...)`, compiled as train_stn.py
compiles them) trained with `model.fit` on random 28x28 images, batch 128: images/s and the
ratio ST-CNN / CNN (target >= 0.75).

Usage:
  python benchmarks/bench_stn.py            # about 2 minutes on 2 cores
  python benchmarks/bench_stn.py --quick    # smoke test: every row, tiny timings
"""

import argparse
import os
import platform
import sys
import time

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept

from _shared import best_of_rounds  # noqa: E402

SIZES = (28, 60)
SAMPLER_BATCH = 256
TRAIN_BATCH = 128
TARGET_RATIO = 0.75
REFERENCE = "(c) gather reference (gather_nd), no XLA"
SAMPLERS = (
    "(a) ours: affine_grid + bilinear_sample, XLA",
    "(a-) ours, no XLA",
    "(b) tf.image ImageProjectiveTransformV3",
    REFERENCE,
    "(c+) gather reference, XLA",
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=3.0,
                   help="timed seconds per sampler row and pass, split over the rounds (default 3)")
    p.add_argument("--train-seconds", type=float, default=12.0,
                   help="timed seconds per training row, split over the rounds (default 12)")
    p.add_argument("--rounds", type=int, default=3, help="round-robin repetitions; the best is reported (default 3)")
    p.add_argument("--quick", action="store_true", help="tiny timings, to check the script runs")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# (b) the tf.image reference

def theta_to_pixel_transform(theta, in_h, in_w, out_h, out_w):
    """Our normalised affine `theta (B, 6)` as `ImageProjectiveTransformV3`'s `(B, 8)` transform.

    That op maps output pixel indices `(x, y)` (pixel centres at integers) to input pixel indices.
    Ours maps normalised output points to normalised input points, with `align_corners=False`:
    `x_norm = (2 x + 1) / W - 1` and back `x = (x_norm + 1) W / 2 - 1/2`. Composing the three
    affine maps gives the op's `[a0, a1, a2, b0, b1, b2, 0, 0]`.
    """
    import tensorflow as tf

    t0, t1, t2, t3, t4, t5 = tf.unstack(theta, axis=1)
    ax, bx = 2.0 / out_w, 1.0 / out_w - 1.0  # output pixel -> normalised
    ay, by = 2.0 / out_h, 1.0 / out_h - 1.0
    cx, dx = in_w / 2.0, in_w / 2.0 - 0.5  # normalised -> input pixel
    cy, dy = in_h / 2.0, in_h / 2.0 - 0.5
    zeros = tf.zeros_like(t0)
    return tf.stack([cx * t0 * ax, cx * t1 * ay, cx * (t0 * bx + t1 * by + t2) + dx,
                     cy * t3 * ax, cy * t4 * ay, cy * (t3 * bx + t4 * by + t5) + dy,
                     zeros, zeros], axis=1)


def tf_image_sample(images, theta, out_h, out_w):
    """(b): bilinear, zero fill, via `tf.raw_ops.ImageProjectiveTransformV3`."""
    import tensorflow as tf

    transforms = theta_to_pixel_transform(theta, images.shape[1], images.shape[2], out_h, out_w)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=[out_h, out_w],
        interpolation="BILINEAR", fill_mode="CONSTANT", fill_value=0.0)


# ---------------------------------------------------------------------------------------------
# (c) the gather-based reference: the classic TensorFlow STN sampler, as it is widely copied
# (kevinzakka/spatial-transformer-network `transformer.py`, which follows
# daviddao/spatial-transformer-tensorflow). Reproduced with its own conventions, quirks
# included: grid points are scaled to [0, W - 2] (so the image is stretched by a pixel and the
# last row and column are never read by the identity), and the corners are clamped into the
# image *before* the weights are computed (so points outside read the border, not zeros).
# Its numbers therefore differ from ours; the work per output pixel (grid matmul, 4 gathers,
# 4 weights, a weighted sum) is the same, which is what this benchmark compares.

def _get_pixel_value(img, x, y):
    """Reads `img (B, H, W, C)` at integer `x, y (B, h, w)` with `tf.gather_nd`."""
    import tensorflow as tf

    shape = tf.shape(x)
    batch_size, height, width = shape[0], shape[1], shape[2]
    batch_idx = tf.reshape(tf.range(0, batch_size), (batch_size, 1, 1))
    b = tf.tile(batch_idx, (1, height, width))
    indices = tf.stack([b, y, x], 3)
    return tf.gather_nd(img, indices)


def _affine_grid_generator(height, width, theta):
    """`theta (B, 2, 3)` -> source points `(B, 2, height, width)` in [-1, 1] units."""
    import tensorflow as tf

    num_batch = tf.shape(theta)[0]
    x = tf.linspace(-1.0, 1.0, width)
    y = tf.linspace(-1.0, 1.0, height)
    x_t, y_t = tf.meshgrid(x, y)
    x_t_flat = tf.reshape(x_t, [-1])
    y_t_flat = tf.reshape(y_t, [-1])
    ones = tf.ones_like(x_t_flat)
    sampling_grid = tf.stack([x_t_flat, y_t_flat, ones])  # (3, H*W)
    sampling_grid = tf.tile(tf.expand_dims(sampling_grid, 0), tf.stack([num_batch, 1, 1]))
    batch_grids = tf.matmul(tf.cast(theta, "float32"), sampling_grid)  # (B, 2, H*W)
    return tf.reshape(batch_grids, [num_batch, 2, height, width])


def _bilinear_sampler(img, x, y):
    """Samples `img (B, H, W, C)` at normalised `x, y (B, h, w)`: 4 corners, 4 weights."""
    import tensorflow as tf

    H, W = tf.shape(img)[1], tf.shape(img)[2]
    max_y, max_x = tf.cast(H - 1, "int32"), tf.cast(W - 1, "int32")
    zero = tf.zeros([], dtype="int32")

    # rescale x and y to [0, W-1/H-1] (as written; in fact [0, W-2])
    x = 0.5 * ((tf.cast(x, "float32") + 1.0) * tf.cast(max_x - 1, "float32"))
    y = 0.5 * ((tf.cast(y, "float32") + 1.0) * tf.cast(max_y - 1, "float32"))

    # grab the 4 nearest corner points for each (x_i, y_i)
    x0 = tf.cast(tf.floor(x), "int32")
    x1 = x0 + 1
    y0 = tf.cast(tf.floor(y), "int32")
    y1 = y0 + 1

    # clip to the image
    x0 = tf.clip_by_value(x0, zero, max_x)
    x1 = tf.clip_by_value(x1, zero, max_x)
    y0 = tf.clip_by_value(y0, zero, max_y)
    y1 = tf.clip_by_value(y1, zero, max_y)

    # corner pixel values
    Ia = _get_pixel_value(img, x0, y0)
    Ib = _get_pixel_value(img, x0, y1)
    Ic = _get_pixel_value(img, x1, y0)
    Id = _get_pixel_value(img, x1, y1)

    # deltas and weights
    x0, x1 = tf.cast(x0, "float32"), tf.cast(x1, "float32")
    y0, y1 = tf.cast(y0, "float32"), tf.cast(y1, "float32")
    wa = tf.expand_dims((x1 - x) * (y1 - y), axis=3)
    wb = tf.expand_dims((x1 - x) * (y - y0), axis=3)
    wc = tf.expand_dims((x - x0) * (y1 - y), axis=3)
    wd = tf.expand_dims((x - x0) * (y - y0), axis=3)
    return tf.add_n([wa * Ia, wb * Ib, wc * Ic, wd * Id])


def gather_reference_sample(images, theta, out_h, out_w):
    """(c): the gather-based reference sampler, `theta (B, 6)` -> `(B, out_h, out_w, C)`."""
    import tensorflow as tf

    grids = _affine_grid_generator(out_h, out_w, tf.reshape(theta, (-1, 2, 3)))
    return _bilinear_sampler(images, grids[:, 0], grids[:, 1])


# ---------------------------------------------------------------------------------------------

def ours_sample(images, theta, out_h, out_w):
    """(a): the package's sampler, as `SpatialTransformer` calls it."""
    from kerasrnn.layers.spatial_transformer import affine_grid, bilinear_sample

    return bilinear_sample(images, affine_grid(theta, out_h, out_w))


def sampler_functions(sample, size, jit):
    """`tf.function`s `(forward, forward_backward)` of `sample(images, theta)` at `size`."""
    import tensorflow as tf

    def forward(images, theta):
        return sample(images, theta, size, size)

    def forward_backward(images, theta, cotangent):
        with tf.GradientTape() as tape:
            tape.watch([images, theta])
            loss = tf.reduce_sum(sample(images, theta, size, size) * cotangent)
        return tape.gradient(loss, [images, theta])

    return (tf.function(forward, jit_compile=jit),
            tf.function(forward_backward, jit_compile=jit))


def call_runner(fn, args, items):
    """Calls `fn(*args)` once to trace/compile, calibrates; returns `run(seconds) -> items/s`.

    The inputs are arguments, not captured constants, so XLA cannot fold the work away; a CPU
    `tf.function` returns when its outputs are computed.
    """
    fn(*args)
    start, calls = time.perf_counter(), 0
    while calls < 1 or time.perf_counter() - start < 0.05:
        fn(*args)
        calls += 1
    per_call = (time.perf_counter() - start) / calls

    def run(seconds):
        n = max(1, int(seconds / per_call))
        start = time.perf_counter()
        for _ in range(n):
            fn(*args)
        return n * items / (time.perf_counter() - start)

    return run


def fit_runner(model, x, y, batch):
    """Compiles `model.fit` on the images `x` and labels `y`; returns `run(seconds) -> images/s`.

    bench_char_rnn's `fit_runner` makes its own token data; this one takes images.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True)
    ds = ds.cache().repeat().prefetch(tf.data.AUTOTUNE)
    model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)  # trace + compile
    warm = 3
    start = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=warm, verbose=0, shuffle=False)
    per_step = (time.perf_counter() - start) / warm

    def run(seconds):
        steps = max(1, int(seconds / per_step))
        start = time.perf_counter()
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        return steps * batch / (time.perf_counter() - start)

    return run


def main(argv=None):
    args = parse_args(argv)
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasrnn.kinds.stn_classifier.model import build_stn_classifier
    from kerasrnn.kinds.stn_classifier.train import compile_model
    from kerasrnn.kinds.stn_classifier.config import STNConfig

    if keras.backend.backend() != "tensorflow":
        raise SystemExit(f"bench_stn.py compares TensorFlow samplers; run it with KERAS_BACKEND=tensorflow "
                         f"(got {keras.backend.backend()!r})")
    tf.get_logger().setLevel("ERROR")  # one tf.function per row: the retracing warning is expected
    seconds = 0.05 if args.quick else args.seconds
    train_seconds = 0.2 if args.quick else args.train_seconds
    rounds = 1 if args.quick else args.rounds
    rng = np.random.default_rng(args.seed)
    keras.utils.set_random_seed(args.seed)
    wall = time.perf_counter()

    samplers = {SAMPLERS[0]: (ours_sample, True), SAMPLERS[1]: (ours_sample, False),
                SAMPLERS[2]: (tf_image_sample, False), SAMPLERS[3]: (gather_reference_sample, False),
                SAMPLERS[4]: (gather_reference_sample, True)}
    runners, max_diff = {}, {}
    for size in SIZES:
        images = tf.constant(rng.uniform(0, 1, (SAMPLER_BATCH, size, size, 1)), tf.float32)
        theta = tf.constant(np.eye(2, 3).ravel() + 0.1 * rng.standard_normal((SAMPLER_BATCH, 6)),
                            tf.float32)
        cotangent = tf.constant(rng.standard_normal((SAMPLER_BATCH, size, size, 1)), tf.float32)
        outputs = {}
        for name, (sample, jit) in samplers.items():
            forward, forward_backward = sampler_functions(sample, size, jit)
            outputs[name] = forward(images, theta).numpy()
            runners[(name, size, "fwd")] = call_runner(forward, (images, theta), SAMPLER_BATCH)
            if sample is not tf_image_sample:  # no gradient with respect to the transform
                runners[(name, size, "fwd+bwd")] = call_runner(
                    forward_backward, (images, theta, cotangent), SAMPLER_BATCH)
        for name in samplers:
            max_diff[(name, size)] = float(np.abs(outputs[name] - outputs[SAMPLERS[1]]).max())
    best = best_of_rounds(runners, seconds, rounds)

    n_train = TRAIN_BATCH * (4 if args.quick else 16)
    x = rng.uniform(0, 1, (n_train, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, n_train).astype(np.int32)
    train_runners = {}
    for kind in ("cnn", "st-cnn"):
        model = compile_model(build_stn_classifier(28, kind), STNConfig(model=kind))
        train_runners[kind] = fit_runner(model, x, y, TRAIN_BATCH)
    train = best_of_rounds(train_runners, train_seconds, rounds)
    ratio = train["st-cnn"] / train["cnn"]
    wall = time.perf_counter() - wall

    gpus = tf.config.list_physical_devices("GPU")
    print(f"\n$ python benchmarks/bench_stn.py {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip())
    print(f"machine: {platform.machine()}, os.cpu_count() = {os.cpu_count()}, "
          f"{'GPU: ' + ', '.join(g.name for g in gpus) if gpus else 'no GPU'}; "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(f"\nSampler throughput: affine grid + bilinear sampling, batch {SAMPLER_BATCH}, 1 channel, "
          f"output size = input size, thetas near the identity; images/s, best of {rounds} "
          f"round-robin rounds; ratios to (c), same run\n")
    print("| sampler | size | forward images/s | vs (c) | fwd+bwd images/s | vs (c) | max abs diff vs ours |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for size in SIZES:
        ref = {p: best[(REFERENCE, size, p)] for p in ("fwd", "fwd+bwd")}
        for name in SAMPLERS:
            cells = []
            for p in ("fwd", "fwd+bwd"):
                v = best.get((name, size, p))
                cells += ["n/a", "n/a"] if v is None else [f"{v:,.0f}", f"{v / ref[p]:.2f}x"]
            print(f"| {name} | {size}x{size} | {' | '.join(cells)} | {max_diff[(name, size)]:.1e} |")
    print("\n(b) has a gradient for the images only (its inverse warp, not the exact adjoint) and "
          "none for the transform, so no fwd+bwd. (c)'s own coordinate convention (points scaled "
          "to [0, W-2], corners clamped to the border) makes its output differ from ours; the "
          "work per pixel is the same.")
    print(f"\nTraining, model.fit on random 28x28 images, batch {TRAIN_BATCH}, Adam as train_stn.py "
          f"compiles it; best of {rounds} round-robin rounds\n")
    print("| model | images/s | vs CNN |")
    print("|---|---:|---:|")
    for kind, label in (("cnn", "CNN"), ("st-cnn", "ST-CNN (affine)")):
        print(f"| {label} | {train[kind]:,.0f} | {train[kind] / train['cnn']:.2f}x |")
    print(f"\nST-CNN / CNN = {ratio:.2f} (target >= {TARGET_RATIO}: "
          f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}); wall time {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
