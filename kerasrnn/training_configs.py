"""What a training run of each model kind depends on, and the checks of it: `CharRNNConfig`,
`STNConfig` and `CaptionerConfig`, the `training` part of a run's `config.json`.

The training functions (`kerasrnn.train`) train with them; `kerasrnn.run_dir` reads the settings a
`config.json` may hold from them, and `kerasrnn.trained_runs` checks a saved run's settings with
them. Each `validate` raises `InputError` with messages in parameter terms (`learning_rate`); the
shared value checks are `kerasrnn.config_checks`.
"""

import dataclasses

from kerasrnn.config_checks import (FLOAT_BYTES, check_accumulation, check_choice, check_int,
                                    check_memory, check_real, check_seed)
from kerasrnn.data import mnist
from kerasrnn.data.captions import DATASETS, GENERATED_COUNTS
from kerasrnn.errors import InputError
from kerasrnn.layers.attention_decoder import ATTENTIONS
from kerasrnn.layers.attention_decoder import CELLS as DECODER_CELLS
from kerasrnn.models.captioner import (POOLINGS, applications_encoder, build_captioner,
                                       coordinates_option, small_cnn_encoder)
from kerasrnn.models.char_rnn import CELLS
from kerasrnn.models.stn_classifier import MODELS

# ---- the char model ---------------------------------------------------------------------------

CHAR_RNN_OPTIMIZERS = ("adagrad", "adam", "rmsprop")
GATES = {"vanilla": 1, "gru": 3, "lstm": 4}  # weight matrices per recurrent layer
CHAR_RNN_ASSUMED_VOCAB = 256  # vocabulary size for memory estimates before the text is read
MAX_SAMPLE_LENGTH = 1_000_000  # as sample_char_rnn.py --length


def keras_accumulation(gradient_accumulation_steps):
    """The `gradient_accumulation_steps` argument of a Keras optimizer for a config's setting
    (Keras takes `None` for updating after every batch, or at least 2)."""
    return gradient_accumulation_steps if gradient_accumulation_steps > 1 else None


def _split(replicas):
    """The replicas, for a memory message, when the batch is split over several."""
    return dict(replicas=replicas) if replicas > 1 else {}


@dataclasses.dataclass
class CharRNNConfig:
    """Everything a char-model training run depends on (saved in `config.json`)."""

    cell: str = "lstm"
    num_layers: int = 2
    hidden_size: int = 256
    embedding_dim: int | None = None
    dropout: float = 0.0
    seq_length: int = 100
    batch_size: int = 64
    batching: str = "streams"  # "streams" (stateful TBPTT) or "windows" (shuffled, stateless)
    steps: int | None = None
    epochs: int | None = None
    eval_every: int = 500  # steps per Keras epoch: validate / sample / back up this often
    optimizer: str = "adagrad"
    learning_rate: float | None = None
    lr_decay: str = "none"  # "none" or "cosine" (to 10% of the rate at --steps)
    clip: float | None = 5.0
    val_fraction: float = 0.05
    seed: int = 0
    # How the run is spread over devices, recorded by the training function: distribute,
    # replicas, workers and replica_batch_size (`kerasrnn.train.distribution`). The batch sizes
    # above are global batches. A resume must run the same way.
    distribution: dict | None = None
    unroll: bool = False
    jit_compile: bool | None = None  # None: XLA only for unrolled loops (it slows LSTM loops on CPU)
    steps_per_execution: int = 1
    # Batches whose gradients are averaged into one weight update (Keras optimizers'
    # `gradient_accumulation_steps`; 1: update after every batch). With several replicas or
    # workers the gradients are exchanged once per update, not once per batch.
    gradient_accumulation_steps: int = 1
    sample_length: int = 200
    sample_temperature: float = 0.8
    sample_prime: str = "\n"

    def model_config(self, vocab_size):
        """The `build_char_rnn` arguments that define the trained weights."""
        return dict(vocab_size=vocab_size, cell=self.cell, num_layers=self.num_layers,
                    hidden_size=self.hidden_size, dropout=self.dropout,
                    embedding_dim=self.embedding_dim)

    def validate(self, vocab_size=None, allow_large=False, replicas=1):
        """Raises `InputError` for settings that cannot train (messages name the parameters).

        Args:
            vocab_size: The vocabulary's size, for the memory estimate (`None`: assume
                `CHAR_RNN_ASSUMED_VOCAB`, before the text is read).
            allow_large: Allow weights or one batch's activations above
                `config_checks.LARGE_BYTES`.
            replicas: Devices the global `batch_size` is split over; each holds the activations
                of its share only.
        """
        check_choice("cell", self.cell, CELLS)
        check_choice("optimizer", self.optimizer, CHAR_RNN_OPTIMIZERS)
        check_choice("lr_decay", self.lr_decay, ("none", "cosine"))
        check_choice("batching", self.batching, ("streams", "windows"))
        for name in ("num_layers", "hidden_size", "seq_length", "batch_size", "eval_every",
                     "steps_per_execution"):
            check_int(name, getattr(self, name))
        if self.embedding_dim is not None:
            check_int("embedding_dim", self.embedding_dim)
        if (self.steps is None) == (self.epochs is None):
            raise InputError("give exactly one of steps or epochs")
        check_int("steps" if self.steps is not None else "epochs",
                  self.steps if self.steps is not None else self.epochs)
        # fit runs each Keras epoch (eval_every steps) as whole executions of
        # steps_per_execution steps, and StopAfterSteps looks at the step count after each.
        spe = self.steps_per_execution
        if self.eval_every % spe:
            raise InputError(f"steps_per_execution {spe} must divide eval_every {self.eval_every} "
                             "(each evaluation interval runs whole executions)")
        if self.steps is not None and self.steps % spe:
            raise InputError(f"steps_per_execution {spe} must divide steps {self.steps} "
                             "(training stops only between executions)")
        check_accumulation(self.gradient_accumulation_steps, self.eval_every,
                           "an evaluation interval (eval_every)")
        if self.steps is not None:
            check_accumulation(self.gradient_accumulation_steps, self.steps, "the run (steps)")
        check_real("dropout", self.dropout, 0.0, 1.0, high_open=True)
        if self.learning_rate is not None:
            check_real("learning_rate", self.learning_rate, low=0.0, low_open=True)
        if self.clip is not None:
            check_real("clip", self.clip, low=0.0, low_open=True)
        check_real("val_fraction", self.val_fraction, 0.0, 1.0, high_open=True)
        check_seed(self.seed)
        check_int("sample_length", self.sample_length, 0, MAX_SAMPLE_LENGTH)
        check_real("sample_temperature", self.sample_temperature, low=0.0)
        if not isinstance(self.sample_prime, str) or not self.sample_prime:
            raise InputError(f"sample_prime must be a non-empty string, got {self.sample_prime!r}")
        vocab = vocab_size or CHAR_RNN_ASSUMED_VOCAB
        sizes = dict(num_layers=self.num_layers, hidden_size=self.hidden_size,
                     embedding_dim=self.embedding_dim or 0, cell=self.cell)
        check_memory("weights", self.parameter_count(vocab) * FLOAT_BYTES, sizes, allow_large)
        check_memory("activations in one batch", self.activation_bytes(vocab) // replicas,
                     dict(batch_size=self.batch_size, seq_length=self.seq_length, **sizes,
                          **_split(replicas)),
                     allow_large)

    def parameter_count(self, vocab_size):
        """The model's weights (embedding, recurrent layers, output layer), counted exactly
        enough for a memory estimate."""
        gates = GATES[self.cell]
        inputs = self.embedding_dim or vocab_size
        count = vocab_size * (self.embedding_dim or 0)
        for layer in range(self.num_layers):
            width = inputs if layer == 0 else self.hidden_size
            count += gates * self.hidden_size * (width + self.hidden_size + 2)
        return count + (self.hidden_size + 1) * vocab_size

    def activation_bytes(self, vocab_size):
        """Rough bytes of one training batch's activations kept for backpropagation: every
        step's gates and state in every layer, the inputs and the logits (with their gradient)."""
        per_step = (self.num_layers * (GATES[self.cell] + 2) * self.hidden_size
                    + (self.embedding_dim or vocab_size) + 2 * vocab_size)
        return self.batch_size * self.seq_length * per_step * FLOAT_BYTES


# ---- the ST-CNN / CNN -------------------------------------------------------------------------

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
                     dict(batch_size=self.batch_size, distortion=self.distortion, **_split(replicas)),
                     allow_large)


# ---- the captioner ----------------------------------------------------------------------------

BOXED_DATASETS = ("scenes", "digits")  # the generated sets, which record every object's box
MAX_BEAM_WIDTH = 100  # as caption_image.py --beam
CAPTIONER_ASSUMED_VOCAB = 10_000  # vocabulary size for memory estimates before the captions are read
DECODER_GATES = {"vanilla": 1, "gru": 3, "lstm": 4}
ENCODER_FLOATS_PER_PIXEL = 64  # the small encoder's feature maps and their pools, per input pixel


@dataclasses.dataclass
class CaptionerConfig:
    """Everything a captioning run depends on (saved in `config.json`)."""

    dataset: str = "scenes"
    data_dir: str | None = None
    image_size: int = 64
    max_length: int = 16  # words per caption; longer captions are cut
    min_count: int = 1  # rarer training words become <unk>
    cell: str = "lstm"
    attention: str = "soft"
    encoder: str = "small"  # "small" (a CNN trained from scratch) or a keras.applications name
    encoder_weights: str | None = None  # applications only: None, "imagenet" or a weights file
    encoder_layer: str | None = None  # applications only: the layer whose grid is attended over
    coordinates: str = "cell"  # position in each annotation: "cell", "centroid" or "none"
    encoder_kernels: tuple = (3, 3, 1)  # small encoder: kernel size of each conv + 2x2 pool
    encoder_poolings: tuple = ("max", "max", "max")  # small encoder: each 2x2 pool, max or average
    embedding_dim: int = 64
    units: int = 128
    attention_units: int = 64
    dropout: float = 0.0
    doubly_stochastic: float = 0.0
    attention_supervision: float = 0.0  # weight of the attention-correctness loss (scenes, digits)
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_decay: str = "none"  # "none" or "cosine" (to 1% of the rate over --epochs)
    train_count: int | None = None  # generated sets: images drawn for training
    test_count: int | None = None  # generated sets: images drawn for val and test
    beam_width: int = 3
    seed: int = 0
    # Batches whose gradients are averaged into one weight update (Keras optimizers'
    # `gradient_accumulation_steps`; 1: update after every batch). With several replicas or
    # workers the gradients are exchanged once per update, not once per batch.
    gradient_accumulation_steps: int = 1
    # How the run is spread over devices, recorded by the training function: distribute,
    # replicas, workers and replica_batch_size (`kerasrnn.train.distribution`). The batch sizes
    # above are global batches. A resume must run the same way.
    distribution: dict | None = None

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
                     dict(batch_size=self.batch_size, image_size=self.image_size, **_split(replicas),
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
