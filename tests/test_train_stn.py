"""ST-CNN / CNN on distorted "MNIST": models, a tiny training run, resume, refusals, CLI errors.

The images are generated (discs and rings, rotation-invariant classes), so no MNIST copy is needed.
"""

import json

import numpy as np
import pytest

from kerasrnn.errors import InputError
from kerasrnn.kinds.stn_classifier.model import build_stn_classifier, rectifier
from kerasrnn.kinds.stn_classifier.train import train_stn
from kerasrnn.kinds.stn_classifier.trained import load_stn_model
from kerasrnn.kinds.stn_classifier.config import STNConfig


def fake_mnist(n_train=600, n_test=100, seed=0):
    """uint8 (N, 28, 28) discs (label 0) and rings (label 1) at random places and sizes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]

    def make(n):
        labels = rng.integers(0, 2, n)
        images = np.zeros((n, 28, 28), np.uint8)
        for i, label in enumerate(labels):
            cy, cx, r = rng.uniform(10, 18), rng.uniform(10, 18), rng.uniform(4, 7)
            d = np.hypot(yy - cy, xx - cx)
            images[i] = 255 * ((d < r) & ((d > r - 2) if label else True))
        return images, labels.astype(np.uint8)

    return make(n_train), make(n_test)


TINY = dict(distortion="R", epochs=3, batch_size=32, train_size=256, val_size=100)


@pytest.mark.parametrize("size,transform", [(28, "affine"), (42, "projective"), (60, "tps")])
def test_both_models_give_logits_and_the_fresh_transformer_is_the_identity(size, transform):
    st = build_stn_classifier(size, "st-cnn", transform)
    cnn = build_stn_classifier(size, "cnn")
    images = np.random.default_rng(0).uniform(size=(2, size, size, 1)).astype("float32")
    assert tuple(st(images).shape) == tuple(cnn(images).shape) == (2, 10)
    if size <= 42:  # the transformer's output is the input size (60 is cut down to 42)
        # Same classifier in both; the ST-CNN adds only the localisation net and its theta layer,
        # and an untrained transformer copies the image.
        assert st.get_layer("classifier").count_params() == cnn.get_layer("classifier").count_params()
        np.testing.assert_allclose(rectifier(st)(images), images, atol=1e-5)


def test_dropout_acts_in_training_only_and_adds_no_weights():
    plain = build_stn_classifier(**STNConfig(model="cnn").model_config())
    dropped = build_stn_classifier(**STNConfig(model="cnn", dropout=0.5).model_config())  # the flag's path
    assert plain.count_params() == dropped.count_params()
    images = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(dropped(images), dropped(images))  # inference: no dropout
    assert np.abs(np.asarray(dropped(images, training=True)) - np.asarray(dropped(images))).max() > 1e-3


def test_training_lowers_loss_and_writes_a_loadable_model(tmp_path):
    metrics = train_stn(STNConfig(**TINY), fake_mnist(), tmp_path / "run", verbose=0)
    losses = metrics["history"]["loss"]
    assert metrics["epochs"] == 3 and losses[-1] < 0.8 * losses[0]
    assert 0 <= metrics["test_error_pct"] < 50 and metrics["images_per_second"] > 0
    model, config = load_stn_model(tmp_path / "run")
    assert config["model"] == {"input_size": 28, "model": "st-cnn", "transform": "affine", "dropout": 0.0}
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"test_error_pct", "epochs", "images_per_second"} <= saved.keys()


def test_resume_continues_and_an_existing_run_is_never_overwritten(tmp_path):
    out = tmp_path / "run"
    train_stn(STNConfig(**{**TINY, "epochs": 1}), fake_mnist(), out, verbose=0)
    with pytest.raises(InputError, match="pass `resume` to continue that run"):
        train_stn(STNConfig(**TINY), fake_mnist(), out, verbose=0)
    first = json.loads((out / "metrics.json").read_text())
    metrics = train_stn(STNConfig(**TINY), fake_mnist(), out, resume=True, verbose=0)
    assert metrics["epochs"] == 3 and len(metrics["history"]["loss"]) == 3  # the whole run's
    assert metrics["history"]["loss"][:1] == first["history"]["loss"]


def test_script_reports_missing_mnist_and_bad_flags_in_one_line(tmp_path, capsys, script):
    main = script("training/train_stn.py")
    assert main(["--mnist", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.npz" in err and err.count("\n") == 1
    assert main(["--distortion", "X", "--out", str(tmp_path / "r")]) == 2
    assert "--distortion must be one of R, RTS, P, E, cluttered" in capsys.readouterr().err
    assert main(["--dropout", "1", "--out", str(tmp_path / "r")]) == 2
    assert "--dropout must be in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_picture_script_draws_inputs_rectified_and_saliency(tmp_path, capsys, script):
    data = fake_mnist()
    train_stn(STNConfig(**{**TINY, "epochs": 1}), data, tmp_path / "run", verbose=0)
    (x, y), (xt, yt) = data
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    main = script("training/plot_stn.py")
    out = tmp_path / "stn.png"
    assert main(["--model", str(tmp_path / "run"), "--mnist", str(tmp_path / "mnist.npz"),
                 "--count", "6", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert "of these 6 right" in capsys.readouterr().out
