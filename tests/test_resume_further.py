"""A finished (or stopped) run trained further with `resume` ends at exactly the asked steps
(char model) or epochs (ST-CNN, captioner), with the weights of an uninterrupted run, in every
combination of evaluation interval, steps per execution and gradient accumulation; a run that
is already there is refused in one line, and no throughput is ever written as NaN."""

import json
import math

import keras
import numpy as np
import pytest

from kerasrnn import run_dir
from kerasrnn.errors import InputError
from kerasrnn.kinds.captioner.train import train_captioner
from kerasrnn.kinds.char_rnn.train import train_char_rnn
from kerasrnn.kinds.stn_classifier.train import train_stn
from kerasrnn.kinds.captioner.config import CaptionerConfig
from kerasrnn.kinds.char_rnn.config import CharRNNConfig
from kerasrnn.kinds.stn_classifier.config import STNConfig
from tiny_runs import random_mnist

pytestmark = pytest.mark.slow

CHAR = dict(cell="gru", num_layers=1, hidden_size=8, embedding_dim=4, seq_length=10,
            batch_size=2, optimizer="adam", learning_rate=1e-2, val_fraction=0.1, sample_length=5)


class Keep(keras.callbacks.Callback):
    """Keeps the trained model (its optimizer included) and the steps each epoch ended at."""

    def __init__(self):
        super().__init__()
        self.epoch_ends = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_ends.append(run_dir.steps_trained(self.model))


class StopAt(keras.callbacks.Callback):
    """Stops training after step `step`, mid-epoch, as a time limit does."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if run_dir.steps_trained(self.model) >= self.step:
            self.model.stop_training = True


def char_run(out, text, steps, resume=False, **settings):
    keep = Keep()
    config = {"steps": steps} if resume else CharRNNConfig(**CHAR, steps=steps, **settings)
    metrics = train_char_rnn(config, text, out, resume=resume, verbose=0, extra_callbacks=[keep])
    return metrics, keep


def assert_same_weights(a, b):
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)


def test_a_finished_char_run_trains_to_exactly_the_new_steps(tmp_path, tiny_text):
    first, _ = char_run(tmp_path / "run", tiny_text, 12, eval_every=5)
    more, keep = char_run(tmp_path / "run", tiny_text, 20, resume=True)
    whole, whole_keep = char_run(tmp_path / "whole", tiny_text, 20, eval_every=5)
    assert first["steps"] == 12 and more["steps"] == 20  # today's main said 17
    assert int(keep.model.optimizer.iterations.numpy()) == 20
    # the resumed epoch ends at 15, as the uninterrupted run's: evaluations every 5 steps
    assert keep.epoch_ends == [15, 20] and whole_keep.epoch_ends == [5, 10, 15, 20]
    assert more["epochs"] == whole["epochs"] == 4 and len(more["history"]["loss"]) == 4
    assert_same_weights(keep.model, whole_keep.model)
    np.testing.assert_allclose(more["history"]["val_loss"], whole["history"]["val_loss"], atol=1e-6)
    assert more["chars_per_second"] is None or more["chars_per_second"] > 0
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())  # valid JSON: no NaN
    assert saved["steps"] == 20

    before = (tmp_path / "run" / "metrics.json").read_bytes()
    with pytest.raises(InputError, match="already trained 20 steps"):
        char_run(tmp_path / "run", tiny_text, 20, resume=True)
    assert (tmp_path / "run" / "metrics.json").read_bytes() == before


@pytest.mark.parametrize("eval_every,steps", [(4, [10, 15, 19]), (5, [5, 8, 9])])
def test_resuming_again_and_again_reaches_each_asked_step(tmp_path, tiny_text, eval_every, steps):
    # scaled down from eval-every 20: 50 steps, then 75 (main gave 70), then 95 (main gave 90)
    out = tmp_path / "run"
    metrics, _ = char_run(out, tiny_text, steps[0], eval_every=eval_every)
    for total in steps[1:]:
        metrics, keep = char_run(out, tiny_text, total, resume=True)
        assert metrics["steps"] == total
        assert int(keep.model.optimizer.iterations.numpy()) == total
        assert len(metrics["history"]["loss"]) == math.ceil(total / eval_every)


@pytest.mark.parametrize("steps_per_execution,accumulation", [(2, 1), (1, 2), (2, 2)])
def test_resume_further_with_steps_per_execution_and_accumulation(
        tmp_path, tiny_text, steps_per_execution, accumulation):
    settings = dict(eval_every=4, steps_per_execution=steps_per_execution,
                    gradient_accumulation_steps=accumulation)
    char_run(tmp_path / "run", tiny_text, 6, **settings)
    more, keep = char_run(tmp_path / "run", tiny_text, 10, resume=True)
    whole, whole_keep = char_run(tmp_path / "whole", tiny_text, 10, **settings)
    assert more["steps"] == whole["steps"] == 10
    assert int(keep.model.optimizer.iterations.numpy()) == 10 // accumulation  # weight updates
    assert keep.epoch_ends == [8, 10]
    assert_same_weights(keep.model, whole_keep.model)


def test_epochs_of_a_char_run_given_on_resume(tmp_path, tiny_text):
    char_run(tmp_path / "run", tiny_text, 7, eval_every=5)
    metrics = train_char_rnn({"epochs": 3}, tiny_text, tmp_path / "run", resume=True, verbose=0)
    assert metrics["steps"] == 15 and metrics["epochs"] == 3


def test_no_throughput_is_written_as_nan_when_no_step_was_timed(tmp_path, tiny_text):
    # one execution per epoch: the first execution of an epoch (compilation) is never timed
    metrics, _ = char_run(tmp_path / "run", tiny_text, 4, eval_every=2, steps_per_execution=2)
    assert metrics["chars_per_second"] is None
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["chars_per_second"] is None


STN = dict(distortion="R", batch_size=16, train_size=64, val_size=16, model="cnn")


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    from kerasrnn.data.mnist import load_mnist

    return load_mnist(random_mnist(tmp_path_factory.mktemp("mnist") / "mnist.npz", train=96))


def stn_run(out, data, epochs, resume=False, stop_at=None):
    keep = Keep()
    config = {"epochs": epochs} if resume else STNConfig(**STN, epochs=epochs)
    extra = [keep] + ([StopAt(stop_at)] if stop_at else [])
    return train_stn(config, data, out, resume=resume, verbose=0, extra_callbacks=extra), keep


def test_stn_resumed_to_more_epochs_trains_exactly_the_missing_steps(tmp_path, mnist):
    # 4 steps an epoch; the first run stops after step 2 (a time limit), the second after 5
    _, keep = stn_run(tmp_path / "run", mnist, 1)
    assert keep.epoch_ends == [4]
    metrics, keep = stn_run(tmp_path / "run", mnist, 2, resume=True)
    assert metrics["steps"] == 8 and metrics["epochs"] == 2 and keep.epoch_ends == [8]

    stn_run(tmp_path / "cut", mnist, 3, stop_at=2)
    metrics, keep = stn_run(tmp_path / "cut", mnist, 3, resume=True, stop_at=6)
    assert keep.epoch_ends == [4, 6]
    metrics, keep = stn_run(tmp_path / "cut", mnist, 3, resume=True)
    whole, whole_keep = stn_run(tmp_path / "whole", mnist, 3)
    assert keep.epoch_ends == [8, 12] and metrics["steps"] == 12  # main ended at 10
    assert metrics["epochs"] == 3 and len(metrics["history"]["loss"]) == 3
    assert_same_weights(keep.model, whole_keep.model)


def test_captioner_resumed_mid_epoch_ends_at_exactly_its_epochs(tmp_path):
    config = CaptionerConfig(dataset="scenes", image_size=32, max_length=6, embedding_dim=8, units=8,
                             attention_units=8, epochs=1, batch_size=8, train_count=24, test_count=4)
    out = tmp_path / "run"
    train_captioner(config, out, verbose=0, extra_callbacks=[StopAt(1)])  # 3 steps an epoch
    keep = Keep()
    metrics = train_captioner({"epochs": 2}, out, resume=True, verbose=0, extra_callbacks=[keep])
    assert keep.epoch_ends == [3, 6] and metrics["steps"] == 6 and metrics["epochs"] == 2


def test_the_char_script_says_the_replicas_and_the_steps_and_refuses_a_finished_run(
        tmp_path, tiny_text, script, capsys):
    main = script("training/train_char_rnn.py")
    text = tmp_path / "input.txt"
    text.write_text(tiny_text)
    flags = ["--text", str(text), "--out", str(tmp_path / "run"), "--cell", "gru", "--layers", "1",
             "--hidden", "8", "--embedding", "4", "--seq-length", "10", "--batch-size", "2",
             "--optimizer", "adam", "--lr", "0.01", "--sample-length", "5", "--distribute", "off"]
    assert main([*flags, "--eval-every", "5", "--steps", "12"]) == 0
    assert main(["--text", str(text), "--out", str(tmp_path / "run"), "--resume", "--steps", "20"]) == 0
    out = capsys.readouterr().out
    assert out.count("training on 1 replica(s) (off)") == 2
    assert "done: 12 steps" in out and "done: 20 steps" in out and "nan" not in out.lower()
    assert main(["--text", str(text), "--out", str(tmp_path / "run"), "--resume", "--steps", "20"]) == 2
    captured = capsys.readouterr()
    assert "done" not in captured.out
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith("error: --resume:") and "already trained 20 steps" in error
    assert "larger --steps" in error
