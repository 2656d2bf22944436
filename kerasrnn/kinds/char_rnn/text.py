"""Character-level text data: vocabulary, train/validation split and truncated-BPTT batches.

Two ways to cut a text into training batches:

* `stream_dataset`: char-rnn's way. The text is cut into `batch_size` contiguous streams, and
  batch `s` holds window `s` of every stream, so row `b` of batch `s + 1` continues row `b` of
  batch `s`. A stateful RNN then carries its hidden state from one window to the next, and
  gradients are truncated at window boundaries (truncated BPTT).
* `window_dataset`: independent windows at random offsets, shuffled; the state starts at
  zero in every window.
"""

import pathlib

import numpy as np
import tensorflow as tf

from kerasrnn.data.shards import shard_rows
from kerasrnn.errors import InputError
from kerasrnn.vocab_files import read_vocab_list, write_vocab_file


def read_text_file(path, encoding="utf-8"):
    """Reads a training text, with errors a user can act on.

    Args:
        path: Text file to read.
        encoding: Its encoding (any name Python's `codecs` knows).

    Returns:
        The file's contents as `str`.

    Raises:
        InputError: Missing, empty, binary or wrongly-encoded file, or unknown encoding.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"text file {path} does not exist; give an existing text file")
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(f"text file {path} is empty; give a file with some text in it")
    if b"\x00" in raw[:65536] and encoding.lower().replace("-", "").replace("_", "") in ("utf8", "ascii"):
        raise InputError(
            f"{path} looks binary (it has NUL bytes), not text; give a text file, or its "
            "encoding with --encoding (for example --encoding utf-16)"
        )
    try:
        return raw.decode(encoding)
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}; use a Python codec name such as utf-8 or latin-1") from None
    except UnicodeDecodeError as e:
        raise InputError(
            f"{path} is not valid {encoding} (byte {e.start}); pass its encoding with "
            "--encoding, for example --encoding latin-1"
        ) from None


class Vocabulary:
    """A character vocabulary: sorted unique characters, each mapped to its index.

    Sorting (rather than min-char-rnn's `list(set(data))`) makes the ids the same on every
    run, so a saved model's vocabulary file is all sampling needs.

    Args:
        chars: The characters, in id order.
    """

    FILENAME = "vocab.json"

    def __init__(self, chars):
        self.chars = list(chars)
        if len(set(self.chars)) != len(self.chars) or any(len(c) != 1 for c in self.chars):
            raise ValueError("Vocabulary: `chars` must be distinct single characters.")
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text):
        """Builds the vocabulary of every character in `text`, sorted."""
        return cls(sorted(set(text)))

    def __len__(self):
        return len(self.chars)

    def unknown_chars(self, text):
        """Returns the sorted characters of `text` that are not in the vocabulary."""
        return sorted(set(text) - self.index.keys())

    def encode(self, text):
        """Maps a string to ids.

        Returns:
            int32 array `(len(text),)`.

        Raises:
            InputError: `text` has characters outside the vocabulary (they are named).
        """
        unknown = self.unknown_chars(text)
        if unknown:
            shown = "".join(unknown[:20])
            raise InputError(
                f"characters not in the model's vocabulary: {shown!r}; use only characters "
                "the model was trained on"
            )
        return np.fromiter((self.index[c] for c in text), dtype=np.int32, count=len(text))

    def decode(self, ids):
        """Maps a sequence of ids back to a string."""
        return "".join(self.chars[int(i)] for i in ids)

    def save(self, directory):
        """Writes `vocab.json` (the character list) into `directory`, whole or not at all."""
        return write_vocab_file(pathlib.Path(directory) / self.FILENAME, {"chars": self.chars})

    @classmethod
    def load(cls, directory):
        """Reads the `vocab.json` that `save` wrote in `directory`.

        Raises:
            InputError: The file is missing or damaged (not JSON, no `chars` list, an entry that
                is not one character, a character twice); the message names it.
        """
        return cls(read_vocab_list(pathlib.Path(directory) / cls.FILENAME, "chars", "character",
                                   _character_problem, empty_ok=False))


def _character_problem(entry):
    if not isinstance(entry, str) or len(entry) != 1:
        return f"entry {entry!r} is not a single character"
    return None


def split_ids(ids, val_fraction):
    """Splits an id array into a training head and a validation tail.

    Args:
        ids: int array `(N,)`.
        val_fraction: Share of the text, from the end, held out for validation (0 <= f < 1).

    Returns:
        `(train_ids, val_ids)`; `val_ids` is empty when `val_fraction` is 0.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    n_val = int(round(len(ids) * val_fraction))
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]


def windows_per_stream(num_ids, batch_size, seq_length):
    """Number of `seq_length` windows in each of `batch_size` streams cut from `num_ids` ids."""
    return (num_ids - 1) // batch_size // seq_length


def check_long_enough(num_ids, batch_size, seq_length, what="training text"):
    """Raises `InputError` unless the text fills one window per stream."""
    if windows_per_stream(num_ids, batch_size, seq_length) < 1:
        need = batch_size * seq_length + 1
        raise InputError(
            f"{what} has {num_ids} characters but one batch needs {need} "
            f"(batch {batch_size} x seq-length {seq_length} + 1); use a longer text or smaller "
            "--batch-size/--seq-length/--val-fraction"
        )


def _streams(ids, batch_size, seq_length):
    """Cuts `ids` into `batch_size` rows of `windows * seq_length + 1` ids (inputs + last target)."""
    n_win = windows_per_stream(len(ids), batch_size, seq_length)
    stream_len = n_win * seq_length
    stride = (len(ids) - 1) // batch_size
    rows = [ids[b * stride : b * stride + stream_len + 1] for b in range(batch_size)]
    return np.stack(rows).astype(np.int32), n_win


def stream_dataset(ids, batch_size, seq_length, start_step=0, repeat=True, shard=0, shards=1):
    """Contiguous-stream batches for stateful truncated BPTT (char-rnn's layout).

    Batch `s` holds window `s mod W` of every stream, `W = windows_per_stream(...)`.

    Args:
        ids: int array `(N,)` of the text.
        batch_size: Number of streams B (the global batch).
        seq_length: Window length T.
        start_step: Index of the first batch (to resume mid-run at the same place).
        repeat: Cycle through the streams forever (True) or once.
        shard, shards: Yield only this replica's streams of the global batch
            (`kerasrnn.data.shards.shard_rows`).

    Returns:
        `tf.data.Dataset` of `(inputs, targets)`, both int32 `(B / shards, T)`; targets are the
        inputs shifted by one character.
    """
    check_long_enough(len(ids), batch_size, seq_length)
    start, stop = shard_rows(batch_size, shard, shards)
    streams, n_win = _streams(ids, batch_size, seq_length)
    streams = tf.constant(streams[start:stop])
    rows = stop - start
    steps = tf.data.Dataset.range(start_step, start_step + n_win) if not repeat else (
        tf.data.Dataset.range(start_step, np.iinfo(np.int64).max)
    )

    def window(step):
        begin = tf.cast(step % n_win, tf.int32) * seq_length
        chunk = tf.reshape(streams[:, begin : begin + seq_length + 1], (rows, seq_length + 1))
        return chunk[:, :-1], chunk[:, 1:]

    return steps.map(window, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def window_dataset(ids, batch_size, seq_length, seed=0, repeat=True, start_step=0, shard=0, shards=1):
    """Independent windows at shuffled offsets (state starts at zero in each window).

    The text is cut into non-overlapping windows at a random phase, and the windows are
    shuffled every pass, both from `seed`.

    Args:
        start_step: Index of the first batch (to resume mid-run at the same place).
        shard, shards: Yield only this replica's rows of each global batch of `batch_size`
            windows (`kerasrnn.data.shards.shard_rows`).

    Returns:
        `tf.data.Dataset` of `(inputs, targets)`, int32 `(B / shards, T)`.
    """
    check_long_enough(len(ids), batch_size, seq_length)
    start, stop = shard_rows(batch_size, shard, shards)
    n_win = (len(ids) - 1) // seq_length
    phase = int(np.random.default_rng(seed).integers(0, (len(ids) - 1) - n_win * seq_length + 1))
    chunks = np.stack([ids[phase + i * seq_length : phase + (i + 1) * seq_length + 1] for i in range(n_win)])
    ds = tf.data.Dataset.from_tensor_slices(chunks.astype(np.int32))
    ds = ds.shuffle(n_win, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=True).skip(start_step)
    return ds.map(lambda c: (c[start:stop, :-1], c[start:stop, 1:])).prefetch(tf.data.AUTOTUNE)
