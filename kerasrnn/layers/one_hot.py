"""One-hot encoding of integer ids as a layer (min-char-rnn's input representation)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasrnn")
class OneHot(keras.layers.Layer):
    """Maps integer ids `(...,)` to one-hot vectors `(..., depth)`.

    Unlike `keras.layers.CategoryEncoding`, a trailing axis of size 1 is kept (a `(B, 1)`
    batch of single characters becomes `(B, 1, depth)`), which one-step sampling needs.

    Args:
        depth: Number of classes (the vocabulary size).
        **kwargs: Base `Layer` arguments; `dtype` sets the output dtype.
    """

    def __init__(self, depth, **kwargs):
        super().__init__(**kwargs)
        self.depth = depth

    def call(self, ids):
        return ops.one_hot(ops.cast(ids, "int32"), self.depth, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.depth)

    def get_config(self):
        return {**super().get_config(), "depth": self.depth}
