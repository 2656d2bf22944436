"""The attention captioner (Show, Attend and Tell): config, model, caption data, training task,
export and ONNX driver."""
