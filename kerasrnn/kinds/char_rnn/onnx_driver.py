"""Text generation without TensorFlow: the exported char `step.onnx`, ONNX Runtime and numpy.

`export/export_model.py` writes `onnx/step.onnx` (tokens `(B, T)` int32 and the states
`state_<layer>_<i>` `(B, H)` float32 -> `logits` `(B, T, V)` and `next_state_<layer>_<i>`) and
`onnx/vocab.json` (the characters in id order) into a model version. `CharGenerator` runs the
generation loop over them with `kerasrnn.kinds.char_rnn.token_choice.choose_next`, the rule `sampling` uses
(temperature, top-k, argmax at temperature 0, inverse-CDF sampling), so a user with only numpy
and onnxruntime gets the text the SavedModel's `generate` signature gives:

    from kerasrnn.kinds.char_rnn.onnx_driver import CharGenerator
    gen = CharGenerator("saved_models/shakespeare/1/onnx")
    print(gen.generate("ROMEO:", 200, temperature=0.8, top_k=20, seed=1))

Randomness: the uniform number that picks generated character `g` of a request with seed `s` is
`counter_uniform(s, g)`, the `g`-th output of splitmix64 seeded with `s` (53 bits, float64). It
depends on nothing else (not on the batch, the machine or the runtime), and the SavedModel
computes the same numbers in its graph, so the same seed gives the same text here, in TF
Serving and in `verify.py`'s Keras-side loop. (`training/sample_char_rnn.py` draws from
numpy's PCG64 instead: its text for a seed is equally reproducible, but a different text.)

The export's request limits (`onnx/limits.json`, `limits.CharLimits`) hold here as in
the SavedModel, with the same rules (`check_request`): a prime, length or token batch over them
raises `InputError` naming the limit, and so do token ids outside the vocabulary, a temperature
that is negative or not finite as float32 (1e300 is float32 infinity), a top_k that is not an
int32 >= 0 and a seed that is not an int64. A prime is text or UTF-8 bytes; its bytes are
checked against `max_prime_bytes` first, then its characters are counted as the code points the
SavedModel decodes (every invalid byte sequence one U+FFFD, a lone surrogate of text one U+FFFD,
as a browser's UTF-8 encoder writes it). A version exported before `max_prime_bytes` existed
has it `None` and does not check it. `step` with zero rows answers zero rows; with no token per
row it is refused, as in the SavedModel.

Requests the model cannot read exactly follow the SavedModel's documented fallbacks:
characters outside the vocabulary are skipped (their number is returned), and an empty prime
(or one with no known character) starts from `start_char(chars)`: a newline if the
vocabulary has one (the training scripts' default prime), else its first character.

This module imports only numpy and onnxruntime (and `kerasrnn.errors`, `request_limits`), never
Keras.
"""

import math
import pathlib
import re

import numpy as np

from kerasrnn.errors import InputError
from kerasrnn.export import version_files
from kerasrnn.export.counter_random import counter_uniform
from kerasrnn.export.request_limits import LIMITS_FILE
from kerasrnn.kinds.char_rnn.limits import CharLimits
from kerasrnn.kinds.char_rnn.token_choice import choose_next

STEP_FILE = "step.onnx"
VOCAB_FILE = "vocab.json"

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


INT32_MAX, INT64_MIN, INT64_MAX = 2**31 - 1, -(2**63), 2**63 - 1
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _float32(value):
    """`value` as the float32 a SavedModel request carries it (NaN for what is not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return np.float32(np.nan)
    with np.errstate(over="ignore"):
        try:
            return np.float32(value)
        except OverflowError:  # an int beyond float64
            return np.float32(np.inf)


def check_request(limits, prime, length, temperature, top_k, seed):
    """Checks one `generate` request by the SavedModel's rules; returns the prime as decoded text.

    Args:
        limits: The export's `CharLimits`.
        prime: str, or bytes of UTF-8 (invalid sequences become U+FFFD, as the SavedModel reads).
        length, temperature, top_k, seed: As `CharGenerator.generate` takes them.

    Returns:
        The prime as the code points the model is fed (before unknown characters are skipped).

    Raises:
        InputError: Naming the rule the request breaks.
    """
    if not _is_int(length) or not 0 <= length <= limits.max_length:
        raise InputError(f"length must be an integer between 0 and {limits.max_length} (max_length), "
                         f"got {length!r}")
    if not (np.isfinite(_float32(temperature)) and _float32(temperature) >= 0):
        raise InputError("temperature must be a finite number >= 0 in float32 (0 = argmax, at most "
                         f"3.4e38), got {temperature!r}")
    if not _is_int(top_k) or not 0 <= top_k <= INT32_MAX:
        raise InputError(f"top_k must be an integer >= 0 (0 = all) and at most {INT32_MAX}, got {top_k!r}")
    if not _is_int(seed) or not INT64_MIN <= seed <= INT64_MAX:
        raise InputError(f"seed must be an integer between {INT64_MIN} and {INT64_MAX} (int64), got {seed!r}")
    if not isinstance(prime, (str, bytes)):
        raise InputError(f"prime must be text or UTF-8 bytes, got {type(prime).__name__}")
    most = limits.max_prime_bytes
    if most is not None:
        # Every character is at least one byte: a longer text is refused before it is encoded.
        long_text = isinstance(prime, str) and len(prime) > most
        size = len(prime.encode("utf-8", "surrogatepass")) if isinstance(prime, str) and not long_text \
            else len(prime)
        if size > most:
            raise InputError(f"prime too long: at most {most} bytes of UTF-8 (max_prime_bytes), got "
                             f"{'at least ' if long_text else ''}{size}")
    text = prime.decode("utf-8", "replace") if isinstance(prime, bytes) else LONE_SURROGATE.sub("\ufffd", prime)
    if len(text) > limits.max_prime_length:
        raise InputError(f"prime too long: at most {limits.max_prime_length} characters "
                         f"(max_prime_length), got {len(text)}")
    if len(text) + length > limits.max_request_chars:
        raise InputError(f"request too large: rows x (longest prime + longest length) must be at most "
                         f"{limits.max_request_chars} (max_request_chars), got {len(text) + length}")
    return text


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
            InputError: ids outside the vocabulary, more rows or tokens than the limits allow, no
                token per row, or states of another shape. Zero rows give zero rows.
        """
        ids = np.asarray(ids)
        limits = self.limits
        if ids.ndim != 2:
            raise InputError(f"ids must have shape (rows, tokens), got {ids.shape}")
        if ids.shape[1] < 1:
            raise InputError(f"tokens must have at least one token per row; got shape {ids.shape}")
        if ids.shape[0] > limits.max_rows or ids.size > limits.max_step_tokens:
            raise InputError(f"too many tokens: at most {limits.max_rows} rows (max_rows) and "
                             f"{limits.max_step_tokens} rows x tokens (max_step_tokens); got {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.chars)):
            raise InputError(f"ids must be character ids between 0 and {len(self.chars) - 1}")
        if len(states) != len(self.state_inputs) or any(
                np.shape(s) != (ids.shape[0], i.shape[-1]) for i, s in zip(self.state_inputs, states)):
            raise InputError("states must be one (rows, H) array per state input, with one row per token "
                             f"row ({ids.shape[0]}); see zero_states")
        if ids.shape[0] == 0:  # answered with zero rows, as the SavedModel answers
            return (np.zeros((0, ids.shape[1], len(self.chars)), np.float32),
                    [np.zeros((0, i.shape[-1]), np.float32) for i in self.state_inputs])
        feed = {"tokens": ids.astype(np.int32)}
        feed.update({i.name: s for i, s in zip(self.state_inputs, states)})
        logits, *states = self.session.run(self.outputs, feed)
        return logits, states

    def generate(self, prime, length, temperature=1.0, top_k=0, seed=0):
        """Generates `length` characters after `prime` (the SavedModel's `generate`, one row).

        Args:
            prime: Text or UTF-8 bytes to start from (unknown characters skipped; empty:
                `start_char`).
            length: Number of characters to generate (>= 0).
            temperature: 0 = argmax; > 0 samples (rounded to float32, as the SavedModel reads it).
            top_k: Sample among the k likeliest characters (0 = all).
            seed: int64 seed; the same seed gives the same text.

        Raises:
            InputError: A request the SavedModel refuses too (`check_request`).

        Returns:
            The generated text, without the prime.
        """
        prime = check_request(self.limits, prime, length, temperature, top_k, seed)
        ids, _ = prime_ids(self.chars, prime)

        def feed(ids, states):
            # A prime may be longer than one `step` request may be (max_step_tokens): in pieces.
            for start in range(0, ids.shape[1], self.limits.max_step_tokens):
                logits, states = self.step(ids[:, start:start + self.limits.max_step_tokens], states)
            return logits, states

        out = sample_loop(feed, self.zero_states(1), ids, length, temperature, top_k, seed)
        return "".join(self.chars[i] for i in out)
