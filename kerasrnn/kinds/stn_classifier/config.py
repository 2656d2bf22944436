"""What an STN training run depends on: `STNConfig`, the `training` part of its `config.json`,
and the `model` part's keys (the builder's arguments).
"""

import dataclasses

from kerasrnn.config_checks import (FLOAT_BYTES, check_choice, check_int, check_memory,
                                    check_real, check_seed, replicas_note)
from kerasrnn.data import mnist
from kerasrnn.errors import InputError
from kerasrnn.kinds.stn_classifier.model import MODELS
from kerasrnn.run_config import ANY_INT, NONE, REAL, STR, RunFormat

KIND = "stn_classifier"  # run directories: config.json format "kerasrnn.stn_classifier"
STN_OPTIMIZERS = ("adam", "sgd")
# Activations kept for backpropagation per input pixel, roughly: the classifier's 32 and 64
# feature maps at about the input size, the transformer's grid and the localisation net.
FLOATS_PER_PIXEL = 64


@dataclasses.dataclass
class STNConfig:
    """Everything an STN training run depends on (saved in `config.json`)."""

    distortion: str = "R"
    model: str = "st-cnn"
    transform: str = "affine"
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_decay: str = "none"  # "none" or "cosine" (to 1% of the rate over --epochs)
    dropout: float = 0.0  # on the classifier's flattened features
    loc_lr_multiplier: float = 1.0  # the paper slows the localisation net; with Adam, 1.0 measured better
    train_size: int | None = None  # use only the first N training images (quick runs)
    val_size: int = 5000
    seed: int = 0
    # Batches whose gradients are averaged into one weight update (Keras optimizers'
    # `gradient_accumulation_steps`; 1: update after every batch). With several replicas or
    # workers the gradients are exchanged once per update, not once per batch.
    gradient_accumulation_steps: int = 1
    # How the run is spread over devices, recorded by the training function: distribute,
    # replicas, workers and replica_batch_size (`kerasrnn.train.distribution`). The batch sizes
    # above are global batches. A resume must run the same way.
    distribution: dict | None = None

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
        check_choice("transform", self.transform, ("affine", "projective", "tps"))
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


RUN_FORMAT = RunFormat(
    kind=KIND, training=STNConfig,
    model={"input_size": ANY_INT, "model": STR, "transform": STR, "dropout": REAL,
           "filters": (list,), "output_size": ANY_INT + NONE, "channels": ANY_INT,
           "num_classes": ANY_INT},
    model_required=("input_size", "model", "transform"),
    training_required=("distortion",))
