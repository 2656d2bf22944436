"""Training the char-level language model with `model.fit`: the logic behind train_char_rnn.py.

Loss and clipping follow min-char-rnn: `--clip C` clips each gradient element at C for the
loss *summed* over a window of `seq_length` characters (averaged over the batch). Keras
optimises the per-character mean, so the optimizer gets `clipvalue = C / seq_length`; for
Adagrad the epsilon is scaled the same way, which makes `--preset min-char-rnn` the notes'
update exactly (Adagrad does not care about the scale of the loss otherwise).
"""

import dataclasses
import math
import pathlib

import keras

from kerasrnn import run_dir
from kerasrnn.data import text as text_data
from kerasrnn.errors import InputError
from kerasrnn.models import char_model_dir
from kerasrnn.models.char_rnn import CELLS, build_char_rnn
from kerasrnn.models.sampling import generate
from kerasrnn.train.callbacks import CarryStreamState, SampleText, StopAfterSteps, Throughput

OPTIMIZERS = ("adagrad", "adam", "rmsprop")
DEFAULT_LR = {"adagrad": 0.1, "adam": 2e-3, "rmsprop": 2e-3}
LN2 = math.log(2.0)


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
    unroll: bool = False
    jit_compile: bool | None = None  # None: XLA only for unrolled loops (it slows LSTM loops on CPU)
    steps_per_execution: int = 1
    sample_length: int = 200
    sample_temperature: float = 0.8
    sample_prime: str = "\n"

    def model_config(self, vocab_size):
        """The `build_char_rnn` arguments that define the trained weights."""
        return dict(vocab_size=vocab_size, cell=self.cell, num_layers=self.num_layers,
                    hidden_size=self.hidden_size, dropout=self.dropout,
                    embedding_dim=self.embedding_dim)

    def validate(self):
        """Raises `InputError` for settings that cannot train."""
        if self.cell not in CELLS:
            raise InputError(f"--cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.lr_decay not in ("none", "cosine"):
            raise InputError(f"--lr-decay must be none or cosine, got {self.lr_decay!r}")
        if self.batching not in ("streams", "windows"):
            raise InputError(f"--batching must be streams or windows, got {self.batching!r}")
        for name in ("num_layers", "hidden_size", "seq_length", "batch_size", "eval_every",
                     "steps_per_execution"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if (self.steps is None) == (self.epochs is None):
            raise InputError("give exactly one of --steps or --epochs")
        if (self.steps or 1) < 1 or (self.epochs or 1) < 1:
            raise InputError("--steps / --epochs must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.clip is not None and self.clip <= 0:
            raise InputError(f"--clip must be > 0 (or omitted), got {self.clip}")


PRESETS = {
    # The notes' hyper-parameters: hidden 100, seq 25, batch 1, Adagrad 0.1, clip 5, one-hot.
    "min-char-rnn": dict(cell="vanilla", num_layers=1, hidden_size=100, embedding_dim=None,
                         seq_length=25, batch_size=1, optimizer="adagrad", learning_rate=0.1,
                         clip=5.0, dropout=0.0, unroll=True, steps_per_execution=100,
                         eval_every=5000),
    # A few minutes of CPU on the embedded Python corpus (make demo).
    "demo": dict(cell="lstm", num_layers=2, hidden_size=256, embedding_dim=64, seq_length=64,
                 batch_size=32, optimizer="adam", learning_rate=3e-3, steps=1500, eval_every=250,
                 steps_per_execution=10),
    # The README's tiny-shakespeare result: 2-layer LSTM, <= 30 minutes on 2 CPU cores.
    # (2x384 is the widest LSTM that sees ~17 passes of the text in that budget.)
    "shakespeare": dict(cell="lstm", num_layers=2, hidden_size=384, embedding_dim=64,
                        seq_length=100, batch_size=64, optimizer="adam", learning_rate=2e-3,
                        dropout=0.2, val_fraction=0.1, eval_every=200, steps=100_000,
                        steps_per_execution=10),
}


def make_optimizer(config):
    """The configured optimizer, with min-char-rnn's clip convention (see module docstring)."""
    lr = config.learning_rate if config.learning_rate is not None else DEFAULT_LR[config.optimizer]
    if config.lr_decay == "cosine" and config.steps:
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=config.steps, alpha=0.1)
    clipvalue = config.clip / config.seq_length if config.clip else None
    if config.optimizer == "adagrad":
        return keras.optimizers.Adagrad(lr, initial_accumulator_value=0.0,
                                        epsilon=1e-8 / config.seq_length**2, clipvalue=clipvalue)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr, clipvalue=clipvalue)
    return keras.optimizers.RMSprop(lr, clipvalue=clipvalue)


def nats_per_char_loss():
    """Cross-entropy in nats per character, from logits."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def build_training_model(config, vocab_size):
    """The model `fit` trains: fixed batch and length, stateful for stream batching."""
    stateful = config.batching == "streams"
    model = build_char_rnn(**config.model_config(vocab_size), seq_length=config.seq_length,
                           batch_size=config.batch_size if stateful else None,
                           stateful=stateful, unroll=config.unroll)
    model.compile(optimizer=make_optimizer(config), loss=nats_per_char_loss(),
                  jit_compile=config.unroll if config.jit_compile is None else config.jit_compile,
                  steps_per_execution=config.steps_per_execution)
    return model


def _datasets(config, train_ids, val_ids, start_step):
    if config.batching == "streams":
        train = text_data.stream_dataset(train_ids, config.batch_size, config.seq_length, start_step)
        per_pass = text_data.windows_per_stream(len(train_ids), config.batch_size, config.seq_length)
    else:
        train = text_data.window_dataset(train_ids, config.batch_size, config.seq_length, config.seed)
        per_pass = (len(train_ids) - 1) // config.seq_length // config.batch_size
    val, val_steps = None, 0
    if len(val_ids):
        text_data.check_long_enough(len(val_ids), config.batch_size, config.seq_length,
                                    what="validation text (--val-fraction of the text)")
        val_steps = text_data.windows_per_stream(len(val_ids), config.batch_size, config.seq_length)
        val = text_data.stream_dataset(val_ids, config.batch_size, config.seq_length, repeat=False)
    return train, max(per_pass, 1), val, val_steps


def train_char_rnn(config, text, out_dir, resume=False, on_sample=None, max_seconds=None,
                   verbose=1, extra_callbacks=()):
    """Trains a char model on `text` and writes the model directory `out_dir`.

    Args:
        config: `CharRNNConfig` (when resuming, the saved run's config is used instead, with
            this one's `steps`/`epochs`).
        text: The training text (`str`); its last `val_fraction` is held out.
        out_dir: Directory to write (see `kerasrnn.models.char_model_dir`).
        resume: Continue the run in `out_dir` from its last backup (per-epoch).
        on_sample: `(epoch, step, text) -> None`, called with a sample after every epoch.
        max_seconds: Stop after this much wall time (checked after each execution).
        verbose: Keras progress bar setting.
        extra_callbacks: More Keras callbacks for `fit`.

    Returns:
        The metrics dict also written to `out_dir/metrics.json`.
    """
    saved = run_dir.prepare_run_dir(out_dir, resume, char_model_dir.KIND)
    if saved is not None:
        kept = {k: v for k, v in saved["training"].items() if k not in ("steps", "epochs")}
        config = dataclasses.replace(CharRNNConfig(**kept), steps=config.steps, epochs=config.epochs)
        vocab = text_data.Vocabulary.load(out_dir)
        if vocab.unknown_chars(text):
            raise InputError("--resume: the text has characters the run's vocabulary lacks; "
                             "resume with the text the run started with")
    else:
        vocab = text_data.Vocabulary.from_text(text)
    config.validate()
    keras.utils.set_random_seed(config.seed)
    ids = vocab.encode(text)
    train_ids, val_ids = text_data.split_ids(ids, config.val_fraction)
    text_data.check_long_enough(len(train_ids), config.batch_size, config.seq_length)

    out = pathlib.Path(out_dir)
    steps_per_epoch = config.eval_every
    restored_epoch = run_dir.restored_epoch(out)
    epochs = config.epochs if config.epochs else math.ceil(config.steps / steps_per_epoch)
    if resume and restored_epoch >= epochs:
        raise InputError(f"--resume: {out} has already trained {restored_epoch * steps_per_epoch} "
                         "steps; pass a larger --steps (or --epochs) to train further")
    train_ds, per_pass, val_ds, val_steps = _datasets(config, train_ids, val_ids,
                                                      restored_epoch * steps_per_epoch)

    model = build_training_model(config, len(vocab))
    out.mkdir(parents=True, exist_ok=True)
    if saved is None:
        char_model_dir.write_run_config(out, config.model_config(len(vocab)),
                                        dataclasses.asdict(config), vocab)
    step_model = char_model_dir.inference_model(config.model_config(len(vocab)), with_state=True)
    prime = config.sample_prime if not vocab.unknown_chars(config.sample_prime) else vocab.chars[0]

    def make_sample(training_model):
        step_model.set_weights(training_model.get_weights())
        return generate(step_model, vocab, prime, config.sample_length,
                        config.sample_temperature, seed=config.seed)

    throughput = Throughput(config.batch_size * config.seq_length)
    stopper = StopAfterSteps(config.steps, max_seconds)
    callbacks = [*run_dir.run_callbacks(out, best_checkpoint=val_ds is not None), stopper, throughput]
    if config.batching == "streams":
        callbacks.insert(0, CarryStreamState(per_pass))
    if on_sample is not None:
        callbacks.append(SampleText(make_sample, on_sample))
    callbacks += list(extra_callbacks)

    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                        validation_data=val_ds, validation_steps=val_steps or None,
                        callbacks=callbacks, verbose=verbose, shuffle=False)
    run_dir.check_not_diverged(history, "lower --lr or set --clip")

    final = char_model_dir.inference_model(config.model_config(len(vocab)), weights_from=model)
    metrics = _metrics(model, final, history, val_ids, throughput, stopper)
    run_dir.save_trained_model(out, final, metrics)
    return metrics


def _metrics(model, final_model, history, val_ids, throughput, stopper):
    h = history.history
    val_loss = h["val_loss"][-1] if h.get("val_loss") else None
    return {
        "train_loss": h["loss"][-1] if h.get("loss") else None,
        "val_loss": val_loss,
        "val_bpc": val_loss / LN2 if val_loss is not None else None,
        "best_val_loss": min(h["val_loss"]) if h.get("val_loss") else None,
        "steps": int(model.optimizer.iterations.numpy()),
        "epochs": len(h.get("loss", [])),
        "chars_per_second": throughput.per_second,
        "train_seconds": throughput.seconds,
        "stopped_by_time_limit": stopper.stopped_by_time,
        "val_chars": int(len(val_ids)),
        "history": {k: [float(x) for x in v] for k, v in h.items()},
        "parameters": int(final_model.count_params()),
    }
