"""What a char-model training run depends on: `CharRNNConfig`, the `training` part of its
`config.json`, and the `model` part's keys (the builder's arguments).

`validate` raises `InputError` with messages in parameter terms (`learning_rate`); the shared
value checks are `kerasrnn.config_checks`.
"""

import dataclasses

from kerasrnn.config_checks import (FLOAT_BYTES, check_accumulation, check_choice, check_int,
                                    check_memory, check_real, check_seed, replicas_note)
from kerasrnn.config_fields import distribution_record, gradient_accumulation_setting, setting
from kerasrnn.errors import InputError
from kerasrnn.kinds.char_rnn.model import CELLS
from kerasrnn.kinds.char_rnn.text import Vocabulary
from kerasrnn.run_config import ANY_INT, NONE, REAL, STR, RunFormat

KIND = "char_rnn"  # run directories: config.json format "kerasrnn.char_rnn"
CHAR_RNN_OPTIMIZERS = ("adagrad", "adam", "rmsprop")
BATCHINGS = ("streams", "windows")  # stateful truncated BPTT, or shuffled stateless windows
LR_DECAYS = ("none", "cosine")
DEFAULT_STEPS = 5000  # a new run's length when neither steps nor epochs is given (the script's)
GATES = {"vanilla": 1, "gru": 3, "lstm": 4}  # weight matrices per recurrent layer
CHAR_RNN_ASSUMED_VOCAB = 256  # vocabulary size for memory estimates before the text is read
MAX_SAMPLE_LENGTH = 1_000_000  # as sample_char_rnn.py --length


@dataclasses.dataclass
class CharRNNConfig:
    """Everything a char-model training run depends on (saved in `config.json`). The batch
    sizes are global batches (split over replicas and workers)."""

    cell: str = setting("lstm", "recurrent cell", choices=CELLS)
    num_layers: int = setting(2, "stacked recurrent layers", flags=("--layers",))
    hidden_size: int = setting(256, "units per layer", flags=("--hidden",))
    embedding_dim: int | None = setting(None, "learned embedding size; 0: one-hot input",
                                        flags=("--embedding",), default_help="one-hot", off=0)
    dropout: float = setting(0.0, "dropout between layers")
    seq_length: int = setting(100, "characters per window, the BPTT length")
    batch_size: int = setting(64, "streams (or windows) per batch")
    batching: str = setting("streams", "streams: contiguous, state carried; windows: shuffled, "
                            "state reset", choices=BATCHINGS)
    steps: int | None = setting(None, "total optimizer steps", exclusive="length",
                                default_help=f"{DEFAULT_STEPS} unless `epochs` is given")
    epochs: int | None = setting(None, "number of evaluation intervals of `eval_every` steps",
                                 exclusive="length", default_help="none")
    eval_every: int = setting(500, "validate, sample and back up every N steps (one Keras epoch)")
    optimizer: str = setting("adagrad", "adagrad as min-char-rnn, adam or rmsprop",
                             choices=CHAR_RNN_OPTIMIZERS)
    learning_rate: float | None = setting(None, "learning rate", flags=("--lr",),
                                          default_help="0.1 adagrad, 2e-3 adam/rmsprop")
    lr_decay: str = setting("none", "cosine: decay the rate to 10% over `steps`", choices=LR_DECAYS)
    clip: float | None = setting(5.0, "element-wise gradient clip on the window's summed loss, "
                                 "as min-char-rnn; 0: off", off=0)
    val_fraction: float = setting(0.05, "share of the text held out at its end")
    seed: int = setting(0, "random seed")
    distribution: dict | None = distribution_record()
    unroll: bool = setting(False, "unroll the time loop")
    jit_compile: bool | None = setting(None, "XLA-compile the train step", flags=("--jit",),
                                       default_help="as `unroll`: XLA slows LSTM loops on CPU")
    steps_per_execution: int = setting(1, "train steps per compiled call")
    gradient_accumulation_steps: int = gradient_accumulation_setting()
    sample_length: int = setting(200, "characters printed per sample")
    sample_temperature: float = setting(0.8, "temperature of the samples printed", flag=False)
    sample_prime: str = setting("\n", "the text each printed sample starts from", flag=False)

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
        check_choice("lr_decay", self.lr_decay, LR_DECAYS)
        check_choice("batching", self.batching, BATCHINGS)
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
                          **replicas_note(replicas)),
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


# The settings a resumed run may change (the rest must be the run's own).
RESUMABLE = ("steps", "epochs", "learning_rate")

RUN_FORMAT = RunFormat(
    kind=KIND, training=CharRNNConfig,
    model={"vocab_size": ANY_INT, "cell": STR, "num_layers": ANY_INT, "hidden_size": ANY_INT,
           "dropout": REAL, "embedding_dim": ANY_INT + NONE},
    model_required=("vocab_size", "cell", "num_layers", "hidden_size"),
    vocabulary=Vocabulary)
