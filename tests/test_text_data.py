"""Text data: vocabulary, split, contiguous streams for truncated BPTT, shuffled windows, bad files."""

import numpy as np
import pytest

from kerasrnn.kinds.char_rnn.text import (Vocabulary, read_text_file, split_ids, stream_dataset,
                                window_dataset, windows_per_stream)
from kerasrnn.errors import InputError


def test_vocabulary_is_sorted_round_trips_and_saves(tmp_path):
    vocab = Vocabulary.from_text("hello world")
    assert vocab.chars == sorted(set("hello world"))
    np.testing.assert_array_equal(vocab.encode("hello"), [vocab.index[c] for c in "hello"])
    assert vocab.decode(vocab.encode("lol wed")) == "lol wed"
    vocab.save(tmp_path)
    assert Vocabulary.load(tmp_path).chars == vocab.chars


def test_unknown_characters_are_named():
    with pytest.raises(InputError, match="'XZ'"):
        Vocabulary.from_text("abc").encode("aXbZ")


def test_split_holds_out_the_tail():
    train, val = split_ids(np.arange(100), 0.1)
    np.testing.assert_array_equal(train, np.arange(90))
    np.testing.assert_array_equal(val, np.arange(90, 100))
    with pytest.raises(InputError):
        split_ids(np.arange(10), 1.0)


def test_streams_continue_from_batch_to_batch_and_wrap():
    ids = np.arange(1000, dtype=np.int32)
    B, T = 4, 10
    n_win = windows_per_stream(len(ids), B, T)
    batches = list(stream_dataset(ids, B, T).take(n_win + 1).as_numpy_iterator())
    x0, y0 = batches[0]
    assert x0.shape == y0.shape == (B, T)
    np.testing.assert_array_equal(y0, x0 + 1)  # targets are the next characters
    for (xa, _), (xb, _) in zip(batches[:n_win - 1], batches[1:n_win]):
        np.testing.assert_array_equal(xb[:, 0], xa[:, -1] + 1)  # row b continues row b
    np.testing.assert_array_equal(x0[:, 0], np.arange(B) * ((len(ids) - 1) // B))
    np.testing.assert_array_equal(batches[n_win][0], x0)  # wraps to the start


def test_streams_start_step_resumes_at_the_same_place():
    ids = np.arange(500, dtype=np.int32)
    full = list(stream_dataset(ids, 2, 5).take(7).as_numpy_iterator())
    resumed = list(stream_dataset(ids, 2, 5, start_step=4).take(3).as_numpy_iterator())
    for a, b in zip(full[4:], resumed):
        np.testing.assert_array_equal(a[0], b[0])


def test_windows_are_shuffled_deterministically_per_seed():
    ids = np.arange(2000, dtype=np.int32)
    a = next(iter(window_dataset(ids, 8, 10, seed=1)))[0].numpy()
    b = next(iter(window_dataset(ids, 8, 10, seed=1)))[0].numpy()
    c = next(iter(window_dataset(ids, 8, 10, seed=2)))[0].numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all(np.diff(a, axis=1) == 1)  # each row is a contiguous window
    assert len(set(a[:, 0] // 10)) > 1


def test_too_short_text_is_refused():
    with pytest.raises(InputError, match="needs 101"):
        stream_dataset(np.arange(50), 4, 25)


@pytest.mark.parametrize("content,encoding,message", [
    (None, "utf-8", "does not exist"),
    (b"  \n", "utf-8", "is empty"),
    (b"\x00\x01\x02binary\x00", "utf-8", "looks binary"),
    ("caf\u00e9".encode("latin-1"), "utf-8", "--encoding"),
    (b"text", "no-such-codec", "unknown encoding"),
])
def test_bad_text_files_give_actionable_errors(tmp_path, content, encoding, message):
    path = tmp_path / "input.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_text_file(path, encoding)


def test_latin1_reads_with_its_encoding(tmp_path):
    path = tmp_path / "input.txt"
    path.write_bytes("caf\u00e9".encode("latin-1"))
    assert read_text_file(path, "latin-1") == "caf\u00e9"
