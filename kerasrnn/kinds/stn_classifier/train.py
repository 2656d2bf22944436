"""Training the ST-CNN / CNN on distorted MNIST with `model.fit`: the logic behind train_stn.py.

The training images are distorted afresh every epoch (on the fly, seeded); the last
`val_size` training images, distorted once, are the validation set; the test set is distorted
once with a fixed seed (`TEST_SEED`) so every run is scored on the same images, as the paper
scores its fixed distorted test sets.
"""

import dataclasses
import math
import pathlib

import keras

from kerasrnn import run_dir
from kerasrnn.config_checks import check_max_seconds, keras_accumulation, resumed_settings
from kerasrnn.data import mnist
from kerasrnn.errors import InputError
from kerasrnn.kinds.stn_classifier.model import TRANSFORMER_NAME, build_stn_classifier
from kerasrnn.train.callbacks import EpochsOfSteps, StopAfterSteps, Throughput, run_callbacks
from kerasrnn.train.distribution import (epoch_run_start, prepare_run, record_distribution,
                                         without_distribution)
from kerasrnn.train.lr_multiplier import with_lr_multiplier
from kerasrnn.kinds.stn_classifier.config import KIND as STN_CLASSIFIER, RUN_FORMAT, STNConfig

KIND = STN_CLASSIFIER
TEST_SEED = 2015
RESUMABLE = ("epochs", "learning_rate")


def _loss_and_metrics():
    return dict(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def compile_model(model, config, steps_per_epoch=None):
    """Compiles with the configured optimizer, the transformer's variables on a slower rate.

    `steps_per_epoch` is needed for `lr_decay="cosine"` (the schedule spans all epochs).
    """
    lr = config.learning_rate
    accumulation = config.gradient_accumulation_steps
    if config.lr_decay == "cosine" and steps_per_epoch:  # the schedule counts weight updates
        lr = keras.optimizers.schedules.CosineDecay(
            lr, config.epochs * steps_per_epoch // accumulation, alpha=0.01)
    accumulation = keras_accumulation(accumulation)
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(lr, gradient_accumulation_steps=accumulation)
    else:
        optimizer = keras.optimizers.SGD(lr, momentum=0.9, gradient_accumulation_steps=accumulation)
    if config.model == "st-cnn" and config.loc_lr_multiplier != 1.0:
        transformer = model.get_layer(TRANSFORMER_NAME)
        optimizer = with_lr_multiplier(optimizer, transformer.trainable_variables, config.loc_lr_multiplier)
    model.compile(optimizer=optimizer, **_loss_and_metrics())
    return model


def split_train_val(x, y, config):
    """The last `val_size` training images validate; the first `train_size` of the rest train."""
    if len(x) <= config.val_size:
        raise InputError(f"MNIST has {len(x)} training images, not more than val_size {config.val_size}")
    x_train, y_train = x[: len(x) - config.val_size], y[: len(x) - config.val_size]
    if config.train_size:
        x_train, y_train = x_train[: config.train_size], y_train[: config.train_size]
    return (x_train, y_train), (x[len(x) - config.val_size :], y[len(x) - config.val_size :])


def train_stn(config, data, out_dir, resume=False, max_seconds=None, verbose=1, extra_callbacks=(),
              allow_large=False, distribution=None):
    """Trains an ST-CNN or CNN on distorted MNIST and writes the run directory `out_dir`.

    Every setting is checked before anything is written.

    Args:
        config: `STNConfig` (`kerasrnn.training_configs`). When resuming, `epochs` and
            `learning_rate` may differ from the saved run's (the new ones are used and recorded
            in `config.json`); any other setting that differs is refused. To resume giving only
            some settings, pass a dict of them (e.g. `{"epochs": 20}`); the rest come from the
            run.
        data: `((x_train, y_train), (x_test, y_test))` as `mnist.load_mnist` returns.
        out_dir: Directory to write (see `kerasrnn.run_dir`).
        resume: Continue the run in `out_dir` from its last per-epoch backup.
        max_seconds: Stop after this much wall time (checked after each step); `None` or > 0.
        verbose: Keras progress bar setting.
        extra_callbacks: More Keras callbacks for `fit`.
        allow_large: Allow batches whose activations exceed `config_checks.LARGE_BYTES`.
        distribution: A `kerasrnn.train.distribution.Distribution` (default: one process).
            `config.batch_size` is the global batch, split over its replicas; each replica
            distorts only its own images. With several replicas validation runs on whole global
            batches (the last `val_size mod batch_size` images are left out); the test set is
            scored whole by the chief. Only the chief writes the run directory, other workers
            only their backups (`worker-<i>/`).

    Returns:
        The metrics dict also written to `out_dir/metrics.json` (`test_error_pct`, ...); its
        `history` covers every epoch of the run, resumed ones included.

    Raises:
        InputError: A bad setting (before anything is written), or training diverged.
    """
    check_max_seconds(max_seconds)
    dist, own, saved = prepare_run(distribution, out_dir, resume, RUN_FORMAT, max_seconds)
    out = pathlib.Path(out_dir)
    if saved is not None:
        config = resumed_settings(STNConfig, saved["training"],
                                  without_distribution(config), RESUMABLE)
    config.validate(allow_large, replicas=dist.replicas)
    config = record_distribution(config, saved, dist)
    keras.utils.set_random_seed(config.seed)
    (x, y), (x_test, y_test) = data
    (x_train, y_train), (x_val, y_val) = split_train_val(x, y, config)
    steps_per_epoch = len(x_train) // config.batch_size
    position, start_epoch, skip = epoch_run_start(dist, own, out_dir, resume, steps_per_epoch,
                                                  config.epochs, config.gradient_accumulation_steps)

    batch, distortion = config.batch_size, config.distortion
    whole_batches = dist.replicas > 1
    if whole_batches and len(x_val) < batch:
        raise InputError(f"val_size {len(x_val)} is less than one global batch ({batch}); with "
                         "several replicas validation runs on whole batches")
    train_ds = dist.dataset(lambda shard, shards: mnist.distorted_mnist_dataset(
        x_train, y_train, distortion, batch, config.seed, shuffle=True, epoch=start_epoch,
        repeat=True, drop_remainder=True, shard=shard, shards=shards).skip(skip))
    val_ds = dist.dataset(lambda shard, shards: mnist.distorted_mnist_dataset(
        x_val, y_val, distortion, batch, config.seed + 1, shuffle=False,
        drop_remainder=whole_batches, shard=shard, shards=shards))
    val_steps = len(x_val) // batch if whole_batches else math.ceil(len(x_val) / batch)
    test_ds = mnist.distorted_mnist_dataset(x_test, y_test, distortion, batch, TEST_SEED, shuffle=False)
    with dist.scope():
        model = compile_model(build_stn_classifier(**config.model_config()), config, steps_per_epoch)

    if dist.is_chief:
        out.mkdir(parents=True, exist_ok=True)
        if saved is None:
            run_dir.write_run_config(out, KIND, config.model_config(), dataclasses.asdict(config))
        else:
            run_dir.update_training_config(out, dataclasses.asdict(config))
    throughput = Throughput(batch)
    stopper = StopAfterSteps(config.epochs * steps_per_epoch, max_seconds)
    standard_callbacks, run_history = run_callbacks(own, steps_per_epoch, start_epoch=position.epoch,
                                                    learning_rate=config.learning_rate,
                                                    chief=dist.is_chief, distribution=dist)
    callbacks = [*standard_callbacks, stopper, throughput, *extra_callbacks,
                 EpochsOfSteps(steps_per_epoch)]
    model.fit(train_ds, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
              validation_data=val_ds, validation_steps=val_steps,
              callbacks=callbacks, verbose=verbose, shuffle=False)
    h = run_history.history
    losses = h.get("loss", [])

    final = build_stn_classifier(**config.model_config())
    final.set_weights(model.get_weights())
    test_loss, test_accuracy = None, None
    if dist.is_chief:  # scored outside the strategy by one process: every test image counts
        scorer = build_stn_classifier(**config.model_config())
        scorer.set_weights(model.get_weights())
        scorer.compile(**_loss_and_metrics())
        test_loss, test_accuracy = scorer.evaluate(test_ds, verbose=0)
    metrics = {
        "test_error_pct": 100.0 * (1.0 - test_accuracy) if test_accuracy is not None else None,
        "test_loss": test_loss,
        "val_error_pct": 100.0 * (1.0 - h["val_accuracy"][-1]) if h.get("val_accuracy") else None,
        "train_loss": losses[-1] if losses else None,
        "epochs": run_history.epochs,
        "steps": run_dir.steps_trained(model),
        "images_per_second": throughput.per_second,
        "train_seconds": throughput.seconds,
        "stopped_by_time_limit": stopper.stopped_by_time,
        "train_images": int(len(x_train)),
        "history": {k: [float(v) for v in vs] for k, vs in h.items()},
        "parameters": int(final.count_params()),
    }
    if dist.is_chief:
        run_dir.save_trained_model(out, final, metrics)
    return metrics
