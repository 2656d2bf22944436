"""export/serving_config.py on fake model folders (BASE/NAME/VERSION/saved_model.pb, empty, plus
assets.extra/model_card.json): names and prefixes TF Serving cannot read are refused, the config
parses with TF Serving's own proto, the batch size stays within the models' max_rows, the
server-wide flags, and nothing is written on any error. No TensorFlow model is built."""

import json
import pathlib
import re
import shlex
import sys

import pytest

from script_runs import script_module

serving_config = script_module("export/serving_config.py")
FILES = ("models.config", "batching_parameters.txt", "server_flags.txt")


def fake_model(base, name, version=1, max_rows=32, card=None):
    """BASE/NAME/VERSION with an empty saved_model.pb and a model card (`limits.max_rows`, or `card`
    as given: a dict, or a str written as is, or None for no card file when max_rows is None too)."""
    version_dir = pathlib.Path(base) / name / str(version)
    (version_dir / "assets.extra").mkdir(parents=True)
    (version_dir / "saved_model.pb").write_bytes(b"")
    if card is None and max_rows is not None:
        card = {"format": "kerasrnn.model_card", "format_version": 1, "limits": {"max_rows": max_rows}}
    if card is not None:
        text = card if isinstance(card, str) else json.dumps(card)
        (version_dir / "assets.extra" / "model_card.json").write_text(text)
    return version_dir


def snapshot(base):
    """Every file under `base` with its content."""
    return {p: p.read_bytes() for p in pathlib.Path(base).rglob("*") if p.is_file()}


def batching(base):
    return {k: int(v) for k, v in re.findall(r"^(\w+) \{ value: (\d+) \}$",
                                             (base / "batching_parameters.txt").read_text(), re.M)}


def parsed_config(base):
    text_format = pytest.importorskip("google.protobuf.text_format")
    pb2 = pytest.importorskip("tensorflow_serving.config.model_server_config_pb2",
                              reason="tensorflow-serving-api is not installed")
    return text_format.Parse((base / "models.config").read_text(), pb2.ModelServerConfig())


def refused(argv, capsys, base):
    """Runs main(argv), asserts exit 2, nothing written, one `error:` line; returns that line."""
    before = snapshot(base)
    capsys.readouterr()
    assert serving_config.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert snapshot(base) == before  # nothing written, no temporary file left
    return err


@pytest.fixture
def base(tmp_path):
    base = tmp_path / "models"
    fake_model(base, "char", max_rows=64)
    fake_model(base, "digits", max_rows=256)
    return base


# -- names and prefixes --------------------------------------------------------------------------

def test_name_with_trailing_newline_is_refused(base, capsys):
    fake_model(base, "scenes\n", max_rows=8)
    err = refused(["--base", str(base)], capsys, base)
    assert "'scenes\\n'" in err and "rename it" in err and str(base) in err


@pytest.mark.parametrize("name", ["my model", "a:b", "-dash", "_under", 'q"uote',
                                  "caf\u00e9", "tab\tname"])
def test_names_tf_serving_cannot_take_are_refused(tmp_path, capsys, name):
    base = tmp_path / "models"
    fake_model(base, "good")
    fake_model(base, name)
    err = refused(["--base", str(base)], capsys, base)
    assert repr(name) in err and "rename it" in err


def test_folders_that_are_not_models_may_have_any_name(base, capsys):
    (base / "notes\n").mkdir()  # no version: not a model
    (base / ".hidden model").mkdir()
    fake_model(base, ".tmp export")  # hidden: ignored
    assert serving_config.main(["--base", str(base)]) == 0
    assert [c.name for c in parsed_config(base).model_config_list.config] == ["char", "digits"]


@pytest.mark.parametrize("prefix", ["/models\n", "/mo\rdels", "/models\x00", "/mo\x1bdels", "/models\u2028",
                                    "/mod\u200eels"])
def test_prefix_with_control_characters_is_refused(base, capsys, prefix):
    err = refused(["--base", str(base), "--prefix", prefix], capsys, base)
    assert "--prefix" in err and "control characters" in err


def test_base_path_with_control_characters_is_refused_without_prefix(tmp_path, capsys):
    base = tmp_path / "mo\ndels"
    fake_model(base, "char")
    err = refused(["--base", str(base)], capsys, base)
    assert "--base path" in err and "control characters" in err
    assert serving_config.main(["--base", str(base), "--prefix", "/models"]) == 0  # with --prefix it serves


# -- the config parses with TF Serving's proto ---------------------------------------------------

def test_config_parses_and_lists_every_model(tmp_path, capsys):
    base = tmp_path / "models"
    names = ["9lives", "char", "code-v2.1", "digits_28", "Scenes"]
    for name in names:
        fake_model(base, name)
    fake_model(base, "char", version=2)
    (base / "readme.txt").write_text("not a model")
    assert serving_config.main(["--base", str(base), "--prefix", "/models/"]) == 0
    assert f"{len(names)} models: {', '.join(sorted(names))}" in capsys.readouterr().out
    config = parsed_config(base)
    entries = [(c.name, c.base_path, c.model_platform) for c in config.model_config_list.config]
    assert entries == [(n, f"/models/{n}", "tensorflow") for n in sorted(names)]


def test_prefix_with_quotes_and_backslashes_round_trips(base):
    prefix = 'C:\\served "models"'
    serving_config.write_configs(base, prefix)
    paths = [c.base_path for c in parsed_config(base).model_config_list.config]
    assert paths == [prefix + "/char", prefix + "/digits"]


def test_config_that_does_not_parse_is_refused(base, capsys, monkeypatch):
    pytest.importorskip("tensorflow_serving.config.model_server_config_pb2")
    broken = lambda names, prefix: "model_config_list {\n  config { name: oops }\n"  # noqa: E731
    monkeypatch.setitem(serving_config.write_configs.__globals__, "models_config", broken)
    err = refused(["--base", str(base)], capsys, base)
    assert "does not parse as TF Serving's ModelServerConfig" in err


def test_duplicate_names_after_parsing_are_refused(base, capsys, monkeypatch):
    pytest.importorskip("tensorflow_serving.config.model_server_config_pb2")
    original = serving_config.models_config
    monkeypatch.setitem(serving_config.write_configs.__globals__, "models_config",
                        lambda names, prefix: original([names[0]] * len(names), prefix))
    err = refused(["--base", str(base)], capsys, base)
    assert "not each of ['char', 'digits'] once" in err


def test_without_tf_serving_protos_the_name_rules_still_apply(base, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_serving.config", None)  # import fails
    monkeypatch.setitem(sys.modules, "tensorflow_serving.servables", None)
    assert serving_config.main(["--base", str(base)]) == 0  # no check, no error
    fake_model(base, "bad\n")
    refused(["--base", str(base)], capsys, base)


# -- batch size and the models' max_rows ---------------------------------------------------------

def test_batch_size_default_follows_the_smallest_max_rows(base, capsys):
    assert serving_config.main(["--base", str(base)]) == 0
    assert batching(base)["max_batch_size"] == 32  # every max_rows above 32
    fake_model(base, "scenes", max_rows=12)
    assert serving_config.main(["--base", str(base)]) == 0
    assert batching(base)["max_batch_size"] == 12
    assert serving_config.main(["--base", str(base), "--max-batch-size", "12"]) == 0  # equal is fine
    assert serving_config.main(["--base", str(base), "--max-batch-size", "5"]) == 0
    assert batching(base)["max_batch_size"] == 5


def test_batch_size_above_a_models_max_rows_is_refused(base, capsys):
    fake_model(base, "scenes", max_rows=12)
    err = refused(["--base", str(base), "--max-batch-size", "64"], capsys, base)
    assert "--max-batch-size 64" in err and "'scenes'" in err and "max_rows 12" in err
    assert "--max-batch-size 12 or less" in err
    with pytest.raises(ValueError, match="max_rows 12"):
        serving_config.write_configs(base, max_batch_size=13)


def test_the_highest_version_card_counts(tmp_path):
    base = tmp_path / "models"
    fake_model(base, "char", version=9, max_rows=4)
    fake_model(base, "char", version=10, max_rows=16)  # 10 > 9 as numbers, not as text
    (base / "char" / "11").mkdir()  # no saved_model.pb: not a version
    (base / "char" / ".tmp-12-345").mkdir()
    serving_config.write_configs(base)
    assert batching(base)["max_batch_size"] == 16


def test_card_without_limits_sets_no_bound(tmp_path):
    base = tmp_path / "models"
    fake_model(base, "old", card={"format": "kerasrnn.model_card", "format_version": 1})
    serving_config.write_configs(base, max_batch_size=500)
    assert batching(base)["max_batch_size"] == 500
    serving_config.write_configs(base)
    assert batching(base)["max_batch_size"] == 32


@pytest.mark.parametrize("card, what", [
    ("{not json", "is damaged (not JSON)"),
    (b"\xff\xfe", "is damaged (not UTF-8 text)"),
    (None, "is missing"),
    ([1, 2], "is a list, not an object"),
    ({"limits": None}, "max_rows"),
    ({"limits": [8]}, "max_rows"),
    ({"limits": {}}, "max_rows"),
    ({"limits": {"max_rows": "8"}}, "max_rows"),
    ({"limits": {"max_rows": 0}}, "max_rows"),
    ({"limits": {"max_rows": 8.0}}, "max_rows"),
    ({"limits": {"max_rows": True}}, "max_rows"),
])
def test_missing_or_corrupt_card_is_refused_naming_the_file(base, capsys, card, what):
    version_dir = fake_model(base, "scenes", max_rows=None, card=card if isinstance(card, (str, dict)) else None)
    path = version_dir / "assets.extra" / "model_card.json"
    if isinstance(card, bytes):
        path.write_bytes(card)
    elif isinstance(card, list):
        path.write_text(json.dumps(card))
    err = refused(["--base", str(base)], capsys, base)
    assert str(path) in err and what in err and "export the model again" in err


# -- server-wide settings ------------------------------------------------------------------------

def test_conservative_defaults(base):
    serving_config.write_configs(base)
    assert batching(base) == {"max_batch_size": 32, "batch_timeout_micros": 2000, "max_enqueued_batches": 16,
                              "num_batch_threads": serving_config.cpu_count()}
    flags = (base / "server_flags.txt").read_text().splitlines()
    assert "--grpc_channel_arguments=grpc.max_receive_message_length=33554432" in flags
    assert f"--grpc_max_threads={2 * serving_config.cpu_count()}" in flags
    assert f"--rest_api_num_threads={2 * serving_config.cpu_count()}" in flags
    assert "--rest_api_timeout_in_ms=30000" in flags


def test_server_flags_file_and_printed_command(base, capsys):
    argv = ["--base", str(base), "--max-request-bytes", "1048576", "--grpc-max-threads", "6",
            "--rest-api-num-threads", "3", "--rest-api-timeout-ms", "5000", "--num-batch-threads", "2",
            "--max-enqueued-batches", "4"]
    assert serving_config.main(argv) == 0
    out = capsys.readouterr().out
    flags = (base / "server_flags.txt").read_text().split("\n")
    assert flags[-1] == "" and "" not in flags[:-1]  # one flag a line
    resolved = base.resolve()
    assert flags[:-1] == [f"--model_config_file={resolved}/models.config", "--enable_batching",
                          f"--batching_parameters_file={resolved}/batching_parameters.txt",
                          "--grpc_channel_arguments=grpc.max_receive_message_length=1048576",
                          "--grpc_max_threads=6", "--rest_api_num_threads=3", "--rest_api_timeout_in_ms=5000"]
    assert batching(base)["num_batch_threads"] == 2 and batching(base)["max_enqueued_batches"] == 4
    serve = [line for line in out.splitlines() if line.startswith("serve: ")]
    assert len(serve) == 1
    assert shlex.split(serve[0][len("serve: "):]) == (["tensorflow_model_server", "--port=8500",
                                                       "--rest_api_port=8501"] + flags[:-1])

    assert serving_config.main(["--base", str(base), "--prefix", "/models/"]) == 0
    serve = [line for line in capsys.readouterr().out.splitlines() if line.startswith("serve: ")]
    flags = (base / "server_flags.txt").read_text().splitlines()
    assert flags[0] == "--model_config_file=/models/models.config"
    assert flags[2] == "--batching_parameters_file=/models/batching_parameters.txt"
    assert shlex.split(serve[0][len("serve: "):]) == (["docker", "run", "-p", "8500:8500", "-p", "8501:8501",
                                                       "-v", f"{resolved}:/models", "tensorflow/serving"] + flags)


def test_paths_with_spaces_are_quoted_in_the_printed_command(tmp_path, capsys):
    base = tmp_path / "my models"
    fake_model(base, "char")
    assert serving_config.main(["--base", str(base)]) == 0
    serve = [line for line in capsys.readouterr().out.splitlines() if line.startswith("serve: ")][0]
    assert f"--model_config_file={base.resolve()}/models.config" in shlex.split(serve[len("serve: "):])


@pytest.mark.parametrize("flag, value, message", [
    ("--max-batch-size", "0", "--max-batch-size must be >= 1"),
    ("--batch-timeout-micros", "-1", "--batch-timeout-micros must be >= 0"),
    ("--max-enqueued-batches", "0", "--max-enqueued-batches must be >= 1"),
    ("--num-batch-threads", "0", "--num-batch-threads must be >= 1"),
    ("--max-request-bytes", "0", "--max-request-bytes must be >= 1"),
    ("--max-request-bytes", str(2**31), "--max-request-bytes must be <= 2147483647"),
    ("--grpc-max-threads", "0", "--grpc-max-threads must be >= 1"),
    ("--rest-api-num-threads", "0", "--rest-api-num-threads must be >= 1"),
    ("--rest-api-timeout-ms", "0", "--rest-api-timeout-ms must be >= 1"),
])
def test_values_out_of_range_are_refused(base, capsys, flag, value, message):
    assert message in refused(["--base", str(base), flag, value], capsys, base)


# -- existing behaviour and atomic writes --------------------------------------------------------

def test_existing_behaviour(base, tmp_path, capsys):
    assert serving_config.main(["--base", str(base), "--prefix", "/models/", "--max-batch-size", "8"]) == 0
    assert [c.base_path for c in parsed_config(base).model_config_list.config] == ["/models/char",
                                                                                  "/models/digits"]
    assert "max_batch_size { value: 8 }" in (base / "batching_parameters.txt").read_text()
    (tmp_path / "empty").mkdir()
    assert "holds no exported model" in refused(["--base", str(tmp_path / "empty")], capsys, tmp_path / "empty")
    assert "holds no exported model" in refused(["--base", str(tmp_path / "absent")], capsys, tmp_path)
    assert "--max-batch-size must be >= 1" in refused(["--base", str(base), "--max-batch-size", "0"], capsys, base)


def test_a_refused_run_leaves_the_previous_files_as_they_were(base, capsys):
    assert serving_config.main(["--base", str(base)]) == 0
    before = {name: (base / name).read_text() for name in FILES}
    fake_model(base, "scenes", max_rows=4)
    refused(["--base", str(base), "--max-batch-size", "8"], capsys, base)
    assert {name: (base / name).read_text() for name in FILES} == before
    assert serving_config.main(["--base", str(base)]) == 0  # a run that passes replaces all three
    assert batching(base)["max_batch_size"] == 4 and "scenes" in (base / "models.config").read_text()
    assert sorted(p.name for p in base.iterdir() if p.is_file()) == sorted(FILES)  # no temporary file left
