#!/usr/bin/env python
"""Score a trained captioner again on its test split: BLEU-1..4 greedy and beam, exact captions,
and on the generated sets attention localisation with its chance level.

Examples:
  python training/evaluate_captioner.py --model runs/cap-scenes
  python training/evaluate_captioner.py --model runs/cap-f8k --beam 5 --out runs/cap-f8k/eval-beam5.json
  python training/evaluate_captioner.py --model runs/cap-scenes --split val --length-penalty 0.7

The run's `metrics.json` is left as it was; `--out` writes the results to a new JSON file (an
existing file is not overwritten).
"""

import argparse
import json
import pathlib
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a run directory written by train_captioner.py")
    p.add_argument("--beam", type=int, help="beam width scored beside greedy (default: the run's)")
    p.add_argument("--length-penalty", type=float, default=None,
                   help="beam search's alpha in log_prob / len ** alpha (default: the package's, 0)")
    p.add_argument("--split", default="test", help="test (default) or val, to choose settings on")
    p.add_argument("--out", help="JSON file to write the results to (must not exist)")
    return p.parse_args(argv)


def _rounded(value):
    """`value` with every float in it, nested dicts too, rounded to 4 decimals for printing."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return round(value, 4) if isinstance(value, float) else value


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: evaluate(args), {"beam_width": "--beam", "split": "--split",
                                        "length_penalty": "--length-penalty"})


def evaluate(args):
    from kerasrnn.errors import InputError
    from kerasrnn.files import write_json_atomic
    from kerasrnn.kinds.captioner.train import evaluate_run

    out = pathlib.Path(args.out) if args.out else None
    if out is not None and out.exists():
        raise InputError(f"{out} exists; give a new --out file (results are never overwritten)")
    if out is not None and not out.parent.is_dir():
        raise InputError(f"folder {out.parent} does not exist; create it or pick another --out")
    penalty = {} if args.length_penalty is None else {"length_penalty": args.length_penalty}
    results = evaluate_run(args.model, args.beam, split=args.split, **penalty)
    if out is not None:
        write_json_atomic(out, results, "free disk space or choose another --out")
    shown = {k: v for k, v in results.items() if k != "samples"}
    print(json.dumps(_rounded(shown), indent=1, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
