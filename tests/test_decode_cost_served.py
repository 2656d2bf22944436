"""The decoding-work limit where images arrive: the exported captioner's `caption` signature and
`training/caption_image.py` refuse a progressive JPEG whose last scan repeats (a few hundred
times here), before decoding it, and still caption ordinary images of every accepted format.

A tiny untrained captioner (tests/tiny_runs.py), exported with the default limits.
"""

import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow
tf = pytest.importorskip("tensorflow")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
pytest.importorskip("tf2onnx")
pytest.importorskip("PIL")

import keras  # noqa: E402
from costly_images import interlaced_png, pil_file, png_file, progressive_jpeg, smooth  # noqa: E402
from script_runs import run_script  # noqa: E402
from tiny_runs import captioner_run  # noqa: E402

from kerasrnn.data.image_files import assertion_text  # noqa: E402
from kerasrnn.kinds.registry import export_model  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCANS = progressive_jpeg(1024, 1024, repeats=300)  # 310 scans, 14 kB
SCANS_MESSAGE = "image needs too much decoding: a JPEG of at most 100 scans is accepted; it holds 310"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("export needs the TensorFlow backend")
    directory = tmp_path_factory.mktemp("decode_cost") / "scenes"
    captioner_run(directory)
    return directory


@pytest.fixture(scope="module")
def caption(run):
    version = export_model(run, run.parent / "saved_models", "scenes")
    signature = tf.saved_model.load(str(version)).signatures["caption"]
    return lambda images: signature(image_bytes=tf.constant(np.array(images, object)),
                                    beam_width=tf.constant([1], tf.int32))


def test_the_caption_signature_refuses_a_jpeg_of_too_many_scans_before_decoding(caption):
    caption([pil_file(smooth(16, 16), "PNG")])  # warm: the first call pays for loading kernels
    start = time.perf_counter()
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        caption([SCANS])
    assert assertion_text(caught.value) == SCANS_MESSAGE
    assert time.perf_counter() - start < 1.0


def test_the_caption_signature_captions_ordinary_images_of_every_format(caption):
    image = smooth(120, 90)
    rgba16 = b"".join(b"\0" + np.concatenate([image[r].astype(">u2") * 257, np.full((90, 1), 65535, ">u2")], 1).tobytes()
                      for r in range(120))
    files = [pil_file(image, "JPEG"), pil_file(image, "JPEG", progressive=True), pil_file(image, "PNG"),
             png_file(120, 90, rgba16, depth=16, color_type=6), interlaced_png(image), pil_file(image, "BMP")]
    tokens = caption(files)["tokens"].numpy()
    assert tokens.shape[0] == len(files)


def test_caption_image_refuses_a_jpeg_of_too_many_scans(run, tmp_path):
    (tmp_path / "scans.jpg").write_bytes(SCANS)
    out = tmp_path / "out.png"
    done = run_script("training/caption_image.py", "--model", run, "--image", tmp_path / "scans.jpg",
                      "--out", out, timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines[-1] == f"error: {tmp_path / 'scans.jpg'}: {SCANS_MESSAGE}", done.stderr[-1500:]
    assert not out.exists()


def test_a_wide_flat_image_is_resized_without_a_huge_intermediate(tmp_path):
    """TensorFlow resizes rows first, through (S, W, 3): a 1 x 1,000,000 image (within the pixel
    limit) resized to 64 x 64 would pass through 768 MB. `resize_image` takes the width first
    for such an image (and gives the same pixels as one resize, to float32 rounding)."""
    code = (
        "import resource, numpy as np, tensorflow as tf\n"
        "from kerasrnn.data.image_files import resize_image\n"
        "small = np.random.default_rng(0).integers(0, 256, (3, 700, 3), dtype=np.uint8)\n"
        "one = tf.image.resize(small / 255, (64, 64), method='bilinear', antialias=True).numpy()\n"
        "assert np.abs(resize_image(small, 64).numpy() - np.clip(one, 0, 1)).max() < 1e-6\n"
        "wide = np.zeros((1, 1_000_000, 3), np.uint8)\n"
        "resize_image(wide[:, :1000], 64)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "resize_image(wide, 64).numpy()\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) < 200  # MiB; through (64, 1e6, 3) it is over 700
