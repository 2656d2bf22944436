"""Canaries: each Keras defect that `kerasrnn.train.keras_distribute_fixes` fixes still exists in
the installed Keras, shown on its unpatched code in a tiny setting, next to the number the same
setting gives without a strategy. After a Keras upgrade, a canary that fails names a fix that can
go. The pin test keeps the extras, `constraints.txt` and `TESTED_KERAS` on one Keras.

Each canary runs in a process of its own that imports only TensorFlow and Keras (importing the
package's training code may install the fixes): defects 1, 4 and 5 on one `MirroredStrategy` over
2 logical CPU devices (one process for the three), defects 2 and 3 on 2 worker processes of
`MultiWorkerMirroredStrategy` on loopback ports (the slow tier)."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement

ROOT = pathlib.Path(__file__).resolve().parents[1]

# One process, 2 replicas on 2 logical CPU devices. Prints one JSON line:
# {"patched": bool, "passes" | "clipped" | "accumulate": {"one": ..., "mirrored": ...}}.
MIRRORED = r'''
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from keras.src.backend.tensorflow import trainer

one = tf.distribute.get_strategy()
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x = np.ones((2, 1), "float32")
y = np.full((2, 1), 10.0, "float32")


def model(strategy, **optimizer):
    """w x (w: one weight, 0 at first), mean squared error, SGD with learning rate 1."""
    with strategy.scope():
        m = keras.Sequential([keras.Input((1,)),
                              keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
        m.compile(optimizer=keras.optimizers.SGD(1.0, **optimizer), loss="mse")
    return m


def passes(strategy):
    """Passes started over the training data by one epoch of `fit`."""
    started = []

    def examples():
        started.append(1)
        for _ in range(4):
            yield np.ones((1,), "float32"), np.ones((1,), "float32")

    spec = (tf.TensorSpec((1,)), tf.TensorSpec((1,)))
    data = tf.data.Dataset.from_generator(examples, output_signature=spec).batch(2)
    model(strategy).fit(data, epochs=1, verbose=0)
    return len(started)


def clipped(strategy):
    """w after one step on a batch of 2 whose gradient is -20, clipped to [-1, 1]."""
    m = model(strategy, clipvalue=1.0)
    m.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False)
    return float(m.get_weights()[0][0, 0])


def accumulate(strategy):
    """The error of `fit` with gradient accumulation, or None."""
    try:
        model(strategy, gradient_accumulation_steps=2).fit(x, y, batch_size=2, epochs=1, verbose=0)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


out = {"patched": "kerasrnn" in sys.modules
       or not trainer.TensorFlowTrainer._maybe_symbolic_build.__module__.startswith("keras")}
for name, measure in [("passes", passes), ("clipped", clipped), ("accumulate", accumulate)]:
    out[name] = {"one": measure(one), "mirrored": measure(mirrored)}
print(json.dumps(out))
'''

# One of 2 workers (TF_CONFIG says which). Prints one JSON line:
# {"patched": bool, "multi_worker": bool, "scalar_mean": error or None, "fit": error or None}.
WORKER = r'''
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
import tensorflow as tf
import keras
from keras.src.backend.tensorflow import trainer

strategy = tf.distribute.MultiWorkerMirroredStrategy()


def error(run):
    try:
        run()
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


@tf.function
def scalar_mean():
    """Keras's cross-worker mean of a scalar (what `fit` does with the loss it logs)."""
    return trainer.reduce_per_replica(strategy.run(lambda: tf.constant(1.0)), strategy, "auto")


def fit():
    with strategy.scope():
        m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
    data = tf.data.Dataset.from_tensor_slices((np.ones((4, 1), "float32"),
                                               np.ones((4, 1), "float32"))).batch(2)
    m.fit(data, epochs=1, verbose=0)


out = {"patched": "kerasrnn" in sys.modules
       or not trainer.TensorFlowTrainer._maybe_symbolic_build.__module__.startswith("keras"),
       "multi_worker": trainer._collective_all_reduce_multi_worker(strategy),
       "scalar_mean": error(scalar_mean), "fit": error(fit)}
print(json.dumps(out))
'''


def child_env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", KERAS_BACKEND="tensorflow",
               PYTHONUNBUFFERED="1", **extra)
    if "TF_CONFIG" not in extra:
        env.pop("TF_CONFIG", None)
    return env


def result(stdout, stderr):
    lines = stdout.strip().splitlines()
    assert lines, stderr[-3000:]
    out = json.loads(lines[-1])
    assert out["patched"] is False  # the canaries run Keras's own code
    return out


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    done = subprocess.run([sys.executable, "-c", MIRRORED], cwd=tmp_path_factory.mktemp("mirrored"),
                          env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return result(done.stdout, done.stderr)


def free_ports(count):
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """What each of 2 worker processes of one multi-worker cluster printed."""
    folder = tmp_path_factory.mktemp("workers")
    addresses = [f"localhost:{port}" for port in free_ports(2)]
    processes = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": {"worker": addresses},
                                    "task": {"type": "worker", "index": index}})
            processes.append(subprocess.Popen([sys.executable, "-c", WORKER], cwd=folder,
                                              env=child_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True))
        outputs = [process.communicate(timeout=300) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert [process.returncode for process in processes] == [0, 0], [err[-3000:] for _, err in outputs]
    return [result(out, err) for out, err in outputs]


def test_keras_still_reads_the_data_once_more_to_build_under_a_strategy(mirrored):
    """Defect 1: under a strategy `fit` builds from a batch pulled through a throwaway iterator,
    so one epoch starts 2 passes over the data (a reshuffling dataset starts one reshuffle
    ahead); without a strategy, 1. When this fails, Keras fixed defect 1: remove fix 1 from
    keras_distribute_fixes and this test (fix 1 also fixes defect 2: it goes only when the
    canary of defect 2 fails too)."""
    assert mirrored["passes"] == {"one": 1, "mirrored": 2}


@pytest.mark.slow
def test_keras_still_cannot_average_the_build_batch_across_workers(workers):
    """Defect 2: on 2 workers `fit` averages the batch it builds from with a reduction that
    `MultiWorkerMirroredStrategy` cannot do, and fails before the first step. When this fails,
    Keras fixed defect 2: remove fix 2 from keras_distribute_fixes and this test (fix 2 is
    fix 1's code: it goes only when the canary of defect 1 fails too)."""
    for out in workers:
        assert out["multi_worker"] is True
        assert out["fit"] is not None and out["fit"].startswith(
            "ValueError: Attempt to convert a value (PerReplica:"), out["fit"]


@pytest.mark.slow
def test_keras_still_averages_scalar_metrics_across_workers_on_axis_0(workers):
    """Defect 3: on 2 workers Keras's cross-worker mean of a scalar (the loss `fit` logs)
    reduces along axis 0, which a scalar has not. When this fails, Keras fixed defect 3: remove
    fix 3 from keras_distribute_fixes and this test."""
    for out in workers:
        assert out["multi_worker"] is True
        assert out["scalar_mean"] is not None and out["scalar_mean"].startswith("ValueError:")
        assert "Invalid reduction dimension 0 for input with 0 dimensions" in out["scalar_mean"]


def test_keras_still_clips_each_replicas_share_of_the_gradient(mirrored):
    """Defect 4: the weight after one step whose gradient (-20) is clipped to [-1, 1] is 1 in
    one process, and 2 on 2 replicas, each clipping its own share (-10) before the sum. When this
    fails, Keras fixed defect 4: remove fix 4 from keras_distribute_fixes and this test."""
    assert mirrored["clipped"] == {"one": 1.0, "mirrored": 2.0}


def test_keras_still_cannot_accumulate_gradients_under_a_strategy(mirrored):
    """Defect 5: `fit` with `gradient_accumulation_steps` runs in one process and fails under a
    strategy (`merge_call` inside a conditional). When this fails, Keras fixed defect 5: remove
    fix 5 from keras_distribute_fixes and this test."""
    assert mirrored["accumulate"]["one"] is None
    error = mirrored["accumulate"]["mirrored"]
    assert error is not None, error
    assert "`merge_call` called while defining a new graph or a tf.function" in error, error


def test_the_tensorflow_extras_pin_the_keras_the_fixes_are_tested_on():
    """The `cpu` and `gpu` extras and constraints.txt admit exactly `TESTED_KERAS`; the core
    dependency admits any Keras from 3.10 on (the layers alone run on any backend)."""
    from kerasrnn.train.keras_distribute_fixes import TESTED_KERAS

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def keras_requirement(requirements):
        (found,) = [r for r in map(Requirement, requirements) if r.name == "keras"]
        return found.specifier

    for extra in ("cpu", "gpu"):
        specifier = keras_requirement(project["optional-dependencies"][extra])
        assert {s.operator for s in specifier} == {"=="}, (extra, str(specifier))
        assert {s.version for s in specifier} == set(TESTED_KERAS), (extra, str(specifier))
    constraints = [line.split("==")[1] for line in (ROOT / "constraints.txt").read_text().splitlines()
                   if line.lower().startswith("keras==")]
    assert constraints == list(TESTED_KERAS)
    core = keras_requirement(project["dependencies"])
    assert all(core.contains(v) for v in ("3.10.0", *TESTED_KERAS, "3.99.0")) and not core.contains("4.0.0")
