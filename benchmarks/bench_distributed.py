#!/usr/bin/env python
"""Data-parallel training: time per step, split into compute and all-reduce, gradient bytes and
FLOPs per step of the char model (preset shakespeare), the ST-CNN on RTS and the scenes captioner
(default settings), measured at 1 and 2 workers here, and weak-scaling efficiency projected to
2-64 workers at 10, 25 and 100 Gb/s.

What it does:
  1. Builds each training model as the training functions do and counts, at the default batch
     (the per-worker batch below): its trainable weights, the gradient bytes (weights x 4), the
     form each gradient is exchanged in (after the optimizer's clipping, which is where Keras
     all-reduces: a dense tensor is all-reduced, an IndexedSlices one, such as an embedding's
     under clipnorm, is all-gathered), and the FLOPs of one forward + backward step (below).
  2. Times training steps (`fit`, synthetic data), per-worker batch fixed (weak scaling): (a) in
     one process, (b) in two independent processes at once, (c) in 2 worker processes under
     MultiWorkerMirroredStrategy over loopback (training/launch_workers.py). Every process is
     pinned to a core of its own, so the compute per worker is the same in all three;
     all-reduce ~= t(c) - t(a), which also holds the strategy's coordination overhead on shared
     cores and the slowdown of running two processes at once (t(b) against t(a)). The 2-worker
     run also times the gradients' exchange alone (zeros of the same shapes and forms). Every
     run is repeated --cycles times, round-robin over runs and models; the best is reported.
  3. Checks whether Keras optimizers' `gradient_accumulation_steps` under MirroredStrategy (the
     CPU split into 2 replicas) and MultiWorkerMirroredStrategy (2 workers) gives the weights of
     one process on the full batch.
  4. Projects weak-scaling efficiency to N workers at bandwidth W (bits/s):
         efficiency = t_compute / (t_compute + t_allreduce)   (no overlap of the two)
         t_compute  = FLOPs per worker step / achieved FLOP/s (--flops-per-second, 50e12)
         t_allreduce = 2 (N-1)/N x dense gradient bytes / (W/8)         ring all-reduce
                     + (N-1) x one worker's sparse gradient bytes / (W/8)  ring all-gather
                     + 2 (N-1) x --latency-us                            per ring step (default 0)
     and, for each model under --target at --target-workers on --target-gbps, the smallest
     per-worker batch multiple m (compute and sparse bytes x m) and the smallest
     gradient_accumulation_steps k (compute x k per exchange; the accumulated gradients are
     dense) that reach it, and the efficiency with it.

FLOPs are counted on the traced train step (forward, loss, gradients) with TensorFlow's per-op
FLOP statistics (the tables `tf.compat.v1.profiler`'s float_operation report uses) over the ops
the gradients depend on, recurrent loops unrolled for the count (same arithmetic), plus Einsum
(no table) and with Conv2D backprop counted as the forward convolution's MACs (the table assumes
"same" padding). The char model's count is checked against an analytic count of its matmuls;
the profiler's own total is printed beside it.

Usage:
  python benchmarks/bench_distributed.py                   # about 8 minutes on 2 cores
  python benchmarks/bench_distributed.py --quick           # smoke test: tiny batches, one step
  python benchmarks/bench_distributed.py --no-measure      # no timed runs (about a minute)
"""

import argparse
import contextlib
import dataclasses
import json
import math
import os
import pathlib
import subprocess
import sys
import time

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept

ROOT = pathlib.Path(__file__).resolve().parents[1]
KINDS = ("char", "stn", "captioner")
LABELS = {"char": "char LSTM 2x384, preset shakespeare", "stn": "ST-CNN, RTS",
          "captioner": "captioner, scenes"}
SHORT_LABELS = {"char": "char LSTM", "stn": "ST-CNN, RTS", "captioner": "captioner"}
WORKERS = (2, 4, 8, 16, 32, 64)
BANDWIDTHS_GBPS = (10, 25, 100)
FLOAT_BYTES = 4
CHAR_VOCAB = 65  # tiny-shakespeare's characters
QUICK_BATCH = {"char": 4, "stn": 8, "captioner": 4}
RESULT = "BENCH_RESULT "
PROBE_TOLERANCE = 1e-5  # relative to a tensor's largest weight, as tests/test_distributed_training.py


# ---- the projection (pure) ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class StepCost:
    """What one worker computes and exchanges per training step.

    Attributes:
        flops: Forward + backward FLOPs of one worker's step.
        dense_bytes: Gradient bytes exchanged as dense tensors (ring all-reduce).
        sparse_bytes: One worker's IndexedSlices gradient bytes (values and indices), all-gathered.
        sparse_dense_bytes: The dense size of the variables whose gradients are sparse (what is
            all-reduced for them when gradients are accumulated, which makes them dense).
    """

    flops: float
    dense_bytes: float
    sparse_bytes: float = 0.0
    sparse_dense_bytes: float = 0.0

    def with_batch_multiple(self, multiple):
        """The cost of a per-worker batch `multiple` times as large (sparse rows grow with it)."""
        return dataclasses.replace(self, flops=self.flops * multiple,
                                   sparse_bytes=self.sparse_bytes * multiple)

    def densified(self):
        """The cost with the sparse gradients converted to dense before the exchange."""
        return StepCost(self.flops, self.dense_bytes + self.sparse_dense_bytes)

    def with_accumulation(self, steps):
        """The cost per exchange of `steps` accumulated micro-steps (all gradients dense)."""
        if steps <= 1:
            return self
        return self.densified().with_batch_multiple(steps)


def allreduce_seconds(cost, workers, bandwidth_bps, latency_s=0.0):
    """Seconds to exchange one step's gradients among `workers` at `bandwidth_bps` bits/s:
    ring all-reduce of the dense bytes, 2 (N-1)/N x bytes / (W/8), ring all-gather of the sparse
    ones, (N-1) x bytes / (W/8), and 2 (N-1) x `latency_s` for the ring's steps."""
    if workers <= 1:
        return 0.0
    per_second = bandwidth_bps / 8.0
    dense = 2.0 * (workers - 1) / workers * cost.dense_bytes / per_second
    sparse = (workers - 1) * cost.sparse_bytes / per_second
    return dense + sparse + 2 * (workers - 1) * latency_s


def efficiency(cost, workers, bandwidth_bps, flops_per_second, latency_s=0.0):
    """Weak-scaling efficiency t_compute / (t_compute + t_allreduce), nothing overlapped."""
    compute = cost.flops / flops_per_second
    return compute / (compute + allreduce_seconds(cost, workers, bandwidth_bps, latency_s))


def smallest_factor(efficiency_of, target, limit=1_000_000):
    """The smallest integer f >= 1 with `efficiency_of(f) >= target`, `None` if none up to `limit`.

    Args:
        efficiency_of: `f -> efficiency`, non-decreasing in f.
        target: The efficiency to reach, in (0, 1).
    """
    if efficiency_of(1) >= target:
        return 1
    if efficiency_of(limit) < target:
        return None
    low, high = 1, limit  # efficiency_of(low) < target <= efficiency_of(high)
    while high - low > 1:
        middle = (low + high) // 2
        if efficiency_of(middle) >= target:
            high = middle
        else:
            low = middle
    return high


def settings_to_reach(cost, target, workers, bandwidth_bps, flops_per_second, latency_s=0.0):
    """`(batch_multiple, accumulation_steps)`: the smallest of each that reaches `target`
    (`None` where it cannot: a sparse gradient growing with the batch can cap the efficiency)."""
    def with_batch(m):
        return efficiency(cost.with_batch_multiple(m), workers, bandwidth_bps, flops_per_second, latency_s)

    def with_accumulation(k):
        return efficiency(cost.with_accumulation(k), workers, bandwidth_bps, flops_per_second, latency_s)

    return smallest_factor(with_batch, target), smallest_factor(with_accumulation, target)


# ---- the models, as the training functions build them ---------------------------------------------

def default_batch(kind):
    """The default (global) batch of each kind: the per-worker batch of the weak-scaling runs."""
    from kerasrnn.kinds.char_rnn.train import PRESETS
    from kerasrnn.kinds.captioner.config import CaptionerConfig
    from kerasrnn.kinds.stn_classifier.config import STNConfig

    return {"char": PRESETS["shakespeare"]["batch_size"], "stn": STNConfig().batch_size,
            "captioner": CaptionerConfig().batch_size}[kind]


def char_config(**overrides):
    """Preset shakespeare, one step per execution (several do not run on several replicas; the
    1-process run uses 1 as well, so both time the same loop)."""
    from kerasrnn.kinds.char_rnn.train import PRESETS
    from kerasrnn.kinds.char_rnn.config import CharRNNConfig

    return CharRNNConfig(**{**PRESETS["shakespeare"], "steps_per_execution": 1, **overrides})


def caption_vocab_size(config):
    """The scenes vocabulary as train_captioner builds it (from the training captions)."""
    from kerasrnn.kinds.captioner.vocab import CaptionVocabulary
    from kerasrnn.kinds.captioner.captions import load_captions

    examples = load_captions(config.dataset, "train", config.data_dir, config.image_size,
                             count=config.train_count, seed=config.seed)
    return len(CaptionVocabulary.from_captions([c for e in examples for c in e.captions],
                                               config.min_count))


def build_model(kind, replica_batch, for_counting=False):
    """`(model, input_specs, target_spec, describe)`: the compiled training model of `kind` as its
    training function builds it (call inside the strategy's scope), for `replica_batch` rows
    per replica. `for_counting` unrolls the char model's time loop (same arithmetic)."""
    import tensorflow as tf

    if kind == "char":
        from kerasrnn.kinds.char_rnn.train import build_training_model

        config = char_config(unroll=True, jit_compile=False) if for_counting else char_config()
        model = build_training_model(config, CHAR_VOCAB, replica_batch)
        shape = (replica_batch, config.seq_length)
        return model, tf.TensorSpec(shape, tf.int32), tf.TensorSpec(shape, tf.int32), \
            f"{config.batch_size} x {config.seq_length} chars"
    if kind == "stn":
        from kerasrnn.kinds.stn_classifier.model import build_stn_classifier
        from kerasrnn.kinds.stn_classifier.train import compile_model
        from kerasrnn.kinds.stn_classifier.config import STNConfig

        config = STNConfig(distortion="RTS")
        model = compile_model(build_stn_classifier(**config.model_config()), config, 100)
        side = config.model_config()["input_size"]
        return model, tf.TensorSpec((replica_batch, side, side, 1), tf.float32), \
            tf.TensorSpec((replica_batch,), tf.int32), f"{config.batch_size} images {side}x{side}"
    from kerasrnn.kinds.captioner.train import compile_model
    from kerasrnn.kinds.captioner.config import CaptionerConfig

    config = CaptionerConfig()
    model = compile_model(config.build_model(caption_vocab_size(config)), config, 100)
    inputs = (tf.TensorSpec((replica_batch, config.image_size, config.image_size, 3), tf.float32),
              tf.TensorSpec((replica_batch, config.max_length + 2), tf.int32))
    return model, inputs, tf.TensorSpec((replica_batch, config.max_length + 1), tf.int32), \
        f"{config.batch_size} captions"


def synthetic_batch(kind, model, specs, target_spec, seed):
    """One batch of random data of the model's input and target shapes (ids within range)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    vocab = CHAR_VOCAB if kind == "char" else model.outputs[0].shape[-1]

    def fill(spec, high):
        if spec.dtype.is_integer:
            return rng.integers(1, high, spec.shape).astype(spec.dtype.as_numpy_dtype)
        return rng.random(spec.shape, dtype=np.float32)

    x = tuple(fill(s, vocab) for s in specs) if isinstance(specs, tuple) else fill(specs, vocab)
    return x, fill(target_spec, 10 if kind == "stn" else vocab)


def traced_gradients(model, specs, target_spec):
    """`(concrete_function, wire)`: the traced forward + loss + gradient step, and per trainable
    variable how the optimizer hands its gradient to the all-reduce (after clipping):
    `("dense", bytes)` or `("sparse", bytes of values and indices, dense bytes, rows)`."""
    import tensorflow as tf

    wire = []

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
        grads = tape.gradient(loss, model.trainable_variables)
        wire[:] = []
        for v, g in zip(model.trainable_variables, model.optimizer._clip_gradients(grads)):
            dense = math.prod(v.shape) * FLOAT_BYTES
            if isinstance(g, tf.IndexedSlices):
                rows = g.indices.shape.num_elements()
                sent = g.values.shape.num_elements() * g.values.dtype.size + rows * g.indices.dtype.size
                wire.append(("sparse", sent, dense, rows))
            else:
                wire.append(("dense", dense))
        return grads

    return step.get_concrete_function(specs, target_spec), wire


def _einsum_flops(op):
    """2 x the product of every index's size (one multiply-add per point of the index space)."""
    inputs, _ = op.get_attr("equation").decode().replace(" ", "").split("->")
    sizes = {}
    for term, tensor in zip(inputs.split(","), op.inputs):
        sizes.update(zip(term, tensor.shape.as_list()))
    return 2 * math.prod(sizes.values())


def _conv_backprop_flops(op):
    """A Conv2D's input or filter gradient: the forward convolution's multiply-adds, 2 x
    out_backprop elements x kh x kw x cin (TensorFlow's table assumes "same" padding)."""
    out_backprop = op.inputs[2]
    kernel = op.inputs[1] if op.type == "Conv2DBackpropInput" else op.outputs[0]
    kh, kw, cin = kernel.shape.as_list()[:3]
    return 2 * out_backprop.shape.num_elements() * kh * kw * cin


def count_flops(concrete):
    """FLOPs of the ops the function's outputs depend on (see the module docstring)."""
    from tensorflow.python.framework import ops as tf_ops
    from tensorflow.python.profiler.internal import flops_registry  # noqa: F401 (registers the tables)

    needed, stack = set(), [t.op for t in concrete.outputs]
    while stack:
        op = stack.pop()
        if op.name in needed:
            continue
        needed.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    graph, total = concrete.graph, 0
    for name in needed:
        op = graph.get_operation_by_name(name)
        if op.type == "Einsum":
            total += _einsum_flops(op)
        elif op.type in ("Conv2DBackpropInput", "Conv2DBackpropFilter"):
            total += _conv_backprop_flops(op)
        else:
            try:
                total += tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value or 0
            except ValueError:  # an op whose shapes the table cannot read: no arithmetic to count
                pass
    return total


def profiler_flops(concrete):
    """`tf.compat.v1.profiler`'s float_operation total over the whole traced graph."""
    import tensorflow as tf

    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    return tf.compat.v1.profiler.profile(graph=concrete.graph, options=options).total_float_ops


def char_analytic_flops(config, vocab, batch):
    """The char model's matmuls: 3 x forward (input and weight gradients each cost a forward),
    2 FLOPs per multiply-add, per character: 4H(E+H) + (layers-1) 4H(2H) + HV."""
    h, e = config.hidden_size, config.embedding_dim or vocab
    macs = 4 * h * (e + h) + (config.num_layers - 1) * 4 * h * 2 * h + h * vocab
    return 3 * 2 * macs * batch * config.seq_length


def analyse(kind):
    """Counts for one kind at its default batch: weights, bytes, wire forms, FLOPs."""
    import keras

    keras.utils.set_random_seed(0)
    batch = default_batch(kind)
    model, specs, target_spec, describe = build_model(kind, batch, for_counting=True)
    concrete, wire = traced_gradients(model, specs, target_spec)
    row = dict(kind=kind, label=LABELS[kind], batch=batch, batch_described=describe,
               weights=int(sum(math.prod(v.shape) for v in model.trainable_variables)),
               flops=int(count_flops(concrete)), profiler_flops=int(profiler_flops(concrete)),
               dense_bytes=int(sum(w[1] for w in wire if w[0] == "dense")),
               sparse_bytes=int(sum(w[1] for w in wire if w[0] == "sparse")),
               sparse_dense_bytes=int(sum(w[2] for w in wire if w[0] == "sparse")))
    row["gradient_bytes"] = row["weights"] * FLOAT_BYTES
    if kind == "char":
        row["analytic_flops"] = int(char_analytic_flops(char_config(), CHAR_VOCAB, batch))
    keras.backend.clear_session()
    return row


def cost_of(row):
    return StepCost(row["flops"], row["dense_bytes"], row["sparse_bytes"], row["sparse_dense_bytes"])


# ---- measuring: one worker process ----------------------------------------------------------------

def worker_index():
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    return config.get("task", {}).get("index", 0)


def pin_to_one_core():
    """Runs this process on one core of its own (worker i on the i-th allowed core); `None`
    where the OS cannot pin (not Linux)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    core = cores[worker_index() % len(cores)]
    os.sched_setaffinity(0, {core})
    return core


def run_worker(args):
    """Trains `args.worker` steps under the strategy TF_CONFIG names (none: one process) and
    prints the chief's timings as one JSON line."""
    core = pin_to_one_core()  # before TensorFlow sizes its thread pools
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasrnn.train.distribution import choose_distribution

    together = bool(os.environ.get("TF_CONFIG")) and not args.independent
    dist = choose_distribution("multi-worker" if together else "off", environ=os.environ)
    kind, batch = args.worker, args.replica_batch or default_batch(args.worker)
    keras.utils.set_random_seed(0)
    with dist.scope():
        model, specs, target_spec, _ = build_model(kind, batch)

    def make_shard(shard, shards):
        x, y = synthetic_batch(kind, model, specs, target_spec, seed=shard)
        return tf.data.Dataset.from_tensors((x, y)).repeat()

    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch_index, logs=None):
            float(np.asarray((logs or {}).get("loss", 0.0)))
            times.append(time.perf_counter())

    steps = args.warmup + args.rounds * args.steps
    model.fit(dist.dataset(make_shard), epochs=1, steps_per_epoch=steps, callbacks=[Timer()],
              verbose=0, shuffle=False)
    per_step = np.diff(times)[args.warmup - 1:] if args.warmup else np.diff(times)
    rounds = [float(np.mean(r)) for r in np.array_split(per_step, args.rounds) if len(r)]
    result = dict(kind=kind, workers=dist.workers, replicas=dist.replicas, replica_batch=batch,
                  core=core, step_seconds=min(rounds), rounds=rounds)
    if dist.workers > 1:
        result["allreduce_seconds"] = time_allreduce(dist.strategy, model, specs, target_spec, args)
    if dist.is_chief:  # independent processes all report
        print(RESULT + json.dumps(result), flush=True)
    return 0


def time_allreduce(strategy, model, specs, target_spec, args):
    """Best-round mean seconds of all-reducing zeros shaped as one step's gradients, in the forms
    the optimizer hands over (dense all-reduce, IndexedSlices all-gather)."""
    import numpy as np
    import tensorflow as tf

    _, wire = traced_gradients(model, specs, target_spec)
    shapes = [tuple(v.shape) for v in model.trainable_variables]

    def zeros_like_gradients():
        grads = []
        for shape, form in zip(shapes, wire):
            if form[0] == "sparse":
                rows = form[3]
                grads.append(tf.IndexedSlices(tf.zeros((rows, *shape[1:])), tf.zeros((rows,), tf.int32),
                                              tf.constant(shape, tf.int64)))
            else:
                grads.append(tf.zeros(shape))
        return grads

    @tf.function
    def exchange():
        def replica():
            reduced = tf.distribute.get_replica_context().all_reduce("sum", zeros_like_gradients())
            return tf.add_n([tf.reshape(getattr(g, "values", g), [-1])[0] for g in reduced])

        return strategy.run(replica)

    exchange()
    rounds = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(max(args.steps, 3)):
            float(np.asarray(strategy.experimental_local_results(exchange())[0]))
        rounds.append((time.perf_counter() - start) / max(args.steps, 3))
    return min(rounds)


# ---- gradient_accumulation_steps under a strategy -------------------------------------------------

def run_accumulation_probe(args):
    """Trains a small model four ways from the same weights on the same rows and prints the
    largest weight difference to the first, relative to each tensor's largest weight: one
    process, batch 16, 3 Adam steps; one process, gradient_accumulation_steps 2 on batches of 8;
    under the strategy (MultiWorkerMirroredStrategy when TF_CONFIG is set, else MirroredStrategy
    with the CPU split into 2 replicas) on global batches of 16; and under it with
    gradient_accumulation_steps 2 on global batches of 8 (or the error it fails with)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasrnn.train.distribution import choose_distribution

    if os.environ.get("TF_CONFIG"):
        dist = choose_distribution("multi-worker", environ=os.environ)
    else:
        dist = choose_distribution("mirrored", 2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 6)).astype(np.float32)
    y = rng.integers(0, 3, 48).astype(np.int32)
    keras.utils.set_random_seed(0)
    start = None

    def train(batch, accumulation, distribution=None):
        nonlocal start
        scope = distribution.scope() if distribution else contextlib.nullcontext()
        with scope:
            model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="tanh"),
                                      keras.layers.Dense(3)])
            model.compile(keras.optimizers.Adam(0.05, gradient_accumulation_steps=accumulation),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        if start is None:
            start = model.get_weights()
        model.set_weights(start)
        if distribution:
            def shard(s, shards):
                rows = batch // shards
                order = np.concatenate([np.arange(b + s * rows, b + (s + 1) * rows)
                                        for b in range(0, len(x), batch)])
                return tf.data.Dataset.from_tensor_slices((x[order], y[order])).batch(rows)

            data = distribution.dataset(shard)
        else:
            data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)
        model.fit(data, epochs=1, steps_per_epoch=len(x) // batch, verbose=0, shuffle=False)
        return model.get_weights(), int(model.optimizer.iterations.numpy())

    def moved(weights, reference):
        return max(float(np.abs(a - b).max()) for a, b in zip(weights, reference))

    def difference(weights, reference):
        return max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(weights, reference))

    reference, _ = train(16, None)
    one_process, _ = train(8, 2)
    result = dict(probe="accumulation", distribute=dist.name, replicas=dist.replicas,
                  workers=dist.workers, weights_moved=moved(start, reference),
                  one_process_accumulated=difference(one_process, reference))
    plain, _ = train(16, None, dist)
    result["distributed_plain"] = difference(plain, reference)
    try:
        accumulated, iterations = train(8, 2, dist)
        result.update(distributed_accumulated=difference(accumulated, reference),
                      optimizer_iterations=iterations)
    except Exception as e:  # noqa: BLE001 - what fails is the finding
        lines = [line.replace("\x1b[1m", "").replace("\x1b[0m", "").strip() for line in str(e).splitlines()]
        lines = [line for line in lines if line and not line.startswith("Exception encountered")]
        result["distributed_error"] = f"{type(e).__name__}: {(lines or [''])[0].split('. ')[0]}"
    if dist.is_chief:
        print(RESULT + json.dumps(result), flush=True)
    return 0


# ---- the driver -----------------------------------------------------------------------------------

def child_env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.pop("TF_CONFIG", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def run_child(command, timeout):
    """Runs a child and returns its result JSON lines (the chief's, or every independent
    worker's), raising with the tail of its output if it printed none."""
    done = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=timeout)
    results = [json.loads(line.split(RESULT, 1)[1]) for line in done.stdout.splitlines() if RESULT in line]
    if done.returncode == 0 and results:
        return results
    raise RuntimeError(f"{' '.join(command[1:4])} ... failed (status {done.returncode}):\n"
                       f"{(done.stdout + done.stderr)[-3000:]}")


def measure(kind, args):
    """One cycle of the three timed runs of `kind`: (a) one process, (b) two independent
    processes at once, (c) 2 workers."""
    me = [sys.executable, str(pathlib.Path(__file__).resolve())]
    worker = ["--worker", kind, "--warmup", str(args.warmup), "--rounds", str(args.rounds),
              "--steps", str(args.steps)]
    if args.replica_batch:
        worker += ["--replica-batch", str(args.replica_batch[kind])]
    launch = [sys.executable, "training/launch_workers.py", "--workers", "2", "--grace", "5", "--", *me]
    one = run_child(me + worker, args.timeout)[0]
    side_by_side = run_child(launch + worker + ["--independent"], args.timeout)
    two = run_child(launch + worker, args.timeout)[0]
    busy = max(side_by_side, key=lambda r: r["step_seconds"])
    return dict(one=one, one_busy=busy, two=two)


def best_of_cycles(cycles):
    """Per run (one, one_busy, two) the cycle with the shortest step, all-reduce alone the
    shortest of any cycle; every cycle's runs kept under `cycles`."""
    best = {run: min((c[run] for c in cycles), key=lambda r: r["step_seconds"]) for run in cycles[0]}
    best["two"] = dict(best["two"], allreduce_seconds=min(c["two"]["allreduce_seconds"] for c in cycles))
    return dict(best, cycles=cycles)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kinds", default=",".join(KINDS), help=f"models to run, of {','.join(KINDS)} (default all)")
    p.add_argument("--flops-per-second", type=float, default=50e12,
                   help="achieved accelerator FLOP/s for the projection's compute time (default 50e12)")
    p.add_argument("--latency-us", type=float, default=0.0,
                   help="latency per ring step of an all-reduce, microseconds (default 0)")
    p.add_argument("--target", type=float, default=0.9, help="efficiency to reach (default 0.9)")
    p.add_argument("--target-workers", type=int, default=8, help="at this many workers (default 8)")
    p.add_argument("--target-gbps", type=float, default=10.0, help="on this bandwidth, Gb/s (default 10)")
    p.add_argument("--cycles", type=int, default=3,
                   help="times every run is repeated, round-robin over runs and models (default 3)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per run; the best is reported (default 3)")
    p.add_argument("--steps", type=int, default=3, help="training steps per round (default 3)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--no-measure", action="store_true",
                   help="counts, the accumulation check and the projection; no timed runs")
    p.add_argument("--quick", action="store_true", help="tiny batches, one timed step: checks the script runs")
    p.add_argument("--json", help="also write every figure to this JSON file")
    p.add_argument("--timeout", type=float, default=300, help="seconds a timed run may take (default 300)")
    p.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    p.add_argument("--replica-batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--independent", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--probe-accumulation", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker or args.probe_accumulation:
        return args
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted(set(args.kinds) - set(KINDS))
    if unknown or not args.kinds:
        p.error(f"--kinds takes names of {', '.join(KINDS)}, got {unknown or 'none'}")
    for name in ("cycles", "rounds", "steps", "warmup", "target_workers"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0 < args.target < 1 or args.flops_per_second <= 0 or args.target_gbps <= 0 or args.latency_us < 0:
        p.error("--target must be in (0, 1); --flops-per-second and --target-gbps > 0; --latency-us >= 0")
    args.replica_batch = None
    if args.quick:
        args.cycles, args.rounds, args.steps, args.warmup, args.replica_batch = 1, 1, 1, 1, QUICK_BATCH
    return args


def fmt_bytes(n):
    return f"{n / 1e6:,.2f} MB" if n >= 1e5 else f"{n / 1e3:,.1f} kB"


def fmt_seconds(s):
    return f"{s * 1e3:,.2f} ms" if s < 1 else f"{s:,.2f} s"


def pct(x):
    return f"{100 * x:.0f}%" if x >= 0.1 else f"{100 * x:.1f}%"


def exchanged(row):
    parts = [f"all-reduce {fmt_bytes(row['dense_bytes'])}"]
    if row["sparse_bytes"]:
        parts.append(f"all-gather {fmt_bytes(row['sparse_bytes'])} per worker (embedding)")
    return " + ".join(parts)


def print_counts(rows, args):
    print(f"Per training step at the default batch (the per-worker batch below); compute at "
          f"{args.flops_per_second / 1e12:g} TFLOP/s achieved:\n")
    print("| model | batch per worker | trainable weights | gradient bytes | exchanged per step "
          f"| FLOPs per step | compute at {args.flops_per_second / 1e12:g} TFLOP/s |")
    print("|---|---|---:|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['label']} | {r['batch_described']} | {r['weights']:,} | {fmt_bytes(r['gradient_bytes'])} "
              f"| {exchanged(r)} | {r['flops'] / 1e9:,.2f} G | {fmt_seconds(r['flops'] / args.flops_per_second)} |")
    char = next((r for r in rows if r["kind"] == "char"), None)
    print("\nFLOPs: forward + backward of the traced train step, TensorFlow's per-op FLOP tables over "
          "the ops the gradients need (loops unrolled), Einsum and Conv2D backprop counted as their "
          "multiply-adds.")
    if char:
        print(f"Check, char model: analytic count of its matmuls {char['analytic_flops'] / 1e9:,.2f} G, "
              f"counted {char['flops'] / 1e9:,.2f} G ({char['flops'] / char['analytic_flops'] - 1:+.1%}; "
              "the rest is element-wise work).")
    print("tf.compat.v1.profiler float_operation over the whole traced graph (dead gradient branches "
          "and \"same\"-padding conv backprop included): "
          + ", ".join(f"{r['kind']} {r['profiler_flops'] / 1e9:,.2f} G" for r in rows) + ".")


def print_measured(rows, measured, args):
    print("\nMeasured here: `fit` on synthetic data, per-worker batch as above, every process pinned "
          f"to a core of its own; seconds per step, best of {args.cycles} x {args.rounds} rounds of "
          f"{args.steps} steps (every run repeated {args.cycles} times, round-robin). "
          "(a) one process; (b) two independent processes at once (no exchange; the slower one); "
          "(c) 2 workers, MultiWorkerMirroredStrategy over loopback (training/launch_workers.py).\n")
    print("| model | (a) 1 process | (b) 2 processes at once, no exchange | (c) 2 workers "
          "| all-reduce c - a | exchange alone | efficiency a/c |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        m = measured.get(r["kind"])
        if not m:
            continue
        t1, busy, t2 = m["one"]["step_seconds"], m["one_busy"]["step_seconds"], m["two"]["step_seconds"]
        print(f"| {r['label']} | {fmt_seconds(t1)} | {fmt_seconds(busy)} | {fmt_seconds(t2)} "
              f"| {fmt_seconds(t2 - t1)} | {fmt_seconds(m['two']['allreduce_seconds'])} | {pct(t1 / t2)} |")
    print("\nc - a, the all-reduce estimate, also holds the strategy's coordination and the "
          "slowdown of two processes sharing the machine (b against a); \"exchange alone\" "
          "exchanges zeros of the gradients' shapes and forms between the 2 workers, nothing else.")


def projection_rows(rows, args, setting=None):
    """`[(row, gbps, [efficiency per N])]`; `setting`: `{kind: (how, factor)}`."""
    out = []
    for r in rows:
        cost = cost_of(r)
        if setting:
            cost = setting_cost(cost, *setting[r["kind"]])
        for gbps in BANDWIDTHS_GBPS:
            out.append((r, gbps, [efficiency(cost, n, gbps * 1e9, args.flops_per_second, args.latency_us * 1e-6)
                                  for n in WORKERS]))
    return out


def print_projection(table, first_column="model"):
    print(f"| {first_column} | Gb/s | " + " | ".join(f"{n}" for n in WORKERS) + " |")
    print("|---|---:|" + "---:|" * len(WORKERS))
    for name, gbps, values in table:
        print(f"| {name} | {gbps} | " + " | ".join(pct(v) for v in values) + " |")


def target_settings(rows, args):
    """`(targets, setting)`: per kind today's efficiency at the target point and the smallest
    batch multiple / accumulation steps reaching the target; and the setting the last table
    shows: `(how, factor)`, how one of "none", "batch", "accumulation"."""
    latency, bps = args.latency_us * 1e-6, args.target_gbps * 1e9
    targets, setting = {}, {}
    for r in rows:
        cost = cost_of(r)
        today = efficiency(cost, args.target_workers, bps, args.flops_per_second, latency)
        m, k = settings_to_reach(cost, args.target, args.target_workers, bps, args.flops_per_second, latency)
        targets[r["kind"]] = dict(efficiency=today, batch_multiple=m, accumulation_steps=k)
        if today >= args.target:
            setting[r["kind"]] = ("none", 1)
        elif m is not None:
            setting[r["kind"]] = ("batch", m)
        else:
            setting[r["kind"]] = ("accumulation", k)
    return targets, setting


def setting_cost(cost, how, factor):
    if how == "accumulation":
        return cost.with_accumulation(factor)
    return cost.with_batch_multiple(factor)


def setting_label(row, how, factor):
    return {"none": "today's batch", "batch": f"batch x {factor:,} = {factor * row['batch']:,}",
            "accumulation": f"gradient_accumulation_steps {factor:,}"}[how]


def print_projections(rows, args, targets, setting):
    formula = ("t_allreduce = 2 (N-1)/N x dense bytes / bandwidth + (N-1) x sparse bytes per worker / "
               "bandwidth" + (f" + 2 (N-1) x {args.latency_us:g} us" if args.latency_us else ""))
    print(f"\nProjected weak-scaling efficiency t_compute / (t_compute + t_allreduce) at N workers "
          f"(per-worker batch as above), compute at {args.flops_per_second / 1e12:g} TFLOP/s, "
          f"{formula}, no overlap:\n")
    print_projection([(r["label"], g, v) for r, g, v in projection_rows(rows, args)])
    print(f"\nTarget: {pct(args.target)} at {args.target_workers} workers on {args.target_gbps:g} Gb/s. "
          "Smallest setting that reaches it:\n")
    print("| model | today | per-worker batch x m | gradient_accumulation_steps k |")
    print("|---|---:|---:|---:|")
    for r in rows:
        t = targets[r["kind"]]
        if t["efficiency"] >= args.target:
            m = k = "-"
        else:
            m = (f"{t['batch_multiple']:,} (batch {t['batch_multiple'] * r['batch']:,})" if t["batch_multiple"]
                 else "none: the sparse all-gather grows with the batch")
            k = f"{t['accumulation_steps']:,}"
        print(f"| {r['label']} | {pct(t['efficiency'])} | {m} | {k} |")
    tuned = [(f"{SHORT_LABELS[r['kind']]}, {setting_label(r, *setting[r['kind']])}", g, v)
             for r, g, v in projection_rows(rows, args, setting)]
    print("\nWith the setting that reaches it (a larger per-worker batch where that suffices, else "
          "gradient_accumulation_steps):\n")
    print_projection(tuned, "model, setting")


def print_probe(probe):
    where = (f"MirroredStrategy ({probe['replicas']} CPU replicas)" if probe["distribute"] == "mirrored"
             else f"MultiWorkerMirroredStrategy ({probe['workers']} workers)")
    if "distributed_error" in probe:
        outcome = f"fails: {probe['distributed_error']}"
    else:
        same = probe["distributed_accumulated"] <= PROBE_TOLERANCE
        outcome = (f"gives {'the same' if same else 'OTHER'} weights (largest difference "
                   f"{probe['distributed_accumulated']:.1e} of a tensor's largest weight)")
    print(f"\ngradient_accumulation_steps 2 under {where}, global batches of 8, against one process "
          f"on batches of 16 (3 Adam steps; the weights moved up to {probe['weights_moved']:.2f}): "
          f"{outcome}. Controls: one process accumulating {probe['one_process_accumulated']:.1e}, the "
          f"strategy without accumulation on batches of 16 {probe['distributed_plain']:.1e}.")


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return run_worker(args)
    if args.probe_accumulation:
        return run_accumulation_probe(args)
    started = time.perf_counter()
    import keras
    import tensorflow as tf

    rows = [analyse(kind) for kind in args.kinds]
    measured, probes = {}, []
    if not args.no_measure:
        cycles = {kind: [] for kind in args.kinds}
        for _ in range(args.cycles):  # round-robin: machine noise hits every run alike
            for kind in args.kinds:
                cycles[kind].append(measure(kind, args))
        measured = {kind: best_of_cycles(runs) for kind, runs in cycles.items()}
    me = [sys.executable, str(pathlib.Path(__file__).resolve()), "--probe-accumulation"]
    probes = [run_child(me, args.timeout)[0],
              run_child([sys.executable, "training/launch_workers.py", "--workers", "2", "--grace", "5",
                         "--", *me], args.timeout)[0]]
    targets, setting = target_settings(rows, args)

    shown = " ".join(sys.argv[1:] if argv is None else argv)
    print(f"\n$ python benchmarks/bench_distributed.py {shown}".rstrip())
    print(f"Keras {keras.__version__}, TensorFlow {tf.__version__}, os.cpu_count() = {os.cpu_count()}"
          + (", --quick: tiny batches, one timed step (the timings are no figures)" if args.quick else "") + "\n")
    print_counts(rows, args)
    if measured:
        print_measured(rows, measured, args)
    for probe in probes:
        print_probe(probe)
    print_projections(rows, args, targets, setting)
    seconds = time.perf_counter() - started
    print(f"\n({seconds:.0f} s)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(dict(
            argv=shown, keras=keras.__version__, tensorflow=tf.__version__, cpu_count=os.cpu_count(),
            flops_per_second=args.flops_per_second, latency_us=args.latency_us, counts=rows,
            measured=measured, accumulation_probes=probes, targets=targets,
            setting={k: dict(how=v[0], factor=v[1]) for k, v in setting.items()},
            projection=[dict(kind=r["kind"], gbps=g, workers=list(WORKERS), efficiency=v)
                        for r, g, v in projection_rows(rows, args)],
            projection_with_setting=[dict(kind=r["kind"], gbps=g, workers=list(WORKERS), efficiency=v)
                                     for r, g, v in projection_rows(rows, args, setting)],
            seconds=seconds), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
