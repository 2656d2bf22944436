"""Show-Attend-Tell: shapes, attention sums, the regulariser, hard attention, saving, learning,
greedy == beam 1."""

import keras
import numpy as np
import pytest

from kerasrnn.kinds.captioner.vocab import CaptionVocabulary
from kerasrnn.kinds.captioner.scenes import captioned_scenes
from kerasrnn.kinds.captioner.model import beam_search, beam_search_batch, build_captioner, greedy_decode

T = 9


@pytest.fixture(scope="module")
def scenes():
    data = captioned_scenes(64, seed=0, size=32)
    vocab = CaptionVocabulary.from_captions([s.caption for s in data])
    ids = vocab.encode([s.caption for s in data], max_length=T - 1)  # (N, T + 1)
    images = np.stack([s.image for s in data]).astype("float32") / 255.0
    return images, ids, vocab


def _model(vocab, cell="lstm", **kwargs):
    return build_captioner(len(vocab), 32, T - 1, cell=cell, embedding_dim=16, units=32,
                           attention_units=16, **kwargs)


@pytest.mark.parametrize("cell", ["lstm", "gru", "vanilla"])
def test_shapes_and_attention_distributions(scenes, cell):
    images, ids, vocab = scenes
    logits, alphas = _model(vocab, cell)([images[:3], ids[:3]])
    assert tuple(logits.shape) == (3, T, len(vocab)) and tuple(alphas.shape) == (3, T, 16)
    np.testing.assert_allclose(np.sum(alphas, -1), 1.0, atol=1e-5)


def test_doubly_stochastic_term_is_added_only_when_asked(scenes):
    images, ids, vocab = scenes
    plain, reg = _model(vocab), _model(vocab, doubly_stochastic=1.0)
    plain([images[:2], ids[:2]]), reg([images[:2], ids[:2]])
    assert len(plain.losses) == 0 and len(reg.losses) == 1 and float(reg.losses[0]) > 0


@pytest.mark.slow
def test_round_trip_and_teacher_forced_training_lowers_the_loss(scenes, tmp_path):
    images, ids, vocab = scenes
    model = _model(vocab)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=[keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0), None])
    history = model.fit([images, ids], ids[:, 1:], batch_size=16, epochs=12, verbose=0)
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    model.save(tmp_path / "c.keras")
    loaded = keras.saving.load_model(tmp_path / "c.keras", compile=False)
    for a, b in zip(model([images[:2], ids[:2]]), loaded([images[:2], ids[:2]])):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_beam_width_one_equals_greedy(scenes):
    images, _, vocab = scenes
    model = _model(vocab)
    start, end = vocab.id("<start>"), vocab.id("<end>")
    greedy = greedy_decode(model, images[:3], start, end, max_length=T)
    for image, g in zip(images[:3], greedy):
        b = beam_search(model, image, start, end, max_length=T, beam_width=1, length_penalty=0.0)
        assert b.tokens == g.tokens and b.log_prob == pytest.approx(g.log_prob, abs=1e-6)
        np.testing.assert_allclose(b.alphas, g.alphas, atol=1e-6)
        assert g.alphas.shape == (len(g.tokens), 16)


def test_beam_search_keeps_the_best_of_its_beams(scenes):
    images, _, vocab = scenes
    model = _model(vocab)
    start, end = vocab.id("<start>"), vocab.id("<end>")
    wide = beam_search(model, images[0], start, end, max_length=4, beam_width=5, length_penalty=0.0)
    narrow = beam_search(model, images[0], start, end, max_length=4, beam_width=1, length_penalty=0.0)
    assert wide.log_prob >= narrow.log_prob - 1e-9 and len(wide.tokens) <= 4
    with pytest.raises(ValueError, match="beam width"):
        beam_search(model, images[0], start, end, max_length=4, beam_width=0)


def _loss():
    return [keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0), None]


def test_hard_attention_with_all_captions_soft_is_the_soft_model(scenes):
    """hard_mix=1 (every caption takes the expectation) and no entropy bonus: the soft model."""
    images, ids, vocab = scenes
    soft, hard = _model(vocab), _model(vocab, attention="hard", seed=1)
    hard.get_layer("encoder").set_weights(soft.get_layer("encoder").get_weights())
    values = {v.path: v for v in soft.get_layer("decoder").weights}
    shared = [v for v in hard.get_layer("decoder").weights if v.path in values]
    assert len(shared) == len(values) == len(hard.get_layer("decoder").weights) - 1  # + baseline
    for v in shared:
        v.assign(values[v.path])
    decoder = hard.get_layer("decoder")
    decoder.hard_mix, decoder.entropy_weight = 1.0, 0.0
    a, b = soft([images[:4], ids[:4]]), hard([images[:4], ids[:4]], training=True)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-6)
    assert len(hard.losses) == 1 and float(hard.losses[0]) == 0.0


def test_hard_attention_samples_in_training_and_looks_at_one_place_at_inference(scenes):
    images, ids, vocab = scenes
    model = _model(vocab, attention="hard", seed=3)
    decoder = model.get_layer("decoder")
    decoder.hard_mix = 0.0  # every caption samples
    logits, alphas = model([images[:8], ids[:8]], training=True)
    assert len(model.losses) == 1 and np.isfinite(float(model.losses[0]))
    baseline = float(decoder.reward_baseline.numpy())
    assert baseline < 0.0  # set from the first batch's log-likelihood
    np.testing.assert_allclose(np.sum(alphas, -1), 1.0, atol=1e-5)
    start, end = vocab.id("<start>"), vocab.id("<end>")
    caption = greedy_decode(model, images[:1], start, end, max_length=T)[0]
    assert set(np.unique(caption.alphas)) <= {0.0, 1.0} and np.all(caption.alphas.sum(-1) == 1.0)
    # Inference is deterministic: the same logits twice.
    np.testing.assert_allclose(model([images[:2], ids[:2]])[0], model([images[:2], ids[:2]])[0])


@pytest.mark.slow
def test_hard_attention_training_lowers_the_loss_and_round_trips(scenes, tmp_path):
    images, ids, vocab = scenes
    model = _model(vocab, attention="hard", seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=_loss())
    before = model.evaluate([images, ids], ids[:, 1:], verbose=0)  # attending argmax alpha
    history = model.fit([images, ids], ids[:, 1:], batch_size=16, epochs=12, verbose=0)
    # The REINFORCE term adds a gradient but no value: fit reports the caption cross-entropy.
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    assert model.evaluate([images, ids], ids[:, 1:], verbose=0) < 0.7 * before
    model.save(tmp_path / "h.keras")
    loaded = keras.saving.load_model(tmp_path / "h.keras", compile=False)
    assert loaded.get_layer("decoder").attention_type == "hard"
    for a, b in zip(model([images[:2], ids[:2]]), loaded([images[:2], ids[:2]])):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_batched_beam_search_equals_one_image_at_a_time(scenes):
    images, _, vocab = scenes
    model = _model(vocab)
    start, end = vocab.id("<start>"), vocab.id("<end>")
    batch = beam_search_batch(model, images[:4], start, end, max_length=T, beam_width=3)
    for image, b in zip(images[:4], batch):
        one = beam_search(model, image, start, end, max_length=T, beam_width=3)
        assert b.tokens == one.tokens and b.log_prob == pytest.approx(one.log_prob, abs=1e-5)
        np.testing.assert_allclose(b.alphas, one.alphas, atol=1e-6)


def test_grid_coordinates_tell_cells_apart():
    from kerasrnn.layers import GridCoordinates

    grid = np.zeros((2, 3, 4, 5), "float32")
    out = keras.ops.convert_to_numpy(GridCoordinates()(grid))
    assert out.shape == (2, 3, 4, 7) and not out[..., :5].any()
    np.testing.assert_allclose(out[0, 0, :, 5], [-0.75, -0.25, 0.25, 0.75])  # x: cell centres
    np.testing.assert_allclose(out[1, :, 0, 6], [-2 / 3, 0.0, 2 / 3], atol=1e-7)  # y
    model = build_captioner(10, 32, 4, coordinates="none")
    assert "coordinates" not in [layer.name for layer in model.layers]
