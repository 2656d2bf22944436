"""DRAW without TensorFlow: the exported `decoder_step.onnx`, ONNX Runtime and numpy.

`export/export_model.py` writes into a version's `onnx/` folder `decoder_step.onnx` (one step of
the generator's decoder, `onnx_models.decoder_step`: `z`, `canvas`, `h`, `c` -> `next_canvas`,
`next_h`, `next_c`, `window`), `draw.json` (the model's sizes: `steps`, `latent_dim`,
`decoder_units`, `image_shape`) and `limits.json`. `DRAWGenerator` runs the T steps over them
from zero states, with the noise the SavedModel's `generate` draws for the same seeds
(`noise`), so it gives the same images, canvases and windows (to float32 rounding):

    from kerasrnn.kinds.draw.onnx_driver import DRAWGenerator
    drawer = DRAWGenerator("saved_models/draw/1/onnx")
    out = drawer.generate([1, 2, 3])   # out["images"]: (3, 28, 28, 1) pixel probabilities

The export's request limits (`limits.DRAWLimits`) hold here as in the SavedModel: more seeds
than `max_rows`, or a seed that is not an int64, raises `InputError`. Zero seeds answer zero rows.

This module imports only numpy and onnxruntime (and `kerasrnn.errors`, `export.counter_random`,
`export.version_files`, the limits), never TensorFlow or Keras.
"""

import pathlib

import numpy as np

from kerasrnn.errors import InputError
from kerasrnn.export import version_files
from kerasrnn.export.counter_random import counter_normal
from kerasrnn.export.request_limits import LIMITS_FILE
from kerasrnn.kinds.draw.limits import DRAWLimits

STEP_FILE = "decoder_step.onnx"
SIZES_FILE = "draw.json"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def noise(seeds, steps, latent_dim):
    """eps of each row: `(B,)` int64 seeds -> float32 `(B, steps, latent_dim)`, eps[b, t, d] =
    `counter_normal(seeds[b], t latent_dim + d)` (the SavedModel's `signatures.noise`)."""
    index = np.arange(steps * latent_dim, dtype=np.int64).reshape(1, steps, latent_dim)
    return counter_normal(np.asarray(seeds, np.int64)[:, None, None], index).astype(np.float32)


def sigmoid(x):
    """Logistic function, float32, without overflow warnings."""
    return (0.5 * (1.0 + np.tanh(0.5 * x.astype(np.float64)))).astype(np.float32)


def check_seeds(limits, seeds):
    """The seeds of a `generate` request as int64 `(B,)`, checked by the SavedModel's rules.

    Raises:
        InputError: Not a list of integers, one outside int64, or more than `max_rows`.
    """
    if not isinstance(seeds, (list, tuple, np.ndarray)) or getattr(seeds, "ndim", 1) != 1:
        raise InputError("seeds must be a list of int64 integers, one per image")
    # The count first: a request's work is bounded before its values are looked at.
    if len(seeds) > limits.max_rows:
        raise InputError(f"too many seeds in one request: at most {limits.max_rows} (max_rows); "
                         f"got {len(seeds)}")
    values = list(seeds)
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_))
               and INT64_MIN <= int(s) <= INT64_MAX for s in values):
        raise InputError("seeds must be a list of int64 integers, one per image")
    return np.array([int(s) for s in values], np.int64)


class DRAWGenerator:
    """Draws images with an exported DRAW version's ONNX files (see the module docstring).

    Args:
        onnx_dir: The `onnx/` folder of an exported DRAW version.

    Raises:
        InputError: A file missing or damaged (named).
    """

    def __init__(self, onnx_dir):
        onnx_dir = pathlib.Path(onnx_dir)
        for name in (STEP_FILE, SIZES_FILE, LIMITS_FILE):
            if not (onnx_dir / name).is_file():
                raise InputError(f"{onnx_dir} has no {name}; give the onnx/ folder of an exported "
                                 "DRAW model version")
        sizes = version_files.read_json(onnx_dir / SIZES_FILE, {
            "steps": int, "latent_dim": int, "decoder_units": int, "image_shape": list})
        self.steps, self.latent_dim = sizes["steps"], sizes["latent_dim"]
        self.decoder_units, self.image_shape = sizes["decoder_units"], tuple(sizes["image_shape"])
        if min(self.steps, self.latent_dim, self.decoder_units) < 1 or len(self.image_shape) != 3:
            raise InputError(f"{onnx_dir / SIZES_FILE} is damaged; export the model again")
        self.limits = DRAWLimits.load(onnx_dir)
        self.session = version_files.session(onnx_dir / STEP_FILE)

    def step(self, z, canvas, h, c):
        """One decoder step: float32 `z (B, |z|)`, `canvas (B, H W C)` logits, `h`, `c (B, D)`
        -> `(canvas, h, c, window (B, 4))`."""
        return self.session.run(["next_canvas", "next_h", "next_c", "window"],
                                {"z": z, "canvas": canvas, "h": h, "c": c})

    def generate(self, seeds):
        """Draws one image per seed (the SavedModel's `generate`).

        Args:
            seeds: int64 seeds, at most `limits.max_rows`.

        Returns:
            `{"images": (B, H, W, C), "canvases": (B, T, H, W, C), "windows": (B, T, 4)}`,
            float32; images and canvases are pixel probabilities (sigmoid of the canvas).
        """
        seeds = check_seeds(self.limits, seeds)
        rows, pixels = len(seeds), int(np.prod(self.image_shape))
        eps = noise(seeds, self.steps, self.latent_dim)
        canvas = np.zeros((rows, pixels), np.float32)
        h = np.zeros((rows, self.decoder_units), np.float32)
        c = np.zeros_like(h)
        canvases = np.zeros((rows, self.steps, pixels), np.float32)
        windows = np.zeros((rows, self.steps, 4), np.float32)
        for t in range(self.steps if rows else 0):
            canvas, h, c, windows[:, t] = self.step(eps[:, t], canvas, h, c)
            canvases[:, t] = canvas
        canvases = sigmoid(canvases).reshape(rows, self.steps, *self.image_shape)
        return {"images": canvases[:, -1], "canvases": canvases, "windows": windows}
