"""Where the objects a caption names lie on an attention grid: the cells a word's attention should
fall on. Used for attention supervision targets (`captions.caption_dataset`) and for scoring
localisation (`kerasrnn.kinds.captioner.metrics`).

Boxes are `x0, y0, x1, y1` in pixels, end-exclusive; grids are g x g, row-major, over an S x S
image; `object_words` holds one set of naming words per object.
"""

import math

import numpy as np


def grid_centres(num_cells, image_size):
    """Centres `(L, 2)` as (x, y) pixels of a row-major g x g grid over an S x S image."""
    g = math.isqrt(num_cells)
    if g * g != num_cells or g == 0:
        raise ValueError(f"attention maps have {num_cells} cells, not a square grid")
    rows, cols = np.divmod(np.arange(num_cells), g)
    step = image_size / g
    return np.stack([(cols + 0.5) * step, (rows + 0.5) * step], axis=1)


def inside_boxes(points, boxes):
    """Bool `(P,)`: whether each (x, y) point lies inside any of `boxes (K, 4)` (end-exclusive)."""
    x, y = points[:, :1], points[:, 1:]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.any((x >= boxes[:, 0]) & (x < boxes[:, 2]) & (y >= boxes[:, 1]) & (y < boxes[:, 3]),
                  axis=1)


def caption_objects(words, object_words, boxes):
    """`(words, object_words, boxes)` as a word list, a list of sets and an array `(K, 4)`."""
    words = words.split() if isinstance(words, str) else list(words)
    boxes = np.asarray(boxes).reshape(-1, 4)
    return words, [{names} if isinstance(names, str) else set(names) for names in object_words], boxes


def objects_named(word, object_words):
    """Indices of the objects whose naming words (a list of sets) include `word`."""
    return [k for k, names in enumerate(object_words) if word in names]


def named_cells(words, object_words, boxes, num_cells, image_size):
    """Which grid cells a peak must fall on for each word to count as localised.

    Args:
        words: The n words of a caption (a list, or one space-separated string).
        object_words: One set of naming words per object (see `attention_localization`).
        boxes: int `(n_objects, 4)`: `x0, y0, x1, y1` in pixels, end-exclusive.
        num_cells: L = g * g cells of the row-major attention grid.
        image_size: Side S of the image in pixels.

    Returns:
        Bool `(n, L)`: for each word, the cells whose centres lie inside the box of an object
        the word names (a row of False for a word that names none, or whose box holds no cell
        centre).
    """
    words, object_words, boxes = caption_objects(words, object_words, boxes)
    centres = grid_centres(num_cells, image_size)
    cells = np.zeros((len(words), num_cells), bool)
    for i, word in enumerate(words):
        named = objects_named(word, object_words)
        if named:
            cells[i] = inside_boxes(centres, boxes[named])
    return cells
