"""The models DRAW's ONNX files hold: one step of the generator's decoder and one step of the
whole model (encoder and decoder) on an image, so that a driver (`onnx_driver.DRAWGenerator`)
runs the T steps itself and can show every canvas as it is drawn.

    decoder_step: z (B, |z|), canvas (B, H W C) logits, h (B, D), c (B, D)
               -> next_canvas (B, H W C) logits, next_h, next_c, window (B, 4)
    reconstruct_step: images (B, H W C) grey in [0, 1], eps (B, |z|), canvas (B, H W C) logits,
                      h_enc, c_enc (B, E), h_dec, c_dec (B, D), kl (B,) the KL of the steps so far
               -> next_canvas, next_h_enc, next_c_enc, next_h_dec, next_c_dec, next_kl (B,),
                  nll_bound (B,) = next_kl + the reconstruction nats of next_canvas, window (B, 4)

`decoder_step` calls the trained generation cell (`DRAWCell(generate=True)`), so it is the step
the SavedModel's `generate` loops over; the encoder's states, which generation leaves alone, are
zeros inside. `reconstruct_step` calls the training cell on the image binarized as the
SavedModel's `reconstruct` binarizes it (`signatures.BINARY_THRESHOLD`): from zero states and
kl, its `nll_bound` after T steps is `reconstruct`'s bound.
"""

import keras
from keras import ops

from kerasrnn.kinds.draw.model import reconstruction_nats
from kerasrnn.kinds.draw.signatures import BINARY_THRESHOLD

STEP_INPUTS = ("z", "canvas", "h", "c")
STEP_OUTPUTS = ("next_canvas", "next_h", "next_c", "window")
RECONSTRUCT_INPUTS = ("images", "eps", "canvas", "h_enc", "c_enc", "h_dec", "c_dec", "kl")
RECONSTRUCT_OUTPUTS = ("next_canvas", "next_h_enc", "next_c_enc", "next_h_dec", "next_c_dec",
                       "next_kl", "nll_bound", "window")


class _DecoderStep(keras.layers.Layer):
    """The generation cell called once (not serialized: it exists only to be converted)."""

    def __init__(self, cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell

    def call(self, z, canvas, h, c):
        zeros = ops.zeros((ops.shape(z)[0], self.cell.encoder_units), dtype=z.dtype)
        output, (canvas, _, _, h, c) = self.cell(z, [canvas, zeros, zeros, h, c])
        return canvas, h, c, output[:, :4]

    def compute_output_shape(self, z_shape, canvas_shape, h_shape, c_shape):
        return canvas_shape, h_shape, c_shape, (z_shape[0], 4)


class _ReconstructStep(keras.layers.Layer):
    """The training cell called once on a binarized image (not serialized)."""

    def __init__(self, cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell

    def call(self, images, eps, canvas, h_enc, c_enc, h_dec, c_dec, kl):
        binary = ops.cast(ops.greater_equal(images, BINARY_THRESHOLD), images.dtype)
        output, (canvas, h_enc, c_enc, h_dec, c_dec) = self.cell(
            ops.concatenate([binary, eps], axis=-1), [canvas, h_enc, c_enc, h_dec, c_dec])
        kl = kl + output[:, 0]
        bound = kl + reconstruction_nats(binary, canvas)
        return canvas, h_enc, c_enc, h_dec, c_dec, kl, bound, output[:, 1:5]

    def compute_output_shape(self, images_shape, eps_shape, canvas_shape, h_enc_shape,
                             c_enc_shape, h_dec_shape, c_dec_shape, kl_shape):
        return (canvas_shape, h_enc_shape, c_enc_shape, h_dec_shape, c_dec_shape, kl_shape,
                kl_shape, (images_shape[0], 4))


def decoder_step(generator):
    """The decoder step of a `build_generator` model, sharing its weights (see the module
    docstring for the inputs and outputs)."""
    cell = generator.get_layer("draw").cell
    inputs = [keras.Input((n,), name=name) for name, n in zip(
        STEP_INPUTS, (cell.latent_dim, cell.pixels, cell.decoder_units, cell.decoder_units))]
    outputs = _DecoderStep(cell, name="decoder_step")(*inputs)
    return keras.Model(inputs, list(outputs), name="draw_decoder_step")


def reconstruct_step(model):
    """The whole model's step of a `build_draw` model, sharing its weights (see the module
    docstring for the inputs and outputs)."""
    cell = model.get_layer("draw").cell
    sizes = (cell.pixels, cell.latent_dim, cell.pixels, cell.encoder_units, cell.encoder_units,
             cell.decoder_units, cell.decoder_units)
    inputs = [keras.Input((n,), name=name) for name, n in zip(RECONSTRUCT_INPUTS, sizes)]
    inputs.append(keras.Input((), name=RECONSTRUCT_INPUTS[-1]))
    outputs = _ReconstructStep(cell, name="reconstruct_step")(*inputs)
    return keras.Model(inputs, list(outputs), name="draw_reconstruct_step")
