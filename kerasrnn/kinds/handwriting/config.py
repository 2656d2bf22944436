"""What a handwriting synthesis training run depends on: `HandwritingConfig`, the `training`
part of its `config.json`, and the `model` part's keys (the builder's arguments,
`model.model_config`).

The defaults, `PRESETS["cpu"]`, are a CPU-sized model (2 LSTMs of 128, K = 10 window
Gaussians, M = 20 mixture components, 16 lines a batch); `PRESETS["paper"]` is Graves's (2013,
section 5) synthesis network: 3 LSTMs of 400, K = 10, M = 20, with 24 lines a batch (the paper
gives no batch size; 24 keeps one batch of the longest lines under
`config_checks.LARGE_BYTES`).

A run is counted in training steps (batches); one Keras epoch is one pass over the training
lines, after which the held-out lines are scored and the run backed up.
"""

import dataclasses

from kerasrnn.config_checks import (FLOAT_BYTES, check_accumulation, check_choice, check_int,
                                    check_memory, check_real, check_seed, replicas_note)
from kerasrnn.config_fields import distribution_record, gradient_accumulation_setting, setting
from kerasrnn.errors import InputError
from kerasrnn.kinds.handwriting.sources import SOURCES
from kerasrnn.kinds.handwriting.strokes import MAX_CHARACTERS, MAX_POINTS, Alphabet
from kerasrnn.kinds.handwriting.synthetic import STYLE_FAMILIES
from kerasrnn.layers.mixture_density import mixture_size
from kerasrnn.run_config import ANY_INT, STR, RunFormat

KIND = "handwriting"  # run directories: config.json format "kerasrnn.handwriting"
SYNTHETIC_LINES = 2000  # synthetic training lines when `train_lines` is not given
STYLE_CHOICES = tuple(STYLE_FAMILIES) + STYLE_FAMILIES["all"]
PRESETS = {
    # batch 24: one batch of the longest lines stays under the 2 GiB activations check
    "paper": dict(layers=3, units=400, window_components=10, mixture_components=20, batch_size=24),
    "cpu": dict(layers=2, units=128, window_components=10, mixture_components=20, batch_size=16),
}


@dataclasses.dataclass
class HandwritingConfig:
    """Everything a handwriting synthesis training run depends on (saved in `config.json`).
    The batch size is the global batch (split over replicas and workers)."""

    layers: int = setting(2, "stacked LSTM layers (the paper's: 3)")
    units: int = setting(128, "units of each LSTM (the paper's: 400)")
    window_components: int = setting(10, "K, the Gaussians of the window over the text")
    mixture_components: int = setting(20, "M, the bivariate Gaussians of the pen's next move")
    steps: int = setting(2000, "training steps (batches) of the whole run")
    batch_size: int = setting(16, "lines per batch")
    learning_rate: float = setting(1e-3, "Adam's learning rate", flags=("--lr",))
    clip: float = setting(10.0, "clip the gradient's global norm to this")
    source: str = setting("synthetic", "the lines: synthetic (written with the Hershey fonts, no "
                          "files needed) or iam-ondb (read from `data_dir`)", choices=SOURCES)
    data_dir: str | None = setting(None, "the IAM-OnDB folder (holding ascii/ and lineStrokes/) "
                                   "for `source` iam-ondb", default_help="none")
    train_lines: int | None = setting(None, "training lines: synthetic lines written, or at most "
                                      "this many IAM-OnDB lines",
                                      default_help=f"{SYNTHETIC_LINES:,} synthetic, all IAM-OnDB")
    styles: str = setting("all", "the synthetic writers' fonts: all, print, cursive or one font",
                          choices=STYLE_CHOICES)
    val_lines: int = setting(64, "held-out lines (texts never trained on) scored after every "
                             "pass over the training lines")
    seed: int = setting(0, "random seed (weights, order, the synthetic lines)")
    gradient_accumulation_steps: int = gradient_accumulation_setting()
    distribution: dict | None = distribution_record()

    def model_config(self):
        """The `build_handwriting` arguments that define the trained weights."""
        return dict(alphabet=Alphabet().characters, layers=self.layers, units=self.units,
                    window_components=self.window_components,
                    mixture_components=self.mixture_components, text_length=MAX_CHARACTERS)

    def validate(self, allow_large=False, replicas=1):
        """Raises `InputError` for settings that cannot train (messages name the parameters)."""
        for name in ("layers", "units", "window_components", "mixture_components", "steps",
                     "batch_size", "val_lines", "gradient_accumulation_steps"):
            check_int(name, getattr(self, name))
        check_accumulation(self.gradient_accumulation_steps, self.steps, "the run (steps)")
        check_real("learning_rate", self.learning_rate, low=0.0, low_open=True)
        check_real("clip", self.clip, low=0.0, low_open=True)
        check_choice("source", self.source, SOURCES)
        check_choice("styles", self.styles, STYLE_CHOICES)
        check_seed(self.seed)
        if self.source == "synthetic":
            if self.data_dir is not None:
                raise InputError("data_dir is for source iam-ondb; the synthetic lines read no "
                                 "files (leave data_dir out, or set source iam-ondb)")
        else:
            if self.data_dir is None:
                raise InputError("source iam-ondb needs data_dir, the IAM-OnDB folder holding "
                                 "ascii/ and lineStrokes/")
            if self.styles != "all":
                raise InputError(f"styles is for the synthetic source; got {self.styles!r} with "
                                 "source iam-ondb")
        if self.train_lines is not None:
            check_int("train_lines", self.train_lines)
            if self.train_lines < self.batch_size:
                raise InputError(f"train_lines {self.train_lines} is smaller than one batch "
                                 f"(batch_size {self.batch_size})")
        sizes = dict(layers=self.layers, units=self.units)
        check_memory("weights", self.parameter_count() * FLOAT_BYTES, sizes, allow_large)
        check_memory("activations in one batch", self.activation_bytes() // replicas,
                     dict(batch_size=self.batch_size, **sizes, **replicas_note(replicas)),
                     allow_large)

    def parameter_count(self):
        """The model's weights: the LSTMs (the first reads the point and the window, the others
        the point, the layer below and the window), the window's and the mixture's layers."""
        u, v, k = self.units, Alphabet().size, self.window_components
        count = 4 * u * (3 + v + u + 1) + (self.layers - 1) * 4 * u * (3 + u + v + u + 1)
        count += (u + 1) * 3 * k
        return count + (self.layers * u + 1) * mixture_size(self.mixture_components)

    def activation_bytes(self):
        """Rough bytes of one batch's activations kept for backpropagation, for lines of
        `strokes.MAX_POINTS` points: every step's LSTM gates and states, the window (its K x
        (U + 1) Gaussians and the U x V one-hot text) and the mixture's parameters."""
        u, v, k, text = self.units, Alphabet().size, self.window_components, MAX_CHARACTERS
        per_step = (6 * self.layers * u + 3 * k * (text + 1) + text * v
                    + 3 * mixture_size(self.mixture_components))
        return self.batch_size * MAX_POINTS * per_step * FLOAT_BYTES


# The settings a resumed run may change (the rest must be the run's own).
RESUMABLE = ("steps", "learning_rate")

RUN_FORMAT = RunFormat(
    kind=KIND, training=HandwritingConfig,
    model={"alphabet": STR, "layers": ANY_INT, "units": ANY_INT, "window_components": ANY_INT,
           "mixture_components": ANY_INT, "text_length": ANY_INT},
    model_required=("alphabet", "layers", "units", "window_components", "mixture_components",
                    "text_length"))
