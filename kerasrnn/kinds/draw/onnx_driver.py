"""DRAW without TensorFlow: the exported ONNX steps, ONNX Runtime and numpy.

`export/export_model.py` writes into a version's `onnx/` folder `decoder_step.onnx` (one step of
the generator's decoder, `onnx_models.decoder_step`: `z`, `canvas`, `h`, `c` -> `next_canvas`,
`next_h`, `next_c`, `window`), `reconstruct_step.onnx` (one step of the whole model on an image,
`onnx_models.reconstruct_step`), `draw.json` (the model's sizes: `steps`, `latent_dim`,
`encoder_units`, `decoder_units`, `write_size`, `image_shape`) and `limits.json`.
`DRAWGenerator` runs the T steps over them from zero states, with the noise the SavedModel draws
for the same seeds (`noise`), so `generate` gives the SavedModel's `generate` images, canvases
and windows and `reconstruct` its `reconstruct` reconstructions and bounds (to float32 rounding):

    from kerasrnn.kinds.draw.onnx_driver import DRAWGenerator
    drawer = DRAWGenerator("saved_models/draw/1/onnx")
    out = drawer.generate([1, 2, 3])   # out["images"]: (3, 28, 28, 1) pixel probabilities
    again = drawer.reconstruct(out["images"], [1, 2, 3])   # again["nll_bound"]: (3,) nats

The export's request limits (`limits.DRAWLimits`) hold here as in the SavedModel: more seeds or
images than `max_rows`, a seed that is not an int64, images not of the model's shape or with
pixels outside [0, 1], or seeds not one per image raise `InputError`. Zero seeds answer zero rows.

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
RECONSTRUCT_FILE = "reconstruct_step.onnx"
SIZES_FILE = "draw.json"
SIZES = {"steps": int, "latent_dim": int, "encoder_units": int, "decoder_units": int,
         "write_size": int, "image_shape": list}  # draw.json: the model's sizes
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


def check_images(limits, image_shape, images, seeds):
    """The images and seeds of a `reconstruct` request, float32 `(B, H, W, C)` and int64 `(B,)`,
    checked by the SavedModel's rules.

    Raises:
        InputError: Not images of `image_shape` with pixels in [0, 1], more than `max_rows`, or
            seeds not one int64 per image.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[1:] != tuple(image_shape):
        raise InputError(f"images must be (B, {', '.join(map(str, image_shape))}) grey images in "
                         f"[0, 1]; got shape {images.shape}")
    if len(images) > limits.max_rows:
        raise InputError(f"too many images in one request: at most {limits.max_rows} (max_rows); "
                         f"got {len(images)}")
    if not np.all((images >= 0) & (images <= 1)):
        raise InputError("images must hold pixels between 0 and 1 (grey levels; not NaN)")
    seeds = check_seeds(limits, seeds)
    if len(seeds) != len(images):
        raise InputError(f"seeds must be one per image: got {len(seeds)} for {len(images)} images")
    return images, seeds


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
        sizes = version_files.read_json(onnx_dir / SIZES_FILE, SIZES)
        self.steps, self.latent_dim = sizes["steps"], sizes["latent_dim"]
        self.encoder_units, self.decoder_units = sizes["encoder_units"], sizes["decoder_units"]
        self.write_size, self.image_shape = sizes["write_size"], tuple(sizes["image_shape"])
        if (min(self.steps, self.latent_dim, self.encoder_units, self.decoder_units,
                self.write_size) < 1 or len(self.image_shape) != 3):
            raise InputError(f"{onnx_dir / SIZES_FILE} is damaged; export the model again")
        self.limits = DRAWLimits.load(onnx_dir)
        self.session = version_files.session(onnx_dir / STEP_FILE)
        self.reconstructor = None  # reconstruct_step.onnx's session, opened when first used
        self.onnx_dir = onnx_dir

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

    def reconstruct(self, images, seeds):
        """Reconstructs grey images, binarized at 0.5 (the SavedModel's `reconstruct`).

        Args:
            images: `(B, H, W, C)` pixels in [0, 1], at most `limits.max_rows`.
            seeds: int64 seeds of the encoder's noise, one per image.

        Returns:
            `{"reconstructions": (B, H, W, C) pixel probabilities, "nll_bound": (B,) nats}`,
            float32.

        Raises:
            InputError: A request the SavedModel refuses (`check_images`), or a version
                exported without `reconstruct_step.onnx`.
        """
        images, seeds = check_images(self.limits, self.image_shape, images, seeds)
        if self.reconstructor is None:
            if not (self.onnx_dir / RECONSTRUCT_FILE).is_file():
                raise InputError(f"{self.onnx_dir} has no {RECONSTRUCT_FILE}; export the model again "
                                 "to reconstruct images with ONNX")
            self.reconstructor = version_files.session(self.onnx_dir / RECONSTRUCT_FILE)
        rows = len(seeds)
        eps = noise(seeds, self.steps, self.latent_dim)
        state = {"canvas": np.zeros((rows, int(np.prod(self.image_shape))), np.float32),
                 "h_enc": np.zeros((rows, self.encoder_units), np.float32),
                 "h_dec": np.zeros((rows, self.decoder_units), np.float32),
                 "kl": np.zeros(rows, np.float32)}
        state["c_enc"], state["c_dec"] = np.zeros_like(state["h_enc"]), np.zeros_like(state["h_dec"])
        bound = np.zeros(rows, np.float32)
        names = ("canvas", "h_enc", "c_enc", "h_dec", "c_dec", "kl")
        for t in range(self.steps if rows else 0):
            out = self.reconstructor.run(
                [f"next_{n}" for n in names] + ["nll_bound"],
                {"images": images.reshape(rows, -1), "eps": eps[:, t], **state})
            state, bound = dict(zip(names, out[:-1])), out[-1]
        return {"reconstructions": sigmoid(state["canvas"]).reshape(rows, *self.image_shape),
                "nll_bound": bound}
