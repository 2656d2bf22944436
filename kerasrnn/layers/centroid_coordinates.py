"""Appends to each grid cell the centre of the thing around it, so attention can order objects by
position without favouring one edge of each."""

import keras
from keras import ops

from kerasrnn.layers.grid_coordinates import cell_centres


@keras.saving.register_keras_serializable(package="kerasrnn")
class CentroidCoordinates(keras.layers.Layer):
    """Concatenates two channels: the objectness-weighted mean (x, y) of each cell's neighbourhood.

    With `GridCoordinates` every cell carries its own (x, y). A captioner that must name the left
    (or upper) object first then scores cells with a slope in x and y, and inside one object that
    slope favours the cell at its far edge, often one that only grazes the object. Here each
    cell carries instead the centre of what lies around it: a learned objectness
    `o_j = sigmoid(w . a_j + b)` weights the centres `p_j` of the `window x window` cells around
    cell i,

        c_i = sum_j o_j p_j / (sum_j o_j + epsilon),

    so the cells of one object carry about the same point, and a slope over `c` orders the
    objects while leaving the choice among an object's own cells to what they show
    (docs/captioning.md measures it, `--coordinates centroid`).

    Args:
        window: Odd side of the neighbourhood in cells (default 5: two cells each way).
        epsilon: Keeps the ratio finite where no cell of the window looks like an object.

    Call arguments:
        grid: `(batch, h, w, D)`.

    Returns:
        `(batch, h, w, D + 2)`: the grid, then the centre's x and y in [-1, 1] (the
        `GridCoordinates` convention).
    """

    def __init__(self, window=5, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        if int(window) != window or window < 1 or window % 2 == 0:
            raise ValueError(f"window must be an odd number of cells >= 1, got {window!r}")
        self.window = int(window)
        self.epsilon = float(epsilon)

    def build(self, grid_shape):
        self.objectness = keras.layers.Dense(1, activation="sigmoid", name="objectness")
        self.objectness.build(grid_shape)

    def call(self, grid):
        centres = cell_centres(grid.shape[1], grid.shape[2], grid.dtype)[None]  # (1, h, w, 2)
        weight = self.objectness(grid)  # (B, h, w, 1)
        stacked = ops.concatenate([weight, weight * centres], axis=-1)  # (B, h, w, 3)
        ones = ops.ones((self.window, self.window, 3, 1), grid.dtype)
        sums = ops.depthwise_conv(stacked, ones, padding="same")  # zero padding: plain sums
        return ops.concatenate([grid, sums[..., 1:] / (sums[..., :1] + self.epsilon)], axis=-1)

    def compute_output_shape(self, grid_shape):
        return (*grid_shape[:-1], grid_shape[-1] + 2)

    def get_config(self):
        return {**super().get_config(), "window": self.window, "epsilon": self.epsilon}
