"""Beam search for the captioner's serving signatures, in TensorFlow ops (the numpy search the
Keras model and the ONNX driver use is `kerasrnn.kinds.captioner.beam_search_numpy`; a shared test holds the
two to the same captions)."""

import numpy as np
import tensorflow as tf

from kerasrnn.kinds.captioner.beam_search_numpy import LENGTH_PENALTY


def beam_search(decoder, annotations, widths, start_id, end_id, max_length, vocab_size,
                length_penalty=LENGTH_PENALTY):
    """Beam search in TensorFlow ops, one graph for the serving signatures: the rules of the numpy
    `kerasrnn.kinds.captioner.beam_search_numpy.beam_search` (float64 bookkeeping, the same ranking and tie
    order, the same finished/survivor rules and score) with a beam width per image, in a
    `tf.while_loop` that carries all beams of all images through one decoder call per step.

    Args:
        decoder: The captioner's `AttentionDecoder` layer.
        annotations: float32 `(B, L, D)`.
        widths: int32 `(B,)`, each >= 1.
        start_id, end_id: Ids of `<start>` and `<end>`.
        max_length: Most tokens per caption (`<end>` included).
        vocab_size: Number of word ids the decoder scores.
        length_penalty: alpha of the score `log_prob / len ** alpha`.

    Returns:
        dict of `tokens` int32 `(B, T)`, `attention` float32 `(B, T, L)`, `length` int32
        `(B,)`, `log_prob` and `score` float32 `(B,)`.
    """
    steps, vocab = max_length, vocab_size
    f64, neg_inf = tf.float64, tf.constant(-np.inf, tf.float64)
    batch, locations = tf.shape(annotations)[0], tf.shape(annotations)[1]
    k = tf.reduce_max(tf.concat([widths, [1]], 0))  # slots per image
    slots = tf.range(k)
    # Beam i of image b sits at row b * k + i, as in beam_search_batch.
    projected = tf.repeat(decoder.attention.project_annotations(annotations), k, axis=0)
    states = [tf.repeat(s, k, axis=0) for s in decoder.initial_state(annotations)]
    repeated = tf.repeat(annotations, k, axis=0)
    cols = tf.range(steps)

    def write(buffer, step, values):  # buffer (B, k, T, ...) with column `step` set to values
        at = tf.reshape(tf.equal(cols, step), [1, 1, steps] + [1] * (buffer.shape.rank - 3))
        return tf.where(at, tf.expand_dims(values, 2), buffer)

    def body(step, states, alive, log_prob, tokens, maps, searching, best):
        previous = tf.gather(tokens, tf.maximum(step - 1, 0), axis=2)
        last = tf.where(alive & (step > 0), previous, start_id)
        logits, new_states, weights = decoder.step(tf.reshape(last, [-1]), states, repeated,
                                                   projected, training=False)
        x = tf.cast(logits, f64)  # beam_search_batch's _log_softmax, in float64
        x -= tf.reduce_max(x, axis=-1, keepdims=True)
        logp = tf.reshape(x - tf.math.log(tf.reduce_sum(tf.exp(x), -1, keepdims=True)),
                          [batch, k, vocab])
        weights = tf.reshape(weights, [batch, k, locations])
        totals = tf.where(alive[:, :, None], log_prob[:, :, None] + logp, neg_inf)
        # top_k puts equal values in index order: numpy's stable argsort of -totals.
        value, flat = tf.math.top_k(tf.reshape(totals, [batch, k * vocab]), k)
        parent, word = flat // vocab, flat % vocab
        valid = ((slots[None, :] < widths[:, None]) & tf.gather(alive, parent, batch_dims=1)
                 & searching[:, None])
        final = valid & ((word == end_id) | (step == steps - 1))
        survive = valid & ~final
        new_tokens = write(tf.gather(tokens, parent, batch_dims=1), step, word)
        new_maps = write(tf.gather(maps, parent, batch_dims=1), step,
                         tf.gather(weights, parent, batch_dims=1))
        # The best finished caption so far: max() over finished captions in the order they
        # finished keeps the first of equal scores, so only a strictly higher one replaces it.
        score = value / tf.pow(tf.cast(step + 1, f64), length_penalty)
        top, j = tf.math.top_k(tf.where(final, score, neg_inf), 1)
        better = top[:, 0] > best["score"]
        chosen = {"score": top[:, 0], "log_prob": tf.gather(value, j, batch_dims=1)[:, 0],
                  "length": tf.fill([batch], step + 1),
                  "tokens": tf.gather(new_tokens, j, batch_dims=1)[:, 0],
                  "attention": tf.gather(new_maps, j, batch_dims=1)[:, 0]}
        best = {name: tf.where(tf.reshape(better, [-1] + [1] * (v.shape.rank - 1)), chosen[name], v)
                for name, v in best.items()}
        # Survivors fill the first slots, in rank order.
        order = tf.argsort(tf.where(survive, slots[None, :], k + slots[None, :]), axis=1,
                           stable=True)
        n_survive = tf.reduce_sum(tf.cast(survive, tf.int32), axis=1)
        rows = tf.reshape(tf.range(batch)[:, None] * k + tf.gather(parent, order, batch_dims=1), [-1])
        # Go on while a live beam could still beat the best finished caption: its log-prob
        # can only fall, so log_prob / steps ** length_penalty bounds its score.
        bound = tf.reduce_max(tf.where(survive, value, neg_inf), axis=1) / tf.pow(
            tf.cast(steps, f64), length_penalty)
        return (step + 1, [tf.gather(s, rows) for s in new_states],
                slots[None, :] < n_survive[:, None], tf.gather(value, order, batch_dims=1),
                tf.gather(new_tokens, order, batch_dims=1), tf.gather(new_maps, order, batch_dims=1),
                searching & (n_survive > 0) & (bound > best["score"]), best)

    best = {"score": tf.fill([batch], neg_inf), "log_prob": tf.zeros([batch], f64),
            "length": tf.zeros([batch], tf.int32), "tokens": tf.zeros([batch, steps], tf.int32),
            "attention": tf.zeros([batch, steps, locations], tf.float32)}
    loop = (tf.constant(0), states, tf.tile(slots[None, :] == 0, [batch, 1]),
            tf.zeros([batch, k], f64), tf.zeros([batch, k, steps], tf.int32),
            tf.zeros([batch, k, steps, locations], tf.float32), tf.ones([batch], tf.bool), best)
    *_, best = tf.while_loop(lambda step, *v: (step < steps) & tf.reduce_any(v[5]), body, loop)
    return {"tokens": best["tokens"], "attention": best["attention"], "length": best["length"],
            "log_prob": tf.cast(best["log_prob"], tf.float32),
            "score": tf.cast(best["score"], tf.float32)}
