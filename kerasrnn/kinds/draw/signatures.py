"""DRAW served: seeds in, drawn images out (with every step's canvas and write window), and images
in, their reconstruction and bound out.

Signatures of the SavedModel (T, |z|: the trained model's steps and latent size; images 28 x 28 x 1):

`generate` (also `serving_default`):
    seed           int64   (B,)           one image per seed; the same seed, the same image
  -> images        float32 (B, 28, 28, 1) the final canvas through a sigmoid: pixel probabilities
     canvases      float32 (B, T, 28, 28, 1) the canvas after each step (sigmoid), to animate
     windows       float32 (B, T, 4)      each step's write window: g_x, g_y (centre), delta
                                          (stride), sigma (width), in 1-based pixels (zeros
                                          for a model without attention)

`reconstruct`:
    images         float32 (B, 28, 28, 1) grey images in [0, 1]
    seed           int64   (B,)           the noise of the encoder's samples z
  -> reconstructions float32 (B, 28, 28, 1) sigmoid of the final canvas
     nll_bound     float32 (B,)           the bound on -log p(x) in nats (reconstruction + KL),
                                          the training loss of the binarized image

Binarization (`reconstruct`): the model is trained on binary pixels, so a grey pixel is 1 where
it is at least 0.5 and 0 below (`BINARY_THRESHOLD`; deterministic, unlike training's dynamic
binarization). Noise: eps[b, t, d], the standard normal of step t and latent dimension d of a
row with seed s, is `counter_random.counter_normal(s, t |z| + d)` (splitmix64 and Box-Muller in
float64, then float32), so `onnx_driver.DRAWGenerator` draws the same images from the same seed
and a row's output does not depend on the other rows of its batch.

A wrong dtype, rank or image size fails the request with an InvalidArgument error naming the
input (the signature's dtype check and `tf.ensure_shape`). More rows than the export's
`limits.DRAWLimits.max_rows` (model card `limits`), a `reconstruct` whose seeds are not one per
image, or pixels outside [0, 1] (NaN included) fail the same way, before any work
(`request_checks.gate`). A request of zero rows is answered with zero rows. ONNX files (`onnx/`):
`decoder_step.onnx` (`onnx_models.decoder_step`) and `draw.json` (the model's sizes), run by
`onnx_driver.DRAWGenerator`.
"""

import tensorflow as tf
from keras import ops

from kerasrnn.export.counter_random_tf import counter_normal
from kerasrnn.export.request_checks import gate, rows_check, unless_empty
from kerasrnn.kinds.draw.limits import DRAWLimits
from kerasrnn.kinds.draw.model import generator_from, reconstruction_nats

BINARY_THRESHOLD = 0.5  # reconstruct: a grey pixel >= this is 1, else 0


def noise(seed, steps, latent_dim):
    """The noise of each row: int64 `(B,)` seeds -> float32 `(B, steps, latent_dim)`, eps[b, t, d]
    = `counter_normal(seed[b], t latent_dim + d)` (`onnx_driver.noise` in TensorFlow ops)."""
    index = tf.reshape(tf.range(steps * latent_dim, dtype=tf.int64), [1, steps, latent_dim])
    return tf.cast(counter_normal(seed[:, None, None], index), tf.float32)


class DRAWServing:
    """DRAW's serving functions (see the module docstring for the signatures).

    Args:
        model: A trained `build_draw` model.
        model_config: Its builder's arguments (`config.json`'s `model`).
        limits: The `DRAWLimits` every request is checked against.
    """

    def __init__(self, model, model_config, limits=DRAWLimits()):
        self.model = model
        self.generator = generator_from(model, **model_config)
        self.limits = limits
        self.steps, self.latent_dim = int(model_config["steps"]), int(model_config["latent_dim"])
        self.image_shape = [int(n) for n in model_config["image_shape"]]

    def endpoints(self):
        """`{signature name: (function, input signature)}`, the default (`generate`) first."""
        seed = tf.TensorSpec([None], tf.int64, name="seed")
        images = tf.TensorSpec([None, *self.image_shape], tf.float32, name="images")
        return {"generate": (self.generate, [seed]), "reconstruct": (self.reconstruct, [images, seed])}

    def generate(self, seed):
        # A served graph does not check request shapes against the signature; ensure_shape does.
        seed = tf.ensure_shape(seed, [None])
        rows = tf.shape(seed)[0]
        seed = gate([rows_check(rows, self.limits, "seeds")], seed)

        def run():
            out = self.generator(noise(seed, self.steps, self.latent_dim), training=False)
            return {"images": out["canvases"][:, -1], "canvases": out["canvases"],
                    "windows": out["windows"]}

        return unless_empty(rows, run, {"images": (self.image_shape, tf.float32),
                                        "canvases": ([self.steps, *self.image_shape], tf.float32),
                                        "windows": ([self.steps, 4], tf.float32)})

    def reconstruct(self, images, seed):
        images = tf.ensure_shape(images, [None, *self.image_shape])
        seed = tf.ensure_shape(seed, [None])
        rows = tf.shape(images)[0]
        images, seed = gate([
            rows_check(rows, self.limits, "images"),
            tf.debugging.Assert(tf.equal(tf.shape(seed)[0], rows), [
                "seed must have one value per image; got", tf.shape(seed)[0], "for", rows]),
        ], images, seed)
        images = gate([tf.debugging.Assert(tf.reduce_all((images >= 0) & (images <= 1)), [
            "images must hold pixels between 0 and 1 (grey levels; not NaN)"])], images)

        def run():
            binary = tf.cast(images >= BINARY_THRESHOLD, tf.float32)
            out = self.model([binary, noise(seed, self.steps, self.latent_dim)], training=False)
            bound = reconstruction_nats(binary, out["canvas"]) + out["kl"]
            return {"reconstructions": ops.sigmoid(out["canvas"]), "nll_bound": bound}

        return unless_empty(rows, run, {"reconstructions": (self.image_shape, tf.float32),
                                        "nll_bound": ([], tf.float32)})
