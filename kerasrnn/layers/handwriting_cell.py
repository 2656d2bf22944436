"""One step of the handwriting synthesis network (Graves 2013, section 5) as a Keras recurrent
cell: stacked LSTMs with the soft window over the text between the first and second layers, and
skip connections.

Step t, with x_t = (dx, dy, eos) the pen offset read at step t (the output predicts the next
one), L layers:

    h^1_t = LSTM_1(h^1_{t-1}, [x_t, w_{t-1}])
    (w_t, kappa_t, phi_t) = window(h^1_t, kappa_{t-1}, text)         `GaussianWindow`
    h^n_t = LSTM_n(h^n_{t-1}, [x_t, h^{n-1}_t, w_t])                 n = 2..L
    output = [h^1_t, ..., h^L_t]                                     to `MixtureDensity`

The states start at zero: kappa_0 = 0 (just before the first character) and w_0 = 0.

The text enters as part of every step's input, since Keras 3's `RNN` takes one sequence tensor
and no constants: input_t = `[dx, dy, eos, id_1, ..., id_U]`, the character ids 0..V-1 as
floats, padding as -1 (`cell_inputs` builds it from strokes and ids). The cell one-hots the ids
and masks the padding itself, so the RNN's own mask over time steps (its `mask=` argument,
`(batch, T)`) stays free for padded strokes: a masked step keeps every state, kappa and w
included. U is read from the input's width when the cell is built.
"""

import keras
from keras import ops

from kerasrnn.errors import InputError
from kerasrnn.layers.gaussian_window import GaussianWindow

POINT_SIZE = 3  # dx, dy, eos
PADDING_ID = -1  # a text position without a character


def cell_inputs(strokes, text_ids):
    """The cell's input sequence: every step's point followed by the whole text.

    Args:
        strokes: `(batch, T, 3)`: dx, dy, eos.
        text_ids: `(batch, U)` integer ids 0..V-1, `PADDING_ID` (-1) past each text's end.

    Returns:
        `(batch, T, 3 + U)` in the strokes' dtype.
    """
    text = ops.cast(text_ids, strokes.dtype)[:, None, :] + ops.zeros_like(strokes[:, :, :1])
    return ops.concatenate([strokes, text], axis=-1)


def _check_size(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"HandwritingCell: {name} must be a positive integer, got {value!r}.")


@keras.saving.register_keras_serializable(package="kerasrnn")
class HandwritingCell(keras.layers.Layer):
    """The synthesis network's step for `keras.layers.RNN`.

    Args:
        alphabet_size: V, the characters' one-hot size.
        units: Each LSTM's size (the paper's: 400).
        layers: L, the stacked LSTMs (the paper's: 3).
        window_components: K, the window's Gaussians (the paper's: 10).
        return_window: Also output kappa_t and phi_t (for plots and the stopping rule).
        **kwargs: Base `Layer` arguments.

    Call arguments:
        inputs: `(batch, 3 + U)`: dx, dy, eos, then the text's ids as floats (-1: padding).
        states: `[h_1, c_1, ..., h_L, c_L, kappa (batch, K), w (batch, V)]`.

    Returns:
        `(output, states)`: `output` `(batch, L units)`, the layers' outputs concatenated; with
        `return_window`, `(batch, L units + K + U + 1)`: then kappa_t and phi_t at positions
        1..U+1 (`split_output` takes it apart).
    """

    def __init__(self, alphabet_size, units=400, layers=3, window_components=10,
                 return_window=False, **kwargs):
        _check_size("alphabet_size", alphabet_size)
        _check_size("units", units)
        _check_size("layers", layers)
        _check_size("window_components", window_components)
        super().__init__(**kwargs)
        self.alphabet_size, self.units, self.layers = alphabet_size, units, layers
        self.window_components, self.return_window = window_components, bool(return_window)
        self.lstms = [keras.layers.LSTMCell(units, name=f"lstm_{n + 1}", dtype=self.dtype_policy)
                      for n in range(layers)]
        self.window = GaussianWindow(window_components, name="window", dtype=self.dtype_policy)
        self.state_size = [units] * (2 * layers) + [window_components, alphabet_size]
        self.text_length = None
        self.output_size = layers * units

    def build(self, inputs_shape):
        width = inputs_shape[-1]
        if width is None or width <= POINT_SIZE:
            raise InputError(f"HandwritingCell takes (batch, 3 + U) steps: the point, then U >= 1 "
                             f"character ids; got width {width}.")
        batch = inputs_shape[0]
        self.text_length = width - POINT_SIZE
        if self.return_window:
            self.output_size = self.layers * self.units + self.window_components + self.text_length + 1
        self.lstms[0].build((batch, POINT_SIZE + self.alphabet_size))
        for lstm in self.lstms[1:]:
            lstm.build((batch, POINT_SIZE + self.units + self.alphabet_size))
        self.window.build((batch, self.units))

    def call(self, inputs, states, training=False):
        point, ids = inputs[:, :POINT_SIZE], inputs[:, POINT_SIZE:]
        chars = ops.cast(ops.equal(ops.cast(ids, "int32")[:, :, None],
                                   ops.arange(self.alphabet_size, dtype="int32")[None, None, :]),
                         inputs.dtype)
        char_mask = ops.cast(ids > PADDING_ID / 2, inputs.dtype)  # ids >= 0
        kappa, w = states[-2], states[-1]
        outputs, new_states = [], []
        layer_input = ops.concatenate([point, w], axis=-1)
        for n, lstm in enumerate(self.lstms):
            h, (h, c) = lstm(layer_input, [states[2 * n], states[2 * n + 1]], training=training)
            outputs.append(h)
            new_states += [h, c]
            if n == 0:
                w, kappa, phi = self.window(h, kappa, chars, char_mask)
            layer_input = ops.concatenate([point, h, w], axis=-1)
        if self.return_window:
            outputs += [kappa, phi]
        output = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-1)
        return output, new_states + [kappa, w]

    def split_output(self, output):
        """`(hidden, kappa, phi)` from an output `(..., L units + K + U + 1)` of a cell with
        `return_window`: `(..., L units)`, `(..., K)`, `(..., U + 1)`."""
        hidden_size = self.layers * self.units
        kappa_end = hidden_size + self.window_components
        return output[..., :hidden_size], output[..., hidden_size:kappa_end], output[..., kappa_end:]

    def get_config(self):
        return {**super().get_config(), "alphabet_size": self.alphabet_size, "units": self.units,
                "layers": self.layers, "window_components": self.window_components,
                "return_window": self.return_window}
