#!/usr/bin/env python
"""Train a Show-Attend-Tell captioner (soft or hard attention) and score it on the test split.

Examples:
  python training/train_captioner.py --dataset scenes --epochs 10 --out runs/cap-scenes
  python training/train_captioner.py --dataset digits --data-dir mnist.npz --out runs/cap-digits
  python training/train_captioner.py --dataset flickr8k --data-dir Flickr8k --cell lstm --out runs/cap-f8k
  python training/train_captioner.py --dataset scenes --attention hard --out runs/cap-hard
  python training/train_captioner.py --dataset scenes --attention-supervision 0.1 --out runs/cap-sup  # boxes in training
  python training/train_captioner.py --out runs/cap-scenes --resume --epochs 20   # continue a run

Datasets: `scenes` is generated and needs nothing. `digits` needs MNIST (--data-dir a mnist.npz
or idx folder, else $KERASRNN_MNIST, else download). `flickr8k` needs a folder with
Flickr8k.token.txt, the split lists and the images (--data-dir, else $KERASRNN_FLICKR8K). `coco`
needs a folder with annotations/captions_*2017.json and the image folders (--data-dir, else
$KERASRNN_COCO, else TFDS coco_captions). metrics.json gets BLEU-1..4 (greedy and beam),
exact-caption accuracy and, on scenes and digits, attention localisation.
"""

import argparse
import os
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept

DATA_ENV = {"digits": "KERASRNN_MNIST", "flickr8k": "KERASRNN_FLICKR8K", "coco": "KERASRNN_COCO"}


def parse_args(argv=None):
    from kerasrnn.cli import add_run_flags
    from kerasrnn.kinds.captioner.config import RESUMABLE
    from kerasrnn.kinds.captioner.config import CaptionerConfig

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_flags(p, CaptionerConfig, RESUMABLE, large="the weights, one batch's activations or the generated images")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import flags_of, run
    from kerasrnn.kinds.captioner.config import CaptionerConfig

    return run(lambda: train(args), flags_of(CaptionerConfig),
               interrupted=f"interrupted; continue with: --out {args.out} --resume")


def train(args):
    from kerasrnn.cli import run_settings
    from kerasrnn.config_checks import time_limit_seconds
    from kerasrnn.kinds.captioner.config import CaptionerConfig
    from kerasrnn.kinds.captioner.config import RESUMABLE, RUN_FORMAT
    from kerasrnn.kinds.captioner.train import train_captioner
    from kerasrnn.train.distribution import choose_distribution

    distribution = choose_distribution(  # before TensorFlow runs
        args.distribute, args.replicas, environ=os.environ, join_timeout=args.join_timeout)
    if args.data_dir is None and args.dataset in DATA_ENV and not args.resume:
        args.data_dir = os.environ.get(DATA_ENV[args.dataset])
    max_seconds = time_limit_seconds(args.time_limit)
    config = run_settings(args, CaptionerConfig, RUN_FORMAT, RESUMABLE, distribution.replicas)
    if distribution.is_chief:
        print(f"training on {distribution.describe()}", flush=True)
    m = train_captioner(config, args.out, resume=args.resume, max_seconds=max_seconds,
                        allow_large=args.allow_large, distribution=distribution,
                        verbose=1 if distribution.is_chief else 0)
    if not distribution.is_chief:
        return
    for sample in m["samples"][:3]:
        print(f"  {sample['caption']!r}   (reference: {sample['references'][0]!r})")

    def bleu(prefix):
        return " / ".join(f"{100 * m[f'{prefix}bleu{n}']:.1f}" for n in range(1, 5))

    local = (f", localisation {m['localization_pct']:.1f}% (chance {m['localization_chance_pct']:.1f}%)"
             if "localization_pct" in m else "")
    print(f"done: {m['epochs']} epochs; test BLEU-1..4 greedy {bleu('')}, beam-{m['beam_width']} "
          f"{bleu('beam_')}; exact captions {m['exact_caption_pct']:.1f}%{local}; model in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
