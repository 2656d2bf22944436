"""Character-level language model: tokens -> (one-hot | embedding) -> N recurrent layers -> logits.

With `cell="vanilla"`, one layer and one-hot input this *is* min-char-rnn: the RNN layer's
`kernel`, `recurrent_kernel`, `bias` are `Wxh.T`, `Whh.T`, `bh`, and the `logits` layer's
`kernel`, `bias` are `Why.T`, `by` (see `min_char_rnn_params`).
"""

import keras
import numpy as np

from kerasrnn.layers import OneHot, VanillaRNNCell

CELLS = ("vanilla", "lstm", "gru")


def num_states(cell):
    """Number of state tensors one layer of `cell` carries (LSTM: h and c)."""
    return 2 if cell == "lstm" else 1


def _recurrent_layer(cell, units, name, stateful, unroll, return_state, dtype):
    common = dict(return_sequences=True, return_state=return_state, stateful=stateful,
                  unroll=unroll, name=name, dtype=dtype)
    if cell == "vanilla":
        return keras.layers.RNN(VanillaRNNCell(units, dtype=dtype, name="cell"), **common)
    if cell == "lstm":
        return keras.layers.LSTM(units, **common)
    if cell == "gru":
        return keras.layers.GRU(units, **common)
    raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")


def build_char_rnn(
    vocab_size,
    cell="lstm",
    num_layers=2,
    hidden_size=256,
    dropout=0.0,
    embedding_dim=None,
    seq_length=None,
    batch_size=None,
    stateful=False,
    with_state=False,
    unroll=False,
    dtype=None,
    name="char_rnn",
):
    """Builds the char-level language model as a functional `keras.Model`.

    Args:
        vocab_size: Number of distinct characters V.
        cell: `"vanilla"` (`VanillaRNNCell`), `"lstm"` or `"gru"`.
        num_layers: Number of stacked recurrent layers (>= 1).
        hidden_size: Units per recurrent layer H.
        dropout: Dropout rate between layers and before the output (0 disables).
        embedding_dim: `None` for one-hot input (min-char-rnn); an int for a learned embedding.
        seq_length: Fixed time length T, or `None` for any length (`unroll` needs it).
        batch_size: Fixed batch size B (needed by `stateful`), or `None`.
        stateful: Carry the last state of a batch into the next (truncated BPTT over streams).
        with_state: Also take the initial states as inputs and return the final states
            (the one-step model used by sampling and serving).
        unroll: Unroll the time loop (faster for short fixed T, esp. with XLA).
        dtype: Layer dtype (default: Keras floatx).
        name: Model name.

    Returns:
        A model mapping int token ids `(B, T)` to logits `(B, T, V)`. With `with_state`, the
        inputs are `[ids, *states]` and the outputs `[logits, *states]`, states `(B, H)` each,
        `num_states(cell)` per layer, in layer order.
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    if num_layers < 1 or hidden_size < 1:
        raise ValueError("num_layers and hidden_size must be >= 1")
    if stateful and with_state:
        raise ValueError("a model is either stateful or takes its state as input, not both")
    tokens = keras.Input(batch_shape=(batch_size, seq_length), dtype="int32", name="tokens")
    if embedding_dim:
        x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding", dtype=dtype)(tokens)
    else:
        x = OneHot(vocab_size, name="one_hot", dtype=dtype)(tokens)
    state_inputs, state_outputs = [], []
    for i in range(num_layers):
        rnn = _recurrent_layer(cell, hidden_size, f"rnn_{i + 1}", stateful, unroll, with_state, dtype)
        if with_state:
            initial = [keras.Input(batch_shape=(batch_size, hidden_size), name=f"state_{i + 1}_{j}",
                                   dtype=dtype or keras.config.floatx())
                       for j in range(num_states(cell))]
            state_inputs += initial
            x, *states = rnn(x, initial_state=initial)
            state_outputs += states
        else:
            x = rnn(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i + 1}")(x)
    logits = keras.layers.Dense(vocab_size, name="logits", dtype=dtype)(x)
    if with_state:
        return keras.Model([tokens, *state_inputs], [logits, *state_outputs], name=name)
    return keras.Model(tokens, logits, name=name)


def zero_states(step_model, batch_size):
    """Zero initial states for a `with_state` model: a float32 `(B, H)` array per state input."""
    return [np.zeros((batch_size, int(t.shape[-1])), np.float32) for t in step_model.inputs[1:]]


def reset_rnn_states(model):
    """Resets the carried state of every stateful recurrent layer of `model` to zeros."""
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def _min_char_rnn_layers(model):
    rnn, logits = model.get_layer("rnn_1"), model.get_layer("logits")
    if not isinstance(getattr(rnn, "cell", None), VanillaRNNCell) or "one_hot" not in [l.name for l in model.layers]:
        raise ValueError("only a one-hot vanilla char model has min-char-rnn's parameters")
    return rnn.cell, logits


def min_char_rnn_params(model):
    """Reads a one-hot, one-layer vanilla model's weights as min-char-rnn's five arrays.

    Returns:
        Dict `Wxh (H, V)`, `Whh (H, H)`, `Why (V, H)`, `bh (H, 1)`, `by (V, 1)` (numpy).
    """
    cell, logits = _min_char_rnn_layers(model)
    return {
        "Wxh": np.asarray(cell.kernel).T,
        "Whh": np.asarray(cell.recurrent_kernel).T,
        "Why": np.asarray(logits.kernel).T,
        "bh": np.asarray(cell.bias)[:, None],
        "by": np.asarray(logits.bias)[:, None],
    }


def set_min_char_rnn_params(model, params):
    """Loads min-char-rnn's five arrays (see `min_char_rnn_params`) into the Keras model."""
    cell, logits = _min_char_rnn_layers(model)
    cell.kernel.assign(params["Wxh"].T)
    cell.recurrent_kernel.assign(params["Whh"].T)
    cell.bias.assign(params["bh"][:, 0])
    logits.kernel.assign(params["Why"].T)
    logits.bias.assign(params["by"][:, 0])


def inference_model(model_config, weights_from=None, with_state=False):
    """Builds a stateless, any-batch, any-length copy of a char model.

    Args:
        model_config: `build_char_rnn` keyword arguments (the `model` part of `config.json`).
        weights_from: A built char model with the same layers to copy weights from.
        with_state: Build the step model that takes and returns states (sampling, serving).
    """
    model = build_char_rnn(**model_config, with_state=with_state)
    if weights_from is not None:
        model.set_weights(weights_from.get_weights())
    return model
