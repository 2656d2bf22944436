"""A real export into a model folder holding a folder named `²` (not a version: it was a
traceback) and a stale temporary folder, with the permissions a plain mkdir and open give, and
serving_config.py over it. Slow: it writes a SavedModel and ONNX files."""

import json
import os

import pytest

pytestmark = pytest.mark.slow



def test_an_export_beside_a_folder_not_in_ascii_digits(tmp_path, script, capsys):
    from tiny_runs import stn_run

    run = tmp_path / "digits-run"
    stn_run(run)
    model_dir = tmp_path / "models" / "digits"
    (model_dir / "²").mkdir(parents=True)
    (model_dir / "١٢").mkdir()
    old = os.umask(0o027)
    try:
        code = script("export/export_model.py")(["--model", str(run), "--name", "digits",
                                                  "--base", str(tmp_path / "models")])
    finally:
        os.umask(old)
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "²", "١٢"]  # no temporary left
    version = model_dir / "1"
    card = version / "assets.extra" / "model_card.json"
    assert version.stat().st_mode & 0o777 == 0o750 and card.stat().st_mode & 0o777 == 0o640
    assert json.loads(card.read_text())["version"] == 1

    assert script("export/serving_config.py")(["--base", str(tmp_path / "models")]) == 0
    assert "(1 models: digits)" in capsys.readouterr().out
    assert script("export/verify.py")([str(version)]) == 0
    assert "3 of 3 checks hold" in capsys.readouterr().out
