"""Image files that cost their decoder the most: the worst a captioner export accepts, per format,
and the hostile ones it refuses (a progressive JPEG whose last scan repeats, a PNG whose zlib
stream inflates past its rows, any PNG header), built in memory; and ordinary files of every
accepted format. Used by bench_request_limits.py and the tests. Needs numpy and Pillow.

The worst accepted images follow the decoding-work model of
`kerasrnn.data.image_files.decode_work` (docs/security.md): the most scans a JPEG of the largest
size may hold, the most compressed bytes a PNG may hold (all of them inflating at zlib's largest
ratio), the largest BMP.
"""

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


def progressive_jpeg(height=256, width=256, repeats=0, channels=3):
    """A progressive JPEG of a flat image (libjpeg's progression: 10 scans in colour, 6 in gray)
    whose last scan (a few bytes) is repeated `repeats` more times."""
    data = pil_file(np.full((height, width, channels), 90, np.uint8).squeeze(), "JPEG", progressive=True,
                    quality=75)
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


def worst_jpeg(max_pixels, max_work, channels, max_scans=100):
    """The largest square progressive JPEG with as many scans as `max_work` and `max_scans` allow
    (`channels` 1: gray, 3: colour); returns `(bytes, description)`."""
    side = int(np.sqrt(max_pixels))
    padded = -(-side // 32) * 32
    scans = min(max_scans, max_work // (channels * padded * padded))
    base = 10 if channels == 3 else 6
    data = progressive_jpeg(side, side, repeats=max(0, scans - base), channels=channels)
    return data, f"{'colour' if channels == 3 else 'gray'} progressive JPEG {side}x{side}, {max(scans, base)} scans"


def worst_png(max_bytes, max_work, height=16, width=16):
    """A `height x width` 8-bit RGB PNG whose zlib stream goes on with zeros, as many compressed
    bytes as `max_bytes` and `max_work` allow (all inflating at zlib's largest ratio, ~1030 here);
    returns `(bytes, description)`."""
    rows = b"".join(b"\0" + bytes(width * 3) for _ in range(height))
    budget = min(max_bytes, (max_work - height * (1 + width * 3)) // 1032) - 200
    data = png_file(height, width, rows, trailing=budget * 1030)
    while len(data) > budget + 200:
        data = png_file(height, width, rows, trailing=int((budget * 1030) * (budget + 200) / len(data) * 0.999))
    return data, f"PNG {width}x{height} inflating {len(data) / 2**20:.1f} MiB to ~{len(data) * 1030 / 2**30:.1f} GiB"


def wide_png16(max_pixels, height=16):
    """A 16-bit RGBA PNG of `height` rows as wide as `max_pixels` and TensorFlow's PNG decoder
    (libpng: at most 1,000,000 columns) allow (a flat image: its rows are huge, its file small);
    returns `(bytes, description)`."""
    width = min(max_pixels // height, 1_000_000)
    row = b"\0" + np.full(width * 4, 0x1234, ">u2").tobytes()
    return png_file(height, width, row * height, depth=16, color_type=6), f"16-bit RGBA PNG {width}x{height}"


def worst_bmp(max_pixels, max_bytes):
    """The largest square 32-bit BMP within `max_pixels` and `max_bytes`; `(bytes, description)`."""
    side = int(min(np.sqrt(max_pixels), np.sqrt((max_bytes - 200) / 4)))
    image = np.dstack([smooth(side, side), np.full((side, side), 255, np.uint8)])
    return pil_file(image, "BMP"), f"32-bit BMP {side}x{side}"

