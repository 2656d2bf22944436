"""Caption vocabulary: fixed special ids, min count, encode/decode, saving."""

import numpy as np

from kerasrnn.kinds.captioner.vocab import CaptionVocabulary, normalize_caption

CAPTIONS = ["A red circle.", "a blue square left of a red circle", "A red circle above a green Triangle!"]


def test_special_ids_and_order_by_count():
    vocab = CaptionVocabulary.from_captions(CAPTIONS)
    assert [vocab.id(t) for t in ("<pad>", "<unk>", "<start>", "<end>")] == [0, 1, 2, 3]
    assert vocab.words[:3] == ["a", "circle", "red"]  # 5, 3, 3 uses; ties alphabetical
    assert len(vocab) == 4 + len(vocab.words)


def test_min_count_sends_rare_words_to_unk():
    vocab = CaptionVocabulary.from_captions(CAPTIONS, min_count=2)
    assert vocab.words == ["a", "circle", "red"]
    ids = vocab.encode(["a green circle"], max_length=5)[0]
    np.testing.assert_array_equal(ids, [2, vocab.id("a"), 1, vocab.id("circle"), 3, 0, 0])


def test_encode_decode_round_trip_and_truncation(tmp_path):
    vocab = CaptionVocabulary.from_captions(CAPTIONS)
    ids = vocab.encode(CAPTIONS, max_length=8)
    assert ids.shape == (3, 10) and ids.dtype == np.int32
    assert [vocab.decode(row) for row in ids] == [normalize_caption(c) for c in CAPTIONS]
    short = vocab.encode(["a blue square left of a red circle"], max_length=3)[0]
    assert vocab.decode(short) == "a blue square" and short[-1] == 3
    vocab.save(tmp_path)
    again = CaptionVocabulary.load(tmp_path)
    np.testing.assert_array_equal(again.encode(CAPTIONS, 8), ids)


def test_normalize_caption():
    assert normalize_caption("  A Dog's  toy, RED!  ") == "a dog's toy red"
