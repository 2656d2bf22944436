"""The captioner's export moved to `kerasrnn.kinds.captioner`; `onnx_driver` stays here for code
written for kerasrnn 0.1."""
