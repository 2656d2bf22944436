"""Caption vocabulary: words <-> ids with `<pad>`, `<unk>`, `<start>`, `<end>`, on Keras's StringLookup.

Ids are fixed for the special tokens (`<pad>` 0, `<unk>` 1, `<start>` 2, `<end>` 3); the other
words follow by decreasing count (ties alphabetical), so the same captions always give the same
ids. The word list is saved with a model (`vocab.json`) and the lookups are Keras layers, so the
same mapping can run inside a served graph.
"""

import collections
import pathlib
import re

import keras
import numpy as np

from kerasrnn.vocab_files import read_vocab_list, write_vocab_file

PAD, UNK, START, END = "<pad>", "<unk>", "<start>", "<end>"
SPECIAL_TOKENS = (PAD, UNK, START, END)
_PUNCTUATION = re.compile(r"[^\w\s']+")


def normalize_caption(text):
    """Lower-cases, drops punctuation (keeps apostrophes) and collapses whitespace."""
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


class CaptionVocabulary:
    """Maps caption words to ids and back.

    Args:
        words: The non-special words, in id order (ids start at 4).
    """

    FILENAME = "vocab.json"

    def __init__(self, words):
        self.words = list(words)
        if set(self.words) & set(SPECIAL_TOKENS) or len(set(self.words)) != len(self.words):
            raise ValueError("CaptionVocabulary: words must be distinct and not special tokens")
        self._lookup = keras.layers.StringLookup(vocabulary=[START, END, *self.words],
                                                 mask_token=PAD, oov_token=UNK)
        self._inverse = keras.layers.StringLookup(vocabulary=[START, END, *self.words],
                                                  mask_token=PAD, oov_token=UNK, invert=True)

    @classmethod
    def from_captions(cls, captions, min_count=1):
        """Builds the vocabulary of the words used at least `min_count` times in `captions`."""
        counts = collections.Counter(w for c in captions for w in normalize_caption(c).split())
        kept = [w for w, n in counts.items() if n >= min_count and w not in SPECIAL_TOKENS]
        return cls(sorted(kept, key=lambda w: (-counts[w], w)))

    def __len__(self):
        return len(SPECIAL_TOKENS) + len(self.words)

    def id(self, token):
        """The id of one token (special tokens included)."""
        return int(self._lookup([token])[0])

    def encode(self, captions, max_length):
        """Captions -> `<start> w1 ... wn <end> <pad>...` ids.

        Args:
            captions: List of N strings.
            max_length: Words kept per caption (longer ones are cut; `<end>` always follows).

        Returns:
            int32 array `(N, max_length + 2)`.
        """
        words = [normalize_caption(c).split()[:max_length] for c in captions]
        flat = [w for ws in words for w in ws]
        ids = np.asarray(self._lookup(flat), np.int32) if flat else np.zeros(0, np.int32)  # one call
        out = np.zeros((len(captions), max_length + 2), np.int32)
        start, end, offset = self.id(START), self.id(END), 0
        for i, ws in enumerate(words):
            out[i, 0], out[i, len(ws) + 1] = start, end
            out[i, 1 : len(ws) + 1] = ids[offset : offset + len(ws)]
            offset += len(ws)
        return out

    def decode(self, ids):
        """Ids -> caption text, stopping at `<end>` and skipping `<pad>`/`<start>`."""
        words = []
        for token in np.asarray(self._inverse(np.asarray(ids, np.int64))).astype(str):
            if token == END:
                break
            if token not in (PAD, START):
                words.append(token)
        return " ".join(words)

    def save(self, directory):
        """Writes `vocab.json` (the word list) into `directory`, whole or not at all."""
        return write_vocab_file(pathlib.Path(directory) / self.FILENAME,
                                {"special": list(SPECIAL_TOKENS), "words": self.words})

    @classmethod
    def load(cls, directory):
        """Reads the `vocab.json` that `save` wrote.

        Raises:
            InputError: The file is missing or damaged (not JSON, other special tokens, a word
                that is not a non-empty string without spaces, a word twice); the message
                names it.
        """
        return cls(read_vocab_list(pathlib.Path(directory) / cls.FILENAME, "words", "word",
                                   _word_problem, fixed={"special": list(SPECIAL_TOKENS)}))


def _word_problem(word):
    if not isinstance(word, str) or not word or word != word.strip() or len(word.split()) != 1:
        return f"word {word!r} is not a non-empty string without spaces"
    if word in SPECIAL_TOKENS:
        return f"word {word!r} is a special token"
    return None
