"""Moved to `kerasrnn.kinds.char_rnn.onnx_driver`; this name stays for code written for kerasrnn 0.1."""

from kerasrnn.kinds.char_rnn.onnx_driver import CharGenerator  # noqa: F401
