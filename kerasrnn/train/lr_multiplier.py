"""Per-variable learning-rate multipliers for any Keras optimizer (the STN paper slows its
localisation net down this way)."""

from kerasrnn.keras_internals import trained_variable


def with_lr_multiplier(optimizer, variables, multiplier):
    """A copy of `optimizer` that updates `variables` with `multiplier` times the learning rate.

    Works for every Keras optimizer, adaptive ones included, because the multiplier scales the
    learning rate inside `update_step` rather than the gradient (Adam would undo a gradient
    scale).

    Args:
        optimizer: A Keras optimizer instance (its config is copied, learning-rate schedule too).
        variables: The variables to slow down (or speed up).
        multiplier: Factor on their learning rate.

    Returns:
        A new optimizer of a subclass of `type(optimizer)`.
    """
    paths = frozenset(v.path for v in variables)

    class WithLRMultiplier(type(optimizer)):
        def update_step(self, gradient, variable, learning_rate):
            # On TensorFlow `variable` is the backend variable; map it back to the Keras one.
            keras_variable = trained_variable(self, variable)
            if keras_variable.path in paths:
                learning_rate = learning_rate * multiplier
            return super().update_step(gradient, variable, learning_rate)

    WithLRMultiplier.__name__ = f"{type(optimizer).__name__}WithLRMultiplier"
    return WithLRMultiplier.from_config(optimizer.get_config())
