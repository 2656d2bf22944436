"""Writing the classifier's version: its SavedModel (`signatures.STNServing`), `onnx/classifier.onnx`
(+ `rectifier.onnx` for the ST-CNN) and `onnx/limits.json`, model card fields, warm-up requests."""

import numpy as np

from kerasrnn.export.version_dir import ONNX_DIR
from kerasrnn.export.onnx import DEFAULT_OPSET, to_onnx
from kerasrnn.kinds.stn_classifier.limits import STNLimits
from kerasrnn.kinds.stn_classifier.signatures import CLASSIFIER_FILE, RECTIFIER_FILE, STNServing, with_probabilities
from kerasrnn.export.saved_model import write_saved_model
from kerasrnn.kinds.stn_classifier.trained import load_stn_model


def export(run_dir, staging_dir, limits=STNLimits()):
    """Writes the classifier's SavedModel and `onnx/` files (the protocol: `kerasrnn.export.kind_plugin`)."""
    model, config = load_stn_model(run_dir)
    module = STNServing(model, limits)
    described = write_saved_model(staging_dir, [model], module.endpoints())
    onnx_dir = staging_dir / ONNX_DIR
    onnx_dir.mkdir()
    files = [to_onnx(with_probabilities(model), onnx_dir / CLASSIFIER_FILE,
                     output_name=["logits", "probabilities"])]
    if module.rectifier is not None:
        files.append(to_onnx(module.rectifier, onnx_dir / RECTIFIER_FILE, output_name="rectified"))
    files.append(limits.save(onnx_dir))
    blank = {"images": np.zeros((1, *model.input.shape[1:]), np.float32)}
    training = config.get("training") or {}
    card = {
        "num_classes": int(model.output.shape[-1]),
        "input_shape": list(model.input.shape[1:]),
        "training_data": {"dataset": "MNIST", "distortion": training.get("distortion"),
                          "train_size": training.get("train_size"), "val_size": training.get("val_size")},
        "signatures": described,
        "onnx": {"opset": DEFAULT_OPSET,
                 "files": [f"{ONNX_DIR}/{p.name}" for p in files]},
    }
    return {"card": card, "warmup": [(name, blank) for name in described]}
