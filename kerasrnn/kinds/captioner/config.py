"""What a captioning run depends on: `CaptionerConfig`, the `training` part of its
`config.json`, and the `model` part's keys (the builder's arguments).
"""

import dataclasses

from kerasrnn.config_checks import (FLOAT_BYTES, check_choice, check_int, check_memory,
                                    check_real, check_seed, replicas_note)
from kerasrnn.config_fields import (comma_list, distribution_record, gradient_accumulation_setting,
                                    setting)
from kerasrnn.errors import InputError
from kerasrnn.kinds.captioner.captions import DATASETS, GENERATED_COUNTS
from kerasrnn.kinds.captioner.model import (POOLINGS, applications_encoder, build_captioner,
                                            coordinates_option, small_cnn_encoder)
from kerasrnn.layers.attention_decoder import ATTENTIONS
from kerasrnn.layers.attention_decoder import CELLS as DECODER_CELLS
from kerasrnn.kinds.captioner.vocab import CaptionVocabulary
from kerasrnn.run_config import ANY_INT, NONE, REAL, STR, RunFormat

KIND = "captioner"  # run directories: config.json format "kerasrnn.captioner"
BOXED_DATASETS = ("scenes", "digits")  # the generated sets, which record every object's box
MAX_BEAM_WIDTH = 100  # as caption_image.py --beam
CAPTIONER_ASSUMED_VOCAB = 10_000  # vocabulary size for memory estimates before the captions are read
DECODER_GATES = {"vanilla": 1, "gru": 3, "lstm": 4}
ENCODER_FLOATS_PER_PIXEL = 64  # the small encoder's feature maps and their pools, per input pixel


@dataclasses.dataclass
class CaptionerConfig:
    """Everything a captioning run depends on (saved in `config.json`). The batch size is the
    global batch (split over replicas and workers)."""

    dataset: str = setting("scenes", " / ".join(DATASETS))
    data_dir: str | None = setting(None, "where the dataset is", default_help="its environment variable")
    image_size: int = setting(64, "images are resized to S x S")
    max_length: int = setting(16, "words kept per caption; longer captions are cut")
    min_count: int = setting(1, "rarer training words become <unk>")
    cell: str = setting("lstm", "the decoder's cell: " + " / ".join(DECODER_CELLS))
    attention: str = setting("soft", " / ".join(ATTENTIONS) + " (hard: trained by REINFORCE)")
    encoder: str = setting("small", "'small' (a CNN trained from scratch) or a keras.applications "
                           "name, e.g. MobileNetV2")
    encoder_weights: str | None = setting(None, "applications encoder: 'imagenet' (downloads) or a "
                                          "local weights file", default_help="random weights")
    encoder_layer: str | None = setting(None, "applications encoder: the layer whose grid is "
                                        "attended over", default_help="the model's last")
    coordinates: str = setting("cell", "position appended to each annotation: cell (its own x, y), "
                               "centroid (the centre of the object around it) or none (an ablation)",
                               shortcuts={"--no-coordinates": "none"})
    encoder_kernels: tuple = setting((3, 3, 1), "small encoder: kernel size of each of its three "
                                     "convolutions", parse=comma_list(int))
    encoder_poolings: tuple = setting(("max", "max", "max"), "small encoder: the 2x2 pooling after "
                                      "each convolution, " + " or ".join(POOLINGS), parse=comma_list(str))
    embedding_dim: int = setting(64, "word embedding size")
    units: int = setting(128, "recurrent state size")
    attention_units: int = setting(64, "attention scoring size")
    dropout: float = setting(0.0, "dropout before the output layer")
    doubly_stochastic: float = setting(0.0, "weight of the paper's attention regulariser (the "
                                       "paper uses 1)")
    attention_supervision: float = setting(
        0.0, "scenes/digits: weight of a loss pulling each naming word's attention into its "
             "object's box (Liu et al. 2017; not in Show, Attend and Tell)")
    epochs: int = setting(10, "passes over the training captions")
    batch_size: int = setting(32, "captions per batch")
    learning_rate: float = setting(1e-3, "Adam learning rate", flags=("--lr",))
    lr_decay: str = setting("none", "none or cosine (to 1% of `learning_rate` over `epochs`)")
    train_count: int | None = setting(None, "scenes/digits: training images drawn",
                                      default_help=str(GENERATED_COUNTS["train"]))
    test_count: int | None = setting(None, "scenes/digits: validation and test images drawn (each)",
                                     default_help=str(GENERATED_COUNTS["test"]))
    beam_width: int = setting(3, "beam width scored", flags=("--beam",))
    seed: int = setting(0, "random seed")
    gradient_accumulation_steps: int = gradient_accumulation_setting()
    distribution: dict | None = distribution_record()

    def validate(self, vocab_size=None, allow_large=False, replicas=1):
        """Raises `InputError` for settings that cannot train (messages name the parameters).

        Args:
            vocab_size: The vocabulary's size, for the memory estimate (`None`: assume
                `CAPTIONER_ASSUMED_VOCAB`, before the captions are read).
            allow_large: Allow weights, one batch's activations or generated images above
                `config_checks.LARGE_BYTES`.
            replicas: Devices the global `batch_size` is split over; each holds the activations
                of its share only.
        """
        try:
            self.coordinates = coordinates_option(self.coordinates)
        except ValueError as e:
            raise InputError(str(e)) from None
        choices = {"dataset": DATASETS, "cell": DECODER_CELLS, "attention": ATTENTIONS,
                   "lr_decay": ("none", "cosine")}
        for name, allowed in choices.items():
            check_choice(name, getattr(self, name), allowed)
        for name in ("epochs", "batch_size", "max_length", "min_count", "image_size",
                     "embedding_dim", "units", "attention_units", "gradient_accumulation_steps"):
            check_int(name, getattr(self, name))
        check_int("beam_width", self.beam_width, 1, MAX_BEAM_WIDTH)
        for name in ("train_count", "test_count"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name))
        kernels = tuple(self.encoder_kernels) if isinstance(self.encoder_kernels, (list, tuple)) else ()
        if len(kernels) != 3 or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in kernels):
            raise InputError(f"encoder_kernels must be three sizes >= 1 such as 3,3,1, got "
                             f"{self.encoder_kernels!r}")
        poolings = tuple(self.encoder_poolings) if isinstance(self.encoder_poolings, (list, tuple)) else ()
        if len(poolings) != 3 or set(poolings) - set(POOLINGS):
            raise InputError(f"encoder_poolings must be three of {' / '.join(POOLINGS)} such as "
                             f"max,max,average, got {self.encoder_poolings!r}")
        if self.image_size < 16:
            raise InputError(f"image_size must be at least 16 pixels, got {self.image_size}")
        check_real("learning_rate", self.learning_rate, low=0.0, low_open=True)
        check_real("dropout", self.dropout, 0.0, 1.0, high_open=True)
        check_real("doubly_stochastic", self.doubly_stochastic, low=0.0)
        check_real("attention_supervision", self.attention_supervision, low=0.0)
        if self.attention_supervision and self.dataset not in BOXED_DATASETS:
            raise InputError(f"attention_supervision needs object boxes, which only "
                             f"{' and '.join(BOXED_DATASETS)} have, not {self.dataset}")
        check_seed(self.seed)
        vocab = vocab_size or CAPTIONER_ASSUMED_VOCAB
        check_memory("weights", self.parameter_count(vocab) * FLOAT_BYTES,
                     dict(units=self.units, embedding_dim=self.embedding_dim,
                          attention_units=self.attention_units,
                          encoder_kernels=",".join(map(str, kernels))), allow_large)
        check_memory("activations in one batch", self.activation_bytes(vocab) // replicas,
                     dict(batch_size=self.batch_size, image_size=self.image_size, **replicas_note(replicas),
                          max_length=self.max_length, units=self.units,
                          attention_units=self.attention_units), allow_large)
        if self.dataset in BOXED_DATASETS:
            images = ((self.train_count or GENERATED_COUNTS["train"])
                      + 2 * (self.test_count or GENERATED_COUNTS["test"]))
            check_memory("generated images", images * self.image_size**2 * 3,
                         dict(train_count=self.train_count, test_count=self.test_count,
                              image_size=self.image_size), allow_large)

    def parameter_count(self, vocab_size):
        """Roughly the captioner's weights: the small encoder's convolutions (an applications
        encoder counts as the small one), the embedding, the recurrent cell, attention and
        output layers."""
        channels = (3, 32, 64, 128)
        count = sum(k * k * channels[i] * channels[i + 1] for i, k in enumerate(self.encoder_kernels))
        features = channels[-1] + 2
        gates = DECODER_GATES.get(self.cell, 4)
        count += vocab_size * self.embedding_dim
        count += gates * self.units * (self.embedding_dim + features + self.units + 1)
        count += (features + self.units + 1) * self.attention_units + 2 * features * self.units
        return count + (self.units + self.embedding_dim + features + 1) * vocab_size

    def activation_bytes(self, vocab_size):
        """Rough bytes of one training batch's activations kept for backpropagation: the
        encoder's feature maps, and at every word the attention scores over the grid, the cell
        and the logits."""
        cells = max(self.image_size // 8, 1) ** 2
        per_word = (cells * (self.attention_units + 2) + 2 * DECODER_GATES.get(self.cell, 4) * self.units
                    + 2 * vocab_size + self.embedding_dim)
        per_image = ENCODER_FLOATS_PER_PIXEL * self.image_size**2 + (self.max_length + 1) * per_word
        return self.batch_size * per_image * FLOAT_BYTES

    def model_config(self, vocab_size):
        """The `build_captioner` arguments besides the encoder."""
        return dict(vocab_size=vocab_size, image_size=self.image_size, max_length=self.max_length,
                    cell=self.cell, embedding_dim=self.embedding_dim, units=self.units,
                    attention_units=self.attention_units, dropout=self.dropout,
                    doubly_stochastic=self.doubly_stochastic, attention=self.attention,
                    seed=self.seed, coordinates=self.coordinates)

    def build_model(self, vocab_size):
        """A fresh teacher-forced captioner for a vocabulary of `vocab_size` ids."""
        if self.encoder == "small":
            encoder = small_cnn_encoder(kernel_sizes=tuple(self.encoder_kernels),
                                        poolings=tuple(self.encoder_poolings))
        else:
            try:
                encoder = applications_encoder(self.image_size, self.encoder, self.encoder_weights,
                                               self.encoder_layer)
            except (AttributeError, ValueError, OSError) as e:
                raise InputError(f"encoder {self.encoder}: cannot build it ({e}); use 'small' or "
                                 "a keras.applications name such as MobileNetV2") from None
        return build_captioner(encoder=encoder, **self.model_config(vocab_size))


# The settings a resumed run may change (the rest must be the run's own).
RESUMABLE = ("epochs", "learning_rate")

RUN_FORMAT = RunFormat(
    kind=KIND, training=CaptionerConfig,
    model={"vocab_size": ANY_INT, "image_size": ANY_INT, "max_length": ANY_INT, "cell": STR,
           "embedding_dim": ANY_INT, "units": ANY_INT, "attention_units": ANY_INT,
           "dropout": REAL, "doubly_stochastic": REAL, "attention": STR, "seed": ANY_INT + NONE,
           "coordinates": STR},
    model_required=("vocab_size", "image_size", "max_length"),
    training_required=("image_size", "max_length", "attention"),
    vocabulary=CaptionVocabulary)
