"""How far back gradients reach: ||dL_T / ds_t|| against the distance T - t.

The notes' LSTM section says gradients through a plain RNN vanish (or explode) as they flow
back in time, and that the LSTM's additive cell state eases this. This measures it: run a char
model one step at a time, take the loss of the *last* prediction only, L_T, and differentiate
it with respect to the recurrent state s_t carried out of every earlier step (all layers; h
for vanilla and GRU, [h, c] for the LSTM). Uses `tf.GradientTape`, so TensorFlow only.
"""

import numpy as np
import tensorflow as tf

from kerasrnn.kinds.char_rnn.model import build_char_rnn, zero_states


def state_gradient_norms(step_model, ids):
    """Gradient norms of the last step's loss with respect to each step's recurrent state.

    Args:
        step_model: A `with_state` char model (`[ids, *states] -> [logits, *states]`).
        ids: int array `(B, T + 1)`: inputs `ids[:, :T]`, the last target `ids[:, T]`.

    Returns:
        float array `(T,)`: entry `d` is the batch-mean of `||dL_T / s_{T-1-d}||`, the state
        `d` steps before the one that made the last prediction (`d = 0` is that state).
    """
    ids = np.asarray(ids, np.int32)
    batch, steps = ids.shape[0], ids.shape[1] - 1
    states = [tf.constant(s) for s in zero_states(step_model, batch)]
    carried = []
    with tf.GradientTape() as tape:
        for t in range(steps):
            logits, *states = step_model([tf.constant(ids[:, t : t + 1]), *states], training=False)
            for s in states:
                tape.watch(s)
            carried.append(states)
        # Summed over the batch, so each row's state gradient is that row's own loss gradient.
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(ids[:, steps], logits[:, -1]))
    grads = tape.gradient(loss, carried)
    per_step = [
        np.sqrt(sum(np.sum(np.square(g.numpy()), axis=-1) for g in step_grads if g is not None))
        for step_grads in grads
    ]
    return np.mean(np.stack(per_step), axis=-1)[::-1]


def fresh_step_model(cell, vocab_size, hidden_size, num_layers=1, recurrent_gain=None, seed=0):
    """A newly initialised `with_state` char model, optionally with a scaled recurrent matrix.

    Args:
        cell: `"vanilla"`, `"lstm"` or `"gru"`.
        recurrent_gain: If given, every `recurrent_kernel` is multiplied by this factor (the
            default orthogonal init has all singular values 1; > 1 makes a vanilla RNN's
            linearised gradient grow, < 1 makes it shrink).
    """
    import keras

    keras.utils.set_random_seed(seed)
    model = build_char_rnn(vocab_size, cell=cell, num_layers=num_layers, hidden_size=hidden_size,
                           with_state=True)
    if recurrent_gain is not None:
        for w in model.weights:
            if w.name == "recurrent_kernel":
                w.assign(w.numpy() * recurrent_gain)
    return model
