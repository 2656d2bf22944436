#!/usr/bin/env python
"""Training throughput of the char model, side by side in one run, as ratios to min-char-rnn.

Rows (min-char-rnn size: hidden 100, seq 25, one-hot input, Adagrad, clip 5):
  (a)  numpy min-char-rnn reference (kerasrnn.reference, the notes' algorithm; one sequence at
       a time, so its chars/s is the same at any "batch")
  (b)  Keras's built-in SimpleRNN, compiled with Keras defaults
  (b+) the same SimpleRNN with our settings (unroll, XLA, steps_per_execution)
  (c)  our VanillaRNNCell model as train_char_rnn.py builds it (stateful streams)
at batch 1 and batch 64; then a 1-layer LSTM-512 (batch 64, seq 100) with its achieved
GFLOP/s against a measured float32 matmul peak.

Usage:
  python benchmarks/bench_char_rnn.py            # about 3 minutes on 2 cores
  python benchmarks/bench_char_rnn.py --quick    # a few seconds, smoke test
"""

import argparse
import sys
import time

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept

from _shared import best_of_rounds  # noqa: E402

VOCAB = 65  # tiny-shakespeare's vocabulary size


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=9.0, help="timed seconds per row, split over the rounds (default 9)")
    p.add_argument("--rounds", type=int, default=3, help="round-robin repetitions; the best is reported (default 3)")
    p.add_argument("--quick", action="store_true", help="tiny timings, to check the script runs")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def numpy_reference_runner(rng):
    """(a): the notes' loop, lossFun + Adagrad, hidden 100, seq 25. Returns `run(seconds) -> chars/s`."""
    from kerasrnn.reference import min_char_rnn as ref

    params = ref.init_params(VOCAB, 100, dtype="float64")
    data = rng.integers(0, VOCAB, 200_000)
    ref.train(params, data, 20)  # warm-up

    def run(seconds):
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            ref.train(params, data[steps * 25 % 150_000:], 50)
            steps += 50
        return steps * 25 / (time.perf_counter() - start)

    return run


def fit_runner(model, batch, seq, rng, steps_per_execution):
    """Compiles `model.fit` on random ids and returns `run(seconds) -> chars/s`."""
    import numpy as np
    import tensorflow as tf

    x = rng.integers(0, VOCAB, (batch * 64, seq + 1)).astype(np.int32)
    ds = tf.data.Dataset.from_tensor_slices((x[:, :-1], x[:, 1:])).batch(batch, drop_remainder=True)
    ds = ds.repeat().prefetch(tf.data.AUTOTUNE)
    warm = 2 * steps_per_execution
    model.fit(ds, epochs=1, steps_per_epoch=warm, verbose=0, shuffle=False)  # trace + compile
    start = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=warm, verbose=0, shuffle=False)
    per_step = (time.perf_counter() - start) / warm

    def run(seconds):
        steps = max(steps_per_execution, int(seconds / per_step) // steps_per_execution * steps_per_execution)
        start = time.perf_counter()
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        return steps * batch * seq / (time.perf_counter() - start)

    return run


def keras_simple_rnn(batch, seq, tuned):
    """(b)/(b+): one-hot -> keras.layers.SimpleRNN(100) -> Dense, same loss/optimizer as ours."""
    import keras

    from kerasrnn.layers import OneHot
    from kerasrnn.kinds.char_rnn.train import make_optimizer, nats_per_char_loss
    from kerasrnn.kinds.char_rnn.config import CharRNNConfig

    tokens = keras.Input(batch_shape=(batch, seq), dtype="int32")
    h = keras.layers.SimpleRNN(100, return_sequences=True, unroll=tuned)(OneHot(VOCAB)(tokens))
    model = keras.Model(tokens, keras.layers.Dense(VOCAB)(h))
    config = CharRNNConfig(seq_length=seq, steps=1)
    if tuned:
        model.compile(make_optimizer(config), nats_per_char_loss(), jit_compile=True,
                      steps_per_execution=100)
    else:
        model.compile(make_optimizer(config), nats_per_char_loss())
    return model, 100 if tuned else 1


def ours(batch, seq, **overrides):
    """(c): the model train_char_rnn.py trains, from the min-char-rnn preset."""
    from kerasrnn.kinds.char_rnn.train import PRESETS, build_training_model
    from kerasrnn.kinds.char_rnn.config import CharRNNConfig

    config = CharRNNConfig(**{**PRESETS["min-char-rnn"], "batch_size": batch, "seq_length": seq,
                              "steps": 1, **overrides})
    return build_training_model(config, VOCAB), config.steps_per_execution


def matmul_peak_gflops(seconds):
    """Measured float32 matmul throughput (4096 x 4096) on this machine, GFLOP/s."""
    import tensorflow as tf

    n = 4096
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    mm = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    mm().numpy()
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        mm().numpy()
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def lstm_flops_per_char(hidden, vocab):
    """Training FLOPs per character of one-hot -> LSTM(hidden) -> Dense(vocab): 3x the forward matmuls."""
    forward = 2 * (vocab + hidden) * 4 * hidden + 2 * hidden * vocab
    return 3 * forward


def main(argv=None):
    args = parse_args(argv)
    import keras
    import numpy as np

    from kerasrnn.kinds.char_rnn.train import PRESETS, build_training_model
    from kerasrnn.kinds.char_rnn.config import CharRNNConfig

    seconds = 0.6 if args.quick else args.seconds
    rounds = 1 if args.quick else args.rounds
    rng = np.random.default_rng(args.seed)
    keras.utils.set_random_seed(args.seed)
    runners = {("(a) numpy min-char-rnn reference", 1): numpy_reference_runner(rng)}
    for batch in (1, 64):
        for name, build in [("(b) keras.layers.SimpleRNN, Keras defaults", keras_simple_rnn),
                            ("(b+) SimpleRNN, unroll + XLA + 100 steps/exec", keras_simple_rnn),
                            ("(c) ours: VanillaRNNCell, train_char_rnn.py", ours)]:
            model, spe = build(batch, 25, name.startswith("(b+)")) if build is keras_simple_rnn else build(batch, 25)
            runners[(name, batch)] = fit_runner(model, batch, 25, rng, spe)
    best = best_of_rounds(runners, seconds, rounds)
    ref_cps = best[("(a) numpy min-char-rnn reference", 1)]
    rows = [(name, batch, cps) for (name, batch), cps in best.items()]
    rows.insert(4, ("(a) numpy min-char-rnn reference", 64, ref_cps))

    hidden, batch, seq = (128, 8, 20) if args.quick else (512, 64, 100)
    config = CharRNNConfig(**{**PRESETS["shakespeare"], "num_layers": 1, "hidden_size": hidden,
                              "embedding_dim": None, "dropout": 0.0, "batch_size": batch,
                              "seq_length": seq})
    lstm_cps = fit_runner(build_training_model(config, VOCAB), batch, seq, rng,
                          config.steps_per_execution)(seconds)
    peak = matmul_peak_gflops(seconds)
    achieved = lstm_cps * lstm_flops_per_char(hidden, VOCAB) / 1e9

    print(f"\nchar-rnn training throughput, hidden 100, seq 25, vocab {VOCAB}; best of {rounds} "
          f"round-robin rounds; ratios to (a), same run\n")
    print("| model | batch | chars/s | vs (a) |")
    print("|---|---:|---:|---:|")
    for name, b, cps in rows:
        print(f"| {name} | {b} | {cps:,.0f} | {cps / ref_cps:.2f}x |")
    print(f"\nLSTM-{hidden}, 1 layer, batch {batch}, seq {seq}: {lstm_cps:,.0f} chars/s = "
          f"{achieved:.1f} GFLOP/s achieved; float32 matmul peak measured {peak:.1f} GFLOP/s "
          f"({achieved / peak:.0%} of peak)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
