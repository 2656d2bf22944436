"""Captioning scores: corpus BLEU-1..4 (via NLTK) and attention localisation with its chance level.

BLEU says whether the words are right; localisation says whether the model *looked* at the
thing it named: the share of object-naming words whose attention peak falls inside that
object's box, next to the share a peak placed uniformly at random over the grid would get.
"""

import math
import sys
import typing

import numpy as np

from kerasrnn.kinds.captioner.regions import caption_objects, grid_centres, inside_boxes, objects_named
from kerasrnn.kinds.captioner.vocab import normalize_caption

SIDES = ("left", "right", "above", "below")  # of a box, as `localization_score` reports misses


def _tokens(caption):
    if not isinstance(caption, str):
        raise ValueError(f"captions must be strings, got {type(caption).__name__}: {caption!r}")
    return normalize_caption(caption).split()


def corpus_bleu(references, hypotheses, max_order=4):
    """Corpus-level BLEU-1 .. BLEU-`max_order` of generated captions, with `nltk`.

    Captions are normalised with `normalize_caption` (lower case, no punctuation) and split on
    whitespace. Each BLEU-n is the brevity penalty times the geometric mean, with uniform weights
    1/n, of the clipped n-gram precisions for orders 1..n, the counts summed over the whole
    corpus before dividing (Papineni et al. 2002; the coco-caption BLEU that Show, Attend and
    Tell reports). The brevity penalty uses, per caption, the reference length closest to the
    hypothesis length (the shorter one on ties). NLTK does the counting; the one change to its
    `corpus_bleu` is that a caption shorter than n words adds no n-grams to the denominator
    (NLTK adds one), so that short captions score as in coco-caption.

    No smoothing: an order with no matching n-gram anywhere in the corpus makes BLEU-n, and
    every higher order, exactly 0.0 (nltk's "0 counts of n-gram overlaps" warning is not
    raised). On a real test set that means a model that gets next to nothing right, or whose
    captions are all shorter than n words. For a score per caption use a smoothed sentence BLEU
    instead.

    Args:
        references: List of N lists of reference caption strings (one list per image, each
            with at least one caption).
        hypotheses: List of N generated caption strings.
        max_order: Highest n-gram order n (>= 1).

    Returns:
        Dict `{"bleu1": float, ..., "bleu<max_order>": float}`, each in [0, 1].

    Raises:
        ValueError: if the lists differ in length or are empty, an image has no reference, a
            caption is not a string, or `max_order < 1`.
    """
    from nltk.translate import bleu_score

    if max_order < 1:
        raise ValueError(f"max_order must be >= 1, got {max_order}")
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise ValueError("references and hypotheses must be lists, not a single string")
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} reference lists but {len(hypotheses)} hypotheses")
    if not hypotheses:
        raise ValueError("corpus_bleu needs at least one caption")
    refs = []
    for i, image_refs in enumerate(references):
        if isinstance(image_refs, str) or not len(image_refs):
            raise ValueError(f"references[{i}] must be a non-empty list of caption strings, "
                             f"got {image_refs!r}")
        refs.append([_tokens(r) for r in image_refs])
    hyps = [_tokens(h) for h in hypotheses]

    # nltk hands the corpus precisions p_1..p_n to the smoothing function as Fractions that keep
    # their raw counts: matched n-grams over hypothesis n-grams, except that nltk counts at least
    # one n-gram per hypothesis (a sentence-level guard against 0/0), which lowers BLEU-n for
    # captions shorter than n words ("a red circle" for BLEU-4). This hook puts back the true
    # count, sum(max(0, len - n + 1)), as Papineni et al. and coco-caption do. Without smoothing
    # (nltk's method0) a zero p_n becomes the smallest float, which leaves BLEU at about 1e-77
    # rather than 0, and warns; here it is recorded and its scores set to exactly 0.0 below.
    guesses = [sum(max(0, len(h) - n + 1) for h in hyps) for n in range(1, max_order + 1)]
    zero_orders = set()

    def true_counts_no_smoothing(p_n, *args, **kwargs):
        out = []
        for n, (p, guess) in enumerate(zip(p_n, guesses), start=1):
            if p.numerator == 0:
                zero_orders.add(n)
                out.append(sys.float_info.min)
            else:
                out.append(p.numerator / guess)
        return out

    weights = [(1.0 / n,) * n for n in range(1, max_order + 1)]
    scores = bleu_score.corpus_bleu(refs, hyps, weights=weights,
                                    smoothing_function=true_counts_no_smoothing)
    # With no unigram match at all, nltk returns zeros before smoothing (and no warning).
    return {f"bleu{n}": 0.0 if any(i <= n for i in zero_orders) else float(s)
            for n, s in zip(range(1, max_order + 1), scores)}


def attention_points(alpha, image_size):
    """Where one attention map looked: its peak and its centre, as (x, y) pixels.

    Args:
        alpha: float `(L,)`, a g x g row-major map over an S x S image.
        image_size: S.

    Returns:
        `(peak, centre)`, float arrays `(2,)`: the centre of the map's largest cell (the first
        on ties), and the attention-weighted mean of all cell centres.
    """
    alpha = np.asarray(alpha, np.float64)
    centres = grid_centres(alpha.shape[-1], image_size)
    peak, centre = _peak_and_centre(alpha, centres)
    return centres[peak], centre


def _peak_and_centre(alpha, centres):
    """The index of the largest cell of `alpha (L,)` and the `centres (L, 2)` weighted by it."""
    return int(np.argmax(alpha)), alpha @ centres / alpha.sum()


def _cell_coverage(num_cells, image_size, boxes):
    """Float `(L,)`: the largest share of each grid cell's area that one of `boxes (K, 4)` covers
    (0: the cell misses every box; 1: it lies wholly inside one)."""
    g = math.isqrt(num_cells)
    rows, cols = np.divmod(np.arange(num_cells), g)
    step = image_size / g
    x0, y0 = (cols * step)[:, None], (rows * step)[:, None]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    width = np.clip(np.minimum(x0 + step, boxes[:, 2]) - np.maximum(x0, boxes[:, 0]), 0, None)
    height = np.clip(np.minimum(y0 + step, boxes[:, 3]) - np.maximum(y0, boxes[:, 1]), 0, None)
    return np.max(width * height, axis=1, initial=0.0) / step**2


def _cells_touching(num_cells, image_size, boxes):
    """Bool `(L,)`: whether each grid cell overlaps any of `boxes (K, 4)` (by a positive area)."""
    return _cell_coverage(num_cells, image_size, boxes) > 0


def _sides_outside(point, box):
    """The sides of `box (4,)` that the (x, y) `point` lies beyond: a subset of `SIDES`."""
    (x, y), (x0, y0, x1, y1) = point, box
    return tuple(side for side, beyond in zip(SIDES, (x < x0, x >= x1, y < y0, y >= y1)) if beyond)


class WordOutcome(typing.NamedTuple):
    """Where one object-naming word's attention map looked, against the boxes the word names.

    `peak_inside`: the peak cell's centre lies inside a named box; `inside_share`: the share of
    cell centres inside them (the chance of `peak_inside`); `peak_touching`: the peak cell
    overlaps a named box; `touching_share`: the share of cells that do; `peak_on_other`: the
    peak cell overlaps only boxes of objects the word does not name; `centre_inside`: the map's
    centre (the attention-weighted mean of the cell centres) lies inside a named box; `sides`:
    the sides of the first named box a missing peak centre lies beyond (empty for a hit);
    `edge_weights`: `(mean attention on a cell straddling a named box's edge, mean attention
    on a cell wholly inside one)`, or None where no cell is wholly inside.
    """

    word: str
    peak_inside: bool
    inside_share: float
    peak_touching: bool
    touching_share: float
    peak_on_other: bool
    centre_inside: bool
    sides: tuple
    edge_weights: tuple | None


SCORED_FIELDS = ("peak_inside", "inside_share", "peak_touching", "touching_share", "peak_on_other",
                 "centre_inside")  # the WordOutcome fields localization_score averages


def _word_outcomes(alphas, words, object_words, boxes, image_size):
    """A `WordOutcome` for each object-naming word of one caption."""
    alphas = np.asarray(alphas)
    words, object_words, boxes = caption_objects(words, object_words, boxes)
    if alphas.ndim != 2 or alphas.shape[0] != len(words):
        raise ValueError(f"alphas must be (n_words, L) with n_words = {len(words)}, got {alphas.shape}")
    if len(object_words) != len(boxes):
        raise ValueError(f"{len(object_words)} objects' words but {len(boxes)} boxes")
    centres = grid_centres(alphas.shape[1], image_size)
    outcomes = []
    for word, alpha in zip(words, alphas):
        named = objects_named(word, object_words)
        if not named:
            continue
        inside = inside_boxes(centres, boxes[named])
        coverage = _cell_coverage(alphas.shape[1], image_size, boxes[named])
        touching, within = coverage > 0, coverage >= 1
        straddling = touching & ~within
        weights = ((float(alpha[straddling].mean()), float(alpha[within].mean()))
                   if within.any() and straddling.any() else None)
        others = [k for k in range(len(boxes)) if k not in named]
        peak, centre = _peak_and_centre(alpha, centres)
        on_other = (not touching[peak] and bool(others)
                    and bool(_cells_touching(alphas.shape[1], image_size, boxes[others])[peak]))
        sides = () if inside[peak] else _sides_outside(centres[peak], boxes[named[0]])
        outcomes.append(WordOutcome(word, bool(inside[peak]), float(inside.mean()), bool(touching[peak]),
                                    float(touching.mean()), on_other,
                                    bool(inside_boxes(centre[None], boxes[named])[0]), sides, weights))
    return outcomes


def attention_localization(alphas, words, object_words, boxes, image_size):
    """Counts one caption's object-naming words whose attention peak falls inside the object.

    The attention map is a g x g grid over the S x S image, row-major: cell `(r, c)` (index
    `r * g + c`) covers x in `[c S/g, (c+1) S/g)` and y in `[r S/g, (r+1) S/g)`. A word counts if
    it names at least one object; it is a hit if the centre of its peak cell (the argmax of its
    map) lies inside the box of any object it names. Other words (articles, relations, `<end>`)
    are ignored.

    Args:
        alphas: float `(n_words, L)`, one attention map per generated word, L = g * g.
        words: The n generated words (a list, or one space-separated string).
        object_words: One entry per object: the set of words naming it, e.g.
            `[{"red", "circle"}, {"blue", "square"}]` (a single string is one word).
        boxes: int `(n_objects, 4)`: `x0, y0, x1, y1` in pixels, end-exclusive.
        image_size: Side S of the image in pixels.

    Returns:
        `(hits, counted)`: ints.
    """
    outcomes = _word_outcomes(alphas, words, object_words, boxes, image_size)
    return sum(o.peak_inside for o in outcomes), len(outcomes)


def localization_score(alphas, words, object_words, boxes, image_size):
    """Attention localisation over many captions, with the chance level to read it against.

    Args:
        alphas: List of N float arrays `(n_words_i, L)`.
        words: List of N word lists (or strings).
        object_words: List of N lists, one set of naming words per object (see
            `attention_localization`).
        boxes: List of N int arrays `(n_objects_i, 4)`.
        image_size: Side S of the images in pixels (all the same size).

    Returns:
        Dict with `"localization"`: hits / counted words over the corpus (nan if no word names
        an object), `"words"`: the number of counted words, and `"chance"`: the mean over the
        counted words of the share of grid-cell centres inside the boxes the word names, i.e.
        the localisation a peak placed uniformly at random would score (nan if none);
        `"on_object"`: the lenient reading, the share of counted words whose peak *cell*
        overlaps a box the word names (a peak on the cell at an object's edge counts), with
        `"on_object_chance"`, its chance level; `"on_other_object"`: the share whose peak cell
        overlaps only objects the word does *not* name (it looked at the wrong thing, not at
        the edge of the right one); `"centre"`: the share whose map's centre, the
        attention-weighted mean of the cell centres, lies inside a named box (where the decoder
        looked on average: with cell coordinates among the annotations, the position it reads is
        exactly this mean); `"by_word"`: for each naming word, the share of
        its uses whose peak centre is inside (the localisation of that word alone);
        `"by_object_count"`: the localisation of the words in images with 1, 2, ... objects
        (keys are the counts); `"miss_sides"`: for the misses, the share whose peak centre lies
        beyond each side (`SIDES`: left, right, above, below) of the (first) named box, a
        corner miss counting on two sides, so a model whose peaks sit systematically on one
        side of the objects shows it (`{}` if nothing missed); `"edge_weight_ratio"`: the mean
        attention on a grid cell that straddles a named box's edge over the mean on a cell wholly
        inside it, over the words whose box holds a whole cell (above 1: the maps ring the
        objects rather than fill them; nan if no word's box holds one).
    """
    if not len(alphas) == len(words) == len(object_words) == len(boxes):
        raise ValueError(f"got {len(alphas)} alphas, {len(words)} word lists, "
                         f"{len(object_words)} object_words and {len(boxes)} boxes lists")
    outcomes, object_counts = [], []
    for a, w, ow, b in zip(alphas, words, object_words, boxes):
        image_outcomes = _word_outcomes(a, w, ow, b, image_size)
        outcomes += image_outcomes
        object_counts += [len(ow)] * len(image_outcomes)
    if not outcomes:
        return {"localization": math.nan, "words": 0, "chance": math.nan,
                "on_object": math.nan, "on_object_chance": math.nan, "on_other_object": math.nan,
                "centre": math.nan, "by_word": {}, "by_object_count": {}, "miss_sides": {},
                "edge_weight_ratio": math.nan}
    table = np.array([[getattr(o, f) for f in SCORED_FIELDS] for o in outcomes], np.float64)
    hits, chance, on_object, on_object_chance, on_other_object, centre = table.mean(axis=0)
    used = np.array([o.word for o in outcomes])
    by_word = {str(w): float(table[used == w, 0].mean()) for w in sorted(set(used))}
    object_counts = np.array(object_counts)
    by_object_count = {int(n): float(table[object_counts == n, 0].mean())
                       for n in sorted(set(object_counts))}
    misses = [o.sides for o in outcomes if not o.peak_inside]
    miss_sides = {side: sum(side in sides for sides in misses) / len(misses)
                  for side in SIDES} if misses else {}
    weights = np.array([o.edge_weights for o in outcomes if o.edge_weights is not None]).reshape(-1, 2)
    edge_weight_ratio = float(weights[:, 0].mean() / weights[:, 1].mean()) if len(weights) else math.nan
    return {"localization": float(hits), "words": len(outcomes), "chance": float(chance),
            "on_object": float(on_object), "on_object_chance": float(on_object_chance),
            "on_other_object": float(on_other_object), "centre": float(centre),
            "by_word": by_word, "by_object_count": by_object_count, "miss_sides": miss_sides,
            "edge_weight_ratio": edge_weight_ratio}
