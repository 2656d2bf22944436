"""The numpy beam search's stopping rule, on a scripted decoder (no model needed)."""

import numpy as np
import pytest

from kerasrnn.kinds.captioner.beam_search_numpy import beam_search

START, END, WORD, OTHER = 1, 2, 3, 4
VOCAB = 5


def _scripted_step(length, p_end_early):
    """A decoder that writes WORD `length` times then END (probability ~1), but at every earlier
    step gives END probability `p_end_early`, so short captions keep finishing in the beam."""

    def step(tokens, states, annotations, projected):
        count = states[0]
        probs = np.full((len(tokens), VOCAB), 1e-6)
        early = count[:, 0] < length
        probs[early, WORD] = 1.0 - p_end_early
        probs[early, END] = p_end_early
        probs[early, OTHER] = p_end_early / 2
        probs[~early, END] = 1.0
        logits = np.log(probs / probs.sum(-1, keepdims=True))
        return logits, [count + 1], np.full((len(tokens), 4), 0.25)

    return step


@pytest.mark.parametrize("beam_width", [2, 3, 5])
@pytest.mark.parametrize("length_penalty", [0.0, 0.7])
def test_search_goes_on_while_a_live_beam_can_beat_the_finished_ones(beam_width, length_penalty):
    # After 4 steps, 4 short captions of log-prob <= log(0.01) have finished; the likely caption
    # (WORD x 6, END: log-prob ~ 6 * log(0.985)) is still being written. Stopping at `beam_width`
    # finished captions would return a short, unlikely one.
    step = _scripted_step(length=6, p_end_early=0.01)
    zeros = np.zeros((1, 4, 2))
    [best] = beam_search(step, zeros, zeros, [np.zeros((1, 1))], START, END, max_length=10,
                         beam_width=beam_width, length_penalty=length_penalty)
    assert best.tokens == [WORD] * 6 + [END]
    p_word = 0.99 / (0.99 + 0.01 + 0.005 + 2e-6)
    p_end = 1.0 / (1.0 + 4e-6)
    assert best.log_prob == pytest.approx(6 * np.log(p_word) + np.log(p_end), abs=1e-9)
    assert best.alphas.shape == (7, 4)


def test_width_one_is_greedy_on_the_scripted_decoder():
    step = _scripted_step(length=3, p_end_early=0.3)
    zeros = np.zeros((2, 4, 2))
    captions = beam_search(step, zeros, zeros, [np.zeros((2, 1))], START, END, max_length=10,
                           beam_width=1, length_penalty=0.7)
    assert [c.tokens for c in captions] == [[WORD] * 3 + [END]] * 2
