"""Training handwriting synthesis: its `Task` for `kerasrnn.train.loop.train`.

The run is counted in steps (`steps` batches); a Keras epoch is one pass over the training
lines, in an order shuffled by (seed, epoch), after which the held-out lines are scored and the
run backed up. The lines come from `sources.load_lines`: `train_lines` of the training split
and `val_lines` of the held-out split (texts never trained on). The stroke scale is fitted on
the training lines (a resumed run keeps its own) and written to the run directory.

Optimizer: Adam with the gradient's global norm clipped to `clip` (the paper clipped the
output's and the LSTMs' derivatives element-wise instead). The loss is nats per point pooled
over the batch (`model.handwriting_loss`); the scores are nats per point and per line.
"""

import dataclasses
import math

import keras
import numpy as np

from kerasrnn import run_dir
from kerasrnn.config_checks import check_accumulation, keras_accumulation
from kerasrnn.errors import InputError
from kerasrnn.kinds.handwriting.config import KIND, RESUMABLE, RUN_FORMAT, SYNTHETIC_LINES
from kerasrnn.kinds.handwriting.data import LineArrays, handwriting_dataset
from kerasrnn.kinds.handwriting.model import (NatsPerLine, NatsPerPoint, build_handwriting,
                                              handwriting_loss)
from kerasrnn.kinds.handwriting.sources import load_lines
from kerasrnn.kinds.handwriting.strokes import Alphabet, StrokeScale
from kerasrnn.kinds.handwriting.trained import read_scale, write_scale
from kerasrnn.train.loop import Data, Schedule, Task, train


def compile_model(model, config=None):
    """`model` compiled with the loss and both scores; with `config`, also with Adam (learning
    rate, global-norm clip, gradient accumulation) for training."""
    optimizer = None
    if config is not None:
        optimizer = keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.clip,
                                          gradient_accumulation_steps=keras_accumulation(
                                              config.gradient_accumulation_steps))
    model.compile(optimizer=optimizer, loss=handwriting_loss,
                  metrics=[NatsPerPoint(), NatsPerLine()])
    return model


def handwriting_lines(config):
    """`(training lines, held-out lines)` (`sources.HandwritingLines`) of `config`'s source."""
    count = config.train_lines or (SYNTHETIC_LINES if config.source == "synthetic" else None)
    read = (dict(seed=config.seed, styles=config.styles) if config.source == "synthetic"
            else dict(data_dir=config.data_dir))
    return (load_lines(config.source, "train", count, **read),
            load_lines(config.source, "held_out", config.val_lines, **read))


class HandwritingTask(Task):
    """Handwriting synthesis's part of `kerasrnn.train.loop.train`: counted in steps, a pass
    over the training lines an epoch, scored in nats per point and per line on held-out lines."""

    run_format = RUN_FORMAT
    resumable = RESUMABLE
    divergence_hint = "lower learning_rate or clip"

    def __init__(self, data=None):
        self.data = data

    def read_run(self, config, saved, out_dir):
        self.scale = read_scale(out_dir) if saved is not None else None

    def validate(self, config, allow_large, replicas):
        config.validate(allow_large, replicas=replicas)

    def schedule(self, config, distribution):
        train_lines, val_lines = self.data if self.data is not None else handwriting_lines(config)
        if len(train_lines.texts) < config.batch_size:
            raise InputError(f"the source gives {len(train_lines.texts)} training lines "
                             f"({train_lines.dropped} left out), fewer than one batch "
                             f"(batch_size {config.batch_size})")
        if not val_lines.texts:
            raise InputError("the source gives no held-out lines to score; check data_dir")
        if distribution.replicas > 1 and len(val_lines.texts) < config.batch_size:
            raise InputError(f"val_lines {len(val_lines.texts)} is less than one global batch "
                             f"({config.batch_size}); with several replicas validation runs on "
                             "whole batches")
        if self.scale is None:
            self.scale = StrokeScale.from_lines(train_lines.offsets)
        model = config.model_config()
        alphabet = Alphabet(model["alphabet"])
        self.train_arrays, self.val_arrays = (
            LineArrays.from_lines(lines.texts, lines.offsets, self.scale, alphabet,
                                  model["text_length"]) for lines in (train_lines, val_lines))
        self.dropped = train_lines.dropped + val_lines.dropped
        steps_per_epoch = len(self.train_arrays) // config.batch_size
        check_accumulation(config.gradient_accumulation_steps, steps_per_epoch,
                           "a pass over the training lines")
        return Schedule(steps_per_epoch, math.ceil(config.steps / steps_per_epoch), config.steps,
                        in_steps=True)

    def build(self, config, distribution):
        return compile_model(build_handwriting(**config.model_config()), config)

    def _val_dataset(self, config, shard=0, shards=1):
        return handwriting_dataset(self.val_arrays, config.batch_size, config.seed, shuffle=False,
                                   drop_remainder=shards > 1, shard=shard, shards=shards)

    def datasets(self, config, distribution, start, model):
        whole = distribution.replicas > 1
        train_ds = distribution.dataset(lambda shard, shards: handwriting_dataset(
            self.train_arrays, config.batch_size, config.seed, shuffle=True, epoch=start.epoch,
            repeat=True, drop_remainder=True, shard=shard, shards=shards).skip(start.skip))
        val_ds = distribution.dataset(lambda shard, shards: self._val_dataset(
            config, shard, shards))
        batches = len(self.val_arrays) / config.batch_size
        return Data(train_ds, val_ds, math.floor(batches) if whole else math.ceil(batches))

    def write_run(self, out_dir, config):
        run_dir.write_run_config(out_dir, KIND, config.model_config(), dataclasses.asdict(config))
        write_scale(out_dir, self.scale)

    def final_model(self, config, model, distribution):
        final = build_handwriting(**config.model_config())
        final.set_weights(model.get_weights())
        return final

    def metrics(self, config, fitted, final, distribution):
        held_out = None
        if distribution.is_chief:  # scored by one process: every held-out line counts
            scorer = compile_model(build_handwriting(**config.model_config()))
            scorer.set_weights(fitted.model.get_weights())
            held_out = scorer.evaluate(self._val_dataset(config), verbose=0, return_dict=True)
        points_per_line = float(np.mean(self.train_arrays.lengths - 1))  # predicted points
        lines_per_second = fitted.per_second
        return {
            "val_nats_per_point": held_out and held_out["nats_per_point"],
            "val_nats_per_line": held_out and held_out["nats_per_line"],
            "lines_per_second": lines_per_second,
            "points_per_second": (lines_per_second * points_per_line
                                  if lines_per_second is not None else None),
            "train_lines": len(self.train_arrays),
            "val_lines": len(self.val_arrays),
            "dropped_lines": int(self.dropped),
            "stroke_scale": self.scale.as_dict(),
            **fitted.common_metrics(final),
        }


def train_handwriting(config, data, out_dir, resume=False, max_seconds=None, verbose=1,
                      extra_callbacks=(), allow_large=False, distribution=None):
    """Trains handwriting synthesis and writes the run directory `out_dir`.

    Every setting is checked before anything is written.

    Args:
        config: `HandwritingConfig` (`config.py`); resuming, a dict of the settings given
            (`steps` and `learning_rate` may change), the rest from the run.
        data: `(training lines, held-out lines)`, each a `sources.HandwritingLines` (offsets
            not normalised), or None: read from `config`'s `source`.
        out_dir: Directory to write (see `kerasrnn.run_dir`).
        resume: Continue the run in `out_dir` from its last backup.
        max_seconds: Stop after this much wall time; `None` or > 0.
        verbose: Keras progress bar setting.
        extra_callbacks: More Keras callbacks for `fit`.
        allow_large: Allow settings above the memory estimates' limit.
        distribution: A `kerasrnn.train.distribution.Distribution` (default: one process);
            `config.batch_size` is the global batch.

    Returns:
        The metrics dict also written to `out_dir/metrics.json`: `val_nats_per_point` and
        `val_nats_per_line` (the held-out lines, scored by the final model), `train_loss`
        (nats per point), `lines_per_second` and `points_per_second` (lines a second times the
        training lines' mean predicted points), the history.

    Raises:
        InputError: A bad setting (before anything is written), or training diverged.
    """
    return train(HandwritingTask(data), config, out_dir, resume=resume, distribution=distribution,
                 max_seconds=max_seconds, allow_large=allow_large, verbose=verbose,
                 extra_callbacks=extra_callbacks)
