"""Appends each cell's (x, y) position to a feature grid, so attention can say *where* as well as *what*."""

import math

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

    With `frequencies`, each cell also carries `sin(pi k p)` and `cos(pi k p)` of its centre p
    for every k (Fourier features, as in Transformers' position encodings). Attention reads
    position as the weighted mean of what the cells carry; for x and y alone a map spread over
    an object gives its centre whichever cell holds the peak, while the mean of a sine of high k
    blurs unless the map is concentrated, so these channels pay a map for putting its weight in
    one place (on the scenes, `--coordinates fourier` raised attention localisation: see the
    README's captioning results).

    Args:
        frequencies: The k's (e.g. `(1, 2, 4)`); empty (the default) for x and y alone. On an
            n-cell axis k up to n / 2 is distinct from its neighbours.

    Call arguments:
        grid: `(batch, h, w, D)`.

    Returns:
        `(batch, h, w, D + 2 + 4 len(frequencies))`: the grid, then x (left -1 to right +1),
        then y (top -1 to bottom +1), at the cell centres `(2 i + 1) / n - 1`, then for each k
        `sin(pi k x), sin(pi k y), cos(pi k x), cos(pi k y)`.
    """

    def __init__(self, frequencies=(), **kwargs):
        super().__init__(**kwargs)
        self.frequencies = tuple(float(k) for k in frequencies)
        if any(k <= 0 for k in self.frequencies):
            raise ValueError(f"frequencies must be positive, got {frequencies!r}")

    def call(self, grid):
        coords = cell_centres(grid.shape[1], grid.shape[2], grid.dtype)
        waves = [f(math.pi * k * coords) for k in self.frequencies for f in (ops.sin, ops.cos)]
        coords = ops.concatenate([coords, *waves], axis=-1)
        coords = ops.broadcast_to(coords[None], (ops.shape(grid)[0], *coords.shape))
        return ops.concatenate([grid, coords], axis=-1)

    def compute_output_shape(self, grid_shape):
        return (*grid_shape[:-1], grid_shape[-1] + 2 + 4 * len(self.frequencies))

    def get_config(self):
        return {**super().get_config(), "frequencies": list(self.frequencies)}
