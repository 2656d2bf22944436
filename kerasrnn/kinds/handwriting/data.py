"""Handwriting synthesis's batches: lines of pen offsets and their texts, as the training model
(`model.build_handwriting`) reads them.

`LineArrays.from_lines` normalises every line with a `strokes.StrokeScale` (fitted on the
training lines, `StrokeScale.from_lines`, and kept in the run directory:
`trained.SCALE_FILE`), encodes its text with a `strokes.Alphabet` and pads both, lines to the longest line and texts to the
model's `text_length`. `handwriting_dataset` batches them with `kerasrnn.data.epochs.
epoch_batches` (the order shuffled by (seed, epoch), a replica making only its rows of each
global batch) and cuts each batch to its own longest line.

A line of N points gives the input points 0..N-2 and the targets 1..N-1 with a point mask
and the loss's weight (`model`'s module docstring). The weight is worked out on the whole global
batch before a replica takes its rows, so that the loss is the global batch's nats per point on
any number of replicas.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from kerasrnn.data.epochs import epoch_batches
from kerasrnn.errors import InputError
from kerasrnn.layers.handwriting_cell import PADDING_ID, POINT_SIZE


@dataclasses.dataclass
class LineArrays:
    """Lines as padded arrays.

    Attributes:
        points: float32 `(N, P, 3)`: each line's normalised offsets, zeros past its end (P the
            longest line's points).
        lengths: int32 `(N,)`: each line's points.
        ids: int32 `(N, U)`: each text's ids, `PADDING_ID` (-1) past its end.
    """

    points: np.ndarray
    lengths: np.ndarray
    ids: np.ndarray

    @classmethod
    def from_lines(cls, texts, offsets, scale, alphabet, text_length):
        """Normalised, encoded and padded lines.

        Args:
            texts: N strings of at most `text_length` characters.
            offsets: N float `(N_i, 3)` offsets (not normalised), N_i >= 2.
            scale: The `StrokeScale` to normalise with.
            alphabet: The `Alphabet` to encode with (characters outside it: the unknown id).
            text_length: U, the texts' padded length.
        """
        if len(texts) != len(offsets) or not texts:
            raise InputError(f"lines need as many texts as offsets, at least one; got "
                             f"{len(texts)} texts and {len(offsets)} offsets")
        lengths = np.array([len(o) for o in offsets], np.int32)
        if lengths.min() < 2:
            raise InputError("every line needs at least 2 points (one to read, one to predict)")
        longest_text = max(len(t) for t in texts)
        if longest_text > text_length:
            raise InputError(f"a text has {longest_text} characters, above the model's "
                             f"{text_length}")
        points = np.zeros((len(texts), lengths.max(), POINT_SIZE), np.float32)
        ids = np.full((len(texts), text_length), PADDING_ID, np.int32)
        for i, (text, line) in enumerate(zip(texts, offsets)):
            points[i, :len(line)] = scale.normalise(line)
            ids[i, :len(text)] = alphabet.encode(text)
        return cls(points, lengths, ids)

    def __len__(self):
        return len(self.lengths)


def handwriting_dataset(lines, batch_size, seed=0, shuffle=True, epoch=0, repeat=False,
                        drop_remainder=False, shard=0, shards=1):
    """Batches for the training model.

    Args:
        lines: `LineArrays`.
        batch_size: Lines per (global) batch B.
        seed: Integer seed of the order.
        shuffle, epoch, repeat, drop_remainder, shard, shards: as `epochs.epoch_batches`.

    Returns:
        `tf.data.Dataset` of `({"strokes": (b, T, 3), "text": (b, U)}, targets (b, T, 5))`,
        b = B / shards, T the batch's longest line's points less one: the input points, and
        the next points with the point mask and the loss weight, the mask times the global
        batch's lines over its real points (`model.handwriting_loss` reads them).
    """
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    points, lengths, ids = (tf.constant(a) for a in (lines.points, lines.lengths, lines.ids))
    order_key = tf.constant([seed, 21], tf.int64)

    def one_line(unused_epoch, i):
        return points[i], lengths[i], ids[i]

    def lines_per_point(rows):
        """The global batch's lines over its predicted points (before it is sharded)."""
        predicted = tf.reduce_sum(tf.gather(lengths, rows) - 1)
        return tf.cast(tf.size(rows), tf.float32) / tf.cast(tf.maximum(predicted, 1), tf.float32)

    def finish(batch_points, batch_lengths, batch_ids, scale):
        steps = tf.reduce_max(batch_lengths) - 1
        mask = tf.cast(tf.range(steps)[None, :] < batch_lengths[:, None] - 1, tf.float32)
        targets = tf.concat([batch_points[:, 1:steps + 1], mask[:, :, None],
                             mask[:, :, None] * scale], axis=-1)
        return {"strokes": batch_points[:, :steps], "text": batch_ids}, targets

    return epoch_batches(len(lines), one_line, batch_size, order_key, shuffle, epoch, repeat,
                         drop_remainder, finish_batch=finish, shard=shard, shards=shards,
                         global_total=lines_per_point)
