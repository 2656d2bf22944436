"""The captioner served: image in, caption out, image decoding, beam search and vocabulary in-graph.

Signatures of the SavedModel (every per-image input and output has the batch as its first axis,
so TF Serving's REST row format and its server-side batching work):

`caption` (also `serving_default`):
    image_bytes  string  (B,)          encoded JPEG, PNG or BMP images (the model card's
                                       `limits.image_formats`), any size up to the limits:
                                       decoded to RGB and resized to the model's S x S as
                                       `kerasrnn.data.image_files.load_image` does
    beam_width   int32   (), (1,) or (B,)   1 = greedy decoding; k > 1 = beam search with k beams;
                                       one value for all images or one per image
  -> caption     string  (B,)          the words, space-separated (`CaptionVocabulary.decode`)
     tokens      int32   (B, T)        word ids (without `<start>`, with `<end>` if reached),
                                       padded with 0 (`<pad>`); T = the export's max_length
     attention   float32 (B, T, L)     per word, the attention weights over the L = h * w grid
                                       cells (row-major; zeros past `length`); hard attention:
                                       one-hot, the location the word was read from
     length      int32   (B,)          number of tokens (`<end>` included)
     log_prob    float32 (B,)          summed log-probability of the tokens
     score       float32 (B,)          log_prob / length ** length_penalty, what beam search ranks

`caption_images`: the same with `images` float32 (B, S, S, 3), pixels in [0, 1], instead of
`image_bytes` (for clients that decode and resize themselves).

`teacher_forced`: the training model, for scoring given captions:
    images   float32 (B, S, S, 3); captions int32 (B, n + 2) `<start> w1 .. wn <end> <pad>..`
  -> logits  float32 (B, n + 1, V)  next-word logits for captions[:, 1:]
     attention float32 (B, n + 1, L)  the attention distributions alpha
     log_prob  float32 (B,)          summed log-probability of the non-pad targets

Decoding reproduces `kerasrnn.models.captioner.beam_search_batch` step for step (float64
bookkeeping, the same ranking and tie order, the same finished/survivor rules and
`log_prob / len ** length_penalty` choice; `beam_width=1` is `greedy_decode`), in a
`tf.while_loop` that carries all beams of all images through one decoder call per step; a
batch may mix beam widths. Every image is decoded on its own: its caption does not depend on the
other images of a batch (up to float rounding of batched matmuls).

Bad requests fail with an InvalidArgument error that says what is wrong, never a crashed server:
image bytes of a format the export does not accept (told by their magic bytes, so e.g. GIF and WebP
are refused although TensorFlow's decoder reads them) or that do not decode, a beam width outside
1..max_beam_width, a beam_width with neither 1 nor B values, images of the wrong size or dtype,
caption ids outside the vocabulary. What one request may cost is bounded by the export's
`request_limits.CaptionerLimits` (model card `limits`): images per request, bytes per image, the
pixels an image's header claims (checked before decoding, `image_files.decode_untrusted`), beam
width; captions have at most `max_length` tokens. Every check runs before the work it guards
(`request_checks.gate`), and images are decoded one at a time. (With TF Serving's server-side
batching on, such an error fails the other requests merged into the same batch too, as any error
does; and batching needs beam_width with one value per image, as the row format sends it.)

ONNX files (`onnx/`, opset `DEFAULT_OPSET`, batch axes dynamic):
    encoder.onnx       images (B, S, S, 3) -> annotations (B, L, D), projected (B, L, A),
                       state_<i> (B, H)  (the decoder's initial states)
    decoder_step.onnx  tokens (B,) int32, annotations, projected, state_<i>
                       -> logits (B, V), next_state_<i>, attention (B, L)
    vocab.json         the caption vocabulary (`CaptionVocabulary.save`)
    decoding.json      start/end ids, max_length, length_penalty, image size, state names
`kerasrnn.export.captioner_onnx_driver.CaptionerONNX` runs greedy and beam search on them with
numpy and onnxruntime only.
"""

import contextlib
import json

import keras
import numpy as np
import tensorflow as tf

from kerasrnn.data.caption_vocab import END, PAD, SPECIAL_TOKENS, START, CaptionVocabulary
from kerasrnn.data.image_files import decode_untrusted, resize_image
from kerasrnn.errors import InputError
from kerasrnn.export import captioner_onnx_driver as driver
from kerasrnn.export import saved_model_dir
from kerasrnn.export.onnx import DEFAULT_OPSET, to_onnx
from kerasrnn.export.request_checks import gate, rows_check
from kerasrnn.export.request_limits import LIMITS_FILE, CaptionerLimits
from kerasrnn.models.beam_search import LENGTH_PENALTY
from kerasrnn.models.captioner import beam_search_batch, greedy_decode
from kerasrnn.train.captioner import KIND, load_captioner  # noqa: F401  (KIND: the plug-in protocol)

LIMITS = CaptionerLimits  # the plug-in protocol: this kind's request limits
# The plug-in protocol: the model card fields verify reads.
CARD_FIELDS = {"vocabulary": list, "image_size": int, "caption": dict}


def decode_image_bytes(data, image_size, limits=CaptionerLimits()):
    """Encoded image bytes (scalar string tensor) -> float32 `(S, S, 3)` in [0, 1].

    What `kerasrnn.data.image_files.load_image` does after reading the file (a test keeps the
    two equal), with the header checked first against `limits` (`decode_untrusted`).
    """
    image = decode_untrusted(data, limits.max_image_pixels, limits.image_formats)
    return resize_image(image, image_size)


def words_by_id(vocab):
    """The vocabulary's tokens in id order (`<pad>`, `<unk>`, `<start>`, `<end>`, words...)."""
    words = [*SPECIAL_TOKENS, *vocab.words]
    for token in (PAD, START, END):  # the ids the decoder and `CaptionVocabulary` agree on
        if vocab.id(token) != words.index(token):
            raise InputError(f"the vocabulary gives {token} id {vocab.id(token)}, not "
                             f"{words.index(token)}; it is not a CaptionVocabulary this export knows")
    return words


def annotation_model(model):
    """The encoder part of a `build_captioner` model as a model: images -> annotations `(B, L, D)`."""
    return keras.Model(model.inputs[0], model.get_layer("annotations").output, name="annotations")


def onnx_models(model):
    """`(encoder, decoder_step)` Keras models for the ONNX files (see the module docstring)."""
    decoder = model.get_layer("decoder")
    annotations = model.get_layer("annotations").output
    projected = decoder.attention.project_annotations(annotations)
    states = decoder.initial_state(annotations)
    encoder = keras.Model(model.inputs[0], [annotations, projected, *states], name="encoder")
    tokens = keras.Input((), dtype="int32", name="tokens")
    ann_in = keras.Input(annotations.shape[1:], name="annotations")
    proj_in = keras.Input(projected.shape[1:], name="projected")
    state_in = [keras.Input(s.shape[1:], name=f"state_{i}") for i, s in enumerate(states)]
    logits, new_states, weights = decoder.step(tokens, state_in, ann_in, proj_in)
    step = keras.Model([tokens, ann_in, proj_in, *state_in], [logits, *new_states, weights],
                       name="decoder_step")
    return encoder, step


class CaptionerServing:
    """The captioner's serving functions (see the module docstring for the signatures).

    `endpoints()` gives them with their input signatures for `saved_model_dir.write_saved_model`.

    Args:
        model: A trained `build_captioner` model.
        vocab: Its `CaptionVocabulary`.
        max_length: Most tokens per caption, `<end>` included.
        limits: The `CaptionerLimits` every request is checked against.
        length_penalty: alpha of the score `log_prob / len ** alpha`.
    """

    def __init__(self, model, vocab, max_length, limits=CaptionerLimits(),
                 length_penalty=LENGTH_PENALTY):
        self.model = model
        self.decoder = model.get_layer("decoder")
        self.encoder = annotation_model(model)
        self.image_size = int(model.inputs[0].shape[1])
        self.caption_ids = int(model.inputs[1].shape[1])  # n + 2
        self.words = words_by_id(vocab)
        self.vocab_size = len(self.words)
        if int(model.outputs[0].shape[-1]) != self.vocab_size:
            raise InputError(f"the model predicts {model.outputs[0].shape[-1]} ids but the "
                             f"vocabulary has {self.vocab_size}")
        self.pad_id, self.start_id, self.end_id = (self.words.index(t) for t in (PAD, START, END))
        self.max_length, self.limits = int(max_length), limits
        self.max_beam_width = limits.max_beam_width
        self.length_penalty = float(length_penalty)
        self.locations = int(self.encoder.output.shape[1])

    def endpoints(self):
        """`{signature name: (function, input signature)}`, the default (`caption`) first."""
        s = self.image_size
        images = tf.TensorSpec([None, s, s, 3], tf.float32, name="images")
        width = tf.TensorSpec(None, tf.int32, name="beam_width")
        return {
            "caption": (self.caption, [tf.TensorSpec([None], tf.string, name="image_bytes"), width]),
            "caption_images": (self.caption_images, [images, width]),
            "teacher_forced": (self.teacher_forced, [
                images, tf.TensorSpec([None, self.caption_ids], tf.int32, name="captions")]),
        }

    # -- inputs ---------------------------------------------------------------------------------

    def _images(self, images):
        # A served graph does not check request shapes against the signature; ensure_shape does.
        images = tf.ensure_shape(images, [None, self.image_size, self.image_size, 3])
        return gate([rows_check(tf.shape(images)[0], self.limits, "images")], images)

    def decode_images(self, image_bytes):
        """`(B,)` encoded images -> float32 `(B, S, S, 3)`; InvalidArgument for bad bytes or a
        request over the limits (checked before anything is decoded, one image at a time)."""
        image_bytes = tf.ensure_shape(image_bytes, [None])
        size, limits = self.image_size, self.limits
        sizes = tf.strings.length(image_bytes)
        image_bytes = gate([
            rows_check(tf.shape(image_bytes)[0], limits, "images"),
            tf.debugging.Assert(tf.reduce_all(sizes <= limits.max_image_bytes), [
                f"image too large: at most {limits.max_image_bytes} bytes (max_image_bytes); got",
                tf.reduce_max(tf.concat([sizes, [0]], 0)), "bytes"]),
        ], image_bytes)
        return tf.map_fn(lambda data: decode_image_bytes(data, size, limits), image_bytes,
                         fn_output_signature=tf.TensorSpec((size, size, 3), tf.float32),
                         parallel_iterations=1)

    def _widths(self, beam_width, batch):
        width = tf.reshape(beam_width, [-1])
        n = tf.shape(width)[0]
        limit = self.max_beam_width
        checks = [
            tf.debugging.Assert(tf.logical_or(tf.equal(n, 1), tf.equal(n, batch)), [
                "beam_width must be a single value or one value per image; got", n,
                "values for", batch, "images"]),
            tf.debugging.Assert(tf.reduce_all((width >= 1) & (width <= limit)), [
                f"beam_width must be between 1 (greedy) and {limit}; got", width]),
        ]
        with tf.control_dependencies(checks):
            return tf.broadcast_to(width, [batch])

    # -- signatures -----------------------------------------------------------------------------

    def caption(self, image_bytes, beam_width):
        return self.caption_images(self.decode_images(image_bytes), beam_width)

    def caption_images(self, images, beam_width):
        images = self._images(images)
        batch = tf.shape(images)[0]
        widths = self._widths(beam_width, batch)

        def run():
            out = self.search(self.encoder(images, training=False), widths)
            out["caption"] = self.caption_text(out["tokens"], out["length"])
            return out

        steps, locations = self.max_length, self.locations
        return _unless_empty(batch, run, {
            "caption": ([], tf.string), "tokens": ([steps], tf.int32),
            "attention": ([steps, locations], tf.float32), "length": ([], tf.int32),
            "log_prob": ([], tf.float32), "score": ([], tf.float32)})

    def teacher_forced(self, images, captions):
        images = self._images(images)
        captions = tf.ensure_shape(captions, [None, self.caption_ids])
        captions = gate([tf.debugging.Assert(
            tf.reduce_all((captions >= 0) & (captions < self.vocab_size)),
            [f"captions must hold word ids between 0 and {self.vocab_size - 1}"])], captions)

        def run():
            logits, alphas = self.model([images, captions], training=False)
            targets = captions[:, 1:]
            logp = tf.nn.log_softmax(logits, axis=-1)
            picked = tf.gather(logp, targets, batch_dims=2)
            real = tf.cast(tf.not_equal(targets, self.pad_id), logp.dtype)
            return {"logits": logits, "attention": alphas, "log_prob": tf.reduce_sum(picked * real, -1)}

        words = self.caption_ids - 1
        return _unless_empty(tf.shape(images)[0], run, {
            "logits": ([words, self.vocab_size], tf.float32),
            "attention": ([words, self.locations], tf.float32), "log_prob": ([], tf.float32)})

    # -- decoding -------------------------------------------------------------------------------

    def caption_text(self, tokens, length):
        """Ids `(B, T)` and lengths -> `(B,)` strings, as `CaptionVocabulary.decode` joins them."""
        cols = tf.range(tf.shape(tokens)[1])[None, :]
        keep = ((cols < length[:, None]) & (tokens != self.pad_id) & (tokens != self.start_id)
                & (tokens != self.end_id))
        words = tf.gather(tf.constant(self.words), tokens)
        return tf.strings.reduce_join(tf.ragged.boolean_mask(words, keep), axis=-1, separator=" ")

    def search(self, annotations, widths):
        """Beam search (`beam_search_batch`'s rules) with a beam width per image.

        Args:
            annotations: float32 `(B, L, D)`.
            widths: int32 `(B,)`, each >= 1.

        Returns:
            dict of `tokens` int32 `(B, T)`, `attention` float32 `(B, T, L)`, `length` int32
            `(B,)`, `log_prob` and `score` float32 `(B,)`.
        """
        decoder, steps, vocab = self.decoder, self.max_length, self.vocab_size
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
            last = tf.where(alive & (step > 0), previous, self.start_id)
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
            final = valid & ((word == self.end_id) | (step == steps - 1))
            survive = valid & ~final
            new_tokens = write(tf.gather(tokens, parent, batch_dims=1), step, word)
            new_maps = write(tf.gather(maps, parent, batch_dims=1), step,
                             tf.gather(weights, parent, batch_dims=1))
            # The best finished caption so far: max() over finished captions in the order they
            # finished keeps the first of equal scores, so only a strictly higher one replaces it.
            score = value / tf.pow(tf.cast(step + 1, f64), self.length_penalty)
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
                tf.cast(steps, f64), self.length_penalty)
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


@contextlib.contextmanager
def _quiet_table_warning():
    """Drops TensorFlow's "Issue encountered when serializing table_initializer" warning, which
    tf2onnx's graph export prints once the vocabulary's lookup tables exist (they are not part of
    the converted graphs)."""

    def keep(record):
        return "serializing table_initializer" not in record.getMessage()

    logger = tf.get_logger()
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def _unless_empty(batch, run, empty):
    """`run()` for a batch of at least one image, else empty outputs `{name: (shape, dtype)}`
    (TensorFlow's CPU convolutions refuse a batch of zero images)."""
    return tf.cond(batch > 0, run, lambda: {name: tf.zeros([0, *shape], dtype)
                                             for name, (shape, dtype) in empty.items()})


def _png(image):
    return tf.io.encode_png(tf.constant(image, tf.uint8)).numpy()


def export(run_dir, staging_dir, limits=CaptionerLimits(), max_length=None):
    """Writes the captioner's SavedModel and `onnx/` files (see `saved_model_dir` for the protocol).

    Args:
        run_dir: A finished captioner run.
        staging_dir: The version's staging folder.
        limits: The `CaptionerLimits` of every signature.
        max_length: Most tokens per caption, `<end>` included (default: the trained caption
            length + 1, as `train_captioner.py` decodes).
    """
    model, vocab, config = load_captioner(run_dir)
    max_length = config["model"]["max_length"] + 1 if max_length is None else max_length
    if not isinstance(max_length, int) or isinstance(max_length, bool) or not 1 <= max_length <= 1000:
        raise InputError(f"max_length must be an integer between 1 and 1000, got {max_length!r}")
    module = CaptionerServing(model, vocab, max_length, limits)
    signatures = saved_model_dir.write_saved_model(staging_dir, [model], module.endpoints())

    onnx_dir = staging_dir / saved_model_dir.ONNX_DIR
    onnx_dir.mkdir()
    encoder, step = onnx_models(model)
    state_names = [t.name for t in step.inputs[3:]]
    with _quiet_table_warning():
        to_onnx(encoder, onnx_dir / driver.ENCODER_FILE,
                output_name=["annotations", "projected", *state_names])
        to_onnx(step, onnx_dir / driver.STEP_FILE,
                output_name=["logits", *("next_" + n for n in state_names), "attention"])
    vocab.save(onnx_dir)
    limits.save(onnx_dir)
    decoding = {"start_id": module.start_id, "end_id": module.end_id, "pad_id": module.pad_id,
                "max_length": module.max_length, "length_penalty": module.length_penalty,
                "image_size": module.image_size, "states": state_names}
    (onnx_dir / driver.DECODING_FILE).write_text(json.dumps(decoding, indent=2) + "\n")

    s = module.image_size
    blank = np.zeros((1, s, s, 3), np.float32)
    one = np.array([1], np.int32)
    warmup = [("caption", {"image_bytes": np.array([_png(np.zeros((s, s, 3), np.uint8))], object),
                           "beam_width": one}),
              ("caption_images", {"images": blank, "beam_width": one}),
              ("teacher_forced", {"images": blank, "captions": np.zeros((1, module.caption_ids), np.int32)})]
    training = config.get("training") or {}
    card = {
        "vocab_size": len(vocab),
        "vocabulary": module.words,
        "image_size": s,
        "locations": module.locations,
        "training_data": {k: training.get(k) for k in ("dataset", "data_dir", "train_count",
                                                       "test_count", "min_count")},
        "signatures": signatures,
        "caption": {"max_length": module.max_length, "length_penalty": module.length_penalty,
                    "search": "beam_search_batch's rules; beam_width 1 = greedy_decode",
                    "images": f"{', '.join(f.upper() for f in limits.image_formats)}; resized to "
                              "image_size (bilinear, antialias)"},
        "onnx": {"opset": DEFAULT_OPSET, "files": [
            f"{saved_model_dir.ONNX_DIR}/{name}" for name in (
                driver.ENCODER_FILE, driver.STEP_FILE, CaptionVocabulary.FILENAME, driver.DECODING_FILE,
                LIMITS_FILE)]},
    }
    return {"card": card, "warmup": warmup}


def verify_images(training, image_size, count, seed):
    """verify's fixed images, uint8 `(count, S, S, 3)`: test scenes for scenes runs, else noise."""
    if (training or {}).get("dataset") == "scenes":
        from kerasrnn.data.captions import load_captions

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
                return saved_model_dir.Check(name, False, f"image {i}: {other_name} {list(b)} vs "
                                                          f"{first_name} {list(a)}")
    lengths = [len(t) for t in first]
    return saved_model_dir.Check(name, True, f"identical, {len(first)} captions of {min(lengths)} to "
                                             f"{max(lengths)} tokens ({', '.join(results)})")


def verify(version_dir, card, run_dir, batch_size=4, beam_width=3, seed=0):
    """Compares the Keras model, the SavedModel and the ONNX driver (see `verify.py`)."""
    model, vocab, config = load_captioner(run_dir)
    words = words_by_id(vocab)
    if words != card.get("vocabulary"):
        return [saved_model_dir.Check("vocabulary", False, "the run's vocab.json differs from the export's")]
    size, steps = card["image_size"], card["caption"]["max_length"]
    start, end = words.index(START), words.index(END)
    pixels = verify_images(config.get("training"), size, batch_size, seed)
    encoded = np.array([_png(p) for p in pixels], object)
    images = np.stack([decode_image_bytes(tf.constant(b), size).numpy() for b in encoded])
    loaded = saved_model_dir.load_saved_model(version_dir)
    onnx = driver.CaptionerONNX(version_dir / saved_model_dir.ONNX_DIR)
    close = saved_model_dir.max_diff_check
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
    checks.append(close("teacher-forced logits" + ("+attention" if soft else "")
                        + ": Keras vs ONNX encoder + decoder step",
                        [logits, alphas] if soft else [logits],
                        [onnx_logits, onnx_weights] if soft else [onnx_logits]))

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
        checks.append(saved_model_dir.Check(
            f"{label}: SavedModel caption strings = CaptionVocabulary.decode(tokens)", texts == decoded,
            f"e.g. {texts[0]!r}" if texts == decoded else f"{texts} vs {decoded}"))
    return checks
