"""The gradient-flow diagnostic: equals hand-written BPTT for a vanilla RNN, and shows vanish/explode."""

import numpy as np

from kerasrnn.kinds.char_rnn.gradient_flow import fresh_step_model, state_gradient_norms
from kerasrnn.kinds.char_rnn.model import min_char_rnn_params


def _numpy_state_gradient_norms(params, ids):
    """Backprop of the last step's loss to every hidden state, as in the notes' lossFun."""
    Wxh, Whh, Why, bh, by = (params[k] for k in ("Wxh", "Whh", "Why", "bh", "by"))
    norms = []
    for row in ids:
        hs, h = [], np.zeros((Whh.shape[0], 1))
        for t in range(len(row) - 1):
            x = np.zeros((Wxh.shape[1], 1))
            x[row[t]] = 1
            h = np.tanh(Wxh @ x + Whh @ h + bh)
            hs.append(h)
        y = Why @ hs[-1] + by
        p = np.exp(y - y.max()) / np.exp(y - y.max()).sum()
        p[row[-1]] -= 1
        dh, out = Why.T @ p, []
        for t in reversed(range(len(hs))):
            out.append(np.linalg.norm(dh))
            dh = Whh.T @ ((1 - hs[t] ** 2) * dh)
        norms.append(out)
    return np.mean(norms, axis=0)


def test_vanilla_norms_equal_numpy_backprop():
    model = fresh_step_model("vanilla", vocab_size=11, hidden_size=8, recurrent_gain=1.5)
    ids = np.random.default_rng(0).integers(0, 11, (3, 13))
    params = {k: v.astype(np.float64) for k, v in min_char_rnn_params(model).items()}
    np.testing.assert_allclose(state_gradient_norms(model, ids), _numpy_state_gradient_norms(params, ids),
                               rtol=1e-4)


def test_small_recurrent_gain_vanishes_large_gain_explodes():
    ids = np.random.default_rng(1).integers(0, 11, (4, 41))
    small = state_gradient_norms(fresh_step_model("vanilla", 11, 16, recurrent_gain=0.5), ids)
    large = state_gradient_norms(fresh_step_model("vanilla", 11, 16, recurrent_gain=3.0), ids)
    assert small.shape == large.shape == (40,)
    assert small[-1] < 1e-6 * small[0]
    assert large[-1] > 1e3 * large[0]


def test_lstm_and_gru_states_include_every_layer():
    ids = np.random.default_rng(2).integers(0, 7, (2, 6))
    for cell in ("lstm", "gru"):
        norms = state_gradient_norms(fresh_step_model(cell, 7, 5, num_layers=2), ids)
        assert norms.shape == (5,) and np.all(np.isfinite(norms)) and np.all(norms > 0)
