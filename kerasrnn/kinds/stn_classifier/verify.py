"""Checking a classifier version: Keras, SavedModel and ONNX (in every ONNX runtime installed) give
the same logits, probabilities, classes and (ST-CNN) rectified images."""

import keras
import numpy as np
import tensorflow as tf

from kerasrnn.export import verification, version_files
from kerasrnn.export.version_dir import ONNX_DIR, load_saved_model
from kerasrnn.export.onnx import onnx_outputs
from kerasrnn.kinds.stn_classifier.signatures import CLASSIFIER_FILE, RECTIFIER_FILE, has_transformer
from kerasrnn.kinds.stn_classifier.model import rectifier
from kerasrnn.kinds.stn_classifier.trained import load_stn_model


def verify(version_dir, card, run_dir, batch_size=8, seed=0):
    """Compares the Keras model, the SavedModel and the ONNX files on fixed images (see `verify.py`);
    the ONNX files in every ONNX runtime installed, the classes from ONNX Runtime's logits."""
    model, _ = load_stn_model(run_dir)
    # As many images as the version's limits let one request hold.
    batch_size = min(batch_size, (card.get("limits") or {}).get("max_rows") or batch_size)
    images = np.random.default_rng(seed).random((batch_size, *model.input.shape[1:])).astype(np.float32)
    logits = np.asarray(model.predict_on_batch(images))
    probs = np.asarray(keras.ops.softmax(logits))
    loaded = load_saved_model(version_dir)
    served = {k: v.numpy() for k, v in loaded.signatures["classify"](images=tf.constant(images)).items()}
    onnx_dir = version_dir / ONNX_DIR
    (onnx_logits,) = onnx_outputs(onnx_dir / CLASSIFIER_FILE, {"images": images}, ["logits"])
    close = verification.max_diff_check
    checks = [
        close("logits+probabilities: Keras vs SavedModel", [logits, probs],
              [served["logits"], served["probabilities"]]),
        verification.runtime_check("logits+probabilities: Keras vs ONNX", [
            (onnx_dir / CLASSIFIER_FILE, {"images": images}, {"logits": logits, "probabilities": probs})]),
    ]
    classes = {"Keras": logits.argmax(-1), "SavedModel": served["class_ids"],
               "ONNX": onnx_logits.argmax(-1)}
    same = all(np.array_equal(classes["Keras"], c) for c in classes.values())
    detail = "identical" if same else "differ: " + "; ".join(f"{k} {v.tolist()}" for k, v in classes.items())
    checks.append(verification.Check(f"classes of {batch_size} images", same, detail))
    if has_transformer(model):
        want = np.asarray(rectifier(model).predict_on_batch(images))
        got_sm = loaded.signatures["rectify"](images=tf.constant(images))["rectified"].numpy()
        checks.append(close("rectified images: Keras vs SavedModel", [want], [got_sm]))
        version_files.session(onnx_dir / RECTIFIER_FILE)  # damaged: an InputError naming it (status 2)
        checks.append(verification.runtime_check("rectified images: Keras vs ONNX", [
            (onnx_dir / RECTIFIER_FILE, {"images": images}, {"rectified": want})]))
    elif "rectify" in loaded.signatures:
        checks.append(verification.Check("signatures", False, "a CNN export has a rectify signature"))
    return checks
