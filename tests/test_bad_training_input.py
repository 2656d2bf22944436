"""Hostile and careless values for the training scripts: each is refused in one `error:` line,
exit code 2, before the run directory is created (or, on --resume, changed); training that
diverges stops with an error; a resume may change only the rate, the length and the time limit."""

import dataclasses
import json
import math

import keras
import numpy as np
import pytest

from kerasrnn import run_dir
from kerasrnn.kinds.char_rnn.text import Vocabulary
from kerasrnn.errors import InputError
from kerasrnn.train.callbacks import StopOnDivergence
from kerasrnn.kinds.char_rnn.train import train_char_rnn
from kerasrnn.kinds.captioner.config import KIND as CAPTIONER
from kerasrnn.kinds.stn_classifier.config import KIND as STN
from kerasrnn.kinds.char_rnn.trained import write_char_run_config
from kerasrnn.kinds.captioner.config import CaptionerConfig
from kerasrnn.kinds.char_rnn.config import CharRNNConfig
from kerasrnn.kinds.stn_classifier.config import STNConfig
from test_train_stn import fake_mnist

TINY_CHAR = ["--cell", "gru", "--layers", "1", "--hidden", "32", "--embedding", "16",
             "--seq-length", "20", "--batch-size", "4", "--optimizer", "adam", "--lr", "0.01",
             "--eval-every", "20", "--sample-length", "10"]
CHAR_CONFIG = CharRNNConfig(cell="gru", num_layers=1, hidden_size=32, embedding_dim=16, seq_length=20,
                            batch_size=4, optimizer="adam", learning_rate=0.01, eval_every=20,
                            sample_length=10, steps=20)

CHAR = "training/train_char_rnn.py"
STN_SCRIPT = "training/train_stn.py"
CAP = "training/train_captioner.py"

# (script, flags, what the error line must contain); --out is added, and for the char script
# --text and (unless given) --steps.
NEW_RUN = [
    (CHAR, ["--lr", "nan"], "--lr must be finite and > 0, got nan"),
    (CHAR, ["--lr", "-1"], "--lr must be > 0"),
    (CHAR, ["--lr", "0"], "--lr must be > 0"),
    (CHAR, ["--lr", "inf"], "--lr must be finite"),
    (CHAR, ["--clip", "nan"], "--clip must be finite"),
    (CHAR, ["--clip", "-1"], "--clip must be > 0"),
    (CHAR, ["--time-limit", "-1"], "--time-limit must be > 0"),
    (CHAR, ["--time-limit", "0"], "--time-limit must be > 0"),
    (CHAR, ["--time-limit", "nan"], "--time-limit must be finite"),
    (CHAR, ["--steps", "0"], "--steps must be >= 1"),
    (CHAR, ["--epochs", "0"], "--epochs must be >= 1"),
    (CHAR, ["--steps", "20", "--steps-per-execution", "1000"], "--steps-per-execution 1000 must divide"),
    (CHAR, ["--steps", "30", "--steps-per-execution", "3"], "--steps-per-execution 3 must divide --eval-every 20"),
    (CHAR, ["--steps", "25", "--steps-per-execution", "10"], "--steps-per-execution 10 must divide steps 25"),
    (CHAR, ["--steps-per-execution", "0"], "--steps-per-execution must be >= 1"),
    (CHAR, ["--sample-length", "-5"], "--sample-length must be between 0 and 1,000,000"),
    (CHAR, ["--sample-length", "2000000"], "--sample-length must be between 0 and 1,000,000"),
    (CHAR, ["--hidden", "1000000"], "--hidden 1000000"),
    (CHAR, ["--hidden", "0"], "--hidden must be >= 1"),
    (CHAR, ["--layers", "0"], "--layers must be >= 1"),
    (CHAR, ["--layers", "100000"], "of weights"),
    (CHAR, ["--seq-length", "1000000"], "--seq-length 1000000"),
    (CHAR, ["--batch-size", "10000000"], "--batch-size 10000000"),
    (CHAR, ["--embedding", "-3"], "--embedding must be >= 1"),
    (CHAR, ["--embedding", "100000000"], "--embedding 100000000"),
    (CHAR, ["--dropout", "nan"], "--dropout must be finite"),
    (CHAR, ["--dropout", "1"], "--dropout must be in [0, 1)"),
    (CHAR, ["--val-fraction", "nan"], "--val-fraction must be finite"),
    (CHAR, ["--val-fraction", "1.5"], "--val-fraction must be in [0, 1)"),
    (CHAR, ["--seed", "-1"], "--seed must be between 0 and"),
    (CHAR, ["--seed", str(2**32)], "--seed must be between 0 and"),
    (CHAR, ["--eval-every", "0"], "--eval-every must be >= 1"),
    (STN_SCRIPT, ["--lr", "nan"], "--lr must be finite and > 0"),
    (STN_SCRIPT, ["--lr", "-1"], "--lr must be > 0"),
    (STN_SCRIPT, ["--loc-lr-mult", "nan"], "--loc-lr-mult must be finite"),
    (STN_SCRIPT, ["--loc-lr-mult", "-1"], "--loc-lr-mult must be > 0"),
    (STN_SCRIPT, ["--time-limit", "-1"], "--time-limit must be > 0"),
    (STN_SCRIPT, ["--epochs", "0"], "--epochs must be >= 1"),
    (STN_SCRIPT, ["--batch-size", "0"], "--batch-size must be >= 1"),
    (STN_SCRIPT, ["--batch-size", "100000000"], "--batch-size 100000000"),
    (STN_SCRIPT, ["--dropout", "nan"], "--dropout must be finite"),
    (STN_SCRIPT, ["--seed", "-1"], "--seed must be between 0 and"),
    (STN_SCRIPT, ["--train-size", "0"], "--train-size must be >= 1"),
    (STN_SCRIPT, ["--train-size", "10"], "--train-size 10 is smaller than one batch"),
    (STN_SCRIPT, ["--val-size", "0"], "--val-size must be >= 1"),
    (STN_SCRIPT, ["--optimizer", "sgdd"], "--optimizer must be one of"),
    (CAP, ["--lr", "nan"], "--lr must be finite and > 0"),
    (CAP, ["--lr", "0"], "--lr must be > 0"),
    (CAP, ["--image-size", "100000"], "--image-size 100000"),
    (CAP, ["--image-size", "8"], "--image-size must be at least 16"),
    (CAP, ["--max-length", "1000000"], "--max-length 1000000"),
    (CAP, ["--max-length", "0"], "--max-length must be >= 1"),
    (CAP, ["--units", "10000000"], "--units 10000000"),
    (CAP, ["--embedding-dim", "0"], "--embedding-dim must be >= 1"),
    (CAP, ["--attention-units", "0"], "--attention-units must be >= 1"),
    (CAP, ["--encoder-kernels", "10000,3,1"], "of weights"),
    (CAP, ["--encoder-kernels", "0,3,1"], "--encoder-kernels must be three sizes"),
    (CAP, ["--dropout", "nan"], "--dropout must be finite"),
    (CAP, ["--doubly-stochastic", "nan"], "--doubly-stochastic must be finite"),
    (CAP, ["--doubly-stochastic", "-1"], "--doubly-stochastic must be >= 0"),
    (CAP, ["--attention-supervision", "nan"], "--attention-supervision must be finite"),
    (CAP, ["--beam", "0"], "--beam must be between 1 and 100"),
    (CAP, ["--beam", "1000"], "--beam must be between 1 and 100"),
    (CAP, ["--train-count", "0"], "--train-count must be >= 1"),
    (CAP, ["--train-count", "100000000"], "--train-count 100000000"),
    (CAP, ["--seed", str(2**32)], "--seed must be between 0 and"),
    (CAP, ["--time-limit", "nan"], "--time-limit must be finite"),
    (CAP, ["--epochs", "0"], "--epochs must be >= 1"),
]


def _one_error_line(capsys, expected):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert expected in err, err
    return err


@pytest.fixture
def text_file(tmp_path, tiny_text):
    path = tmp_path / "t.txt"
    path.write_text(tiny_text)
    return path


@pytest.mark.parametrize("name,flags,expected", NEW_RUN,
                         ids=[f"{s.split('/')[-1][:-3]}{' '.join(f)}" for s, f, _ in NEW_RUN])
def test_bad_value_is_refused_before_the_run_directory_exists(tmp_path, capsys, script, text_file,
                                                              name, flags, expected):
    out = tmp_path / "run"
    argv = [*flags, "--out", str(out)]
    if name == CHAR:
        argv = [*TINY_CHAR, "--text", str(text_file), *argv]
        if "--steps" not in flags and "--epochs" not in flags:
            argv += ["--steps", "20"]
    assert script(name)(argv) == 2
    _one_error_line(capsys, expected)
    assert not out.exists()


def test_large_sizes_name_the_estimate_and_the_override(tmp_path, capsys, script, text_file):
    code = script(CHAR)([*TINY_CHAR, "--text", str(text_file), "--hidden", "1000000", "--cell", "vanilla",
                         "--steps", "20", "--out", str(tmp_path / "r")])
    err = _one_error_line(capsys, "--allow-large")
    # the recurrent kernel alone: 1e6 x 1e6 float32 = 4e12 bytes = 3.6 TiB
    tib = float(err.split("needs about ")[1].split(" TiB")[0])
    assert code == 2 and 3.6 <= tib <= 3.7
    with pytest.raises(InputError, match="hidden_size 1000000"):
        dataclasses.replace(CHAR_CONFIG, hidden_size=10**6).validate()
    dataclasses.replace(CHAR_CONFIG, hidden_size=10**6).validate(allow_large=True)  # overridden


@pytest.mark.parametrize("flags,expected", [
    (["--temperature", "nan"], "--temperature must be finite and >= 0, got nan"),
    (["--temperature", "-1"], "--temperature must be finite and >= 0"),
    (["--length", "-5"], "--length must be between 0 and 1,000,000"),
    (["--length", "2000000"], "--length must be between 0 and 1,000,000"),
    (["--top-k", "-1"], "--top-k must be >= 0"),
    (["--seed", "-1"], "--seed must be between 0"),
    (["--prime", ""], "--prime must have at least one character"),
])
def test_sample_script_refuses_bad_arguments_before_loading(tmp_path, capsys, script, flags, expected):
    assert script("training/sample_char_rnn.py")(["--model", str(tmp_path / "none"), *flags]) == 2
    _one_error_line(capsys, expected)


# -- resume -----------------------------------------------------------------------------------

def _char_run(directory, **changes):
    """A run directory as training writes it before the first backup (config.json, vocab.json)."""
    config = dataclasses.replace(CHAR_CONFIG, **changes)
    vocab = Vocabulary.from_text("def return self.x = (a, b):\n    if else")
    directory.mkdir()
    write_char_run_config(directory, config.model_config(len(vocab)),
                                    dataclasses.asdict(config), vocab)


def _stn_run(directory, **changes):
    config = dataclasses.replace(STNConfig(epochs=1, batch_size=32, train_size=64, val_size=50), **changes)
    directory.mkdir()
    run_dir.write_run_config(directory, STN, config.model_config(), dataclasses.asdict(config))


def _captioner_run(directory, **changes):
    config = dataclasses.replace(CaptionerConfig(image_size=32, epochs=1), **changes)
    directory.mkdir()
    run_dir.write_run_config(directory, CAPTIONER, config.model_config(20), dataclasses.asdict(config))


def _snapshot(directory):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.rglob("*"))}


RESUMES = [
    (CHAR, _char_run, {}, ["--hidden", "64"], "--resume may change only"),
    (CHAR, _char_run, {}, ["--hidden", "64", "--cell", "lstm"], "cell (run 'gru', given 'lstm'); --hidden (run 32, given 64)"),
    (CHAR, _char_run, {}, ["--lr", "nan"], "--lr must be finite"),
    (CHAR, _char_run, {}, ["--steps", "0"], "--steps must be >= 1"),
    (CHAR, _char_run, {}, ["--time-limit", "-1"], "--time-limit must be > 0"),
    (CHAR, _char_run, {"learning_rate": math.nan}, ["--steps", "40"], "--lr must be finite and > 0, got nan"),
    (CHAR, _char_run, {"sample_length": -5}, ["--steps", "40"], "--sample-length must be between"),
    (STN_SCRIPT, _stn_run, {}, ["--batch-size", "64", "--epochs", "2"], "--batch-size (run 32, given 64)"),
    (STN_SCRIPT, _stn_run, {}, ["--loc-lr-mult", "nan"], "--loc-lr-mult (run 1.0, given nan)"),
    (STN_SCRIPT, _stn_run, {}, ["--lr", "-1", "--epochs", "2"], "--lr must be > 0"),
    (STN_SCRIPT, _stn_run, {"learning_rate": math.nan}, ["--epochs", "2"], "--lr must be finite"),
    (CAP, _captioner_run, {}, ["--image-size", "64", "--epochs", "2"], "--image-size (run 32, given 64)"),
    (CAP, _captioner_run, {}, ["--epochs", "0"], "--epochs must be >= 1"),
    (CAP, _captioner_run, {"learning_rate": math.inf}, ["--epochs", "2"], "--lr must be finite"),
]


@pytest.mark.parametrize("name,make_run,stored,flags,expected", RESUMES,
                         ids=[f"{r[0].split('/')[-1][:-3]}{' '.join(r[3])}{r[2]}" for r in RESUMES])
def test_bad_resume_is_refused_and_changes_nothing(tmp_path, capsys, script, text_file, name, make_run,
                                                   stored, flags, expected):
    out = tmp_path / "run"
    make_run(out, **stored)
    before = _snapshot(out)
    argv = [*flags, "--out", str(out), "--resume"]
    if name == CHAR:
        argv += ["--text", str(text_file)]
    if name == STN_SCRIPT:
        (x, y), (xt, yt) = fake_mnist(200, 20)
        np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
        argv += ["--mnist", str(tmp_path / "mnist.npz")]
    assert script(name)(argv) == 2
    _one_error_line(capsys, expected)
    assert _snapshot(out) == before


class RecordRate(keras.callbacks.Callback):
    """The optimizer's learning rate when training starts (after the restore) and ends."""

    def on_train_begin(self, logs=None):
        self.begin = float(self.model.optimizer.learning_rate.numpy())

    def on_train_end(self, logs=None):
        self.end = float(self.model.optimizer.learning_rate.numpy())


def test_resume_trains_at_the_new_rate_and_fixes_a_stored_bad_one(tmp_path, tiny_text):
    out = tmp_path / "run"
    first = train_char_rnn(CHAR_CONFIG, tiny_text, out, verbose=0)
    config = json.loads((out / "config.json").read_text())
    config["training"]["learning_rate"] = math.nan  # as an older version stored it
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="learning_rate must be finite and > 0, got nan"):
        train_char_rnn({"steps": 40}, tiny_text, out, resume=True, verbose=0)
    with pytest.raises(InputError, match=r"hidden_size \(run 32, given 64\)"):
        train_char_rnn({"steps": 40, "learning_rate": 3e-3, "hidden_size": 64}, tiny_text, out,
                       resume=True, verbose=0)
    rate = RecordRate()
    resumed = train_char_rnn({"steps": 40, "learning_rate": 3e-3}, tiny_text, out, resume=True,
                             verbose=0, extra_callbacks=[rate])
    # the backup restored the optimizer (rate 0.01 among its variables); the new rate won
    assert rate.begin == rate.end == pytest.approx(3e-3)
    assert resumed["steps"] == 40 and resumed["history"]["loss"][:1] == first["history"]["loss"]
    saved = json.loads((out / "config.json").read_text())["training"]
    assert saved["learning_rate"] == 3e-3 and saved["steps"] == 40 and saved["hidden_size"] == 32


def test_char_history_holds_the_whole_run_after_resumes(tmp_path, tiny_text, script, text_file):
    out = tmp_path / "run"
    main = script(CHAR)
    assert main([*TINY_CHAR, "--text", str(text_file), "--steps", "40", "--out", str(out)]) == 0
    first = json.loads((out / "metrics.json").read_text())["history"]
    assert main(["--text", str(text_file), "--steps", "80", "--out", str(out), "--resume"]) == 0
    whole = json.loads((out / "metrics.json").read_text())
    assert len(whole["history"]["loss"]) == 4 and whole["epochs"] == 4 and whole["steps"] == 80
    for key in ("loss", "val_loss"):
        assert whole["history"][key][:2] == first[key]


def test_divergence_stops_the_run_with_one_error_line(tmp_path, capsys, script, text_file):
    out = tmp_path / "run"
    main = script(CHAR)
    code = main([*TINY_CHAR, "--text", str(text_file), "--lr", "1e9", "--clip", "0", "--steps", "40",
                 "--out", str(out)])
    err = _one_error_line(capsys, "error: training diverged: loss ")
    assert code == 2 and "lower --lr or set clip" in err
    assert not (out / "model.keras").exists()
    # the run is not lost: resuming at a sane rate finishes it
    assert main(["--text", str(text_file), "--lr", "0.01", "--out", str(out), "--resume", "--steps", "40"]) == 0
    assert json.loads((out / "config.json").read_text())["training"]["learning_rate"] == 0.01


def _fed(losses):
    """Feeds a StopOnDivergence the batch losses; returns the error it raised (or None)."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.optimizer.build(model.trainable_variables)
    callback = StopOnDivergence("lower learning_rate")
    callback.set_model(model)
    callback.on_train_begin()
    try:
        for step, loss in enumerate(losses):
            model.optimizer.iterations.assign(step + 1)
            callback.on_train_batch_end(step, {"loss": loss})
    except InputError as e:
        return str(e)
    return None


def test_divergence_callback_thresholds():
    assert _fed([3.0, 2.0, 5.0, 29.9]) is None  # climbs, but stays under 10x the first
    assert _fed([3.0, 2.0, 30.5]) == ("training diverged: loss 30.5 at step 3 is more than 10x the "
                                      "first evaluation's 3; lower learning_rate")
    assert _fed([3.0, np.nan]) == "training diverged: loss nan at step 2 is not finite; lower learning_rate"
    assert "not finite" in _fed([np.inf])
