"""Handwriting synthesis's training model, loss, scores, batches and settings
(kerasrnn.kinds.handwriting.{model,data,config}): shapes, the loss against `mixture_nll` summed
by hand, padding that changes nothing, a `.keras` round trip, batches cut to their longest line,
and settings refused in parameter terms."""

import numpy as np
import pytest

import keras

from kerasrnn.errors import InputError
from kerasrnn.kinds.handwriting.config import PRESETS, HandwritingConfig
from kerasrnn.kinds.handwriting.data import LineArrays, handwriting_dataset
from kerasrnn.kinds.handwriting.model import (NatsPerLine, NatsPerPoint, build_handwriting,
                                              handwriting_loss, line_nll)
from kerasrnn.kinds.handwriting.strokes import Alphabet, StrokeScale
from kerasrnn.layers.mixture_density import mixture_nll

TINY = dict(alphabet="ab ", layers=2, units=8, window_components=2, mixture_components=3,
            text_length=5)


def batch(seed=0, lengths=(7, 4), texts=((1, 2, 3, -1, -1), (2, -1, -1, -1, -1))):
    """strokes (2, 7, 3), text ids (2, 5) and targets (2, 7, 5) with padded points zero: the
    next points, the point mask and the loss weight (the mask times B over the real points)."""
    rng = np.random.default_rng(seed)
    steps = max(lengths)
    strokes = rng.normal(size=(len(lengths), steps, 3)).astype(np.float32)
    strokes[..., 2] = rng.random((len(lengths), steps)) < 0.2
    targets = np.concatenate([np.roll(strokes, -1, axis=1), np.zeros_like(strokes[..., :2])], -1)
    for row, n in enumerate(lengths):
        strokes[row, n:] = 0
        targets[row, n:] = 0
        targets[row, :n, 3] = 1
    targets[..., 4] = targets[..., 3] * len(lengths) / sum(lengths)
    return strokes, np.array(texts, np.int32), targets


def test_shapes_and_the_window_outputs():
    model = build_handwriting(**TINY)
    strokes, text, _ = batch()
    raw = model([strokes, text])
    assert tuple(raw.shape) == (2, 7, 1 + 6 * 3)
    windowed = build_handwriting(window=True, **TINY)
    windowed.set_weights(model.get_weights())
    out = windowed([strokes, text])
    assert tuple(out["kappa"].shape) == (2, 7, 2) and tuple(out["phi"].shape) == (2, 7, 6)
    np.testing.assert_allclose(out["mixture"], raw, atol=1e-6)
    kappa = np.asarray(out["kappa"])
    assert np.all(np.diff(kappa, axis=1) > 0)  # the window only moves forward
    phi = np.asarray(out["phi"])
    assert np.all(phi[1, :, 2:] == 0)  # one character: phi kept at u = 1, 2 only


def test_the_loss_is_mixture_nll_per_point_pooled_over_the_batch():
    model = build_handwriting(**TINY)
    strokes, text, targets = batch()
    raw = model([strokes, text])
    per_point = np.asarray(mixture_nll(raw, targets[..., :3]))  # unmasked, by hand below
    lines = [per_point[row, :n].sum() for row, n in enumerate((7, 4))]
    by_hand = sum(lines) / 11
    loss = np.asarray(handwriting_loss(targets, raw))
    assert loss.shape == (2,)
    assert np.mean(loss) == pytest.approx(by_hand, rel=1e-5)
    nats, points = (np.asarray(v) for v in line_nll(targets, raw))
    np.testing.assert_allclose(nats, lines, rtol=1e-5)
    np.testing.assert_array_equal(points, [7, 4])
    model.compile(loss=handwriting_loss, metrics=[NatsPerPoint(), NatsPerLine()])
    scores = model.evaluate([strokes, text], targets, verbose=0, return_dict=True)
    assert scores["loss"] == pytest.approx(by_hand, rel=1e-5)
    assert scores["nats_per_point"] == pytest.approx(by_hand, rel=1e-5)
    assert scores["nats_per_line"] == pytest.approx(sum(lines) / 2, rel=1e-5)


def test_the_scores_pool_points_and_lines_over_batches():
    model = build_handwriting(**TINY)
    model.compile(loss=handwriting_loss, metrics=[NatsPerPoint(), NatsPerLine()])
    strokes, text, targets = batch(lengths=(7, 2, 5, 3), texts=[[1, -1, -1, -1, -1]] * 4)
    raw = np.asarray(model([strokes, text]))
    nats = np.asarray(mixture_nll(raw, targets[..., :3], targets[..., 3])).sum(axis=1)
    scores = model.evaluate([strokes, text], targets, batch_size=3, verbose=0, return_dict=True)
    assert scores["nats_per_point"] == pytest.approx(nats.sum() / 17, rel=1e-5)
    assert scores["nats_per_line"] == pytest.approx(nats.mean(), rel=1e-5)


def test_padded_points_and_padded_text_change_nothing():
    model = build_handwriting(**TINY)
    strokes, text, targets = batch(lengths=(7, 4))
    raw = np.asarray(model([strokes, text]))
    alone = np.asarray(model([strokes[1:, :4], text[1:]]))  # the short line without padding
    np.testing.assert_allclose(raw[1, :4], alone[0], atol=1e-5)
    nats, _ = line_nll(targets, raw)
    alone_nats, _ = line_nll(targets[1:, :4, :4], alone)
    assert float(nats[1]) == pytest.approx(float(alone_nats[0]), rel=1e-5)
    garbage = strokes.copy()
    garbage[1, 4:] = 50.0  # whatever lies past the end: nothing before it changes
    np.testing.assert_allclose(np.asarray(model([garbage, text]))[1, :4], raw[1, :4], atol=1e-5)
    short = build_handwriting(**{**TINY, "text_length": 1})  # U = 1: the text without padding
    short.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(short([strokes[1:], text[1:, :1]]))[0], raw[1],
                               atol=1e-5)


def test_a_keras_round_trip_keeps_the_outputs(tmp_path):
    model = build_handwriting(**TINY)
    strokes, text, _ = batch()
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded([strokes, text]), model([strokes, text]), atol=1e-6)


def lines(count=5, seed=0):
    rng = np.random.default_rng(seed)
    offsets = []
    for n in rng.permutation(np.arange(3, 3 + count)):  # distinct lengths name the lines
        line = rng.normal(size=(n, 3)).astype(np.float32)
        line[:, 2] = 0
        line[-1, 2] = 1
        offsets.append(line)
    texts = ["ab"[: 1 + i % 2] + " b" * (i % 3) for i in range(count)]
    return texts, offsets


def test_batches_are_normalised_shifted_masked_and_cut_to_their_longest_line():
    texts, offsets = lines()
    scale = StrokeScale(2.0, 4.0)
    arrays = LineArrays.from_lines(texts, offsets, scale, Alphabet("ab "), text_length=6)
    ds = handwriting_dataset(arrays, batch_size=2, shuffle=False)
    seen = 0
    for inputs, targets in ds:
        rows = range(seen, seen + len(targets))
        longest = max(len(offsets[i]) for i in rows)
        assert inputs["strokes"].shape[1] == targets.shape[1] == longest - 1
        for row, i in enumerate(rows):
            n = len(offsets[i])
            normalised = offsets[i] / np.array([2.0, 4.0, 1.0], np.float32)
            np.testing.assert_allclose(inputs["strokes"][row, :n - 1], normalised[:-1], rtol=1e-6)
            np.testing.assert_allclose(targets[row, :n - 1, :3], normalised[1:], rtol=1e-6)
            np.testing.assert_array_equal(targets[row, :, 3], np.arange(longest - 1) < n - 1)
            predicted = sum(len(offsets[j]) - 1 for j in rows)
            np.testing.assert_allclose(targets[row, :, 4], targets[row, :, 3] * len(rows) / predicted,
                                       rtol=1e-6)
            expected = np.full(6, -1)
            expected[:len(texts[i])] = Alphabet("ab ").encode(texts[i])
            np.testing.assert_array_equal(inputs["text"][row], expected)
        seen += len(targets)
    assert seen == 5


def test_a_replica_weighs_its_rows_by_the_global_batchs_points():
    """2 shards of a global batch of 4: each loss weight is 4 over the 4 lines' points, so
    the replicas' mean losses add up to the global batch's nats per point."""
    texts, offsets = lines(count=8)
    arrays = LineArrays.from_lines(texts, offsets, StrokeScale(1.0, 1.0), Alphabet("ab "), 6)
    whole = list(handwriting_dataset(arrays, 4, seed=5, drop_remainder=True))
    halves = [list(handwriting_dataset(arrays, 4, seed=5, drop_remainder=True, shard=k, shards=2))
              for k in range(2)]
    for b, (_, targets) in enumerate(whole):
        weight = float(np.max(targets[..., 4]))
        assert weight == pytest.approx(4 / float(np.sum(targets[..., 3])), rel=1e-6)
        for k in range(2):
            shard_targets = halves[k][b][1]
            assert float(np.max(shard_targets[..., 4])) == pytest.approx(weight, rel=1e-6)
            assert float(np.sum(shard_targets[..., 3])) == float(np.sum(targets[2 * k:2 * k + 2, :, 3]))


def test_the_order_depends_on_seed_and_epoch_only():
    texts, offsets = lines(count=8)
    arrays = LineArrays.from_lines(texts, offsets, StrokeScale(1.0, 1.0), Alphabet("ab "), 6)

    def order(seed, epoch):
        ds = handwriting_dataset(arrays, 8, seed=seed, epoch=epoch)
        ((_, targets),) = list(ds)
        return [int(np.sum(targets[row, :, 3])) for row in range(8)]  # each line's points

    first = order(1, 0)
    assert order(1, 0) == first
    assert sorted(first) == sorted(len(o) - 1 for o in offsets)
    assert order(1, 1) != first and order(2, 0) != first


def test_lines_too_long_or_too_short_for_the_model_are_refused():
    texts, offsets = lines()
    with pytest.raises(InputError, match="above the model's 2"):
        LineArrays.from_lines(texts, offsets, StrokeScale(1.0, 1.0), Alphabet("ab "), 2)
    with pytest.raises(InputError, match="at least 2 points"):
        LineArrays.from_lines(["a"], [offsets[0][:1]], StrokeScale(1.0, 1.0), Alphabet("ab "), 6)


@pytest.mark.parametrize("settings, message", [
    (dict(units=0), "units must be >= 1"),
    (dict(window_components=1.5), "window_components must be an integer"),
    (dict(learning_rate=-1.0), "learning_rate must be > 0"),
    (dict(clip=float("nan")), "clip must be finite"),
    (dict(source="web"), "source must be one of synthetic, iam-ondb"),
    (dict(source="iam-ondb"), "source iam-ondb needs data_dir"),
    (dict(data_dir="x"), "data_dir is for source iam-ondb"),
    (dict(source="iam-ondb", data_dir="x", styles="print"), "styles is for the synthetic"),
    (dict(styles="comic"), "styles must be one of"),
    (dict(train_lines=8, batch_size=16), "train_lines 8 is smaller than one batch"),
    (dict(steps=10, gradient_accumulation_steps=3), "gradient_accumulation_steps 3 must divide"),
    (dict(units=20000), "units 20000 needs about"),
])
def test_bad_settings_are_refused_in_parameter_terms(settings, message):
    with pytest.raises(InputError, match=message):
        HandwritingConfig(**settings).validate()


def test_the_cpu_preset_is_the_defaults_and_the_paper_preset_the_papers_size():
    assert HandwritingConfig(**PRESETS["cpu"]) == HandwritingConfig()
    for preset in PRESETS.values():
        HandwritingConfig(**preset).validate()
    paper = HandwritingConfig(**PRESETS["paper"])
    assert (paper.layers, paper.units, paper.window_components, paper.mixture_components) == \
        (3, 400, 10, 20)
    model = build_handwriting(**HandwritingConfig(**PRESETS["cpu"]).model_config())
    assert model.count_params() == HandwritingConfig(**PRESETS["cpu"]).parameter_count()
