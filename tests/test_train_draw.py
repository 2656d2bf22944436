"""Training DRAW (kerasrnn.kinds.draw.train, training/train_draw.py) on small generated digits:
the bound goes down and is scored on the test set, a resumed run ends on the weights of an
uninterrupted one, the run loads, and the script refuses bad input before writing anything."""

import json

import numpy as np
import pytest

from kerasrnn.kinds.draw.config import DRAWConfig
from kerasrnn.kinds.draw.train import train_draw
from kerasrnn.kinds.draw.trained import load_draw

pytestmark = pytest.mark.slow

TINY = dict(steps=3, encoder_units=16, decoder_units=16, latent_dim=4, read_size=2,
            write_size=3, batch_size=20, val_size=40, learning_rate=3e-3)


def blobs(n, seed):
    """uint8 (n, 28, 28) images of one bright square each, at a random place."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    for image, (y, x) in zip(images, rng.integers(4, 18, (n, 2))):
        image[y:y + 8, x:x + 8] = 230
    return images


@pytest.fixture(scope="module")
def data():
    return (blobs(240, 0), np.zeros(240, int)), (blobs(60, 1), np.zeros(60, int))


def weights(directory):
    model, _ = load_draw(directory)
    return model.get_weights()


def test_the_bound_goes_down_and_is_scored(data, tmp_path):
    metrics = train_draw(DRAWConfig(**TINY, epochs=4), data, tmp_path / "run", verbose=0)
    losses = metrics["history"]["loss"]
    assert losses[-1] < losses[0], losses
    assert metrics["test_nll_bound_nats"] == pytest.approx(
        metrics["test_reconstruction_nats"] + metrics["test_kl_nats"], rel=1e-4)
    assert 0 < metrics["test_nll_bound_nats"] < 784 * np.log(2)  # better than a coin per pixel
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["test_nll_bound_nats"] == pytest.approx(metrics["test_nll_bound_nats"])
    model, config = load_draw(tmp_path / "run")
    assert config["model"]["steps"] == 3 and config["format"] == "kerasrnn.draw"


def test_a_resumed_run_ends_on_the_weights_of_an_uninterrupted_one(data, tmp_path):
    train_draw(DRAWConfig(**TINY, epochs=2), data, tmp_path / "whole", verbose=0)
    train_draw(DRAWConfig(**TINY, epochs=1), data, tmp_path / "resumed", verbose=0)
    train_draw({"epochs": 2}, data, tmp_path / "resumed", resume=True, verbose=0)
    for a, b in zip(weights(tmp_path / "whole"), weights(tmp_path / "resumed")):
        np.testing.assert_array_equal(a, b)


def test_the_script_refuses_bad_input_before_writing(tmp_path, script, capsys):
    main = script("training/train_draw.py")
    for argv, message in ((["--steps", "0"], "--steps"), (["--read-size", "40"], "--read-size"),
                          (["--lr", "-1"], "--lr")):
        assert main([*argv, "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not (tmp_path / "run").exists()
