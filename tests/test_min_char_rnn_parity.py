"""Our one-hot vanilla char model *is* min-char-rnn: same loss, same gradients, same Adagrad steps."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasrnn.kinds.char_rnn.model import build_char_rnn, min_char_rnn_params, set_min_char_rnn_params
from kerasrnn.reference import min_char_rnn as ref

V, H, T = 23, 16, 25


def _rel_err(a, b):
    return np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max()


def _keras_loss_and_grads(dtype, params, inputs, targets, hprev):
    model = build_char_rnn(V, cell="vanilla", num_layers=1, hidden_size=H, dtype=dtype,
                           with_state=True)
    set_min_char_rnn_params(model, {k: v.astype(dtype) for k, v in params.items()})
    with tf.GradientTape() as tape:
        logits, h_last = model([inputs[None].astype("int32"), hprev.T.astype(dtype)])
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(targets[None], logits))
    grads = dict(zip(["Wxh", "Whh", "bh", "Why", "by"], tape.gradient(loss, model.trainable_variables)))
    # Back to the notes' layout: transposed matrices, column-vector biases.
    grads = {k: (g.numpy().T if g.ndim == 2 else g.numpy()[:, None]) for k, g in grads.items()}
    return float(loss), grads, h_last.numpy().T


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float64", 1e-10)])
def test_loss_and_gradients_equal_lossfun(dtype, tol):
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(v.shape) * 0.3 for k, v in ref.init_params(V, H).items()}
    inputs, targets = rng.integers(0, V, T), rng.integers(0, V, T)
    hprev = rng.standard_normal((H, 1)) * 0.5
    loss, grads, h_last = ref.loss_fun(params, inputs, targets, hprev, clip=None)
    k_loss, k_grads, k_h = _keras_loss_and_grads(dtype, params, inputs, targets, hprev)
    assert abs(k_loss - loss) / loss < tol
    for name in ref.PARAM_NAMES:
        assert _rel_err(k_grads[name], grads[name]) < tol, name
    assert _rel_err(k_h[:, -1:], h_last) < tol


def test_weight_mapping_round_trips():
    model = build_char_rnn(V, cell="vanilla", num_layers=1, hidden_size=H)
    params = ref.init_params(V, H, seed=3, dtype=np.float32)
    set_min_char_rnn_params(model, params)
    for name, value in min_char_rnn_params(model).items():
        np.testing.assert_array_equal(value, params[name])
    assert model.count_params() == sum(v.size for v in params.values())


def test_preset_training_steps_equal_the_notes_main_loop():
    """Five fit() steps of --preset min-char-rnn equal five iterations of the notes' loop."""
    from kerasrnn.kinds.char_rnn.train import PRESETS, build_training_model
    from kerasrnn.kinds.char_rnn.config import CharRNNConfig

    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        cfg = CharRNNConfig(**{**PRESETS["min-char-rnn"], "steps": 5, "steps_per_execution": 1,
                               "hidden_size": H, "jit_compile": False})
        model = build_training_model(cfg, V)
        rng = np.random.default_rng(1)
        data = rng.integers(0, V, 5 * cfg.seq_length + 2)
        params = {k: rng.standard_normal(v.shape) * 0.1 for k, v in ref.init_params(V, H).items()}
        set_min_char_rnn_params(model, params)
        ref.train(params, data, num_steps=5, seq_length=cfg.seq_length, learning_rate=0.1, clip=5.0)
        x = np.stack([data[i * 25:(i + 1) * 25] for i in range(5)])[:, None]
        y = np.stack([data[i * 25 + 1:(i + 1) * 25 + 1] for i in range(5)])[:, None]
        for xs, ys in zip(x, y):  # stateful model: the state carries from window to window
            model.train_on_batch(xs.astype("int32"), ys.astype("int32"))
        for name, value in min_char_rnn_params(model).items():
            assert _rel_err(value, params[name]) < 1e-9, name
    finally:
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy("float32")
