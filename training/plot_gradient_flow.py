#!/usr/bin/env python
"""Plot ||dL_T/ds_t|| against distance T-t for vanilla, LSTM and GRU char models (PNG).

The loss of the last prediction is differentiated with respect to the recurrent state of
every earlier step; a curve that falls steeply means gradients vanish, one that rises means
they explode. Fresh (untrained) models by default; pass trained model directories with --model.

Examples:
  python training/plot_gradient_flow.py --out gradient_flow.png
  python training/plot_gradient_flow.py --model runs/vanilla --model runs/lstm --out trained.png
"""

import argparse
import pathlib
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", nargs="+", default=["vanilla", "lstm", "gru"], choices=["vanilla", "lstm", "gru"],
                   help="fresh models to measure (default: all three)")
    p.add_argument("--vanilla-gains", nargs="*", type=float, default=[1.0, 2.0],
                   help="extra fresh vanilla curves with the recurrent matrix scaled by these factors (default 1 2)")
    p.add_argument("--model", action="append", default=[], help="trained model directory (repeatable)")
    p.add_argument("--text", help="text whose windows are fed in (default: the Python stdlib corpus)")
    p.add_argument("--hidden", type=int, default=128, help="hidden size of the fresh models (default 128)")
    p.add_argument("--layers", type=int, default=1, help="layers of the fresh models (default 1)")
    p.add_argument("--seq-length", type=int, default=100, help="steps T (default 100)")
    p.add_argument("--batch-size", type=int, default=16, help="windows averaged over (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="PNG file to write")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: plot(args), [])


def plot(args):
    import numpy as np

    from kerasrnn.kinds.char_rnn.corpus import python_stdlib_corpus
    from kerasrnn.kinds.char_rnn.text import Vocabulary, read_text_file
    from kerasrnn.errors import InputError
    from kerasrnn.kinds.char_rnn.gradient_flow import fresh_step_model, state_gradient_norms
    from kerasrnn.kinds.char_rnn.trained import load_char_model
    from kerasrnn.viz import plot_gradient_norms

    out = pathlib.Path(args.out)
    if out.suffix.lower() != ".png":
        raise InputError(f"--out must be a .png file, got {out}")
    if args.seq_length < 2 or args.batch_size < 1:
        raise InputError("--seq-length must be >= 2 and --batch-size >= 1")
    text = read_text_file(args.text) if args.text else python_stdlib_corpus(max_bytes=500_000)
    rng = np.random.default_rng(args.seed)

    def windows(vocab):
        ids = vocab.encode("".join(c for c in text if c in vocab.index))
        starts = rng.integers(0, len(ids) - args.seq_length - 1, args.batch_size)
        return np.stack([ids[s : s + args.seq_length + 1] for s in starts])

    curves = {}
    vocab = Vocabulary.from_text(text)
    for cell in args.cells:
        gains = args.vanilla_gains if cell == "vanilla" and args.vanilla_gains else [None]
        for gain in gains:
            model = fresh_step_model(cell, len(vocab), args.hidden, args.layers, gain, args.seed)
            label = f"{cell}, fresh" + (f", recurrent x{gain:g}" if gain is not None else "")
            curves[label] = state_gradient_norms(model, windows(vocab))
    for directory in args.model:
        model, model_vocab, config = load_char_model(directory, with_state=True)
        label = f"{config['model']['cell']}, trained ({pathlib.Path(directory).name})"
        curves[label] = state_gradient_norms(model, windows(model_vocab))
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_gradient_norms(curves, out)
    print(f"{'curve':<40} {'d=0':>10} {'d=10':>10} {'d=50':>10} {'d=T-1':>10}  ratio T-1/0")
    for label, norms in curves.items():
        picks = [norms[min(d, len(norms) - 1)] for d in (0, 10, 50, len(norms) - 1)]
        print(f"{label:<40} " + " ".join(f"{v:10.2e}" for v in picks) + f"  {norms[-1] / norms[0]:10.2e}")
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
