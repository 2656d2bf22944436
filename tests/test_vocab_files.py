"""Both vocabularies' `vocab.json` through one reader and writer (`kerasrnn.vocab_files`): the
files kerasrnn 0.1 wrote load and are written again byte for byte, and each kind of damage is
named in the same words as before."""

import json
import pathlib

import pytest

from kerasrnn.files import JSON_MAX_BYTES, FileError
from kerasrnn.kinds.captioner.vocab import SPECIAL_TOKENS, CaptionVocabulary
from kerasrnn.kinds.char_rnn.text import Vocabulary

RUNS = pathlib.Path(__file__).resolve().parent / "fixtures" / "v0.1-2026-12" / "run_dirs"


@pytest.mark.parametrize("run, vocabulary", [("char-finished", Vocabulary),
                                             ("captioner-finished", CaptionVocabulary)])
def test_a_0_1_vocabulary_loads_and_is_written_again_byte_for_byte(run, vocabulary, tmp_path):
    stored = (RUNS / run / "vocab.json").read_bytes()
    written = vocabulary.load(RUNS / run).save(tmp_path)
    assert written == tmp_path / "vocab.json" and written.read_bytes() == stored


def test_a_vocabulary_with_characters_beyond_ascii_is_written_as_before(tmp_path):
    Vocabulary(["é", "\n", "€"]).save(tmp_path)
    assert (tmp_path / "vocab.json").read_bytes() == b'{"chars": ["\\u00e9", "\\n", "\\u20ac"]}'
    assert Vocabulary.load(tmp_path).chars == ["é", "\n", "€"]


CHAR_DAMAGE = [
    ([1, 2], "the file is a list, not an object"),
    ({}, "no chars list"),
    ({"chars": "ab"}, "chars is a string, not a list"),
    ({"chars": []}, "chars is empty"),
    ({"chars": ["a", "bc"]}, "entry 'bc' is not a single character"),
    ({"chars": ["a", 1]}, "entry 1 is not a single character"),
    ({"chars": ["a", "b", "a"]}, "duplicate character 'a'"),
]
CAPTION_DAMAGE = [
    ("x", "the file is a string, not an object"),
    ({"words": ["a"]}, "special is None, not ['<pad>', '<unk>', '<start>', '<end>']"),
    ({"special": ["<pad>"], "words": []}, "special is ['<pad>'], not ['<pad>', '<unk>', '<start>', '<end>']"),
    ({"special": list(SPECIAL_TOKENS)}, "no words list"),
    ({"special": list(SPECIAL_TOKENS), "words": {}}, "words is an object, not a list"),
    ({"special": list(SPECIAL_TOKENS), "words": ["a", "b c"]}, "word 'b c' is not a non-empty string without spaces"),
    ({"special": list(SPECIAL_TOKENS), "words": [""]}, "word '' is not a non-empty string without spaces"),
    ({"special": list(SPECIAL_TOKENS), "words": ["a", "<end>"]}, "word '<end>' is a special token"),
    ({"special": list(SPECIAL_TOKENS), "words": ["a", "b", "a"]}, "duplicate word 'a'"),
]


@pytest.mark.parametrize("vocabulary, content, what",
                         [(Vocabulary, c, w) for c, w in CHAR_DAMAGE] +
                         [(CaptionVocabulary, c, w) for c, w in CAPTION_DAMAGE])
def test_a_damaged_vocabulary_is_named(vocabulary, content, what, tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps(content))
    with pytest.raises(FileError) as raised:
        vocabulary.load(tmp_path)
    assert str(raised.value) == f"{tmp_path / 'vocab.json'} is damaged ({what}); retrain or restore the file"


def test_an_empty_caption_vocabulary_loads(tmp_path):
    CaptionVocabulary([]).save(tmp_path)
    assert CaptionVocabulary.load(tmp_path).words == []


@pytest.mark.parametrize("vocabulary", [Vocabulary, CaptionVocabulary])
def test_a_missing_or_oversized_vocabulary_is_refused(vocabulary, tmp_path):
    path = tmp_path / "vocab.json"
    with pytest.raises(FileError) as raised:
        vocabulary.load(tmp_path)
    assert str(raised.value) == f"{path} is missing; retrain or restore the file"
    with open(path, "wb") as f:  # sparse: 16 MiB + 1 byte, never read
        f.truncate(JSON_MAX_BYTES + 1)
    with pytest.raises(FileError) as raised:
        vocabulary.load(tmp_path)
    assert str(raised.value) == (f"{path} is damaged ({JSON_MAX_BYTES + 1:,} bytes or more, above the "
                                 f"{JSON_MAX_BYTES:,} such a file may hold); retrain or restore the file")
