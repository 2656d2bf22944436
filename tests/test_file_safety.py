"""Temporary files and bounded reads: a write never opens a planted file or link, keeps a plain
`open`'s permissions and cleans up after a killed writer; every JSON file, `model.keras` and a
client's @FILE is refused by its size before it takes memory; damaged or hostile names and
files end in one `error:` line (exit status 2), nothing written. No model is trained or
exported here: the refusals come before that work (a full disk mid-export is injected)."""

import errno
import json
import os
import pathlib
import time
import tracemalloc
import zipfile

import pytest

from kerasrnn import files, run_dir
from kerasrnn.kinds.stn_classifier.config import RUN_FORMAT
from kerasrnn.kinds.char_rnn.text import Vocabulary
from kerasrnn.errors import InputError
from kerasrnn.export import version_dir, write_version
from kerasrnn.kinds import registry
from kerasrnn.files import FileError
from script_runs import script_module

serving_config = script_module("export/serving_config.py")
MiB = 1024 * 1024


def one_error_line(capsys):
    """The one `error:` line a refused script printed (no traceback, nothing on stdout)."""
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def tree(folder):
    """Every path under `folder` (links not followed), with a file's bytes."""
    folder = pathlib.Path(folder)
    return {p: (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in folder.rglob("*")} if folder.exists() else None


def sparse(path, size):
    """A file of `size` zero bytes that takes no disk."""
    with open(path, "wb") as f:
        f.truncate(size)


def fake_model(base, name, version="1", max_rows=32):
    """BASE/NAME/VERSION with an empty saved_model.pb and a model card giving `limits.max_rows`."""
    folder = pathlib.Path(base) / name / version
    (folder / "assets.extra").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    card = {"format": "kerasrnn.model_card", "format_version": 1, "limits": {"max_rows": max_rows}}
    (folder / "assets.extra" / "model_card.json").write_text(json.dumps(card))
    return folder


@pytest.fixture(scope="module")
def stn_run(tmp_path_factory):
    """An untrained tiny CNN classifier run (config.json, model.keras, metrics.json)."""
    from tiny_runs import stn_run as make

    run = tmp_path_factory.mktemp("runs") / "digits"
    make(run)
    return run


# -- temporary files -----------------------------------------------------------------------------

def test_a_link_planted_at_the_old_temporary_name_is_not_followed(tmp_path):
    """serving_config.py wrote BASE/models.config through BASE/tmp-models.config, opened by name:
    a link planted there made it overwrite the link's target."""
    base = tmp_path / "models"
    fake_model(base, "char")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (base / "tmp-models.config").symlink_to(victim)
    serving_config.write_configs(base)
    assert victim.read_text() == "keep me"
    config = base / "models.config"
    assert not config.is_symlink() and config.read_text().startswith("model_config_list {")
    assert os.readlink(base / "tmp-models.config") == str(victim)  # left as it was


def test_a_link_at_the_target_name_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "models.config"
    target.symlink_to(victim)
    files.write_text_atomic(target, "new")
    assert victim.read_text() == "keep me"
    assert not target.is_symlink() and target.read_text() == "new"


def test_temporary_names_are_random_and_created_exclusively(tmp_path, monkeypatch):
    """Two writes use two unpredictable names; a name already taken (here by a planted link) is
    skipped, not opened."""
    seen, real = [], files._write_bytes

    def record(f, data):
        seen.append(pathlib.Path(f.name).name)
        return real(f, data)

    monkeypatch.setattr(files, "_write_bytes", record)
    files.write_json_atomic(tmp_path / "x.json", {"a": 1})
    files.write_json_atomic(tmp_path / "x.json", {"a": 2})
    assert len(set(seen)) == 2 and all(n.startswith(".tmp-x.json-") and len(n) > 16 for n in seen)

    import tempfile
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / ".tmp-x.json-planted").symlink_to(victim)
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: iter(["planted", "free"]))
    files.write_json_atomic(tmp_path / "x.json", {"a": 3})
    assert victim.read_text() == "keep me" and seen[-1] == ".tmp-x.json-free"
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 3}


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_keep_a_plain_opens_permissions(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        files.write_bytes_atomic(tmp_path / "f.bin", b"data")
        assert files.creation_mode(folder=True) == 0o777 & ~umask
    finally:
        os.umask(old)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == mode


def test_a_killed_writers_old_temporary_files_are_removed_by_the_next_write(tmp_path):
    old, fresh = tmp_path / ".tmp-x.json-abc123", tmp_path / ".tmp-x.json-def456"
    other = tmp_path / ".tmp-y.json-abc123"  # another file's: not this write's to remove
    for path in (old, fresh, other):
        path.write_text("half")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / ".tmp-x.json-link00"
    link.symlink_to(victim)
    hour_ago = time.time() - 3600
    for path in (old, other):
        os.utime(path, (hour_ago, hour_ago))
    os.utime(link, (hour_ago, hour_ago), follow_symlinks=False)
    files.write_json_atomic(tmp_path / "x.json", {"a": 1})
    assert not old.exists() and fresh.exists() and other.exists()
    assert link.is_symlink() and victim.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".tmp-x.json-def456", ".tmp-x.json-link00", ".tmp-y.json-abc123", "victim.txt", "x.json"])


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    files.write_json_atomic(target, {"a": 1})

    def full(f, data):
        f.write(data[:3])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "_write_bytes", full)
    with pytest.raises(FileError, match=r"cannot write .*x\.json \(no space left on the disk\)"):
        files.write_json_atomic(target, {"a": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    assert json.loads(target.read_text()) == {"a": 1}


# -- bounded reads -------------------------------------------------------------------------------

def test_an_oversized_vocabulary_is_refused_by_its_size_before_it_is_read(tmp_path):
    """A 2 GB vocab.json took 4.6 GB before it was refused; scaled to 64 MiB (a sparse file: it
    takes no disk), refused with less than 1 MiB of Python memory."""
    path = tmp_path / "vocab.json"
    sparse(path, 64 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(FileError) as raised:
            Vocabulary.load(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 * MiB, peak
    assert str(raised.value) == (f"{path} is damaged (67,108,864 bytes or more, above the "
                                 "16,777,216 such a file may hold); retrain or restore the file")


def test_the_cap_is_a_parameter_and_holds_at_its_edge(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"chars": ["a"] * 20}))
    size = path.stat().st_size
    assert files.read_json_file(path, max_bytes=size) == {"chars": ["a"] * 20}
    with pytest.raises(FileError, match=f"{size:,} bytes or more, above the {size - 1:,}"):
        files.read_json_file(path, max_bytes=size - 1)


def test_a_file_that_reports_no_size_is_read_only_up_to_the_cap():
    """/dev/zero has size 0 and no end: at most cap + 1 bytes are read, then it is refused."""
    with pytest.raises(FileError, match=r"/dev/zero is damaged \(1,001 bytes or more, above the 1,000"):
        files.read_bytes_capped("/dev/zero", 1000)


@pytest.mark.parametrize("content, what", [
    (b'{"format": "kerasrnn.stn_classifier", "x": "\xff\xfe"}', "not UTF-8 text"),
    (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    (b" " * (1 * MiB + 1), "1,048,577 bytes or more, above the 1,048,576"),
])
def test_a_damaged_config_is_one_line_in_export_model(tmp_path, script, capsys, content, what):
    """A config.json that is not UTF-8 or is nested 200k deep was a traceback in export_model.py;
    config.json is capped at 1 MiB (a real one holds a few kB)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_bytes(content)
    with pytest.raises(FileError, match=what):
        registry.run_kind(run)
    code = script("export/export_model.py")(["--model", str(run), "--name", "m",
                                              "--base", str(tmp_path / "models")])
    err = one_error_line(capsys)
    assert code == 2 and f"{run / 'config.json'} is damaged ({what}" in err
    assert not (tmp_path / "models").exists()


def _rewrite_model(path, change):
    """Rewrites the zip `path` with `change(name, bytes) -> [(name, bytes)]` per entry, deflated."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            for new_name, new_data in change(name, data):
                archive.writestr(new_name, new_data)


@pytest.fixture
def stn_copy(stn_run, tmp_path):
    import shutil

    copy = tmp_path / "digits"
    shutil.copytree(stn_run, copy)
    return copy


def test_a_model_whose_config_unpacks_huge_is_refused_before_keras_reads_it(stn_copy):
    """A 1.57 MB model.keras whose config.json held 1.5 GB of spaces loaded with 3.6 GB; here
    17 MiB of spaces (a 17 kB file) are refused by the entry's declared size."""
    model = stn_copy / "model.keras"
    _rewrite_model(model, lambda name, data: [(name, b" " * (17 * MiB) + data if name == "config.json"
                                               else data)])
    assert model.stat().st_size < 300_000
    with pytest.raises(FileError) as raised:
        run_dir.load_trained_model(stn_copy, RUN_FORMAT)
    assert f"{model} is damaged (its config.json would unpack to" in str(raised.value)
    assert "above the 16,777,216 it may hold" in str(raised.value)


def test_a_model_whose_entries_unpack_far_above_its_size_is_refused(stn_copy):
    model = stn_copy / "model.keras"
    _rewrite_model(model, lambda name, data: [(name, data)] + (
        [("assets/padding.bin", bytes(32 * MiB))] if name == "config.json" else []))
    size = model.stat().st_size
    with pytest.raises(FileError, match=rf"its entries would unpack to [\d,]+ bytes, above the "
                                        rf"{4 * size + MiB:,} a {size:,}-byte model file may hold"):
        run_dir.load_trained_model(stn_copy, RUN_FORMAT)


def test_a_genuine_model_passes_the_archive_check(stn_run):
    run_dir.check_model_archive(stn_run / "model.keras")
    model, _ = run_dir.load_trained_model(stn_run, RUN_FORMAT)
    assert model.output_shape == (None, 10)


# -- names and version folders -------------------------------------------------------------------

def test_version_folders_are_ascii_digits_only(tmp_path):
    """`str.isdigit` took `²` (then int() failed: a traceback) and `١٢` (as version 12)."""
    for name in ("1", "3", "²", "١٢", "04", "7\n", "+5", " 6"):
        (tmp_path / name).mkdir()
    assert version_dir.versions(tmp_path) == [1, 3, 4]
    assert [version_dir.is_version_name(n) for n in ("12", "²", "١٢", "1\n", "")] == [
        True, False, False, False, False]
    assert write_version._check_target(tmp_path.parent, tmp_path.name, None)[1] == 5
    with pytest.raises(InputError, match="digits 0-9, got '١٢'"):
        version_dir.parse_version("١٢")


def test_serving_config_ignores_version_folders_not_in_ascii_digits(tmp_path, capsys):
    base = tmp_path / "models"
    fake_model(base, "char", "1", max_rows=16)
    fake_model(base, "char", "١٢", max_rows=4)  # not a version: TF Serving serves 1
    fake_model(base, "odd", "²", max_rows=2)  # no version at all: not a model
    assert serving_config.main(["--base", str(base)]) == 0
    assert "(1 models: char)" in capsys.readouterr().out
    assert "max_batch_size { value: 16 }" in (base / "batching_parameters.txt").read_text()


def test_a_name_over_100_characters_is_refused_by_export_and_serving_config(
        stn_run, tmp_path, script, capsys):
    base = tmp_path / "models"
    code = script("export/export_model.py")(["--model", str(stn_run), "--name", "n" * 300,
                                              "--base", str(base)])
    err = one_error_line(capsys)
    assert code == 2 and "--name 300 characters ('nnnnnnnnnnnnnnnnnnnn'...), above 100" in err
    assert not base.exists()
    fake_model(base, "m" * 100)
    fake_model(base, "m" * 101)
    before = tree(base)
    assert serving_config.main(["--base", str(base)]) == 2
    assert "101 characters" in one_error_line(capsys) and tree(base) == before


@pytest.mark.parametrize("version", ["١٢", "²", "0", "1.5"])
def test_export_model_takes_a_version_in_ascii_digits_only(stn_run, tmp_path, script, capsys, version):
    base = tmp_path / "models"
    code = script("export/export_model.py")(["--model", str(stn_run), "--name", "m", "--base", str(base),
                                              "--version", version])
    err = one_error_line(capsys)
    assert code == 2 and f"--version must be an integer >= 1 written in the digits 0-9, got {version!r}" in err
    assert not base.exists()


def test_verify_refuses_a_version_folder_not_in_ascii_digits(tmp_path, script, capsys):
    folder = fake_model(tmp_path / "models", "m", "²")
    card = json.loads((folder / "assets.extra" / "model_card.json").read_text())
    card.update(name="m", version=2, kind="stn_classifier", run_dir=str(tmp_path), signatures={},
                default_signature="classify", onnx={})
    (folder / "assets.extra" / "model_card.json").write_text(json.dumps(card))
    assert script("export/verify.py")([str(folder)]) == 2
    assert "is not a version folder" in one_error_line(capsys)


# -- client.py -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make, what", [
    (lambda p: p.write_text("[" * 200_000 + "]" * 200_000), "nested too deeply"),
    (lambda p: p.write_bytes(b'["\xff"]'), "not UTF-8 text"),
    (lambda p: sparse(p, 17 * MiB), "17,825,792 bytes or more, above the 16,777,216"),
])
def test_client_input_files_are_bounded_and_checked(tmp_path, script, capsys, make, what):
    path = tmp_path / "deep.json"
    make(path)
    code = script("export/client.py")(["--rest", "http://127.0.0.1:9", "--name", "m",
                                       "--input", f"x=@{path}"])
    err = one_error_line(capsys)
    assert code == 2 and f"--input x: {path} is damaged ({what}" in err


def test_client_refuses_a_raw_input_file_over_its_cap_unread(tmp_path, script, capsys):
    path = tmp_path / "image.jpg"
    sparse(path, 65 * MiB)
    code = script("export/client.py")(["--rest", "http://127.0.0.1:9", "--name", "m",
                                       "--input", f"image_bytes=@{path}"])
    err = one_error_line(capsys)
    assert code == 2 and "68,157,440 bytes or more, above the 67,108,864" in err


def test_client_takes_a_version_in_ascii_digits_only(script, capsys):
    code = script("export/client.py")(["--rest", "http://127.0.0.1:9", "--name", "m", "--version", "١٢",
                                       "--input", "x=1"])
    err = one_error_line(capsys)
    assert code == 2 and "--version must be an integer >= 1 written in the digits 0-9, got '١٢'" in err


# -- a failed export -----------------------------------------------------------------------------

@pytest.mark.parametrize("failure", ["python", "tensorflow"])
def test_a_full_disk_mid_export_names_the_version_and_leaves_no_folder(
        stn_run, tmp_path, script, capsys, monkeypatch, failure):
    """A full disk met by TensorFlow while exporting was reported as "cannot write the
    TensorBoard logs" (with a hint to resume a training run), and the base folder the export
    made stayed behind."""
    import tensorflow as tf

    from kerasrnn.kinds.stn_classifier import kind as stn_kind

    def full_disk(run, staging, **options):
        (staging / "variables").mkdir()
        (staging / "variables" / "half").write_bytes(b"12")
        if failure == "python":
            raise OSError(errno.ENOSPC, "No space left on device", str(staging / "saved_model.pb"))
        raise tf.errors.ResourceExhaustedError(None, None, "saved_model.pb; No space left on device")

    monkeypatch.setattr(stn_kind, "export", full_disk)
    base = tmp_path / "new" / "models"
    code = script("export/export_model.py")(["--model", str(stn_run), "--name", "digits",
                                              "--base", str(base)])
    err = one_error_line(capsys)
    assert code == 2
    assert err == (f"error: cannot write {base / 'digits' / '1'} (no space left on the disk); free disk "
                   "space or make the folder writable, then run the command again\n")
    assert not (tmp_path / "new").exists()
