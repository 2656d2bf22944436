"""The spatial-transformer classifier on distorted MNIST: config, model, training task and
export."""
