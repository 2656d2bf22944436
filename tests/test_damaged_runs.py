"""Damaged run directories give one `error:` line naming the file, never a traceback.

A valid tiny run of each kind gets random damage drawn from a fixed seed: its files truncated,
bytes flipped, emptied or deleted, and for JSON files every wrong shape (`[]`, a string, each
key removed, set to null or to a value of another type, list entries likewise, a character
twice). Then the loaders run: the sampling script, the training script's `--resume` and the
export script on a char run, `load_stn_model` and `load_captioner` (which every STN and
captioner script and the export call) on the others. Each must end in exit code 2 and one
`error:` line that names the run directory, or succeed where the damaged file is not needed.
"""

import copy
import json
import random
import shutil

import pytest

import tiny_runs
from kerasrnn.errors import InputError
from kerasrnn.kinds.char_rnn.train import train_char_rnn
from kerasrnn.kinds.char_rnn.config import CharRNNConfig

SEED = 20240601
OTHER_VALUES = (None, True, 7, 2.5, "x", [], {})
TINY = dict(cell="gru", num_layers=1, hidden_size=8, embedding_dim=4, seq_length=10, batch_size=2,
            optimizer="adam", learning_rate=1e-2, eval_every=5, val_fraction=0.1, sample_length=5,
            steps=5)


def _json_type(value):
    return "null" if value is None else type(value).__name__


def _other_type(value, other):
    """Whether `other` is of another JSON type than `value` (an integer is also a number)."""
    mine, theirs = _json_type(value), _json_type(other)
    return mine != theirs and not (mine == "float" and theirs == "int")


def json_mutations(document):
    """Every wrong shape of a JSON document: `[(description, new document)]`."""
    cases = [("the file is []", []), ('the file is "text"', "text")]

    def replaced(path, new=None, remove=False):
        doc = copy.deepcopy(document)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if remove:
            del parent[path[-1]]
        else:
            parent[path[-1]] = new
        return doc

    def walk(value, path):
        name = ".".join(map(str, path))
        if path:
            if isinstance(path[-1], str):
                cases.append((f"{name} removed", replaced(path, remove=True)))
            cases.extend((f"{name} = {other!r}", replaced(path, other))
                         for other in OTHER_VALUES if _other_type(value, other))
        if isinstance(value, dict):
            for key in value:
                walk(value[key], [*path, key])
        elif isinstance(value, list) and value:
            walk(value[0], [*path, 0])
            if len(value) > 1:
                cases.append((f"{name}[0] = {name}[1] (twice)", replaced([*path, 0], value[1])))
            if isinstance(value[0], str):
                cases.append((f"{name}[0] = two characters", replaced([*path, 0], value[0] * 2)))

    walk(document, [])
    return cases


def damages(path, rng):
    """Every damage of one file: `[(description, function applying it)]`."""
    size = path.stat().st_size
    cut, flips = rng.randrange(0, max(size, 1)), [rng.randrange(0, max(size, 1)) for _ in range(8)]

    def truncate(p):
        p.write_bytes(p.read_bytes()[:cut])

    def flip(p):
        data = bytearray(p.read_bytes())
        for i in flips:
            data[i] ^= 0xFF
        p.write_bytes(bytes(data))

    cases = [(f"truncated to {cut} of {size} bytes", truncate), (f"bytes {flips} flipped", flip),
             ("emptied", lambda p: p.write_bytes(b"")), ("deleted", lambda p: p.unlink())]
    if path.suffix == ".json":
        for what, doc in json_mutations(json.loads(path.read_text())):
            cases.append((what, lambda p, doc=doc: p.write_text(json.dumps(doc))))
    return cases


def draw_cases(run, counts, seed):
    """`counts[file]` damages of each file of `run`, drawn with `seed`: `[(file, what, apply)]`."""
    rng = random.Random(seed)
    drawn = []
    for name, count in counts.items():
        options = damages(run / name, rng)
        drawn += [(name, what, apply) for what, apply in rng.sample(options, min(count, len(options)))]
    return drawn


def check_cases(run, tmp_path, cases, load, allow_unnamed=None):
    """Damages a copy of `run` for each case and runs `load(directory) -> (code, stderr)`."""
    failures = []
    for i, (name, what, apply) in enumerate(cases):
        directory = tmp_path / f"case{i}"
        shutil.copytree(run, directory)
        apply(directory / name)
        try:
            code, err = load(directory)
        except Exception as e:  # noqa: BLE001 - a traceback is what this test looks for
            failures.append(f"{name} {what}: {type(e).__name__}: {e}")
            continue
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        if code == 0:
            continue
        # A resumed run takes the defaults for settings its config.json lacks (runs written
        # before a setting existed); that may be refused as a setting, not as damage.
        named = str(directory) in errors[0] if errors else False
        named = named or (allow_unnamed is not None and allow_unnamed(name, what))
        if code != 2 or len(errors) != 1 or "Traceback" in err or not named:
            failures.append(f"{name} {what}: exit {code}, stderr {err[-400:]!r}")
        shutil.rmtree(directory)
    assert not failures, f"{len(failures)} of {len(cases)} cases not clean:\n" + "\n".join(failures)


def script_loader(main, argv, capsys):
    def load(directory):
        capsys.readouterr()
        code = main([a.format(d=directory) for a in argv])
        return code, capsys.readouterr().err

    return load


def function_loader(function):
    def load(directory):
        try:
            function(directory)
        except InputError as e:
            return 2, f"error: {e}\n"
        return 0, ""

    return load


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    """A finished tiny char run with every file training writes (backup, checkpoint, history)."""
    import numpy as np

    rng = np.random.default_rng(0)
    words = ["def ", "return ", "self", ".x", " = ", "(a, b)", ":\n", "    ", "if ", "else"]
    text = "".join(words[i] for i in rng.integers(0, len(words), 300))
    base = tmp_path_factory.mktemp("char")
    (base / "text.txt").write_text(text)
    train_char_rnn(CharRNNConfig(**TINY), text, base / "run", verbose=0)
    return base


def test_the_fixture_run_has_every_file(char_run):
    names = {p.relative_to(char_run / "run").as_posix() for p in (char_run / "run").rglob("*")}
    assert {"config.json", "vocab.json", "model.keras", "metrics.json", "history.json",
            "backup/latest.weights.h5", "backup/training_metadata.json",
            "checkpoints/best.weights.h5"} <= names


def test_sampling_a_damaged_char_run(char_run, tmp_path, capsys, script):
    counts = {"config.json": 16, "vocab.json": 8, "model.keras": 6, "metrics.json": 4,
              "history.json": 1, "backup/latest.weights.h5": 1}
    load = script_loader(script("training/sample_char_rnn.py"),
                         ["--model", "{d}", "--length", "5"], capsys)
    assert load(char_run / "run")[0] == 0
    check_cases(char_run / "run", tmp_path, draw_cases(char_run / "run", counts, SEED), load)


def test_resuming_a_damaged_char_run(char_run, tmp_path, capsys, script):
    counts = {"config.json": 3, "vocab.json": 2, "history.json": 2, "backup/latest.weights.h5": 3,
              "backup/training_metadata.json": 3, "model.keras": 1}
    load = script_loader(script("training/train_char_rnn.py"),
                         ["--text", str(char_run / "text.txt"), "--out", "{d}", "--resume",
                          "--steps", "10"], capsys)
    check_cases(char_run / "run", tmp_path, draw_cases(char_run / "run", counts, SEED + 1), load)


def test_resuming_a_run_that_lost_a_setting_names_it(char_run, tmp_path, capsys, script):
    """A run to continue must hold every setting it was trained with: a missing one is named,
    never replaced by today's default."""
    main = script("training/train_char_rnn.py")
    config = json.loads((char_run / "run" / "config.json").read_text())
    for key in sorted(config["training"]):
        directory = tmp_path / f"lost-{key}"
        shutil.copytree(char_run / "run", directory)
        damaged = {**config, "training": {k: v for k, v in config["training"].items() if k != key}}
        (directory / "config.json").write_text(json.dumps(damaged))
        before = sorted((p.name, p.stat().st_mtime_ns) for p in directory.rglob("*"))
        capsys.readouterr()
        code = main(["--text", str(char_run / "text.txt"), "--out", str(directory), "--resume", "--steps", "10"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1, (key, err)
        assert f"config.json is damaged (no training.{key})" in err[0], (key, err)
        assert sorted((p.name, p.stat().st_mtime_ns) for p in directory.rglob("*")) == before, key


def test_exporting_a_damaged_char_run(char_run, tmp_path, capsys, script):
    counts = {"config.json": 2, "vocab.json": 2, "model.keras": 2, "metrics.json": 1}
    load = script_loader(script("export/export_model.py"),
                         ["--model", "{d}", "--name", "m", "--base", str(tmp_path / "models")],
                         capsys)
    check_cases(char_run / "run", tmp_path, draw_cases(char_run / "run", counts, SEED + 2), load)


@pytest.mark.parametrize("kind", ["stn", "captioner"])
def test_loading_a_damaged_stn_or_captioner_run(kind, tmp_path):
    from kerasrnn.kinds.captioner.trained import load_captioner
    from kerasrnn.kinds.stn_classifier.trained import load_stn_model

    run = tmp_path / "run"
    if kind == "stn":
        tiny_runs.stn_run(run)
        counts, loader = {"config.json": 14, "model.keras": 4, "metrics.json": 2}, load_stn_model
    else:
        tiny_runs.captioner_run(run)
        counts = {"config.json": 12, "vocab.json": 8, "model.keras": 3, "metrics.json": 1}
        loader = load_captioner
    loader(run)
    check_cases(run, tmp_path, draw_cases(run, counts, SEED + 3), function_loader(loader))


def test_a_config_with_a_wrong_shape_names_the_file_and_the_key(char_run, tmp_path, capsys, script):
    run = tmp_path / "run"
    shutil.copytree(char_run / "run", run)
    config = json.loads((run / "config.json").read_text())
    config["training"]["seq_length"] = None
    (run / "config.json").write_text(json.dumps(config))
    assert script("training/sample_char_rnn.py")(["--model", str(run)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {run / 'config.json'} is damaged (training.seq_length is null, not an "
                   "integer); retrain or restore the file\n")
    (run / "config.json").write_text("[]")
    assert script("training/sample_char_rnn.py")(["--model", str(run)]) == 2
    assert "config.json is damaged (the file is a list, not an object)" in capsys.readouterr().err


def test_a_vocabulary_with_a_character_twice_is_named(char_run, tmp_path, capsys, script):
    run = tmp_path / "run"
    shutil.copytree(char_run / "run", run)
    chars = json.loads((run / "vocab.json").read_text())["chars"]
    (run / "vocab.json").write_text(json.dumps({"chars": [chars[1], *chars[1:]]}))
    assert script("training/sample_char_rnn.py")(["--model", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'vocab.json'} is damaged (duplicate character {chars[1]!r})" in err


def test_a_damaged_backup_says_how_to_start_over(char_run, tmp_path, capsys, script):
    run = tmp_path / "run"
    shutil.copytree(char_run / "run", run)
    weights = run / "backup" / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[:1000])
    argv = ["--text", str(char_run / "text.txt"), "--out", str(run), "--resume", "--steps", "10"]
    main = script("training/train_char_rnn.py")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{weights}" in err and f"delete {run / 'backup'}" in err and err.count("\n") == 1
    shutil.rmtree(run / "backup")  # what the message says: the run starts over from epoch 0
    assert main(argv) == 0
    assert json.loads((run / "metrics.json").read_text())["steps"] == 10
