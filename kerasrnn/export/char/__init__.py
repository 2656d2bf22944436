"""The char model's export moved to `kerasrnn.kinds.char_rnn`; `onnx_driver` stays here for code
written for kerasrnn 0.1."""
