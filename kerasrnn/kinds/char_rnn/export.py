"""Writing the char model's version: its SavedModel (`signatures.CharServing`), `onnx/step.onnx`,
`onnx/vocab.json` and `onnx/limits.json`, model card fields and warm-up requests."""

import numpy as np

from kerasrnn.kinds.char_rnn.text import Vocabulary
from kerasrnn.export.version_dir import ONNX_DIR
from kerasrnn.kinds.char_rnn import onnx_driver as driver
from kerasrnn.kinds.char_rnn.signatures import CharServing
from kerasrnn.export.onnx import DEFAULT_OPSET, to_onnx
from kerasrnn.export.request_limits import LIMITS_FILE
from kerasrnn.kinds.char_rnn.limits import CharLimits
from kerasrnn.export.saved_model import write_saved_model
from kerasrnn.kinds.char_rnn.model import inference_model, zero_states
from kerasrnn.kinds.char_rnn.trained import load_char_model


def export(run_dir, staging_dir, limits=CharLimits()):
    """Writes the char model's SavedModel and `onnx/` (`step.onnx`, `vocab.json`, `limits.json`)
    (the protocol: `kerasrnn.export.kind_plugin`)."""
    step_model, vocab, config = load_char_model(run_dir, with_state=True)
    one_token = inference_model({**config["model"], "seq_length": 1, "unroll": True},
                                weights_from=step_model, with_state=True)
    module = CharServing(step_model, vocab.chars, limits, one_token_model=one_token)
    signatures = write_saved_model(staging_dir, [step_model, one_token],
                                                   module.endpoints())
    onnx_dir = staging_dir / ONNX_DIR
    onnx_dir.mkdir()
    to_onnx(step_model, onnx_dir / driver.STEP_FILE,
            output_name=["logits"] + ["next_" + n for n in module.state_names])
    vocab.save(onnx_dir)
    limits.save(onnx_dir)
    one = dict(length=np.array([8], np.int32), temperature=np.array([0.0], np.float32),
               top_k=np.array([0], np.int32), seed=np.array([0], np.int64))
    warmup = [
        ("generate", {"prime": np.array([driver.start_char(vocab.chars).encode()]), **one}),
        ("step", {"tokens": np.zeros((1, 1), np.int32),
                  **dict(zip(module.state_names, zero_states(step_model, 1)))}),
    ]
    card = {
        "vocab_size": len(vocab),
        "vocabulary": vocab.chars,
        "training_data": {"text": config["training"].get("text", "not recorded by the training run"),
                          "val_fraction": config["training"].get("val_fraction")},
        "signatures": signatures,
        "generate": {"start_char": driver.start_char(vocab.chars),
                     "unknown_chars": "skipped, counted in the 'skipped' output",
                     "random": "splitmix64(seed, generated index), see kerasrnn/kinds/char_rnn/onnx_driver.py"},
        "step_states": dict(zip(module.state_names, module.state_sizes)),
        "onnx": {"opset": DEFAULT_OPSET, "files": [f"{ONNX_DIR}/{driver.STEP_FILE}",
                                                   f"{ONNX_DIR}/{Vocabulary.FILENAME}",
                                                   f"{ONNX_DIR}/{LIMITS_FILE}"]},
    }
    return {"card": card, "warmup": warmup}
