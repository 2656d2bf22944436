"""Damaged STN and captioner runs, through every script that reads them: one `error:` line
naming the file, exit status 2, no traceback, and nothing written.

A tiny run of each kind, trained one epoch so that it holds every file training writes
(tests/tiny_runs.py), gets random damage from a fixed seed, as in test_damaged_runs.py: a file
truncated, bytes flipped, emptied or deleted, and for JSON files every wrong shape (`[]`, a
string, each key removed, set to null or to a value of another type, list entries likewise).
Each script then runs on the damaged copy (in this process, as the other script tests do):
`train_stn.py --resume` and `plot_stn.py` on the STN run; `train_captioner.py --resume`,
`evaluate_captioner.py` and `caption_image.py` on the captioner. Each file is damaged only for
the scripts that read it (a resume reads the settings, the vocabulary, the history and the
backup; the others the settings, the vocabulary, the model and the metrics).

A case passes when the script succeeds (the damage is in something it does not need), or exits
2 with a single `error:` line that names the damaged file in the run directory, leaving every
file of the run and its `--out` as they were (bytes flipped inside the backup's weights, which
HDF5 would load as other weights, are caught by the checksum the backup's metadata records).
"""

import json
import shutil
import warnings

import pytest

import tiny_runs
from test_damaged_runs import draw_cases

SEED = 20240611
STN_RESUME = ["--mnist", "{mnist}", "--out", "{run}", "--resume", "--epochs", "2"]
CAPTIONER_RESUME = ["--out", "{run}", "--resume", "--epochs", "2"]


@pytest.fixture(scope="module")
def stn_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("stn")
    tiny_runs.trained_stn_run(base / "run", tiny_runs.random_mnist(base / "mnist.npz"))
    return base


@pytest.fixture(scope="module")
def captioner_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("captioner")
    tiny_runs.trained_captioner_run(base / "run")
    return base


def snapshot(*roots):
    """`{path: (size, mtime)}` of every file and folder under `roots` (a folder's mtime changes
    when an entry is added or removed)."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns)
            for root in roots if root.exists() for p in [root, *root.rglob("*")]}


def run_script(main, argv, capsys):
    """`main(argv)` -> `(exit status, stderr)`, its stderr as a terminal shows it: with the
    Python warnings a script run shows (pytest would record them instead)."""
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for hidden in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", hidden)
        code = main(argv)
    shown = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught)
    return code, shown + capsys.readouterr().err


def check_cases(base, tmp_path, cases, main, argv, capsys):
    """Runs `main(argv)` on a damaged copy of `base / "run"` for each case; fails listing every
    case that did not end cleanly."""
    failures = []
    for i, (name, what, apply) in enumerate(cases):
        case = tmp_path / f"case{i}"
        run, out = case / "run", case / "out"
        shutil.copytree(base / "run", run)
        out.mkdir()
        apply(run / name)
        before = snapshot(run, out)
        try:
            code, err = run_script(main, [a.format(run=run, out=out, mnist=base / "mnist.npz")
                                          for a in argv], capsys)
        except Exception as e:  # noqa: BLE001 - a traceback is what this test looks for
            failures.append(f"{name} {what}: {type(e).__name__}: {e}")
            continue
        if code == 0:
            shutil.rmtree(case)
            continue
        lines = err.strip().splitlines()
        line = lines[0] if len(lines) == 1 and lines[0].startswith("error: ") else None
        named = line is not None and str(run) in line and name.split("/")[-1] in line
        wrote = sorted(set(snapshot(run, out).items()) ^ set(before.items()))
        if code != 2 or "Traceback" in err or not (named and not wrote):
            failures.append(f"{name} {what}: exit {code}, stderr {err[-400:]!r}, "
                            f"changed {[path for path, _ in wrote][:4]}")
            continue
        shutil.rmtree(case)
    assert not failures, f"{len(failures)} of {len(cases)} cases not clean:\n" + "\n".join(failures)


def test_the_fixture_runs_hold_every_file_training_writes(stn_run, captioner_run):
    for base, extra in ((stn_run, set()), (captioner_run, {"vocab.json"})):
        names = {p.relative_to(base / "run").as_posix() for p in (base / "run").rglob("*")}
        assert {"config.json", "model.keras", "metrics.json", "history.json", "backup/latest.weights.h5",
                "backup/training_metadata.json", "checkpoints/best.weights.h5", "logs", *extra} <= names


def test_resuming_a_damaged_stn_run(stn_run, tmp_path, capsys, script):
    counts = {"config.json": 6, "history.json": 2, "backup/latest.weights.h5": 2,
              "backup/training_metadata.json": 3}
    check_cases(stn_run, tmp_path, draw_cases(stn_run / "run", counts, SEED),
                script("training/train_stn.py"), STN_RESUME, capsys)


def test_plotting_a_damaged_stn_run(stn_run, tmp_path, capsys, script):
    counts = {"config.json": 6, "model.keras": 3, "metrics.json": 2}
    argv = ["--model", "{run}", "--mnist", "{mnist}", "--count", "4", "--out", "{out}/stn.png"]
    check_cases(stn_run, tmp_path, draw_cases(stn_run / "run", counts, SEED + 1),
                script("training/plot_stn.py"), argv, capsys)


def test_resuming_a_damaged_captioner_run(captioner_run, tmp_path, capsys, script):
    counts = {"config.json": 6, "vocab.json": 3, "history.json": 2, "backup/latest.weights.h5": 2,
              "backup/training_metadata.json": 2}
    check_cases(captioner_run, tmp_path, draw_cases(captioner_run / "run", counts, SEED + 2),
                script("training/train_captioner.py"), CAPTIONER_RESUME, capsys)


def test_evaluating_a_damaged_captioner_run(captioner_run, tmp_path, capsys, script):
    counts = {"config.json": 5, "vocab.json": 3, "model.keras": 2, "metrics.json": 1}
    argv = ["--model", "{run}", "--beam", "2", "--out", "{out}/eval.json"]
    check_cases(captioner_run, tmp_path, draw_cases(captioner_run / "run", counts, SEED + 3),
                script("training/evaluate_captioner.py"), argv, capsys)


def test_captioning_with_a_damaged_run(captioner_run, tmp_path, capsys, script):
    counts = {"config.json": 5, "vocab.json": 3, "model.keras": 2, "metrics.json": 1}
    argv = ["--model", "{run}", "--scene", "0", "--beam", "2", "--out", "{out}/attention.png"]
    check_cases(captioner_run, tmp_path, draw_cases(captioner_run / "run", counts, SEED + 4),
                script("training/caption_image.py"), argv, capsys)


def test_a_bad_saved_setting_is_named_as_damage_not_as_a_flag(captioner_run, tmp_path, capsys, script):
    """A resume checks the settings it keeps from the run; a bad one is the file's fault."""
    run = tmp_path / "run"
    shutil.copytree(captioner_run / "run", run)
    config = json.loads((run / "config.json").read_text())
    config["training"]["encoder_kernels"] = [None, 3, 1]
    (run / "config.json").write_text(json.dumps(config))
    before = snapshot(run)
    code, err = run_script(script("training/train_captioner.py"),
                           [a.format(run=run) for a in CAPTIONER_RESUME], capsys)
    assert code == 2 and err == (
        f"error: {run / 'config.json'} is damaged (training.encoder_kernels must be three sizes "
        ">= 1 such as 3,3,1, got [None, 3, 1]); retrain or restore the file\n")
    assert snapshot(run) == before


def test_a_truncated_backup_is_refused_before_anything_is_written(stn_run, tmp_path, capsys, script):
    run = tmp_path / "run"
    shutil.copytree(stn_run / "run", run)
    weights = run / "backup" / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[:1000])
    before = snapshot(run)
    argv = [a.format(run=run, mnist=stn_run / "mnist.npz") for a in STN_RESUME]
    code, err = run_script(script("training/train_stn.py"), argv, capsys)
    assert code == 2
    assert err.startswith(f"error: cannot restore {weights}: its bytes do not match the checksum") and err.count("\n") == 1
    assert f"delete {run / 'backup'} and run again with --resume" in err
    assert snapshot(run) == before  # config.json not rewritten, no TensorBoard logs begun


@pytest.mark.parametrize("damage,message", [
    (lambda record: record.pop("workers"), "no training.distribution.workers"),
    (lambda record: record.update(replicas="2"), "training.distribution.replicas is a string, not an integer"),
])
def test_a_damaged_distribution_record_is_named(stn_run, tmp_path, capsys, script, damage, message):
    """How the run was spread over devices, which a resume compares key by key."""
    run = tmp_path / "run"
    shutil.copytree(stn_run / "run", run)
    config = json.loads((run / "config.json").read_text())
    damage(config["training"]["distribution"])
    (run / "config.json").write_text(json.dumps(config))
    argv = [a.format(run=run, mnist=stn_run / "mnist.npz") for a in STN_RESUME]
    code, err = run_script(script("training/train_stn.py"), argv, capsys)
    assert code == 2 and err == f"error: {run / 'config.json'} is damaged ({message}); retrain or restore the file\n"


def test_bytes_changed_inside_the_backup_weights_are_caught_by_its_checksum(stn_run, tmp_path, capsys, script):
    """HDF5 has no checksums: a changed byte inside an array would load as another weight."""
    import h5py
    import numpy as np

    run = tmp_path / "run"
    shutil.copytree(stn_run / "run", run)
    weights = run / "backup" / "latest.weights.h5"
    with h5py.File(weights, "r+") as f:
        arrays = []
        f.visititems(lambda name, item: arrays.append(item) if isinstance(item, h5py.Dataset) and item.size else None)
        arrays[0][()] = np.asarray(arrays[0][()]) + 1  # still a valid HDF5 file
    before = snapshot(run)
    code, err = run_script(script("training/train_stn.py"),
                           [a.format(run=run, mnist=stn_run / "mnist.npz") for a in STN_RESUME], capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: cannot restore {weights}: its bytes do not match the checksum in "
                          "training_metadata.json")
    assert snapshot(run) == before
