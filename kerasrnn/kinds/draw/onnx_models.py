"""The model DRAW's ONNX file holds: one step of the generator's decoder, so that a driver
(`onnx_driver.DRAWGenerator`) runs the T steps itself and can show every canvas as it is drawn.

    decoder_step: z (B, |z|), canvas (B, H W C) logits, h (B, D), c (B, D)
               -> next_canvas (B, H W C) logits, next_h, next_c, window (B, 4)

It calls the trained generation cell (`DRAWCell(generate=True)`), so it is the step the
SavedModel's `generate` loops over; the encoder's states, which generation leaves alone, are
zeros inside.
"""

import keras
from keras import ops

STEP_INPUTS = ("z", "canvas", "h", "c")
STEP_OUTPUTS = ("next_canvas", "next_h", "next_c", "window")


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


def decoder_step(generator):
    """The decoder step of a `build_generator` model, sharing its weights (see the module
    docstring for the inputs and outputs)."""
    cell = generator.get_layer("draw").cell
    inputs = [keras.Input((n,), name=name) for name, n in zip(
        STEP_INPUTS, (cell.latent_dim, cell.pixels, cell.decoder_units, cell.decoder_units))]
    outputs = _DecoderStep(cell, name="decoder_step")(*inputs)
    return keras.Model(inputs, list(outputs), name="draw_decoder_step")
