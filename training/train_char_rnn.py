#!/usr/bin/env python
"""Train a character-level language model (min-char-rnn and up) and print samples as it learns.

Examples:
  python training/train_char_rnn.py --preset demo --out runs/demo          # Python stdlib corpus
  python training/train_char_rnn.py --preset min-char-rnn --steps 20000 --out runs/mcr
  python training/train_char_rnn.py --text input.txt --cell gru --layers 2 --hidden 256 \\
      --optimizer adam --lr 2e-3 --epochs 10 --out runs/gru
  python training/train_char_rnn.py --out runs/demo --resume --steps 3000   # continue a run

Without --text the model trains on this Python's own standard-library sources.
Set KERASRNN_TINY_SHAKESPEARE=PATH and pass --text tiny-shakespeare to use a local copy of
tiny-shakespeare (otherwise it is fetched through TFDS, which needs the network).
"""

import argparse
import os
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def parse_args(argv=None):
    from kerasrnn.cli import add_run_flags
    from kerasrnn.kinds.char_rnn.config import RESUMABLE
    from kerasrnn.kinds.char_rnn.config import CharRNNConfig
    from kerasrnn.kinds.char_rnn.train import PRESETS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), help="start from a named set of hyper-parameters; other flags override it")
    p.add_argument("--text", help="training text file, or 'tiny-shakespeare' (default: the Python stdlib corpus)")
    p.add_argument("--encoding", default="utf-8", help="encoding of --text (default utf-8)")
    add_run_flags(p, CharRNNConfig, RESUMABLE)
    return p.parse_args(argv)


def given_settings(args):
    """The `CharRNNConfig` settings the command line sets: the preset's, then the flags given."""
    from kerasrnn.cli import given_settings as flags_given
    from kerasrnn.kinds.char_rnn.config import CharRNNConfig
    from kerasrnn.kinds.char_rnn.train import PRESETS

    values = {**PRESETS.get(args.preset, {}), **flags_given(args, CharRNNConfig)}
    if args.epochs is not None:
        values.pop("steps", None)
    return values


def build_config(args):
    """A new run's `CharRNNConfig`: `given_settings`, `DEFAULT_STEPS` long unless given a length."""
    from kerasrnn.kinds.char_rnn.config import DEFAULT_STEPS, CharRNNConfig

    values = given_settings(args)
    if values.get("steps") is None and values.get("epochs") is None:
        values["steps"] = DEFAULT_STEPS
    return CharRNNConfig(**values)


def load_training_text(args):
    from kerasrnn.kinds.char_rnn.corpus import python_stdlib_corpus
    from kerasrnn.kinds.char_rnn.text import read_text_file
    from kerasrnn.errors import InputError

    if args.text is None:
        return python_stdlib_corpus(), "Python standard library sources (embedded default)"
    if args.text == "tiny-shakespeare":
        local = os.environ.get("KERASRNN_TINY_SHAKESPEARE")
        if local:
            return read_text_file(local, args.encoding), local
        try:
            import tensorflow_datasets as tfds
            ds = tfds.load("tiny_shakespeare", split="train", batch_size=-1)
            return tfds.as_numpy(ds)["text"][0].decode("utf-8"), "TFDS tiny_shakespeare"
        except Exception as e:
            raise InputError(f"could not load tiny_shakespeare through TFDS ({type(e).__name__}); "
                             "offline, set KERASRNN_TINY_SHAKESPEARE=/path/to/input.txt") from None
    return read_text_file(args.text, args.encoding), args.text


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import flags_of, run
    from kerasrnn.kinds.char_rnn.config import CharRNNConfig

    return run(lambda: train(args), flags_of(CharRNNConfig),
               interrupted=f"interrupted; continue with: --out {args.out} --resume")


def train(args):
    from kerasrnn.config_checks import time_limit_seconds
    from kerasrnn.kinds.char_rnn.train import train_char_rnn
    from kerasrnn.train.distribution import choose_distribution

    distribution = choose_distribution(  # before TensorFlow runs
        args.distribute, args.replicas, environ=os.environ, join_timeout=args.join_timeout)
    max_seconds = time_limit_seconds(args.time_limit)
    if args.resume:
        config = given_settings(args)  # the rest comes from the run (checked there)
    else:
        config = build_config(args)
        config.validate(allow_large=args.allow_large, replicas=distribution.replicas)
    text, source = load_training_text(args)
    if distribution.is_chief:
        print(f"text: {source}, {len(text):,} characters, {len(set(text))} distinct")
        print(f"training on {distribution.describe()}", flush=True)

    def show(epoch, step, sample):
        print(f"\n----- sample after step {step} -----\n{sample}\n-----", flush=True)

    metrics = train_char_rnn(config, text, args.out, resume=args.resume, on_sample=show,
                             max_seconds=max_seconds, allow_large=args.allow_large,
                             distribution=distribution, verbose=1 if distribution.is_chief else 0)
    if not distribution.is_chief:
        return
    val = f"val {metrics['val_loss']:.4f} nats/char ({metrics['val_bpc']:.3f} bits/char), " if metrics["val_loss"] else ""
    speed = metrics["chars_per_second"]
    speed = f"{speed:,.0f} chars/s" if speed is not None else "speed not measured (too few steps)"
    print(f"done: {metrics['steps']} steps, train {metrics['train_loss']:.4f} nats/char, {val}"
          f"{speed}; model in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
