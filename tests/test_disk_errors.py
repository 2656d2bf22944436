"""A run directory that cannot be written: an `--out` under a file, a read-only folder, a full
disk at the start, during training or at the final save. Each ends in one `error:` line and a
non-zero exit, and leaves no half-written file: every file is the old one or the whole new one
(temporary files are removed), and never a truncated `model.keras`.

The write errors are injected into `kerasrnn.files`' lowest write (`_write_bytes`), which
first writes half the bytes, as a disk that fills up does; one test fills a real 2 MiB tmpfs and
is skipped where `mount` is not allowed.
"""

import errno
import json
import os
import pathlib
import subprocess

import pytest

from kerasrnn import files
from kerasrnn.files import FileError, write_json_atomic
from script_runs import run_script

TINY = ["--cell", "gru", "--layers", "1", "--hidden", "8", "--embedding", "4", "--seq-length", "10",
        "--batch-size", "2", "--optimizer", "adam", "--lr", "1e-2", "--eval-every", "5",
        "--val-fraction", "0.1", "--sample-length", "5"]


@pytest.fixture
def text_file(tmp_path, tiny_text):
    path = tmp_path / "text.txt"
    path.write_text(tiny_text[:3000])
    return path


@pytest.fixture
def train(script, text_file, capsys):
    """`train(out, *flags) -> (exit code, stderr)` of train_char_rnn.py on the tiny text."""
    main = script("training/train_char_rnn.py")

    def run(out, *flags):
        capsys.readouterr()
        code = main(["--text", str(text_file), *TINY, "--out", str(out), *flags])
        return code, capsys.readouterr().err

    return run


def fail_writes(monkeypatch, code, matching=lambda path: True):
    """Makes `run_dir`'s lowest write fail with `OSError(code)` for the paths `matching` picks,
    after writing half the bytes."""
    real = files._write_bytes

    def write(f, data):
        tmp = pathlib.Path(f.name)
        if not matching(tmp):
            return real(f, data)
        f.write(data[: len(data) // 2])
        f.flush()
        raise OSError(code, os.strerror(code), str(tmp))

    monkeypatch.setattr(files, "_write_bytes", write)


def temporary_of(name):
    """Matches the temporary files `kerasrnn.files` writes `name` through."""
    return lambda path: path.name.startswith(f".tmp-{name}-")


def leftovers(directory):
    """Temporary files left in `directory`."""
    return sorted(p.name for p in pathlib.Path(directory).rglob("*")
                  if p.name.startswith((".tmp-", "tmp-")) or p.name.endswith(".tmp"))


def one_error_line(err):
    return err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_out_under_a_regular_file_is_refused_before_anything_is_written(tmp_path, train):
    (tmp_path / "file").write_text("not a folder")
    before = sorted(tmp_path.rglob("*"))
    code, err = train(tmp_path / "file" / "run", "--steps", "5")
    assert code == 2 and one_error_line(err)
    assert f"{tmp_path / 'file'} is a file, not a folder" in err
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into a chmod 0o500 folder anyway")
def test_out_in_a_folder_without_write_permission_is_refused(tmp_path, train):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, err = train(folder / "run", "--steps", "5")
    finally:
        folder.chmod(0o700)
    assert code == 2 and one_error_line(err) and "cannot write in" in err
    assert not any(folder.iterdir())


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_a_failed_first_write_leaves_nothing_behind(tmp_path, train, monkeypatch, code):
    fail_writes(monkeypatch, code, temporary_of("config.json"))
    out = tmp_path / "run"
    status, err = train(out, "--steps", "5")
    assert status == 2 and one_error_line(err)
    assert f"cannot write {out / 'config.json'}" in err
    assert ("read-only" if code == errno.EROFS else "no space left") in err
    assert not out.exists() or not any(out.iterdir())  # vocab.json is taken back too


def test_a_full_disk_during_training_keeps_the_last_whole_backup(tmp_path, train, monkeypatch):
    out = tmp_path / "run"
    assert train(out, "--steps", "5")[0] == 0
    weights = out / "backup" / "latest.weights.h5"
    before = weights.read_bytes()
    fail_writes(monkeypatch, errno.ENOSPC, temporary_of("latest.weights.h5"))
    code, err = train(out, "--resume", "--steps", "10")
    assert code == 2 and one_error_line(err)
    staged = out / "backup.next" / "latest.weights.h5"  # a backup is written whole, then swapped in
    assert f"cannot write {staged} (no space left on the disk)" in err and "--resume" in err
    assert weights.read_bytes() == before and leftovers(out) == []
    assert json.loads((out / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    monkeypatch.undo()
    assert train(out, "--resume", "--steps", "10")[0] == 0  # what the message says works


def test_a_full_disk_writing_the_history_is_one_line_and_leaves_no_temporary_file(
        tmp_path, train, monkeypatch):
    """history.json is written by a Keras callback every epoch; a full disk there still ends in
    one line, and no half-written or temporary file is left."""
    fail_writes(monkeypatch, errno.ENOSPC, temporary_of("history.json"))
    out = tmp_path / "run"
    code, err = train(out, "--steps", "5")
    assert code == 2 and one_error_line(err)
    assert "history.json (no space left on the disk)" in err and "--resume" in err
    assert not (out / "model.keras").exists()
    assert not list(out.rglob(".tmp-*")) and not (out / "history.json").exists()


def test_a_full_disk_at_the_final_save_leaves_no_model_and_the_run_can_finish(
        tmp_path, train, monkeypatch):
    fail_writes(monkeypatch, errno.ENOSPC, temporary_of("model.keras"))
    out = tmp_path / "run"
    code, err = train(out, "--steps", "5")
    assert code == 2 and one_error_line(err)
    assert f"cannot write {out / 'model.keras'} (no space left on the disk)" in err
    assert not (out / "model.keras").exists() and leftovers(out) == []
    monkeypatch.undo()
    assert train(out, "--resume", "--steps", "10")[0] == 0  # as the message says
    assert (out / "model.keras").is_file()


def test_a_failed_json_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"old": 1})
    fail_writes(monkeypatch, errno.ENOSPC)
    with pytest.raises(FileError, match="no space left"):
        write_json_atomic(path, {"new": 2})
    assert json.loads(path.read_text()) == {"old": 1} and leftovers(tmp_path) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (as root, where mount is allowed), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {(done.stderr or done.stdout).strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_real_full_disk_ends_in_one_error_line_not_a_crash(small_disk, text_file):
    """Filled to ~150 kB free: before this fix HDF5 crashed the process (SIGSEGV) writing the
    checkpoint. A subprocess, so a crash fails this test rather than killing pytest."""
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * (free - 150_000))
    out = small_disk / "run"
    done = run_script("training/train_char_rnn.py", "--text", text_file, *TINY, "--hidden", "32",
                      "--embedding", "16", "--steps", "30", "--out", out, timeout=300,
                      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(errors) == 1 and "no space left on the disk" in errors[0]
    assert "Traceback" not in done.stderr
    assert not (out / "model.keras").exists() and leftovers(out) == []


def test_a_read_only_disk_is_refused_before_training(small_disk, train):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    code, err = train(small_disk / "run", "--steps", "5")
    assert code == 2 and one_error_line(err) and "read-only or no permission" in err
