#!/usr/bin/env python
"""Data-parallel training on real GPUs equals one process: for each model kind, a tiny run on
one GPU, on all GPUs of this machine (MirroredStrategy, NCCL all-reduce) and as 2 worker
processes (MultiWorkerMirroredStrategy through training/launch_workers.py), compared weight
tensor by weight tensor (max |a - b| / max |b| <= 1e-5, in float64).

Example (on a machine with GPUs; about two minutes):
  python benchmarks/check_distributed_gpu.py
  python benchmarks/check_distributed_gpu.py --cpu --kinds char   # without GPUs: a check of the script

Exits 0 when every run matches, 1 when one does not, 2 when there is no GPU (--cpu runs the
same checks on 2 logical CPU devices instead: a check of this script).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5
KINDS = ("char", "stn", "captioner", "char-accumulated")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu", action="store_true", help="run without GPUs, on 2 logical CPU devices")
    p.add_argument("--keep", help="keep the runs in this folder (default: a temporary one)")
    p.add_argument("--kinds", default=",".join(KINDS),
                   help=f"runs to compare, of {','.join(KINDS)} (default all)")
    return p.parse_args(argv)


def gpu_count(env):
    probe = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    return int(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else 0


def write_data(folder):
    """A small text and a small MNIST stand-in (random digits: only equality is checked)."""
    import numpy as np

    rng = np.random.default_rng(0)
    words = ["def ", "return ", "self", ".x", " = ", "(a, b)", ":\n", "    ", "if ", "else"]
    text = folder / "text.txt"
    text.write_text("".join(words[i] for i in rng.integers(0, len(words), 1500)))
    mnist = folder / "mnist.npz"
    x, y = rng.integers(0, 256, (200, 28, 28)).astype(np.uint8), rng.integers(0, 10, 200).astype(np.uint8)
    np.savez(mnist, x_train=x[:160], y_train=y[:160], x_test=x[160:], y_test=y[160:])
    return text, mnist


def commands(text, mnist):
    """`{kind: script arguments but --out}`: 12 steps of a tiny model of each kind, and of the
    char model with a clip that bites and gradient accumulation."""
    char = ["training/train_char_rnn.py", "--text", str(text), "--cell", "lstm", "--layers", "1",
            "--hidden", "8", "--embedding", "4", "--seq-length", "8", "--batch-size", "8",
            "--steps", "12", "--eval-every", "4", "--optimizer", "adam", "--lr", "0.01",
            "--val-fraction", "0.1", "--sample-length", "5"]
    return {
        "char": char,
        "stn": ["training/train_stn.py", "--mnist", str(mnist), "--distortion", "R", "--epochs", "2",
                "--batch-size", "16", "--train-size", "96", "--val-size", "32", "--loc-lr-mult", "0.5"],
        "captioner": ["training/train_captioner.py", "--dataset", "scenes", "--train-count", "48",
                      "--test-count", "16", "--image-size", "32", "--max-length", "8", "--epochs", "2",
                      "--batch-size", "8", "--units", "16", "--embedding-dim", "8",
                      "--attention-units", "8", "--doubly-stochastic", "0.5",
                      "--attention-supervision", "0.5", "--beam", "2"],
        "char-accumulated": [*char, "--clip", "0.005", "--gradient-accumulation-steps", "2"],
    }


def weights(run):
    import keras

    import kerasrnn.layers  # noqa: F401 - registers the layers the saved models use
    import kerasrnn.kinds.captioner.model  # noqa: F401

    return keras.saving.load_model(run / "model.keras", compile=False).get_weights()


def largest_difference(ours, reference):
    import numpy as np

    return max(float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-12)
               for a, b in zip(ours, reference))


def main(argv=None):
    args = parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or set(kinds) - set(KINDS):
        print(f"error: --kinds takes some of {','.join(KINDS)}, got {args.kinds!r}", file=sys.stderr)
        return 2
    folder = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="kerasrnn-gpu-check-"))
    folder.mkdir(parents=True, exist_ok=True)
    home = folder / "keras-home"
    home.mkdir(exist_ok=True)
    (home / "keras.json").write_text(json.dumps({"floatx": "float64", "backend": "tensorflow",
                                                 "epsilon": 1e-07, "image_data_format": "channels_last"}))
    # two workers may share a GPU: each takes memory as it needs it, not all of it at start
    env = dict(os.environ, KERAS_HOME=str(home), TF_FORCE_GPU_ALLOW_GROWTH="true")
    env.pop("TF_CONFIG", None)
    gpus = gpu_count(env)
    if gpus == 0 and not args.cpu:
        print("error: no GPU found; run on a machine with GPUs, or pass --cpu to check on the CPU",
              file=sys.stderr)
        return 2
    replicas = 2 if args.cpu else gpus
    text, mnist = write_data(folder)
    python = sys.executable
    failed = False
    print(f"| kind | run | max rel. difference to one device | {'CPU' if args.cpu else f'{gpus} GPU(s)'}")
    print("|---|---|---|")
    for kind, command in commands(text, mnist).items():
        if kind not in kinds:
            continue
        one_env = dict(env, CUDA_VISIBLE_DEVICES="0") if gpus else env
        runs = {
            "one device": ([python, *command, "--distribute", "off"], one_env),
            f"mirrored x{replicas}": ([python, *command, "--distribute", "mirrored", "--replicas", str(replicas)], env),
            "2 workers": ([python, "training/launch_workers.py", "--workers", "2", "--", python, *command], env),
        }
        results = {}
        for name, (argv_, run_env) in runs.items():
            out = folder / kind / name.replace(" ", "-")
            done = subprocess.run([*argv_, "--out", str(out)], cwd=ROOT, env=run_env, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"| {kind} | {name} | failed (status {done.returncode}): "
                      f"{(done.stderr or done.stdout).strip().splitlines()[-1:]} |")
                failed = True
                continue
            results[name] = weights(out)
        if "one device" not in results:
            continue
        for name, ours in results.items():
            if name == "one device":
                continue
            difference = largest_difference(ours, results["one device"])
            failed |= difference > TOLERANCE
            print(f"| {kind} | {name} | {difference:.1e}{'' if difference <= TOLERANCE else '  MISMATCH'} |")
    print(f"runs in {folder}" if args.keep else "")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
