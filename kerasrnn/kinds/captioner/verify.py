"""Checking a captioner version: Keras, SavedModel (from PNG bytes and from floats) and the ONNX
driver give the same captions, attention maps and log-probabilities; the encoder and decoder step
files compute the Keras encoder's and step's outputs in every ONNX runtime installed."""

import numpy as np
import tensorflow as tf

from kerasrnn.kinds.captioner.vocab import END, START
from kerasrnn.export import verification
from kerasrnn.export.version_dir import ONNX_DIR, load_saved_model
from kerasrnn.kinds.captioner import onnx_driver as driver
from kerasrnn.kinds.captioner.onnx_models import onnx_models
from kerasrnn.kinds.captioner.export import png
from kerasrnn.kinds.captioner.signatures import decode_image_bytes, words_by_id
from kerasrnn.kinds.captioner.model import beam_search_batch, greedy_decode
from kerasrnn.kinds.captioner.trained import load_captioner


def verify_images(training, image_size, count, seed):
    """verify's fixed images, uint8 `(count, S, S, 3)`: test scenes for scenes runs, else noise."""
    if (training or {}).get("dataset") == "scenes":
        from kerasrnn.kinds.captioner.captions import load_captions

        examples = load_captions("scenes", "test", image_size=image_size, count=count, seed=seed)
        return np.stack([ex.image for ex in examples]).astype(np.uint8)
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (count, 4, 4, 3)).astype(np.float32)  # smooth noise
    return tf.cast(tf.image.resize(coarse, (image_size, image_size)), tf.uint8).numpy()


def _same_tokens(name, results):
    """A `Check` that every entry of `{source: [token lists]}` holds the same captions."""
    (first_name, first), *rest = results.items()
    for other_name, other in rest:
        for i, (a, b) in enumerate(zip(first, other)):
            if list(a) != list(b):
                return verification.Check(name, False, f"image {i}: {other_name} {list(b)} vs "
                                                          f"{first_name} {list(a)}")
    lengths = [len(t) for t in first]
    return verification.Check(name, True, f"identical, {len(first)} captions of {min(lengths)} to "
                                             f"{max(lengths)} tokens ({', '.join(results)})")


def graph_cases(model, onnx_dir, images, tokens):
    """`runtime_check`'s graphs: the encoder on `images`, and the decoder step on `tokens` `(B,)`
    from the encoder's outputs, each with the Keras models' outputs (`onnx_models`)."""
    encoder, step = onnx_models(model)
    state_names = [t.name for t in step.inputs[3:]]
    # Called, not `predict_on_batch`: two more models would each trace a new predict function.
    encoded = [np.asarray(x) for x in encoder(images, training=False)]
    step_inputs = [tokens.astype(np.int32), *encoded]
    stepped = [np.asarray(x) for x in step(step_inputs, training=False)]
    return [(onnx_dir / driver.ENCODER_FILE, {"images": images},
             dict(zip(["annotations", "projected", *state_names], encoded))),
            (onnx_dir / driver.STEP_FILE, dict(zip(["tokens", "annotations", "projected", *state_names],
                                                   step_inputs)),
             dict(zip(["logits", *("next_" + n for n in state_names), "attention"], stepped)))]


def verify(version_dir, card, run_dir, batch_size=4, beam_width=3, seed=0):
    """Compares the Keras model, the SavedModel and the ONNX driver (see `verify.py`)."""
    model, vocab, config = load_captioner(run_dir)
    words = words_by_id(vocab)
    if words != card.get("vocabulary"):
        return [verification.Check("vocabulary", False, "the run's vocab.json differs from the export's")]
    size, steps = card["image_size"], card["caption"]["max_length"]
    limits = card.get("limits") or {}  # requests the version's limits let through
    batch_size = min(batch_size, limits.get("max_rows") or batch_size)
    beam_width = min(beam_width, limits.get("max_beam_width") or beam_width)
    start, end = words.index(START), words.index(END)
    pixels = verify_images(config.get("training"), size, batch_size, seed)
    encoded = np.array([png(p) for p in pixels], object)
    images = np.stack([decode_image_bytes(tf.constant(b), size).numpy() for b in encoded])
    loaded = load_saved_model(version_dir)
    onnx = driver.CaptionerONNX(version_dir / ONNX_DIR)
    close = verification.max_diff_check
    checks = []

    # 1. Teacher-forced logits and attention on fixed captions.
    rng = np.random.default_rng(seed)
    n_ids = int(model.inputs[1].shape[1])
    captions = rng.integers(4, len(words), (batch_size, n_ids)).astype(np.int32)
    captions[:, 0] = start
    for i, row in enumerate(captions):
        cut = 2 + i % (n_ids - 2)
        row[cut], row[cut + 1:] = end, 0
    logits, alphas = (np.asarray(x) for x in model.predict_on_batch([images, captions]))
    served = loaded.signatures["teacher_forced"](images=tf.constant(images), captions=tf.constant(captions))
    checks.append(close("teacher-forced logits+attention: Keras vs SavedModel", [logits, alphas],
                        [served["logits"].numpy(), served["attention"].numpy()]))
    onnx_logits, onnx_weights = onnx.teacher_forced(images, captions)
    soft = config["model"].get("attention", "soft") == "soft"
    name = "teacher-forced logits" + ("+attention" if soft else "") + ": Keras vs ONNX encoder + decoder step"
    driver_check = close(name, [logits, alphas] if soft else [logits],
                         [onnx_logits, onnx_weights] if soft else [onnx_logits])
    graphs_check = verification.runtime_check(name, graph_cases(model, version_dir / ONNX_DIR, images,
                                                                captions[:, 1]))
    checks.append(verification.Check(name, driver_check.ok and graphs_check.ok,
                                      f"ONNX driver: {driver_check.detail}; {driver.ENCODER_FILE} + "
                                      f"{driver.STEP_FILE}, one step: {graphs_check.detail}"))

    # 2. Captions: greedy and beam search, Keras reference vs SavedModel (bytes and floats) vs ONNX.
    for width in (1, beam_width):
        if width == 1:
            want = greedy_decode(model, images, start, end, steps)
        else:
            want = beam_search_batch(model, images, start, end, steps, width,
                                     card["caption"]["length_penalty"])
        k = tf.constant(width, tf.int32)
        from_bytes = {n: v.numpy() for n, v in loaded.signatures["caption"](
            image_bytes=tf.constant(encoded), beam_width=k).items()}
        from_floats = {n: v.numpy() for n, v in loaded.signatures["caption_images"](
            images=tf.constant(images), beam_width=k).items()}
        from_onnx = onnx.beam_search(images, width)

        def tokens(out):
            return [row[:n].tolist() for row, n in zip(out["tokens"], out["length"])]

        label = (f"beam search captions (beam_width {width})" if width > 1
                 else "greedy captions (beam_width 1)")
        checks.append(_same_tokens(label, {
            "Keras " + ("greedy_decode" if width == 1 else "beam_search_batch"): [c.tokens for c in want],
            "SavedModel caption (PNG bytes)": tokens(from_bytes),
            "SavedModel caption_images": tokens(from_floats),
            "ONNX driver": [c.tokens for c in from_onnx]}))
        if checks[-1].ok:  # the same tokens: their attention maps and log-probabilities
            def padded(captions):
                return [np.pad(c.alphas, ((0, steps - len(c.tokens)), (0, 0))) for c in captions]

            reference = [*padded(want), [c.log_prob for c in want]]
            checks.append(close(f"{label}: attention maps + log-probabilities, Keras vs SavedModel",
                                reference, [*from_bytes["attention"], from_bytes["log_prob"]]))
            checks.append(close(f"{label}: attention maps + log-probabilities, Keras vs ONNX driver",
                                reference, [*padded(from_onnx), [c.log_prob for c in from_onnx]]))
        texts = [t.decode() for t in from_bytes["caption"]]
        decoded = [vocab.decode(t) for t in tokens(from_bytes)]
        checks.append(verification.Check(
            f"{label}: SavedModel caption strings = CaptionVocabulary.decode(tokens)", texts == decoded,
            f"e.g. {texts[0]!r}" if texts == decoded else f"{texts} vs {decoded}"))
    return checks
