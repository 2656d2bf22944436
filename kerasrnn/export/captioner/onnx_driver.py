"""Moved to `kerasrnn.kinds.captioner.onnx_driver`; this name stays for code written for kerasrnn 0.1."""

from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX  # noqa: F401
