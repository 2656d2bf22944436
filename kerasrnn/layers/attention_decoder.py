"""The Show, Attend and Tell decoder (Xu et al. 2015, soft attention), one word per step.

At step t, with previous word y_{t-1} and recurrent state (h_{t-1}, ...):

    z_t, alpha_t = BahdanauAttention(a, h_{t-1})          context over the L locations
    beta_t       = sigmoid(f_beta(h_{t-1}))                gate (paper section 4.2.1)
    h_t, ...     = cell([E y_{t-1}, beta_t * z_t], state)  LSTM, GRU or VanillaRNNCell
    logits_t     = L_o(E y_{t-1} + L_h h_t + L_z beta_t z_t)   deep output layer (eq. 7)

The initial state comes from the mean annotation through one tanh layer per state tensor.
"""

import keras
from keras import ops

from kerasrnn.layers.bahdanau_attention import BahdanauAttention
from kerasrnn.layers.vanilla_rnn_cell import VanillaRNNCell

CELLS = ("lstm", "gru", "vanilla")


def _make_cell(cell, units):
    if cell == "lstm":
        return keras.layers.LSTMCell(units, name="cell")
    if cell == "gru":
        return keras.layers.GRUCell(units, name="cell")
    if cell == "vanilla":
        return VanillaRNNCell(units, name="cell")
    raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")


@keras.saving.register_keras_serializable(package="kerasrnn")
class AttentionDecoder(keras.layers.Layer):
    """Soft-attention caption decoder: teacher-forced over a sequence, or one step at a time.

    Args:
        vocab_size: Number of word ids V.
        embedding_dim: Word embedding size (also the deep output layer's width).
        units: Recurrent state size H.
        attention_units: Hidden size of the attention's scoring layer.
        cell: `"lstm"`, `"gru"` or `"vanilla"`.
        dropout: Dropout before the output layer (training only).
        doubly_stochastic: Weight lambda of the paper's regulariser
            `lambda * sum_i (1 - sum_t alpha_ti)^2` (over non-pad steps), added with `add_loss`.
        **kwargs: Base `Layer` arguments.

    Call arguments (teacher forcing):
        annotations: `(batch, L, D)` annotation vectors (a flattened CNN grid).
        tokens: int `(batch, T)`, the input words (`<start> w1 ... w_{T-1}`); id 0 is `<pad>`.
        training: Enables dropout.

    Returns:
        `(logits, alphas)`: `(batch, T, V)` next-word logits and `(batch, T, L)` attention.
    """

    def __init__(self, vocab_size, embedding_dim=64, units=128, attention_units=64, cell="lstm",
                 dropout=0.0, doubly_stochastic=0.0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim, self.units = vocab_size, embedding_dim, units
        self.attention_units, self.cell_type = attention_units, cell
        self.dropout_rate, self.doubly_stochastic = dropout, doubly_stochastic
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.attention = BahdanauAttention(attention_units, name="attention")
        self.gate = keras.layers.Dense(1, activation="sigmoid", name="f_beta")
        self.cell = _make_cell(cell, units)
        n_states = 2 if cell == "lstm" else 1
        self.init_layers = [keras.layers.Dense(units, activation="tanh", name=f"init_{i}")
                            for i in range(n_states)]
        self.out_hidden = keras.layers.Dense(embedding_dim, name="L_h")
        self.out_context = keras.layers.Dense(embedding_dim, name="L_z")
        self.out_dropout = keras.layers.Dropout(dropout)
        self.out_logits = keras.layers.Dense(vocab_size, name="L_o")

    def build(self, annotations_shape, tokens_shape=None):
        depth = annotations_shape[-1]
        self.embedding.build((None,))
        self.attention.build((None, None, depth), (None, self.units))
        self.gate.build((None, self.units))
        self.cell.build((None, self.embedding_dim + depth))
        for layer in self.init_layers:
            layer.build((None, depth))
        self.out_hidden.build((None, self.units))
        self.out_context.build((None, depth))
        self.out_logits.build((None, self.embedding_dim))

    def initial_state(self, annotations):
        """States from the mean annotation: a list of `(batch, H)` tensors."""
        mean = ops.mean(annotations, axis=1)
        return [layer(mean) for layer in self.init_layers]

    def step(self, tokens, states, annotations, projected=None, mask=None, training=False):
        """One decoding step.

        Args:
            tokens: int `(batch,)`, the previous words.
            states: The cell's state list (`initial_state` or the previous step's).
            annotations: `(batch, L, D)`.
            projected: Optional `self.attention.project_annotations(annotations)`, reused.
            mask: Optional bool `(batch, L)` over locations.
            training: Enables dropout.

        Returns:
            `(logits, states, alpha)`: `(batch, V)`, the new state list, `(batch, L)`.
        """
        embedded = self.embedding(tokens)
        context, alpha = self.attention(annotations, states[0], mask=mask,
                                        projected_annotations=projected)
        gated = self.gate(states[0]) * context
        h, new_states = self.cell(ops.concatenate([embedded, gated], axis=-1), states,
                                  training=training)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        deep = embedded + self.out_hidden(h) + self.out_context(gated)
        logits = self.out_logits(self.out_dropout(deep, training=training))
        return logits, new_states, alpha

    def call(self, annotations, tokens, training=False):
        states = self.initial_state(annotations)
        projected = self.attention.project_annotations(annotations)
        all_logits, all_alphas = [], []
        for t in range(tokens.shape[1]):  # the caption length is static: unrolled
            logits, states, alpha = self.step(tokens[:, t], states, annotations, projected,
                                              training=training)
            all_logits.append(logits)
            all_alphas.append(alpha)
        logits, alphas = ops.stack(all_logits, axis=1), ops.stack(all_alphas, axis=1)
        if self.doubly_stochastic:
            real = ops.cast(ops.not_equal(tokens, 0), alphas.dtype)[..., None]  # (B, T, 1)
            coverage = ops.sum(alphas * real, axis=1)  # (B, L): attention each location got
            self.add_loss(self.doubly_stochastic * ops.mean(ops.sum(ops.square(1.0 - coverage), -1)))
        return logits, alphas

    def compute_output_spec(self, annotations, tokens, training=False):
        batch, steps = tokens.shape
        return (keras.KerasTensor((batch, steps, self.vocab_size), dtype=self.compute_dtype),
                keras.KerasTensor((batch, steps, annotations.shape[1]), dtype=self.compute_dtype))

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim, "units": self.units,
                "attention_units": self.attention_units, "cell": self.cell_type,
                "dropout": self.dropout_rate, "doubly_stochastic": self.doubly_stochastic}
