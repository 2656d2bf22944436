"""Data-parallel training equals one process: the same global batch and seed trained by one
process, by 2 replicas of `MirroredStrategy` (the CPU split into 2 logical devices) and by 2
worker processes of `MultiWorkerMirroredStrategy` (started by training/launch_workers.py on
loopback ports) reach the same losses and weights, within 1e-5 of the largest weight per
tensor. Each run is a real script run in its own process (TensorFlow's devices and collectives
are set once per process).

The runs compute in float64 (Keras's `floatx`, through a `keras.json` in `KERAS_HOME`): a
sum split over two replicas adds in another order than the whole batch's, and in float32 that
roundoff alone moves the captioner's first convolution bias (a gradient summed over 8 x 32 x 32
terms that nearly cancel, then normalised by Adam) by 4e-5 of its size in 12 steps; in float64
the same runs agree to 1e-14, so only a real difference (a loss scaled or counted per replica,
a state or a shard mixed up) can fail these tests."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time

import keras
import kerasrnn.layers  # noqa: F401 - registers the layers the saved models use
import kerasrnn.kinds.captioner.model  # noqa: F401
import numpy as np
import pytest
from script_runs import run_script, start_script
from test_train_stn import fake_mnist

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5
PYTHON = sys.executable


_keras_home = []


def keras_home():
    """A Keras config folder whose `keras.json` sets float64 (made once per test process)."""
    if not _keras_home:
        folder = pathlib.Path(tempfile.mkdtemp(prefix="keras-float64-"))
        (folder / "keras.json").write_text(json.dumps(
            {"floatx": "float64", "backend": "tensorflow", "epsilon": 1e-07, "image_data_format": "channels_last"}))
        _keras_home.append(str(folder))
    return _keras_home[0]


def run(command, timeout=240, **kwargs):
    """Runs `command` (a script's path and its arguments) in a fresh process from the repository root."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", KERAS_HOME=keras_home())
    env.pop("TF_CONFIG", None)
    return run_script(*command, cwd=ROOT, env=env, timeout=timeout, **kwargs)


def launch(workers, command, timeout=300):
    return run(["training/launch_workers.py", "--workers", str(workers), "--grace", "5", "--",
                PYTHON, *command], timeout=timeout)


def three_runs(base, command):
    """The same run in one process, on 2 replicas (MirroredStrategy) and as 2 workers:
    `{"one" | "mirrored" | "workers": run directory}`; `command(out, *extra)` is the script's
    argument list."""
    for name, extra in [("one", ["--distribute", "off"]), ("mirrored", ["--distribute", "mirrored", "--replicas", "2"])]:
        result = run(command(base / name, *extra))
        assert result.returncode == 0, result.stderr[-3000:]
        (base / f"{name}.out").write_text(result.stdout)
        (base / f"{name}.err").write_text(result.stderr)
    result = launch(2, command(base / "workers"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (base / "workers.out").write_text(result.stdout)  # the workers' stdout and stderr, prefixed
    (base / "workers.err").write_text(result.stderr)
    return {name: base / name for name in ("one", "mirrored", "workers")}


def weights(run_dir):
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    return model.get_weights()


def assert_same_weights(ours, reference):
    assert len(ours) == len(reference)
    for a, b in zip(ours, reference):
        scale = max(float(np.abs(b).max()), 1e-12)
        assert float(np.abs(a - b).max()) / scale <= TOLERANCE


def history(run_dir):
    return json.loads((run_dir / "history.json").read_text())


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    words = ["def ", "return ", "self", ".x", " = ", "(a, b)", ":\n", "    ", "if ", "else"]
    path = tmp_path_factory.mktemp("text") / "text.txt"
    path.write_text("".join(words[i] for i in rng.integers(0, len(words), 1500)))
    return path


def char_command(text_file, out, *extra):
    # 12 steps in 3 evaluation intervals: the streams' state is carried across validation twice
    return ["training/train_char_rnn.py", "--text", str(text_file), "--cell", "lstm", "--layers", "1",
            "--hidden", "8", "--embedding", "4", "--seq-length", "8", "--batch-size", "8",
            "--steps", "12", "--eval-every", "4", "--optimizer", "adam", "--lr", "0.01",
            "--val-fraction", "0.1", "--sample-length", "5", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def char_runs(text_file, tmp_path_factory):
    return three_runs(tmp_path_factory.mktemp("char"), lambda out, *extra: char_command(text_file, out, *extra))


@pytest.mark.parametrize("name", ["mirrored", "workers"])
def test_char_model_trains_the_same_on_two_replicas(char_runs, name):
    ours, reference = history(char_runs[name]), history(char_runs["one"])
    assert len(reference["loss"]) == 3 and reference["loss"][-1] < reference["loss"][0]
    np.testing.assert_allclose(ours["loss"], reference["loss"], rtol=1e-5)
    np.testing.assert_allclose(ours["val_loss"], reference["val_loss"], rtol=1e-5)
    assert_same_weights(weights(char_runs[name]), weights(char_runs["one"]))



@pytest.fixture(scope="module")
def clipped_char_runs(text_file, tmp_path_factory):
    """The char runs with a clip that bites on every step (clipvalue 0.005 / 8 per element)."""
    return three_runs(tmp_path_factory.mktemp("clipped"),
                      lambda out, *extra: char_command(text_file, out, "--clip", "0.005", *extra))


@pytest.mark.parametrize("name", ["mirrored", "workers"])
def test_gradients_are_clipped_after_the_replicas_are_summed(clipped_char_runs, char_runs, name):
    """Keras clips each replica's share of the gradient; kerasrnn clips the global gradient."""
    clipped = weights(clipped_char_runs["one"])
    assert max(float(np.abs(a - b).max()) for a, b in zip(clipped, weights(char_runs["one"]))) > 1e-3
    assert_same_weights(weights(clipped_char_runs[name]), clipped)


@pytest.fixture(scope="module")
def accumulated_char_runs(text_file, tmp_path_factory):
    """The clipped char runs averaging the gradients of 2 batches into each weight update."""
    return three_runs(tmp_path_factory.mktemp("accumulated"), lambda out, *extra: char_command(
        text_file, out, "--clip", "0.005", "--gradient-accumulation-steps", "2", *extra))


def steps(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())["steps"]


@pytest.mark.parametrize("name", ["mirrored", "workers"])
def test_gradient_accumulation_trains_the_same_on_two_replicas(accumulated_char_runs, clipped_char_runs, name):
    """Keras 3.15's accumulation fails under a strategy; with kerasrnn's fix each replica sums
    its own gradients and the replicas exchange them once per update (clipped after the sum)."""
    reference = accumulated_char_runs["one"]
    assert steps(reference) == 12  # batches: 6 weight updates
    assert max(float(np.abs(a - b).max())
               for a, b in zip(weights(reference), weights(clipped_char_runs["one"]))) > 1e-3
    ours = accumulated_char_runs[name]
    assert steps(ours) == 12
    np.testing.assert_allclose(history(ours)["loss"], history(reference)["loss"], rtol=1e-5)
    assert_same_weights(weights(ours), weights(reference))


def test_the_run_records_how_it_was_distributed(char_runs):
    records = {name: json.loads((path / "config.json").read_text())["training"]["distribution"]
               for name, path in char_runs.items()}
    assert records["one"] == dict(distribute="off", replicas=1, workers=1, replica_batch_size=8)
    assert records["mirrored"] == dict(distribute="mirrored", replicas=2, workers=1, replica_batch_size=4)
    assert records["workers"] == dict(distribute="multi-worker", replicas=2, workers=2, replica_batch_size=4)


def test_only_the_chief_writes_the_run_directory(char_runs):
    workers = char_runs["workers"]
    # worker 1 keeps its backups (and TensorFlow's preemption handler its empty coordination folder)
    names = {p.name for p in (workers / "worker-1").iterdir()}
    assert {"backup", "backup.previous"} <= names <= {"backup", "backup.previous", "workertemp_1", "preemption"}
    assert {p.name for p in (workers / "worker-1" / "backup").iterdir()} >= {
        "latest.weights.h5", "training_metadata.json", "stream_states.npz"}
    assert {"config.json", "vocab.json", "model.keras", "metrics.json", "history.json", "backup",
            "logs", "checkpoints"} <= {p.name for p in workers.iterdir()}


def test_the_chief_alone_says_how_it_trains_and_what_it_trained(char_runs):
    said = {name: (path.parent / f"{name}.out").read_text() for name, path in char_runs.items()}
    assert said["one"].count("training on 1 replica(s) (off)\n") == 1
    assert said["mirrored"].count("training on 2 replica(s) (mirrored)\n") == 1
    workers = said["workers"].splitlines()
    assert [line for line in workers if "training on" in line] == [
        "[worker 0] training on 2 replica(s) (multi-worker, over 2 workers)"]
    assert [line.split("]")[0] for line in workers if "model in" in line] == ["[worker 0"]
    assert not [line for line in workers if line.startswith("[worker 1]") and "done:" in line]


def test_a_finished_run_prints_no_tensorflow_log_lines_and_no_traceback(char_runs):
    """What a user sees of a run that worked: its own lines only. A multi-worker run could end
    with a coordination-service ERROR line, and with a traceback from TensorFlow's preemption
    watcher thread when the chief closed the service while another worker's thread still waited
    on it (a race between the workers' exits, so not every run without the fix shows it)."""
    for name, path in char_runs.items():
        said = (path.parent / f"{name}.out").read_text() + (path.parent / f"{name}.err").read_text()
        assert "Traceback" not in said and "Exception in thread" not in said, said[-3000:]
        assert not re.search(r"^(\[worker \d+\] )?[IWEF]\d{4} |absl::InitializeLog", said, re.M), said[-3000:]


def test_a_resume_must_run_as_the_run_was_trained(char_runs, text_file):
    result = run(["training/train_char_rnn.py", "--text", str(text_file), "--out",
                  str(char_runs["mirrored"]), "--resume", "--steps", "16", "--distribute", "off"])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --resume: the run trained with --distribute mirrored over 2 replica(s) in 1 worker(s), "
        "and this resume has --distribute off over 1 replica(s) in 1 worker(s); resume it the way it "
        "was trained")


def start(command):
    """Starts `command` (a script's path and its arguments) from the repository root, stdout and
    stderr together."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", KERAS_HOME=keras_home())
    env.pop("TF_CONFIG", None)
    return start_script(*command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True)


def wait_for_backup(out, process, timeout=120):
    """Waits until the run in `out` has written its first backup (training is under way)."""
    deadline = time.monotonic() + timeout
    while not (out / "backup" / "training_metadata.json").is_file():
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()[-3000:]
        time.sleep(0.02)


def worker_pids(out, launcher):
    found = subprocess.run(["pgrep", "-f", "--", f"--out {out}"], capture_output=True, text=True).stdout.split()
    return sorted(int(p) for p in found if int(p) != launcher.pid)


def backup_step(folder):
    return json.loads((folder / "backup" / "training_metadata.json").read_text())["step"]


def stop_with_sigterm(command, out):
    """Runs `command` (one process) until its first backup, sends it SIGTERM, checks that it
    exits with status 42 and returns the step of the backup it wrote."""
    process = start(command)
    try:
        wait_for_backup(out, process)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 42, output[-3000:]
    return backup_step(out)


LONG_CHAR = ["--steps", "400", "--eval-every", "20"]  # long enough to stop it half-way


@pytest.fixture(scope="module")
def long_char_reference(text_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("long") / "one"
    result = run(char_command(text_file, out, "--distribute", "off", *LONG_CHAR))
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_kill_9_on_a_worker_stops_the_job_and_a_resume_ends_as_an_uninterrupted_run(
        text_file, tmp_path, long_char_reference):
    out = tmp_path / "killed"
    command = ["training/launch_workers.py", "--workers", "2", "--grace", "5", "--", PYTHON,
               *char_command(text_file, out, *LONG_CHAR)]
    launcher = start(command)
    try:
        wait_for_backup(out, launcher)
        pids = worker_pids(out, launcher)
        assert len(pids) == 2
        killed_at = time.monotonic()
        os.kill(pids[-1], 9)
        launcher.communicate(timeout=60)
        assert time.monotonic() - killed_at < 60 and launcher.returncode != 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert not (out / "model.keras").exists()  # stopped half-way
    result = launch(2, char_command(text_file, out, *LONG_CHAR, "--resume"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert_same_weights(weights(out), weights(long_char_reference))


def test_sigterm_on_one_worker_saves_one_checkpoint_mid_epoch_and_a_resume_ends_the_same(
        text_file, tmp_path, long_char_reference):
    out = tmp_path / "preempted"
    command = ["training/launch_workers.py", "--workers", "2", "--grace", "5", "--", PYTHON,
               *char_command(text_file, out, *LONG_CHAR)]
    launcher = start(command)
    try:
        wait_for_backup(out, launcher)
        os.kill(worker_pids(out, launcher)[-1], signal.SIGTERM)  # one worker only
        output, _ = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 42, output[-3000:]
    assert "stopped by SIGTERM after step" in output and "--resume" in output
    # both workers saved at the same step
    assert backup_step(out) == backup_step(out / "worker-1") < 400
    result = launch(2, char_command(text_file, out, *LONG_CHAR, "--resume"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert_same_weights(weights(out), weights(long_char_reference))


def test_sigterm_on_one_process_of_two_replicas_resumes_mid_epoch_with_each_replicas_streams(
        text_file, tmp_path, long_char_reference):
    out = tmp_path / "mirrored"
    command = char_command(text_file, out, "--distribute", "mirrored", "--replicas", "2", *LONG_CHAR)
    step = stop_with_sigterm(command, out)
    assert 0 < step < 400
    result = run(char_command(text_file, out, "--distribute", "mirrored", "--replicas", "2",
                              *LONG_CHAR, "--resume"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_weights(weights(out), weights(long_char_reference))


def test_sigterm_with_gradient_accumulation_stops_on_a_weight_update_and_resumes_the_same(
        text_file, tmp_path):
    """Gradients summed since the last update are in no backup, so SIGTERM stops at the next
    update (the replicas' partial sums are never half-saved)."""
    accumulate = ["--gradient-accumulation-steps", "4", *LONG_CHAR]
    reference = tmp_path / "uninterrupted"
    result = run(char_command(text_file, reference, "--distribute", "off", *accumulate))
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "mirrored"
    mirrored = ["--distribute", "mirrored", "--replicas", "2", *accumulate]
    step = stop_with_sigterm(char_command(text_file, out, *mirrored), out)
    assert 0 < step < 400 and step % 4 == 0
    result = run(char_command(text_file, out, *mirrored, "--resume"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_weights(weights(out), weights(reference))


@pytest.fixture(scope="module")
def mnist_file(tmp_path_factory):
    """A small stand-in for mnist.npz: discs (label 0) and rings (label 1)."""
    (x_train, y_train), (x_test, y_test) = fake_mnist(160, 40)
    path = tmp_path_factory.mktemp("mnist") / "mnist.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def stn_command(mnist, out, *extra):
    # 2 epochs of 6 steps; the localisation net on half the learning rate
    return ["training/train_stn.py", "--mnist", str(mnist), "--distortion", "R", "--epochs", "2",
            "--batch-size", "16", "--train-size", "96", "--val-size", "32", "--loc-lr-mult", "0.5",
            "--out", str(out), *extra]


@pytest.fixture(scope="module")
def stn_runs(mnist_file, tmp_path_factory):
    return three_runs(tmp_path_factory.mktemp("stn"), lambda out, *extra: stn_command(mnist_file, out, *extra))


@pytest.mark.parametrize("name", ["mirrored", "workers"])
def test_st_cnn_trains_the_same_on_two_replicas(stn_runs, name):
    ours, reference = history(stn_runs[name]), history(stn_runs["one"])
    assert len(reference["loss"]) == 2
    for key in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(ours[key], reference[key], rtol=1e-5)
    assert_same_weights(weights(stn_runs[name]), weights(stn_runs["one"]))
    metrics = [json.loads((stn_runs[n] / "metrics.json").read_text()) for n in (name, "one")]
    assert metrics[0]["steps"] == metrics[1]["steps"] == 12
    assert abs(metrics[0]["test_error_pct"] - metrics[1]["test_error_pct"]) < 1e-6



def draw_command(mnist, out, *extra):
    # DRAW with attention: 2 epochs of 6 steps; every glimpse's noise and every binarization
    # drawn per example, so each replica must draw what one process draws for its rows
    return ["training/train_draw.py", "--mnist", str(mnist), "--epochs", "2", "--batch-size", "16",
            "--train-size", "96", "--val-size", "32", "--steps", "3", "--encoder-units", "8",
            "--decoder-units", "8", "--latent-dim", "4", "--write-size", "3", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def draw_runs(mnist_file, tmp_path_factory):
    return three_runs(tmp_path_factory.mktemp("draw"), lambda out, *extra: draw_command(mnist_file, out, *extra))


@pytest.mark.parametrize("name", ["mirrored", "workers"])
def test_draw_trains_the_same_on_two_replicas(draw_runs, name):
    ours, reference = history(draw_runs[name]), history(draw_runs["one"])
    assert len(reference["loss"]) == 2
    for key in ("loss", "canvas_loss", "kl_loss", "val_loss"):
        np.testing.assert_allclose(ours[key], reference[key], rtol=1e-5)
    assert_same_weights(weights(draw_runs[name]), weights(draw_runs["one"]))
    metrics = [json.loads((draw_runs[n] / "metrics.json").read_text()) for n in (name, "one")]
    assert metrics[0]["steps"] == metrics[1]["steps"] == 12
    assert metrics[0]["test_nll_bound_nats"] == pytest.approx(metrics[1]["test_nll_bound_nats"], rel=1e-6)


def captioner_command(out, *extra):
    # generated scenes; 2 epochs of 6 steps with the doubly stochastic regulariser and attention
    # supervision, whose losses (and the words' count) must be those of the global batch
    return ["training/train_captioner.py", "--dataset", "scenes", "--train-count", "48",
            "--test-count", "16", "--image-size", "32", "--max-length", "8", "--epochs", "2",
            "--batch-size", "8", "--units", "16", "--embedding-dim", "8", "--attention-units", "8",
            "--doubly-stochastic", "0.5", "--attention-supervision", "0.5", "--beam", "2",
            "--out", str(out), *extra]


@pytest.fixture(scope="module")
def captioner_runs(tmp_path_factory):
    return three_runs(tmp_path_factory.mktemp("captioner"), captioner_command)


@pytest.mark.parametrize("name", ["mirrored", "workers"])
def test_captioner_trains_the_same_on_two_replicas(captioner_runs, name):
    ours, reference = history(captioner_runs[name]), history(captioner_runs["one"])
    assert len(reference["loss"]) == 2
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(ours[key], reference[key], rtol=1e-5)
    assert_same_weights(weights(captioner_runs[name]), weights(captioner_runs["one"]))
    metrics = [json.loads((captioner_runs[n] / "metrics.json").read_text()) for n in (name, "one")]
    assert metrics[0]["steps"] == metrics[1]["steps"] == 12
    assert metrics[0]["bleu4"] == metrics[1]["bleu4"] and metrics[0]["samples"] == metrics[1]["samples"]





@pytest.fixture(scope="module")
def accumulated_captioner_runs(tmp_path_factory):
    return three_runs(tmp_path_factory.mktemp("accumulated-captioner"),
                      lambda out, *extra: captioner_command(out, "--gradient-accumulation-steps", "3", *extra))


@pytest.mark.parametrize("name", ["mirrored", "workers"])
def test_captioner_accumulates_gradients_the_same_on_two_replicas(accumulated_captioner_runs, captioner_runs, name):
    """The embedding's gradient (row slices of the batch's words) is summed dense over the
    accumulated batches, so the replicas exchange a dense gradient once per update."""
    reference = accumulated_captioner_runs["one"]
    assert steps(reference) == 12  # batches: 4 weight updates
    assert max(float(np.abs(a - b).max())
               for a, b in zip(weights(reference), weights(captioner_runs["one"]))) > 1e-3
    ours = accumulated_captioner_runs[name]
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(history(ours)[key], history(reference)[key], rtol=1e-5)
    assert_same_weights(weights(ours), weights(reference))


HARD_ATTENTION = r"""
import sys
import numpy as np
from kerasrnn.train.distribution import choose_distribution, replica_sum
distribution = choose_distribution(sys.argv[1], int(sys.argv[2]), environ={})
import keras
from kerasrnn.kinds.captioner.vocab import CaptionVocabulary
from kerasrnn.kinds.captioner.captions import caption_dataset, load_captions
from kerasrnn.kinds.captioner.train import compile_model
from kerasrnn.kinds.captioner.config import CaptionerConfig

config = CaptionerConfig(dataset="scenes", image_size=32, max_length=8, batch_size=8, units=16,
                         embedding_dim=8, attention_units=8, attention="hard", epochs=1)
keras.utils.set_random_seed(0)
examples = load_captions("scenes", "train", image_size=32, count=48, seed=0)
vocab = CaptionVocabulary.from_captions([c for e in examples for c in e.captions])
with distribution.scope():
    model = compile_model(config.build_model(len(vocab)), config)
decoder = model.get_layer("decoder")
decoder.hard_mix = float(sys.argv[3])  # 1.0: every caption on the soft context (no sampling)
if distribution.replicas > 1:
    decoder.replica_sum = replica_sum
data = distribution.dataset(lambda shard, shards: caption_dataset(
    examples, vocab, 32, 8, 8, seed=0, repeat=True, drop_remainder=True, shard=shard, shards=shards))
history = model.fit(data, epochs=2, steps_per_epoch=6, verbose=0)
np.savez(sys.argv[4], *model.get_weights())
print("losses", history.history["loss"], "baseline", float(np.asarray(decoder.reward_baseline)))
"""


def hard_attention_run(tmp_path, name, distribute, replicas, hard_mix):
    script = tmp_path / "hard.py"
    script.write_text(HARD_ATTENTION)
    out = tmp_path / f"{name}.npz"
    result = run([script, distribute, str(replicas), str(hard_mix), str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))], result.stdout


def test_hard_attention_reinforce_term_and_baseline_are_the_global_batchs(tmp_path):
    """With every caption on the soft context the sampled locations play no part: what is left
    of REINFORCE (the entropy bonus over the global batch's words, and the baseline, the global
    batch's mean reward) trains 2 replicas as one process."""
    one, log = hard_attention_run(tmp_path, "one", "off", 1, 1.0)
    two, _ = hard_attention_run(tmp_path, "two", "mirrored", 2, 1.0)
    assert "baseline -" in log  # the baseline (a mean log-likelihood) has moved from 0
    assert_same_weights(two, one)


def test_hard_attention_samples_on_several_replicas_and_learns(tmp_path):
    """The documented rule when locations are sampled: each replica draws its own captions'
    locations from its own random stream, so the runs differ from one process but train."""
    two, log = hard_attention_run(tmp_path, "two", "mirrored", 2, 0.5)
    losses = [float(x) for x in log.split("losses [")[1].split("]")[0].split(",")]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert all(np.isfinite(w).all() for w in two)


@pytest.mark.parametrize("extra, message", [
    (["--batch-size", "7"], "error: --batch-size 7 is the global batch and must be divisible by the 2 replicas"),
    (["--steps-per-execution", "2"], "error: --steps-per-execution 2 runs only on one replica; with 2 replicas "
                                     "use --steps-per-execution 1 (or --distribute off)"),
])
def test_bad_distributed_settings_end_in_one_line_and_write_nothing(text_file, tmp_path, extra, message):
    out = tmp_path / "run"
    result = run(char_command(text_file, out, "--distribute", "mirrored", "--replicas", "2", *extra))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == message
    assert not out.exists()


def test_sigterm_mid_epoch_and_resume_keep_the_random_number_states(mnist_file, tmp_path):
    """One process with dropout: the resumed run draws the masks the uninterrupted one drew."""
    def command(out, *extra):
        return ["training/train_stn.py", "--mnist", str(mnist_file), "--distortion", "R",
                "--epochs", "30", "--batch-size", "16", "--val-size", "32", "--dropout", "0.5",
                "--distribute", "off", "--out", str(out), *extra]

    reference = run(command(tmp_path / "whole"))
    assert reference.returncode == 0, reference.stderr[-3000:]
    out = tmp_path / "preempted"
    assert 0 < stop_with_sigterm(command(out), out) < 240
    assert (out / "backup" / "rng_states.npz").is_file()
    resumed = run(command(out, "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_weights(weights(out), weights(tmp_path / "whole"))


def start_worker_0_of_two(text_file, out, *extra):
    """Worker 0 of a two-worker job whose worker 1 is alive but never comes up (a process that
    listens on nothing). Returns `(worker 0, its port, the stand-in)`."""
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": 0}}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", KERAS_HOME=keras_home(),
               TF_CONFIG=json.dumps(config))
    stand_in = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(300)"])
    worker = start_script(*char_command(text_file, out, *extra), cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return worker, ports, stand_in


def test_a_worker_that_never_joins_ends_worker_0_within_the_join_timeout(text_file, tmp_path):
    started = time.monotonic()
    worker, ports, stand_in = start_worker_0_of_two(text_file, tmp_path / "run", "--join-timeout", "3")
    try:
        _, err = worker.communicate(timeout=120)
    finally:
        stand_in.kill()
    assert worker.returncode == 2 and time.monotonic() - started < 60  # start-up, then 3 s
    assert err.strip().splitlines()[-1].startswith(
        f"error: worker 1 (localhost:{ports[1]}) did not join the cluster within --join-timeout 3 s")
    assert not (tmp_path / "run").exists()


def test_sigterm_while_waiting_for_the_workers_ends_worker_0_at_once(text_file, tmp_path):
    import socket

    worker, ports, stand_in = start_worker_0_of_two(text_file, tmp_path / "run")  # waits 120 s
    try:
        deadline = time.monotonic() + 120
        while True:  # worker 0 holds its port open while it waits
            assert worker.poll() is None and time.monotonic() < deadline
            try:
                socket.create_connection(("127.0.0.1", ports[0]), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        signalled = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    finally:
        stand_in.kill()
        if worker.poll() is None:
            worker.kill()
    assert time.monotonic() - signalled < 5
    assert worker.returncode == 2
    assert "stopped by SIGTERM while waiting for the other workers to join" in err
    assert not (tmp_path / "run").exists()
