"""The model builders' former home, kept so that code written for kerasrnn 0.1 still imports:
each kind's builder now lives in its package (`kerasrnn.kinds.<kind>.model`)."""
