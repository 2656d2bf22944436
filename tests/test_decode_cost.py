"""The decoding work of an untrusted image, counted from its bytes before the decoder runs
(`image_files.decode_work`, `decode_untrusted(..., max_decode_work)`), and the limit that bounds it
(`CaptionerLimits.max_decode_work`, optional in an older export's limits.json).

The hostile files are the real attacks scaled down: a progressive JPEG whose last scan repeats a
few hundred times (each repeat is a few bytes and makes the decoder walk every block again), a
PNG whose compressed data inflates far beyond its rows, a PNG header of 2^32 - 1 x 2^32 - 1.
"""

import json
import pathlib
import sys
import time

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
pytest.importorskip("PIL")

from costly_images import interlaced_png, pil_file, png_file, progressive_jpeg, smooth  # noqa: E402
from kerasrnn.data import image_files  # noqa: E402
from kerasrnn.data.image_files import JPEG_MAX_SCANS, decode_untrusted, decode_work  # noqa: E402
from kerasrnn.errors import InputError  # noqa: E402
from kerasrnn.kinds.captioner.limits import CaptionerLimits  # noqa: E402

WORK = CaptionerLimits().max_decode_work


def work_of(data):
    work, scans = decode_work(tf.constant(data))
    return float(work), int(scans)


def refusal(data, **kwargs):
    """The one-line message `decode_untrusted` refuses `data` with, and the seconds it took."""
    start = time.perf_counter()
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        decode_untrusted(tf.constant(data), **kwargs)
    return image_files.assertion_text(caught.value), time.perf_counter() - start


# -- the reproductions ---------------------------------------------------------------------------

def test_a_jpeg_whose_last_scan_repeats_is_refused_before_decoding():
    data = progressive_jpeg(1024, 1024, repeats=300)  # 310 scans of which 300 are ~12 bytes
    assert len(data) < 20_000 and work_of(data)[1] == 310
    message, seconds = refusal(data, max_decode_work=WORK)
    assert message == f"image needs too much decoding: a JPEG of at most {JPEG_MAX_SCANS} scans is accepted; it holds 310"
    assert seconds < 0.5


def test_a_jpeg_of_few_scans_but_too_much_work_is_refused():
    data = progressive_jpeg(1024, 1024, repeats=20)  # 30 scans x 3 components x 1024 x 1024
    work = 30 * 3 * 1024 * 1024
    assert work_of(data) == (work, 30)
    assert decode_untrusted(tf.constant(data), max_decode_work=work).shape == (1024, 1024, 3)
    message, _ = refusal(data, max_decode_work=work - 1)
    assert message == (f"image needs too much decoding: at most {work - 1} units of work (max_decode_work); "
                       f"it needs {float(work)}")


def test_a_png_whose_data_inflates_beyond_its_rows_is_refused():
    rows = b"".join(b"\0" + bytes(16 * 3) for _ in range(16))
    plain, bomb = png_file(16, 16, rows), png_file(16, 16, rows, trailing=20 * 2**20)
    assert len(bomb) < 25_000 and work_of(bomb)[0] == 1032 * len(bomb) + 16 * 49
    limit = 1032 * 1000
    assert decode_untrusted(tf.constant(plain), max_decode_work=limit).shape == (16, 16, 3)
    message, seconds = refusal(bomb, max_decode_work=limit)
    assert message.startswith(f"image needs too much decoding: at most {limit} units of work") and seconds < 0.5


def test_a_png_header_of_2_to_the_32_squared_is_too_large_not_an_overflow():
    side = 2**32 - 1
    data = png_file(side, side, b"\0" * 64)
    message, _ = refusal(data)  # int64 height x width wraps negative: it passed the pixel limit
    assert message == f"image too large: at most {4096 * 4096} pixels (max_image_pixels); the header says {side} x {side}"
    assert work_of(data)[0] == pytest.approx(1032 * len(data) + side * (1 + side * 3), rel=1e-12)


# -- the model's numbers, and ordinary images still decode ---------------------------------------

def test_the_work_of_each_format_is_the_documented_count():
    rgba16 = png_file(16, 1000, b"".join(b"\0" + bytes(1000 * 8) for _ in range(16)), depth=16, color_type=6)
    bmp = pil_file(smooth(30, 33), "BMP")
    baseline = pil_file(smooth(40, 70), "JPEG")
    gray = pil_file(smooth(40, 70, 1), "JPEG", progressive=True)
    assert work_of(rgba16) == (1032 * len(rgba16) + 16 * (1 + 1000 * 8), 0)
    assert work_of(bmp) == (30 * 100, 0)  # 33 x 24 bits = 99 bytes, rows rounded up to 4
    assert work_of(baseline) == (1 * 3 * 64 * 96, 1)
    assert work_of(gray) == (6 * 1 * 64 * 96, 6)  # libjpeg's progression: 6 scans for one component
    assert work_of(interlaced_png(smooth(9, 11)))[0] == 1032 * len(interlaced_png(smooth(9, 11))) + 2 * 9 * 34
    assert work_of(b"GIF89a" + bytes(40)) == (0, 0)


@pytest.mark.parametrize("name", ["baseline JPEG", "progressive JPEG", "gray progressive JPEG", "PNG",
                                  "16-bit RGBA PNG", "interlaced PNG", "BMP"])
def test_ordinary_images_decode_as_before(name):
    image = smooth(120, 90)
    data = {"baseline JPEG": lambda: pil_file(image, "JPEG"),
            "progressive JPEG": lambda: pil_file(image, "JPEG", progressive=True),
            "gray progressive JPEG": lambda: pil_file(image[..., 0], "JPEG", progressive=True),
            "PNG": lambda: pil_file(image, "PNG"),
            "16-bit RGBA PNG": lambda: png_file(120, 90, b"".join(
                b"\0" + np.concatenate([image[r].astype(">u2") * 257, np.full((90, 1), 65535, ">u2")], 1).tobytes()
                for r in range(120)), depth=16, color_type=6),
            "interlaced PNG": lambda: interlaced_png(image),
            "BMP": lambda: pil_file(image, "BMP")}[name]()
    expected = tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
    decoded = decode_untrusted(tf.constant(data), max_decode_work=WORK).numpy()
    np.testing.assert_array_equal(decoded, expected)
    if "JPEG" not in name:
        np.testing.assert_array_equal(decoded, image)


def test_the_largest_ordinary_images_are_within_the_default_work():
    """At the default limits: a 4096 x 4096 progressive colour JPEG (10 scans) and a 1,000,000 x 16
    16-bit RGBA PNG are accepted (their work only is computed, nothing decoded)."""
    jpeg = progressive_jpeg(4096, 4096)
    assert work_of(jpeg) == (10 * 3 * 4096 * 4096, 10) and work_of(jpeg)[0] <= WORK
    rows = b"".join(b"\0" + bytes(16 * 8) for _ in range(1))  # the header is what counts; rows are short
    png = png_file(16, 1_000_000, rows, depth=16, color_type=6)
    assert work_of(png)[0] == 1032 * len(png) + 16 * (1 + 8_000_000) <= WORK


# -- the limit ----------------------------------------------------------------------------------

def test_an_older_limits_file_without_max_decode_work_loads_as_not_checked(tmp_path):
    values = CaptionerLimits().as_dict()
    del values["max_decode_work"]
    (tmp_path / "limits.json").write_text(json.dumps(values))
    assert CaptionerLimits.load(tmp_path).max_decode_work is None
    CaptionerLimits().save(tmp_path)
    assert CaptionerLimits.load(tmp_path).max_decode_work == 2**31
    del values["max_beam_width"]  # a field every export wrote is still required
    (tmp_path / "limits.json").write_text(json.dumps(values))
    with pytest.raises(InputError, match="does not hold the limits"):
        CaptionerLimits.load(tmp_path)
    with pytest.raises(InputError, match="max_decode_work must be an integer between 1 and 1099511627776, got 0"):
        CaptionerLimits(max_decode_work=0)
    # None (not checked) decodes what the old version decoded
    data = progressive_jpeg(64, 64, repeats=150)
    assert decode_untrusted(tf.constant(data), max_decode_work=None).shape == (64, 64, 3)


def test_read_image_names_the_limit(tmp_path):
    path = tmp_path / "scans.jpg"
    path.write_bytes(progressive_jpeg(64, 64, repeats=150))
    with pytest.raises(InputError, match=r"scans.jpg: image needs too much decoding: a JPEG of at most 100 scans"):
        image_files.read_image(path, 8, max_image_pixels=4096 * 4096, max_decode_work=WORK)
    assert image_files.read_image(path, 8, max_image_pixels=4096 * 4096).shape == (8, 8, 3)


def test_the_benchmarks_worst_images_are_accepted_and_at_the_limits():
    from costly_images import worst_bmp, worst_jpeg, worst_png

    limit = 2 * 10**7
    png, _ = worst_png(2**20, limit)
    assert 0.99 * limit < work_of(png)[0] <= limit
    assert decode_untrusted(tf.constant(png), max_decode_work=limit).shape == (16, 16, 3)
    gray, what = worst_jpeg(256 * 256, WORK, channels=1)
    assert work_of(gray) == (100 * 256 * 256, 100) and what == "gray progressive JPEG 256x256, 100 scans"
    assert decode_untrusted(tf.constant(gray), max_decode_work=WORK).shape == (256, 256, 3)
    colour, what = worst_jpeg(256 * 256, 30 * 256 * 256, channels=3)
    assert work_of(colour) == (30 * 256 * 256, 10) and what.endswith("10 scans")
    bmp, what = worst_bmp(4096 * 4096, 2**16)
    assert len(bmp) <= 2**16 and what == "32-bit BMP 127x127"
    assert decode_untrusted(tf.constant(bmp), max_decode_work=WORK).shape == (127, 127, 3)
