#!/usr/bin/env python
"""Train DRAW (Gregor et al. 2015), the recurrent network that draws, on binarized MNIST.

Examples:
  python training/train_draw.py --mnist mnist.npz --epochs 20 --out runs/draw
  python training/train_draw.py --preset paper --epochs 50 --out runs/draw-paper   # T=64, 256, z 100
  python training/train_draw.py --no-attention --out runs/draw-plain               # the paper's baseline
  python training/train_draw.py --out runs/draw --resume --epochs 40               # continue a run

MNIST comes from --mnist PATH (a mnist.npz, or a folder with the four idx .gz files), else the
environment variable KERASRNN_MNIST, else TFDS / keras.datasets (which need the network).
The loss is the bound on the negative log-likelihood in nats; the test set's is printed at the end.
"""

import argparse
import os
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def parse_args(argv=None):
    from kerasrnn.cli import add_run_flags
    from kerasrnn.kinds.draw.config import RESUMABLE
    from kerasrnn.kinds.draw.config import PRESETS, DRAWConfig

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="the model's sizes: paper (T=64, LSTMs of 256, z 100, read 2, write 5) or "
                        "small (the defaults); other flags override it")
    p.add_argument("--mnist", help="mnist.npz or a folder with the idx .gz files (default: $KERASRNN_MNIST, else download)")
    add_run_flags(p, DRAWConfig, RESUMABLE)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import flags_of, run
    from kerasrnn.kinds.draw.config import DRAWConfig

    return run(lambda: train(args), flags_of(DRAWConfig),
               interrupted=f"interrupted; continue with: --out {args.out} --resume")


def train(args):
    from kerasrnn.cli import given_settings, mnist_from_flags, run_settings
    from kerasrnn.config_checks import time_limit_seconds
    from kerasrnn.errors import InputError
    from kerasrnn.kinds.draw.config import PRESETS, DRAWConfig
    from kerasrnn.kinds.draw.config import RESUMABLE, RUN_FORMAT
    from kerasrnn.kinds.draw.train import train_draw
    from kerasrnn.train.distribution import choose_distribution

    if args.preset and args.resume:
        raise InputError("--preset starts a new run; a resumed run keeps its model")
    distribution = choose_distribution(  # before TensorFlow runs
        args.distribute, args.replicas, environ=os.environ, join_timeout=args.join_timeout)
    max_seconds = time_limit_seconds(args.time_limit)
    given = given_settings(args, DRAWConfig)
    for name, value in PRESETS.get(args.preset, {}).items():  # the flags given override it
        if name not in given:
            setattr(args, name, value)
    config = run_settings(args, DRAWConfig, RUN_FORMAT, RESUMABLE, distribution.replicas)
    data = mnist_from_flags(args.mnist)
    if distribution.is_chief:
        print(f"training on {distribution.describe()}", flush=True)
    metrics = train_draw(config, data, args.out, resume=args.resume, max_seconds=max_seconds,
                         allow_large=args.allow_large, distribution=distribution,
                         verbose=1 if distribution.is_chief else 0)
    if distribution.is_chief:
        speed = metrics["images_per_second"]
        speed = f"{speed:,.0f} images/s" if speed is not None else "speed not measured (too few steps)"
        print(f"done: {metrics['epochs']} epochs, test NLL <= {metrics['test_nll_bound_nats']:.2f} "
              f"nats (sampled z; test set binarized once with a fixed seed), {speed}; model in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
