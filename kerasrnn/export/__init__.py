"""Conversions of trained Keras models to deployment formats (TensorFlow backend only).

Unlike the rest of `kerasrnn`, this package needs TensorFlow (and `tf2onnx`, `onnx`,
`onnxruntime` for ONNX); the scripts in the top-level `export/` folder call it.
"""
