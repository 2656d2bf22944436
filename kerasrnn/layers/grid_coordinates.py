"""Appends each cell's (x, y) position to a feature grid, so attention can say *where* as well as *what*."""

import keras
from keras import ops


def cell_centres(h, w, dtype="float32"):
    """`(h, w, 2)`: each cell's (x, y) centre in [-1, 1], `(2 i + 1) / n - 1` (x left to right,
    y top to bottom)."""
    xs = (2.0 * ops.arange(w, dtype=dtype) + 1.0) / w - 1.0
    ys = (2.0 * ops.arange(h, dtype=dtype) + 1.0) / h - 1.0
    return ops.stack([ops.tile(xs[None, :], (h, 1)), ops.tile(ys[:, None], (1, w))], axis=-1)


@keras.saving.register_keras_serializable(package="kerasrnn")
class GridCoordinates(keras.layers.Layer):
    """Concatenates two channels holding each cell's x and y centre, in [-1, 1], to a grid.

    A CNN grid is translation-equivariant: two cells that see the same thing hold the same
    vector, so a context read through attention says what was looked at but not where. With
    the coordinates appended ("CoordConv", Liu et al. 2018), a captioner can tell "a red circle
    left of a blue square" from its mirror image.

    Call arguments:
        grid: `(batch, h, w, D)`.

    Returns:
        `(batch, h, w, D + 2)`: the grid, then x (left -1 to right +1), then y (top -1 to
        bottom +1), at the cell centres `(2 i + 1) / n - 1`.
    """

    def call(self, grid):
        coords = cell_centres(grid.shape[1], grid.shape[2], grid.dtype)
        coords = ops.broadcast_to(coords[None], (ops.shape(grid)[0], *coords.shape))
        return ops.concatenate([grid, coords], axis=-1)

    def compute_output_shape(self, grid_shape):
        return (*grid_shape[:-1], grid_shape[-1] + 2)
