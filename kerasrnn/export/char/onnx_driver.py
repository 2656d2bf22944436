"""Text generation without TensorFlow: the exported char `step.onnx`, ONNX Runtime and numpy.

`export/export_model.py` writes `onnx/step.onnx` (tokens `(B, T)` int32 and the states
`state_<layer>_<i>` `(B, H)` float32 -> `logits` `(B, T, V)` and `next_state_<layer>_<i>`) and
`onnx/vocab.json` (the characters in id order) into a model version. `CharGenerator` runs the
generation loop over them with `kerasrnn.models.token_choice.choose_next`, the rule `sampling` uses
(temperature, top-k, argmax at temperature 0, inverse-CDF sampling), so a user with only numpy
and onnxruntime gets the text the SavedModel's `generate` signature gives:

    from kerasrnn.export.char.onnx_driver import CharGenerator
    gen = CharGenerator("saved_models/shakespeare/1/onnx")
    print(gen.generate("ROMEO:", 200, temperature=0.8, top_k=20, seed=1))

Randomness: the uniform number that picks generated character `g` of a request with seed `s` is
`counter_uniform(s, g)`, the `g`-th output of splitmix64 seeded with `s` (53 bits, float64). It
depends on nothing else (not on the batch, the machine or the runtime), and the SavedModel
computes the same numbers in its graph, so the same seed gives the same text here, in TF
Serving and in `verify.py`'s Keras-side loop. (`training/sample_char_rnn.py` draws from
numpy's PCG64 instead: its text for a seed is equally reproducible, but a different text.)

The export's request limits (`onnx/limits.json`, `request_limits.CharLimits`) hold here as in
the SavedModel: a prime, length or token batch over them raises `InputError` naming the limit,
and so do token ids outside the vocabulary.

Requests the model cannot read exactly follow the SavedModel's documented fallbacks:
characters outside the vocabulary are skipped (their number is returned), and an empty prime
(or one with no known character) starts from `start_char(chars)`: a newline if the
vocabulary has one (the training scripts' default prime), else its first character.

This module imports only numpy and onnxruntime (and `kerasrnn.errors`, `request_limits`), never
Keras.
"""

import math
import pathlib

import numpy as np

from kerasrnn.errors import InputError
from kerasrnn.export import version_files
from kerasrnn.export.request_limits import LIMITS_FILE, CharLimits
from kerasrnn.models.token_choice import choose_next

STEP_FILE = "step.onnx"
VOCAB_FILE = "vocab.json"

# splitmix64 (Steele, Lea, Flood 2014; the seeding generator of xoshiro): the n-th output of
# the stream seeded with s is mix(s + (n + 1) * GOLDEN).
GOLDEN = 0x9E3779B97F4A7C15
MIX_1 = 0xBF58476D1CE4E5B9
MIX_2 = 0x94D049BB133111EB


def counter_uniform(seed, index):
    """Uniform numbers in [0, 1) that are a pure function of `(seed, index)`.

    Args:
        seed: int array (any shape) of int64 seeds.
        index: int array broadcastable with `seed`: which number of each seed's stream.

    Returns:
        float64 array: the top 53 bits of splitmix64's `index`-th output for `seed`, / 2**53.
    """
    u64 = np.uint64
    with np.errstate(over="ignore"):
        z = (np.asarray(seed, np.int64).astype(u64)
             + (np.asarray(index, np.int64).astype(u64) + u64(1)) * u64(GOLDEN))
        z = (z ^ (z >> u64(30))) * u64(MIX_1)
        z = (z ^ (z >> u64(27))) * u64(MIX_2)
        z = z ^ (z >> u64(31))
    return (z >> u64(11)).astype(np.float64) * 2.0**-53


class CounterRNG:
    """A stand-in for `numpy.random.Generator` in `choose_next`: draw `n` is `counter_uniform(seeds, n)`.

    Args:
        seeds: int seeds, one per batch row.
    """

    def __init__(self, seeds):
        self.seeds = np.asarray(seeds, np.int64).reshape(-1)
        self.draws = 0

    def random(self, shape):
        """The next uniform number of every row, shaped `shape` (`(B, 1)`)."""
        u = counter_uniform(self.seeds, self.draws).reshape(shape)
        self.draws += 1
        return u


def start_char(chars):
    """The character an empty prime starts from: a newline if the vocabulary has one, else its first."""
    return "\n" if "\n" in chars else chars[0]


def prime_ids(chars, prime):
    """A prime's ids with the serving fallbacks.

    Returns:
        `(ids, skipped)`: int32 ids of the prime's known characters (or of `start_char` if there
        are none) and the number of characters skipped because they are not in `chars`.
    """
    index = {c: i for i, c in enumerate(chars)}
    ids = [index[c] for c in prime if c in index]
    skipped = len(prime) - len(ids)
    if not ids:
        ids = [index[start_char(chars)]]
    return np.asarray(ids, np.int32), skipped


def sample_loop(step, states, ids, length, temperature=1.0, top_k=0, seed=0, choose=choose_next):
    """Feeds `ids` through `step`, then samples `length` tokens one at a time (batch of one).

    Args:
        step: `(ids (1, T) int32, states) -> (logits (1, T, V), states)`: an ONNX session, a
            Keras step model, anything.
        states: The initial states (list of `(1, H)` float32 arrays).
        ids: int array `(T,)`, the prime, T >= 1.
        length: Number of tokens to generate.
        temperature, top_k: See `choose_next`; `temperature` is rounded to float32 first, as
            the SavedModel's `generate` signature receives it.
        seed: int64 seed; generated token `g` is drawn with `counter_uniform(seed, g)`.
        choose: The sampling rule (`choose_next` here, Keras-side the sampling module's).

    Returns:
        list of `length` generated token ids.
    """
    temperature = float(np.float32(temperature))
    rng = CounterRNG([seed])
    ids = np.asarray(ids, np.int32)[None, :]
    out = []
    for _ in range(length):
        logits, states = step(ids, states)
        ids = np.asarray(choose(np.asarray(logits)[:, -1], temperature, top_k, rng),
                         np.int32).reshape(1, 1)
        out.append(int(ids[0, 0]))
    return out


class CharGenerator:
    """Generates text with ONNX Runtime from an exported char model's `onnx/` folder.

    Args:
        onnx_dir: The folder holding `step.onnx`, `vocab.json` and `limits.json` (a version's
            `onnx/`).
    """

    def __init__(self, onnx_dir):
        onnx_dir = pathlib.Path(onnx_dir)
        for name in (STEP_FILE, VOCAB_FILE, LIMITS_FILE):
            if not (onnx_dir / name).is_file():
                raise InputError(f"{onnx_dir} has no {name}; give the onnx/ folder of an "
                                 "exported char model version")
        self.chars = version_files.read_json(onnx_dir / VOCAB_FILE, {"chars": list})["chars"]
        if not self.chars or not all(isinstance(c, str) and len(c) == 1 for c in self.chars) \
                or len(set(self.chars)) != len(self.chars):
            raise InputError(f"{onnx_dir / VOCAB_FILE} is damaged (chars must be distinct single "
                             "characters); export the model again")
        self.limits = CharLimits.load(onnx_dir)
        self.session = version_files.session(onnx_dir / STEP_FILE)
        self.state_inputs = [i for i in self.session.get_inputs() if i.name != "tokens"]
        self.outputs = ["logits"] + ["next_" + i.name for i in self.state_inputs]

    def zero_states(self, batch_size):
        """Zero initial states: a float32 `(B, H)` array per state input."""
        return [np.zeros((batch_size, i.shape[-1]), np.float32) for i in self.state_inputs]

    def step(self, ids, states):
        """One call of `step.onnx`: ids `(B, T)` and states -> `(logits (B, T, V), states)`.

        Raises:
            InputError: ids outside the vocabulary, or more rows or tokens than the limits allow.
        """
        ids = np.asarray(ids)
        limits = self.limits
        if ids.ndim != 2:
            raise InputError(f"ids must have shape (rows, tokens), got {ids.shape}")
        if ids.shape[0] > limits.max_rows or ids.size > limits.max_step_tokens:
            raise InputError(f"too many tokens: at most {limits.max_rows} rows (max_rows) and "
                             f"{limits.max_step_tokens} rows x tokens (max_step_tokens); got {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.chars)):
            raise InputError(f"ids must be character ids between 0 and {len(self.chars) - 1}")
        feed = {"tokens": ids.astype(np.int32)}
        feed.update({i.name: s for i, s in zip(self.state_inputs, states)})
        logits, *states = self.session.run(self.outputs, feed)
        return logits, states

    def generate(self, prime, length, temperature=1.0, top_k=0, seed=0):
        """Generates `length` characters after `prime` (the SavedModel's `generate`, one row).

        Args:
            prime: Text to start from (unknown characters skipped; empty: `start_char`).
            length: Number of characters to generate (>= 0).
            temperature: 0 = argmax; > 0 samples (rounded to float32, as the SavedModel reads it).
            top_k: Sample among the k likeliest characters (0 = all).
            seed: int64 seed; the same seed gives the same text.

        Returns:
            The generated text, without the prime.
        """
        limits = self.limits
        if not 0 <= length <= limits.max_length:
            raise InputError(f"length must be between 0 and {limits.max_length} (max_length), got {length}")
        if not (temperature >= 0 and math.isfinite(temperature)) or top_k < 0:
            raise InputError("temperature must be finite and >= 0, and top_k >= 0")
        if len(prime) > limits.max_prime_length:
            raise InputError(f"prime too long: at most {limits.max_prime_length} characters "
                             f"(max_prime_length), got {len(prime)}")
        if len(prime) + length > limits.max_request_chars:
            raise InputError(f"request too large: prime + length must be at most "
                             f"{limits.max_request_chars} (max_request_chars), got {len(prime) + length}")
        ids, _ = prime_ids(self.chars, prime)
        out = sample_loop(self.step, self.zero_states(1), ids, length, temperature, top_k, seed)
        return "".join(self.chars[i] for i in out)
