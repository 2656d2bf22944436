"""What a DRAW training run depends on: `DRAWConfig`, the `training` part of its `config.json`,
and the `model` part's keys (the builder's arguments, `model.model_config`).

The defaults (`PRESETS["small"]`) are a CPU-sized model: T = 16 glimpses, LSTMs of 128,
|z| = 32, read 5 x 5 (with 16 glimpses, a 2 x 2 read learns far more slowly: docs/draw.md),
write 5 x 5. `PRESETS["paper"]` is the paper's MNIST model (T = 64 glimpses, LSTMs of 256,
|z| = 100, read 2 x 2, write 5 x 5).
"""

import dataclasses

from kerasrnn.config_checks import (FLOAT_BYTES, check_int, check_memory, check_real, check_seed,
                                    replicas_note)
from kerasrnn.config_fields import distribution_record, gradient_accumulation_setting, setting
from kerasrnn.errors import InputError
from kerasrnn.run_config import ANY_INT, BOOL, RunFormat

KIND = "draw"  # run directories: config.json format "kerasrnn.draw"
IMAGE_SHAPE = (28, 28, 1)  # MNIST
PRESETS = {
    "paper": dict(steps=64, encoder_units=256, decoder_units=256, latent_dim=100, read_size=2,
                  write_size=5),
    "small": dict(steps=16, encoder_units=128, decoder_units=128, latent_dim=32, read_size=5,
                  write_size=5),
}


@dataclasses.dataclass
class DRAWConfig:
    """Everything a DRAW training run depends on (saved in `config.json`). The batch size is the
    global batch (split over replicas and workers)."""

    steps: int = setting(16, "glimpses T: the steps the network draws in")
    encoder_units: int = setting(128, "units of the encoder LSTM")
    decoder_units: int = setting(128, "units of the decoder LSTM")
    latent_dim: int = setting(32, "size of each step's latent z")
    read_size: int = setting(5, "N of the read window (N x N filters)")
    write_size: int = setting(5, "N of the write window")
    attention: bool = setting(True, "read and write through attention windows (off: the paper's "
                                    "baseline, whole images)")
    epochs: int = setting(20, "passes over the training images")
    batch_size: int = setting(100, "images per batch")
    learning_rate: float = setting(1e-3, "Adam's learning rate", flags=("--lr",))
    clip: float = setting(5.0, "clip the gradient's global norm to this")
    train_size: int | None = setting(None, "train on only the first N images (quick runs)",
                                     default_help="all")
    val_size: int = setting(5000, "training images held out for validation")
    seed: int = setting(0, "random seed (weights, order, binarization, noise)")
    gradient_accumulation_steps: int = gradient_accumulation_setting()
    distribution: dict | None = distribution_record()

    def model_config(self):
        """The `build_draw` arguments that define the trained weights."""
        return dict(image_shape=list(IMAGE_SHAPE), steps=self.steps,
                    encoder_units=self.encoder_units, decoder_units=self.decoder_units,
                    latent_dim=self.latent_dim, read_size=self.read_size,
                    write_size=self.write_size, attention=self.attention)

    def validate(self, allow_large=False, replicas=1):
        """Raises `InputError` for settings that cannot train (messages name the parameters)."""
        for name in ("steps", "encoder_units", "decoder_units", "latent_dim", "read_size",
                     "write_size", "epochs", "batch_size", "val_size", "gradient_accumulation_steps"):
            check_int(name, getattr(self, name))
        for name in ("read_size", "write_size"):
            if getattr(self, name) > IMAGE_SHAPE[0]:
                raise InputError(f"{name} must be at most the image's {IMAGE_SHAPE[0]} pixels, got "
                                 f"{getattr(self, name)}")
        if not isinstance(self.attention, bool):
            raise InputError(f"attention must be true or false, got {self.attention!r}")
        if self.train_size is not None:
            check_int("train_size", self.train_size)
            if self.train_size < self.batch_size:
                raise InputError(f"train_size {self.train_size} is smaller than one batch "
                                 f"(batch_size {self.batch_size})")
        check_real("learning_rate", self.learning_rate, low=0.0, low_open=True)
        check_real("clip", self.clip, low=0.0, low_open=True)
        check_seed(self.seed)
        sizes = dict(encoder_units=self.encoder_units, decoder_units=self.decoder_units,
                     latent_dim=self.latent_dim)
        check_memory("weights", self.parameter_count() * FLOAT_BYTES, sizes, allow_large)
        check_memory("activations in one batch", self.activation_bytes() // replicas,
                     dict(batch_size=self.batch_size, steps=self.steps, **sizes,
                          **replicas_note(replicas)), allow_large)

    def parameter_count(self):
        """The model's weights: two LSTMs, the latent layers and the read and write layers."""
        pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
        read = 2 * (self.read_size**2 if self.attention else pixels)
        enc, dec = self.encoder_units, self.decoder_units
        count = 4 * enc * (read + dec + enc + 1) + 2 * (enc + 1) * self.latent_dim
        count += 4 * dec * (self.latent_dim + dec + 1)
        write = self.write_size**2 if self.attention else pixels
        return count + (dec + 1) * (write + (10 if self.attention else 0))

    def activation_bytes(self):
        """Rough bytes of one batch's activations kept for backpropagation: every step's
        canvas, images and LSTM gates."""
        pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
        per_step = 4 * pixels + 6 * (self.encoder_units + self.decoder_units) + 3 * self.latent_dim
        return self.batch_size * self.steps * per_step * FLOAT_BYTES


# The settings a resumed run may change (the rest must be the run's own).
RESUMABLE = ("epochs", "learning_rate")

RUN_FORMAT = RunFormat(
    kind=KIND, training=DRAWConfig,
    model={"image_shape": (list,), "steps": ANY_INT, "encoder_units": ANY_INT,
           "decoder_units": ANY_INT, "latent_dim": ANY_INT, "read_size": ANY_INT,
           "write_size": ANY_INT, "attention": BOOL},
    model_required=("image_shape", "steps", "encoder_units", "decoder_units", "latent_dim",
                    "read_size", "write_size", "attention"))
