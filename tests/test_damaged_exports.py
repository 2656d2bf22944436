"""Random damage to an exported version yields only clean errors.

A valid version of each model kind (tiny untrained models, tests/tiny_runs.py) is copied and one
file of it damaged: truncated, emptied, bytes flipped, deleted, or for JSON files replaced by
valid JSON of the wrong shape (another type, a key missing, a key of another type). Then
`export/verify.py` runs on it (in this process), and for the `onnx/` files the ONNX drivers load
it. Each must end in a clean outcome: verify's one `error:` line and status 2, or its checks
failing with status 1 (damaged weights load but compute something else), or the driver's
`InputError`; never a traceback. The damage is drawn at random from a fixed seed.
"""

import json
import random
import shutil

import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

import keras  # noqa: E402
from tiny_runs import captioner_run, char_run, stn_run  # noqa: E402

from kerasrnn.errors import InputError  # noqa: E402
from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX  # noqa: E402
from kerasrnn.kinds.char_rnn.onnx_driver import CharGenerator  # noqa: E402
from kerasrnn.export.version_files import read_model_card  # noqa: E402
from kerasrnn.kinds.registry import export_model  # noqa: E402

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="export needs the TensorFlow backend")
KINDS = {"char": char_run, "captioner": captioner_run, "stn": stn_run}
DRIVERS = {"char": CharGenerator, "captioner": CaptionerONNX}
VERIFY_CASES = 6  # per kind: verify loads three runtimes, so a handful each
DRIVER_CASES = 12  # per kind with a driver: cheap


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged")
    out = {}
    for kind, make in KINDS.items():
        keras.utils.set_random_seed(0)
        make(root / f"run-{kind}")
        out[kind] = export_model(root / f"run-{kind}", root / "saved_models", kind)
    return out


def wrong_shapes(value):
    """Valid JSON of the wrong shape for a JSON object `value`."""
    keys = sorted(value)
    yield []
    yield "text"
    for key in keys:
        yield {k: v for k, v in value.items() if k != key}
        yield {**value, key: None}
        yield {**value, key: [] if not isinstance(value[key], list) else {}}


def damages(path, rng):
    """Ways to damage the file at `path`: `[(what, function that damages it)]`."""
    data = path.read_bytes()

    def write(new):
        return lambda: path.write_bytes(new)

    found = [("truncated to half", write(data[: len(data) // 2])), ("emptied", write(b"")),
             ("deleted", path.unlink)]
    if data:
        flipped = bytearray(data)
        for i in rng.sample(range(len(data)), min(16, len(data))):
            flipped[i] ^= 0xFF
        found.append(("16 bytes flipped", write(bytes(flipped))))
    if path.suffix == ".json":
        value = json.loads(data)
        if isinstance(value, dict):
            found += [(f"wrong JSON {json.dumps(v)[:40]}", write(json.dumps(v).encode()))
                      for v in wrong_shapes(value)]
    return found


def cases(files, count, seed):
    """`count` random draws `(file, seed of its damage)` over `files`."""
    rng = random.Random(seed)
    return [(rng.choice(files), rng.randrange(10**6)) for _ in range(count)]


def damaged_copy(version, tmp_path, relative, draw):
    copy = tmp_path / "NAME" / "1"
    shutil.rmtree(copy.parent, ignore_errors=True)
    shutil.copytree(version, copy)
    rng = random.Random(draw)
    what, damage = rng.choice(damages(copy / relative, rng))
    damage()
    return copy, f"{relative}: {what}"


@pytest.mark.parametrize("kind", list(KINDS))
def test_verify_on_a_damaged_version_gives_a_clean_error(versions, kind, tmp_path, script, capsys):
    version = versions[kind]
    files = sorted(str(p.relative_to(version)) for p in version.rglob("*") if p.is_file()
                   and p.name != "fingerprint.pb")
    run = read_model_card(version)["run_dir"]
    verify = script("export/verify.py")
    seen = []
    for relative, draw in cases(files, VERIFY_CASES, seed=list(KINDS).index(kind)):
        copy, what = damaged_copy(version, tmp_path, relative, draw)
        capsys.readouterr()
        code = verify([str(copy), "--model", run])
        err = capsys.readouterr().err.strip().splitlines()
        # 0: a file verify does not read (the warm-up requests), 1: checks fail, 2: refused.
        assert code in (0, 1, 2), what
        if code == 2:
            assert len(err) == 1 and err[0].startswith("error: "), (what, err)
        seen.append(code)
    assert any(code != 0 for code in seen), seen  # the damage was noticed


@pytest.mark.parametrize("kind", list(DRIVERS))
def test_drivers_on_a_damaged_onnx_folder_give_a_clean_error(versions, kind, tmp_path):
    version = versions[kind]
    files = sorted(str(p.relative_to(version)) for p in (version / "onnx").iterdir())
    refused = 0
    for relative, draw in cases(files, DRIVER_CASES, seed=7):
        copy, what = damaged_copy(version, tmp_path, relative, draw)
        try:
            DRIVERS[kind](copy / "onnx")
        except InputError as e:
            assert "\n" not in str(e) and ("onnx" in str(e)), (what, str(e))
            refused += 1
    assert refused >= DRIVER_CASES // 2  # most damage is caught on loading (flipped weights are not)


def test_every_damage_of_a_model_card_is_named(versions, tmp_path, script, capsys):
    """Every wrong shape of the card (not a sample) gives verify's one-line error naming the file."""
    version = versions["stn"]
    card_path = "assets.extra/model_card.json"
    card = json.loads((version / card_path).read_text())
    verify = script("export/verify.py")
    for value in wrong_shapes(card):
        copy = tmp_path / "NAME" / "1"
        shutil.rmtree(copy.parent, ignore_errors=True)
        shutil.copytree(version, copy)
        (copy / card_path).write_text(json.dumps(value))
        capsys.readouterr()
        code = verify([str(copy), "--model", card["run_dir"]])
        err = capsys.readouterr().err.strip().splitlines()
        if code == 0:  # a key verify does not need (e.g. metrics, exported_at) may be damaged
            continue
        assert code == 2 and len(err) == 1 and "model_card.json" in err[0], (json.dumps(value)[:80], err)
