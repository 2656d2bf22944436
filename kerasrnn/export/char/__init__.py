"""The char model exported: text-in, text-out signatures, ONNX step file and its driver."""
