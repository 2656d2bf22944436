"""Checking a char model version: Keras, SavedModel and ONNX give the same logits (`step.onnx` in
every ONNX runtime installed) and the SavedModel and the ONNX driver the same text for the same
seed."""

import numpy as np
import tensorflow as tf

from kerasrnn.errors import InputError
from kerasrnn.export import verification
from kerasrnn.export.version_dir import ONNX_DIR, load_saved_model
from kerasrnn.kinds.char_rnn import onnx_driver as driver
from kerasrnn.kinds.char_rnn import sampling
from kerasrnn.kinds.char_rnn.model import zero_states
from kerasrnn.kinds.char_rnn.trained import load_char_model


def default_prime(chars, training):
    """verify's prime: the training run's sample prime if the vocabulary has all its characters."""
    prime = (training or {}).get("sample_prime") or "\n"
    return prime if all(c in chars for c in prime) else chars[0]


def _text_check(name, texts):
    (first_name, first), *rest = texts.items()
    bad = [(n, t) for n, t in rest if t != first]
    if not bad:
        return verification.Check(name, True, f"identical, {len(first)} characters ({', '.join(texts)})")
    n, t = bad[0]
    at = next((i for i, (a, b) in enumerate(zip(first, t)) if a != b), min(len(first), len(t)))
    return verification.Check(name, False, f"{n} differs from {first_name} at character {at}: "
                                              f"{t[at:at + 20]!r} vs {first[at:at + 20]!r}")


def fits(limits, primes, length):
    """Whether a `generate` request of `primes` (text) and `length` keeps to the version's limits."""
    longest = max(len(p) for p in primes)
    return (len(primes) <= limits.max_rows and length <= limits.max_length
            and longest <= limits.max_prime_length
            and (limits.max_prime_bytes is None
                 or max(len(p.encode("utf-8")) for p in primes) <= limits.max_prime_bytes)
            and len(primes) * (longest + length) <= limits.max_request_chars)


def verify(version_dir, card, run_dir, prime=None, length=100, temperature=0.8, top_k=5, seed=1234):
    """Compares the Keras model, the SavedModel and the ONNX driver (see `verify.py`).

    Its requests keep to the version's limits: the step batch, the default prime and the length
    shrink to fit them, the batched text check is left out where two rows do not fit, and a
    `prime` given over them is an InputError."""
    step_model, vocab, _ = load_char_model(run_dir, with_state=True)
    if vocab.chars != card.get("vocabulary"):
        return [verification.Check("vocabulary", False, "the run's vocab.json differs from the export's")]
    onnx = driver.CharGenerator(version_dir / ONNX_DIR)
    limits = onnx.limits
    if prime is None:
        prime = default_prime(vocab.chars, card.get("training"))
        while len(prime) > 1 and not fits(limits, [prime], 0):
            prime = prime[:-1]
    if not prime:
        raise InputError("prime must have at least one character")
    vocab.encode(prime)  # InputError for characters outside the vocabulary
    length = min(length, limits.max_length, max(limits.max_request_chars - len(prime), 0))
    if not fits(limits, [prime], length):
        raise InputError(f"prime {prime!r} is over the version's request limits (max_prime_length "
                         f"{limits.max_prime_length}, max_prime_bytes {limits.max_prime_bytes}, "
                         f"max_request_chars {limits.max_request_chars}); give a shorter prime")
    loaded = load_saved_model(version_dir)
    checks = []

    # 1. One step on fixed tokens from random states: logits and states.
    rng = np.random.default_rng(0)
    rows = min(2, limits.max_rows, limits.max_step_tokens)
    tokens = rng.integers(0, len(vocab), (rows, min(12, limits.max_step_tokens // rows))).astype(np.int32)
    states = [rng.normal(0, 0.5, s.shape).astype(np.float32) for s in zero_states(step_model, rows)]
    want = [np.asarray(x) for x in step_model.predict_on_batch([tokens, *states])]
    names = [t.name for t in step_model.inputs[1:]]
    sig = loaded.signatures["step"](tokens=tf.constant(tokens),
                                    **{n: tf.constant(s) for n, s in zip(names, states)})
    got_sm = [sig["logits"].numpy()] + [sig["next_" + n].numpy() for n in names]
    close = verification.max_diff_check
    checks.append(close("step logits+states: Keras vs SavedModel", want, got_sm))
    checks.append(verification.runtime_check("step logits+states: Keras vs ONNX", [(
        version_dir / ONNX_DIR / driver.STEP_FILE, {"tokens": tokens, **dict(zip(names, states))},
        dict(zip(["logits", *("next_" + n for n in names)], want)))]))

    def served(primes, temps, seeds):
        n = len(primes)
        out = loaded.signatures["generate"](
            prime=tf.constant(primes), length=tf.constant([length] * n, tf.int32),
            temperature=tf.constant(temps, tf.float32), top_k=tf.constant([top_k] * n, tf.int32),
            seed=tf.constant(seeds, tf.int64))
        return [t.decode("utf-8") for t in out["text"].numpy()]

    # 2. Argmax text: the package's own Keras-side generate, the SavedModel, the ONNX driver.
    checks.append(_text_check("argmax text (temperature 0)", {
        "Keras sampling.generate": sampling.generate(step_model, vocab, prime, length, temperature=0),
        "SavedModel generate": served([prime], [0.0], [seed])[0],
        "ONNX driver": onnx.generate(prime, length, temperature=0),
    }))

    # 3. Sampled text, same seed: the SavedModel twice and inside a batch, the ONNX driver, and
    # the Keras step model driven by sampling.choose_next with the same counter-based numbers.
    def keras_step(ids, states):
        logits, *states = step_model.predict_on_batch([ids, *states])
        return logits, states

    first = served([prime], [temperature], [seed])[0]
    # Row 2 of a batch whose row 1 has a longer prime and another seed (where the limits let
    # such a batch through; else a prime of one character).
    longer = next((p for p in (prime + prime + vocab.chars[-1], vocab.chars[-1])
                   if fits(limits, [p, prime], length)), None)
    batched = (served([longer, prime], [temperature, temperature], [seed + 1, seed])
               if longer is not None else None)
    keras_ids = driver.sample_loop(keras_step, zero_states(step_model, 1), vocab.encode(prime),
                                   length, temperature, top_k, seed, choose=sampling.choose_next)
    texts = {
        "SavedModel generate": first,
        "SavedModel generate again": served([prime], [temperature], [seed])[0],
        "SavedModel generate, row 2 of a batch": batched and batched[1],
        "Keras step model + choose_next": vocab.decode(keras_ids),
        "ONNX driver": onnx.generate(prime, length, temperature, top_k, seed),
    }
    checks.append(_text_check(f"sampled text (temperature {temperature}, top_k {top_k}, seed {seed})",
                              {k: v for k, v in texts.items() if v is not None}))
    return checks
