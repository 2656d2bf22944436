"""Sampling: argmax at temperature 0, top-k, temperature, and the same seed giving the same text."""

import numpy as np
import pytest

from kerasrnn.kinds.char_rnn.text import Vocabulary
from kerasrnn.errors import InputError
from kerasrnn.kinds.char_rnn.model import build_char_rnn
from kerasrnn.kinds.char_rnn.sampling import choose_next, generate


def test_temperature_zero_is_argmax():
    logits = np.array([[0.1, 3.0, 0.2], [5.0, 0.0, 4.9]])
    np.testing.assert_array_equal(choose_next(logits, temperature=0), [1, 0])


def test_sampling_frequencies_follow_softmax_and_top_k():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    draws = np.array([choose_next(logits, 1.0, 0, rng)[0] for _ in range(20000)])
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), [0.5, 0.3, 0.15, 0.05], atol=0.015)
    top2 = np.array([choose_next(logits, 1.0, 2, rng)[0] for _ in range(5000)])
    assert set(top2) == {0, 1}
    np.testing.assert_allclose(np.mean(top2 == 0), 0.5 / 0.8, atol=0.03)
    cold = np.array([choose_next(logits, 0.25, 0, rng)[0] for _ in range(2000)])
    assert np.mean(cold == 0) > 0.85  # low temperature sharpens toward the argmax


@pytest.fixture
def step_model_and_vocab():
    vocab = Vocabulary.from_text("abcdefgh \n")
    model = build_char_rnn(len(vocab), cell="gru", num_layers=1, hidden_size=8, with_state=True)
    return model, vocab


def test_same_seed_same_text_other_seed_other_text(step_model_and_vocab):
    model, vocab = step_model_and_vocab
    a = generate(model, vocab, "ab", 40, temperature=1.0, seed=7)
    b = generate(model, vocab, "ab", 40, temperature=1.0, seed=7)
    c = generate(model, vocab, "ab", 40, temperature=1.0, seed=8)
    assert a == b and a != c and len(a) == 40 and not vocab.unknown_chars(a)


def test_greedy_generation_is_seed_independent(step_model_and_vocab):
    model, vocab = step_model_and_vocab
    assert generate(model, vocab, "a", 20, temperature=0, seed=1) == generate(model, vocab, "a", 20, temperature=0, seed=2)


def test_prime_outside_vocabulary_is_refused(step_model_and_vocab):
    model, vocab = step_model_and_vocab
    with pytest.raises(InputError, match="'Q'"):
        generate(model, vocab, "aQ", 5)
    with pytest.raises(InputError, match="at least one"):
        generate(model, vocab, "", 5)
