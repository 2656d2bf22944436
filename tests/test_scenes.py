"""Captioned scenes: deterministic, captions true to the picture, boxes around the shapes."""

import numpy as np

from kerasrnn.kinds.captioner.scenes import COLORS, SHAPES, captioned_scenes


def test_same_seed_same_scenes():
    a, b, c = captioned_scenes(20, seed=3), captioned_scenes(20, seed=3), captioned_scenes(20, seed=4)
    assert [s.caption for s in a] == [s.caption for s in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    assert [s.caption for s in a] != [s.caption for s in c]


def test_captions_name_what_is_drawn_where_it_is():
    for scene in captioned_scenes(200, seed=0):
        words = scene.caption.split()
        assert len(words) == len(scene.word_objects) and len(scene.boxes) in (1, 2)
        for i, (x0, y0, x1, y1) in enumerate(scene.boxes):
            color = next(w for w, o in zip(words, scene.word_objects) if o == i and w in COLORS)
            shape = next(w for w, o in zip(words, scene.word_objects) if o == i and w in SHAPES)
            inside = scene.image[y0:y1, x0:x1].reshape(-1, 3)
            painted = np.all(inside == COLORS[color], axis=-1)
            assert painted.sum() > 0.35 * (x1 - x0) * (y1 - y0)  # the shape fills its box
            if shape == "square":
                assert painted.all()
        outside = np.ones(scene.image.shape[:2], bool)
        for x0, y0, x1, y1 in scene.boxes:
            outside[y0:y1, x0:x1] = False
        assert not scene.image[outside].any()  # nothing is drawn outside the boxes
        if len(scene.boxes) == 2:
            centres = (scene.boxes[:, :2] + scene.boxes[:, 2:]) / 2
            dx, dy = centres[0] - centres[1]
            relation = " ".join(words[3:-3])
            # The first-named object is the left (or upper) one, and the axis is never a near tie.
            expected = "left of" if abs(dx) >= abs(dy) else "above"
            assert relation == expected and (dx < 0 if expected == "left of" else dy < 0)
            assert abs(abs(dx) - abs(dy)) >= 64 / 16
