"""Training the char-level language model with `model.fit`: the logic behind train_char_rnn.py.

Loss and clipping follow min-char-rnn: `--clip C` clips each gradient element at C for the
loss *summed* over a window of `seq_length` characters (averaged over the batch). Keras
optimises the per-character mean, so the optimizer gets `clipvalue = C / seq_length`; for
Adagrad the epsilon is scaled the same way, which makes `--preset min-char-rnn` the notes'
update exactly (Adagrad does not care about the scale of the loss otherwise).
"""

import dataclasses
import math

import keras

from kerasrnn.config_checks import keras_accumulation
from kerasrnn.errors import InputError
from kerasrnn.kinds.char_rnn import text as text_data
from kerasrnn.kinds.char_rnn.config import RESUMABLE, RUN_FORMAT
from kerasrnn.kinds.char_rnn.model import build_char_rnn, inference_model
from kerasrnn.kinds.char_rnn.sampling import generate
from kerasrnn.kinds.char_rnn.streams import CarryStreamState
from kerasrnn.kinds.char_rnn.trained import write_char_run_config
from kerasrnn.train.callbacks import SampleText
from kerasrnn.train.loop import Data, Schedule, Task, train

DEFAULT_LR = {"adagrad": 0.1, "adam": 2e-3, "rmsprop": 2e-3}
LN2 = math.log(2.0)


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
    accumulation = config.gradient_accumulation_steps
    if config.lr_decay == "cosine" and config.steps:  # the schedule counts weight updates
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=config.steps // accumulation,
                                                    alpha=0.1)
    common = dict(clipvalue=config.clip / config.seq_length if config.clip else None,
                  gradient_accumulation_steps=keras_accumulation(accumulation))
    if config.optimizer == "adagrad":
        return keras.optimizers.Adagrad(lr, initial_accumulator_value=0.0,
                                        epsilon=1e-8 / config.seq_length**2, **common)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr, **common)
    return keras.optimizers.RMSprop(lr, **common)


def nats_per_char_loss():
    """Cross-entropy in nats per character, from logits."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def build_training_model(config, vocab_size, replica_batch_size=None):
    """The model `fit` trains: fixed batch and length, stateful for stream batching.

    `replica_batch_size` is one replica's share of `config.batch_size` (default all of it): a
    stateful model holds the state of that many streams."""
    stateful = config.batching == "streams"
    model = build_char_rnn(**config.model_config(vocab_size), seq_length=config.seq_length,
                           batch_size=(replica_batch_size or config.batch_size) if stateful else None,
                           stateful=stateful, unroll=config.unroll)
    model.compile(optimizer=make_optimizer(config), loss=nats_per_char_loss(),
                  jit_compile=config.unroll if config.jit_compile is None else config.jit_compile,
                  steps_per_execution=config.steps_per_execution)
    return model


def _datasets(config, train_ids, val_ids, start_step, dist):
    """Training and validation data, each replica fed its rows of the global batch."""
    size, length = config.batch_size, config.seq_length
    if config.batching == "streams":
        train = dist.dataset(lambda shard, shards: text_data.stream_dataset(
            train_ids, size, length, start_step, shard=shard, shards=shards))
    else:
        train = dist.dataset(lambda shard, shards: text_data.window_dataset(
            train_ids, size, length, config.seed, start_step=start_step, shard=shard, shards=shards))
    val, val_steps = None, 0
    if len(val_ids):
        text_data.check_long_enough(len(val_ids), size, length,
                                    what="validation text (val_fraction of the text)")
        val_steps = text_data.windows_per_stream(len(val_ids), size, length)
        val = dist.dataset(lambda shard, shards: text_data.stream_dataset(
            val_ids, size, length, repeat=False, shard=shard, shards=shards))
    return Data(train, val, val_steps)


def _windows_per_pass(config, train_ids):
    """Training batches in one pass over the text (at least 1)."""
    size, length = config.batch_size, config.seq_length
    if config.batching == "streams":
        return max(text_data.windows_per_stream(len(train_ids), size, length), 1)
    return max((len(train_ids) - 1) // length // size, 1)


class CharTask(Task):
    """The char model's part of `kerasrnn.train.loop.train`: counted in steps (`eval_every`
    steps an epoch), the vocabulary from the text (or the run resumed), contiguous streams whose
    states the backup keeps, a text sample after every epoch."""

    run_format = RUN_FORMAT
    resumable = RESUMABLE
    replaced_together = ("steps", "epochs")
    divergence_hint = "lower learning_rate or set clip"

    def __init__(self, text, on_sample=None):
        self.text, self.on_sample = text, on_sample

    def read_run(self, config, saved, out_dir):
        if saved is None:
            self.vocab = text_data.Vocabulary.from_text(self.text)
            return
        self.vocab = text_data.Vocabulary.load(out_dir)
        if self.vocab.unknown_chars(self.text):
            raise InputError("resume: the text has characters the run's vocabulary lacks; "
                             "resume with the text the run started with")

    def validate(self, config, allow_large, replicas):
        config.validate(len(self.vocab), allow_large, replicas=replicas)

    def steps_per_execution(self, config):
        return config.steps_per_execution

    def schedule(self, config, distribution):
        ids = self.vocab.encode(self.text)
        self.train_ids, self.val_ids = text_data.split_ids(ids, config.val_fraction)
        text_data.check_long_enough(len(self.train_ids), config.batch_size, config.seq_length)
        steps_per_epoch = config.eval_every
        epochs = config.epochs if config.epochs else math.ceil(config.steps / steps_per_epoch)
        return Schedule(steps_per_epoch, epochs, config.steps or epochs * steps_per_epoch,
                        in_steps=True)

    def build(self, config, distribution):
        return build_training_model(config, len(self.vocab),
                                    distribution.replica_batch_size(config.batch_size))

    def datasets(self, config, distribution, start, model):
        return _datasets(config, self.train_ids, self.val_ids, start.position.step, distribution)

    def write_run(self, out_dir, config):
        write_char_run_config(out_dir, config.model_config(len(self.vocab)),
                              dataclasses.asdict(config), self.vocab)

    def learning_rate(self, config):
        return config.learning_rate if config.learning_rate is not None else DEFAULT_LR[config.optimizer]

    def items_per_step(self, config):
        return config.batch_size * config.seq_length

    def backup_state(self, config, schedule):
        if config.batching != "streams":
            return None
        return CarryStreamState(_windows_per_pass(config, self.train_ids))

    def callbacks(self, config, distribution):
        if self.on_sample is None or not distribution.is_chief:
            return []
        vocab = self.vocab
        step_model = inference_model(config.model_config(len(vocab)), with_state=True)
        prime = config.sample_prime if not vocab.unknown_chars(config.sample_prime) else vocab.chars[0]

        def make_sample(training_model):
            step_model.set_weights(training_model.get_weights())
            return generate(step_model, vocab, prime, config.sample_length,
                            config.sample_temperature, seed=config.seed)

        return [SampleText(make_sample, self.on_sample)]

    def final_model(self, config, model, distribution):
        return inference_model(config.model_config(len(self.vocab)), weights_from=model)

    def metrics(self, config, fitted, final, distribution):
        h = fitted.history
        val_loss = h["val_loss"][-1] if h.get("val_loss") else None
        common = fitted.common_metrics(final)
        return {
            "train_loss": common.pop("train_loss"),
            "val_loss": val_loss,
            "val_bpc": val_loss / LN2 if val_loss is not None else None,
            "best_val_loss": min(h["val_loss"]) if h.get("val_loss") else None,
            "steps": common.pop("steps"),
            "epochs": common.pop("epochs"),
            "chars_per_second": fitted.per_second,
            "train_seconds": common.pop("train_seconds"),
            "stopped_by_time_limit": common.pop("stopped_by_time_limit"),
            "val_chars": int(len(self.val_ids)),
            **common,
        }


def train_char_rnn(config, text, out_dir, resume=False, on_sample=None, max_seconds=None,
                   verbose=1, extra_callbacks=(), allow_large=False, distribution=None):
    """Trains a char model on `text` and writes the model directory `out_dir`.

    Every setting is checked before anything is written.

    Args:
        config: `CharRNNConfig` (`config.py`). When resuming, `steps`/`epochs`
            and `learning_rate` may differ from the saved run's (the new ones are used and
            recorded in `config.json`); any other setting that differs is refused. To resume
            giving only some settings, pass a dict of them (e.g. `{"steps": 3000}`); the rest
            come from the run.
        text: The training text (`str`); its last `val_fraction` is held out.
        out_dir: Directory to write (see `kerasrnn.run_dir`).
        resume: Continue the run in `out_dir` from its last backup (written after every
            `eval_every` steps, and at the step SIGTERM stopped it), to exactly `steps` (or
            `epochs * eval_every`) steps, evaluating at the steps an uninterrupted run does;
            a run already there is refused.
        on_sample: `(epoch, step, text) -> None`, called with a sample after every epoch.
        max_seconds: Stop after this much wall time (checked after each execution); `None` or > 0.
        verbose: Keras progress bar setting.
        extra_callbacks: More Keras callbacks for `fit`.
        allow_large: Train models whose weights or batch activations exceed
            `config_checks.LARGE_BYTES` (refused otherwise, with an estimate).
        distribution: A `kerasrnn.train.distribution.Distribution` (default: one process).
            `config.batch_size` is the global batch, split over its replicas; only the chief
            writes the run directory, other workers only their backups (`worker-<i>/`).

    Returns:
        The metrics dict also written to `out_dir/metrics.json`; its `history` covers every
        epoch of the run, resumed ones included.

    Raises:
        InputError: A bad setting (before anything is written), or training diverged.
    """
    return train(CharTask(text, on_sample), config, out_dir, resume=resume,
                 distribution=distribution, max_seconds=max_seconds, allow_large=allow_large,
                 verbose=verbose, extra_callbacks=extra_callbacks)
