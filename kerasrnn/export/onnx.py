"""Keras model -> ONNX file with `tf2onnx`, and running that file with ONNX Runtime.

TensorFlow only: the model is traced as a `tf.function`, so Keras must run on the TensorFlow
backend. The batch axis stays dynamic. Checked with TensorFlow 2.21, Keras 3.15, tf2onnx 1.17
(whose highest opset is 18) and onnxruntime 1.32 on the ST-CNN and its `SpatialTransformer`
(affine, projective and TPS grids; the bilinear sampler becomes plain `Floor`, `Cast`,
`Min`/`Max` and `Gather` ops).
"""

import os
import pathlib

import keras
import numpy as np

# ONNX 1.12 / onnxruntime >= 1.12; every op our models use exists since opset 11, and
# tf2onnx 1.17 converts up to opset 18.
DEFAULT_OPSET = 17


def to_onnx(model, path, input_shape, opset=DEFAULT_OPSET, output_name="output_0"):
    """Converts a single-input, single-output Keras model to an ONNX file.

    The file is written through a temporary file in the same directory and renamed into place,
    so a reader never sees half a model. The ONNX input keeps the Keras input's name (e.g.
    `images`); the output is named `output_name`, by default the name that `model.export`'s
    `serving_default` signature gives it.

    Args:
        model: A Keras model (TensorFlow backend) with one input and one output.
        path: The `.onnx` file to write (replaced if it exists).
        input_shape: The shape of one example, without the batch axis, e.g. `(28, 28, 1)`.
        opset: ONNX opset to target.
        output_name: Name of the ONNX output.

    Returns:
        `path` as a `pathlib.Path`.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"to_onnx converts models with one input and one output; {model.name!r} "
                         f"has {len(model.inputs)} and {len(model.outputs)}.")
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("ONNX export traces the model with TensorFlow; set KERAS_BACKEND="
                           f"tensorflow (the backend is {keras.backend.backend()!r}).")
    import tensorflow as tf
    import tf2onnx

    inp = model.inputs[0]
    spec = tf.TensorSpec((None, *input_shape), inp.dtype, name=inp.name)

    @tf.function(input_signature=[spec])
    def serve(x):
        return {output_name: model(x, training=False)}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=[spec], opset=opset)
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(proto.SerializeToString())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def onnx_outputs(path, inputs):
    """Runs an ONNX file with ONNX Runtime on the CPU.

    Args:
        path: The `.onnx` file.
        inputs: An array for a single-input model, or a dict from input name to array.

    Returns:
        The list of output arrays, in the model's output order.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    if not isinstance(inputs, dict):
        inputs = {session.get_inputs()[0].name: inputs}
    return session.run(None, {name: np.asarray(value) for name, value in inputs.items()})
