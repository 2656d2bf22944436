"""Training DRAW on binarized MNIST: its `Task` for `kerasrnn.train.loop.train`.

The training images are binarized afresh every epoch (`data.draw_dataset`, dynamic); the last
`val_size` training images and the test set are binarized once with fixed seeds, as is every
glimpse's noise there, so scores compare run to run. The loss is the bound on the negative
log-likelihood in nats (`model.LOSSES`); the test score is that bound with sampled z, averaged
over the test images.
"""

import dataclasses
import math

import keras

from kerasrnn import run_dir
from kerasrnn.config_checks import keras_accumulation
from kerasrnn.data import mnist
from kerasrnn.errors import InputError
from kerasrnn.kinds.draw.config import KIND, RESUMABLE, RUN_FORMAT
from kerasrnn.kinds.draw.data import TEST_SEED, draw_dataset
from kerasrnn.kinds.draw.model import LOSSES, build_draw
from kerasrnn.train.loop import Data, Schedule, Task, train



def compile_model(model, config):
    """Adam with the gradient's global norm clipped to `clip`; the loss is the bound in nats."""
    optimizer = keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.clip,
                                      gradient_accumulation_steps=keras_accumulation(
                                          config.gradient_accumulation_steps))
    model.compile(optimizer=optimizer, loss=LOSSES)
    return model



def scored_dataset(images, config, seed, batch_size=None, shard=0, shards=1, drop_remainder=False):
    """Images binarized once and noise drawn once from `seed`: the same every epoch and run."""
    return draw_dataset(images, batch_size or config.batch_size, config.steps, config.latent_dim,
                        seed=seed, binarize="fixed", shuffle=False, drop_remainder=drop_remainder,
                        shard=shard, shards=shards)


class DRAWTask(Task):
    """DRAW's part of `kerasrnn.train.loop.train`: counted in epochs over the training images,
    scored by the bound on the test set's negative log-likelihood."""

    run_format = RUN_FORMAT
    resumable = RESUMABLE

    def __init__(self, data):
        self.data = data

    def validate(self, config, allow_large, replicas):
        config.validate(allow_large, replicas=replicas)

    def schedule(self, config, distribution):
        (x, _), (self.test_images, _) = self.data
        (self.train_images,), (self.val_images,) = mnist.held_out_split((x,), config.val_size,
                                                                         config.train_size)
        if distribution.replicas > 1 and len(self.val_images) < config.batch_size:
            raise InputError(f"val_size {len(self.val_images)} is less than one global batch "
                             f"({config.batch_size}); with several replicas validation runs on "
                             "whole batches")
        steps = len(self.train_images) // config.batch_size
        return Schedule(steps, config.epochs, config.epochs * steps)

    def build(self, config, distribution):
        return compile_model(build_draw(**config.model_config()), config)

    def datasets(self, config, distribution, start, model):
        whole = distribution.replicas > 1
        train_ds = distribution.dataset(lambda shard, shards: draw_dataset(
            self.train_images, config.batch_size, config.steps, config.latent_dim, config.seed,
            binarize="dynamic", shuffle=True, epoch=start.epoch, repeat=True,
            drop_remainder=True, shard=shard, shards=shards).skip(start.skip))
        val_ds = distribution.dataset(lambda shard, shards: scored_dataset(
            self.val_images, config, config.seed + 1, shard=shard, shards=shards,
            drop_remainder=whole))
        batches = len(self.val_images) / config.batch_size
        return Data(train_ds, val_ds, math.floor(batches) if whole else math.ceil(batches))

    def write_run(self, out_dir, config):
        run_dir.write_run_config(out_dir, KIND, config.model_config(), dataclasses.asdict(config))

    def final_model(self, config, model, distribution):
        final = build_draw(**config.model_config())
        final.set_weights(model.get_weights())
        return final

    def metrics(self, config, fitted, final, distribution):
        test = None
        if distribution.is_chief:  # scored by one process: every test image counts
            scorer = build_draw(**config.model_config())
            scorer.set_weights(fitted.model.get_weights())
            scorer.compile(loss=LOSSES)
            scores = scorer.evaluate(scored_dataset(self.test_images, config, TEST_SEED),
                                     verbose=0, return_dict=True)
            test = {"nll_bound": scores["loss"], "reconstruction": scores["canvas_loss"],
                    "kl": scores["kl_loss"]}
        h, common = fitted.history, fitted.common_metrics(final)
        return {
            "test_nll_bound_nats": test and test["nll_bound"],
            "test_reconstruction_nats": test and test["reconstruction"],
            "test_kl_nats": test and test["kl"],
            "val_nll_bound_nats": h["val_loss"][-1] if h.get("val_loss") else None,
            "binarization": "dynamic (training), fixed with a seed (validation, test)",
            "images_per_second": fitted.per_second,
            "train_images": int(len(self.train_images)),
            **common,
        }


def train_draw(config, data, out_dir, resume=False, max_seconds=None, verbose=1,
               extra_callbacks=(), allow_large=False, distribution=None):
    """Trains DRAW on binarized MNIST and writes the run directory `out_dir`.

    Every setting is checked before anything is written.

    Args:
        config: `DRAWConfig` (`config.py`); resuming, a dict of the settings given (`epochs`
            and `learning_rate` may change), the rest from the run.
        data: `((x_train, y_train), (x_test, y_test))` as `mnist.load_mnist` returns (the
            labels are not used).
        out_dir: Directory to write (see `kerasrnn.run_dir`).
        resume: Continue the run in `out_dir` from its last backup.
        max_seconds: Stop after this much wall time; `None` or > 0.
        verbose: Keras progress bar setting.
        extra_callbacks: More Keras callbacks for `fit`.
        allow_large: Allow settings above the memory estimates' limit.
        distribution: A `kerasrnn.train.distribution.Distribution` (default: one process);
            `config.batch_size` is the global batch.

    Returns:
        The metrics dict also written to `out_dir/metrics.json`: `test_nll_bound_nats` (the
        test set's bound, with sampled z), its two parts, `val_nll_bound_nats`, the history.

    Raises:
        InputError: A bad setting (before anything is written), or training diverged.
    """
    return train(DRAWTask(data), config, out_dir, resume=resume, distribution=distribution,
                 max_seconds=max_seconds, allow_large=allow_large, verbose=verbose,
                 extra_callbacks=extra_callbacks)
