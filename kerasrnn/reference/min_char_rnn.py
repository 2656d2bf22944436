"""Karpathy's min-char-rnn in numpy, as printed in the lecture notes (Python 3, no globals).

This is the reference the Keras layers are tested against and the baseline the benchmark
measures: the same forward pass, backward pass and Adagrad update, one sequence at a time.
Shapes follow the notes: column vectors, `Wxh (H, V)`, `Whh (H, H)`, `Why (V, H)`,
`bh (H, 1)`, `by (V, 1)`.
"""

import numpy as np

PARAM_NAMES = ("Wxh", "Whh", "Why", "bh", "by")


def init_params(vocab_size, hidden_size=100, seed=0, dtype=np.float64):
    """Initialises min-char-rnn's parameters as the notes do (randn * 0.01, zero biases).

    Returns:
        Dict with `Wxh (H, V)`, `Whh (H, H)`, `Why (V, H)`, `bh (H, 1)`, `by (V, 1)`.
    """
    rng = np.random.default_rng(seed)
    h, v = hidden_size, vocab_size
    return {
        "Wxh": (rng.standard_normal((h, v)) * 0.01).astype(dtype),
        "Whh": (rng.standard_normal((h, h)) * 0.01).astype(dtype),
        "Why": (rng.standard_normal((v, h)) * 0.01).astype(dtype),
        "bh": np.zeros((h, 1), dtype),
        "by": np.zeros((v, 1), dtype),
    }


def loss_fun(params, inputs, targets, hprev, clip=5.0):
    """The notes' `lossFun`: forward and backward pass over one sequence.

    Args:
        params: Dict of the five parameters (see module docstring).
        inputs: Sequence of T integer token ids.
        targets: Sequence of T integer token ids (inputs shifted by one).
        hprev: Array `(H, 1)`, the hidden state before the first input.
        clip: Element-wise gradient clip (the notes use 5); `None` returns raw gradients.

    Returns:
        `(loss, grads, h_last)`: summed cross-entropy in nats, a dict of gradients shaped
        like `params`, and the last hidden state `(H, 1)`.
    """
    Wxh, Whh, Why, bh, by = (params[k] for k in PARAM_NAMES)
    vocab_size = Wxh.shape[1]
    xs, hs, ps = {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0.0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1), Wxh.dtype)
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
        ys = Why @ hs[t] + by
        ys = ys - ys.max()  # the notes omit this shift; it changes nothing but overflow
        ps[t] = np.exp(ys) / np.sum(np.exp(ys))
        loss += -np.log(ps[t][targets[t], 0])
    grads = {k: np.zeros_like(params[k]) for k in PARAM_NAMES}
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        grads["Why"] += dy @ hs[t].T
        grads["by"] += dy
        dh = Why.T @ dy + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        grads["bh"] += dhraw
        grads["Wxh"] += dhraw @ xs[t].T
        grads["Whh"] += dhraw @ hs[t - 1].T
        dhnext = Whh.T @ dhraw
    if clip is not None:
        for g in grads.values():
            np.clip(g, -clip, clip, out=g)
    return loss, grads, hs[len(inputs) - 1]


def adagrad_update(params, grads, memory, learning_rate=1e-1):
    """The notes' Adagrad step, in place: `mem += g*g; p -= lr * g / sqrt(mem + 1e-8)`."""
    for k in PARAM_NAMES:
        memory[k] += grads[k] * grads[k]
        params[k] += -learning_rate * grads[k] / np.sqrt(memory[k] + 1e-8)


def train(params, data_ids, num_steps, seq_length=25, learning_rate=1e-1, clip=5.0):
    """Runs the notes' main loop for `num_steps` updates over the id sequence `data_ids`.

    Returns:
        List of per-step losses (nats per character).
    """
    memory = {k: np.zeros_like(v) for k, v in params.items()}
    hidden_size = params["Whh"].shape[0]
    p, losses = 0, []
    for n in range(num_steps):
        if p + seq_length + 1 >= len(data_ids) or n == 0:
            hprev = np.zeros((hidden_size, 1), params["Whh"].dtype)
            p = 0
        inputs = data_ids[p : p + seq_length]
        targets = data_ids[p + 1 : p + seq_length + 1]
        loss, grads, hprev = loss_fun(params, inputs, targets, hprev, clip)
        adagrad_update(params, grads, memory, learning_rate)
        losses.append(loss / seq_length)
        p += seq_length
    return losses
