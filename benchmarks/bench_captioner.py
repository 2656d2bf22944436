#!/usr/bin/env python
"""Captioning throughput: greedy decoding and beam search (beam 3), batch 1 and 32, in one run.

Rows, as ratios to greedy at batch 1 (same run, round-robin rounds, best of N):
  greedy  `kerasrnn.kinds.captioner.model.greedy_decode`, one call per batch (batched decoding)
  beam-3  `kerasrnn.kinds.captioner.model.beam_search_batch(beam_width=3)`, one call per batch (all
          beams of all images in each decoder step)
on captioned-scene images at the model's input size.

By default the model is an untrained `build_captioner` (64-pixel images, 30 words plus the 4
special tokens, default sizes). An untrained model says nothing sensible, so its `<end>` is
replaced by an id it cannot emit and every caption runs to --max-length tokens: the numbers are a
worst case. With --model, a trained captioner run directory is used (`model.keras`, `vocab.json`)
and captions stop at `<end>` as they do in use.

Usage:
  python benchmarks/bench_captioner.py                 # about 1.5 minutes on 2 cores
  python benchmarks/bench_captioner.py --model runs/captioner
  python benchmarks/bench_captioner.py --quick         # smoke test: every row, tiny timings
"""

import argparse
import json
import os
import pathlib
import platform
import sys
import time

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept

from _shared import best_of_rounds  # noqa: E402

BATCHES = (1, 32)
BEAM_WIDTH = 3
METHODS = ("greedy", f"beam-{BEAM_WIDTH}")
DEFAULT_IMAGE_SIZE, DEFAULT_WORDS, DEFAULT_MAX_LENGTH = 64, 30, 16


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a trained captioner run directory (model.keras, vocab.json); "
                                   "default: an untrained model, worst case")
    p.add_argument("--max-length", type=int, default=None,
                   help="most tokens per caption, <end> included (default: the run's config.json "
                        f"model.max_length + 1, else {DEFAULT_MAX_LENGTH})")
    p.add_argument("--seconds", type=float, default=8.0,
                   help="timed seconds per row, split over the rounds (default 8)")
    p.add_argument("--rounds", type=int, default=3, help="round-robin repetitions; the best is reported (default 3)")
    p.add_argument("--quick", action="store_true", help="tiny timings and short captions, to check the script runs")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def load_or_build(args):
    """Returns `(model, start_id, end_id, max_length, description)`."""
    import keras

    from kerasrnn.kinds.captioner.vocab import END, START, CaptionVocabulary
    from kerasrnn.kinds.captioner.model import build_captioner

    if args.model:
        import kerasrnn.layers  # noqa: F401  (registers the custom layers for loading)

        run = pathlib.Path(args.model)
        model = keras.saving.load_model(run / "model.keras")
        vocab = CaptionVocabulary.load(run)
        max_length = args.max_length
        if max_length is None and (run / "config.json").is_file():  # as train_captioner.py decodes
            words = json.loads((run / "config.json").read_text()).get("model", {}).get("max_length")
            max_length = words + 1 if words else None  # the words and <end>
        max_length = max_length or DEFAULT_MAX_LENGTH
        return (model, vocab.id(START), vocab.id(END), max_length,
                f"{run / 'model.keras'} ({len(vocab)} ids); captions stop at <end>")
    vocab = CaptionVocabulary([f"word{i}" for i in range(DEFAULT_WORDS)])
    max_length = args.max_length or (3 if args.quick else DEFAULT_MAX_LENGTH)
    model = build_captioner(len(vocab), DEFAULT_IMAGE_SIZE, max_length)
    return (model, vocab.id(START), -1, max_length,
            f"UNTRAINED default model ({DEFAULT_IMAGE_SIZE}-pixel images, {len(vocab)} ids): untrained "
            f"models emit max-length captions (here <end> cannot be emitted), so the numbers are "
            f"a worst case")


def processor_name():
    """The CPU's name: `platform.processor()`, else Linux's /proc/cpuinfo, else the architecture."""
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if not platform.processor() and cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def decode_runner(decode, images):
    """Calls `decode(images)` once (warm-up), times it; returns `(run(seconds) -> captions/s, lengths)`.

    `lengths` is the mean caption length in tokens of the warm-up call, `<end>` included.
    """
    captions = decode(images)
    lengths = sum(len(c.tokens) for c in captions) / len(captions)
    start = time.perf_counter()
    decode(images)
    per_call = time.perf_counter() - start

    def run(seconds):
        n = max(1, int(seconds / per_call))
        start = time.perf_counter()
        for _ in range(n):
            decode(images)
        return n * len(images) / (time.perf_counter() - start)

    return run, lengths


def main(argv=None):
    args = parse_args(argv)
    import keras
    import numpy as np

    from kerasrnn.kinds.captioner.scenes import captioned_scenes
    from kerasrnn.kinds.captioner.model import beam_search_batch, greedy_decode

    keras.utils.set_random_seed(args.seed)
    seconds = 0.05 if args.quick else args.seconds
    rounds = 1 if args.quick else args.rounds
    model, start_id, end_id, max_length, description = load_or_build(args)
    image_size = int(model.inputs[0].shape[1])  # build_captioner's first input: images (B, S, S, 3)
    scenes = captioned_scenes(max(BATCHES), seed=args.seed, size=image_size)
    images = np.stack([s.image for s in scenes]).astype("float32") / 255.0

    def greedy(batch):
        return greedy_decode(model, batch, start_id, end_id, max_length)

    def beam(batch):
        return beam_search_batch(model, batch, start_id, end_id, max_length, BEAM_WIDTH)

    wall = time.perf_counter()
    runners, lengths = {}, {}
    for method, decode in zip(METHODS, (greedy, beam)):
        for batch in BATCHES:
            runners[(method, batch)], lengths[(method, batch)] = decode_runner(decode, images[:batch])
    best = best_of_rounds(runners, seconds, rounds)
    wall = time.perf_counter() - wall
    reference = best[(METHODS[0], 1)]

    print(f"\n$ python benchmarks/bench_captioner.py {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip())
    print(f"machine: {processor_name()}, os.cpu_count() = {os.cpu_count()}; "
          f"Keras {keras.__version__} ({keras.backend.backend()} backend)")
    print(f"model: {description}")
    print(f"\nCaptions/s, {image_size}x{image_size} scene images, at most {max_length} tokens "
          f"(<end> included); best of "
          f"{rounds} round-robin rounds; ratios to greedy at batch 1, same run\n")
    print("| decoding | batch | captions/s | vs greedy batch 1 | tokens/caption |")
    print("|---|---:|---:|---:|---:|")
    for method in METHODS:
        for batch in BATCHES:
            cps = best[(method, batch)]
            print(f"| {method} | {batch} | {cps:,.1f} | {cps / reference:.2f}x | {lengths[(method, batch)]:.1f} |")
    print(f"\nwall time {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
