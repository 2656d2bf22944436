#!/usr/bin/env python
"""The largest request each signature allows, and what it costs: peak memory and time.

For every signature of the three model kinds, builds the largest request the export's limits
(model card `limits`) allow and runs it in a fresh process (`request_cost.py`: load the
SavedModel, answer a small warm-up request, then the large one), reporting how far the
process's peak resident memory rose above the warm-up baseline and how long the request took.
A server's worst case is about its concurrency x the largest figure here (docs/security.md).

The largest requests:
  char generate   max_rows rows x (1-character prime + the longest length the character budget
                  allows), and as few rows as needed for max_prime_length + max_length each
  char step       max_rows rows x max_step_tokens / max_rows tokens
  caption         max_rows JPEGs of max_image_pixels pixels each (smooth noise, under
                  max_image_bytes), beam width max_beam_width; max_rows 16-bit RGBA PNGs of 16
                  rows x max_image_pixels / 16; and, one image per request, the worst image of
                  each format the limits accept (costly_images.py: a gray and a colour
                  progressive JPEG with the most scans max_decode_work allows, a PNG whose
                  compressed data all inflates at zlib's largest ratio, the largest BMP). Images
                  are decoded one at a time: a request of max_rows such images costs max_rows
                  times as much.
  caption_images  max_rows images, beam width max_beam_width;  teacher_forced: max_rows captions
  classify, rectify   max_rows images

By default the models are UNTRAINED and built here as bench_serving.py builds them (_shared.py;
char: the demo preset's 2-layer LSTM-256; STN: the default ST-CNN; captioner: the default captioner on
64x64 images), exported with the default limits. An untrained captioner may stop early or not;
its beams run to at most max_length tokens, as a trained one's do. Pass run directories to
measure your models, and limit flags to measure other limits:

Usage:
  python benchmarks/bench_request_limits.py                 # about 5 minutes on 2 cores
  python benchmarks/bench_request_limits.py --char runs/lstm --max-request-chars 50000
  python benchmarks/bench_request_limits.py --quick         # smoke test: small models and limits
  python benchmarks/bench_request_limits.py --kind captioner   # one kind only
"""

import argparse
import json
import math
import os
import pathlib
import pickle
import platform
import subprocess
import sys
import tempfile

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept
HERE = pathlib.Path(__file__).resolve().parent

import costly_images  # noqa: E402
from _shared import KINDS, untrained_runs  # noqa: E402

QUICK_LIMITS = {"char": dict(max_rows=4, max_length=50, max_prime_length=50, max_request_chars=200,
                             max_step_tokens=64),
                "stn": dict(max_rows=4),
                "captioner": dict(max_rows=2, max_image_pixels=128 * 128, max_beam_width=3, max_decode_work=10**8)}
LIMIT_FLAGS = ("max_rows", "max_length", "max_prime_length", "max_request_chars", "max_step_tokens",
               "max_image_bytes", "max_image_pixels", "max_beam_width", "max_decode_work")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--char", help="a char model run directory (default: untrained, built here)")
    p.add_argument("--stn", help="an STN classifier run directory (default: untrained, built here)")
    p.add_argument("--captioner", help="a captioner run directory (default: untrained, built here)")
    for name in LIMIT_FLAGS:
        p.add_argument("--" + name.replace("_", "-"), type=int,
                       help="export with this limit instead of the default (kinds it applies to)")
    p.add_argument("--kind", action="append", choices=KINDS, help="measure only this kind (repeatable)")
    p.add_argument("--quick", action="store_true", help="small models and limits, to check the script runs")
    return p.parse_args(argv)


# -- the largest requests ----------------------------------------------------------------------

def char_requests(card):
    """[(signature, what, request, warm-up)] for a char model's card."""
    import numpy as np

    lim, chars = card["limits"], card["vocabulary"]
    c = next(ch for ch in chars if ch.isalpha()) if any(ch.isalpha() for ch in chars) else chars[0]

    def generate(primes, length):
        n = len(primes)
        return {"prime": np.array([p.encode() for p in primes], object),
                "length": np.full(n, length, np.int32), "temperature": np.full(n, 0.8, np.float32),
                "top_k": np.zeros(n, np.int32), "seed": np.arange(n, dtype=np.int64)}

    def step(rows, tokens):
        states = {n: np.zeros((rows, h), np.float32) for n, h in card["step_states"].items()}
        return {"tokens": np.zeros((rows, tokens), np.int32), **states}

    rows = lim["max_rows"]
    wide = min(lim["max_length"], lim["max_request_chars"] // rows - 1)
    per_row = lim["max_prime_length"] + lim["max_length"]
    long_rows = max(1, min(rows, lim["max_request_chars"] // per_row))
    long_prime = min(lim["max_prime_length"], lim["max_request_chars"] // long_rows - lim["max_length"])
    out = [("generate", f"{rows} rows x (1 + {wide}) characters", generate([c] * rows, wide)),
           ("generate", f"{long_rows} rows x ({long_prime} + {lim['max_length']}) characters",
            generate([c * long_prime] * long_rows, lim["max_length"]))]
    tokens = lim["max_step_tokens"] // rows
    out.append(("step", f"{rows} rows x {tokens} tokens", step(rows, tokens)))
    warmups = {"generate": generate([c], 10), "step": step(1, 4)}
    return [(sig, what, request, warmups[sig]) for sig, what, request in out]


def jpeg_of(pixels, max_bytes, seed=0):
    """A JPEG of a square of at most `pixels` pixels (smooth noise), at most `max_bytes` long."""
    import numpy as np
    import tensorflow as tf

    side = math.isqrt(pixels)
    coarse = np.random.default_rng(seed).integers(0, 256, (1, 16, 16, 3)).astype(np.float32)
    image = tf.cast(tf.image.resize(coarse, (side, side))[0], tf.uint8)
    for quality in (90, 75, 50, 25, 10):
        data = tf.io.encode_jpeg(image, quality=quality).numpy()
        if len(data) <= max_bytes:
            return data, side
    raise ValueError(f"a {side}x{side} JPEG does not fit in {max_bytes} bytes")


def captioner_requests(card):
    import numpy as np

    lim, s = card["limits"], card["image_size"]
    rows, beam = lim["max_rows"], lim["max_beam_width"]
    data, side = jpeg_of(lim["max_image_pixels"], lim["max_image_bytes"])
    small, _ = jpeg_of(s * s, lim["max_image_bytes"])
    images = np.random.default_rng(0).random((rows, s, s, 3)).astype(np.float32)
    ids = card["signatures"]["teacher_forced"]["inputs"]["captions"]["shape"][1]
    captions = np.full((rows, ids), 4, np.int32)
    captions[:, 0], captions[:, -1] = 2, 3
    warm = {"image_bytes": np.array([small], object), "beam_width": np.array([1], np.int32)}

    def caption(images, what):
        return ("caption", what, {"image_bytes": np.array(images, object),
                                  "beam_width": np.array([beam], np.int32)}, warm)

    work = lim.get("max_decode_work") or 2**62  # an export without the limit: the pixels bound it
    png16, png16_is = costly_images.wide_png16(lim["max_image_pixels"])
    worst = [costly_images.worst_jpeg(lim["max_image_pixels"], work, 1),
             costly_images.worst_jpeg(lim["max_image_pixels"], work, 3),
             costly_images.worst_png(lim["max_image_bytes"], work),
             costly_images.worst_bmp(lim["max_image_pixels"], lim["max_image_bytes"])]
    return [
        caption([data] * rows, f"{rows} JPEGs of {side}x{side} ({len(data) / 2**20:.1f} MiB each), beam {beam}"),
        caption([png16] * rows, f"{rows} x {png16_is} ({len(png16) / 2**20:.1f} MiB each), beam {beam}"),
        *(caption([image], f"1 {what} ({len(image) / 2**20:.2f} MiB), beam {beam}") for image, what in worst),
        ("caption_images", f"{rows} images, beam {beam}",
         {"images": images, "beam_width": np.array([beam], np.int32)},
         {"images": images[:1], "beam_width": np.array([1], np.int32)}),
        ("teacher_forced", f"{rows} captions of {ids} ids", {"images": images, "captions": captions},
         {"images": images[:1], "captions": captions[:1]}),
    ]


def stn_requests(card):
    import numpy as np

    rows = card["limits"]["max_rows"]
    images = np.random.default_rng(0).random((rows, *card["input_shape"])).astype(np.float32)
    return [(sig, f"{rows} images", {"images": images}, {"images": images[:1]})
            for sig in card["signatures"]]


REQUESTS = {"char": char_requests, "captioner": captioner_requests, "stn": stn_requests}


def run_cost(version, signature, request, warmup, folder):
    paths = [folder / "request.pkl", folder / "warmup.pkl"]
    for path, inputs in zip(paths, (request, warmup)):
        path.write_bytes(pickle.dumps(inputs))
    done = subprocess.run([sys.executable, str(HERE / "request_cost.py"), str(version), signature,
                           str(paths[0]), "--warmup", str(paths[1])], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"request_cost.py failed on {signature}: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    args = parse_args(argv)
    import keras

    from kerasrnn.cli import format_limits
    from kerasrnn.export.version_files import read_model_card
    from kerasrnn.kinds.registry import export_model

    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        given = {k: getattr(args, k) for k in KINDS if getattr(args, k)}
        kinds = [k for k in KINDS if not args.kind or k in args.kind]
        runs = untrained_runs(root, [k for k in kinds if k not in given], args.quick)
        runs.update({k: (pathlib.Path(v), v) for k, v in given.items()})
        print("# Largest allowed request per signature: peak memory above a warm server, and time\n")
        print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
              f"python benchmarks/bench_request_limits.py{' ' + ' '.join(sys.argv[1:]) if argv is None else ''}\n")
        print("| model | signature | largest allowed request | request MiB | peak growth MiB | seconds |")
        print("|---|---|---|---:|---:|---:|")
        for kind in kinds:
            directory, about = runs[kind]
            keras.utils.set_random_seed(0)
            limits = dict(QUICK_LIMITS[kind]) if args.quick else {}
            for name in LIMIT_FLAGS:
                if getattr(args, name) is not None:
                    limits[name] = getattr(args, name)
            card = read_model_card(export_model(directory, root / "saved_models", kind,
                                                **_applicable(kind, limits)))
            version = root / "saved_models" / kind / "1"
            for signature, what, request, warmup in REQUESTS[kind](card):
                size = sum(v.nbytes if v.dtype != object else sum(len(x) for x in v) for v in request.values())
                result = run_cost(version, signature, request, warmup, root)
                status = "" if result["ok"] else f" (REFUSED: {result['error']})"
                print(f"| {about} | {signature} | {what}{status} | {size / 2**20:.1f} | "
                      f"{result['growth_mib']:.0f} | {result['seconds']:.2f} |", flush=True)
            print(f"| | limits | {format_limits(card['limits'])} | | | |")
    return 0


def _applicable(kind, limits):
    from kerasrnn.kinds.captioner.limits import CaptionerLimits
    from kerasrnn.kinds.char_rnn.limits import CharLimits
    from kerasrnn.kinds.stn_classifier.limits import STNLimits

    names = {"char": CharLimits, "captioner": CaptionerLimits, "stn": STNLimits}[kind].option_names()
    return {k: v for k, v in limits.items() if k in names}


if __name__ == "__main__":
    sys.exit(main())
