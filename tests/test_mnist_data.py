"""MNIST loading (npz, idx, bad files) and the STN paper's distortions, on small generated images."""

import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

from kerasrnn.data.mnist import (DISTORTIONS, apply_distortion, distorted_mnist_dataset,
                                 load_mnist, output_size)
from kerasrnn.errors import InputError


def fake_digits(n, seed=0):
    """uint8 (n, 28, 28): a few blurred strokes inside the central 20x20 box, like MNIST."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.float32)
    for img in images:
        for _ in range(3):
            r, c = rng.integers(5, 20, 2)
            h, w = (rng.integers(2, 4), rng.integers(4, 10)) if rng.random() < 0.5 else (
                rng.integers(4, 10), rng.integers(2, 4))
            img[r : min(r + h, 23), c : min(c + w, 23)] = 1.0
    blurred = sum(np.roll(np.roll(images, dy, 1), dx, 2) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    return np.round(255 * np.clip(blurred * 1.5, 0, 1)).astype(np.uint8)


def plateaus(n):
    """uint8 (n, 28, 28): image i is a flat 10x10 square of the value 10 (i + 1), mid-image."""
    images = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        images[i, 9:19, 9:19] = 10 * (i + 1)
    return images


def idx_bytes(array, magic):
    """LeCun's idx layout: big-endian magic, big-endian dims, then the uint8 data."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path, array, magic, compress=True):
    data = idx_bytes(array, magic)
    path.write_bytes(gzip.compress(data) if compress else data)


def tiny_mnist():
    x_train, x_test = fake_digits(12, 0), fake_digits(5, 1)
    return x_train, np.arange(12, dtype=np.uint8) % 10, x_test, np.arange(5, dtype=np.uint8)


def write_idx_folder(folder, compress_last=True):
    x_train, y_train, x_test, y_test = tiny_mnist()
    write_idx(folder / "train-images-idx3-ubyte.gz", x_train, 2051)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y_train, 2049)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", x_test, 2051)
    name = "t10k-labels-idx1-ubyte" + (".gz" if compress_last else "")
    write_idx(folder / name, y_test, 2049, compress=compress_last)
    return x_train, y_train, x_test, y_test


def first_batch(ds):
    x, y = next(iter(ds))
    return x.numpy(), y.numpy()


# ----------------------------------------------------------------------------------- loading


@pytest.mark.parametrize("compress_last", [True, False])
def test_idx_folder_round_trips(tmp_path, compress_last):
    x_train, y_train, x_test, y_test = write_idx_folder(tmp_path, compress_last)
    (a, b), (c, d) = load_mnist(tmp_path)
    for got, want in zip((a, b, c, d), (x_train, y_train, x_test, y_test)):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
    assert a.shape == (12, 28, 28) and d.shape == (5,)


def test_npz_round_trips(tmp_path):
    x_train, y_train, x_test, y_test = tiny_mnist()
    np.savez_compressed(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train,
                        x_test=x_test, y_test=y_test)
    (a, b), (c, d) = load_mnist(str(tmp_path / "mnist.npz"))
    np.testing.assert_array_equal(a, x_train)
    np.testing.assert_array_equal(d, y_test)


def test_missing_sources_are_named(tmp_path):
    with pytest.raises(InputError, match=r"nowhere\.npz does not exist; give source: a mnist\.npz"):
        load_mnist(tmp_path / "nowhere.npz")
    write_idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InputError, match=r"no t10k-labels-idx1-ubyte\.gz"):
        load_mnist(tmp_path)


def test_corrupt_files_are_named(tmp_path):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(InputError, match=r"mnist\.npz is not a readable \.npz"):
        load_mnist(bad)
    x_train, y_train, _, _ = tiny_mnist()
    np.savez(bad, x_train=x_train, y_train=y_train)
    with pytest.raises(InputError, match=r"mnist\.npz lacks the arrays x_test, y_test"):
        load_mnist(bad)

    write_idx_folder(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    images.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(InputError, match=r"train-images-idx3-ubyte\.gz is not a readable gzip"):
        load_mnist(tmp_path)
    write_idx(images, x_train, 2049 + 7)
    with pytest.raises(InputError, match=r"images-idx3-ubyte\.gz is not an MNIST idx file \(magic 2056"):
        load_mnist(tmp_path)
    images.write_bytes(gzip.compress(idx_bytes(x_train, 2051)[:-100]))
    with pytest.raises(InputError, match=r"train-images-idx3-ubyte\.gz is truncated"):
        load_mnist(tmp_path)
    write_idx(images, x_train[:, :20, :20], 2051)
    with pytest.raises(InputError, match=r"expected uint8 \(N, 28, 28\)"):
        load_mnist(tmp_path)


@pytest.mark.skipif(not os.environ.get("KERASRNN_MNIST"), reason="set KERASRNN_MNIST to a real MNIST copy")
def test_real_mnist_copy():
    (x_train, y_train), (x_test, y_test) = load_mnist(os.environ["KERASRNN_MNIST"])
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]


# ------------------------------------------------------------------------------- distortions


def test_output_sizes_and_unknown_names():
    assert [output_size(d) for d in DISTORTIONS] == [28, 42, 28, 28, 60]
    with pytest.raises(InputError, match="unknown distortion 'RST'; use one of R, RTS, P, E, cluttered"):
        output_size("RST")
    with pytest.raises(InputError, match="unknown distortion"):
        distorted_mnist_dataset(fake_digits(4), np.zeros(4), "rotate", 2)
    with pytest.raises(InputError, match="batch size"):
        distorted_mnist_dataset(fake_digits(4), np.zeros(4), "R", 0)


@pytest.mark.parametrize("distortion", DISTORTIONS)
def test_shapes_range_and_labels_stay_with_their_images(distortion):
    n, size = 24, output_size(distortion)
    ds = distorted_mnist_dataset(plateaus(n), np.arange(n), distortion, batch_size=10, seed=3)
    assert isinstance(ds, tf.data.Dataset)  # lazy: nothing drawn yet
    assert ds.element_spec[0].shape.as_list() == [None, size, size, 1]
    batches = list(ds.as_numpy_iterator())
    assert [len(y) for _, y in batches] == [10, 10, 4] and ds.cardinality() == 3  # known to Keras
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert x.dtype == np.float32 and y.dtype == np.int32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert sorted(y) == list(range(n)) and list(y) != list(range(n))  # each once, shuffled
    for image, label in zip(x, y):  # image `label`'s flat value survives inside its square
        assert np.sum(np.abs(image - 10 * (label + 1) / 255) < 1e-5) >= 4, label


@pytest.mark.parametrize("distortion", DISTORTIONS)
def test_same_seed_same_images_other_seed_or_epoch_differs(distortion):
    images, labels = fake_digits(16), np.arange(16) % 10
    make = lambda **kw: distorted_mnist_dataset(images, labels, distortion, 8, **kw)  # noqa: E731
    a, b, c = first_batch(make(seed=5)), first_batch(make(seed=5)), first_batch(make(seed=6))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert np.abs(a[0] - c[0]).max() > 0.1
    # An example's draw depends on (seed, epoch, index) only, not on batching or order.
    e0 = first_batch(make(seed=5, shuffle=False))[0]
    half = first_batch(distorted_mnist_dataset(images, labels, distortion, 4, seed=5, shuffle=False))[0]
    np.testing.assert_allclose(half, e0[:4], atol=1e-5)  # batched sin/cos may round differently
    # Epochs are drawn afresh, on the fly: epoch 1 is new, and `epoch=1` starts exactly there.
    stream = list(make(seed=5, shuffle=False, repeat=True).take(3).as_numpy_iterator())
    np.testing.assert_array_equal(stream[0][0], e0)
    assert np.abs(stream[2][0] - e0).max() > 0.1
    np.testing.assert_array_equal(first_batch(make(seed=5, shuffle=False, epoch=1))[0], stream[2][0])


def test_epochs_do_not_straddle_batches():
    n, labels = 10, np.arange(10)
    ds = distorted_mnist_dataset(fake_digits(n), labels, "R", 4, seed=0, repeat=True)
    sizes = [len(y) for _, y in ds.take(6).as_numpy_iterator()]
    assert sizes == [4, 4, 2, 4, 4, 2] and ds.cardinality() == tf.data.INFINITE_CARDINALITY
    ds = distorted_mnist_dataset(fake_digits(n), labels, "R", 4, seed=0, repeat=True, drop_remainder=True)
    epoch = np.concatenate([y for _, y in ds.take(2).as_numpy_iterator()])
    assert len(set(epoch)) == 8


def test_rotation_by_exactly_90_degrees_is_rot90():
    img = np.zeros((28, 28), np.float32)
    img[4:20, 6:9] = 1.0  # an "L": asymmetric under every rotation and flip
    img[17:20, 6:22] = 0.6
    out = apply_distortion(np.stack([img] * 3), "R", {"angle": tf.constant([np.pi / 2, -np.pi / 2, 0.0])})
    out = out.numpy()
    np.testing.assert_allclose(out[0, ..., 0], np.rot90(img, 1), atol=1e-4)
    np.testing.assert_allclose(out[1, ..., 0], np.rot90(img, -1), atol=1e-4)
    np.testing.assert_allclose(out[2, ..., 0], img, atol=1e-6)


def test_random_rotations_change_the_digit_but_keep_its_mass():
    images = fake_digits(16)
    x, _ = first_batch(distorted_mnist_dataset(images, np.zeros(16), "R", 16, seed=0, shuffle=False))
    src = images / 255.0
    diff = np.abs(x[..., 0] - src).mean(axis=(1, 2))
    assert (diff > 0.02).mean() > 0.8  # most angles are far from 0
    ratio = x.sum(axis=(1, 2, 3)) / src.sum(axis=(1, 2))
    assert np.all(np.abs(ratio - 1) < 0.12), ratio  # the central digit stays inside when turned


def test_rts_places_a_scaled_digit_inside_the_42_canvas():
    img = fake_digits(1)[0] / 255.0
    params = {"angle": tf.constant([0.0, 0.0]), "scale": tf.constant([1.0, 1.0]),
              "shift": tf.constant([[0.0, 0.0], [3.0, -2.0]])}
    out = apply_distortion(np.stack([img, img]).astype(np.float32), "RTS", params).numpy()[..., 0]
    assert out.shape == (2, 42, 42)
    np.testing.assert_allclose(out[0, 7:35, 7:35], img, atol=1e-5)  # centred
    np.testing.assert_allclose(out[1, 5:33, 10:38], img, atol=1e-5)  # x + 3, y - 2
    assert abs(out[0].sum() - img.sum()) < 1e-3

    images = fake_digits(24)
    x, _ = first_batch(distorted_mnist_dataset(images, np.zeros(24), "RTS", 24, seed=1, shuffle=False))
    mass = images.sum(axis=(1, 2)) / 255.0
    ratio = x.sum(axis=(1, 2, 3)) / mass
    assert np.all((ratio > 0.7 ** 2 * 0.85) & (ratio < 1.2 ** 2 * 1.1)), ratio  # nothing cut off
    assert x[:, :2].sum() + x[:, -2:].sum() + x[:, :, :2].sum() + x[:, :, -2:].sum() < 1e-3 * x.sum()
    centre = [np.array(np.nonzero(im[..., 0] > 0.2)).mean(axis=1) for im in x]
    assert np.std(centre, axis=0).min() > 2.0  # digits are moved about the canvas


def test_projective_matches_known_corners():
    img = fake_digits(1)[0][None] / 255.0
    c = 13.5
    corners = np.array([[0, 0], [27, 0], [27, 27], [0, 27]], np.float32)
    identity = apply_distortion(img, "P", {"corners": corners[None]}).numpy()[0, ..., 0]
    np.testing.assert_allclose(identity, img[0], atol=1e-4)
    shrunk = apply_distortion(img, "P", {"corners": (c + 0.75 * (corners - c))[None]}).numpy()
    same = apply_distortion(img, "RTS", {"angle": tf.zeros([1]), "scale": tf.constant([0.75]),
                                         "shift": tf.zeros([1, 2])}).numpy()
    np.testing.assert_allclose(shrunk[0], same[0, 7:35, 7:35], atol=1e-4)

    images = fake_digits(16)
    x, _ = first_batch(distorted_mnist_dataset(images, np.zeros(16), "P", 16, seed=0, shuffle=False))
    ratio = x.sum(axis=(1, 2, 3)) / (images.sum(axis=(1, 2)) / 255.0)
    assert 0.3 < np.median(ratio) < 0.75 and ratio.max() < 1.35, ratio  # about 0.75**2 = 0.56
    assert np.abs(x - shrunk[:1]).max() > 0.1


def test_elastic_with_no_displacement_is_identity_and_random_fields_warp():
    images = fake_digits(8)
    src = images[..., None] / 255.0
    still = apply_distortion(src.astype(np.float32), "E", {"noise": tf.zeros([8, 28, 28, 2])})
    np.testing.assert_allclose(still.numpy(), src, atol=1e-6)
    x, _ = first_batch(distorted_mnist_dataset(images, np.zeros(8), "E", 8, seed=0, shuffle=False))
    diff = np.abs(x - src).mean(axis=(1, 2, 3))
    assert np.all(diff > 0.01), diff
    ratio = x.sum(axis=(1, 2, 3)) / src.sum(axis=(1, 2, 3))
    assert abs(np.median(ratio) - 1) < 0.15 and np.all((ratio > 0.5) & (ratio < 2)), ratio  # not wiped out


def test_cluttered_puts_the_digit_and_six_patches_on_a_60_canvas():
    img = fake_digits(1)[0][None] / 255.0
    params = {"offset": tf.constant([[5, 30]]), "patches": tf.zeros([1, 6, 6, 6]),
              "patch_offsets": tf.zeros([1, 6, 2], tf.int32)}
    out = apply_distortion(img, "cluttered", params).numpy()[0, ..., 0]
    np.testing.assert_allclose(out[5:33, 30:58], img[0], atol=1e-6)
    assert abs(out.sum() - img.sum()) < 1e-3  # nothing else on the canvas
    params["patches"] = tf.ones([1, 6, 6, 6])
    params["patch_offsets"] = tf.constant([[[50, 0], [54, 54], [0, 0], [0, 0], [0, 0], [0, 0]]])
    out = apply_distortion(img, "cluttered", params).numpy()[0, ..., 0]
    assert out[50:56, 0:6].min() == out[54:60, 54:60].min() == 1.0
    assert abs(out.sum() - img.sum() - 3 * 36) < 1e-3

    images = fake_digits(16)
    x, _ = first_batch(distorted_mnist_dataset(images, np.zeros(16), "cluttered", 16, seed=0, shuffle=False))
    mass = images.sum(axis=(1, 2)) / 255.0
    total = x.sum(axis=(1, 2, 3))
    assert np.all(total >= mass - 1e-3) and np.all(total <= mass + 6 * 36)  # the whole digit is there
    assert np.all(total > mass + 1)  # and clutter too
