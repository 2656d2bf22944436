"""Counter-based random numbers in numpy: each number a pure function of `(seed, index)`, so a
SavedModel (`counter_random_tf`, the same numbers in TensorFlow ops), an ONNX driver and the
JavaScript drivers draw the same numbers for the same seed, on any machine and in any batch.

Uniforms: the `index`-th output of splitmix64 (Steele, Lea, Flood 2014; the seeding generator of
xoshiro) seeded with `seed`, its top 53 bits as a float64 in [0, 1). Normals: Box-Muller in
float64 on the uniforms `2 k` and `2 k + 1` of the stream, `sqrt(-2 log(1 - u1)) cos(2 pi u2)`.

Imports only numpy (the ONNX drivers use it).
"""

import numpy as np

# splitmix64: the n-th output of the stream seeded with s is mix(s + (n + 1) * GOLDEN).
GOLDEN = 0x9E3779B97F4A7C15
MIX_1 = 0xBF58476D1CE4E5B9
MIX_2 = 0x94D049BB133111EB


def counter_uniform(seed, index):
    """Uniform numbers in [0, 1) that are a pure function of `(seed, index)`.

    Args:
        seed: int array (any shape) of int64 seeds.
        index: int array broadcastable with `seed`: which number of each seed's stream.

    Returns:
        float64 array: the top 53 bits of splitmix64's `index`-th output for `seed`, / 2**53.
    """
    u64 = np.uint64
    with np.errstate(over="ignore"):
        z = (np.asarray(seed, np.int64).astype(u64)
             + (np.asarray(index, np.int64).astype(u64) + u64(1)) * u64(GOLDEN))
        z = (z ^ (z >> u64(30))) * u64(MIX_1)
        z = (z ^ (z >> u64(27))) * u64(MIX_2)
        z = z ^ (z >> u64(31))
    return (z >> u64(11)).astype(np.float64) * 2.0**-53


def counter_normal(seed, index):
    """Standard normal numbers, a pure function of `(seed, index)`: Box-Muller in float64 on
    `counter_uniform(seed, 2 index)` and `counter_uniform(seed, 2 index + 1)`.

    Args:
        seed, index: As `counter_uniform` (index >= 0, below 2**62).

    Returns:
        float64 array of the broadcast shape.
    """
    index = np.asarray(index, np.int64)
    u1, u2 = counter_uniform(seed, 2 * index), counter_uniform(seed, 2 * index + 1)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
