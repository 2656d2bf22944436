"""Image files -> float RGB arrays of one square size, decoded and resized by TensorFlow.

One decoder serves everything: `load_image` runs inside `tf.data` pipelines on a path tensor,
`read_image` reads one file eagerly, and `check_images` decodes a list of files up front so a bad
one is reported by name before training starts. JPEG, PNG, GIF (first frame) and BMP are read;
grayscale and RGBA images become RGB (alpha is dropped).
"""

import pathlib

import tensorflow as tf

from kerasrnn.errors import InputError


def _decode(data):
    """Encoded image bytes (scalar string tensor) -> uint8 `(H, W, 3)`."""
    return tf.io.decode_image(data, channels=3, expand_animations=False)


def load_image(path, image_size):
    """Reads, decodes and resizes one image file; a TF function usable inside `tf.data`.

    Args:
        path: Scalar string tensor, the file's path.
        image_size: Side S of the square output (the aspect ratio is not kept).

    Returns:
        float32 tensor `(S, S, 3)` in [0, 1] (bilinear resize with antialiasing).
    """
    image = tf.cast(_decode(tf.io.read_file(path)), tf.float32) / 255.0
    image = tf.image.resize(image, (image_size, image_size), method="bilinear", antialias=True)
    return tf.ensure_shape(tf.clip_by_value(image, 0.0, 1.0), (image_size, image_size, 3))


def read_image(path, image_size):
    """Reads one image file as a float RGB array.

    Args:
        path: Path of a JPEG, PNG, GIF or BMP file.
        image_size: Side S of the square output.

    Returns:
        float32 numpy array `(S, S, 3)` in [0, 1].

    Raises:
        InputError: The file is missing, unreadable or not an image (it is named).
    """
    _check_exists(path)
    try:
        return load_image(tf.constant(str(path)), image_size).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.UnknownError,
            tf.errors.PermissionDeniedError, tf.errors.DataLossError) as e:
        raise _not_an_image(path, e) from None


def check_images(paths):
    """Decodes every file in `paths` (in parallel) and names the first one that fails.

    Args:
        paths: List of image file paths.

    Raises:
        InputError: A file is missing, unreadable or not an image; the message names it and
            says how many others failed too.
    """
    paths = [str(p) for p in paths]
    for path in paths:
        _check_exists(path)
    if not paths:
        return
    ds = tf.data.Dataset.from_tensor_slices((tf.range(len(paths)), paths))
    ds = ds.map(lambda i, p: (i, tf.shape(_decode(tf.io.read_file(p)))),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    ds = ds.ignore_errors(log_warning=False)
    decoded = {int(i) for i, _ in ds.as_numpy_iterator()}
    bad = [p for i, p in enumerate(paths) if i not in decoded]
    if bad:
        others = f" (and {len(bad) - 1} other files)" if len(bad) > 1 else ""
        try:
            read_image(bad[0], 1)  # for the decoder's own words
        except InputError as e:
            raise InputError(f"{e}{others}") from None
        raise InputError(f"{bad[0]} is not a readable image{others}; replace or remove it")


def _check_exists(path):
    if not pathlib.Path(path).is_file():
        raise InputError(f"image file {path} does not exist; check the data folder")


def _not_an_image(path, error):
    reason = str(getattr(error, "message", error)).strip().splitlines()[0][:120]
    return InputError(f"{path} is not a readable image ({reason}); replace or remove it")

