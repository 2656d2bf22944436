"""CentroidCoordinates: every cell of an object carries the object's centre; the window's sums;
saving; the captioner option."""

import keras
import numpy as np
import pytest

from kerasrnn.layers import CentroidCoordinates
from kerasrnn.layers.grid_coordinates import cell_centres
from kerasrnn.kinds.captioner.model import build_captioner


def _layer(grid, kernel, bias, **kwargs):
    """A built layer whose objectness is sigmoid(grid @ kernel + bias)."""
    layer = CentroidCoordinates(**kwargs)
    layer.build(grid.shape)
    layer.objectness.set_weights([np.asarray(kernel, "float32").reshape(-1, 1),
                                  np.asarray([bias], "float32")])
    return layer


def test_every_cell_of_an_object_carries_its_centre():
    # an 8x8 grid, one feature: 1 on a 3x2 block of cells (rows 2-4, columns 1-2), 0 elsewhere
    grid = np.zeros((1, 8, 8, 1), "float32")
    grid[0, 2:5, 1:3] = 1.0
    out = keras.ops.convert_to_numpy(_layer(grid, [40.0], -20.0, epsilon=0.0)(grid))  # objectness 1 / 0
    assert out.shape == (1, 8, 8, 3)
    np.testing.assert_array_equal(out[..., 0], grid[..., 0])  # the annotations pass through
    centres = keras.ops.convert_to_numpy(cell_centres(8, 8))
    block_centre = centres[2:5, 1:3].reshape(-1, 2).mean(axis=0)  # x of columns 1-2, y of rows 2-4
    np.testing.assert_allclose(block_centre, [-0.5, -0.125])
    for r in range(2, 5):
        for c in range(1, 3):  # the window (5x5) of every block cell holds the whole block
            np.testing.assert_allclose(out[0, r, c, 1:], block_centre, atol=1e-5)
    # GridCoordinates would give these cells x of -0.625 and -0.375: a slope inside the object


def test_uniform_objectness_gives_the_mean_centre_of_the_window():
    grid = np.zeros((2, 7, 6, 4), "float32")
    out = keras.ops.convert_to_numpy(_layer(grid, np.zeros(4), 0.0, window=3, epsilon=0.0)(grid))
    centres = keras.ops.convert_to_numpy(cell_centres(7, 6))
    np.testing.assert_allclose(out[0, 3, 2, 4:], centres[3, 2], atol=1e-6)  # window inside: own centre
    np.testing.assert_allclose(out[1, 0, 0, 4:], centres[:2, :2].reshape(-1, 2).mean(0), atol=1e-6)  # corner
    np.testing.assert_allclose(out[1, 6, 5, 4:], centres[5:, 4:].reshape(-1, 2).mean(0), atol=1e-6)


def test_matches_a_numpy_reference_with_learned_objectness():
    grid = np.random.default_rng(1).uniform(-1, 1, (2, 5, 6, 3)).astype("float32")
    layer = CentroidCoordinates(window=3, epsilon=0.0)
    out = keras.ops.convert_to_numpy(layer(grid))
    kernel, bias = (keras.ops.convert_to_numpy(v) for v in layer.objectness.weights)
    objectness = 1.0 / (1.0 + np.exp(-(grid @ kernel + bias)[..., 0]))  # (2, 5, 6)
    xs, ys = (2 * np.arange(6) + 1) / 6 - 1, (2 * np.arange(5) + 1) / 5 - 1
    for b, r, c in [(0, 0, 0), (0, 2, 3), (1, 4, 5), (1, 1, 4)]:
        rows, cols = slice(max(r - 1, 0), r + 2), slice(max(c - 1, 0), c + 2)
        o = objectness[b, rows, cols]
        x, y = np.meshgrid(xs[cols], ys[rows])
        np.testing.assert_allclose(out[b, r, c, 3:], [(o * x).sum() / o.sum(), (o * y).sum() / o.sum()],
                                   atol=1e-5)


def test_round_trip_keeps_window_and_weights(tmp_path):
    grid = np.random.default_rng(0).uniform(0, 1, (2, 4, 4, 3)).astype("float32")
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, CentroidCoordinates(window=3)(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[-1].window == 3
    np.testing.assert_allclose(model(grid), loaded(grid), atol=1e-6)


@pytest.mark.parametrize("window", [0, 2, 3.5])
def test_window_must_be_odd_and_positive(window):
    with pytest.raises(ValueError, match="odd number of cells"):
        CentroidCoordinates(window=window)


def test_captioner_takes_each_coordinates_option():
    layers = {option: {type(layer).__name__ for layer in build_captioner(10, 32, 4, coordinates=option).layers}
              for option in ("cell", "centroid", "none")}
    assert "CentroidCoordinates" in layers["centroid"] and "GridCoordinates" not in layers["centroid"]
    assert "GridCoordinates" in layers["cell"] and "CentroidCoordinates" not in layers["cell"]
    assert not {"GridCoordinates", "CentroidCoordinates"} & layers["none"]
    for bad in ("polar", True, None):
        with pytest.raises(ValueError, match="coordinates must be one of"):
            build_captioner(10, 32, 4, coordinates=bad)
