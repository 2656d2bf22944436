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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", help="scenes, digits, flickr8k or coco (default scenes)")
    p.add_argument("--data-dir", help="where the dataset is (see above; default: its environment variable)")
    p.add_argument("--cell", help="vanilla, lstm or gru (default lstm)")
    p.add_argument("--attention", help="soft or hard (REINFORCE) (default soft)")
    p.add_argument("--epochs", type=int, help="passes over the training captions (default 10)")
    p.add_argument("--batch-size", type=int, help="captions per batch (default 32)")
    p.add_argument("--lr", type=float, dest="learning_rate", help="Adam learning rate (default 1e-3)")
    p.add_argument("--lr-decay", help="none or cosine (to 1%% of --lr over --epochs) (default none)")
    p.add_argument("--image-size", type=int, help="images are resized to S x S (default 64)")
    p.add_argument("--max-length", type=int, help="words kept per caption (default 16)")
    p.add_argument("--min-count", type=int, help="rarer training words become <unk> (default 1)")
    p.add_argument("--encoder",
                   help="'small' (a CNN trained from scratch) or a keras.applications name, e.g. MobileNetV2")
    p.add_argument("--encoder-kernels", type=lambda v: tuple(int(k) for k in v.split(",")),
                   help="small encoder: kernel size of each of its three convolutions (default 3,3,1)")
    p.add_argument("--encoder-poolings", type=lambda v: tuple(v.split(",")),
                   help="small encoder: the 2x2 pooling after each convolution, max or average "
                        "(default max,max,max)")
    p.add_argument("--encoder-weights", help="applications encoder: 'imagenet' (downloads) or a local weights file")
    p.add_argument("--encoder-layer", help="applications encoder: the layer whose grid is attended over")
    p.add_argument("--coordinates",
                   help="position appended to each annotation: cell (its own x, y), centroid (the centre "
                        "of the object around it) or none (default cell)")
    p.add_argument("--no-coordinates", dest="coordinates", action="store_const", const="none",
                   help="the same as --coordinates none (an ablation)")
    p.add_argument("--units", type=int, help="recurrent state size (default 128)")
    p.add_argument("--embedding-dim", type=int, help="word embedding size (default 64)")
    p.add_argument("--attention-units", type=int, help="attention scoring size (default 64)")
    p.add_argument("--dropout", type=float, help="dropout before the output layer (default 0)")
    p.add_argument("--doubly-stochastic", type=float,
                   help="weight of the paper's attention regulariser (default 0; the paper uses 1)")
    p.add_argument("--attention-supervision", type=float,
                   help="scenes/digits: weight of a loss pulling each naming word's attention into its "
                        "object's box (Liu et al. 2017; not in Show, Attend and Tell) (default 0)")
    p.add_argument("--beam", type=int, dest="beam_width", help="beam width scored (default 3)")
    p.add_argument("--train-count", type=int, help="scenes/digits: training images drawn")
    p.add_argument("--test-count", type=int, help="scenes/digits: validation and test images drawn")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--time-limit", type=float, help="stop training after this many minutes of wall time (> 0)")
    p.add_argument("--allow-large", action="store_true",
                   help="train even if the weights, one batch's activations or the generated images "
                        "need more than 2 GiB")
    p.add_argument("--out", required=True, help="run / model directory to write")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last backup; only --epochs, --lr and "
                        "--time-limit may differ from the run's settings")
    from kerasrnn.cli import add_distribution_flags

    add_distribution_flags(p)
    return p.parse_args(argv)


FLAGS_RENAMED = {"learning_rate": "--lr", "beam_width": "--beam"}


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import flags_of, run
    from kerasrnn.kinds.captioner.config import CaptionerConfig

    return run(lambda: train(args), flags_of(CaptionerConfig, FLAGS_RENAMED),
               interrupted=f"interrupted; continue with: --out {args.out} --resume")


def train(args):
    from kerasrnn import run_config
    from kerasrnn.config_checks import time_limit_seconds
    from kerasrnn.kinds.captioner.train import RESUMABLE, RUN_FORMAT, train_captioner
    from kerasrnn.train.distribution import choose_distribution
    from kerasrnn.kinds.captioner.config import CaptionerConfig

    distribution = choose_distribution(  # before TensorFlow runs
        args.distribute, args.replicas, environ=os.environ, join_timeout=args.join_timeout)
    if args.data_dir is None and args.dataset in DATA_ENV and not args.resume:
        args.data_dir = os.environ.get(DATA_ENV[args.dataset])
    # Only the flags given: a new run takes CaptionerConfig's defaults for the rest, a resumed
    # one the run's.
    given = {k: v for k, v in vars(args).items()
             if k in CaptionerConfig.__dataclass_fields__ and v is not None}
    max_seconds = time_limit_seconds(args.time_limit)
    config = given
    if not args.resume:
        config = CaptionerConfig(**given)
        config.validate(allow_large=args.allow_large, replicas=distribution.replicas)
    else:  # a bad saved setting is damage to the run's config.json, not a bad flag
        run_config.check_saved_settings(args.out, RUN_FORMAT, RESUMABLE, given)
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
