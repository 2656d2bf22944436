"""Digit scenes: 2 to 4 real MNIST digits on a square canvas, captioned left to right ("seven two nine").

A captioning set built from real handwriting, with a known answer for where each word should
look. On the default 64-pixel canvas (the size of the captioned scenes, an 8 x 8 grid for an
encoder that halves three times) each digit's 28 x 28 MNIST image is resized to a square of
16 to 24 pixels (a quarter to three eighths of the canvas) and placed so that:

- no two squares overlap or touch (at least 1 pixel of background between them);
- any two squares' x-centres are at least 12 pixels (three sixteenths of the canvas) apart,
  so "left to right" has one reading; squares may share columns, one above the other.

Each object's box is the placed square `(x0, y0, x1, y1)`, end-exclusive, objects numbered
left to right like the caption words. Digits are white on black, in RGB.
"""

import dataclasses
import functools

import numpy as np

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_CANDIDATES = 64  # random squares tried at once for each digit
_RESTARTS = 1000  # layouts started before giving up (4 digits on 64 pixels need a few)


@dataclasses.dataclass
class DigitScene:
    """One digit scene.

    Attributes:
        image: uint8 `(S, S, 3)`.
        caption: The digits' names, left to right, e.g. `"seven two nine"`.
        boxes: int32 `(n_digits, 4)`, `(x0, y0, x1, y1)` in pixels, end-exclusive, left to right.
        labels: int `(n_digits,)`, the digits, left to right.
        word_objects: For each caption word, the index of the object it names (`[0, 1, ...]`).
    """

    image: np.ndarray
    caption: str
    boxes: np.ndarray
    labels: np.ndarray
    word_objects: list


@functools.lru_cache(maxsize=None)
def _resize_matrix(source, target):
    """`(target, source)` weights of a bilinear resize with antialiasing (a triangle filter
    widened by the shrink factor, as `tf.image.resize(..., antialias=True)` does)."""
    scale = source / target
    radius = max(1.0, scale)
    centres = (np.arange(target) + 0.5) * scale - 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(np.arange(source)[None, :] - centres[:, None]) / radius)
    return weights / weights.sum(axis=1, keepdims=True)


def _layout(rng, size, num_digits, min_side, max_side, min_gap):
    """Draws `num_digits` squares, none touching another or within `min_gap` of its x-centre.

    Each square is the first fitting one of `_CANDIDATES` random ones; when none fits, the
    layout starts again. Returns the boxes `(x0, y0, x1, y1)` sorted left to right.
    """
    for _ in range(_RESTARTS):
        boxes = np.zeros((0, 4), np.int64)
        while len(boxes) < num_digits:
            side = rng.integers(min_side, max_side + 1, _CANDIDATES)
            x0, y0 = (rng.random((2, _CANDIDATES)) * (size - side + 1)).astype(np.int64)
            new = np.stack([x0, y0, x0 + side, y0 + side], axis=1)[:, None, :]  # (K, 1, 4)
            old = boxes[None]  # (1, n, 4)
            touches = ((new[..., 0] <= old[..., 2]) & (old[..., 0] <= new[..., 2])
                       & (new[..., 1] <= old[..., 3]) & (old[..., 1] <= new[..., 3]))
            close = np.abs(new[..., 0] + new[..., 2] - old[..., 0] - old[..., 2]) < 2 * min_gap
            fits = ~np.any(touches | close, axis=1)
            if not fits.any():
                break
            boxes = np.concatenate([boxes, new[np.argmax(fits), :, :]])
        else:
            return boxes[np.argsort(boxes[:, 0] + boxes[:, 2], kind="stable")]
    raise ValueError(f"could not place {num_digits} digits of {min_side}-{max_side} pixels with "
                     f"x-centres {min_gap} apart on a {size}-pixel canvas; use fewer or smaller digits")


def make_digit_scene(rng, images, labels, size=64, num_digits=3, min_side=None, max_side=None,
                     min_gap=None):
    """Draws one scene of `num_digits` MNIST digits.

    Args:
        rng: `numpy.random.Generator`.
        images: uint8 `(N, 28, 28)`, the digits to draw from (as `load_mnist` returns them).
        labels: int `(N,)`, their classes 0-9.
        size: Canvas side S in pixels.
        num_digits: Digits in the scene (at least 1).
        min_side, max_side: Range of a digit's square side in pixels (default S/4 and 3S/8).
        min_gap: Least distance between two digits' x-centres in pixels (default 3S/16).

    Returns:
        A `DigitScene`.
    """
    min_side = min_side or max(4, size // 4)
    max_side = max_side or max(min_side, size * 3 // 8)
    min_gap = min_gap or max(1, size * 3 // 16)
    picks = rng.integers(0, len(images), num_digits)
    image = np.zeros((size, size, 3), np.uint8)
    boxes = _layout(rng, size, num_digits, min_side, max_side, min_gap)
    for (x0, y0, x1, y1), pick in zip(boxes.tolist(), picks):
        digit = np.asarray(images[pick], np.float64)
        rows, cols = _resize_matrix(digit.shape[0], y1 - y0), _resize_matrix(digit.shape[1], x1 - x0)
        image[y0:y1, x0:x1] = np.clip(np.rint(rows @ digit @ cols.T), 0, 255).astype(np.uint8)[..., None]
    digits = np.asarray(labels)[picks].astype(np.int64)
    return DigitScene(image, " ".join(DIGIT_NAMES[d] for d in digits), boxes.astype(np.int32),
                      digits, list(range(num_digits)))


def digit_scenes(images, labels, count, seed=0, size=64, min_digits=2, max_digits=4):
    """A deterministic list of `count` digit scenes (`min_digits` to `max_digits` digits each).

    Args:
        images: uint8 `(N, 28, 28)` MNIST digits (N >= 1).
        labels: int `(N,)`.
        count: Number of scenes.
        seed: Integer seed; the same seed and digits give the same scenes.
        size: Canvas side S in pixels.
        min_digits, max_digits: Range of digits per scene, both included.

    Returns:
        List of `count` `DigitScene`s.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or len(images) == 0 or labels.shape != (len(images),):
        raise ValueError(f"`images` must be (N, H, W) with N > 0 and `labels` (N,), got "
                         f"{images.shape} and {labels.shape}")
    rng = np.random.default_rng(seed)
    return [make_digit_scene(rng, images, labels, size, int(rng.integers(min_digits, max_digits + 1)))
            for _ in range(count)]
