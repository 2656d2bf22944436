"""Beam search over any caption decoder step, in numpy: shared by the Keras captioner and the
ONNX Runtime driver (this module imports neither TensorFlow nor Keras)."""

import dataclasses

import numpy as np

from kerasrnn.errors import InputError

# alpha of the score `log_prob / len ** alpha` that picks among finished captions. 0 ranks by
# log-probability alone; chosen on validation runs (docs/experiments.md, "Beam search").
LENGTH_PENALTY = 0.0


@dataclasses.dataclass
class Caption:
    """One decoded caption: word ids (without `<start>`, with `<end>` if reached), the summed
    log-probability, the length-normalised score, and one attention map `(L,)` per id."""

    tokens: list
    log_prob: float
    score: float
    alphas: np.ndarray


def log_softmax(logits):
    """float64 log-softmax over the last axis (the scores every decoder here ranks words by)."""
    logits = np.asarray(logits).astype(np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def _score(hyp, length_penalty):
    return hyp[1] / len(hyp[0]) ** length_penalty


def _can_improve(live, finished, max_length, length_penalty):
    """Whether a live hypothesis `(tokens, log_prob, maps)` could still finish with a better score
    than the best finished one: its log-prob can only fall and its length reach `max_length`."""
    if not live or not finished:
        return bool(live)
    bound = max(h[1] for h in live) / max_length ** length_penalty
    return bound > max(_score(h, length_penalty) for h in finished)


def beam_search(step, annotations, projected, states, start_id, end_id, max_length, beam_width=3,
                length_penalty=LENGTH_PENALTY):
    """Beam search over any decoder step function, for a batch of images at once.

    For each image, keeps the `beam_width` best partial captions by summed log-probability; a
    caption that emits `<end>` (or reaches `max_length`) is finished, and the image gets the
    finished caption with the best score `log_prob / len ** length_penalty` (the first of equal
    ones). An image's search stops when no beam is left or none can still beat its best finished
    caption: log-probabilities only fall, so `log_prob / max_length ** length_penalty` bounds what
    a live beam can reach. (Stopping at the first `beam_width` finished captions instead, a common
    shortcut, returns early short captions of low probability while a far likelier one is still
    being written.) `beam_width=1` is greedy decoding.

    Args:
        step: `(tokens (N,), states, annotations (N, L, D), projected) -> (logits (N, V),
            states, weights (N, L))`, numpy in and out.
        annotations, projected: The encoder's outputs for B images.
        states: The decoder's initial states, a list of `(B, H)` arrays.
        start_id, end_id: Ids of `<start>` and `<end>`.
        max_length: Most tokens generated (`<end>` included).
        beam_width: Number of beams k (>= 1).
        length_penalty: alpha of the length normalisation (0 = none, the default).

    Returns:
        List of B `Caption`s.
    """
    if beam_width < 1:
        raise InputError(f"beam width must be >= 1, got {beam_width}")
    k = beam_width
    batch = len(annotations)
    projected = np.repeat(projected, k, axis=0)
    states = [np.repeat(s, k, axis=0) for s in states]
    annotations = np.repeat(annotations, k, axis=0)  # beam i of image b at row b * k + i
    beams = [[([], 0.0, [])] + [None] * (k - 1) for _ in range(batch)]
    finished = [[] for _ in range(batch)]
    searching = np.ones(batch, bool)
    for t in range(max_length):
        last = np.array([[b[0][-1] if b and b[0] else start_id for b in row] for row in beams],
                        np.int32).reshape(-1)
        logits, new_states, alpha = step(last, states, annotations, projected)
        logp = log_softmax(logits).reshape(batch, k, -1)
        alpha = np.asarray(alpha).reshape(batch, k, -1)
        keep = np.zeros((batch, k), np.int64)  # which old slot each new slot continues
        for b in np.flatnonzero(searching):
            live = [i for i, beam in enumerate(beams[b]) if beam is not None]
            totals = np.array([beams[b][i][1] for i in live])[:, None] + logp[b, live]
            order = np.argsort(-totals, axis=None, kind="stable")[:k]
            survivors = []
            for flat in order:
                row, word = divmod(int(flat), logp.shape[-1])
                i = live[row]
                hyp = (beams[b][i][0] + [word], float(totals[row, word]), beams[b][i][2] + [alpha[b, i]])
                if word == end_id or t == max_length - 1:
                    finished[b].append(hyp)
                else:
                    keep[b, len(survivors)] = i
                    survivors.append(hyp)
            beams[b] = survivors + [None] * (k - len(survivors))
            searching[b] = _can_improve(survivors, finished[b], max_length, length_penalty)
        if not searching.any():
            break
        index = (np.arange(batch)[:, None] * k + keep).reshape(-1)
        states = [np.asarray(s)[index] for s in new_states]
    out = []
    for b in range(batch):
        best = max(finished[b], key=lambda h: _score(h, length_penalty))
        out.append(Caption(best[0], best[1], _score(best, length_penalty), np.stack(best[2])))
    return out
