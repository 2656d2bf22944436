"""Captioned scenes: coloured shapes on a canvas with a caption that names them and their relation.

The embedded default for captioning (no download): "a red circle left of a blue square". Each
object's box is recorded and each caption word knows which object it names, so a captioner's
attention can be checked against where the thing it names actually is.

The caption is a function of the picture, so a perfect captioner can reach BLEU 1: of two
objects, the one further left is named first ("left of") when they lie side by side, the upper
one ("above") when they lie one over the other, and layouts near the diagonal, where "left of"
and "above" would both fit, are not drawn (their centres' |dx| and |dy| differ by at least
`AXIS_MARGIN` of the canvas).
"""

import dataclasses

import numpy as np

COLORS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 80, 230),
    "yellow": (235, 210, 40),
    "white": (245, 245, 245),
}
SHAPES = ("circle", "square", "triangle")
AXIS_MARGIN = 1 / 16  # of the canvas side: 4 pixels on 64


@dataclasses.dataclass
class Scene:
    """One captioned scene.

    Attributes:
        image: uint8 `(S, S, 3)`.
        caption: e.g. `"a red circle left of a blue square"`.
        boxes: int `(n_objects, 4)`, `(x0, y0, x1, y1)` in pixels, end-exclusive.
        word_objects: For each caption word, the index of the object it names (its colour or
            shape word), or -1.
    """

    image: np.ndarray
    caption: str
    boxes: np.ndarray
    word_objects: list


def _shape_mask(shape, size, box):
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[:size, :size] + 0.5
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    if shape == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if shape == "square":
        return (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)
    # triangle: apex at the top centre, base along the bottom of the box
    inside_y = (yy >= y0) & (yy < y1)
    half_width = (yy - y0) / (y1 - y0) * r
    return inside_y & (np.abs(xx - cx) <= half_width)


def _centre_offset(box_a, box_b):
    """Centre of box a minus centre of box b: `(dx, dy)` in pixels."""
    return ((box_a[0] + box_a[2] - box_b[0] - box_b[2]) / 2,
            (box_a[1] + box_a[3] - box_b[1] - box_b[3]) / 2)


def _relation(box_a, box_b):
    """Where object a is relative to b, along the axis where their centres differ most."""
    dx, dy = _centre_offset(box_a, box_b)
    if abs(dx) >= abs(dy):
        return "left of" if dx < 0 else "right of"
    return "above" if dy < 0 else "below"


def make_scene(rng, size=64, num_objects=2, min_side=None, max_side=None):
    """Draws one scene with `num_objects` (1 or 2) non-overlapping shapes of distinct looks.

    Two objects are captioned left to right ("a red circle left of a blue square") or top to
    bottom ("... above ..."), whichever axis their centres differ more along.

    Args:
        rng: `numpy.random.Generator`.
        size: Canvas side S in pixels.
        num_objects: 1 ("a red circle") or 2 ("a red circle left of a blue square").
        min_side, max_side: Range of each object's box side in pixels (default 7/32 and 3/8
            of the canvas: 14 and 24 on 64 pixels).

    Returns:
        A `Scene`.
    """
    if num_objects not in (1, 2):
        raise ValueError(f"num_objects must be 1 or 2, got {num_objects}")
    min_side = min_side or max(3, size * 7 // 32)
    max_side = max_side or max(min_side, size * 3 // 8)
    if min_side + 2 > (size - max_side) // 2:  # else a centred first object could leave no room
        raise ValueError(f"a {size}-pixel canvas is too small for objects of {min_side}-{max_side} pixels")
    image = np.zeros((size, size, 3), np.uint8)
    boxes, looks = [], []
    while len(boxes) < num_objects:  # rejection sampling; a second box always fits (checked above)
        side = int(rng.integers(min_side, max_side + 1))
        x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, 2))
        box = (x0, y0, x0 + side, y0 + side)
        look = (str(rng.choice(list(COLORS))), str(rng.choice(SHAPES)))
        overlaps = any(box[0] < b[2] + 2 and b[0] < box[2] + 2 and box[1] < b[3] + 2 and b[1] < box[3] + 2
                       for b in boxes)
        diagonal = any(abs(abs(dx) - abs(dy)) < AXIS_MARGIN * size
                       for dx, dy in (_centre_offset(box, b) for b in boxes))
        if overlaps or diagonal or look in looks:
            continue
        boxes.append(box)
        looks.append(look)
    if num_objects == 2 and _relation(boxes[0], boxes[1]) in ("right of", "below"):
        boxes, looks = boxes[::-1], looks[::-1]  # name the left (or upper) object first
    words, word_objects = [], []
    for i, (color, shape) in enumerate(looks):
        image[_shape_mask(shape, size, boxes[i])] = COLORS[color]
        if i == 1:
            relation = _relation(boxes[0], boxes[1]).split()
            words += relation
            word_objects += [-1] * len(relation)
        words += ["a", color, shape]
        word_objects += [-1, i, i]
    return Scene(image, " ".join(words), np.array(boxes, np.int32), word_objects)


def captioned_scenes(count, seed=0, size=64, max_objects=2):
    """A deterministic list of `count` scenes (1 to `max_objects` objects each) from `seed`."""
    rng = np.random.default_rng(seed)
    return [make_scene(rng, size, int(rng.integers(1, max_objects + 1))) for _ in range(count)]
