"""`kerasrnn.export.counter_random`'s numbers in TensorFlow ops, for the SavedModels' graphs: the
same uniforms bit for bit (uint64 ops), the same normals to float64 rounding."""

import numpy as np
import tensorflow as tf

from kerasrnn.export.counter_random import GOLDEN, MIX_1, MIX_2


def counter_uniform(seed, index):
    """`counter_random.counter_uniform` in TensorFlow ops: int64 `seed`, `index` -> float64."""
    u64 = tf.uint64

    def c(v):
        return tf.constant(v, u64)

    seed, index = tf.bitcast(tf.cast(seed, tf.int64), u64), tf.bitcast(tf.cast(index, tf.int64), u64)
    z = seed + (index + c(1)) * c(GOLDEN)
    z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, c(30))) * c(MIX_1)
    z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, c(27))) * c(MIX_2)
    z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, c(31)))
    return tf.cast(tf.bitwise.right_shift(z, c(11)), tf.float64) * (2.0**-53)


def counter_normal(seed, index):
    """`counter_random.counter_normal` in TensorFlow ops (Box-Muller in float64): int64 `seed`,
    `index` (broadcastable) -> float64."""
    index = tf.cast(index, tf.int64)
    u1, u2 = counter_uniform(seed, 2 * index), counter_uniform(seed, 2 * index + 1)
    return tf.sqrt(-2.0 * tf.math.log1p(-u1)) * tf.cos(2.0 * np.pi * u2)
