"""The captioner exported: image bytes in, caption and attention out; ONNX encoder, decoder step
and their driver."""
