"""Attention supervision for captioning sets that know where each object is.

Liu, Mao, Sha and Yuille, "Attention Correctness in Neural Image Captioning" (AAAI 2017): for a
word that names an object, the attention mass inside the object's region is pushed towards 1 by
the loss `-log(sum_{i in region} alpha_ti)`. This is a training signal the Show, Attend and
Tell paper does not have (its attention learns from the captions alone); on the generated
scenes and digits it is available because every object's box is recorded
(`kerasrnn.kinds.captioner.regions.named_cells` gives the region, the cells a localisation hit must land on).
"""

import keras
from keras import ops

_EPSILON = 1e-7


@keras.saving.register_keras_serializable(package="kerasrnn")
def attention_correctness_loss(regions, alphas):
    """Mean over each caption's object-naming words of `-log` (the attention mass in the region).

    Args:
        regions: float `(B, T, L)`, 1 on the cells inside the box of the object that target word
            t names; an all-zero row for a word that names nothing (not supervised).
        alphas: float `(B, T, L)`, the decoder's attention distributions.

    Returns:
        float `(B,)`: per caption, the mean of `-log(sum_i regions_ti * alphas_ti)` over its
        supervised words (0 for a caption with none).
    """
    regions = ops.cast(regions, alphas.dtype)
    supervised = ops.cast(ops.sum(regions, axis=-1) > 0, alphas.dtype)  # (B, T)
    mass = ops.sum(regions * alphas, axis=-1)
    nll = -ops.log(ops.clip(mass, _EPSILON, 1.0)) * supervised
    return ops.sum(nll, axis=-1) / ops.maximum(ops.sum(supervised, axis=-1), 1.0)
