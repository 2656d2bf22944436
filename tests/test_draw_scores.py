"""DRAW's scores (kerasrnn.kinds.draw.scores): the log density ratio of the z drawn against a
numpy evaluation of the two Gaussians, its mean against the KL, and the importance-weighted
estimate against the bound."""

import keras
import numpy as np
import pytest
from test_draw_model import SMALL, numpy_draw, random_inputs

from kerasrnn.errors import InputError
from kerasrnn.kinds.draw.model import build_draw
from kerasrnn.kinds.draw.scores import importance_weighted_nll, log_weight_model, log_weights


def test_the_log_ratio_is_the_two_gaussians():
    keras.utils.set_random_seed(0)
    model = build_draw(**SMALL, attention=False)
    images, noise = random_inputs(SMALL)
    out = log_weight_model(model)([images, noise])
    np.testing.assert_allclose(np.asarray(out["log_ratio"]), numpy_draw(model, images, noise)[2],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(out["canvas"]), np.asarray(model([images, noise])["canvas"]))


def test_its_mean_over_z_is_minus_the_kl():
    """E_q[log p(z) - log q(z | x)] = -KL: over 4,000 draws of z for one image, within 4 standard
    errors."""
    keras.utils.set_random_seed(1)
    model = build_draw(**SMALL)
    images, _ = random_inputs(SMALL, batch=1)
    noise = np.random.default_rng(2).normal(size=(4000, SMALL["steps"], SMALL["latent_dim"]))
    tiled = np.repeat(images, len(noise), axis=0)
    log_ratio = np.asarray(log_weight_model(model).predict_on_batch([tiled, noise.astype("float32")])
                           ["log_ratio"], np.float64)
    kl = np.asarray(model([tiled[:1], noise[:1].astype("float32")])["kl"])[0]
    assert kl > 0.05  # a posterior away from the prior, so the check is not 0 = 0
    assert abs(log_ratio.mean() + kl) < 4 * log_ratio.std() / np.sqrt(len(log_ratio)), (log_ratio.mean(), kl)


def test_the_estimate_is_never_looser_than_the_bound():
    keras.utils.set_random_seed(3)
    model = build_draw(**SMALL)
    weights = log_weight_model(model)
    images, _ = random_inputs(SMALL, batch=6, seed=4)
    one, bound_one = importance_weighted_nll(weights, images, 1, seed=5)
    np.testing.assert_allclose(one, bound_one)  # K = 1: the bound of one z
    estimate, bound = importance_weighted_nll(weights, images, 16, seed=5)
    assert np.all(estimate <= bound + 1e-9) and np.any(estimate < bound - 1e-3), (estimate, bound)
    # the bound's mean is the reconstruction and the KL of the same z
    noise = np.random.default_rng(5).standard_normal((6, SMALL["steps"], SMALL["latent_dim"]))
    np.testing.assert_allclose(-log_weights(weights, images, noise.astype("float32")), one, rtol=1e-6)
    again, _ = importance_weighted_nll(weights, images, 16, seed=5)
    np.testing.assert_array_equal(again, estimate)


@pytest.mark.parametrize("samples", [0, -1, 2.5, True, None])
def test_samples_must_be_a_positive_integer(samples):
    weights = log_weight_model(build_draw(**SMALL))
    with pytest.raises(InputError, match=r"samples must be (an integer|>= 1)"):
        importance_weighted_nll(weights, random_inputs(SMALL)[0], samples)


@pytest.mark.slow
def test_the_test_bound_is_the_runs_and_the_script_scores_it(tmp_path):
    """`test_scores` on a trained run's test images gives the bound training wrote in
    metrics.json (same binarization, same noise); `evaluate_draw.py` prints and writes it, and
    refuses bad input in one line with nothing written."""
    import json

    from script_runs import run_script
    from test_train_draw import TINY
    from tiny_runs import random_mnist

    from kerasrnn.data.mnist import load_mnist
    from kerasrnn.kinds.draw.config import DRAWConfig
    from kerasrnn.kinds.draw.scores import test_scores
    from kerasrnn.kinds.draw.train import train_draw
    from kerasrnn.kinds.draw.trained import load_draw

    mnist = random_mnist(tmp_path / "mnist.npz", train=120, test=30)
    data = load_mnist(mnist)
    metrics = train_draw(DRAWConfig(**TINY, epochs=1), data, tmp_path / "run", verbose=0)
    model, config = load_draw(tmp_path / "run")
    scores = test_scores(model, config["model"], data[1][0], samples=4, batch_size=7)
    assert scores["images"] == 30
    np.testing.assert_allclose(scores["nll_bound"], metrics["test_nll_bound_nats"], rtol=1e-5)
    assert scores["importance_weighted"] < scores["sampled_bound"]

    out = tmp_path / "scores.json"
    done = run_script("training/evaluate_draw.py", "--model", tmp_path / "run", "--mnist", mnist,
                      "--samples", 4, "--batch-size", 7, "--out", out, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    written = json.loads(out.read_text())
    assert json.loads(done.stdout)["images"] == written["images"] == 30
    np.testing.assert_allclose(written["importance_weighted"], scores["importance_weighted"], rtol=1e-5)
    np.testing.assert_allclose(written["nll_bound"], scores["nll_bound"], rtol=1e-5)
    for flags, message in ((["--out", out], "exists; give a new --out file"),
                           (["--samples", 0, "--out", tmp_path / "new.json"], "--samples must be >= 1"),
                           (["--test-size", -3, "--out", tmp_path / "new.json"], "--test-size must be >= 1")):
        done = run_script("training/evaluate_draw.py", "--model", tmp_path / "run", "--mnist", mnist,
                          *flags, timeout=300)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and lines[-1].startswith("error: ") and message in lines[-1], done.stderr
    assert not (tmp_path / "new.json").exists()
