#!/usr/bin/env python
"""Serving throughput of the exported models, side by side in one run: SavedModel vs ONNX Runtime.

Char model, one prime (batch 1), --length characters sampled (temperature 0.8, seed 1), chars/s:
  (a) SavedModel `generate`: the sampling loop inside the graph (`tf.while_loop`), one call
  (b) client loop over the SavedModel's `step`: one signature call per character, sampling in
      Python (`char.onnx_driver.sample_loop`), what a client of a one-step export has to do
  (c) ONNX Runtime driver (`char.onnx_driver.CharGenerator`, numpy + onnxruntime)
  Target: (a) >= 3x (b). The three must give the same text (same seed, same counter-based numbers).
STN classifier (`classify` vs `classifier.onnx`) and captioner (`caption_images` vs
`captioner.onnx_driver.CaptionerONNX`, greedy and beam 3), images/s at batch 1 and 32.
All rows are timed round-robin, best of --rounds, in one process (TensorFlow and ONNX Runtime
each use all cores, as they do by default).

By default the models are UNTRAINED and built in a temporary directory (char: the demo preset's
2-layer LSTM-256 with a 65-character vocabulary; STN: the default ST-CNN on 28x28; captioner:
the default captioner on 64x64 scenes with a 30-word vocabulary); untrained weights cost the
same time per step as trained ones, but an untrained captioner's captions have other lengths
(the tokens/caption column says how long). Pass training run directories to time your models:

Usage:
  python benchmarks/bench_serving.py                       # about 2 minutes on 2 cores
  python benchmarks/bench_serving.py --char runs/lstm --stn runs/st-cnn --captioner runs/captioner
  python benchmarks/bench_serving.py --quick               # smoke test: small models, tiny timings
"""

import argparse
import os
import pathlib
import platform
import sys
import tempfile
import time

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept

from _shared import KINDS, best_of_rounds, untrained_runs  # noqa: E402

BATCHES = (1, 32)
BEAM_WIDTH = 3
TARGET = 3.0  # in-graph generate / client loop over step
CHAR_ROWS = ("(a) SavedModel generate (in-graph loop)", "(b) client loop over SavedModel step",
             "(c) ONNX Runtime driver")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--char", help="a char model run directory (default: untrained, built here)")
    p.add_argument("--stn", help="an STN classifier run directory (default: untrained, built here)")
    p.add_argument("--captioner", help="a captioner run directory (default: untrained, built here)")
    p.add_argument("--length", type=int, default=200, help="characters per generate request (default 200)")
    p.add_argument("--seconds", type=float, default=4.0,
                   help="timed seconds per row, split over the rounds (default 4)")
    p.add_argument("--rounds", type=int, default=3, help="round-robin repetitions; the best is reported (default 3)")
    p.add_argument("--quick", action="store_true", help="small models, tiny timings, to check the script runs")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# -- timing --------------------------------------------------------------------------------------

def rate_runner(call, items):
    """Calls `call()` once (warm-up) and times it; returns `run(seconds) -> items/s`."""
    call()
    start = time.perf_counter()
    call()
    per_call = time.perf_counter() - start

    def run(seconds):
        n = max(1, int(seconds / per_call))
        start = time.perf_counter()
        for _ in range(n):
            call()
        return n * items / (time.perf_counter() - start)

    return run


def char_runners(version, length, seed):
    """`({row: run}, same_text)` for the char model's three generation paths."""
    import numpy as np
    import tensorflow as tf

    from kerasrnn.kinds.char_rnn import onnx_driver as driver
    from kerasrnn.export.version_files import read_model_card

    card = read_model_card(version)
    loaded = tf.saved_model.load(str(version))
    generate, step = loaded.signatures["generate"], loaded.signatures["step"]
    onnx = driver.CharGenerator(version / "onnx")
    prime, temperature, top_k = card["generate"]["start_char"], 0.8, 0
    names = list(card["step_states"])

    def in_graph():
        out = generate(prime=tf.constant([prime]), length=tf.constant([length]),
                       temperature=tf.constant([temperature]), top_k=tf.constant([top_k]),
                       seed=tf.constant([seed], tf.int64))
        return out["text"].numpy()[0].decode()

    def step_fn(ids, states):
        out = step(tokens=tf.constant(ids), **{n: tf.constant(s) for n, s in zip(names, states)})
        return out["logits"].numpy(), [out["next_" + n].numpy() for n in names]

    def client_loop():
        states = [np.zeros((1, h), np.float32) for h in card["step_states"].values()]
        ids, _ = driver.prime_ids(card["vocabulary"], prime)
        out = driver.sample_loop(step_fn, states, ids, length, temperature, top_k, seed)
        return "".join(card["vocabulary"][i] for i in out)

    def onnx_driver():
        return onnx.generate(prime, length, temperature, top_k, seed)

    texts = [f() for f in (in_graph, client_loop, onnx_driver)]
    runners = {row: rate_runner(f, length) for row, f in zip(CHAR_ROWS, (in_graph, client_loop, onnx_driver))}
    return runners, len(set(texts)) == 1


def image_runners(versions, seed):
    """`({(model, path, batch): run}, {(model, batch): tokens per caption})` for STN and captioner."""
    import numpy as np
    import onnxruntime
    import tensorflow as tf

    from kerasrnn.kinds.captioner.scenes import captioned_scenes
    from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX

    rng = np.random.default_rng(seed)
    runners, lengths = {}, {}
    if "stn" in versions:
        classify = tf.saved_model.load(str(versions["stn"])).signatures["classify"]
        session = onnxruntime.InferenceSession(str(versions["stn"] / "onnx" / "classifier.onnx"),
                                               providers=["CPUExecutionProvider"])
        shape = session.get_inputs()[0].shape[1:]
        for batch in BATCHES:
            images = rng.random((batch, *shape)).astype(np.float32)
            runners[("STN classifier", "SavedModel", batch)] = rate_runner(
                lambda x=tf.constant(images): classify(images=x)["logits"].numpy(), batch)
            runners[("STN classifier", "ONNX", batch)] = rate_runner(
                lambda x=images: session.run(["logits"], {"images": x}), batch)
    if "captioner" in versions:
        caption = tf.saved_model.load(str(versions["captioner"])).signatures["caption_images"]
        onnx = CaptionerONNX(versions["captioner"] / "onnx")
        size = onnx.image_size
        scenes = captioned_scenes(max(BATCHES), seed=seed, size=size)
        all_images = np.stack([s.image for s in scenes]).astype(np.float32) / 255.0
        for width, label in ((1, "captioner greedy"), (BEAM_WIDTH, f"captioner beam {BEAM_WIDTH}")):
            for batch in BATCHES:
                images = all_images[:batch]
                k = tf.constant([width])
                out = caption(images=tf.constant(images), beam_width=k)
                lengths[(label, batch)] = float(out["length"].numpy().mean())
                runners[(label, "SavedModel", batch)] = rate_runner(
                    lambda x=tf.constant(images), k=k: caption(images=x, beam_width=k)["tokens"].numpy(), batch)
                runners[(label, "ONNX", batch)] = rate_runner(
                    lambda x=images, w=width: onnx.beam_search(x, w), batch)
    return runners, lengths


def main(argv=None):
    args = parse_args(argv)
    import keras
    import onnxruntime
    import tensorflow as tf

    from kerasrnn.kinds.registry import export_model

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("bench_serving.py exports with TensorFlow; run it with KERAS_BACKEND=tensorflow")
    tf.get_logger().setLevel("ERROR")
    seconds = 0.05 if args.quick else args.seconds
    rounds = 1 if args.quick else args.rounds
    length = min(args.length, 20) if args.quick else args.length
    keras.utils.set_random_seed(args.seed)
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_serving-") as tmp:
        given = {kind: getattr(args, kind) for kind in KINDS if getattr(args, kind)}
        runs = {kind: (pathlib.Path(d), f"{d} (trained run)") for kind, d in given.items()}
        runs.update(untrained_runs(tmp, [k for k in KINDS if k not in given], args.quick))
        versions = {kind: export_model(run, pathlib.Path(tmp) / "saved_models", kind)
                    for kind, (run, _) in runs.items()}
        char, same_text = char_runners(versions["char"], length, seed=1)
        images, lengths = image_runners(versions, args.seed)
        char_best = best_of_rounds(char, seconds, rounds)
        image_best = best_of_rounds(images, seconds, rounds)
    wall = time.perf_counter() - wall

    print(f"\n$ python benchmarks/bench_serving.py {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip())
    gpus = tf.config.list_physical_devices("GPU")
    print(f"machine: {platform.machine()}, os.cpu_count() = {os.cpu_count()}, "
          f"{'GPU: ' + ', '.join(g.name for g in gpus) if gpus else 'no GPU'}; TensorFlow {tf.__version__}, "
          f"Keras {keras.__version__}, onnxruntime {onnxruntime.__version__}")
    built = [kind for kind in KINDS if kind not in given]
    if built:
        print(f"models: {', '.join(built)} UNTRAINED, built and exported in a temporary directory "
              f"(pass --{' / --'.join(built)} RUN_DIR to time trained ones)")
    for kind in KINDS:
        print(f"  {kind}: {runs[kind][1]}")

    print(f"\nChar model: one prime, {length} characters (temperature 0.8, seed 1), chars/s, best of "
          f"{rounds} round-robin rounds; ratios to (b), same run\n")
    print("| char generation | chars/s | vs (b) |")
    print("|---|---:|---:|")
    reference = char_best[CHAR_ROWS[1]]
    for row in CHAR_ROWS:
        print(f"| {row} | {char_best[row]:,.0f} | {char_best[row] / reference:.2f}x |")
    ratio = char_best[CHAR_ROWS[0]] / reference
    print(f"\nin-graph generate / client loop over step = {ratio:.1f}x (target >= {TARGET:.0f}x: "
          f"{'met' if ratio >= TARGET else 'NOT met'}); same text from all three: "
          f"{'yes' if same_text else 'NO'}")

    print(f"\nImages/s, SavedModel signature vs ONNX Runtime, best of {rounds} round-robin rounds\n")
    print("| model | batch | SavedModel images/s | ONNX Runtime images/s | ONNX / SavedModel | tokens/caption |")
    print("|---|---:|---:|---:|---:|---:|")
    for model in dict.fromkeys(m for m, _, _ in image_best):
        for batch in BATCHES:
            saved, onnx = image_best[(model, "SavedModel", batch)], image_best[(model, "ONNX", batch)]
            tokens = f"{lengths[(model, batch)]:.1f}" if (model, batch) in lengths else "-"
            print(f"| {model} | {batch} | {saved:,.1f} | {onnx:,.1f} | {onnx / saved:.2f}x | {tokens} |")
    print("\n(STN: `classify` vs `classifier.onnx`; captioner: `caption_images` with the search "
          "in-graph vs `CaptionerONNX`, encoder + decoder step in ONNX Runtime, search in numpy)")
    print(f"\nwall time {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
