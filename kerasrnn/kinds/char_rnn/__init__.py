"""The character-level language model (min-char-rnn and its LSTM/GRU relatives): config,
model, data, training task, export and ONNX driver."""
