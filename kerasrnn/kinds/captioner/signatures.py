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

Decoding reproduces `kerasrnn.kinds.captioner.model.beam_search_batch` step for step (float64
bookkeeping, the same ranking and tie order, the same finished/survivor rules and
`log_prob / len ** length_penalty` choice; `beam_width=1` is `greedy_decode`), in a
`tf.while_loop` that carries all beams of all images through one decoder call per step; a
batch may mix beam widths. Every image is decoded on its own: its caption does not depend on the
other images of a batch (up to float rounding of batched matmuls).

Bad requests fail with an InvalidArgument error that says what is wrong, never a crashed server:
image bytes of a format the export does not accept (told by their magic bytes, so e.g. GIF and WebP
are refused although TensorFlow's decoder reads them) or that do not decode, a beam width outside
1..max_beam_width, a beam_width with neither 1 nor B values, images of the wrong size or dtype,
caption ids outside the vocabulary, captions with another number of rows than images. A request
with no images is answered with no rows (`request_checks.unless_empty`). What one request may
cost is bounded by the export's `limits.CaptionerLimits` (model card `limits`): images per request, bytes per image, the
pixels an image's header claims and the work decoding it may cost (both checked before decoding,
`image_files.decode_untrusted`), beam width; captions have at most `max_length` tokens. Every check runs before the work it guards
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
`kerasrnn.export.onnx_driver.CaptionerONNX` runs greedy and beam search on them with
numpy and onnxruntime only.
"""

import tensorflow as tf

from kerasrnn.kinds.captioner.vocab import END, PAD, SPECIAL_TOKENS, START
from kerasrnn.data.image_files import decode_untrusted, resize_image
from kerasrnn.errors import InputError
from kerasrnn.kinds.captioner.beam_search_tf import beam_search
from kerasrnn.kinds.captioner.onnx_models import annotation_model
from kerasrnn.export.request_checks import gate, rows_check, unless_empty
from kerasrnn.kinds.captioner.limits import CaptionerLimits
from kerasrnn.kinds.captioner.beam_search_numpy import LENGTH_PENALTY


def decode_image_bytes(data, image_size, limits=CaptionerLimits()):
    """Encoded image bytes (scalar string tensor) -> float32 `(S, S, 3)` in [0, 1].

    What `kerasrnn.data.image_files.load_image` does after reading the file (a test keeps the
    two equal), with the header and the decoding work checked first against `limits`
    (`decode_untrusted`).
    """
    image = decode_untrusted(data, limits.max_image_pixels, limits.image_formats, limits.max_decode_work)
    return resize_image(image, image_size)


def words_by_id(vocab):
    """The vocabulary's tokens in id order (`<pad>`, `<unk>`, `<start>`, `<end>`, words...)."""
    words = [*SPECIAL_TOKENS, *vocab.words]
    for token in (PAD, START, END):  # the ids the decoder and `CaptionVocabulary` agree on
        if vocab.id(token) != words.index(token):
            raise InputError(f"the vocabulary gives {token} id {vocab.id(token)}, not "
                             f"{words.index(token)}; it is not a CaptionVocabulary this export knows")
    return words


class CaptionerServing:
    """The captioner's serving functions (see the module docstring for the signatures).

    `endpoints()` gives them with their input signatures for `saved_model.write_saved_model`.

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
            out = beam_search(self.decoder, self.encoder(images, training=False), widths, self.start_id,
                              self.end_id, self.max_length, self.vocab_size, self.length_penalty)
            out["caption"] = self.caption_text(out["tokens"], out["length"])
            return out

        steps, locations = self.max_length, self.locations
        return unless_empty(batch, run, {
            "caption": ([], tf.string), "tokens": ([steps], tf.int32),
            "attention": ([steps, locations], tf.float32), "length": ([], tf.int32),
            "log_prob": ([], tf.float32), "score": ([], tf.float32)})

    def teacher_forced(self, images, captions):
        images = self._images(images)
        captions = tf.ensure_shape(captions, [None, self.caption_ids])
        images, captions = gate([
            tf.debugging.Assert(tf.equal(tf.shape(captions)[0], tf.shape(images)[0]), [
                "captions must have one row per image; got", tf.shape(captions)[0], "rows for",
                tf.shape(images)[0], "images"]),
            tf.debugging.Assert(tf.reduce_all((captions >= 0) & (captions < self.vocab_size)), [
                f"captions must hold word ids between 0 and {self.vocab_size - 1}"])], images, captions)

        def run():
            logits, alphas = self.model([images, captions], training=False)
            targets = captions[:, 1:]
            logp = tf.nn.log_softmax(logits, axis=-1)
            picked = tf.gather(logp, targets, batch_dims=2)
            real = tf.cast(tf.not_equal(targets, self.pad_id), logp.dtype)
            return {"logits": logits, "attention": alphas, "log_prob": tf.reduce_sum(picked * real, -1)}

        words = self.caption_ids - 1
        return unless_empty(tf.shape(images)[0], run, {
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

