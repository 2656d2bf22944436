"""Captioning scores: BLEU worked out by hand, clipping, zero orders; attention localisation cases."""

import math
import warnings

import numpy as np
import pytest

from kerasrnn.kinds.captioner.regions import named_cells
from kerasrnn.kinds.captioner.metrics import (
    attention_localization,
    attention_points,
    corpus_bleu,
    localization_score,
)


def test_bleu_matches_a_hand_computed_corpus():
    references = [["a red circle left of a blue square"], ["a green triangle"]]
    hypotheses = ["A red circle, left of a square.", "a green circle"]  # normalised first
    # Caption 1: hyp "a red circle left of a square" (7 words), ref (8 words).
    #   1-grams: a x2, red, circle, left, of, square all in the ref (a twice)   7/7
    #   2-grams: a red, red circle, circle left, left of, of a | a square       5/6
    #   3-grams: a red circle, red circle left, circle left of, left of a |
    #            of a square                                                    4/5
    #   4-grams: a red circle left, red circle left of, circle left of a |
    #            left of a square                                               3/4
    # Caption 2: hyp "a green circle" (3 words), ref "a green triangle" (3 words).
    #   1-grams: a, green | circle 2/3;  2-grams: a green | green circle 1/2;
    #   3-grams: 0/1;  4-grams: 0/0.
    # Corpus (summed before dividing): p1 = 9/10, p2 = 6/8, p3 = 4/6, p4 = 3/4.
    # (p4 counts no 4-gram for the 3-word caption; nltk's own corpus_bleu would count one and
    # give 3/5, coco-caption gives 3/4.)
    # Lengths: hyp 7 + 3 = 10, closest refs 8 + 3 = 11 -> brevity penalty exp(1 - 11/10).
    bp = math.exp(1 - 11 / 10)
    p = [9 / 10, 6 / 8, 4 / 6, 3 / 4]
    expected = {f"bleu{n}": bp * math.prod(p[:n]) ** (1 / n) for n in range(1, 5)}
    scores = corpus_bleu(references, hypotheses)
    assert scores.keys() == expected.keys()
    for key in expected:
        assert scores[key] == pytest.approx(expected[key], abs=1e-6)
        assert isinstance(scores[key], float)
    assert scores["bleu1"] == pytest.approx(0.814354, abs=1e-6)


def test_identical_hypotheses_score_one():
    references = [["a red circle left of a blue square", "a blue square"], ["a green triangle"]]
    hypotheses = ["a red circle left of a blue square", "a green triangle"]
    assert corpus_bleu(references, hypotheses) == pytest.approx(
        {"bleu1": 1.0, "bleu2": 1.0, "bleu3": 1.0, "bleu4": 1.0}, abs=1e-12)


def test_multi_reference_clipping_and_zero_orders_without_warning():
    # hyp "the the the the": "the" appears at most twice in one reference, so p1 = 2/4;
    # "the the" at most once -> p2 = 1/3; no "the the the" anywhere -> p3 = 0 -> BLEU-3/4 = 0.
    # Closest reference length to 4 is 3 (longer hypotheses get no brevity penalty).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = corpus_bleu([["the cat", "the the cat"]], ["the the the the"])
    assert scores["bleu1"] == pytest.approx(0.5, abs=1e-12)
    assert scores["bleu2"] == pytest.approx(math.sqrt(0.5 / 3), abs=1e-12)
    assert scores["bleu3"] == 0.0 and scores["bleu4"] == 0.0
    assert corpus_bleu([["a cat"]], ["dog"]) == {"bleu1": 0.0, "bleu2": 0.0, "bleu3": 0.0, "bleu4": 0.0}


def test_max_order_and_brevity_penalty():
    # hyp "a cat" (2 words) against a 4-word reference: p1 = 1, p2 = 1, bp = exp(1 - 4/2).
    scores = corpus_bleu([["a cat on mats"]], ["a cat"], max_order=2)
    assert scores == pytest.approx({"bleu1": math.exp(-1), "bleu2": math.exp(-1)}, abs=1e-12)


@pytest.mark.parametrize("references, hypotheses", [
    ([["a cat"], ["a dog"]], ["a cat"]),
    ([["a cat"]], ["a cat", "a dog"]),
    ([], []),
    ([[]], ["a cat"]),
    (["a cat"], ["a cat"]),  # a string where a list of references belongs
])
def test_bad_inputs_raise(references, hypotheses):
    with pytest.raises(ValueError):
        corpus_bleu(references, hypotheses)


# Localisation: a 2 x 2 grid over a 64-pixel image has cell centres
#   cell 0 (16, 16), cell 1 (48, 16), cell 2 (16, 48), cell 3 (48, 48).
S = 64
TOP_LEFT, BOTTOM_RIGHT = (0, 0, 32, 32), (32, 32, 64, 64)


def _peaks(cells, num_cells=4):
    """One attention row per word, peaked at the given cell."""
    alphas = np.full((len(cells), num_cells), 0.1 / num_cells)
    alphas[np.arange(len(cells)), cells] += 0.9
    return alphas


def test_peaks_inside_and_outside_their_boxes():
    words = ["a", "red", "circle", "above", "a", "blue", "square"]
    object_words = [{"red", "circle"}, {"blue", "square"}]
    #          a  red circle above a  blue square
    cells = [3, 0, 3, 1, 2, 3, 1]  # red: hit, circle: miss, blue: hit, square: miss
    hits, counted = attention_localization(_peaks(cells), words, object_words,
                                           np.array([TOP_LEFT, BOTTOM_RIGHT]), S)
    assert (hits, counted) == (2, 4)
    # non-naming words are ignored wherever they look
    assert attention_localization(_peaks([0, 1, 2]), ["a", "left", "of"], object_words,
                                  [TOP_LEFT, BOTTOM_RIGHT], S) == (0, 0)


def test_word_naming_two_objects_hits_either_box():
    object_words = [{"red", "circle"}, {"blue", "circle"}]
    boxes = [TOP_LEFT, BOTTOM_RIGHT]
    assert attention_localization(_peaks([3, 0, 1]), ["circle", "circle", "circle"],
                                  object_words, boxes, S) == (2, 3)
    # single-word objects as plain strings, words as one string
    assert attention_localization(_peaks([0, 0]), "seven two", ["seven", "two"], boxes, S) == (1, 2)


def test_boxes_are_end_exclusive():
    # the centre of cell 0 is (16, 16): outside a box that ends at 16, inside one that ends at 17
    assert attention_localization(_peaks([0]), ["seven"], [{"seven"}], [(0, 0, 16, 16)], S) == (0, 1)
    assert attention_localization(_peaks([0]), ["seven"], [{"seven"}], [(0, 0, 17, 17)], S) == (1, 1)


def test_row_major_cells():
    # a 4 x 4 grid: cell 1 is row 0, column 1, centre (24, 8): right of a left column box
    left_column, top_row = (0, 0, 16, 64), (0, 0, 64, 16)
    assert attention_localization(_peaks([1], 16), ["x"], [{"x"}], [left_column], S) == (0, 1)
    assert attention_localization(_peaks([1], 16), ["x"], [{"x"}], [top_row], S) == (1, 1)


def test_corpus_score_and_chance_for_a_known_layout():
    # 4 x 4 grid over 64 pixels: centres at 8, 24, 40, 56 on each axis.
    # "red" names the top-left quarter: 4 of 16 centres inside -> chance 1/4.
    # "big" names both the top-left quarter and the right half (8 of 16): union 12/16.
    object_words = [{"red", "big"}, {"blue", "big"}]
    boxes = [(0, 0, 32, 32), (32, 0, 64, 64)]
    captions = [["a", "red", "big"], ["blue", "big", "dog"]]
    alphas = [_peaks([5, 0, 6], 16),   # red -> cell 0 (8, 8): hit; big -> cell 6 (40, 24): hit
              _peaks([0, 8, 3], 16)]   # blue -> (8, 8): miss; big -> cell 8 (8, 40): miss
    score = localization_score(alphas, captions, [object_words] * 2, [boxes] * 2, S)
    assert score["words"] == 4
    assert score["localization"] == pytest.approx(2 / 4)
    assert score["chance"] == pytest.approx((4 / 16 + 12 / 16 + 8 / 16 + 12 / 16) / 4)
    assert score["by_word"] == {"big": 0.5, "blue": 0.0, "red": 1.0}


def test_on_object_counts_a_peak_cell_at_the_edge_of_the_box():
    # 4 x 4 grid of 16-pixel cells over 64 pixels; the box (10, 10)-(30, 30) contains only the
    # centre (24, 24) of cell 5, and overlaps cells 0, 1, 4 and 5.
    box = [(10, 10, 30, 30)]
    score = localization_score([_peaks([0, 5, 15], 16)], [["x", "x", "x"]], [[{"x"}]], [box], S)
    assert score["localization"] == pytest.approx(1 / 3)  # only cell 5's centre is inside
    assert score["on_object"] == pytest.approx(2 / 3)  # cells 0 and 5 overlap, cell 15 does not
    assert score["chance"] == pytest.approx(1 / 16) and score["on_object_chance"] == pytest.approx(4 / 16)


def test_misses_by_side_and_localization_by_object_count():
    # 4 x 4 grid of 16-pixel cells, centres at 8, 24, 40, 56; the box (16, 16)-(48, 48) holds
    # the centres of cells 5, 6, 9 and 10. Image 1 has this one object, image 2 two objects.
    box, far = (16, 16, 48, 48), (0, 56, 8, 64)
    alphas = [_peaks([5, 7, 15], 16),  # hit; cell 7 (56, 24): right; cell 15 (56, 56): right and below
              _peaks([1, 8], 16)]      # cell 1 (24, 8): above; cell 8 (8, 40): left
    score = localization_score(alphas, [["x", "x", "x"], ["x", "x"]], [[{"x"}], [{"x"}, {"y"}]],
                               [[box], [box, far]], S)
    assert score["localization"] == pytest.approx(1 / 5)
    assert score["by_object_count"] == {1: pytest.approx(1 / 3), 2: 0.0}
    assert score["miss_sides"] == {"left": 0.25, "right": 0.5, "above": 0.25, "below": 0.25}


def test_peak_on_another_object_is_told_apart_from_a_peak_at_the_edge():
    # 4 x 4 grid of 16-pixel cells; "red" names the box (10, 10)-(30, 30) over cells 0, 1, 4, 5,
    # "blue" the box (40, 40)-(64, 64) over cells 10, 11, 14, 15.
    boxes = [(10, 10, 30, 30), (40, 40, 64, 64)]
    words = ["red", "red", "red", "red", "blue"]
    alphas = _peaks([5,    # hit
                     0,    # miss at the edge of the red box
                     15,   # miss on the blue object
                     3,    # miss on nothing
                     15],  # hit
                    16)
    score = localization_score([alphas], [words], [[{"red"}, {"blue"}]], [boxes], S)
    assert score["localization"] == pytest.approx(2 / 5)
    assert score["on_object"] == pytest.approx(3 / 5)
    assert score["on_other_object"] == pytest.approx(1 / 5)
    # with one object there is no other object to look at
    alone = localization_score([_peaks([15], 16)], [["red"]], [[{"red"}]], [boxes[:1]], S)
    assert alone["on_other_object"] == 0.0


def test_centre_of_the_map_against_its_peak():
    # 4 x 4 grid of 16-pixel cells, centres at 8, 24, 40, 56; the box (16, 16)-(48, 48) holds
    # the centres of cells 5, 6, 9 and 10.
    box = [(16, 16, 48, 48)]
    maps = np.zeros((3, 16))
    maps[0, [4, 7]] = [0.6, 0.4]  # peak on cell 4 (8, 24), outside; centre (27.2, 24), inside
    maps[1, 5] = 1.0              # peak and centre (24, 24) inside
    maps[2, [0, 1]] = 0.5         # peak (8, 8) and centre (16, 8) both above the box
    score = localization_score([maps], [["x"] * 3], [[{"x"}]], [box], S)
    assert score["localization"] == pytest.approx(1 / 3)
    assert score["centre"] == pytest.approx(2 / 3)


def test_edge_weight_ratio_compares_cells_straddling_the_box_with_cells_inside_it():
    # 4 x 4 grid of 16-pixel cells; the box (8, 8)-(56, 56) holds cells 5, 6, 9 and 10 wholly
    # and straddles the 12 cells around them (a quarter or half of each covered).
    box = [(8, 8, 56, 56)]
    inner, ring = [5, 6, 9, 10], [0, 1, 2, 3, 4, 7, 8, 11, 12, 13, 14, 15]
    maps = np.zeros((2, 16))
    maps[0, ring] = 0.8 / 12       # a ring: 0.0667 per straddling cell, 0.05 per inner one
    maps[0, inner] = 0.2 / 4
    maps[1, inner] = 1.0 / 4       # filled: nothing on the ring
    score = localization_score([maps], [["x", "x"]], [[{"x"}]], [box], S)
    assert score["edge_weight_ratio"] == pytest.approx((0.8 / 12 / 2) / ((0.05 + 0.25) / 2))
    ring_only = localization_score([maps[:1]], [["x"]], [[{"x"}]], [box], S)
    assert ring_only["edge_weight_ratio"] == pytest.approx((0.8 / 12) / 0.05)  # 1.33: a ring
    # a box too small to hold a whole cell leaves the ratio undefined
    small = localization_score([maps[:1]], [["x"]], [[{"x"}]], [[(10, 10, 30, 30)]], S)
    assert math.isnan(small["edge_weight_ratio"])


def test_named_cells_are_the_cells_a_hit_must_peak_on():
    # a 4 x 4 grid of 16-pixel cells; the red circle's box holds cell centres (8, 8), (24, 8),
    # (8, 24) and (24, 24): cells 0, 1, 4, 5; the blue square's (40..64, 40..64) cells 10, 11, 14, 15
    words = "a red circle above a blue square".split()
    object_words = [{"red", "circle"}, {"blue", "square"}]
    boxes = [(0, 0, 30, 30), (40, 40, 64, 64)]
    cells = named_cells(words, object_words, boxes, 16, S)
    assert cells.shape == (7, 16) and cells.dtype == bool
    red, blue = cells[1], cells[5]
    assert np.flatnonzero(red).tolist() == [0, 1, 4, 5] and np.array_equal(cells[2], red)
    assert np.flatnonzero(blue).tolist() == [10, 11, 14, 15] and np.array_equal(cells[6], blue)
    assert not cells[[0, 3, 4]].any()  # "a", "above", "a" name nothing
    # a peak on any named cell is a hit, on any other cell a miss
    for word, row in zip(words, cells):
        for cell in range(16):
            hits, counted = attention_localization(_peaks([cell], 16), [word], object_words, boxes, S)
            assert hits == (counted == 1 and row[cell])


def test_attention_points_of_a_map():
    maps = np.zeros(16)
    maps[[4, 7]] = [0.6, 0.4]  # 4 x 4 grid over 64 pixels: cells 4 (8, 24) and 7 (56, 24)
    peak, centre = attention_points(maps, S)
    np.testing.assert_allclose(peak, [8, 24])
    np.testing.assert_allclose(centre, [0.6 * 8 + 0.4 * 56, 24])


def test_no_misses_no_sides():
    score = localization_score([_peaks([0])], [["x"]], [[{"x"}]], [[TOP_LEFT]], S)
    assert score["localization"] == 1.0 and score["miss_sides"] == {}


def test_corpus_score_without_naming_words_is_nan():
    score = localization_score([_peaks([0])], [["a"]], [[{"red"}]], [[TOP_LEFT]], S)
    assert score["words"] == 0 and math.isnan(score["localization"]) and math.isnan(score["chance"])
    assert score["by_word"] == {} and math.isnan(score["edge_weight_ratio"])


def test_localization_validates_shapes():
    with pytest.raises(ValueError, match="square grid"):
        attention_localization(np.ones((1, 5)) / 5, ["x"], [{"x"}], [TOP_LEFT], S)
    with pytest.raises(ValueError, match="n_words"):
        attention_localization(_peaks([0, 1]), ["x"], [{"x"}], [TOP_LEFT], S)
    with pytest.raises(ValueError, match="boxes"):
        attention_localization(_peaks([0]), ["x"], [{"x"}, {"y"}], [TOP_LEFT], S)
    with pytest.raises(ValueError):
        localization_score([_peaks([0])], [], [[{"x"}]], [[TOP_LEFT]], S)
