"""Handwriting synthesis's training model (Graves 2013, section 5), its loss and its scores.

The model reads a line's normalised pen offsets and its text and gives, at every point, the
mixture density of the next point: `[strokes (B, T, 3), text (B, U)] -> (B, T, 1 + 6 M)`, one
`keras.layers.RNN` over `kerasrnn.layers.HandwritingCell` (its input built by `cell_inputs`)
and `MixtureDensity` on the concatenated outputs of every LSTM layer (the paper's skip
connections to the output). Step t reads point x_t and predicts x_{t+1}: a line of N points
gives the input x_0..x_{N-2} and the targets x_1..x_{N-1} (`data.handwriting_dataset`).

The targets are `(B, T, 5)`: dx, dy, eos, a point mask (1 on real points, 0 on padding
past a line's end) and the loss's weight (the mask times B over the batch's real points, worked
out on the global batch by `data.handwriting_dataset`). Padding only ever follows a line's last
point, and the network is causal, so it changes nothing at the real points: the mask only takes
the padded points out of the loss (no mask runs through the RNN). Padded text positions carry
the id -1, which the cell masks.

The loss (`handwriting_loss`) is the mixture's negative log-likelihood (`mixture_nll`) in nats
per point, pooled over the batch: Keras's mean over the lines of each line's nats times its
weight is the sum over every real point of the (global) batch divided by its real points, on
one device or split over replicas. The scores (`NatsPerPoint`, `NatsPerLine`) pool the same
sums over a whole evaluation: nats per point, and nats per line (the sum over each line's
points, averaged over the lines).
"""

import keras
from keras import ops

from kerasrnn.kinds.handwriting.strokes import MAX_CHARACTERS, Alphabet
from kerasrnn.layers.handwriting_cell import POINT_SIZE, HandwritingCell, cell_inputs
from kerasrnn.layers.mixture_density import MixtureDensity, mixture_nll


def model_config(alphabet=Alphabet().characters, layers=3, units=400, window_components=10,
                 mixture_components=20, text_length=MAX_CHARACTERS):
    """The builder's arguments as a dict (what a run's `config.json` records as `model`):
    the alphabet's characters (`strokes.Alphabet`), L LSTMs of `units`, K, M and U, the text
    positions the training model reads."""
    return dict(alphabet=alphabet, layers=layers, units=units,
                window_components=window_components, mixture_components=mixture_components,
                text_length=text_length)


def build_handwriting(window=False, **kwargs):
    """The synthesis network.

    Args:
        window: Also output the window: kappa `(B, T, K)` and phi `(B, T, U + 1)` (for plots
            and the stopping rule), in a dict with the mixture; the weights are the same.
        **kwargs: `model_config`'s arguments.

    Returns:
        A model `[strokes (B, T, 3) normalised offsets, text (B, U) int ids, -1 padding]` ->
        `mixture (B, T, 1 + 6 M)`, the raw parameters of each next point's density
        (`mixture_density.split_mixture` reads them); with `window`,
        `{"mixture": ..., "kappa": ..., "phi": ...}`.
    """
    config = model_config(**kwargs)
    cell = HandwritingCell(Alphabet(config["alphabet"]).size, units=config["units"],
                           layers=config["layers"], window_components=config["window_components"],
                           return_window=window, name="handwriting_cell")
    strokes = keras.Input((None, POINT_SIZE), name="strokes")
    text = keras.Input((config["text_length"],), dtype="int32", name="text")
    outputs = keras.layers.RNN(cell, return_sequences=True, name="synthesis")(
        cell_inputs(strokes, text))
    hidden, kappa, phi = cell.split_output(outputs) if window else (outputs, None, None)
    mixture = MixtureDensity(config["mixture_components"], name="mixture")(hidden)
    if not window:
        return keras.Model([strokes, text], mixture, name="handwriting")
    kappa = keras.layers.Identity(name="kappa")(kappa)
    phi = keras.layers.Identity(name="phi")(phi)
    return keras.Model([strokes, text], {"mixture": mixture, "kappa": kappa, "phi": phi},
                       name="handwriting")


def line_nll(targets, raw):
    """Each line's negative log-likelihood and real points.

    Args:
        targets: `(B, T, 5)`: dx, dy, eos, point mask, loss weight.
        raw: `(B, T, 1 + 6 M)`.

    Returns:
        `(nats, points)`, both `(B,)`: the sum of `mixture_nll` over a line's real points, and
        how many there are.
    """
    targets = ops.cast(targets, raw.dtype)
    mask = targets[..., 3]
    return ops.sum(mixture_nll(raw, targets[..., :3], mask), axis=-1), ops.sum(mask, axis=-1)


def handwriting_loss(targets, raw):
    """The training loss, `(B,)` per line: the sum of a line's points' nats times their weight
    (`targets[..., 4]`), so that Keras's mean over the batch is the batch's nats per point.

    Args:
        targets: `(B, T, 5)`: dx, dy, eos, point mask, loss weight.
        raw: `(B, T, 1 + 6 M)`.
    """
    targets = ops.cast(targets, raw.dtype)
    nll = mixture_nll(raw, targets[..., :3], targets[..., 3])
    return ops.sum(nll * targets[..., 4], axis=-1)


class _PooledNats(keras.metrics.Metric):
    """Sums nats and a count over an evaluation; `result` is their ratio."""

    def __init__(self, name, **kwargs):
        super().__init__(name=name, **kwargs)
        self.nats = self.add_variable((), initializer="zeros", name="nats")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def counted(self, nats, points):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        nats, points = line_nll(y_true, y_pred)
        self.nats.assign_add(ops.cast(ops.sum(nats), self.nats.dtype))
        self.count.assign_add(ops.cast(self.counted(nats, points), self.count.dtype))

    def result(self):
        return self.nats / ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.nats.assign(0.0)
        self.count.assign(0.0)


class NatsPerPoint(_PooledNats):
    """The negative log-likelihood in nats per real point, pooled over every batch seen."""

    def __init__(self, name="nats_per_point", **kwargs):
        super().__init__(name=name, **kwargs)

    def counted(self, nats, points):
        return ops.sum(points)


class NatsPerLine(_PooledNats):
    """The negative log-likelihood in nats per line (summed over its points), averaged over
    every line seen."""

    def __init__(self, name="nats_per_line", **kwargs):
        super().__init__(name=name, **kwargs)

    def counted(self, nats, points):
        return ops.shape(nats)[0]
