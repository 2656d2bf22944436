"""Image files -> float RGB arrays of one square size, decoded and resized by TensorFlow.

One decoder serves everything: `load_image` runs inside `tf.data` pipelines on a path tensor,
`read_image` reads one file eagerly, and `check_images` decodes a list of files up front so a bad
one is reported by name before training starts. JPEG, PNG, GIF (first frame) and BMP are read;
grayscale and RGBA images become RGB (alpha is dropped).

Images from someone else (a served request, a file given to a script) go through
`decode_untrusted` instead: it reads the format from the magic bytes and the size from the
header, and refuses a format outside `formats` or more than `max_image_pixels` pixels *before*
decoding, so a small file that claims a huge size never allocates it; given `max_decode_work`, it
also refuses an image whose decoding would cost more than that (`decode_work`, counted from the
bytes before the decoder runs: a progressive JPEG of thousands of tiny scans, a PNG whose
compressed data inflates far beyond its rows). It reads JPEG, PNG and BMP
(`UNTRUSTED_FORMATS`); GIF is left out because its header does not bound the number of frames
TensorFlow's decoder allocates, and WebP because TensorFlow decodes it but no one asked for it.
"""

import pathlib
import re

import tensorflow as tf

from kerasrnn.errors import InputError


UNTRUSTED_FORMATS = ("jpeg", "png", "bmp")
DEFAULT_MAX_PIXELS = 4096 * 4096
_HEADER_BYTES = 30  # enough for the PNG IHDR and the BMP info header's size and bits per pixel
JPEG_MAX_SCANS = 100  # most scans (SOS markers) a JPEG may hold when its decode work is checked
INFLATE_MAX_RATIO = 1032  # most bytes zlib's inflate can write per compressed byte


def image_header(data):
    """The format and size an encoded image claims, from its first bytes (nothing is decoded).

    Args:
        data: Scalar string tensor, the encoded image.

    Returns:
        `(format, height, width)`: int32 scalar index into `UNTRUSTED_FORMATS` (-1 for any other
        format) and int64 scalars (0 when the format is not one of them). A JPEG's size comes
        from `tf.io.extract_jpeg_shape` (its frame header; InvalidArgument if there is none).
    """
    b = _header_bytes(data)

    def starts(magic, at=0):
        return tf.reduce_all(tf.equal(b[at:at + len(magic)], list(magic)))

    def big_endian(at):
        return b[at] * 2**24 + b[at + 1] * 2**16 + b[at + 2] * 2**8 + b[at + 3]

    def little_endian_int32(at):
        u = b[at] + b[at + 1] * 2**8 + b[at + 2] * 2**16 + b[at + 3] * 2**24
        return tf.abs(tf.where(u >= 2**31, u - 2**32, u))  # BMP: negative height = top-down

    is_jpeg, is_bmp = starts(b"\xff\xd8\xff"), starts(b"BM")
    is_png = starts(b"\x89PNG\r\n\x1a\n") & starts(b"IHDR", 12)
    fmt = tf.where(is_jpeg, 0, tf.where(is_png, 1, tf.where(is_bmp, 2, -1)))
    jpeg = tf.cond(is_jpeg, lambda: tf.cast(tf.io.extract_jpeg_shape(data)[:2], tf.int64),
                   lambda: tf.zeros([2], tf.int64))
    height = tf.where(is_jpeg, jpeg[0], tf.where(is_png, big_endian(20),
                                                  tf.where(is_bmp, little_endian_int32(22), 0)))
    width = tf.where(is_jpeg, jpeg[1], tf.where(is_png, big_endian(16),
                                                 tf.where(is_bmp, little_endian_int32(18), 0)))
    return tf.cast(fmt, tf.int32), height, width


def _header_bytes(data):
    """The first `_HEADER_BYTES` bytes of `data` (zero-padded) as an int64 vector."""
    head = tf.strings.substr(tf.strings.join([tf.strings.substr(data, 0, _HEADER_BYTES),
                                              tf.constant(b"\0" * _HEADER_BYTES)]), 0, _HEADER_BYTES)
    return tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)


def jpeg_scans(data):
    """How many scans a JPEG holds at most: the number of `FF DA` (start of scan) byte pairs
    anywhere in `data`, an int64 scalar. Every scan a decoder reads starts with one, and in
    entropy-coded data `FF` is always followed by `00` or a restart marker, so this never
    counts fewer scans than a decoder sees (a thumbnail inside an APP segment adds its own).
    Linear in the bytes."""
    b = tf.io.decode_raw(data, tf.uint8)
    return tf.reduce_sum(tf.cast((b[:-1] == 0xFF) & (b[1:] == 0xDA), tf.int64))


def decode_work(data):
    """The work of decoding an encoded image, counted from its bytes before any decoder runs.

    In units of about one byte a decoder writes or one coefficient it touches (float64, so
    header sizes up to 2^32 x 2^32 cannot overflow); docs/security.md states why each bounds
    its decoder's work:

    - JPEG: scans x components x height x width, sides rounded up to a multiple of 32 (the
      largest MCU): a scan touches at most every coefficient of every component once. `scans`
      is `jpeg_scans`; the components and size come from the frame header.
    - PNG: 1032 x the file's bytes (zlib's inflate writes at most 1032 bytes per compressed
      byte, of the image data and of compressed ancillary chunks alike, whatever the header
      says) + passes x height x (1 + row bytes), row bytes = ceil(width x channels x bit depth
      / 8), passes 2 for an Adam7-interlaced image, else 1 (the unfiltering).
    - BMP: height x row bytes, row bytes = width x max(bits per pixel, 8) / 8 rounded up to 4.
    - Anything else: 0 (refused by its format).

    Args:
        data: Scalar string tensor, the encoded image.

    Returns:
        `(work, scans)`: float64 scalar, and the int64 number of JPEG scans (0 for other formats).
    """
    fmt, height, width = image_header(data)
    b = _header_bytes(data)
    h, w = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    is_jpeg = tf.equal(fmt, 0)
    scans, components = tf.cond(
        is_jpeg, lambda: (jpeg_scans(data), tf.cast(tf.io.extract_jpeg_shape(data)[2], tf.int64)),
        lambda: (tf.constant(0, tf.int64), tf.constant(0, tf.int64)))
    pad = lambda side: tf.math.ceil(side / 32.0) * 32.0  # noqa: E731
    jpeg = tf.cast(scans * components, tf.float64) * pad(h) * pad(w)
    png_channels = tf.gather(tf.constant([1, 0, 3, 1, 2, 0, 4], tf.float64), tf.clip_by_value(b[25], 0, 6))
    png_rows = h * (1.0 + tf.math.ceil(w * png_channels * tf.cast(b[24], tf.float64) / 8.0))
    png = (INFLATE_MAX_RATIO * tf.cast(tf.strings.length(data), tf.float64)
           + tf.where(tf.equal(b[28], 1), tf.constant(2.0, tf.float64), 1.0) * png_rows)
    bits = tf.cast(tf.maximum(b[28] + b[29] * 256, 8), tf.float64)
    bmp = h * tf.math.ceil(w * bits / 32.0) * 4.0
    work = tf.where(is_jpeg, jpeg, tf.where(tf.equal(fmt, 1), png, tf.where(tf.equal(fmt, 2), bmp, tf.constant(0.0, tf.float64))))
    return work, scans


def decode_untrusted(data, max_image_pixels=DEFAULT_MAX_PIXELS, formats=UNTRUSTED_FORMATS,
                     max_decode_work=None):
    """Decodes an encoded image from an untrusted source, checking its header first.

    Args:
        data: Scalar string tensor, the encoded image.
        max_image_pixels: Most pixels (height x width) the header may claim.
        formats: The formats accepted, a subset of `UNTRUSTED_FORMATS`.
        max_decode_work: Most `decode_work` the image may need (and then a JPEG holds at most
            `JPEG_MAX_SCANS` scans); None: not checked.

    Returns:
        uint8 tensor `(H, W, 3)`.

    Raises:
        InvalidArgumentError (when run): a format outside `formats` (told by the magic bytes,
            not the decoder), an empty size, or more than `max_image_pixels` pixels; the message says
            which; more work than `max_decode_work`, or a JPEG with more scans than
            `JPEG_MAX_SCANS`. Nothing larger than the header (and, for the work, one byte per
            byte of `data`) is allocated before the checks.
    """
    unknown = [f for f in formats if f not in UNTRUSTED_FORMATS]
    if unknown or not formats:
        raise InputError(f"formats must be a non-empty subset of {UNTRUSTED_FORMATS}, got {formats}")
    fmt, height, width = image_header(data)
    allowed = tf.reduce_any(tf.equal(fmt, [UNTRUSTED_FORMATS.index(f) for f in formats]))
    names = ", ".join(f.upper() for f in formats)
    checks = [
        tf.debugging.Assert(allowed, [f"image format not accepted: the bytes are not {names} "
                                      "(told by their first bytes)"]),
        tf.debugging.Assert((height > 0) & (width > 0), ["image header gives an empty size:",
                                                         height, "x", width]),
        tf.debugging.Assert(  # in float64: 2^32 x 2^32 overflows int64
            tf.cast(height, tf.float64) * tf.cast(width, tf.float64) <= float(max_image_pixels), [
                f"image too large: at most {max_image_pixels} pixels (max_image_pixels); the header says",
                height, "x", width]),
    ]
    if max_decode_work is not None:
        with tf.control_dependencies(checks):  # the work is counted only for an allowed size
            work, scans = decode_work(data)
        checks += [
            tf.debugging.Assert(scans <= JPEG_MAX_SCANS, [
                f"image needs too much decoding: a JPEG of at most {JPEG_MAX_SCANS} scans is "
                "accepted; it holds", scans]),
            tf.debugging.Assert(work <= float(max_decode_work), [
                f"image needs too much decoding: at most {max_decode_work} units of work "
                "(max_decode_work); it needs", work]),
        ]
    with tf.control_dependencies(checks):
        data = tf.identity(data)
    return tf.ensure_shape(_decode(data), (None, None, 3))


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
    return resize_image(_decode(tf.io.read_file(path)), image_size)


def resize_image(image, image_size):
    """uint8 `(H, W, 3)` -> float32 `(S, S, 3)` in [0, 1], as `load_image` resizes.

    Bilinear with antialiasing (TensorFlow's scale-and-translate, separable). TensorFlow resizes
    the rows first, through an `(S, W, 3)` intermediate: for an image shorter than S and wider
    than tall that is up to S / H times the image (a 1 x 16,777,216 image would need 12 GiB), so
    such an image is resized along its width first, through `(H, S, 3)`. Either order computes
    the same sums, to float32 rounding; the JavaScript drivers' `resizeImage` takes the same order.
    """
    image = tf.cast(image, tf.float32) / 255.0
    height, width = tf.shape(image)[0], tf.shape(image)[1]

    def resize(x, size):
        return tf.image.resize(x, size, method="bilinear", antialias=True)

    image = tf.cond((height < image_size) & (width > height),
                    lambda: resize(resize(image, (height, image_size)), (image_size, image_size)),
                    lambda: resize(image, (image_size, image_size)))
    return tf.ensure_shape(tf.clip_by_value(image, 0.0, 1.0), (image_size, image_size, 3))


def read_image(path, image_size, max_image_pixels=None, max_decode_work=None):
    """Reads one image file as a float RGB array.

    Args:
        path: Path of a JPEG, PNG, GIF or BMP file.
        image_size: Side S of the square output.
        max_image_pixels: `None` for a trusted file (any of the four formats, any size); else the file
            is read as untrusted (`decode_untrusted`: JPEG, PNG or BMP of at most this many
            pixels, checked from the header before decoding).
        max_decode_work: With `max_image_pixels`, the most `decode_work` the file may need
            (None: not checked).

    Returns:
        float32 numpy array `(S, S, 3)` in [0, 1].

    Raises:
        InputError: The file is missing, unreadable or not an image (it is named).
    """
    _check_exists(path)
    try:
        if max_image_pixels is None:
            return load_image(tf.constant(str(path)), image_size).numpy()
        data = tf.io.read_file(str(path))
        return resize_image(decode_untrusted(data, max_image_pixels, max_decode_work=max_decode_work),
                            image_size).numpy()
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


def assertion_text(error):
    """A TensorFlow error's own words as one line, without the graph traceback around them.

    A failed `tf.debugging.Assert` reads "assertion failed: [a] [b] [c]" in a graph and
    "Summarized data: b'a' b c" eagerly; both become "a b c".
    """
    text = str(getattr(error, "message", error))
    found = re.search(r"assertion failed: (.*)", text)
    if found:
        return re.sub(r"\[([^\]]*)\]", r"\1", found.group(1)).strip()
    if "Summarized data: " in text:
        parts = text.split("Summarized data: ", 1)[1].splitlines()
        return " ".join(re.sub(r"^b'(.*)'$", r"\1", part.strip()) for part in parts).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line[0].isspace()
             and not line.startswith(("Graph execution error", "Detected at node"))]
    line = re.sub(r"\{\{[^}]*\}\}\s*", "", lines[-1] if lines else text.strip())
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", line)


def _not_an_image(path, error):
    reason = assertion_text(error)
    if "max_image_pixels" in reason or "format not accepted" in reason or "too much decoding" in reason:
        return InputError(f"{path}: {reason}")
    return InputError(f"{path} is not a readable image ({reason[:160]}); replace or remove it")

