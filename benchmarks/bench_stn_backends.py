#!/usr/bin/env python
"""ST-CNN vs CNN training throughput on whichever Keras backend and device is there.

`bench_stn.py` measures on TensorFlow with its tf.data pipeline; this script needs only Keras and
a backend (TensorFlow, JAX or PyTorch, CPU or GPU), so the same models can be timed where
TensorFlow is not installed. It trains `build_stn_classifier(28, ...)` (the CNN and the affine
ST-CNN) with `model.fit` on random 28x28 images held in memory, Adam 1e-3 (no localisation
learning-rate multiplier, which is TensorFlow-only), and prints images/s and the ratio ST-CNN / CNN
(the issue's target: >= 0.75), best of round-robin rounds.

Usage:
  python benchmarks/bench_stn_backends.py                       # the configured backend
  KERAS_BACKEND=jax python benchmarks/bench_stn_backends.py
  KERAS_BACKEND=torch python benchmarks/bench_stn_backends.py --batch-size 256
"""

import argparse
import os
import sys
import time

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept

TARGET_RATIO = 0.75


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=128, help="images per step (default 128)")
    p.add_argument("--seconds", type=float, default=6.0, help="timed seconds per model and round (default 6)")
    p.add_argument("--rounds", type=int, default=3, help="round-robin rounds; the best is reported (default 3)")
    p.add_argument("--jit", default="auto", help="jit_compile for compile(): auto, true or false (default auto)")
    return p.parse_args(argv)


def fit_runner(model, x, y, batch):
    """`run(seconds) -> images/s` of `model.fit` on in-memory arrays (compiled by a first call)."""
    steps_in_data = len(x) // batch

    def fit(steps):
        start = time.perf_counter()
        done = 0
        while done < steps:
            n = min(steps - done, steps_in_data)
            model.fit(x[: n * batch], y[: n * batch], batch_size=batch, epochs=1, verbose=0, shuffle=False)
            done += n
        return time.perf_counter() - start

    fit(2)  # trace / compile
    per_step = fit(4) / 4

    def run(seconds):
        steps = max(2, int(seconds / per_step))
        return steps * batch / fit(steps)

    return run


def main(argv=None):
    args = parse_args(argv)
    import keras
    import numpy as np

    from kerasrnn.kinds.stn_classifier.model import build_stn_classifier

    jit = {"auto": "auto", "true": True, "false": False}[args.jit]
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((64 * args.batch_size, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, len(x)).astype("int32")
    runners = {}
    for name in ("cnn", "st-cnn"):
        model = build_stn_classifier(28, name)
        model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=jit)
        runners[name] = fit_runner(model, x, y, args.batch_size)
    best = {name: 0.0 for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            best[name] = max(best[name], run(args.seconds / args.rounds))
    ratio = best["st-cnn"] / best["cnn"]
    print(f"\n$ KERAS_BACKEND={keras.backend.backend()} python benchmarks/bench_stn_backends.py "
          f"{' '.join(sys.argv[1:] if argv is None else argv)}".rstrip())
    print(f"Keras {keras.__version__}, backend {keras.backend.backend()}, os.cpu_count() = {os.cpu_count()}, "
          f"batch {args.batch_size}, jit_compile={args.jit}\n")
    print("| model | images/s | vs CNN |\n|---|---:|---:|")
    print(f"| CNN | {best['cnn']:,.0f} | 1.00x |")
    print(f"| ST-CNN (affine) | {best['st-cnn']:,.0f} | {ratio:.2f}x |")
    print(f"\nST-CNN / CNN = {ratio:.2f} (target >= {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
