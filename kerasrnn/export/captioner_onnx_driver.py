"""Captioning without TensorFlow: the exported encoder and decoder step, ONNX Runtime and numpy.

`export/export_model.py` writes into a captioner version's `onnx/` folder:

    encoder.onnx       images (B, S, S, 3) float32 in [0, 1] -> annotations (B, L, D),
                       projected (B, L, A), state_<i> (B, H)   (the decoder's initial states)
    decoder_step.onnx  tokens (B,) int32, annotations, projected, state_<i>
                       -> logits (B, V), next_state_<i> (B, H), attention (B, L)
    vocab.json         the caption vocabulary (ids: <pad> 0, <unk> 1, <start> 2, <end> 3, words)
    decoding.json      start/end/pad ids, max_length, length_penalty, image_size, state names

`CaptionerONNX` runs greedy decoding and beam search over them with the bookkeeping of
`kerasrnn.models.captioner.beam_search_batch` (a copy that needs only numpy, since that module
imports Keras; a test checks the two agree), so a user with numpy and onnxruntime gets the
captions the SavedModel's `caption` signature gives:

    from kerasrnn.export.captioner_onnx_driver import CaptionerONNX
    captioner = CaptionerONNX("saved_models/scenes/1/onnx")
    for c in captioner.beam_search(images, beam_width=3):   # images: float32 (B, S, S, 3)
        print(captioner.decode(c.tokens), c.score)

Images must already be S x S RGB floats in [0, 1], resized as the model was trained
(`kerasrnn.data.image_files.load_image`: bilinear with antialiasing); the SavedModel's `caption`
signature does that from encoded bytes itself.

This module imports only numpy and onnxruntime (and `kerasrnn.errors`), never TensorFlow or Keras.
"""

import dataclasses
import json
import pathlib

import numpy as np

from kerasrnn.errors import InputError

ENCODER_FILE, STEP_FILE = "encoder.onnx", "decoder_step.onnx"
VOCAB_FILE, DECODING_FILE = "vocab.json", "decoding.json"


@dataclasses.dataclass
class Caption:
    """One decoded caption (as `kerasrnn.models.captioner.Caption`): word ids (without `<start>`,
    with `<end>` if reached), the summed log-probability, the length-normalised score, and one
    attention map `(L,)` per id."""

    tokens: list
    log_prob: float
    score: float
    alphas: np.ndarray


def log_softmax(logits):
    """float64 log-softmax over the last axis, computed as `beam_search_batch` computes it."""
    logits = np.asarray(logits).astype(np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def beam_search(step, annotations, projected, states, start_id, end_id, max_length, beam_width=3,
                length_penalty=0.7):
    """`beam_search_batch`'s search over any decoder step function.

    For each image, keeps the `beam_width` best partial captions by summed log-probability; a
    caption that emits `<end>` (or reaches `max_length`) is finished; an image's search stops
    when `beam_width` captions are finished or no beam is left, and it gets the finished caption
    with the best score `log_prob / len ** length_penalty` (the first of equal ones).
    `beam_width=1` is greedy decoding.

    Args:
        step: `(tokens (N,), states, annotations (N, L, D), projected) -> (logits (N, V),
            states, weights (N, L))`, numpy in and out.
        annotations, projected: The encoder's outputs for B images.
        states: The decoder's initial states, a list of `(B, H)` arrays.
        start_id, end_id: Ids of `<start>` and `<end>`.
        max_length: Most tokens generated (`<end>` included).
        beam_width: Number of beams k (>= 1).
        length_penalty: alpha of the length normalisation (0 = none).

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
            searching[b] = len(finished[b]) < k and bool(survivors)
        if not searching.any():
            break
        index = (np.arange(batch)[:, None] * k + keep).reshape(-1)
        states = [np.asarray(s)[index] for s in new_states]
    out = []
    for b in range(batch):
        best = max(finished[b], key=lambda h: h[1] / len(h[0]) ** length_penalty)
        out.append(Caption(best[0], best[1], best[1] / len(best[0]) ** length_penalty, np.stack(best[2])))
    return out


class CaptionerONNX:
    """Captions images with ONNX Runtime from an exported captioner's `onnx/` folder.

    Args:
        onnx_dir: The folder holding the files listed in the module docstring (a version's `onnx/`).
    """

    def __init__(self, onnx_dir):
        import onnxruntime

        onnx_dir = pathlib.Path(onnx_dir)
        for name in (ENCODER_FILE, STEP_FILE, VOCAB_FILE, DECODING_FILE):
            if not (onnx_dir / name).is_file():
                raise InputError(f"{onnx_dir} has no {name}; give the onnx/ folder of an exported "
                                 "captioner version")
        vocab = json.loads((onnx_dir / VOCAB_FILE).read_text())
        self.words = [*vocab["special"], *vocab["words"]]
        settings = json.loads((onnx_dir / DECODING_FILE).read_text())
        self.start_id, self.end_id = settings["start_id"], settings["end_id"]
        self.pad_id = settings["pad_id"]
        self.max_length, self.length_penalty = settings["max_length"], settings["length_penalty"]
        self.image_size, self.state_names = settings["image_size"], settings["states"]
        options = {"providers": ["CPUExecutionProvider"]}
        self.encoder = onnxruntime.InferenceSession(str(onnx_dir / ENCODER_FILE), **options)
        self.decoder = onnxruntime.InferenceSession(str(onnx_dir / STEP_FILE), **options)
        self._step_outputs = ["logits", *("next_" + n for n in self.state_names), "attention"]

    def _images(self, images):
        images = np.asarray(images, np.float32)
        s = self.image_size
        if images.ndim != 4 or images.shape[1:] != (s, s, 3):
            raise InputError(f"images must be float32 (B, {s}, {s}, 3), got shape {images.shape}")
        return images

    def encode(self, images):
        """Images `(B, S, S, 3)` -> `(annotations, projected, initial states)`."""
        annotations, projected, *states = self.encoder.run(
            ["annotations", "projected", *self.state_names], {"images": self._images(images)})
        return annotations, projected, states

    def step(self, tokens, states, annotations, projected):
        """One decoder step: `(logits (N, V), states, attention (N, L))`."""
        feed = {"tokens": np.asarray(tokens, np.int32), "annotations": annotations,
                "projected": projected, **dict(zip(self.state_names, states))}
        logits, *rest = self.decoder.run(self._step_outputs, feed)
        return logits, rest[:-1], rest[-1]

    def beam_search(self, images, beam_width=1, max_length=None):
        """Captions images: greedy at `beam_width=1`, else beam search. Returns B `Caption`s.

        Args:
            images: float32 `(B, S, S, 3)` in [0, 1].
            beam_width: Number of beams (1 = greedy).
            max_length: Most tokens per caption (default: the export's).
        """
        annotations, projected, states = self.encode(images)
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
        """
        annotations, projected, states = self.encode(images)
        captions = np.asarray(captions, np.int32)
        logits, maps = [], []
        for t in range(captions.shape[1] - 1):
            step_logits, states, weights = self.step(captions[:, t], states, annotations, projected)
            logits.append(step_logits)
            maps.append(weights)
        return np.stack(logits, axis=1), np.stack(maps, axis=1)
