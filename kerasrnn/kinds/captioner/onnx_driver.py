"""Captioning without TensorFlow: the exported encoder and decoder step, ONNX Runtime and numpy.

`export/export_model.py` writes into a captioner version's `onnx/` folder:

    encoder.onnx       images (B, S, S, 3) float32 in [0, 1] -> annotations (B, L, D),
                       projected (B, L, A), state_<i> (B, H)   (the decoder's initial states)
    decoder_step.onnx  tokens (B,) int32, annotations, projected, state_<i>
                       -> logits (B, V), next_state_<i> (B, H), attention (B, L)
    vocab.json         the caption vocabulary (ids: <pad> 0, <unk> 1, <start> 2, <end> 3, words)
    decoding.json      start/end/pad ids, max_length, length_penalty, image_size, state names
    limits.json        the export's request limits (`limits.CaptionerLimits`): images
                       per call and beam width are checked here as the SavedModel checks them
                       (the driver takes pixels, never encoded images: the image limits are
                       for whoever decodes them)

`CaptionerONNX` runs greedy decoding and beam search over them with
`kerasrnn.kinds.captioner.beam_search_numpy.beam_search`, the numpy search `beam_search_batch` runs too, so a
user with numpy and onnxruntime gets the captions the SavedModel's `caption` signature gives:

    from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX
    captioner = CaptionerONNX("saved_models/scenes/1/onnx")
    for c in captioner.beam_search(images, beam_width=3):   # images: float32 (B, S, S, 3)
        print(captioner.decode(c.tokens), c.score)

The SavedModel's request rules hold here too: zero images are answered with zero captions (zero
rows), captions with another number of rows than images are refused.

Images must already be S x S RGB floats in [0, 1], resized as the model was trained
(`kerasrnn.data.image_files.load_image`: bilinear with antialiasing); the SavedModel's `caption`
signature does that from encoded bytes itself.

This module imports only numpy and onnxruntime (and `kerasrnn.errors`, `request_limits`), never
TensorFlow or Keras.
"""

import pathlib

import numpy as np

from kerasrnn.errors import InputError
from kerasrnn.export import version_files
from kerasrnn.export.request_limits import LIMITS_FILE
from kerasrnn.kinds.captioner.limits import CaptionerLimits
from kerasrnn.kinds.captioner.beam_search_numpy import Caption, beam_search, log_softmax  # noqa: F401 (API)

ENCODER_FILE, STEP_FILE = "encoder.onnx", "decoder_step.onnx"
VOCAB_FILE, DECODING_FILE = "vocab.json", "decoding.json"


class CaptionerONNX:
    """Captions images with ONNX Runtime from an exported captioner's `onnx/` folder.

    Args:
        onnx_dir: The folder holding the files listed in the module docstring (a version's `onnx/`).
    """

    def __init__(self, onnx_dir):
        onnx_dir = pathlib.Path(onnx_dir)
        for name in (ENCODER_FILE, STEP_FILE, VOCAB_FILE, DECODING_FILE, LIMITS_FILE):
            if not (onnx_dir / name).is_file():
                raise InputError(f"{onnx_dir} has no {name}; give the onnx/ folder of an exported "
                                 "captioner version")
        vocab = version_files.read_json(onnx_dir / VOCAB_FILE, {"special": list, "words": list})
        self.words = [*vocab["special"], *vocab["words"]]
        self.limits = CaptionerLimits.load(onnx_dir)
        settings = version_files.read_json(onnx_dir / DECODING_FILE, {
            "start_id": int, "end_id": int, "pad_id": int, "max_length": int,
            "length_penalty": (int, float), "image_size": int, "states": list})
        if not all(0 <= settings[k] < len(self.words) for k in ("start_id", "end_id", "pad_id")) \
                or not 1 <= settings["max_length"] <= 1000 or settings["image_size"] < 1:
            raise InputError(f"{onnx_dir / DECODING_FILE} is damaged (ids, max_length or image_size "
                             "out of range); export the model again")
        self.start_id, self.end_id = settings["start_id"], settings["end_id"]
        self.pad_id = settings["pad_id"]
        self.max_length, self.length_penalty = settings["max_length"], settings["length_penalty"]
        self.image_size, self.state_names = settings["image_size"], settings["states"]
        self.encoder = version_files.session(onnx_dir / ENCODER_FILE)
        self.decoder = version_files.session(onnx_dir / STEP_FILE)
        self._step_outputs = ["logits", *("next_" + n for n in self.state_names), "attention"]

    def _images(self, images):
        images = np.asarray(images, np.float32)
        s = self.image_size
        if images.ndim != 4 or images.shape[1:] != (s, s, 3):
            raise InputError(f"images must be float32 (B, {s}, {s}, 3), got shape {images.shape}")
        if len(images) > self.limits.max_rows:
            raise InputError(f"too many images: at most {self.limits.max_rows} (max_rows), "
                             f"got {len(images)}")
        return images

    def encode(self, images):
        """Images `(B, S, S, 3)` -> `(annotations, projected, initial states)`; zero images give
        zero rows of each (ONNX Runtime's Reshape refuses a batch of zero: one blank image is
        encoded for the shapes)."""
        images = self._images(images)
        names = ["annotations", "projected", *self.state_names]
        if len(images):
            annotations, projected, *states = self.encoder.run(names, {"images": images})
        else:
            blank = np.zeros((1, *images.shape[1:]), np.float32)
            annotations, projected, *states = (x[:0] for x in self.encoder.run(names, {"images": blank}))
        return annotations, projected, states

    def step(self, tokens, states, annotations, projected):
        """One decoder step: `(logits (N, V), states, attention (N, L))`.

        Raises:
            InputError: A token id outside the vocabulary.
        """
        tokens = np.asarray(tokens)
        if tokens.size and (tokens.min() < 0 or tokens.max() >= len(self.words)):
            raise InputError(f"tokens must be word ids between 0 and {len(self.words) - 1}")
        feed = {"tokens": tokens.astype(np.int32), "annotations": annotations,
                "projected": projected, **dict(zip(self.state_names, states))}
        logits, *rest = self.decoder.run(self._step_outputs, feed)
        return logits, rest[:-1], rest[-1]

    def beam_search(self, images, beam_width=1, max_length=None):
        """Captions images: greedy at `beam_width=1`, else beam search. Returns B `Caption`s.

        Args:
            images: float32 `(B, S, S, 3)` in [0, 1].
            beam_width: Number of beams (1 = greedy).
            max_length: Most tokens per caption (default and most: the export's).
        """
        limit = self.limits.max_beam_width
        if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) \
                or not 1 <= beam_width <= limit:
            raise InputError(f"beam_width must be between 1 (greedy) and {limit} (max_beam_width), "
                             f"got {beam_width!r}")
        if max_length is not None and not 1 <= max_length <= self.max_length:
            raise InputError(f"max_length must be between 1 and {self.max_length}, got {max_length}")
        annotations, projected, states = self.encode(images)
        if not len(annotations):  # zero images: zero captions, as the SavedModel answers
            return []
        return beam_search(self.step, annotations, projected, states, self.start_id, self.end_id,
                           max_length or self.max_length, beam_width, self.length_penalty)

    def caption(self, images, beam_width=1):
        """Captions images as text: a list of B strings."""
        return [self.decode(c.tokens) for c in self.beam_search(images, beam_width)]

    def decode(self, tokens):
        """Ids -> caption text, stopping at `<end>`, skipping `<pad>` and `<start>` (as
        `CaptionVocabulary.decode`)."""
        words = []
        for i in tokens:
            if i == self.end_id:
                break
            if i not in (self.pad_id, self.start_id):
                words.append(self.words[i])
        return " ".join(words)

    def teacher_forced(self, images, captions):
        """The training model's outputs from the ONNX pieces, fed the given captions.

        Args:
            images: float32 `(B, S, S, 3)`.
            captions: int `(B, T + 1)`, `<start> w1 .. <end> <pad>..`.

        Returns:
            `(logits (B, T, V), attention (B, T, L))` for `captions[:, 1:]`.

        Raises:
            InputError: captions that are not `(B, T + 1)` with T >= 1 and B the images' rows,
                or hold ids outside the vocabulary.
        """
        annotations, projected, states = self.encode(images)
        captions = np.asarray(captions)
        if captions.ndim != 2 or captions.shape[1] < 2 or not np.issubdtype(captions.dtype, np.integer):
            raise InputError(f"captions must be int (B, T + 1) with T >= 1, got {captions.dtype} {captions.shape}")
        if captions.size and (captions.min() < 0 or captions.max() >= len(self.words)):
            raise InputError(f"captions must hold word ids between 0 and {len(self.words) - 1}")
        if len(captions) != len(annotations):
            raise InputError(f"captions must have one row per image; got {len(captions)} rows for "
                             f"{len(annotations)} images")
        if not len(captions):
            t = captions.shape[1] - 1
            return (np.zeros((0, t, len(self.words)), np.float32),
                    np.zeros((0, t, annotations.shape[1]), np.float32))
        captions = captions.astype(np.int32)
        logits, maps = [], []
        for t in range(captions.shape[1] - 1):
            step_logits, states, weights = self.step(captions[:, t], states, annotations, projected)
            logits.append(step_logits)
            maps.append(weights)
        return np.stack(logits, axis=1), np.stack(maps, axis=1)
