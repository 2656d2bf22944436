"""Training handwriting synthesis (kerasrnn.kinds.handwriting.train,
training/train_handwriting.py) with a tiny network: the loss goes down on a few repeated lines,
the run loads with its stroke scale, a run resumed mid-pass ends on the weights of an
uninterrupted one, and the script trains on the synthetic lines and refuses bad input before
writing anything."""

import json

import numpy as np
import pytest

from kerasrnn.files import FileError
from kerasrnn.kinds.handwriting.config import HandwritingConfig
from kerasrnn.kinds.handwriting.sources import HandwritingLines, load_lines
from kerasrnn.kinds.handwriting.strokes import StrokeScale
from kerasrnn.kinds.handwriting.train import train_handwriting
from kerasrnn.kinds.handwriting.trained import SCALE_FILE, load_handwriting

pytestmark = pytest.mark.slow

TINY = dict(layers=1, units=16, window_components=2, mixture_components=3, batch_size=4,
            learning_rate=1e-2)


@pytest.fixture(scope="module")
def data():
    """4 short synthetic lines, each 3 times (12 training lines), and 2 held-out lines."""
    train = load_lines("synthetic", "train", count=4, seed=3, styles="futural")
    short = HandwritingLines([train.texts[i] for i in range(4)] * 3,
                             [train.offsets[i][:120] for i in range(4)] * 3,
                             [train.styles[i] for i in range(4)] * 3)
    held = load_lines("synthetic", "held_out", count=2, seed=3, styles="futural")
    held = HandwritingLines(held.texts, [o[:120] for o in held.offsets], held.styles)
    return short, held


def weights(directory):
    model, *_ = load_handwriting(directory)
    return model.get_weights()


def test_the_loss_goes_down_on_repeated_lines_and_the_run_loads(data, tmp_path):
    metrics = train_handwriting(HandwritingConfig(**TINY, steps=24), data, tmp_path / "run",
                                verbose=0)
    losses = metrics["history"]["loss"]
    assert len(losses) == 8  # 3 steps a pass over 12 lines
    assert losses[-1] < losses[0] - 0.3, losses
    assert metrics["steps"] == 24 and metrics["train_lines"] == 12 and metrics["val_lines"] == 2
    assert 0 < metrics["val_nats_per_point"] < losses[0] + 1
    points = sum(len(o) - 1 for o in data[1].offsets)
    assert metrics["val_nats_per_line"] == pytest.approx(
        metrics["val_nats_per_point"] * points / 2, rel=1e-4)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["val_nats_per_point"] == pytest.approx(metrics["val_nats_per_point"])
    model, config, scale, alphabet = load_handwriting(tmp_path / "run")
    assert config["format"] == "kerasrnn.handwriting" and config["model"]["units"] == 16
    assert scale == StrokeScale.from_lines(data[0].offsets)
    assert alphabet.encode("ab").tolist() == [alphabet.characters.index("a") + 1,
                                              alphabet.characters.index("b") + 1]
    assert model.count_params() == HandwritingConfig(**TINY).parameter_count()


def test_a_run_resumed_mid_pass_ends_on_the_weights_of_an_uninterrupted_one(data, tmp_path):
    train_handwriting(HandwritingConfig(**TINY, steps=5), data, tmp_path / "whole", verbose=0)
    train_handwriting(HandwritingConfig(**TINY, steps=4), data, tmp_path / "resumed", verbose=0)
    metrics = train_handwriting({"steps": 5}, data, tmp_path / "resumed", resume=True, verbose=0)
    assert metrics["steps"] == 5
    for a, b in zip(weights(tmp_path / "whole"), weights(tmp_path / "resumed")):
        np.testing.assert_array_equal(a, b)


def test_a_damaged_scale_file_is_named(data, tmp_path):
    train_handwriting(HandwritingConfig(**TINY, steps=1), data, tmp_path / "run", verbose=0)
    (tmp_path / "run" / SCALE_FILE).write_text('{"x": -1, "y": 2}')
    with pytest.raises(FileError, match=f"{SCALE_FILE} is damaged .*scale's x must be a positive"):
        load_handwriting(tmp_path / "run")
    (tmp_path / "run" / SCALE_FILE).unlink()
    with pytest.raises(FileError, match=f"{SCALE_FILE} is missing"):
        load_handwriting(tmp_path / "run")


def test_the_script_trains_on_the_synthetic_lines(tmp_path, script, capsys):
    main = script("training/train_handwriting.py")
    status = main(["--steps", "3", "--layers", "1", "--units", "8", "--window-components", "2",
                   "--mixture-components", "2", "--train-lines", "8", "--val-lines", "2",
                   "--batch-size", "4", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "done: 3 steps, held-out NLL" in out and "nats per point" in out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["training"]["source"] == "synthetic" and config["training"]["train_lines"] == 8
    assert (tmp_path / "run" / "model.keras").is_file()


def test_the_script_refuses_bad_input_before_writing(tmp_path, script, capsys):
    main = script("training/train_handwriting.py")
    for argv, message in ((["--steps", "0"], "--steps"), (["--lr", "-1"], "--lr"),
                          (["--source", "iam-ondb"], "--data-dir"),
                          (["--data-dir", str(tmp_path)], "--data-dir"),
                          (["--train-lines", "4", "--batch-size", "8"], "--train-lines"),
                          (["--source", "iam-ondb", "--data-dir", str(tmp_path / "none")],
                           "not an IAM-OnDB folder")):
        assert main([*argv, "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not (tmp_path / "run").exists()


def test_two_replicas_train_as_one_process(tmp_path):
    """The same run in one process and on 2 replicas (the CPU split in 2, float64): the same
    losses, scores and weights. A replica's lines differ in length from its neighbour's, so a
    loss normalised by each replica's own points would differ."""
    from test_distributed_training import assert_same_weights, history, run
    from test_distributed_training import weights as saved_weights

    command = ["training/train_handwriting.py", "--steps", "4", "--layers", "1", "--units", "8",
               "--window-components", "2", "--mixture-components", "2", "--train-lines", "8",
               "--val-lines", "4", "--batch-size", "4", "--lr", "0.01", "--styles", "futural"]
    for name, extra in (("one", ["--distribute", "off"]),
                        ("mirrored", ["--distribute", "mirrored", "--replicas", "2"])):
        result = run([*command, "--out", str(tmp_path / name), *extra])
        assert result.returncode == 0, result.stderr[-3000:]
    ours, reference = history(tmp_path / "mirrored"), history(tmp_path / "one")
    for key in ("loss", "val_loss", "val_nats_per_point", "val_nats_per_line"):
        np.testing.assert_allclose(ours[key], reference[key], rtol=1e-5)
    assert_same_weights(saved_weights(tmp_path / "mirrored"), saved_weights(tmp_path / "one"))
