"""What an STN training run depends on: `STNConfig`, the `training` part of its `config.json`,
and the `model` part's keys (the builder's arguments).
"""

import dataclasses

from kerasrnn.config_checks import (FLOAT_BYTES, check_choice, check_int, check_memory,
                                    check_real, check_seed, replicas_note)
from kerasrnn.config_fields import distribution_record, gradient_accumulation_setting, setting
from kerasrnn.data import mnist
from kerasrnn.errors import InputError
from kerasrnn.kinds.stn_classifier.model import MODELS
from kerasrnn.run_config import ANY_INT, NONE, REAL, STR, RunFormat

KIND = "stn_classifier"  # run directories: config.json format "kerasrnn.stn_classifier"
STN_OPTIMIZERS = ("adam", "sgd")
TRANSFORMS = ("affine", "projective", "tps")
# Activations kept for backpropagation per input pixel, roughly: the classifier's 32 and 64
# feature maps at about the input size, the transformer's grid and the localisation net.
FLOATS_PER_PIXEL = 64


@dataclasses.dataclass
class STNConfig:
    """Everything an STN training run depends on (saved in `config.json`). The batch size is
    the global batch (split over replicas and workers)."""

    distortion: str = setting("R", "the distortion of MNIST: " + " / ".join(mnist.DISTORTIONS))
    model: str = setting("st-cnn", " / ".join(MODELS) + " (with or without the transformer)")
    transform: str = setting("affine", "the transformer's warp: " + " / ".join(TRANSFORMS))
    epochs: int = setting(10, "passes over the training images")
    batch_size: int = setting(128, "images per batch")
    optimizer: str = setting("adam", " / ".join(STN_OPTIMIZERS) + " (sgd: momentum 0.9)")
    learning_rate: float = setting(1e-3, "learning rate", flags=("--lr",))
    lr_decay: str = setting("none", "none or cosine (to 1% of `learning_rate` over `epochs`)")
    dropout: float = setting(0.0, "dropout on the classifier's flattened features, in [0, 1)")
    # the paper slows the localisation net; with Adam, 1.0 measured better
    loc_lr_multiplier: float = setting(
        1.0, "learning-rate multiplier of the transformer's localisation net "
             "(docs/experiments.md compares 0.1, the paper's choice for SGD)", flags=("--loc-lr-mult",))
    train_size: int | None = setting(None, "train on only the first N images (quick runs)",
                                     default_help="all")
    val_size: int = setting(5000, "training images held out for validation")
    seed: int = setting(0, "random seed")
    gradient_accumulation_steps: int = gradient_accumulation_setting()
    distribution: dict | None = distribution_record()

    def model_config(self):
        """The `build_stn_classifier` arguments that define the trained weights."""
        return dict(input_size=mnist.output_size(self.distortion), model=self.model,
                    transform=self.transform, dropout=self.dropout)

    def validate(self, allow_large=False, replicas=1):
        """Raises `InputError` for settings that cannot train (messages name the parameters).

        Args:
            allow_large: Allow one batch's activations above `config_checks.LARGE_BYTES`.
            replicas: Devices the global `batch_size` is split over; each holds the activations
                of its share only.
        """
        check_choice("distortion", self.distortion, mnist.DISTORTIONS)
        check_choice("model", self.model, MODELS)
        check_choice("transform", self.transform, TRANSFORMS)
        check_choice("optimizer", self.optimizer, STN_OPTIMIZERS)
        check_choice("lr_decay", self.lr_decay, ("none", "cosine"))
        for name in ("epochs", "batch_size", "val_size", "gradient_accumulation_steps"):
            check_int(name, getattr(self, name))
        if self.train_size is not None:
            check_int("train_size", self.train_size)
            if self.train_size < self.batch_size:
                raise InputError(f"train_size {self.train_size} is smaller than one batch "
                                 f"(batch_size {self.batch_size})")
        check_real("dropout", self.dropout, 0.0, 1.0, high_open=True)
        check_real("learning_rate", self.learning_rate, low=0.0, low_open=True)
        check_real("loc_lr_multiplier", self.loc_lr_multiplier, low=0.0, low_open=True)
        check_seed(self.seed)
        side = mnist.output_size(self.distortion)
        check_memory("activations in one batch",
                     self.batch_size * side * side * FLOATS_PER_PIXEL * FLOAT_BYTES // replicas,
                     dict(batch_size=self.batch_size, distortion=self.distortion, **replicas_note(replicas)),
                     allow_large)


# The settings a resumed run may change (the rest must be the run's own).
RESUMABLE = ("epochs", "learning_rate")

RUN_FORMAT = RunFormat(
    kind=KIND, training=STNConfig,
    model={"input_size": ANY_INT, "model": STR, "transform": STR, "dropout": REAL,
           "filters": (list,), "output_size": ANY_INT + NONE, "channels": ANY_INT,
           "num_classes": ANY_INT},
    model_required=("input_size", "model", "transform"),
    training_required=("distortion",))
