"""The vanilla (Elman) RNN cell of the lecture notes: h_t = tanh(x_t W + h_{t-1} U + b)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasrnn")
class VanillaRNNCell(keras.layers.Layer):
    """One step of a vanilla RNN, for use inside `keras.layers.RNN`.

    Computes `h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)`,
    the recurrence of min-char-rnn written with the batch first: min-char-rnn's
    `Wxh`, `Whh` and `bh` are `kernel.T`, `recurrent_kernel.T` and `bias`.
    Weight names follow `keras.layers.SimpleRNNCell`.

    Args:
        units: Positive integer, size of the hidden state.
        activation: Activation of the new state (default `"tanh"`).
        use_bias: Whether to add `bias`.
        kernel_initializer: Initializer of `kernel`, shape `(input_dim, units)`.
        recurrent_initializer: Initializer of `recurrent_kernel`, shape `(units, units)`.
        bias_initializer: Initializer of `bias`, shape `(units,)`.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Tensor `(batch, input_dim)`, the input at one time step.
        states: List of one tensor `(batch, units)`, the previous hidden state.
        training: Unused; present for the cell protocol.

    Returns:
        `(h_t, [h_t])`: the output `(batch, units)` and the new state list.

    Example:
        >>> rnn = keras.layers.RNN(VanillaRNNCell(100), return_sequences=True)
        >>> rnn(keras.ops.ones((2, 25, 65))).shape
        (2, 25, 100)
    """

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"VanillaRNNCell: `units` must be a positive integer, got {units!r}.")
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), name="kernel", initializer=self.kernel_initializer
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
        )
        self.bias = (
            self.add_weight(shape=(self.units,), name="bias", initializer=self.bias_initializer)
            if self.use_bias
            else None
        )

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        h = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        if self.bias is not None:
            h = h + self.bias
        if self.activation is not None:
            h = self.activation(h)
        return h, [h] if isinstance(states, (list, tuple)) else h

    def get_initial_state(self, batch_size=None):
        """Returns `[zeros (batch_size, units)]`, the state min-char-rnn starts from."""
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
