"""kerasrnn: the recurrent and attention models of the CS231n RNN lecture, in Keras 3."""

__version__ = "0.1.0"
