"""Moved to `kerasrnn.kinds.stn_classifier.model`; this name stays for code written for kerasrnn 0.1."""

from kerasrnn.kinds.stn_classifier.model import build_stn_classifier  # noqa: F401
