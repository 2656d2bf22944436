"""Moved to `kerasrnn.kinds.char_rnn.model`; this name stays for code written for kerasrnn 0.1."""

from kerasrnn.kinds.char_rnn.model import build_char_rnn, inference_model  # noqa: F401
