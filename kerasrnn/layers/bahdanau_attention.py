"""Bahdanau-style additive soft attention over a set of annotation vectors (Show, Attend and Tell)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasrnn")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention: `score_i = v^T tanh(W1 a_i + W2 h + b)`, `alpha = softmax(score)`.

    Given L annotation vectors `a_i` (e.g. the cells of a CNN feature grid) and a query `h`
    (e.g. the decoder's previous hidden state), returns the context `sum_i alpha_i a_i` and the
    weights `alpha`. Locations where `mask` is False get a weight of exactly 0 and the others
    sum to 1 (a row with every location masked gets all-zero weights and a zero context).

    Args:
        units: Size of the hidden scoring layer (the rows of `W1`, `W2`, `v`).
        kernel_initializer: Initializer of `annotation_kernel` (D, units), `query_kernel`
            (H, units) and `score_kernel` (units, 1).
        **kwargs: Base `Layer` arguments.

    Call arguments:
        annotations: `(batch, L, D)`.
        query: `(batch, H)`.
        mask: Optional bool `(batch, L)`, True where a location may be attended to.
        projected_annotations: Optional `(batch, L, units)`, the result of
            `project_annotations(annotations)`, to reuse across decoder steps.

    Returns:
        `(context, alpha)`: `(batch, D)` and `(batch, L)`.
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"BahdanauAttention: `units` must be a positive integer, got {units!r}.")
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True  # consumes a Keras mask over locations; outputs carry none

    def build(self, annotations_shape, query_shape):
        if len(annotations_shape) != 3 or len(query_shape) != 2:
            raise ValueError("BahdanauAttention expects annotations (batch, L, D) and a query "
                             f"(batch, H); got {tuple(annotations_shape)} and {tuple(query_shape)}.")
        init = self.kernel_initializer
        self.annotation_kernel = self.add_weight(shape=(annotations_shape[-1], self.units),
                                                 name="annotation_kernel", initializer=init)
        self.query_kernel = self.add_weight(shape=(query_shape[-1], self.units),
                                            name="query_kernel", initializer=init)
        self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")
        self.score_kernel = self.add_weight(shape=(self.units, 1), name="score_kernel", initializer=init)

    def project_annotations(self, annotations):
        """`W1 a_i` for every location: `(batch, L, D)` -> `(batch, L, units)`."""
        return ops.matmul(annotations, self.annotation_kernel)

    def call(self, annotations, query, mask=None, projected_annotations=None):
        if projected_annotations is None:
            projected_annotations = self.project_annotations(annotations)
        hidden = ops.tanh(projected_annotations
                          + ops.expand_dims(ops.matmul(query, self.query_kernel) + self.bias, 1))
        scores = ops.squeeze(ops.matmul(hidden, self.score_kernel), -1)  # (batch, L)
        if mask is not None:
            mask = ops.cast(mask, "bool")
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        alpha = ops.softmax(scores, axis=-1)
        if mask is not None:  # exact zeros, also for a row with every location masked
            alpha = alpha * ops.cast(mask, alpha.dtype)
        context = ops.squeeze(ops.matmul(ops.expand_dims(alpha, 1), annotations), 1)
        return context, alpha

    def compute_mask(self, annotations, query, mask=None, projected_annotations=None):
        return None

    def compute_output_spec(self, annotations, query, mask=None, projected_annotations=None):
        batch, length, depth = annotations.shape
        return (keras.KerasTensor((batch, depth), dtype=self.compute_dtype),
                keras.KerasTensor((batch, length), dtype=self.compute_dtype))

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
