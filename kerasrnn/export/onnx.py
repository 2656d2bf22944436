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


def to_onnx(model, path, input_shape=None, opset=DEFAULT_OPSET, output_name=None):
    """Converts a Keras model (one or several inputs and outputs) to an ONNX file.

    The file is written through a temporary file in the same directory and renamed into place,
    so a reader never sees half a model. The ONNX inputs keep the Keras inputs' names (e.g.
    `images`, `captions`); the outputs are named `output_name`, by default `output_0`,
    `output_1`, ..., the names `model.export`'s `serving_default` signature gives them.

    Args:
        model: A Keras model (TensorFlow backend).
        path: The `.onnx` file to write (replaced if it exists).
        input_shape: The shape of one example without the batch axis, e.g. `(28, 28, 1)`, or a
            list of them for several inputs; default: the Keras inputs' shapes.
        opset: ONNX opset to target.
        output_name: Name of the ONNX output, or a list of names for several outputs.

    Returns:
        `path` as a `pathlib.Path`.
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("ONNX export traces the model with TensorFlow; set KERAS_BACKEND="
                           f"tensorflow (the backend is {keras.backend.backend()!r}).")
    import tensorflow as tf
    import tf2onnx

    shapes = [tuple(inp.shape[1:]) for inp in model.inputs] if input_shape is None else (
        [tuple(input_shape)] if len(model.inputs) == 1 else [tuple(s) for s in input_shape])
    if len(shapes) != len(model.inputs):
        raise ValueError(f"{model.name!r} has {len(model.inputs)} inputs; got {len(shapes)} shapes.")
    names = output_name if isinstance(output_name, (list, tuple)) else (
        [output_name] if output_name else [f"output_{i}" for i in range(len(model.outputs))])
    if len(names) != len(model.outputs):
        raise ValueError(f"{model.name!r} has {len(model.outputs)} outputs; got {len(names)} names.")
    specs = [tf.TensorSpec((None, *shape), inp.dtype, name=inp.name)
             for shape, inp in zip(shapes, model.inputs)]

    @tf.function(input_signature=specs)
    def serve(*xs):
        outputs = model(list(xs) if len(xs) > 1 else xs[0], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return dict(zip(names, outputs))

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=specs, opset=opset)
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(proto.SerializeToString())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def onnx_outputs(path, inputs, names=None):
    """Runs an ONNX file with ONNX Runtime on the CPU.

    Args:
        path: The `.onnx` file.
        inputs: An array for a single-input model, or a dict from input name to array.
        names: The outputs to return, by name; default all, in the file's order (`to_onnx`
            files list their outputs sorted by name).

    Returns:
        The list of output arrays.
    """
    from kerasrnn.export.version_files import session as load_session

    session = load_session(path)
    if not isinstance(inputs, dict):
        inputs = {session.get_inputs()[0].name: inputs}
    return session.run(names, {name: np.asarray(value) for name, value in inputs.items()})
