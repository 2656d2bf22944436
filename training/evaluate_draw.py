#!/usr/bin/env python
"""Score a trained DRAW model on the MNIST test set: the bound on the negative log-likelihood (as
training reports it) and an importance-weighted estimate of the negative log-likelihood with
--samples z per image (Burda et al. 2016), in nats.

Examples:
  python training/evaluate_draw.py --model runs/draw --mnist mnist.npz
  python training/evaluate_draw.py --model runs/draw --samples 100 --out runs/draw/iw100.json
  python training/evaluate_draw.py --model runs/draw --test-size 1000 --samples 10   # quick look

The test images are binarized as training binarizes its test set (the same fixed seed), so
`nll_bound` here is the run's `test_nll_bound_nats`. MNIST comes from --mnist PATH, else the
environment variable KERASRNN_MNIST, else TFDS / keras.datasets (which need the network). The run's
`metrics.json` is left as it was; --out writes the results to a new JSON file (an existing file is
not overwritten).
"""

import argparse
import json
import pathlib
import sys
import time

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="run directory written by train_draw.py")
    p.add_argument("--mnist", help="mnist.npz or a folder with the idx .gz files (default: $KERASRNN_MNIST, else download)")
    p.add_argument("--samples", type=int, default=50, help="z drawn per image for the importance-weighted estimate (default 50)")
    p.add_argument("--test-size", type=int, help="score only the first N test images (default all)")
    p.add_argument("--batch-size", type=int, default=20,
                   help="test images per pass; a pass runs batch-size x samples rows (default 20)")
    p.add_argument("--out", help="JSON file to write the results to (must not exist)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: evaluate(args), {"samples": "--samples", "test_size": "--test-size",
                                        "batch_size": "--batch-size"})


def evaluate(args):
    from kerasrnn.cli import mnist_from_flags
    from kerasrnn.config_checks import check_int
    from kerasrnn.errors import InputError
    from kerasrnn.files import write_json_atomic

    check_int("samples", args.samples)
    check_int("batch_size", args.batch_size)
    if args.test_size is not None:
        check_int("test_size", args.test_size)
    out = pathlib.Path(args.out) if args.out else None
    if out is not None and out.exists():
        raise InputError(f"{out} exists; give a new --out file (results are never overwritten)")
    if out is not None and not out.parent.is_dir():
        raise InputError(f"folder {out.parent} does not exist; create it or pick another --out")

    from kerasrnn.kinds.draw.scores import test_scores
    from kerasrnn.kinds.draw.trained import load_draw

    model, config = load_draw(args.model)
    _, (test_images, _) = mnist_from_flags(args.mnist)
    images = test_images[:args.test_size]
    start = time.perf_counter()
    results = test_scores(model, config["model"], images, args.samples, batch_size=args.batch_size)
    results.update(samples=args.samples, seconds=round(time.perf_counter() - start, 1),
                   binarization="fixed with the test seed (as training scores its test set)")
    if out is not None:
        write_json_atomic(out, results, "free disk space or choose another --out")
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()},
                     indent=1, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
