"""How the next character is chosen from a char model's logits: argmax, temperature, top-k.

numpy only (no Keras), so the ONNX Runtime driver that generates text without TensorFlow uses
the very same rule as `kerasrnn.kinds.char_rnn.sampling`.
"""

import numpy as np


def choose_next(logits, temperature=1.0, top_k=0, rng=None):
    """Picks the next token for each row of `logits`.

    Args:
        logits: float array `(B, V)`, unnormalised log-probabilities.
        temperature: Divides the logits; 0 means argmax (greedy), 1 the model's distribution.
        top_k: If > 0, sample only among the k most likely tokens.
        rng: Anything with `random((B, 1))` uniform in [0, 1): a `numpy.random.Generator`, or the
            export's counter-based generator (needed unless `temperature == 0`).

    Returns:
        int array `(B,)` of chosen token ids.
    """
    logits = np.asarray(logits, np.float64)
    if temperature == 0:
        return logits.argmax(axis=-1)
    scaled = logits / temperature
    if top_k and top_k < scaled.shape[-1]:
        kth = np.partition(scaled, -top_k, axis=-1)[:, -top_k][:, None]
        scaled = np.where(scaled < kth, -np.inf, scaled)
    scaled -= scaled.max(axis=-1, keepdims=True)
    probs = np.exp(scaled)
    probs /= probs.sum(axis=-1, keepdims=True)
    # Inverse-CDF sampling, one uniform draw per row, so a seed fixes the text.
    u = rng.random((probs.shape[0], 1))
    return np.minimum((probs.cumsum(axis=-1) < u).sum(axis=-1), probs.shape[-1] - 1)
