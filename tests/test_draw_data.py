"""DRAW's data (kerasrnn.kinds.draw.data): binarization by grey level, dynamic per epoch and
fixed for testing, noise keyed by (seed, epoch, index) so that replicas draw what one process
draws."""

import numpy as np
import pytest

from kerasrnn.errors import InputError
from kerasrnn.kinds.draw.data import draw_dataset


def images(n=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 6, 5), dtype=np.uint8)


def batches(ds):
    return [(np.asarray(x), np.asarray(eps), np.asarray(t["canvas"])) for (x, eps), t in ds]


def test_pixels_are_one_with_the_probability_of_their_grey_level():
    grey = np.full((400, 6, 5), 64, np.uint8)  # p = 64/255
    (x, eps), targets = next(iter(draw_dataset(grey, 400, steps=3, latent_dim=2)))
    x = np.asarray(x)
    assert set(np.unique(x)) <= {0.0, 1.0} and x.shape == (400, 6, 5, 1)
    assert x.mean() == pytest.approx(64 / 255, abs=0.02)
    np.testing.assert_array_equal(np.asarray(targets["canvas"]), x)
    assert np.asarray(eps).shape == (400, 3, 2)
    assert np.asarray(eps).mean() == pytest.approx(0, abs=0.05)
    assert np.asarray(eps).std() == pytest.approx(1, abs=0.05)


def test_dynamic_draws_anew_each_epoch_and_fixed_does_not():
    data = images()
    for binarize, same in (("dynamic", False), ("fixed", True)):
        first = batches(draw_dataset(data, 16, 3, 2, binarize=binarize, shuffle=False, epoch=0))
        second = batches(draw_dataset(data, 16, 3, 2, binarize=binarize, shuffle=False, epoch=1))
        assert np.array_equal(first[0][0], second[0][0]) == same
        assert np.array_equal(first[0][1], second[0][1]) == same
    one = batches(draw_dataset(data, 16, 3, 2, shuffle=False, epoch=1))
    two = batches(draw_dataset(data, 16, 3, 2, shuffle=False, epoch=1))
    for u, v in zip(one[0], two[0]):  # the same (seed, epoch): the same draws
        np.testing.assert_array_equal(u, v)


def test_an_epoch_resumed_and_replicas_see_what_one_process_sees():
    data = images(24)
    whole = batches(draw_dataset(data, 8, 3, 2, seed=5, epoch=0, repeat=True, drop_remainder=True)
                    .take(6))
    resumed = batches(draw_dataset(data, 8, 3, 2, seed=5, epoch=1, drop_remainder=True))
    for a, b in zip(whole[3:], resumed):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
    halves = [batches(draw_dataset(data, 8, 3, 2, seed=5, drop_remainder=True, shard=s, shards=2))
              for s in range(2)]
    for k, batch in enumerate(whole[:3]):
        for part in range(3):
            np.testing.assert_array_equal(np.concatenate([halves[0][k][part], halves[1][k][part]]),
                                          batch[part])


def test_bad_arguments_are_refused():
    with pytest.raises(InputError, match="binarize"):
        draw_dataset(images(), 4, 3, 2, binarize="otsu")
    with pytest.raises(ValueError, match="uint8"):
        draw_dataset(images().astype(np.float32), 4, 3, 2)
