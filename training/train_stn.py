#!/usr/bin/env python
"""Train the ST-CNN (spatial transformer + CNN) or the plain CNN on distorted MNIST.

Examples:
  python training/train_stn.py --mnist mnist.npz --distortion R --model st-cnn --epochs 10 --out runs/stn-R
  python training/train_stn.py --distortion RTS --model cnn --epochs 10 --out runs/cnn-RTS
  python training/train_stn.py --out runs/stn-R --resume --epochs 20      # continue a run

MNIST comes from --mnist PATH (a mnist.npz, or a folder with the four idx .gz files), else the
environment variable KERASRNN_MNIST, else TFDS / keras.datasets (which need the network).
"""

import argparse
import os
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def parse_args(argv=None):
    from kerasrnn.cli import add_run_flags
    from kerasrnn.kinds.stn_classifier.config import RESUMABLE
    from kerasrnn.kinds.stn_classifier.config import STNConfig

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mnist", help="mnist.npz or a folder with the idx .gz files (default: $KERASRNN_MNIST, else download)")
    add_run_flags(p, STNConfig, RESUMABLE, large="one batch's activations")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import flags_of, run
    from kerasrnn.kinds.stn_classifier.config import STNConfig

    return run(lambda: train(args), flags_of(STNConfig),
               interrupted=f"interrupted; continue with: --out {args.out} --resume")


def train(args):
    from kerasrnn.cli import mnist_from_flags, run_settings
    from kerasrnn.config_checks import time_limit_seconds
    from kerasrnn.kinds.stn_classifier.config import STNConfig
    from kerasrnn.kinds.stn_classifier.config import RESUMABLE, RUN_FORMAT
    from kerasrnn.kinds.stn_classifier.train import train_stn
    from kerasrnn.train.distribution import choose_distribution

    distribution = choose_distribution(  # before TensorFlow runs
        args.distribute, args.replicas, environ=os.environ, join_timeout=args.join_timeout)
    max_seconds = time_limit_seconds(args.time_limit)
    config = run_settings(args, STNConfig, RUN_FORMAT, RESUMABLE, distribution.replicas)
    data = mnist_from_flags(args.mnist)
    if distribution.is_chief:
        print(f"training on {distribution.describe()}", flush=True)
    metrics = train_stn(config, data, args.out, resume=args.resume, max_seconds=max_seconds,
                        allow_large=args.allow_large, distribution=distribution,
                        verbose=1 if distribution.is_chief else 0)
    if distribution.is_chief:
        speed = metrics["images_per_second"]
        speed = f"{speed:,.0f} images/s" if speed is not None else "speed not measured (too few steps)"
        print(f"done: {metrics['epochs']} epochs, test error {metrics['test_error_pct']:.2f}%, "
              f"{speed}; model in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
