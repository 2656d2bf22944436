"""The ST-CNN / CNN classifier served: images in, class probabilities out.

Signatures of the SavedModel:

`classify` (also `serving_default`):
    images         float32 (B, S, S, C)  pixels in [0, 1] (S, C: the trained model's, e.g. 28, 1)
  -> probabilities float32 (B, classes)  softmax of the logits
     logits        float32 (B, classes)
     class_ids     int64   (B,)          the most likely class

`rectify` (ST-CNN only): images as above -> `rectified` float32 (B, s, s, C), what the spatial
transformer hands the classifier (s = the transformer's output size).

A wrong dtype, rank or image size fails the request with an InvalidArgument error naming the
input and both shapes (the signature's dtype check, and `tf.ensure_shape` for the shape: a served
graph does not check shapes against its signature by itself). A request with more images than
the export's `request_limits.STNLimits.max_rows` (model card `limits`) fails the same way, before
the model runs. ONNX files (`onnx/`):
`classifier.onnx` (`images` -> `logits`, `probabilities`) and, for the ST-CNN, `rectifier.onnx`
(`images` -> `rectified`), batch axis dynamic.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasrnn.export import saved_model_dir
from kerasrnn.export.onnx import DEFAULT_OPSET, onnx_outputs, to_onnx
from kerasrnn.export.request_checks import gate, rows_check
from kerasrnn.export.request_limits import STNLimits
from kerasrnn.models.stn_classifier import TRANSFORMER_NAME, rectifier
from kerasrnn.train.stn import KIND, load_stn_model  # noqa: F401  (KIND: the plug-in protocol)

CLASSIFIER_FILE, RECTIFIER_FILE = "classifier.onnx", "rectifier.onnx"
LIMITS = STNLimits  # the plug-in protocol: this kind's request limits
# The plug-in protocol: the model card fields verify reads.
CARD_FIELDS = {"input_shape": list}


def has_transformer(model):
    """Whether the model is an ST-CNN (has the spatial transformer layer)."""
    return any(layer.name == TRANSFORMER_NAME for layer in model.layers)


def with_probabilities(model):
    """The classifier with a second output, the softmax: images -> `[logits, probabilities]`."""
    logits = model.output
    return keras.Model(model.input, [logits, keras.layers.Softmax(name="probabilities")(logits)],
                       name="classifier_with_probabilities")


class STNServing:
    """The classifier's serving functions (see the module docstring for the signatures).

    Args:
        model: A trained `build_stn_classifier` model (images -> logits).
        limits: The `STNLimits` every request is checked against.
    """

    def __init__(self, model, limits=STNLimits()):
        self.model = model
        self.limits = limits
        self.rectifier = rectifier(model) if has_transformer(model) else None

    def endpoints(self):
        """`{signature name: (function, input signature)}`, the default (`classify`) first."""
        spec = [tf.TensorSpec((None, *self.model.input.shape[1:]), tf.float32, name="images")]
        endpoints = {"classify": (self.classify, spec)}
        if self.rectifier is not None:
            endpoints["rectify"] = (self.rectify, spec)
        return endpoints

    def _checked(self, images):
        # A served graph does not check request shapes against the signature; ensure_shape does.
        images = tf.ensure_shape(images, [None, *self.model.input.shape[1:]])
        return gate([rows_check(tf.shape(images)[0], self.limits, "images")], images)

    def classify(self, images):
        logits = self.model(self._checked(images), training=False)
        return {"probabilities": tf.nn.softmax(logits), "logits": logits,
                "class_ids": tf.argmax(logits, axis=-1)}

    def rectify(self, images):
        return {"rectified": self.rectifier(self._checked(images), training=False)}


def export(run_dir, staging_dir, limits=STNLimits()):
    """Writes the classifier's SavedModel and `onnx/` files (see `saved_model_dir` for the protocol)."""
    model, config = load_stn_model(run_dir)
    module = STNServing(model, limits)
    described = saved_model_dir.write_saved_model(staging_dir, [model], module.endpoints())
    onnx_dir = staging_dir / saved_model_dir.ONNX_DIR
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
                 "files": [f"{saved_model_dir.ONNX_DIR}/{p.name}" for p in files]},
    }
    return {"card": card, "warmup": [(name, blank) for name in described]}


def verify(version_dir, card, run_dir, batch_size=8, seed=0):
    """Compares the Keras model, the SavedModel and the ONNX files on fixed images (see `verify.py`)."""
    model, _ = load_stn_model(run_dir)
    images = np.random.default_rng(seed).random((batch_size, *model.input.shape[1:])).astype(np.float32)
    logits = np.asarray(model.predict_on_batch(images))
    probs = np.asarray(keras.ops.softmax(logits))
    loaded = saved_model_dir.load_saved_model(version_dir)
    served = {k: v.numpy() for k, v in loaded.signatures["classify"](images=tf.constant(images)).items()}
    onnx_dir = version_dir / saved_model_dir.ONNX_DIR
    onnx_logits, onnx_probs = onnx_outputs(onnx_dir / CLASSIFIER_FILE, {"images": images},
                                           ["logits", "probabilities"])
    close = saved_model_dir.max_diff_check
    checks = [
        close("logits+probabilities: Keras vs SavedModel", [logits, probs],
              [served["logits"], served["probabilities"]]),
        close("logits+probabilities: Keras vs ONNX", [logits, probs], [onnx_logits, onnx_probs]),
    ]
    classes = {"Keras": logits.argmax(-1), "SavedModel": served["class_ids"],
               "ONNX": onnx_logits.argmax(-1)}
    same = all(np.array_equal(classes["Keras"], c) for c in classes.values())
    detail = "identical" if same else "differ: " + "; ".join(f"{k} {v.tolist()}" for k, v in classes.items())
    checks.append(saved_model_dir.Check(f"classes of {batch_size} images", same, detail))
    if has_transformer(model):
        want = np.asarray(rectifier(model).predict_on_batch(images))
        got_sm = loaded.signatures["rectify"](images=tf.constant(images))["rectified"].numpy()
        (got_onnx,) = onnx_outputs(onnx_dir / RECTIFIER_FILE, {"images": images})
        checks.append(close("rectified images: Keras vs SavedModel", [want], [got_sm]))
        checks.append(close("rectified images: Keras vs ONNX", [want], [got_onnx]))
    elif "rectify" in loaded.signatures:
        checks.append(saved_model_dir.Check("signatures", False, "a CNN export has a rectify signature"))
    return checks
