"""The Show, Attend and Tell decoder (Xu et al. 2015), soft or hard attention, one word per step.

At step t, with previous word y_{t-1} and recurrent state (h_{t-1}, ...):

    alpha_t      = BahdanauAttention(a, h_{t-1})            distribution over the L locations
    z_t          = sum_i w_ti a_i                           soft: w = alpha; hard: w = one-hot(s_t)
    beta_t       = sigmoid(f_beta(h_{t-1}))                 gate (paper section 4.2.1)
    h_t, ...     = cell([E y_{t-1}, beta_t * z_t], state)   LSTM, GRU or VanillaRNNCell
    logits_t     = L_o(E y_{t-1} + L_h h_t + L_z beta_t z_t)   deep output layer (eq. 7)

The initial state comes from the mean annotation through one tanh layer per state tensor.

Hard attention (section 4.1): in training, s_t ~ Multinoulli(alpha_t), and the location
network learns by REINFORCE on the caption's log-likelihood log p(y | s, a), with a moving-
average baseline b <- 0.9 b + 0.1 log p(y | s, a) (the first batch's value to start) and an
entropy bonus; for each caption, with
probability `hard_mix` the sampled location is replaced by its expectation alpha (the soft
context), as the paper does. At inference the most likely location is attended (one-hot).

Trained data-parallel, the REINFORCE term is normalised by the word count of the whole global
batch and the baseline follows the global batch's mean reward, as in one process, through
`replica_sum` (set by the training code; the layer itself runs on every backend); each replica
samples its own captions' locations from its own random stream.
"""

import keras
from keras import ops

from kerasrnn.layers.bahdanau_attention import BahdanauAttention
from kerasrnn.layers.vanilla_rnn_cell import VanillaRNNCell

CELLS = ("lstm", "gru", "vanilla")
ATTENTIONS = ("soft", "hard")
_EPSILON = 1e-12


def _make_cell(cell, units):
    if cell == "lstm":
        return keras.layers.LSTMCell(units, name="cell")
    if cell == "gru":
        return keras.layers.GRUCell(units, name="cell")
    if cell == "vanilla":
        return VanillaRNNCell(units, name="cell")
    raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")


def _most_likely(alpha):
    """One-hot `(batch, L)` of alpha's largest weight (ties share it; no argmax, which Keras's
    TensorFlow backend builds from bit casts that ONNX lacks)."""
    peak = ops.cast(ops.equal(alpha, ops.max(alpha, axis=-1, keepdims=True)), alpha.dtype)
    return peak / ops.sum(peak, axis=-1, keepdims=True)


@keras.saving.register_keras_serializable(package="kerasrnn")
class AttentionDecoder(keras.layers.Layer):
    """Show-Attend-Tell caption decoder: teacher-forced over whole captions, or one step at a time.

    Args:
        vocab_size: Number of word ids V.
        embedding_dim: Word embedding size (also the deep output layer's width).
        units: Recurrent state size H.
        attention_units: Hidden size of the attention's scoring layer.
        cell: `"lstm"`, `"gru"` or `"vanilla"`.
        dropout: Dropout before the output layer (training only).
        doubly_stochastic: Weight lambda of the paper's regulariser
            `lambda * sum_i (1 - sum_t alpha_ti)^2` (over non-pad steps), added with `add_loss`.
        attention: `"soft"` (deterministic, expected context) or `"hard"` (sampled location,
            REINFORCE).
        hard_mix: Hard attention: probability that a training caption uses the soft context.
        reinforce_weight: Hard attention: weight lambda_r of the REINFORCE term.
        entropy_weight: Hard attention: weight lambda_e of the entropy bonus.
        seed: Seed of the location sampler.
        **kwargs: Base `Layer` arguments.

    Call arguments (teacher forcing):
        annotations: `(batch, L, D)` annotation vectors (a flattened CNN grid).
        captions: int `(batch, T + 1)`: `<start> w1 ... wn <end>`, padded with id 0 (`<pad>`).
            Words 0..T-1 are fed in; words 1..T are the targets the logits predict (and, for
            hard attention in training, the reward).
        training: Enables dropout and, for hard attention, sampling and the REINFORCE loss.

    Returns:
        `(logits, alphas)`: `(batch, T, V)` next-word logits for `captions[:, 1:]` and
        `(batch, T, L)` the attention distributions alpha.
    """

    def __init__(self, vocab_size, embedding_dim=64, units=128, attention_units=64, cell="lstm",
                 dropout=0.0, doubly_stochastic=0.0, attention="soft", hard_mix=0.5,
                 reinforce_weight=1.0, entropy_weight=0.01, seed=None, **kwargs):
        super().__init__(**kwargs)
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        self.vocab_size, self.embedding_dim, self.units = vocab_size, embedding_dim, units
        self.attention_units, self.cell_type = attention_units, cell
        self.dropout_rate, self.doubly_stochastic = dropout, doubly_stochastic
        self.attention_type, self.hard_mix = attention, hard_mix
        self.reinforce_weight, self.entropy_weight, self.seed = reinforce_weight, entropy_weight, seed
        # `value -> its sum over the replicas of a data-parallel step`; None in one process.
        self.replica_sum = None
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
        if attention == "hard":
            self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, annotations_shape, captions_shape=None):
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
        if self.attention_type == "hard":
            # The REINFORCE baseline: a moving average of log p(y | s, a) over training batches.
            self.reward_baseline = self.add_weight(shape=(), name="reward_baseline",
                                                   initializer="zeros", trainable=False)

    def initial_state(self, annotations):
        """States from the mean annotation: a list of `(batch, H)` tensors."""
        mean = ops.mean(annotations, axis=1)
        return [layer(mean) for layer in self.init_layers]

    def step(self, tokens, states, annotations, projected=None, mask=None, training=False):
        """One decoding step (inference: hard attention looks at the most likely location).

        Args:
            tokens: int `(batch,)`, the previous words.
            states: The cell's state list (`initial_state` or the previous step's).
            annotations: `(batch, L, D)`.
            projected: Optional `self.attention.project_annotations(annotations)`, reused.
            mask: Optional bool `(batch, L)` over locations.
            training: Enables dropout.

        Returns:
            `(logits, states, weights)`: `(batch, V)`, the new state list, and `(batch, L)` the
            attention weights the context was made with (alpha, or one-hot for hard attention).
        """
        alpha = self.attention(annotations, states[0], mask=mask, projected_annotations=projected)[1]
        weights = _most_likely(alpha) if self.attention_type == "hard" else alpha
        logits, states = self._read_and_predict(tokens, states, annotations, weights, training)
        return logits, states, weights

    def _read_and_predict(self, tokens, states, annotations, weights, training):
        """The cell update and the deep output, given the attention weights `(batch, L)`."""
        embedded = self.embedding(tokens)
        context = ops.einsum("bl,bld->bd", weights, annotations)
        gated = self.gate(states[0]) * context
        h, new_states = self.cell(ops.concatenate([embedded, gated], axis=-1), states,
                                  training=training)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        deep = embedded + self.out_hidden(h) + self.out_context(gated)
        return self.out_logits(self.out_dropout(deep, training=training)), new_states

    def _sample_weights(self, alpha, use_soft):
        """Hard attention in training: one-hot samples of alpha, or alpha where `use_soft`."""
        log_alpha = ops.log(alpha + _EPSILON)
        location = keras.random.categorical(log_alpha, 1, seed=self.seed_generator)[:, 0]
        one_hot = ops.one_hot(location, ops.shape(alpha)[-1], dtype=alpha.dtype)
        log_p_location = ops.sum(one_hot * log_alpha, axis=-1)  # (B,)
        return ops.where(use_soft, alpha, one_hot), log_p_location

    def call(self, annotations, captions, training=False):
        inputs, targets = captions[:, :-1], captions[:, 1:]
        real = ops.cast(ops.not_equal(targets, 0), annotations.dtype)  # (B, T): non-pad steps
        sampling = self.attention_type == "hard" and training
        if sampling:
            use_soft = keras.random.uniform((ops.shape(annotations)[0], 1),
                                            seed=self.seed_generator) < self.hard_mix
        states = self.initial_state(annotations)
        projected = self.attention.project_annotations(annotations)
        all_logits, all_alphas, log_p_locations = [], [], []
        for t in range(inputs.shape[1]):  # the caption length is static: unrolled
            alpha = self.attention(annotations, states[0], projected_annotations=projected)[1]
            if sampling:
                weights, log_p = self._sample_weights(alpha, use_soft)
                log_p_locations.append(log_p)
            elif self.attention_type == "hard":
                weights = _most_likely(alpha)
            else:
                weights = alpha
            logits, states = self._read_and_predict(inputs[:, t], states, annotations, weights,
                                                    training)
            all_logits.append(logits)
            all_alphas.append(alpha)
        logits, alphas = ops.stack(all_logits, axis=1), ops.stack(all_alphas, axis=1)
        if self.doubly_stochastic:
            coverage = ops.sum(alphas * real[..., None], axis=1)  # (B, L): attention each location got
            self.add_loss(self.doubly_stochastic * ops.mean(ops.sum(ops.square(1.0 - coverage), -1)))
        if sampling:
            hard = 1.0 - ops.cast(use_soft[:, 0], real.dtype)
            self._add_reinforce_loss(logits, targets, real, alphas,
                                     ops.stack(log_p_locations, axis=1), hard)
        return logits, alphas

    def _add_reinforce_loss(self, logits, targets, real, alphas, log_p_locations, hard):
        """REINFORCE surrogate for the sampled locations (Xu et al. eq. 12), per target word.

        Its gradient is `-(lambda_r (log p(y|s,a) - b) d log p(s|a) + lambda_e d H[s])`, summed
        over the batch and divided by the number of target words, the scale of the
        cross-entropy that `fit` minimises alongside. The added loss has the value 0 (only its
        gradient acts), so the loss that `fit` reports stays the captions' cross-entropy.
        """
        log_probs = ops.log_softmax(logits, axis=-1)
        log_p_words = ops.take_along_axis(log_probs, ops.expand_dims(targets, -1), axis=-1)[..., 0]
        reward = ops.stop_gradient(ops.sum(log_p_words * real, axis=1))  # (B,) log p(y | s, a)
        advantage = reward - self.reward_baseline
        log_p_sample = ops.sum(log_p_locations * real, axis=1) * hard  # soft captions: no term
        entropy = -ops.sum(ops.sum(alphas * ops.log(alphas + _EPSILON), axis=-1) * real, axis=1)
        total = self.replica_sum or (lambda value: value)
        # the global batch's words and mean reward; `replicas` undoes Keras's division of added
        # losses by the replicas, so the summed gradient is the global batch's
        replicas = total(ops.ones((), reward.dtype))
        words = ops.maximum(total(ops.sum(real)), 1.0)
        mean_reward = total(ops.sum(reward)) / total(ops.cast(ops.shape(reward)[0], reward.dtype))
        surrogate = -ops.sum(self.reinforce_weight * advantage * log_p_sample
                             + self.entropy_weight * entropy) / words * replicas
        self.add_loss(surrogate - ops.stop_gradient(surrogate))  # the gradient, a value of 0
        # The first batch sets the baseline (a zero start would make every early sample look bad).
        first = ops.equal(self.reward_baseline, 0.0)
        self.reward_baseline.assign(ops.where(first, mean_reward,
                                              0.9 * self.reward_baseline + 0.1 * mean_reward))

    def compute_output_spec(self, annotations, captions, training=False):
        batch, steps = captions.shape[0], captions.shape[1] - 1
        return (keras.KerasTensor((batch, steps, self.vocab_size), dtype=self.compute_dtype),
                keras.KerasTensor((batch, steps, annotations.shape[1]), dtype=self.compute_dtype))

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim, "units": self.units,
                "attention_units": self.attention_units, "cell": self.cell_type,
                "dropout": self.dropout_rate, "doubly_stochastic": self.doubly_stochastic,
                "attention": self.attention_type, "hard_mix": self.hard_mix,
                "reinforce_weight": self.reinforce_weight,
                "entropy_weight": self.entropy_weight, "seed": self.seed}
