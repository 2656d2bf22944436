"""Text generation from a char model: temperature, top-k, argmax, all seeded.

Sampling runs a `with_state` model (see `build_char_rnn(..., with_state=True)`) one character
at a time, carrying the recurrent state, as min-char-rnn's `sample` does.
"""

import math
import numbers

import numpy as np

from kerasrnn.errors import InputError
from kerasrnn.kinds.char_rnn.model import zero_states
from kerasrnn.kinds.char_rnn.token_choice import choose_next  # noqa: F401 (part of this module's API)

MAX_LENGTH = 1_000_000  # characters one call may generate


def _check_int(name, value, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if value < 0 or (high is not None and value > high):
        bound = ">= 0" if high is None else f"between 0 and {high:,}"
        raise InputError(f"{name} must be {bound}, got {value}")


def check_arguments(prime, length, temperature=1.0, top_k=0, seed=None):
    """Raises `InputError` naming the first bad `generate` argument (the model not needed)."""
    if not isinstance(prime, str) or not prime:
        raise InputError("prime must have at least one character")
    _check_int("length", length, MAX_LENGTH)
    if (isinstance(temperature, bool) or not isinstance(temperature, numbers.Real)
            or not math.isfinite(temperature) or temperature < 0):
        raise InputError(f"temperature must be finite and >= 0, got {temperature!r}")
    _check_int("top_k", top_k)
    if seed is not None:
        _check_int("seed", seed, 2**64 - 1)


def generate(step_model, vocab, prime, length, temperature=1.0, top_k=0, seed=None):
    """Feeds `prime` through the model, then samples `length` more characters.

    Args:
        step_model: A `with_state` char model: `[ids (B, T), *states] -> [logits, *states]`.
        vocab: The model's `Vocabulary`.
        prime: Non-empty string of in-vocabulary characters to start from.
        length: Number of characters to generate (0 to `MAX_LENGTH`).
        temperature: See `choose_next` (0 = argmax); finite and >= 0.
        top_k: See `choose_next` (0 = no limit).
        seed: Seed of the sampling RNG (an integer >= 0, or None); the same seed gives the same text.

    Raises:
        InputError: A bad argument (named), or a prime with characters outside the vocabulary.

    Returns:
        The generated text (without the prime).
    """
    check_arguments(prime, length, temperature, top_k, seed)
    rng = np.random.default_rng(seed)
    states = zero_states(step_model, 1)
    ids = vocab.encode(prime)[None, :]
    out = []
    for _ in range(length):
        logits, *states = step_model.predict_on_batch([ids, *states])
        ids = choose_next(logits[:, -1], temperature, top_k, rng)[:, None].astype(np.int32)
        out.append(int(ids[0, 0]))
    return vocab.decode(out)
