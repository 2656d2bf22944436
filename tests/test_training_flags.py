"""The training scripts' flags come from their config's fields: every user setting is a flag
whose help shows the field's own default, every spelling users know parses to the settings it
always did, and error messages name only flags the script has (fast; parses, trains nothing)."""

import contextlib
import dataclasses
import io
import pathlib
import re

import pytest

from script_runs import script_module

from kerasrnn.cli import flags_of, given_settings, in_flag_terms
from kerasrnn.config_fields import declared, setting, user_settings
from kerasrnn.kinds.captioner.config import CaptionerConfig
from kerasrnn.kinds.char_rnn.config import CharRNNConfig
from kerasrnn.kinds.stn_classifier.config import STNConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAR, STN, CAP = "training/train_char_rnn.py", "training/train_stn.py", "training/train_captioner.py"
CONFIGS = {CHAR: CharRNNConfig, STN: STNConfig, CAP: CaptionerConfig}
NOT_FLAGS = {CHAR: {"distribution", "sample_temperature", "sample_prime"}, STN: {"distribution"},
             CAP: {"distribution"}}


@pytest.fixture(scope="module")
def scripts():
    return {path: vars(script_module(path)) for path in CONFIGS}


def help_lines(parse_args, monkeypatch):
    """`--help` of a script, one line per flag (wide enough not to wrap; a help text that
    argparse starts on the next line joined to its flag's)."""
    monkeypatch.setenv("COLUMNS", "1000")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        parse_args(["--help"])
    lines = []
    for line in out.getvalue().splitlines():
        if line.startswith("      ") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return lines


def shown(value):
    """A default as the help should show it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


@pytest.mark.parametrize("path", CONFIGS)
def test_help_lists_every_setting_with_the_fields_default(path, scripts, monkeypatch):
    config_class = CONFIGS[path]
    lines = help_lines(scripts[path]["parse_args"], monkeypatch)
    assert {f.name for f in dataclasses.fields(config_class)} - {f.name for f in user_settings(config_class)} \
        == NOT_FLAGS[path]
    for field in user_settings(config_class):
        flag = flags_of(config_class)[field.name]
        [line] = [line for line in lines if line.startswith(f"  {flag} ") or line.startswith(f"  {flag},")]
        default = declared(field)["default_help"]
        if default is None:
            assert f"(default {shown(field.default)})" in line, line
        else:  # a default that needs words (what None means), in flag terms
            assert "(default " in line and "`" not in line, line
    for name in NOT_FLAGS[path]:
        assert not any(f"--{name.replace('_', '-')}" in line for line in lines)


def test_help_words_for_defaults_are_true():
    """The defaults `None` stands for, as the help states them."""
    lines = {f.name: declared(f)["default_help"] for f in dataclasses.fields(CharRNNConfig)}
    assert lines["steps"] == "5000 unless `epochs` is given" and lines["embedding_dim"] == "one-hot"
    assert lines["jit_compile"].startswith("as `unroll`")  # train.py: jit = unroll when None
    from kerasrnn.kinds.char_rnn.train import DEFAULT_LR
    stated = {name: float(rate) for rate, names in re.findall(r"([\d.e-]+) ([\w/]+)", lines["learning_rate"])
              for name in names.split("/")}
    assert stated == DEFAULT_LR
    caps = {f.name: declared(f)["default_help"] for f in dataclasses.fields(CaptionerConfig)}
    from kerasrnn.kinds.captioner.captions import GENERATED_COUNTS
    assert (caps["train_count"], caps["test_count"]) == (str(GENERATED_COUNTS["train"]),
                                                         str(GENERATED_COUNTS["test"]))


# (script, argv without --out, the settings given, as the scripts read them before the flags
# were made from the fields)
OLD_SPELLINGS = [
    (CHAR, [], {}),
    (CHAR, ["--cell", "gru", "--layers", "3", "--hidden", "64", "--embedding", "16", "--dropout", "0.1",
            "--seq-length", "20", "--batch-size", "4", "--batching", "windows", "--steps", "10",
            "--eval-every", "5", "--optimizer", "adam", "--lr", "0.01", "--lr-decay", "cosine",
            "--clip", "2.5", "--val-fraction", "0.1", "--seed", "4", "--unroll", "--jit",
            "--steps-per-execution", "5", "--sample-length", "50", "--gradient-accumulation-steps", "2"],
     dict(cell="gru", num_layers=3, hidden_size=64, embedding_dim=16, dropout=0.1, seq_length=20,
          batch_size=4, batching="windows", steps=10, eval_every=5, optimizer="adam", learning_rate=0.01,
          lr_decay="cosine", clip=2.5, val_fraction=0.1, seed=4, unroll=True, jit_compile=True,
          steps_per_execution=5, sample_length=50, gradient_accumulation_steps=2)),
    (CHAR, ["--epochs", "3", "--no-unroll", "--no-jit", "--embedding", "0", "--clip", "0"],
     dict(epochs=3, unroll=False, jit_compile=False, embedding_dim=None, clip=None)),
    (CHAR, ["--hid", "12"], dict(hidden_size=12)),  # argparse's abbreviations still work
    (CHAR, ["--preset", "demo", "--epochs", "2", "--embedding", "0"],
     dict(cell="lstm", num_layers=2, hidden_size=256, embedding_dim=None, seq_length=64, batch_size=32,
          optimizer="adam", learning_rate=3e-3, epochs=2, eval_every=250, steps_per_execution=10)),
    (CHAR, ["--preset", "min-char-rnn", "--hidden", "32"],
     dict(cell="vanilla", num_layers=1, hidden_size=32, embedding_dim=None, seq_length=25, batch_size=1,
          optimizer="adagrad", learning_rate=0.1, clip=5.0, dropout=0.0, unroll=True,
          steps_per_execution=100, eval_every=5000)),
    (STN, [], {}),
    (STN, ["--distortion", "RTS", "--model", "cnn", "--transform", "tps", "--epochs", "2", "--batch-size", "16",
           "--optimizer", "sgd", "--lr", "0.1", "--lr-decay", "cosine", "--dropout", "0.2", "--loc-lr-mult",
           "0.1", "--train-size", "100", "--val-size", "10", "--seed", "3", "--gradient-accumulation-steps", "2"],
     dict(distortion="RTS", model="cnn", transform="tps", epochs=2, batch_size=16, optimizer="sgd",
          learning_rate=0.1, lr_decay="cosine", dropout=0.2, loc_lr_multiplier=0.1, train_size=100,
          val_size=10, seed=3, gradient_accumulation_steps=2)),
    (STN, ["--optimizer", "sgdd"], dict(optimizer="sgdd")),  # refused by STNConfig.validate, in flag terms
    (CAP, [], {}),
    (CAP, ["--dataset", "digits", "--data-dir", "x", "--cell", "gru", "--attention", "hard", "--epochs", "2",
           "--batch-size", "8", "--lr", "0.01", "--lr-decay", "cosine", "--image-size", "32", "--max-length", "8",
           "--min-count", "2", "--encoder", "MobileNetV2", "--encoder-kernels", "5,3,1", "--encoder-poolings",
           "max,average,max", "--encoder-weights", "imagenet", "--encoder-layer", "x", "--coordinates", "centroid",
           "--units", "16", "--embedding-dim", "8", "--attention-units", "4", "--dropout", "0.1",
           "--doubly-stochastic", "1", "--attention-supervision", "0.1", "--beam", "5", "--train-count", "10",
           "--test-count", "5", "--seed", "2", "--gradient-accumulation-steps", "3"],
     dict(dataset="digits", data_dir="x", cell="gru", attention="hard", epochs=2, batch_size=8,
          learning_rate=0.01, lr_decay="cosine", image_size=32, max_length=8, min_count=2,
          encoder="MobileNetV2", encoder_kernels=(5, 3, 1), encoder_poolings=("max", "average", "max"),
          encoder_weights="imagenet", encoder_layer="x", coordinates="centroid", units=16, embedding_dim=8,
          attention_units=4, dropout=0.1, doubly_stochastic=1.0, attention_supervision=0.1, beam_width=5,
          train_count=10, test_count=5, seed=2, gradient_accumulation_steps=3)),
    (CAP, ["--no-coordinates"], dict(coordinates="none")),
    (CAP, ["--dataset", "imagenet"], dict(dataset="imagenet")),  # refused by CaptionerConfig.validate
]


@pytest.mark.parametrize("path,argv,expected", OLD_SPELLINGS,
                         ids=[f"{p.split('/')[-1][:-3]} {' '.join(a)}"[:60] for p, a, _ in OLD_SPELLINGS])
def test_every_known_spelling_parses_to_the_same_settings(path, argv, expected, scripts):
    namespace = scripts[path]
    args = namespace["parse_args"]([*argv, "--out", "runs/x"])
    given = namespace["given_settings"](args) if path == CHAR else given_settings(args, CONFIGS[path])
    assert given == expected
    assert all(type(given[k]) is type(v) for k, v in expected.items())  # 1.0, not 1


def test_a_new_char_run_is_5000_steps_unless_given_a_length(scripts):
    build = scripts[CHAR]["build_config"]
    parse = scripts[CHAR]["parse_args"]
    assert build(parse(["--out", "x"])) == CharRNNConfig(steps=5000)
    assert build(parse(["--out", "x", "--epochs", "2"])) == CharRNNConfig(epochs=2)
    assert build(parse(["--out", "x", "--preset", "demo"])).steps == 1500


@pytest.mark.parametrize("path,argv", [(CHAR, ["--steps", "5", "--epochs", "2"]), (CHAR, ["--cell", "rnn"]),
                                       (CHAR, ["--layers", "two"]), (CAP, ["--encoder-kernels", "3,x,1"])])
def test_the_parser_still_refuses_what_it_refused(path, argv, scripts, capsys):
    with pytest.raises(SystemExit) as stop:
        scripts[path]["parse_args"]([*argv, "--out", "x"])
    assert stop.value.code == 2 and "error: argument" in capsys.readouterr().err


@pytest.mark.parametrize("path", CONFIGS)
def test_error_messages_name_only_flags_the_script_has(path, scripts, monkeypatch):
    usage = help_lines(scripts[path]["parse_args"], monkeypatch)
    known = {flag for line in usage for flag in re.findall(r"--[\w-]+", line)}
    flags = flags_of(CONFIGS[path])
    assert set(flags.values()) <= known, set(flags.values()) - known
    assert in_flag_terms("learning_rate must be finite and > 0, got nan", flags) == "--lr must be finite and > 0, got nan"


def test_messages_in_flag_terms():
    char, stn, cap = flags_of(CharRNNConfig), flags_of(STNConfig), flags_of(CaptionerConfig)
    assert in_flag_terms("hidden_size 1000000, num_layers 2: pass `allow_large`", char) \
        == "--hidden 1000000, --layers 2: pass --allow-large"
    assert in_flag_terms("steps_per_execution 10 must divide steps 25", char) \
        == "--steps-per-execution 10 must divide steps 25"
    assert in_flag_terms("embedding_dim must be >= 1; lower learning_rate", char) == "--embedding must be >= 1; lower --lr"
    assert in_flag_terms("loc_lr_multiplier must be > 0", stn) == "--loc-lr-mult must be > 0"
    assert in_flag_terms("beam_width must be between 1 and 100", cap) == "--beam must be between 1 and 100"
    assert in_flag_terms("sample_prime must be a non-empty string", char) == "sample_prime must be a non-empty string"


def test_a_field_without_its_flag_declared_is_found():
    @dataclasses.dataclass
    class Config:
        size: int = setting(3, "a size")
        forgotten: int = 1

    with pytest.raises(TypeError, match="forgotten is not declared"):
        user_settings(Config)
