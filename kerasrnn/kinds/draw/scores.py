"""Scoring a trained DRAW on binary images: the variational bound on -log p(x) and an
importance-weighted estimate of -log p(x) (Burda, Grosse and Salakhutdinov 2016).

With z_1..z_K drawn from the encoder's q(z | x) (every glimpse's z, by the reparameterisation
trick) and the weights w_k = p(x | z_k) p(z_k) / q(z_k | x),

    log p(x) >= E[log (1/K sum_k w_k)] >= E[log w_1] = -(L^x + L^z)

so -log (1/K sum_k w_k) is an estimate of -log p(x) that is never looser than the bound, in
expectation, and tightens as K grows. log p(x | z) is the Bernoulli likelihood of the pixels under
sigmoid(c_T) (`model.reconstruction_nats`, negated); log p(z) - log q(z | x) is summed over the
glimpses from the cell's output (`layers.DRAWCell`). All in nats.
"""

import keras
import numpy as np
from keras import ops

from kerasrnn.config_checks import check_int
from kerasrnn.kinds.draw.data import TEST_SEED, draw_dataset
from kerasrnn.kinds.draw.model import reconstruction_nats

LOG_RATIO = 5  # the training cell's output column of log p(z_t) - log q(z_t | x)


def log_weight_model(model):
    """The trained model's network with the log density ratio of its z as an output.

    Args:
        model: A `model.build_draw` model.

    Returns:
        A model `[images (B, H, W, C) of 0s and 1s, noise (B, T, |z|)]` -> `{"canvas": logits
        (B, H, W, C), "log_ratio": (B,), sum over t of log p(z_t) - log q(z_t | x)}` sharing the
        trained weights.
    """
    outputs = model.get_layer("draw").output[0]
    log_ratio = keras.layers.Identity(name="log_ratio")(ops.sum(outputs[..., LOG_RATIO], axis=-1))
    return keras.Model(model.inputs, {"canvas": model.get_layer("canvas").output,
                                      "log_ratio": log_ratio}, name="draw_log_weight")


def log_weights(weight_model, images, noise):
    """log w of each row: `weight_model` (`log_weight_model`) on float32 `images (B, H, W, C)`
    and `noise (B, T, |z|)` -> float64 `(B,)`, log p(x | z) + log p(z) - log q(z | x)."""
    out = weight_model.predict_on_batch([images, noise])
    nats = np.asarray(reconstruction_nats(images, out["canvas"]), np.float64)
    return np.asarray(out["log_ratio"], np.float64) - nats


def importance_weighted_nll(weight_model, images, samples, seed=0):
    """-log p(x) of each image, estimated with `samples` z per image, and the bound.

    Args:
        weight_model: `log_weight_model(trained model)`.
        images: float32 `(B, H, W, C)` of 0s and 1s.
        samples: K, the z drawn per image (>= 1).
        seed: The seed of the noise: an int or a sequence of ints (numpy's `default_rng`; the
            same seed, the same estimate).

    Returns:
        `(estimate, bound)`, float64 `(B,)` each: -log (1/K sum_k w_k) and -(1/K) sum_k log w_k
        (the bound, averaged over the K samples).

    Raises:
        InputError: `samples` is not an integer >= 1.
    """
    check_int("samples", samples)
    images = np.asarray(images, np.float32)
    steps, latent = weight_model.inputs[1].shape[1:]
    rows = len(images)
    noise = np.random.default_rng(seed).standard_normal((rows * samples, steps, latent))
    tiled = np.repeat(images, samples, axis=0)
    log_w = log_weights(weight_model, tiled, noise.astype(np.float32)).reshape(rows, samples)
    top = log_w.max(axis=1, keepdims=True)
    log_mean_w = top[:, 0] + np.log(np.mean(np.exp(log_w - top), axis=1))
    return -log_mean_w, -log_w.mean(axis=1)


def test_scores(model, model_config, images, samples, seed=TEST_SEED, batch_size=100):
    """The scores of a trained model on grey images, binarized as training binarizes its test
    set (`binarize="fixed"` with `seed`; `data.TEST_SEED`: the same binary images as the run's
    `test_nll_bound_nats`).

    Args:
        model: A trained `model.build_draw` model.
        model_config: Its builder's arguments (`config.json`'s `model`).
        images: uint8 `(N, H, W)` grey images (MNIST's test set).
        samples: K of the importance-weighted estimate.
        seed: The binarization's seed, and of the noise.
        batch_size: Images per pass (each pass runs `batch_size * samples` rows).

    Returns:
        `{"nll_bound": the bound with the KL in closed form and one z per image (the training
        loss), "sampled_bound": the bound averaged over the K z, "importance_weighted": the
        estimate of -log p(x) with K z}`, each the mean over the images in nats, and `"images"`.
    """
    check_int("samples", samples)
    check_int("batch_size", batch_size)
    weight_model = log_weight_model(model)
    dataset = draw_dataset(images, batch_size, model_config["steps"], model_config["latent_dim"],
                           seed=seed, binarize="fixed", shuffle=False)
    sums = {"nll_bound": 0.0, "sampled_bound": 0.0, "importance_weighted": 0.0}
    count = 0
    for index, ((binary, noise), _) in enumerate(dataset):
        binary, noise = binary.numpy(), noise.numpy()
        out = model.predict_on_batch([binary, noise])
        bound = np.asarray(reconstruction_nats(binary, out["canvas"])) + np.asarray(out["kl"])
        estimate, sampled = importance_weighted_nll(weight_model, binary, samples, seed=[seed, index])
        for key, value in (("nll_bound", bound), ("sampled_bound", sampled),
                           ("importance_weighted", estimate)):
            sums[key] += float(np.sum(value, dtype=np.float64))
        count += len(binary)
    return {**{key: total / count for key, total in sums.items()}, "images": count}
