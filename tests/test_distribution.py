"""How a run is spread over devices: the settings `choose_distribution` refuses (before any
device or collective is set up), `TF_CONFIG` checks, the global batch's split into shards, and
the gradient accumulation settings."""

import json
import os
import signal
import socket
import threading
import time

import numpy as np
import pytest

from kerasrnn import run_dir
from kerasrnn.config_checks import check_accumulation
from kerasrnn.data.shards import shard_rows
from kerasrnn.kinds.char_rnn.text import stream_dataset, window_dataset
from kerasrnn.errors import InputError
from kerasrnn.train.distribution import Distribution, choose_distribution, parse_tf_config
from kerasrnn.train.rendezvous import wait_for_tasks
from kerasrnn.kinds.captioner.config import CaptionerConfig
from kerasrnn.kinds.char_rnn.config import CharRNNConfig
from kerasrnn.kinds.stn_classifier.config import STNConfig


def tf_config(workers=("localhost:1234", "localhost:1235"), index=0, **extra):
    return json.dumps({"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index},
                       **extra})


@pytest.mark.parametrize("text, message", [
    ("{not json", "TF_CONFIG is not JSON"),
    ("[]", 'TF_CONFIG must be an object with a "cluster" object'),
    (json.dumps({"cluster": {}}), 'TF_CONFIG\'s cluster names no "worker" addresses'),
    (json.dumps({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}),
     'TF_CONFIG\'s cluster "worker" must be a list of "host:port" addresses'),
    (json.dumps({"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker"}}),
     'TF_CONFIG\'s cluster has a "ps" task'),
    (tf_config(index=2), "TF_CONFIG's task index must be an integer from 0 to 1, got 2"),
    (tf_config(index="1"), "TF_CONFIG's task index must be an integer from 0 to 1, got '1'"),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}),
     'TF_CONFIG\'s "task" must name a type of its cluster (worker)'),
])
def test_a_malformed_tf_config_is_refused_in_one_line(text, message):
    with pytest.raises(InputError) as e:
        parse_tf_config(text)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_a_tf_config_is_read():
    cluster, task_type, index = parse_tf_config(tf_config(index=1))
    assert cluster == {"worker": ["localhost:1234", "localhost:1235"]} and (task_type, index) == ("worker", 1)


@pytest.mark.parametrize("distribute, replicas, environ, message", [
    ("ring", None, {}, "distribute must be one of auto, off, mirrored, multi-worker, got 'ring'"),
    ("mirrored", 0, {}, "replicas must be an integer >= 1, got 0"),
    ("off", 2, {}, "replicas 2 needs distribute mirrored, not off"),
    ("mirrored", 9, {}, "replicas 9 is more than the 8 logical devices a CPU is split into here"),
    ("multi-worker", None, {}, "distribute multi-worker needs the TF_CONFIG environment variable"),
    ("multi-worker", 2, {"TF_CONFIG": tf_config()}, "replicas applies to distribute mirrored"),
    ("auto", None, {"TF_CONFIG": "{"}, "TF_CONFIG is not JSON"),
])
def test_bad_settings_are_refused_before_anything_starts(distribute, replicas, environ, message):
    with pytest.raises(InputError) as e:
        choose_distribution(distribute, replicas, environ=environ)
    assert str(e.value).startswith(message)


def test_a_port_in_use_is_refused():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match=f"this worker's address localhost:{port} .* choose a free port"):
            choose_distribution("multi-worker", environ={"TF_CONFIG": tf_config((f"localhost:{port}", "localhost:1"))})


def test_off_is_one_process_with_the_whole_batch():
    one = choose_distribution("off", environ={})
    assert (one.name, one.replicas, one.workers, one.is_chief) == ("off", 1, 1, True)
    assert one.record(32) == dict(distribute="off", replicas=1, workers=1, replica_batch_size=32)


def test_the_global_batch_must_split_evenly_and_steps_per_execution_needs_one_replica():
    two = Distribution("mirrored", strategy=None, replicas=2)
    assert two.replica_batch_size(8) == 4
    with pytest.raises(InputError, match="batch_size 7 is the global batch and must be divisible by the 2 replicas"):
        two.replica_batch_size(7)
    with pytest.raises(InputError, match="steps_per_execution 10 runs only on one replica"):
        two.check_steps_per_execution(10)
    two.check_steps_per_execution(1)
    with pytest.raises(InputError, match="time limit"):
        Distribution("multi-worker", strategy=None, replicas=2, workers=2).check_time_limit(60)


def test_shards_together_are_the_global_batch():
    assert [shard_rows(8, s, 4) for s in range(4)] == [(0, 2), (2, 4), (4, 6), (6, 8)]
    ids = np.arange(2000) % 17
    for make in (lambda s, n: stream_dataset(ids, 8, 5, shard=s, shards=n),
                 lambda s, n: window_dataset(ids, 8, 5, seed=3, shard=s, shards=n)):
        whole = [x for x, _ in make(0, 1).take(6).as_numpy_iterator()]
        halves = [[x for x, _ in make(s, 2).take(6).as_numpy_iterator()] for s in range(2)]
        for step in range(6):
            np.testing.assert_array_equal(np.concatenate([halves[0][step], halves[1][step]]), whole[step])


def test_other_keras_versions_are_refused_not_trained_wrongly(monkeypatch):
    import keras

    from kerasrnn.train import keras_distribute_fixes

    keras_distribute_fixes.check_versions()  # the pinned versions pass
    monkeypatch.setattr(keras, "__version__", "3.16.0")
    with pytest.raises(InputError, match=r"distributed training is tested on keras 3\.15\.1 .* this is keras "
                                         r"3\.16\.0 .* install the tested versions"):
        keras_distribute_fixes.check_versions()
    with pytest.raises(InputError, match="this is keras 3.16.0"):  # before any device is split
        choose_distribution("mirrored", 2, environ={})


def test_the_memory_check_counts_one_replicas_share_of_the_global_batch():
    from kerasrnn.kinds.stn_classifier.config import STNConfig

    config = STNConfig(distortion="RTS", batch_size=29696)  # 3,712 images on each of 8 workers
    with pytest.raises(InputError, match="activations in one batch"):
        config.validate()
    config.validate(replicas=8)


@pytest.mark.parametrize("config, message", [
    (CharRNNConfig(steps=100, eval_every=50, gradient_accumulation_steps=3),
     "gradient_accumulation_steps 3 must divide the 50 steps of an evaluation interval"),
    (CharRNNConfig(steps=100, eval_every=30, gradient_accumulation_steps=3),
     r"gradient_accumulation_steps 3 must divide the 100 steps of the run \(steps\)"),
    (CharRNNConfig(steps=100, eval_every=50, gradient_accumulation_steps=0),
     "gradient_accumulation_steps must be >= 1"),
    (STNConfig(gradient_accumulation_steps=1.5), "gradient_accumulation_steps must be an integer"),
    (CaptionerConfig(gradient_accumulation_steps=-2), "gradient_accumulation_steps must be >= 1"),
])
def test_gradient_accumulation_must_fall_on_evaluations_and_backups(config, message):
    with pytest.raises(InputError, match=message):
        config.validate()


def test_an_epoch_must_hold_whole_accumulations():
    check_accumulation(4, 100, "an epoch")
    with pytest.raises(InputError, match="gradient_accumulation_steps 3 must divide the 100 steps of an epoch"):
        check_accumulation(3, 100, "an epoch")


def test_steps_count_batches_and_accumulation_says_when_the_weights_are_between_updates():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1, gradient_accumulation_steps=3), "mse")
    x, y = np.ones((8, 2), np.float32), np.ones((8, 1), np.float32)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)  # 4 batches: 1 update, 1 batch summed
    assert run_dir.steps_trained(model) == 4 and int(model.optimizer.iterations.numpy()) == 1
    assert run_dir.inside_accumulation(model)
    model.fit(x[:4], y[:4], batch_size=2, epochs=1, verbose=0)
    assert run_dir.steps_trained(model) == 6 and not run_dir.inside_accumulation(model)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_worker_that_never_comes_up_ends_the_wait_in_one_line_naming_it():
    own, absent = free_port(), free_port()  # nothing listens on `absent`
    environ = {"TF_CONFIG": tf_config((f"localhost:{own}", f"localhost:{absent}"))}
    started = time.monotonic()
    with pytest.raises(InputError) as e:
        choose_distribution("multi-worker", environ=environ, join_timeout=1)
    assert time.monotonic() - started < 5  # TensorFlow's own join waits without end
    assert str(e.value).startswith(f"worker 1 (localhost:{absent}) did not join the cluster "
                                   "within join_timeout 1 s")
    with pytest.raises(InputError, match="join_timeout must be > 0, got 0"):
        choose_distribution("multi-worker", environ=environ, join_timeout=0)


def test_tasks_waiting_for_each_other_all_go_on():
    ports = [free_port() for _ in range(3)]
    addresses = [f"localhost:{p}" for p in ports]
    done, errors = [], []

    def task(i):
        try:
            others = {f"worker {j}": a for j, a in enumerate(addresses) if j != i}
            wait_for_tasks(addresses[i], others, timeout=20)
            done.append(i)
        except InputError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=task, args=(i,)) for i in range(3)]
    for t in threads[:2]:
        t.start()
    time.sleep(0.5)  # the last one comes up later
    threads[2].start()
    for t in threads:
        t.join(timeout=30)
    assert errors == [] and sorted(done) == [0, 1, 2]


def test_sigterm_ends_the_wait_at_once():
    previous = signal.getsignal(signal.SIGTERM)  # whatever an earlier test in this process left
    own, absent = free_port(), free_port()
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(InputError, match="stopped by SIGTERM while waiting for the other workers"):
            wait_for_tasks(f"localhost:{own}", {"worker 1": f"localhost:{absent}"}, timeout=60)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5
    assert signal.getsignal(signal.SIGTERM) is previous  # the previous handler is back
