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

from kerasrnn import run_backup, run_dir
from kerasrnn.config_checks import check_max_seconds, keras_accumulation, resumed_settings
from kerasrnn.kinds.char_rnn import text as text_data
from kerasrnn.errors import InputError
from kerasrnn.kinds.char_rnn.model import build_char_rnn, inference_model
from kerasrnn.kinds.char_rnn.sampling import generate
from kerasrnn.train.callbacks import (EpochsOfSteps, SampleText, StopAfterSteps, Throughput,
                                      run_callbacks)
from kerasrnn.kinds.char_rnn.streams import CarryStreamState
from kerasrnn.train.distribution import (prepare_run, record_distribution, resume_position,
                                         without_distribution)
from kerasrnn.kinds.char_rnn.config import RUN_FORMAT, CharRNNConfig
from kerasrnn.kinds.char_rnn.trained import write_char_run_config

RESUMABLE = ("steps", "epochs", "learning_rate")
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
        per_pass = text_data.windows_per_stream(len(train_ids), size, length)
    else:
        train = dist.dataset(lambda shard, shards: text_data.window_dataset(
            train_ids, size, length, config.seed, start_step=start_step, shard=shard, shards=shards))
        per_pass = (len(train_ids) - 1) // length // size
    val, val_steps = None, 0
    if len(val_ids):
        text_data.check_long_enough(len(val_ids), size, length,
                                    what="validation text (val_fraction of the text)")
        val_steps = text_data.windows_per_stream(len(val_ids), size, length)
        val = dist.dataset(lambda shard, shards: text_data.stream_dataset(
            val_ids, size, length, repeat=False, shard=shard, shards=shards))
    return train, max(per_pass, 1), val, val_steps


def train_char_rnn(config, text, out_dir, resume=False, on_sample=None, max_seconds=None,
                   verbose=1, extra_callbacks=(), allow_large=False, distribution=None):
    """Trains a char model on `text` and writes the model directory `out_dir`.

    Every setting is checked before anything is written.

    Args:
        config: `CharRNNConfig` (`kerasrnn.training_configs`). When resuming, `steps`/`epochs`
            and `learning_rate` may differ from the saved run's (the new ones are used and
            recorded in `config.json`); any other setting that differs is refused. To resume
            giving only some settings, pass a dict of them (e.g. `{"steps": 3000}`); the rest
            come from the run.
        text: The training text (`str`); its last `val_fraction` is held out.
        out_dir: Directory to write (see `kerasrnn.trained_runs`).
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
    check_max_seconds(max_seconds)
    dist, own, saved = prepare_run(distribution, out_dir, resume, RUN_FORMAT, max_seconds)
    out = pathlib.Path(out_dir)
    if saved is not None:
        config = resumed_settings(CharRNNConfig, saved["training"],
                                  without_distribution(config), RESUMABLE,
                                  replaced_together=("steps", "epochs"))
        vocab = text_data.Vocabulary.load(out_dir)
        if vocab.unknown_chars(text):
            raise InputError("resume: the text has characters the run's vocabulary lacks; "
                             "resume with the text the run started with")
    else:
        vocab = text_data.Vocabulary.from_text(text)
    config.validate(len(vocab), allow_large, replicas=dist.replicas)
    dist.check_steps_per_execution(config.steps_per_execution)
    config = record_distribution(config, saved, dist)
    replica_batch = dist.replica_batch_size(config.batch_size)
    keras.utils.set_random_seed(config.seed)
    ids = vocab.encode(text)
    train_ids, val_ids = text_data.split_ids(ids, config.val_fraction)
    text_data.check_long_enough(len(train_ids), config.batch_size, config.seq_length)

    steps_per_epoch = config.eval_every
    epochs = config.epochs if config.epochs else math.ceil(config.steps / steps_per_epoch)
    total_steps = config.steps or epochs * steps_per_epoch
    position = (resume_position(dist, own, steps_per_epoch) if resume
                else run_backup.Position(0, 0))
    if resume and position.step >= total_steps:
        raise InputError(f"resume: {out} has already trained {position.step} steps, nothing is "
                         "left to train; pass a larger `steps` (or `epochs`) to train further")
    train_ds, per_pass, val_ds, val_steps = _datasets(config, train_ids, val_ids, position.step,
                                                      dist)

    with dist.scope():
        model = build_training_model(config, len(vocab), replica_batch)
    if dist.is_chief:
        out.mkdir(parents=True, exist_ok=True)
        if saved is None:
            write_char_run_config(out, config.model_config(len(vocab)),
                                  dataclasses.asdict(config), vocab)
        else:
            run_dir.update_training_config(out, dataclasses.asdict(config))
    step_model = inference_model(config.model_config(len(vocab)), with_state=True)
    prime = config.sample_prime if not vocab.unknown_chars(config.sample_prime) else vocab.chars[0]

    def make_sample(training_model):
        step_model.set_weights(training_model.get_weights())
        return generate(step_model, vocab, prime, config.sample_length,
                        config.sample_temperature, seed=config.seed)

    throughput = Throughput(config.batch_size * config.seq_length)
    stopper = StopAfterSteps(total_steps, max_seconds)
    lr = config.learning_rate if config.learning_rate is not None else DEFAULT_LR[config.optimizer]
    streams = CarryStreamState(per_pass) if config.batching == "streams" else None
    standard_callbacks, run_history = run_callbacks(
        own, steps_per_epoch, best_checkpoint=val_ds is not None, start_epoch=position.epoch, learning_rate=lr,
        divergence_hint="lower learning_rate or set clip", chief=dist.is_chief,
        extra_state=streams, distribution=dist)
    callbacks = [*standard_callbacks, stopper, throughput]
    if streams is not None:
        callbacks.insert(0, streams)
    if on_sample is not None and dist.is_chief:
        callbacks.append(SampleText(make_sample, on_sample))
    callbacks += [*extra_callbacks, EpochsOfSteps(steps_per_epoch)]

    model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
              validation_data=val_ds, validation_steps=val_steps or None,
              callbacks=callbacks, verbose=verbose, shuffle=False)

    final = inference_model(config.model_config(len(vocab)), weights_from=model)
    metrics = _metrics(model, final, run_history, val_ids, throughput, stopper)
    if dist.is_chief:
        run_dir.save_trained_model(out, final, metrics)
    return metrics


def _metrics(model, final_model, run_history, val_ids, throughput, stopper):
    h = run_history.history
    val_loss = h["val_loss"][-1] if h.get("val_loss") else None
    return {
        "train_loss": h["loss"][-1] if h.get("loss") else None,
        "val_loss": val_loss,
        "val_bpc": val_loss / LN2 if val_loss is not None else None,
        "best_val_loss": min(h["val_loss"]) if h.get("val_loss") else None,
        "steps": run_dir.steps_trained(model),
        "epochs": run_history.epochs,
        "chars_per_second": throughput.per_second,
        "train_seconds": throughput.seconds,
        "stopped_by_time_limit": stopper.stopped_by_time,
        "val_chars": int(len(val_ids)),
        "history": {k: [float(x) for x in v] for k, v in h.items()},
        "parameters": int(final_model.count_params()),
    }
