"""Writing the captioner's version: its SavedModel (`signatures.CaptionerServing`), `onnx/`
(encoder, decoder step, vocabulary, decoding settings, limits), model card fields, warm-up."""

import contextlib
import json

import numpy as np
import tensorflow as tf

from kerasrnn.kinds.captioner.vocab import CaptionVocabulary
from kerasrnn.errors import InputError
from kerasrnn.export.version_dir import ONNX_DIR
from kerasrnn.kinds.captioner import onnx_driver as driver
from kerasrnn.kinds.captioner.onnx_models import onnx_models
from kerasrnn.kinds.captioner.signatures import CaptionerServing
from kerasrnn.export.onnx import DEFAULT_OPSET, to_onnx
from kerasrnn.export.request_limits import LIMITS_FILE
from kerasrnn.kinds.captioner.limits import CaptionerLimits
from kerasrnn.export.saved_model import write_saved_model
from kerasrnn.kinds.captioner.trained import load_captioner


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


def png(image):
    return tf.io.encode_png(tf.constant(image, tf.uint8)).numpy()


def export(run_dir, staging_dir, limits=CaptionerLimits(), max_length=None):
    """Writes the captioner's SavedModel and `onnx/` files (the protocol: `kerasrnn.export.kind_plugin`).

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
    signatures = write_saved_model(staging_dir, [model], module.endpoints())

    onnx_dir = staging_dir / ONNX_DIR
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
    warmup = [("caption", {"image_bytes": np.array([png(np.zeros((s, s, 3), np.uint8))], object),
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
            f"{ONNX_DIR}/{name}" for name in (
                driver.ENCODER_FILE, driver.STEP_FILE, CaptionVocabulary.FILENAME, driver.DECODING_FILE,
                LIMITS_FILE)]},
    }
    return {"card": card, "warmup": warmup}
