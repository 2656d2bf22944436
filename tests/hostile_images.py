"""Image files for the decode-work tests, built here: ordinary ones of every accepted format and
the hostile ones (a progressive JPEG whose last scan repeats, a PNG whose zlib stream inflates
past its rows, any PNG header). Needs numpy and Pillow."""

import io
import struct
import zlib

import numpy as np
from PIL import Image


def pil_file(array, fmt, **options):
    out = io.BytesIO()
    Image.fromarray(array).save(out, fmt, **options)
    return out.getvalue()


def smooth(height, width, channels=3):
    """A smooth uint8 image (gradients), so a progressive JPEG's refinement scans are tiny."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)),
                      ((x + y) * 127 // max(height + width - 2, 1))], -1)[..., :channels]
    return image.astype(np.uint8).squeeze()


def progressive_jpeg(height=256, width=256, repeats=0):
    """A progressive JPEG (libjpeg's 10 scans) whose last scan is repeated `repeats` more times."""
    data = pil_file(np.full((height, width, 3), 90, np.uint8), "JPEG", progressive=True, quality=75)
    last, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    return data[:end] + data[last:end] * repeats + data[end:]


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_file(height, width, rows, depth=8, color_type=2, interlace=0, trailing=0):
    """A PNG of raw (filtered) `rows` bytes, with `trailing` zero bytes more in its zlib stream."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace)
    stream = zlib.compressobj(9)
    idat = stream.compress(rows)
    for _ in range(trailing // 2**20):
        idat += stream.compress(bytes(2**20))
    idat += stream.compress(bytes(trailing % 2**20)) + stream.flush()
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def interlaced_png(image):
    """An Adam7-interlaced 8-bit RGB PNG of a uint8 `(H, W, 3)` image (PIL writes none)."""
    rows = b""
    for x0, y0, dx, dy in ADAM7:
        part = image[y0::dy, x0::dx]
        if part.size:
            rows += b"".join(b"\0" + row.tobytes() for row in part)
    return png_file(image.shape[0], image.shape[1], rows, interlace=1)
