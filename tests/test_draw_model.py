"""DRAW's model (kerasrnn.kinds.draw.model, kerasrnn.layers.DRAWCell): the training model's
canvas and KL against a numpy evaluation of the paper's equations (3-8 and the loss of section
2), the KL's constant, the generation model on the decoder's path, a `.keras` round trip and
the bound going down in a short training."""

import keras
import numpy as np
import pytest

from kerasrnn.kinds.draw.model import (build_draw, build_generator, generator_from,
                                       reconstruction_nats)

SMALL = dict(image_shape=(6, 5, 1), steps=3, encoder_units=7, decoder_units=6, latent_dim=4,
             read_size=2, write_size=3)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm(x, h, c, layer):
    """Keras's LSTMCell: gates i, f, c, o; sigmoid and tanh."""
    kernel, recurrent, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
    i, f, g, o = np.split(x @ kernel + h @ recurrent + bias, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def dense(x, layer):
    kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
    return x @ kernel + bias


def log_normal(x, mean, log_sigma):
    """log N(x; mean, sigma^2) summed over the last axis."""
    return np.sum(-0.5 * ((x - mean) / np.exp(log_sigma)) ** 2 - log_sigma - 0.5 * np.log(2 * np.pi),
                  axis=-1)


def numpy_draw(model, images, noise):
    """The paper's equations without attention (read = [x, x^], write = W h^dec): the final
    canvas, the KL and sum_t log p(z_t) - log q(z_t | x) of the z drawn."""
    cell = model.get_layer("draw").cell
    batch, steps = noise.shape[:2]
    x = images.reshape(batch, -1).astype(np.float64)
    canvas = np.zeros_like(x)
    h_enc = c_enc = np.zeros((batch, cell.encoder_units))
    h_dec = c_dec = np.zeros((batch, cell.decoder_units))
    kl, log_ratio = np.zeros(batch), np.zeros(batch)
    for t in range(steps):
        error = x - sigmoid(canvas)
        read = np.concatenate([x[:, :, None], error[:, :, None]], axis=-1).reshape(batch, -1)
        h_enc, c_enc = lstm(np.concatenate([read, h_dec], axis=-1), h_enc, c_enc, cell.encoder)
        mean, log_sigma = dense(h_enc, cell.mean), dense(h_enc, cell.log_sigma)
        z = mean + np.exp(log_sigma) * noise[:, t]
        kl += 0.5 * np.sum(mean**2 + np.exp(2 * log_sigma) - 2 * log_sigma, axis=-1) - cell.latent_dim / 2
        log_ratio += log_normal(z, 0.0, 0.0) - log_normal(z, mean, log_sigma)
        h_dec, c_dec = lstm(z, h_dec, c_dec, cell.decoder)
        canvas = canvas + dense(h_dec, cell.writer.patch)
    return canvas.reshape(images.shape), kl, log_ratio


def run(model, inputs):
    """The model called eagerly (no `predict` graph to compile), outputs as numpy."""
    return keras.tree.map_structure(np.asarray, model(inputs))


def random_inputs(config, batch=5, seed=0):
    rng = np.random.default_rng(seed)
    images = (rng.uniform(size=(batch, *config["image_shape"])) > 0.5).astype("float32")
    noise = rng.normal(size=(batch, config["steps"], config["latent_dim"])).astype("float32")
    return images, noise


def test_the_model_computes_the_papers_equations():
    keras.utils.set_random_seed(0)
    model = build_draw(**SMALL, attention=False)
    images, noise = random_inputs(SMALL)
    out = run(model, [images, noise])
    canvas, kl, _ = numpy_draw(model, images, noise)
    np.testing.assert_allclose(out["canvas"], canvas, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["kl"], kl, rtol=1e-5, atol=1e-5)
    # the loss: L^x, a Bernoulli reconstruction summed over pixels, in nats
    p = sigmoid(canvas.reshape(len(images), -1))
    x = images.reshape(len(images), -1)
    want = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=-1)
    np.testing.assert_allclose(np.asarray(reconstruction_nats(images, out["canvas"])), want, rtol=1e-5)


@pytest.mark.parametrize("mean_bias, log_sigma_bias", [(0.0, 0.0), (1.0, 0.0), (0.0, 0.5)])
def test_the_kl_holds_its_constant(mean_bias, log_sigma_bias):
    """With mu and log sigma constant, L^z = T |z| / 2 (mu^2 + sigma^2 - log sigma^2 - 1): zero
    for the prior itself (a -T/2 constant instead of -T |z| / 2 would not be)."""
    model = build_draw(**SMALL)
    cell = model.get_layer("draw").cell
    for layer, bias in ((cell.mean, mean_bias), (cell.log_sigma, log_sigma_bias)):
        kernel, _ = layer.get_weights()
        layer.set_weights([np.zeros_like(kernel), np.full(SMALL["latent_dim"], bias, "float32")])
    out = run(model, list(random_inputs(SMALL)))
    per_dim = mean_bias**2 + np.exp(2 * log_sigma_bias) - 2 * log_sigma_bias - 1
    np.testing.assert_allclose(out["kl"], SMALL["steps"] * SMALL["latent_dim"] / 2 * per_dim,
                               rtol=1e-5, atol=1e-6)


def test_the_generator_runs_the_trained_decoder():
    """With mu = 0 and sigma = 1, z = eps: the generator fed the same eps ends on the same canvas."""
    keras.utils.set_random_seed(1)
    model = build_draw(**SMALL)
    cell = model.get_layer("draw").cell
    for layer in (cell.mean, cell.log_sigma):
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    images, noise = random_inputs(SMALL, seed=2)
    generator = generator_from(model, **SMALL)
    made = run(generator, noise)
    assert made["canvases"].shape == (5, SMALL["steps"], *SMALL["image_shape"])
    assert made["windows"].shape == (5, SMALL["steps"], 4)
    np.testing.assert_allclose(made["canvases"][:, -1], sigmoid(run(model, [images, noise])["canvas"]),
                               atol=1e-6)
    assert build_generator(**SMALL).count_params() == model.count_params()


def test_a_round_trip(tmp_path):
    from kerasrnn.kinds.draw.model import LOSSES

    model = build_draw(**SMALL)
    model.save(tmp_path / "draw.keras")
    again = keras.saving.load_model(tmp_path / "draw.keras",
                                    custom_objects={f.__name__: f for f in LOSSES.values()})
    inputs = list(random_inputs(SMALL))
    for key, value in run(model, inputs).items():
        np.testing.assert_array_equal(value, run(again, inputs)[key])


@pytest.mark.slow
def test_the_bound_goes_down():
    from kerasrnn.kinds.draw.model import LOSSES

    keras.utils.set_random_seed(3)
    model = build_draw(**SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=LOSSES)
    rng = np.random.default_rng(4)
    base = (rng.uniform(size=(1, *SMALL["image_shape"])) > 0.5).astype("float32")
    images = np.repeat(base, 64, axis=0)  # one image to learn
    noise = rng.normal(size=(64, SMALL["steps"], SMALL["latent_dim"])).astype("float32")
    targets = {"canvas": images, "kl": np.zeros(64, "float32")}
    history = model.fit([images, noise], targets, batch_size=16, epochs=15, verbose=0).history["loss"]
    assert history[-1] < 0.6 * history[0], history
