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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--distortion", help="R, RTS, P, E or cluttered (default R)")
    p.add_argument("--model", help="st-cnn or cnn (default st-cnn)")
    p.add_argument("--transform", help="affine, projective or tps (default affine)")
    p.add_argument("--epochs", type=int, help="passes over the training images (default 10)")
    p.add_argument("--batch-size", type=int, help="images per batch (default 128)")
    p.add_argument("--optimizer", help="adam or sgd (momentum 0.9) (default adam)")
    p.add_argument("--lr", type=float, dest="learning_rate", help="learning rate (default 1e-3)")
    p.add_argument("--lr-decay", help="none or cosine (to 1%% of --lr over --epochs) (default none)")
    p.add_argument("--dropout", type=float,
                   help="dropout on the classifier's flattened features, in [0, 1) (default 0)")
    p.add_argument("--loc-lr-mult", type=float, dest="loc_lr_multiplier",
                   help="learning-rate multiplier of the transformer's localisation net (default 1; "
                        "docs/experiments.md compares 0.1, the paper's choice for SGD)")
    p.add_argument("--train-size", type=int, help="train on only the first N images (quick runs)")
    p.add_argument("--val-size", type=int, help="training images held out for validation (default 5000)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--time-limit", type=float, help="stop after this many minutes of wall time (> 0)")
    p.add_argument("--allow-large", action="store_true",
                   help="train even if one batch's activations need more than 2 GiB")
    p.add_argument("--mnist", help="mnist.npz or a folder with the idx .gz files (default: $KERASRNN_MNIST, else download)")
    p.add_argument("--out", required=True, help="run / model directory to write")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last backup; only --epochs, --lr and "
                        "--time-limit may differ from the run's settings")
    from kerasrnn.cli import add_distribution_flags

    add_distribution_flags(p)
    return p.parse_args(argv)


FLAGS_RENAMED = {"learning_rate": "--lr", "loc_lr_multiplier": "--loc-lr-mult"}


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import flags_of, run
    from kerasrnn.kinds.stn_classifier.config import STNConfig

    return run(lambda: train(args), flags_of(STNConfig, FLAGS_RENAMED),
               interrupted=f"interrupted; continue with: --out {args.out} --resume")


def train(args):
    from kerasrnn import run_dir
    from kerasrnn.cli import mnist_from_flags
    from kerasrnn.config_checks import time_limit_seconds
    from kerasrnn.train.distribution import choose_distribution
    from kerasrnn.kinds.stn_classifier.train import RESUMABLE, RUN_FORMAT, train_stn
    from kerasrnn.kinds.stn_classifier.config import STNConfig

    distribution = choose_distribution(  # before TensorFlow runs
        args.distribute, args.replicas, environ=os.environ, join_timeout=args.join_timeout)
    # Only the flags given: a new run takes STNConfig's defaults for the rest, a resumed one the run's.
    given = {k: v for k, v in vars(args).items() if k in STNConfig.__dataclass_fields__ and v is not None}
    max_seconds = time_limit_seconds(args.time_limit)
    config = given
    if not args.resume:
        config = STNConfig(**given)
        config.validate(allow_large=args.allow_large, replicas=distribution.replicas)
    else:  # a bad saved setting is damage to the run's config.json, not a bad flag
        run_dir.check_saved_settings(args.out, RUN_FORMAT, RESUMABLE, given)
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
