"""Writing DRAW's version: its SavedModel (`signatures.DRAWServing`), `onnx/decoder_step.onnx`,
`onnx/reconstruct_step.onnx`, `onnx/draw.json` and `onnx/limits.json`, model card fields and
warm-up requests."""

import json

import numpy as np

from kerasrnn.export.onnx import DEFAULT_OPSET, to_onnx
from kerasrnn.export.saved_model import write_saved_model
from kerasrnn.export.version_dir import ONNX_DIR
from kerasrnn.kinds.draw import onnx_driver as driver
from kerasrnn.kinds.draw.limits import DRAWLimits
from kerasrnn.kinds.draw.onnx_models import (RECONSTRUCT_OUTPUTS, STEP_OUTPUTS, decoder_step,
                                             reconstruct_step)
from kerasrnn.kinds.draw.signatures import BINARY_THRESHOLD, DRAWServing
from kerasrnn.kinds.draw.trained import load_draw


def export(run_dir, staging_dir, limits=DRAWLimits()):
    """Writes DRAW's SavedModel and `onnx/` files (the protocol: `kerasrnn.export.kind_plugin`)."""
    model, config = load_draw(run_dir)
    sizes = config["model"]
    module = DRAWServing(model, sizes, limits)
    described = write_saved_model(staging_dir, [model, module.generator], module.endpoints())
    onnx_dir = staging_dir / ONNX_DIR
    onnx_dir.mkdir()
    files = [to_onnx(decoder_step(module.generator), onnx_dir / driver.STEP_FILE,
                     output_name=list(STEP_OUTPUTS)),
             to_onnx(reconstruct_step(model), onnx_dir / driver.RECONSTRUCT_FILE,
                     output_name=list(RECONSTRUCT_OUTPUTS))]
    drawn = {key: sizes[key] for key in driver.SIZES}
    drawn["image_shape"] = list(drawn["image_shape"])
    files.append(onnx_dir / driver.SIZES_FILE)
    files[-1].write_text(json.dumps(drawn, indent=2) + "\n")
    files.append(limits.save(onnx_dir))
    training = config.get("training") or {}
    card = {
        "training_data": {"dataset": "MNIST, binarized", "train_size": training.get("train_size"),
                          "val_size": training.get("val_size")},
        "signatures": described,
        "generate": {"noise": "eps[b, t, d] = counter_normal(seed[b], t * latent_dim + d): "
                              "splitmix64 and Box-Muller, see kerasrnn/export/counter_random.py"},
        "reconstruct": {"binarization": f"a pixel >= {BINARY_THRESHOLD} is 1, else 0"},
        "onnx": {"opset": DEFAULT_OPSET, "files": [f"{ONNX_DIR}/{p.name}" for p in files]},
    }
    seed = np.array([0], np.int64)
    blank = np.zeros((1, *sizes["image_shape"]), np.float32)
    return {"card": card, "warmup": [("generate", {"seed": seed}),
                                     ("reconstruct", {"images": blank, "seed": seed})]}
