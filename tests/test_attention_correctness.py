"""The attention-correctness loss: values on a hand-made case, and its gradient moves the map."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf  # drives the gradient (the project trains on TensorFlow)
from keras import ops

from kerasrnn.kinds.captioner.attention_correctness import attention_correctness_loss


def test_mean_negative_log_mass_over_the_supervised_words():
    regions = np.zeros((2, 3, 4), "float32")
    regions[0, 0, [0, 1]] = 1  # word 0 names an object covering cells 0 and 1
    regions[0, 1, 2] = 1  # word 1 one covering cell 2; word 2 names nothing
    alphas = np.array([[[0.25, 0.25, 0.25, 0.25], [0.1, 0.1, 0.6, 0.2], [1, 0, 0, 0]]] * 2, "float32")
    loss = ops.convert_to_numpy(attention_correctness_loss(regions, alphas))
    # caption 0: (-log 0.5 - log 0.6) / 2; caption 1 names nothing: 0, not nan
    np.testing.assert_allclose(loss, [(math.log(2) - math.log(0.6)) / 2, 0.0], rtol=1e-6)
    # all the mass inside the region costs nothing; none inside is finite
    assert float(attention_correctness_loss(regions[:1, :1], np.array([[[0.5, 0.5, 0, 0]]]))[0]) < 1e-6
    assert np.isfinite(ops.convert_to_numpy(attention_correctness_loss(regions[:1, :1], np.array([[[0, 0, 1.0, 0]]]))))


def test_minimising_it_moves_the_attention_into_the_region():
    regions = np.zeros((1, 1, 9), "float32")
    regions[0, 0, [4, 5]] = 1
    scores = keras.Variable(np.zeros((1, 1, 9), "float32"))
    optimizer = keras.optimizers.SGD(1.0)
    mass = []
    for _ in range(20):
        with tf.GradientTape() as tape:
            alphas = ops.softmax(scores, axis=-1)
            loss = ops.mean(attention_correctness_loss(regions, alphas))
        optimizer.apply([tape.gradient(loss, scores.value)], [scores])
        mass.append(float(ops.sum(alphas * regions)))
    assert mass[0] == pytest.approx(2 / 9) and mass[-1] > 0.9
