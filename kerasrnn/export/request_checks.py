"""The in-graph side of `request_limits`: asserts that run before a signature does any work.

A limit only protects the server if nothing large is allocated before it is checked: TensorFlow
runs graph ops in parallel unless one depends on another, so an assert beside a `tf.range` does
not stop the range. `gate(checks, *tensors)` returns the request's tensors behind the checks, and
every signature computes only from gated tensors.
"""

import tensorflow as tf


def gate(checks, *tensors):
    """`tensors` that can only be computed after every op of `checks` ran (and passed).

    Args:
        checks: List of `tf.debugging.Assert` ops.
        *tensors: The request's tensors.

    Returns:
        The tensors (a tuple, or the one tensor), each an identity behind the checks.
    """
    with tf.control_dependencies(checks):
        gated = tuple(tf.identity(t) for t in tensors)
    return gated if len(gated) != 1 else gated[0]


def rows_check(rows, limits, what):
    """An Assert that a request has at most `limits.max_rows` rows (`what`: "primes", "images")."""
    return tf.debugging.Assert(rows <= limits.max_rows, [
        f"too many {what} in one request: at most {limits.max_rows} (max_rows); got", rows])


def unless_empty(batch, run, empty):
    """`run()` for a batch of at least one row, else empty outputs `{name: (shape, dtype)}` of
    zero rows: a request with no rows is answered with no rows, in every signature (TensorFlow's
    CPU kernels, convolutions and recurrent layers, refuse a batch of zero)."""
    return tf.cond(batch > 0, run, lambda: {name: tf.zeros([0, *shape], dtype)
                                             for name, (shape, dtype) in empty.items()})
