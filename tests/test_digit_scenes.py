"""Digit scenes: deterministic, captions read left to right, boxes apart and around their digits."""

import numpy as np
import pytest

from kerasrnn.kinds.captioner.digit_scenes import DIGIT_NAMES, digit_scenes, make_digit_scene


@pytest.fixture
def fake_digits():
    """Twenty flat 28 x 28 "digits": image k is all 10 * (k + 1), label k % 10."""
    images = np.repeat(10 * np.arange(1, 21, dtype=np.uint8), 28 * 28).reshape(20, 28, 28)
    return images, np.arange(20) % 10


def test_same_seed_same_scenes(fake_digits):
    a, b, c = (digit_scenes(*fake_digits, 15, seed=s) for s in (1, 1, 2))
    assert [s.caption for s in a] == [s.caption for s in b]
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.boxes, y.boxes) for x, y in zip(a, b))
    assert [s.caption for s in a] != [s.caption for s in c]


def test_captions_name_the_digits_left_to_right(fake_digits):
    images, labels = fake_digits
    scenes = digit_scenes(images, labels, 60, seed=0)
    assert {len(s.boxes) for s in scenes} == {2, 3, 4}
    for scene in scenes:
        words = scene.caption.split()
        assert scene.image.shape == (64, 64, 3) and scene.image.dtype == np.uint8
        assert words == [DIGIT_NAMES[d] for d in scene.labels]
        assert scene.word_objects == list(range(len(words)))
        centres = (scene.boxes[:, 0] + scene.boxes[:, 2]) / 2
        assert np.all(np.diff(centres) >= 12)  # left to right, well apart
        drawn = np.zeros((64, 64), bool)
        for (x0, y0, x1, y1), label in zip(scene.boxes, scene.labels):
            assert 0 <= x0 and 0 <= y0 and x1 <= 64 and y1 <= 64
            assert x1 - x0 == y1 - y0 and 16 <= x1 - x0 <= 24
            patch = scene.image[y0:y1, x0:x1]
            assert patch.min() == patch.max() and patch.max() in images[labels == label, 0, 0]
            drawn[y0:y1, x0:x1] = True
        assert not scene.image[~drawn].any()  # nothing outside the boxes


def test_boxes_neither_overlap_nor_touch(fake_digits):
    for scene in digit_scenes(*fake_digits, 60, seed=5):
        for i, a in enumerate(scene.boxes):
            for b in scene.boxes[i + 1:]:
                apart_x = a[2] < b[0] or b[2] < a[0]
                apart_y = a[3] < b[1] or b[3] < a[1]
                assert apart_x or apart_y


def test_real_looking_digit_is_resized_into_its_box():
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255  # a "one": a bar down the middle
    scene = make_digit_scene(np.random.default_rng(0), digit[None], np.array([1]), num_digits=2)
    assert scene.caption == "one one"
    for x0, y0, x1, y1 in scene.boxes:
        patch = scene.image[y0:y1, x0:x1, 0].astype(int)
        side = x1 - x0
        assert patch[:, side // 2 - 1: side // 2 + 1].mean() > 150  # the bar is in the middle
        assert patch[:, : side // 4].max() == 0 and patch[:, -side // 4:].max() == 0


def test_impossible_layout_is_refused(fake_digits):
    with pytest.raises(ValueError, match="could not place"):
        make_digit_scene(np.random.default_rng(0), *fake_digits, num_digits=6)
