"""Custom Keras layers, written with `keras.ops` only so they run on every Keras backend."""

from kerasrnn.layers.one_hot import OneHot
from kerasrnn.layers.vanilla_rnn_cell import VanillaRNNCell

__all__ = ["OneHot", "VanillaRNNCell"]
