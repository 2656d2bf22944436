#!/usr/bin/env python
"""Prove an exported model version computes what the trained Keras model computes.

Example:
  python export/verify.py saved_models/shakespeare/1

Loads the Keras model from the run directory the version's model card names (or --model), the
SavedModel and the ONNX files, runs fixed inputs through all three and prints one line per
check, after the version's request limits and the ONNX runtimes it checks the ONNX files in.
Exit status 0: all checks hold; 1: a mismatch; 2: a bad argument, directory or damaged file, or
a version whose request limits refuse even the smallest requests verify sends. verify's requests
keep to the version's limits (fewer rows, a shorter prime and text where they are tight).

ONNX runtimes: every ONNX file is run in ONNX Runtime (Python), OpenVINO (CPU, with
INFERENCE_PRECISION_HINT f32) and ONNX Runtime for Node.js (`node` and export/node/'s
onnxruntime-node), each where installed; the "Keras vs ONNX" checks give each one's max |delta|
(limit 1e-4 for all) and the lines above them name those not installed and why.

Char model:
  * one `step` on fixed tokens and random states: max |delta| of logits and states <= 1e-4,
    Keras vs SavedModel and Keras vs ONNX;
  * argmax text (temperature 0): the package's Keras-side `generate`, the SavedModel's
    `generate` and the ONNX Runtime driver give the same characters;
  * sampled text (--temperature, --top-k, --seed): the SavedModel twice, the SavedModel as row 2
    of a batch, the ONNX driver, and the Keras step model sampled with the package's
    `choose_next` from the same seeded numbers give the same characters. (The same seed gives
    another text in training/sample_char_rnn.py, whose numbers come from numpy's PCG64.)
STN classifier: logits and probabilities (<= 1e-4), predicted classes, and for the ST-CNN the
rectified images (<= 1e-4), Keras vs SavedModel vs ONNX, on fixed random images.
Captioner: teacher-forced logits and attention (<= 1e-4; the ONNX driver, and the encoder and
one decoder step in every ONNX runtime), then greedy and beam-search captions:
the same tokens from Keras, the SavedModel (from PNG bytes and from floats) and the ONNX driver,
and their attention maps and log-probabilities (<= 1e-4).
"""

import argparse
import os
import pathlib
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("version_dir", help="an exported version: BASE/NAME/VERSION")
    p.add_argument("--model", help="the trained run directory (default: the one the model card names)")
    p.add_argument("--prime", help="char model: text to start from (default: the run's sample prime)")
    p.add_argument("--length", type=int, help="char model: characters to generate (default 100)")
    p.add_argument("--temperature", type=float, help="char model: sampling temperature (default 0.8)")
    p.add_argument("--top-k", type=int, help="char model: top-k for the sampled text (default 5)")
    p.add_argument("--seed", type=int, help="char model: sampling seed (default 1234)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: verify(args), {"prime": "--prime", "temperature": "--temperature",
                                      "top_k": "--top-k", "seed": "--seed", "model_run_dir": "--model"})


def verify(args):
    from kerasrnn.cli import format_limits
    from kerasrnn.errors import InputError
    from kerasrnn.export.onnx_runtimes import find_runtimes, use_node_dir
    from kerasrnn.kinds.registry import verify_version
    from kerasrnn.export.version_dir import is_version_name
    from kerasrnn.export.version_files import read_model_card

    use_node_dir(os.environ.get("KERASRNN_NODE_DIR"))
    read_model_card(args.version_dir)  # a missing folder or one that is no export, named as such
    if not is_version_name(pathlib.Path(args.version_dir).resolve().name):
        raise InputError(f"{args.version_dir} is not a version folder (BASE/NAME/VERSION, VERSION "
                         "in the digits 0-9: TF Serving serves no other); give one")

    options = {k: v for k, v in dict(prime=args.prime, length=args.length, temperature=args.temperature,
                                     top_k=args.top_k, seed=args.seed).items() if v is not None}
    if options.get("length", 1) < 1 or options.get("temperature", 1) <= 0 or options.get("top_k", 0) < 0:
        raise InputError("--length must be >= 1, --temperature > 0 and --top-k >= 0")
    import tensorflow as tf

    from kerasrnn.data.image_files import assertion_text

    try:
        card, checks = verify_version(args.version_dir, args.model, **options)
    except tf.errors.InvalidArgumentError as e:  # a request the version's own limits refuse
        raise InputError(f"the version refused one of verify's requests ({assertion_text(e)[:300]}); "
                         "its request limits are tighter than verify's requests can be made to fit") from None
    print(f"{card['name']} version {card['version']} ({card['kind']}, from {args.model or card['run_dir']}):")
    print(f"  request limits: {format_limits(card.get('limits') or {}) or 'none recorded'}")
    runtimes = find_runtimes()
    print("  ONNX files checked in: " + (", ".join(f"{r.label} {r.version}" for r in runtimes if not r.missing)
                                         or "no ONNX runtime"))
    for r in runtimes:
        if r.missing:
            print(f"  ONNX files not checked in {r.label}: {r.missing}")
    for check in checks:
        print(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    failed = sum(not c.ok for c in checks)
    print(f"{len(checks) - failed} of {len(checks)} checks hold" + (f"; {failed} FAILED" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
