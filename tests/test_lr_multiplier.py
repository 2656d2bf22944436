"""Learning-rate multipliers: the chosen variables move by exactly `multiplier` times as much."""

import keras
import numpy as np
import pytest

from kerasrnn.train.lr_multiplier import with_lr_multiplier


@pytest.mark.parametrize("optimizer", [keras.optimizers.SGD(0.1), keras.optimizers.Adam(0.01)])
def test_slowed_variables_move_by_the_multiplier(optimizer):
    fast, slow = keras.Variable(np.ones(3, "float32")), keras.Variable(np.ones(3, "float32"))
    reference = keras.Variable(np.ones(3, "float32"))
    opt = with_lr_multiplier(optimizer, [slow], 0.25)
    plain = type(optimizer).from_config(optimizer.get_config())
    grads = [np.array([0.5, -1.0, 2.0], "float32")] * 2
    opt.apply_gradients(zip(grads, [fast, slow]))
    plain.apply_gradients([(grads[0], reference)])
    np.testing.assert_allclose(fast.numpy(), reference.numpy(), rtol=1e-6)
    np.testing.assert_allclose(1 - slow.numpy(), 0.25 * (1 - reference.numpy()), rtol=1e-5, atol=1e-7)
    assert isinstance(opt, type(optimizer))
