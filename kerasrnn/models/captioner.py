"""Moved to `kerasrnn.kinds.captioner.model`; this name stays for code written for kerasrnn 0.1."""

from kerasrnn.kinds.captioner.model import build_captioner  # noqa: F401
