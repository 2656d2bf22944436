#!/usr/bin/env python
"""Train handwriting synthesis (Graves 2013, section 5): an LSTM that writes a given text as
pen strokes, through a soft window over the text and a mixture density output.

Examples:
  python training/train_handwriting.py --steps 200 --out runs/hw                 # synthetic lines
  python training/train_handwriting.py --preset paper --steps 20000 --out runs/hw-paper
  python training/train_handwriting.py --source iam-ondb --data-dir IAM-OnDB --out runs/hw-iam
  python training/train_handwriting.py --out runs/hw --resume --steps 4000       # continue a run

The lines are synthetic by default: texts shipped with the package written with the Hershey
fonts by random writers, made on the spot (no files, no network). --source iam-ondb reads
IAM-OnDB from --data-dir (its ascii/ and lineStrokes/ folders). The loss is the negative
log-likelihood in nats per point; the held-out lines' nats per point and per line are printed
at the end.
"""

import argparse
import os
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def parse_args(argv=None):
    from kerasrnn.cli import add_run_flags
    from kerasrnn.kinds.handwriting.config import PRESETS, RESUMABLE, HandwritingConfig

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="the model's sizes: paper (3 LSTMs of 400, K 10, M 20, batch 24) or cpu "
                        "(the defaults: 2 LSTMs of 128, K 10, M 20, batch 16); other flags override it")
    add_run_flags(p, HandwritingConfig, RESUMABLE)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import flags_of, run
    from kerasrnn.kinds.handwriting.config import HandwritingConfig

    return run(lambda: train(args), flags_of(HandwritingConfig),
               interrupted=f"interrupted; continue with: --out {args.out} --resume")


def train(args):
    from kerasrnn.cli import given_settings, run_settings
    from kerasrnn.config_checks import time_limit_seconds
    from kerasrnn.errors import InputError
    from kerasrnn.kinds.handwriting.config import (PRESETS, RESUMABLE, RUN_FORMAT,
                                                   HandwritingConfig)
    from kerasrnn.kinds.handwriting.train import train_handwriting
    from kerasrnn.train.distribution import choose_distribution

    if args.preset and args.resume:
        raise InputError("--preset starts a new run; a resumed run keeps its model")
    distribution = choose_distribution(  # before TensorFlow runs
        args.distribute, args.replicas, environ=os.environ, join_timeout=args.join_timeout)
    max_seconds = time_limit_seconds(args.time_limit)
    given = given_settings(args, HandwritingConfig)
    for name, value in PRESETS.get(args.preset, {}).items():  # the flags given override it
        if name not in given:
            setattr(args, name, value)
    config = run_settings(args, HandwritingConfig, RUN_FORMAT, RESUMABLE, distribution.replicas)
    if distribution.is_chief:
        print(f"training on {distribution.describe()}", flush=True)
    metrics = train_handwriting(config, None, args.out, resume=args.resume,
                                max_seconds=max_seconds, allow_large=args.allow_large,
                                distribution=distribution,
                                verbose=1 if distribution.is_chief else 0)
    if distribution.is_chief:
        speed = metrics["points_per_second"]
        speed = (f"{speed:,.0f} points/s" if speed is not None
                 else "speed not measured (too few steps)")
        print(f"done: {metrics['steps']} steps, held-out NLL {metrics['val_nats_per_point']:.3f} "
              f"nats per point, {metrics['val_nats_per_line']:,.1f} nats per line "
              f"({metrics['val_lines']} lines), {speed}; model in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
