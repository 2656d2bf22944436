"""MNIST as uint8 arrays: from a `mnist.npz`, from LeCun's four idx files, or downloaded (TFDS,
else Keras's copy), every file checked and every problem named with where to get the data."""

import gzip
import math
import pathlib
import zipfile
import zlib

import numpy as np

from kerasrnn.errors import InputError

IMAGE_SIZE = 28
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_WHERE = "give source: a mnist.npz or a folder with the four idx .gz files"


def load_mnist(source=None):
    """Loads MNIST as uint8 arrays.

    Args:
        source: None to download (TFDS `mnist`, else `keras.datasets.mnist`); a path to a
            `mnist.npz` (keys `x_train`, `y_train`, `x_test`, `y_test`); or a folder holding
            LeCun's four idx files (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
            `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`; un-gzipped also read).

    Returns:
        `((x_train, y_train), (x_test, y_test))`: images uint8 `(N, 28, 28)`, labels uint8 `(N,)`.

    Raises:
        InputError: Missing or corrupt file (it is named), or no download possible.
    """
    if source is None:
        arrays, where = _download(), "downloaded MNIST"
    else:
        path = pathlib.Path(source)
        if path.is_dir():
            arrays = {key: _read_idx(_idx_path(path, name)) for key, name in _IDX_FILES.items()}
        elif path.is_file():
            arrays = _read_npz(path)
        else:
            raise InputError(f"MNIST source {path} does not exist; {_WHERE}")
        where = str(path)
    for split in ("train", "test"):
        _check_split(arrays[f"x_{split}"], arrays[f"y_{split}"], f"{where} ({split})")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


MNIST_NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


def _download():
    """Fetches MNIST with TFDS, falling back to `keras.datasets.mnist`; when both fail, the
    error gives both causes and where to get `mnist.npz` by hand."""
    try:
        import tensorflow_datasets as tfds

        train, test = tfds.as_numpy(tfds.load("mnist", split=["train", "test"], batch_size=-1,
                                              as_supervised=True))
        return {"x_train": train[0][..., 0], "y_train": train[1].astype(np.uint8),
                "x_test": test[0][..., 0], "y_test": test[1].astype(np.uint8)}
    except Exception as e:  # offline, TFDS missing or broken: try Keras's copy
        tfds_problem = _one_line(e)
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as e:
        raise InputError(f"could not download MNIST: {_one_line(e)} (TFDS: {tfds_problem}); download "
                         f"{MNIST_NPZ_URL} (on a machine with network access), then {_WHERE}") from None
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _one_line(error, limit=300):
    """An exception as one short line: its type and the first line of its message."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _idx_path(folder, name):
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    raise InputError(f"MNIST folder {folder} has no {name}.gz; {_WHERE}")


def _read_idx(path):
    """Parses an idx file (LeCun's format: magic 2051 images / 2049 labels, big-endian dims)."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise InputError(f"{path} is not a readable gzip file ({e}); {_WHERE}") from None
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic not in (2049, 2051):
        raise InputError(f"{path} is not an MNIST idx file (magic {magic}, expected 2051 for "
                         f"images or 2049 for labels); {_WHERE}")
    ndim = magic - 2048
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"{path} is truncated (header cut short); {_WHERE}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    if len(raw) - header != math.prod(dims):
        raise InputError(f"{path} is truncated or padded: header says {dims} = {math.prod(dims)} "
                         f"bytes, file has {len(raw) - header}; {_WHERE}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = sorted(set(_IDX_FILES) - set(f.files))
            if missing:
                raise InputError(f"{path} lacks the arrays {', '.join(missing)} (a mnist.npz "
                                 f"has x_train, y_train, x_test, y_test); {_WHERE}")
            return {key: f[key] for key in _IDX_FILES}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"{path} is not a readable .npz file ({type(e).__name__}); {_WHERE}") from None


def _check_split(x, y, where):
    if x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or x.dtype != np.uint8:
        raise InputError(f"{where}: images are {x.dtype} {x.shape}, expected uint8 (N, 28, 28); {_WHERE}")
    if y.shape != (len(x),):
        raise InputError(f"{where}: {len(x)} images but labels of shape {y.shape}; {_WHERE}")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise InputError(f"{where}: labels outside 0-9; {_WHERE}")


def held_out_split(arrays, val_size, train_size=None):
    """The split every MNIST kind trains with: the last `val_size` training images validate,
    the first `train_size` (default all) of the rest train.

    Args:
        arrays: Arrays of the same length N (images, and labels where a kind has them).
        val_size: Images held out at the end.
        train_size: Images trained on, from the start (None: all the rest).

    Returns:
        `(train arrays, validation arrays)`, two tuples like `arrays`.

    Raises:
        InputError: N is not more than `val_size`.
    """
    n = len(arrays[0])
    if n <= val_size:
        raise InputError(f"MNIST has {n} training images, not more than val_size {val_size}")
    stop = n - val_size if not train_size else min(train_size, n - val_size)
    return tuple(a[:stop] for a in arrays), tuple(a[n - val_size:] for a in arrays)
