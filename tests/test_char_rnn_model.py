"""The char model builder: cells, depth, embedding, and the step model used for sampling."""

import numpy as np
import pytest

from kerasrnn.kinds.char_rnn.model import build_char_rnn, num_states, zero_states


@pytest.mark.parametrize("cell", ["vanilla", "lstm", "gru"])
@pytest.mark.parametrize("embedding_dim", [None, 8])
def test_logits_shape_for_every_cell_and_input(cell, embedding_dim):
    model = build_char_rnn(11, cell=cell, num_layers=2, hidden_size=6, dropout=0.1,
                           embedding_dim=embedding_dim)
    out = model(np.zeros((3, 5), "int32"))
    assert tuple(out.shape) == (3, 5, 11)
    assert ("embedding" in [l.name for l in model.layers]) == bool(embedding_dim)


def test_min_char_rnn_size_has_min_char_rnn_parameter_count():
    V, H = 65, 100
    model = build_char_rnn(V, cell="vanilla", num_layers=1, hidden_size=H)
    assert model.count_params() == H * V + H * H + V * H + H + V


@pytest.mark.parametrize("cell", ["vanilla", "lstm", "gru"])
def test_step_model_one_char_at_a_time_equals_the_sequence_model(cell):
    config = dict(vocab_size=9, cell=cell, num_layers=2, hidden_size=5)
    seq_model = build_char_rnn(**config)
    step_model = build_char_rnn(**config, with_state=True)
    step_model.set_weights(seq_model.get_weights())
    ids = np.random.default_rng(0).integers(0, 9, (2, 7)).astype("int32")
    full = np.asarray(seq_model(ids))
    states = zero_states(step_model, 2)
    assert len(states) == 2 * num_states(cell)
    for t in range(7):
        logits, *states = (np.asarray(o) for o in step_model([ids[:, t:t + 1], *states]))
        np.testing.assert_allclose(logits[:, 0], full[:, t], rtol=1e-5, atol=1e-5)


def test_rejects_unknown_cell_and_stateful_with_state():
    with pytest.raises(ValueError, match="cell"):
        build_char_rnn(5, cell="transformer")
    with pytest.raises(ValueError, match="stateful"):
        build_char_rnn(5, stateful=True, with_state=True, batch_size=2)
