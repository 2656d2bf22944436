#!/usr/bin/env python
"""Generate text from a trained char model.

Example:
  python training/sample_char_rnn.py --model runs/demo --prime "def " --length 500 \\
      --temperature 0.8 --top-k 20 --seed 1

The same --seed gives the same text; --temperature 0 always takes the most likely character.
Only the model directory is needed (its vocab.json travels with it), not the training text.
"""

import argparse
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model directory written by train_char_rnn.py --out")
    p.add_argument("--prime", default="\n", help="text to start from (default: a newline)")
    p.add_argument("--length", type=int, default=500, help="characters to generate (default 500)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = argmax; <1 safer, >1 wilder (default 1)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest characters (default 0 = all)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: sample(args), ["prime", "length", "temperature", "top_k", "seed"])


def sample(args):
    from kerasrnn.kinds.char_rnn.sampling import check_arguments, generate
    from kerasrnn.kinds.char_rnn.trained import load_char_model

    check_arguments(args.prime, args.length, args.temperature, args.top_k, args.seed)
    step_model, vocab, _ = load_char_model(args.model, with_state=True)
    text = generate(step_model, vocab, args.prime, args.length, args.temperature, args.top_k, args.seed)
    sys.stdout.write(args.prime + text + "\n")


if __name__ == "__main__":
    sys.exit(main())
