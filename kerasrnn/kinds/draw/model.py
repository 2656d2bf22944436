"""DRAW's models: the training model (images and noise -> the canvas's logits and the KL of
every glimpse) and the generation model (noise -> the canvas after each step and the windows it
wrote through), both one `keras.layers.RNN` over `kerasrnn.layers.DRAWCell`, and the loss.

The loss of one image is the paper's bound on its negative log-likelihood, in nats:
L^x + L^z, L^x the Bernoulli reconstruction of the pixels by sigmoid(c_T) summed over the pixels
(`reconstruction_nats`), L^z the KL of every glimpse summed over steps and latent dimensions
(the model's `kl` output). `compile` sums the two outputs' losses, so `loss` is the bound.
"""

import keras
from keras import ops

from kerasrnn.layers.draw_cell import DRAWCell



def _cell(config, generate):
    keys = ("encoder_units", "decoder_units", "latent_dim", "read_size", "write_size", "attention")
    return DRAWCell(config["image_shape"], generate=generate, name="draw_cell",
                    **{k: config[k] for k in keys})


def model_config(image_shape=(28, 28, 1), steps=64, encoder_units=256, decoder_units=256,
                 latent_dim=100, read_size=2, write_size=5, attention=True):
    """The builder's arguments as a dict (what a run's `config.json` records as `model`)."""
    return dict(image_shape=list(image_shape), steps=steps, encoder_units=encoder_units,
                decoder_units=decoder_units, latent_dim=latent_dim, read_size=read_size,
                write_size=write_size, attention=attention)


def build_draw(**kwargs):
    """The training model.

    Args:
        **kwargs: `model_config`'s arguments.

    Returns:
        A model `[images (B, H, W, C) in [0, 1], noise (B, T, latent_dim)]` ->
        `{"canvas": logits (B, H, W, C), "kl": (B,)}`.
    """
    config = model_config(**kwargs)
    height, width, channels = config["image_shape"]
    pixels = height * width * channels
    images = keras.Input((height, width, channels), name="images")
    noise = keras.Input((config["steps"], config["latent_dim"]), name="noise")
    flat = ops.reshape(images, (-1, 1, pixels))
    tiled = ops.tile(flat, (1, config["steps"], 1))
    outputs, canvas, *_ = keras.layers.RNN(_cell(config, generate=False), return_sequences=True,
                                           return_state=True, name="draw")(
        ops.concatenate([tiled, noise], axis=-1))
    kl = keras.layers.Identity(name="kl")(ops.sum(outputs[..., 0], axis=-1))
    canvas = keras.layers.Reshape((height, width, channels), name="canvas")(canvas)
    return keras.Model([images, noise], {"canvas": canvas, "kl": kl}, name="draw")


def build_generator(**kwargs):
    """The generation model (the decoder alone, z = noise).

    Returns:
        A model `noise (B, T, latent_dim)` -> `{"canvases": (B, T, H, W, C) in [0, 1], the
        canvas after each step through a sigmoid, "windows": (B, T, 4), the write window of each
        step (g_x, g_y, delta, sigma in 1-based pixels)}`.
    """
    config = model_config(**kwargs)
    height, width, channels = config["image_shape"]
    noise = keras.Input((config["steps"], config["latent_dim"]), name="noise")
    outputs = keras.layers.RNN(_cell(config, generate=True), return_sequences=True, name="draw")(noise)
    windows = keras.layers.Identity(name="windows")(outputs[..., :4])
    canvases = keras.layers.Reshape((config["steps"], height, width, channels))(outputs[..., 4:])
    canvases = keras.layers.Activation("sigmoid", name="canvases")(canvases)
    return keras.Model(noise, {"canvases": canvases, "windows": windows}, name="draw_generator")


def generator_from(model, **kwargs):
    """`build_generator(**kwargs)` holding a trained model's weights (the same cell, built in
    the same order)."""
    generator = build_generator(**kwargs)
    generator.get_layer("draw").set_weights(model.get_layer("draw").get_weights())
    return generator


def reconstruction_nats(images, logits):
    """L^x: `-log D(x | c_T)` of Bernoulli pixels with means sigmoid(logits), summed over the
    pixels, from the logits: softplus(l) - l x per pixel (numerically stable, and ONNX holds it:
    no Log1p). `(B, H, W, C)` or `(B, H W C)` x2 -> `(B,)`."""
    per_pixel = ops.softplus(logits) - logits * images
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


def kl_nats(unused_target, kl):
    """L^z as the model computed it (`(B,)`); the target is ignored."""
    return kl


LOSSES = {"canvas": reconstruction_nats, "kl": kl_nats}
