"""Training end to end on a tiny generated text: loss goes down, files, resume, refusals, CLI errors."""

import json

import keras
import numpy as np
import pytest

from kerasrnn.errors import InputError
from kerasrnn.kinds.char_rnn.trained import load_char_model
from kerasrnn.kinds.char_rnn.train import train_char_rnn
from kerasrnn.kinds.char_rnn.config import CharRNNConfig
from script_runs import script_main

TINY = dict(cell="gru", num_layers=1, hidden_size=32, embedding_dim=16, seq_length=20,
            batch_size=4, optimizer="adam", learning_rate=1e-2, eval_every=20,
            val_fraction=0.1, sample_length=30)


def run_script(name, *args):
    """Runs a script's main() in-process (faster than a subprocess) and returns its exit code."""
    return script_main(f"training/{name}")(list(args))


def test_training_lowers_loss_and_writes_a_loadable_model(tmp_path, tiny_text):
    samples = []
    metrics = train_char_rnn(CharRNNConfig(**TINY, steps=60), tiny_text, tmp_path / "run",
                             on_sample=lambda e, s, t: samples.append((s, t)), verbose=0)
    losses = metrics["history"]["loss"]
    assert metrics["steps"] == 60 and len(losses) == 3
    assert losses[-1] < 0.7 * losses[0]
    assert metrics["val_loss"] < np.log(len(set(tiny_text)))  # better than uniform guessing
    assert metrics["val_bpc"] == pytest.approx(metrics["val_loss"] / np.log(2))
    assert metrics["chars_per_second"] > 0
    assert [s for s, _ in samples] == [20, 40, 60] and all(len(t) == 30 for _, t in samples)
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"train_loss", "val_loss", "val_bpc", "steps", "chars_per_second"} <= on_disk.keys()
    model, vocab, config = load_char_model(tmp_path / "run")
    assert config["model"]["cell"] == "gru" and len(vocab) == len(set(tiny_text))
    assert (tmp_path / "run" / "checkpoints" / "best.weights.h5").is_file()
    assert any((tmp_path / "run" / "logs").rglob("events.out.tfevents*"))


def test_resume_continues_from_the_backup_to_more_steps(tmp_path, tiny_text):
    out = tmp_path / "run"
    first = train_char_rnn(CharRNNConfig(**TINY, steps=40), tiny_text, out, verbose=0)
    more = train_char_rnn(CharRNNConfig(**TINY, steps=80), tiny_text, out, resume=True, verbose=0)
    assert first["steps"] == 40 and more["steps"] == 80
    assert len(more["history"]["loss"]) == 4  # the whole run: two restored, two new intervals
    assert more["history"]["loss"][:2] == first["history"]["loss"]
    assert more["history"]["loss"][2] < first["history"]["loss"][0]
    with pytest.raises(InputError, match="already trained 80 steps"):
        train_char_rnn(CharRNNConfig(**TINY, steps=80), tiny_text, out, resume=True, verbose=0)


class Crash(Exception):
    pass


class CrashAtEpoch(keras.callbacks.Callback):
    """Kills training at the start of epoch `epoch`, like a power cut."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Crash()


def test_killed_run_resumes_where_it_stopped(tmp_path, tiny_text):
    out = tmp_path / "run"
    with pytest.raises(Crash):
        train_char_rnn(CharRNNConfig(**TINY, steps=80), tiny_text, out, verbose=0,
                       extra_callbacks=[CrashAtEpoch(2)])
    assert not (out / "model.keras").exists()  # no half-finished model is left as if trained
    with pytest.raises(InputError, match="pass `resume` to continue that run"):
        train_char_rnn(CharRNNConfig(**TINY, steps=80), tiny_text, out, verbose=0)
    metrics = train_char_rnn(CharRNNConfig(**TINY, steps=80), tiny_text, out, resume=True, verbose=0)
    assert metrics["steps"] == 80
    # epochs 1 and 2 were restored (their history kept from the killed run), 3 and 4 trained
    assert len(metrics["history"]["loss"]) == 4 and metrics["epochs"] == 4


def test_existing_run_is_never_overwritten(tmp_path, tiny_text):
    out = tmp_path / "run"
    train_char_rnn(CharRNNConfig(**TINY, steps=20), tiny_text, out, verbose=0)
    before = (out / "model.keras").read_bytes()
    with pytest.raises(InputError, match="pass `resume` to continue that run"):
        train_char_rnn(CharRNNConfig(**TINY, steps=20), tiny_text, out, verbose=0)
    assert (out / "model.keras").read_bytes() == before


def test_min_char_rnn_preset_trains_through_the_script(tmp_path, tiny_text, capsys):
    text = tmp_path / "input.txt"
    text.write_text(tiny_text)
    code = run_script("train_char_rnn.py", "--preset", "min-char-rnn", "--text", str(text),
                      "--steps", "400", "--eval-every", "200", "--hidden", "32",
                      "--out", str(tmp_path / "mcr"))
    assert code == 0
    out = capsys.readouterr().out
    assert "sample after step 200" in out and "done: 400 steps" in out
    config = json.loads((tmp_path / "mcr" / "config.json").read_text())
    assert config["training"]["batch_size"] == 1 and config["training"]["seq_length"] == 25
    assert config["model"]["cell"] == "vanilla" and config["model"]["embedding_dim"] is None

    code = run_script("sample_char_rnn.py", "--model", str(tmp_path / "mcr"), "--prime", "def ",
                      "--length", "50", "--seed", "3")
    first = capsys.readouterr().out
    run_script("sample_char_rnn.py", "--model", str(tmp_path / "mcr"), "--prime", "def ",
               "--length", "50", "--seed", "3")
    assert code == 0 and first == capsys.readouterr().out and first.startswith("def ")


@pytest.mark.parametrize("setup,args,message", [
    (lambda d: None, ["--text", "{d}/missing.txt"], "does not exist"),
    (lambda d: (d / "e.txt").write_text(""), ["--text", "{d}/e.txt"], "is empty"),
    (lambda d: (d / "b.bin").write_bytes(b"\x89PNG\x00\x00\x01"), ["--text", "{d}/b.bin"], "looks binary"),
    (lambda d: (d / "l.txt").write_bytes("na\u00efve".encode("latin-1")), ["--text", "{d}/l.txt"], "--encoding"),
    (lambda d: (d / "s.txt").write_text("short text"), ["--text", "{d}/s.txt"], "characters but one batch needs"),
    (lambda d: (d / "x.txt").write_text("x" * 5000), ["--text", "{d}/x.txt", "--hidden", "0"], "--hidden must be >= 1"),
    (lambda d: (d / "x.txt").write_text("x" * 5000), ["--text", "{d}/x.txt", "--resume"], "no run to resume"),
])
def test_train_script_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, setup, args, message):
    setup(tmp_path)
    out = tmp_path / "run"
    code = run_script("train_char_rnn.py", *[a.format(d=tmp_path) for a in args], "--steps", "5",
                      "--out", str(out))
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.startswith("error: ") and err.count("\n") == 1
    assert not out.exists()


def test_sample_script_bad_model_dirs_and_prime(tmp_path, tiny_text, capsys):
    assert run_script("sample_char_rnn.py", "--model", str(tmp_path / "nope")) == 2
    assert "does not exist" in capsys.readouterr().err
    out = tmp_path / "run"
    train_char_rnn(CharRNNConfig(**TINY, steps=20), tiny_text, out, verbose=0)
    assert run_script("sample_char_rnn.py", "--model", str(out), "--prime", "Q~") == 2
    assert "'Q~'" in capsys.readouterr().err or "'Q" in capsys.readouterr().err
    (out / "model.keras").rename(out / "moved.keras")
    assert run_script("sample_char_rnn.py", "--model", str(out)) == 2
    assert "no model.keras" in capsys.readouterr().err
    (out / "moved.keras").rename(out / "model.keras")
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    assert run_script("sample_char_rnn.py", "--model", str(out)) == 2
    assert "format version 99" in capsys.readouterr().err
