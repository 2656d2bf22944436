"""Epoch-by-epoch `tf.data` batches whose order and content depend only on (seed, epoch, index).

Shared by the distorted-MNIST and captioning pipelines: a run that resumes at epoch k, or runs
with another batch size or parallelism, sees exactly the examples a run from scratch would.
"""

import math

import numpy as np
import tensorflow as tf

from kerasrnn.data.shards import shard_rows
from kerasrnn.errors import InputError


def epoch_batches(n, example, batch_size, order_key, shuffle=True, epoch=0, repeat=False,
                  drop_remainder=False, finish_batch=None, shard=0, shards=1, global_total=None):
    """Batches of `n` examples, one epoch after another, never straddling two epochs.

    Args:
        n: Number of examples per epoch.
        example: `(epoch, index) -> element`, both int64 scalar tensors (traced in `tf.data`).
        batch_size: Examples per batch.
        order_key: int64 `(2,)` stateless seed; epoch `e` visits the examples in the
            permutation `stateless_shuffle(range(n), fold_in(order_key, e))`.
        shuffle: Use that permutation (else the examples' order).
        epoch: The first epoch to draw.
        repeat: Go on with epochs `epoch + 1, ...` forever; otherwise stop after one epoch.
        drop_remainder: Drop each epoch's last, smaller batch.
        finish_batch: Optional function mapped over each batch (e.g. batched rendering).
        shard, shards: Make only this replica's rows of every global batch of `batch_size`
            (`kerasrnn.data.shards.shard_rows`): the examples are chosen before `example`
            runs, so a replica reads and decodes only its own share. Needs `drop_remainder`.
        global_total: Optional `(indices of the global batch, int64 (B,)) -> float32 scalar`,
            computed on the whole global batch before it is sharded (e.g. the batch's count of
            target words, for a loss normalised over the global batch); `finish_batch` then
            gets it, repeated per row, as its last argument.

    Returns:
        A prefetched `tf.data.Dataset` whose cardinality is stated (one epoch's batches, or
        infinite with `repeat`), so Keras's fit, evaluate and progress bar know its length.
    """
    if shards > 1 and not drop_remainder:
        raise InputError("sharded batches need drop_remainder: every replica must run the same steps")
    start, stop = shard_rows(batch_size, shard, shards)

    def mine(rows):
        """This shard's indices of a global batch, with the batch's total when one is asked."""
        if global_total is None:
            return rows[start:stop]
        total = tf.cast(global_total(rows), tf.float32)
        return rows[start:stop], tf.fill([tf.shape(rows[start:stop])[0]], total)

    def one_epoch(e):
        index = tf.range(n, dtype=tf.int64)
        if shuffle:
            key = tf.random.experimental.stateless_fold_in(order_key, e)
            index = tf.random.experimental.stateless_shuffle(index, seed=key)
        ds = tf.data.Dataset.from_tensor_slices(index)
        if shards > 1 or global_total is not None:
            ds = ds.batch(batch_size, drop_remainder=drop_remainder).map(mine).unbatch()
        if global_total is not None:
            ds = ds.map(lambda i, total: (*_as_tuple(example(e, i)), total),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:
            ds = ds.map(lambda i: example(e, i), num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True)
        ds = ds.batch(stop - start, drop_remainder=drop_remainder)
        if global_total is not None:
            ds = ds.map(lambda *batch: (*batch[:-1], batch[-1][0]))  # one total per batch
        if finish_batch is not None:
            ds = ds.map(finish_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds

    last = np.iinfo(np.int64).max if repeat else epoch + 1
    ds = tf.data.Dataset.range(epoch, last).flat_map(one_epoch)
    batches = n // batch_size if drop_remainder else math.ceil(n / batch_size)
    ds = ds.apply(tf.data.experimental.assert_cardinality(
        tf.data.INFINITE_CARDINALITY if repeat else batches))
    return ds.prefetch(tf.data.AUTOTUNE)


def _as_tuple(element):
    return element if isinstance(element, tuple) else (element,)
