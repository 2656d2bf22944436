"""DRAW's data: binarized MNIST with the noise of every glimpse, drawn per example.

Binarization: a pixel of grey level g in [0, 1] is 1 with probability g.
- Training (`binarize="dynamic"`): drawn again every epoch, with a key made from
  `(seed, epoch, index)` (dynamic binarization; the paper used the fixed binarized MNIST of
  Larochelle and Murray, which is not freely redistributable: scores on dynamic and fixed
  binarizations differ a little, so say which a number uses).
- Testing (`binarize="fixed"`): drawn once from `(seed, index)`, the same every epoch and run,
  so that scores compare run to run.

The noise eps of every glimpse, `(steps, latent_dim)` standard normal, is drawn with the same
key: example i of epoch e sees the same z in one process and in any number of replicas, and a
resumed run the z a run from scratch would.
"""

import numpy as np
import tensorflow as tf

from kerasrnn.data.epochs import epoch_batches
from kerasrnn.errors import InputError

BINARIZATIONS = ("dynamic", "fixed")
TEST_SEED = 2015  # the test set's binarization and noise, in every run and score


def draw_dataset(images, batch_size, steps, latent_dim, seed=0, binarize="dynamic", shuffle=True,
                 epoch=0, repeat=False, drop_remainder=False, shard=0, shards=1):
    """Batches for DRAW's training model.

    Args:
        images: uint8 `(N, H, W)` or `(N, H, W, C)` grey images (MNIST: `load_mnist`'s).
        batch_size: Images per (global) batch B.
        steps, latent_dim: T and |z| of the model (the noise's shape).
        seed: Integer seed of the binarization, the noise and the order.
        binarize: `"dynamic"` (a new draw every epoch) or `"fixed"` (the same every epoch).
        shuffle, epoch, repeat, drop_remainder, shard, shards: as `epochs.epoch_batches`.

    Returns:
        `tf.data.Dataset` of `((images, noise), {"canvas": images, "kl": zeros})`: float32
        `(B / shards, H, W, C)` of 0s and 1s and `(B / shards, T, latent_dim)`; the targets
        are what `model.LOSSES` compares with.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.dtype != np.uint8 or len(images) == 0:
        raise ValueError(f"`images` must be uint8 (N, H, W[, C]) with N > 0, got {images.dtype} "
                         f"{images.shape}.")
    if binarize not in BINARIZATIONS:
        raise InputError(f"binarize must be one of {', '.join(BINARIZATIONS)}, got {binarize!r}")
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    bank = tf.constant(images)
    order_key = tf.constant([seed, 11], tf.int64)
    draw_key = tf.constant([seed, 12], tf.int64)

    def one_example(e, i):
        key = tf.random.experimental.stateless_fold_in(
            draw_key, tf.constant(0, tf.int64) if binarize == "fixed" else e)
        pixel_key, noise_key = tf.unstack(tf.random.experimental.stateless_split(
            tf.random.experimental.stateless_fold_in(key, i), num=2))
        grey = tf.cast(bank[i], tf.float32) / 255.0
        binary = tf.cast(tf.random.stateless_uniform(tf.shape(grey), seed=pixel_key) < grey,
                         tf.float32)
        noise = tf.random.stateless_normal((steps, latent_dim), seed=noise_key)
        return (binary, noise), {"canvas": binary, "kl": tf.constant(0.0)}

    return epoch_batches(len(images), one_example, batch_size, order_key, shuffle, epoch, repeat,
                         drop_remainder, shard=shard, shards=shards)
