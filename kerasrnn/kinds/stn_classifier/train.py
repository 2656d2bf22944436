"""Training the ST-CNN / CNN on distorted MNIST with `model.fit`: the logic behind train_stn.py.

The training images are distorted afresh every epoch (on the fly, seeded); the last
`val_size` training images, distorted once, are the validation set; the test set is distorted
once with a fixed seed (`TEST_SEED`) so every run is scored on the same images, as the paper
scores its fixed distorted test sets.
"""

import dataclasses
import math

import keras

from kerasrnn import run_dir
from kerasrnn.config_checks import keras_accumulation
from kerasrnn.data import mnist
from kerasrnn.errors import InputError
from kerasrnn.kinds.stn_classifier.config import KIND as STN_CLASSIFIER, RESUMABLE, RUN_FORMAT
from kerasrnn.kinds.stn_classifier.model import TRANSFORMER_NAME, build_stn_classifier
from kerasrnn.train.loop import Data, Schedule, Task, train
from kerasrnn.train.lr_multiplier import with_lr_multiplier

KIND = STN_CLASSIFIER
TEST_SEED = 2015


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



class STNTask(Task):
    """The ST-CNN / CNN's part of `kerasrnn.train.loop.train`: counted in epochs over the
    training images (distorted afresh every epoch), scored on the fixed distorted test set."""

    run_format = RUN_FORMAT
    resumable = RESUMABLE

    def __init__(self, data):
        self.data = data

    def validate(self, config, allow_large, replicas):
        config.validate(allow_large, replicas=replicas)

    def schedule(self, config, distribution):
        (x, y), self.test = self.data
        self.train_split, self.val_split = mnist.held_out_split((x, y), config.val_size,
                                                                 config.train_size)
        if distribution.replicas > 1 and len(self.val_split[0]) < config.batch_size:
            raise InputError(f"val_size {len(self.val_split[0])} is less than one global batch "
                             f"({config.batch_size}); with several replicas validation runs on "
                             "whole batches")
        self.steps_per_epoch = len(self.train_split[0]) // config.batch_size
        return Schedule(self.steps_per_epoch, config.epochs, config.epochs * self.steps_per_epoch)

    def build(self, config, distribution):
        return compile_model(build_stn_classifier(**config.model_config()), config,
                             self.steps_per_epoch)

    def datasets(self, config, distribution, start, model):
        (x_train, y_train), (x_val, y_val) = self.train_split, self.val_split
        batch, distortion = config.batch_size, config.distortion
        whole_batches = distribution.replicas > 1
        train_ds = distribution.dataset(lambda shard, shards: mnist.distorted_mnist_dataset(
            x_train, y_train, distortion, batch, config.seed, shuffle=True, epoch=start.epoch,
            repeat=True, drop_remainder=True, shard=shard, shards=shards).skip(start.skip))
        val_ds = distribution.dataset(lambda shard, shards: mnist.distorted_mnist_dataset(
            x_val, y_val, distortion, batch, config.seed + 1, shuffle=False,
            drop_remainder=whole_batches, shard=shard, shards=shards))
        val_steps = len(x_val) // batch if whole_batches else math.ceil(len(x_val) / batch)
        return Data(train_ds, val_ds, val_steps)

    def write_run(self, out_dir, config):
        run_dir.write_run_config(out_dir, KIND, config.model_config(), dataclasses.asdict(config))

    def final_model(self, config, model, distribution):
        final = build_stn_classifier(**config.model_config())
        final.set_weights(model.get_weights())
        return final

    def metrics(self, config, fitted, final, distribution):
        test_loss, test_accuracy = None, None
        if distribution.is_chief:  # scored outside the strategy by one process: every image counts
            x_test, y_test = self.test
            test_ds = mnist.distorted_mnist_dataset(x_test, y_test, config.distortion,
                                                    config.batch_size, TEST_SEED, shuffle=False)
            scorer = build_stn_classifier(**config.model_config())
            scorer.set_weights(fitted.model.get_weights())
            scorer.compile(**_loss_and_metrics())
            test_loss, test_accuracy = scorer.evaluate(test_ds, verbose=0)
        h, common = fitted.history, fitted.common_metrics(final)
        return {
            "test_error_pct": 100.0 * (1.0 - test_accuracy) if test_accuracy is not None else None,
            "test_loss": test_loss,
            "val_error_pct": 100.0 * (1.0 - h["val_accuracy"][-1]) if h.get("val_accuracy") else None,
            "train_loss": common.pop("train_loss"),
            "epochs": common.pop("epochs"),
            "steps": common.pop("steps"),
            "images_per_second": fitted.per_second,
            "train_seconds": common.pop("train_seconds"),
            "stopped_by_time_limit": common.pop("stopped_by_time_limit"),
            "train_images": int(len(self.train_split[0])),
            **common,
        }


def train_stn(config, data, out_dir, resume=False, max_seconds=None, verbose=1, extra_callbacks=(),
              allow_large=False, distribution=None):
    """Trains an ST-CNN or CNN on distorted MNIST and writes the run directory `out_dir`.

    Every setting is checked before anything is written.

    Args:
        config: `STNConfig` (`config.py`). When resuming, `epochs` and
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
    return train(STNTask(data), config, out_dir, resume=resume, distribution=distribution,
                 max_seconds=max_seconds, allow_large=allow_large, verbose=verbose,
                 extra_callbacks=extra_callbacks)
