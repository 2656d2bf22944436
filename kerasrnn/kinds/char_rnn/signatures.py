"""The char model served: text in, text out, vocabulary and sampling loop inside the graph.

Signatures of the SavedModel (every input has the batch as its first axis, so TF Serving's REST
row format and its server-side batching work):

`generate` (also `serving_default`):
    prime        string  (B,)  text to start from (UTF-8)
    length       int32   (B,)  characters to generate, 0 <= length <= max_length
    temperature  float32 (B,)  0 = argmax; > 0 samples (1 = the model's distribution)
    top_k        int32   (B,)  sample among the k likeliest characters; 0 = all
    seed         int64   (B,)  the same seed gives the same text, on every server
  -> text        string  (B,)  the generated characters (without the prime)
     skipped     int32   (B,)  prime characters outside the vocabulary that were skipped

    `length`, `temperature`, `top_k` and `seed` may also be given once, shape (1,), for all rows.
    Every row is computed on its own: its text does not depend on the other rows of a batch.

`step`: one call of the model, for clients that run their own loop:
    tokens       int32   (B, T)  character ids (the vocabulary order is the model card's)
    state_<l>_<i> float32 (B, H) the recurrent states (zeros to start); LSTM layers have two
  -> logits      float32 (B, T, V), next_state_<l>_<i> float32 (B, H)

Bad requests: a wrong dtype is rejected by the signature, a wrong shape by `tf.ensure_shape` (a
served graph does not check shapes against its signature by itself); either way the request fails
with an InvalidArgument error naming the input. Inside `generate`: characters outside the
vocabulary are skipped (and counted in `skipped`); invalid UTF-8 bytes become U+FFFD, skipped
unless the vocabulary has it; an empty prime
(or one with no known character) starts from a newline if the vocabulary has one, else from its
first character (`onnx_driver.start_char`); a length of 0 gives an empty text.

What one request may cost is bounded by the export's `limits.CharLimits` (model card
`limits`): rows, characters per row (`max_length`), bytes of one prime (`max_prime_bytes`,
checked before the prime is decoded), prime characters (`max_prime_length`, counted as the code
points the decoding gives, each U+FFFD included), rows x (longest prime + longest length)
(`max_request_chars`), and for `step` rows x tokens (`max_step_tokens`) and token ids inside the
vocabulary. A request over a limit, a negative length, a negative, NaN or infinite temperature, a
negative top_k, a parameter with neither 1 nor B values or a `step` with no token per row fails
with an InvalidArgument error that names the rule, before any work is done
(`request_checks.gate`). A request of zero rows (no primes, no token rows) is answered with zero
rows. (With TF Serving's server-side batching on, the limits apply to the
merged batch, and an error fails the other requests merged into it too, as any error does.)

Sampling follows `kerasrnn.kinds.char_rnn.sampling.choose_next` in float64, with the uniform number of
generated character `g` of a row with seed `s` taken from `export.counter_random.counter_uniform(s, g)`
(splitmix64, computed here with uint64 ops), so `CharGenerator` (ONNX Runtime) and a Keras-side
loop with the same rule give the same text for the same seed.
"""

import numpy as np
import tensorflow as tf

from kerasrnn.kinds.char_rnn import onnx_driver as driver
from kerasrnn.export.counter_random_tf import counter_uniform
from kerasrnn.export.request_checks import gate, rows_check, unless_empty
from kerasrnn.kinds.char_rnn.limits import CharLimits


def choose_next(logits, temperature, top_k, seed, index):
    """`choose_next` per row in the graph.

    Args:
        logits: float `(B, V)`.
        temperature: float32 `(B,)`, 0 = argmax.
        top_k: int32 `(B,)`, 0 = no limit.
        seed: int64 `(B,)`.
        index: int32 `(B,)`, the generated character's position (the random stream's counter).

    Returns:
        int32 `(B,)`.
    """
    logits = tf.cast(logits, tf.float64)
    vocab_size = tf.shape(logits)[-1]
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    t = tf.cast(temperature, tf.float64)[:, None]
    scaled = logits / tf.where(t > 0, t, tf.ones_like(t))
    k = top_k[:, None]
    kth = tf.gather(tf.sort(scaled, axis=-1, direction="DESCENDING"),
                    tf.clip_by_value(k - 1, 0, vocab_size - 1), batch_dims=1)
    cut = (k > 0) & (k < vocab_size) & (scaled < kth)
    scaled = tf.where(cut, tf.constant(-np.inf, tf.float64), scaled)
    scaled -= tf.reduce_max(scaled, axis=-1, keepdims=True)
    probs = tf.exp(scaled)
    probs /= tf.reduce_sum(probs, axis=-1, keepdims=True)
    u = counter_uniform(seed, index)[:, None]
    sampled = tf.reduce_sum(tf.cast(tf.cumsum(probs, axis=-1) < u, tf.int32), axis=-1)
    sampled = tf.minimum(sampled, vocab_size - 1)
    return tf.where(temperature > 0, sampled, greedy)


class CharServing:
    """The char model's serving functions (see the module docstring for the signatures).

    `endpoints()` gives them with their input signatures for `saved_model.write_saved_model`.
    The vocabulary becomes constants of the graph.

    Args:
        step_model: A `with_state` char model (`[ids, *states] -> [logits, *states]`).
        chars: The vocabulary's characters, in id order.
        limits: The `CharLimits` every request is checked against.
        one_token_model: The step model built for one token with the recurrence unrolled
            (default: `step_model`).
    """

    def __init__(self, step_model, chars, limits=CharLimits(), one_token_model=None):
        self.step_model = step_model
        # `generate` feeds one character per loop step: a copy built for sequences of length 1
        # with the recurrence unrolled avoids a nested while-loop per character (1.7x faster).
        self.one_token_model = one_token_model or step_model
        self.limits = limits
        self.chars = list(chars)
        self.start_id = self.chars.index(driver.start_char(self.chars))
        # The vocabulary as sorted code points (and their ids): a lookup by binary search,
        # no table resource to initialise.
        order = np.argsort([ord(c) for c in self.chars], kind="stable")
        self.code_points = np.array([ord(self.chars[i]) for i in order], np.int32)
        self.code_point_ids = order.astype(np.int32)
        self.state_names = [t.name for t in step_model.inputs[1:]]
        self.state_sizes = [int(t.shape[-1]) for t in step_model.inputs[1:]]

    def endpoints(self):
        """`{signature name: (function, input signature)}`, the default (`generate`) first."""
        return {
            "generate": (self.generate, [
                tf.TensorSpec([None], tf.string, name="prime"),
                tf.TensorSpec([None], tf.int32, name="length"),
                tf.TensorSpec([None], tf.float32, name="temperature"),
                tf.TensorSpec([None], tf.int32, name="top_k"),
                tf.TensorSpec([None], tf.int64, name="seed")]),
            "step": (self.step, [
                tf.TensorSpec([None, None], tf.int32, name="tokens"),
                *[tf.TensorSpec([None, h], tf.float32, name=n)
                  for n, h in zip(self.state_names, self.state_sizes)]]),
        }

    def step(self, tokens, *states):
        # A served graph does not check request shapes against the signature; ensure_shape does.
        tokens = tf.ensure_shape(tokens, [None, None])
        states = [tf.ensure_shape(s, [None, h]) for s, h in zip(states, self.state_sizes)]
        limits, vocab_size = self.limits, len(self.chars)
        rows, size = tf.shape(tokens)[0], tf.size(tokens, out_type=tf.int64)
        tokens, *states = gate([
            rows_check(rows, limits, "token rows"),
            tf.debugging.Assert(tf.shape(tokens)[1] >= 1, [
                "tokens must have at least one token per row; got", tf.shape(tokens)]),
            tf.debugging.Assert(size <= limits.max_step_tokens, [
                f"too many tokens in one step request: at most {limits.max_step_tokens} "
                "(max_step_tokens) rows x tokens; got", size]),
            tf.debugging.Assert(tf.reduce_all((tokens >= 0) & (tokens < vocab_size)), [
                f"tokens must be character ids between 0 and {vocab_size - 1}"]),
            *[tf.debugging.Assert(tf.equal(tf.shape(s)[0], rows), [
                f"{n} must have one row per token row; got", tf.shape(s)[0], "for", rows])
              for n, s in zip(self.state_names, states)],
        ], tokens, *states)

        def run():
            logits, *next_states = self.step_model([tokens, *states], training=False)
            return {"logits": logits, **{"next_" + n: s for n, s in zip(self.state_names, next_states)}}

        return unless_empty(rows, run, {
            "logits": ([tf.shape(tokens)[1], vocab_size], tf.float32),
            **{"next_" + n: ([h], tf.float32) for n, h in zip(self.state_names, self.state_sizes)}})

    def _lookup(self, code_points):
        """Code points `(N,)` -> vocabulary ids `(N,)`, -1 for a character outside the vocabulary."""
        vocab = tf.constant(self.code_points)
        where = tf.minimum(tf.searchsorted(vocab, code_points), len(self.chars) - 1)
        found = tf.gather(vocab, where) == code_points
        return tf.where(found, tf.gather(tf.constant(self.code_point_ids), where), -1)

    def _per_row(self, value, batch, name):
        value = tf.ensure_shape(value, [None])
        n = tf.shape(value)[0]
        check = tf.debugging.Assert(tf.logical_or(tf.equal(n, 1), tf.equal(n, batch)), [
            f"{name} must have one value per prime or a single value; got", n, "values for",
            batch, "primes"])
        with tf.control_dependencies([check]):
            return tf.broadcast_to(value, [batch])

    def generate(self, prime, length, temperature, top_k, seed):
        # A served graph does not check request shapes against the signature; ensure_shape does.
        prime = tf.ensure_shape(prime, [None])
        limits = self.limits
        batch = tf.shape(prime)[0]
        prime = gate([rows_check(batch, limits, "primes")], prime)
        length = self._per_row(length, batch, "length")
        temperature = self._per_row(temperature, batch, "temperature")
        top_k = self._per_row(top_k, batch, "top_k")
        seed = self._per_row(seed, batch, "seed")
        # The bytes first: decoding allocates a code point (4 bytes) per byte, so a prime is
        # decoded only after its bytes passed.
        prime_bytes = tf.strings.length(prime, unit="BYTE")
        byte_checks = [] if limits.max_prime_bytes is None else [
            tf.debugging.Assert(tf.reduce_all(prime_bytes <= limits.max_prime_bytes), [
                f"prime too long: at most {limits.max_prime_bytes} bytes of UTF-8 (max_prime_bytes); "
                "got", tf.reduce_max(tf.concat([prime_bytes, [0]], 0))])]
        prime = gate(byte_checks, prime)
        # A prime's length is what the model may step over: every code point of its decoding,
        # each invalid byte sequence one U+FFFD (the UTF8_CHAR count gives such bytes none).
        code_points = tf.strings.unicode_decode(prime, "UTF-8", errors="replace")
        prime_chars = code_points.row_lengths()
        longest = tf.reduce_max(tf.concat([prime_chars, [0]], 0))
        steps_paid = tf.cast(batch, tf.int64) * (longest + tf.cast(
            tf.reduce_max(tf.concat([length, [0]], 0)), tf.int64))
        flat, splits, length, temperature, top_k, seed = gate([
            tf.debugging.Assert(tf.reduce_all((length >= 0) & (length <= limits.max_length)), [
                f"length must be between 0 and {limits.max_length} (max_length); got", length]),
            tf.debugging.Assert(longest <= limits.max_prime_length, [
                f"prime too long: at most {limits.max_prime_length} characters (max_prime_length); "
                "got", longest]),
            tf.debugging.Assert(steps_paid <= limits.max_request_chars, [
                f"request too large: rows x (longest prime + longest length) must be at most "
                f"{limits.max_request_chars} (max_request_chars); got", steps_paid]),
            tf.debugging.Assert(tf.reduce_all((temperature >= 0) & tf.math.is_finite(temperature)), [
                "temperature must be finite and >= 0 (0 = argmax); got", temperature]),
            tf.debugging.Assert(tf.reduce_all(top_k >= 0), ["top_k must be >= 0 (0 = all); got", top_k]),
        ], code_points.flat_values, code_points.row_splits, length, temperature, top_k, seed)
        code_points = tf.RaggedTensor.from_row_splits(flat, splits, validate=False)
        ids = tf.ragged.map_flat_values(self._lookup, code_points)
        known = ids >= 0
        skipped = tf.reduce_sum(tf.cast(~known, tf.int32), axis=1)
        ids = tf.ragged.boolean_mask(ids, known)
        prime_len = tf.maximum(tf.cast(ids.row_lengths(), tf.int32), 1)
        # Padded with the start id: an empty row reads it at position 0. One column more than
        # needed, so the batch never has zero columns.
        prime_ids = tf.concat([ids.to_tensor(default_value=self.start_id),
                               tf.fill([batch, 1], self.start_id)], axis=1)
        last_col = tf.shape(prime_ids)[1] - 1
        # Row b feeds its prime for prime_len steps and samples from the last prime step on:
        # it needs prime_len + length - 1 steps (none when length is 0).
        steps = tf.reduce_max(tf.concat([tf.where(length > 0, prime_len + length - 1, 0), [0]], 0))
        states = [tf.zeros([batch, h], tf.float32) for h in self.state_sizes]
        sampled = tf.TensorArray(tf.int32, size=steps + 1, element_shape=tf.TensorShape([None]))

        def body(t, token, states, sampled):
            logits, *states = self.one_token_model([token[:, None], *states], training=False)
            index = t - (prime_len - 1)  # the generated character's position (< 0 in the prime)
            chosen = choose_next(logits[:, -1], temperature, top_k, seed, index)
            sampled = sampled.write(t, chosen)
            in_prime = t + 1 < prime_len
            next_prime = tf.gather(prime_ids, tf.fill([batch], tf.minimum(t + 1, last_col)),
                                   batch_dims=1)
            return t + 1, tf.where(in_prime, next_prime, chosen), states, sampled

        _, _, _, sampled = tf.while_loop(
            lambda t, *_: t < steps, body, (tf.constant(0), prime_ids[:, 0], states, sampled))
        sampled = tf.transpose(sampled.write(steps, tf.zeros([batch], tf.int32)).stack())
        # Generated character g of row b was sampled at step prime_len[b] - 1 + g.
        positions = prime_len[:, None] - 1 + tf.range(tf.reduce_max(tf.concat([length, [0]], 0)))[None, :]
        out = tf.gather(sampled, tf.minimum(positions, steps), batch_dims=1)
        out = tf.RaggedTensor.from_tensor(out, lengths=length)
        text = tf.strings.reduce_join(tf.gather(tf.constant(self.chars), out), axis=-1)
        return {"text": text, "skipped": skipped}
