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
the export's `limits.STNLimits.max_rows` (model card `limits`) fails the same way, before
the model runs. ONNX files (`onnx/`):
`classifier.onnx` (`images` -> `logits`, `probabilities`) and, for the ST-CNN, `rectifier.onnx`
(`images` -> `rectified`), batch axis dynamic.
"""

import keras
import tensorflow as tf

from kerasrnn.export.request_checks import gate, rows_check, unless_empty
from kerasrnn.kinds.stn_classifier.limits import STNLimits
from kerasrnn.kinds.stn_classifier.model import TRANSFORMER_NAME, rectifier

CLASSIFIER_FILE, RECTIFIER_FILE = "classifier.onnx", "rectifier.onnx"


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
        images = self._checked(images)
        classes = int(self.model.output.shape[-1])

        def run():
            logits = self.model(images, training=False)
            return {"probabilities": tf.nn.softmax(logits), "logits": logits,
                    "class_ids": tf.argmax(logits, axis=-1)}

        return unless_empty(tf.shape(images)[0], run, {
            "probabilities": ([classes], tf.float32), "logits": ([classes], tf.float32),
            "class_ids": ([], tf.int64)})

    def rectify(self, images):
        images = self._checked(images)
        return unless_empty(tf.shape(images)[0], lambda: {
            "rectified": self.rectifier(images, training=False)},
            {"rectified": (list(self.rectifier.output.shape[1:]), tf.float32)})
