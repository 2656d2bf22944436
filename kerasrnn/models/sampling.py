"""Text generation from a char model: temperature, top-k, argmax, all seeded.

Sampling runs a `with_state` model (see `build_char_rnn(..., with_state=True)`) one character
at a time, carrying the recurrent state, as min-char-rnn's `sample` does.
"""

import numpy as np

from kerasrnn.errors import InputError
from kerasrnn.models.char_rnn import zero_states
from kerasrnn.models.token_choice import choose_next  # noqa: F401 (part of this module's API)


def generate(step_model, vocab, prime, length, temperature=1.0, top_k=0, seed=None):
    """Feeds `prime` through the model, then samples `length` more characters.

    Args:
        step_model: A `with_state` char model: `[ids (B, T), *states] -> [logits, *states]`.
        vocab: The model's `Vocabulary`.
        prime: Non-empty string of in-vocabulary characters to start from.
        length: Number of characters to generate (>= 0).
        temperature: See `choose_next` (0 = argmax).
        top_k: See `choose_next` (0 = no limit).
        seed: Seed of the sampling RNG; the same seed gives the same text.

    Returns:
        The generated text (without the prime).
    """
    if not prime:
        raise InputError("--prime must have at least one character")
    if length < 0 or temperature < 0 or top_k < 0:
        raise InputError("--length, --temperature and --top-k must be >= 0")
    rng = np.random.default_rng(seed)
    states = zero_states(step_model, 1)
    ids = vocab.encode(prime)[None, :]
    out = []
    for _ in range(length):
        logits, *states = step_model.predict_on_batch([ids, *states])
        ids = choose_next(logits[:, -1], temperature, top_k, rng)[:, None].astype(np.int32)
        out.append(int(ids[0, 0]))
    return vocab.decode(out)
