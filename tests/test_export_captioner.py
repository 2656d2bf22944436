"""The captioner's export: SavedModel `caption` / `caption_images` / `teacher_forced`, in-graph image
decoding and beam search, ONNX encoder + decoder step with the numpy driver, verify.

A tiny captioner is trained once for the module on generated scenes (so its captions stop at
`<end>`) and exported once; the search tests use untrained models whose `<end>` logit is pushed
up or down, so captions finish at every length, and compare with `beam_search_batch` directly.
"""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

import keras  # noqa: E402

from kerasrnn.kinds.captioner.vocab import CaptionVocabulary  # noqa: E402
from kerasrnn.data.image_files import load_image  # noqa: E402
from kerasrnn.errors import InputError  # noqa: E402
from kerasrnn.kinds.captioner import onnx_driver as driver  # noqa: E402
from kerasrnn.kinds import registry  # noqa: E402
from kerasrnn.kinds.captioner.onnx_models import annotation_model  # noqa: E402
from kerasrnn.kinds.captioner.signatures import CaptionerServing, decode_image_bytes  # noqa: E402
from kerasrnn.kinds.captioner.limits import CaptionerLimits  # noqa: E402
from kerasrnn.kinds.captioner.beam_search_numpy import LENGTH_PENALTY  # noqa: E402
from kerasrnn.kinds.captioner.model import beam_search_batch, build_captioner, greedy_decode  # noqa: E402
from kerasrnn.kinds.captioner.train import train_captioner  # noqa: E402
from kerasrnn.kinds.captioner.trained import load_captioner  # noqa: E402
from kerasrnn.kinds.captioner.config import CaptionerConfig  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = dict(dataset="scenes", image_size=32, max_length=8, embedding_dim=16, units=32,
            attention_units=16, epochs=3, batch_size=16, train_count=192, test_count=8,
            learning_rate=1e-2)
START, END = 2, 3

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="export needs the TensorFlow backend")


@pytest.fixture(scope="module")
def export(tmp_path_factory, script):
    """(run_dir, version_dir) of a tiny trained captioner."""
    root = tmp_path_factory.mktemp("captioner_export")
    keras.utils.set_random_seed(0)
    train_captioner(CaptionerConfig(**TINY), root / "run", verbose=0)
    assert script("export/export_model.py")(["--model", str(root / "run"), "--name", "scenes",
                                             "--base", str(root / "saved_models")]) == 0
    return root / "run", root / "saved_models" / "scenes" / "1"


@pytest.fixture(scope="module")
def loaded(export):
    return tf.saved_model.load(str(export[1]))


def scene_images(count=6, seed=5):
    from kerasrnn.kinds.captioner.captions import load_captions

    examples = load_captions("scenes", "test", image_size=32, count=count, seed=seed)
    return np.stack([ex.image for ex in examples])


def png(image):
    return tf.io.encode_png(tf.constant(image, tf.uint8)).numpy()


def test_export_writes_a_version_that_verify_accepts(export, capsys, script):
    run, version = export
    names = {p.relative_to(version).as_posix() for p in version.rglob("*") if p.is_file()}
    assert {"saved_model.pb", "assets.extra/model_card.json", "onnx/encoder.onnx",
            "onnx/decoder_step.onnx", "onnx/vocab.json", "onnx/decoding.json"} <= names
    card = json.loads((version / "assets.extra" / "model_card.json").read_text())
    _, vocab, config = load_captioner(run)
    assert card["kind"] == "captioner" and card["default_signature"] == "caption"
    assert set(card["signatures"]) == {"caption", "caption_images", "teacher_forced"}
    assert card["signatures"]["caption"]["inputs"] == {
        "image_bytes": {"dtype": "string", "shape": [None]},
        "beam_width": {"dtype": "int32", "shape": None}}
    assert card["signatures"]["caption"]["outputs"]["attention"] == {"dtype": "float32",
                                                                     "shape": [None, 9, 16]}
    assert card["vocab_size"] == len(vocab) and card["vocabulary"][4:] == vocab.words
    assert card["caption"]["max_length"] == 9 and card["caption"]["length_penalty"] == LENGTH_PENALTY
    assert card["model"] == config["model"] and card["training_data"]["dataset"] == "scenes"
    assert card["onnx"]["files"] == ["onnx/encoder.onnx", "onnx/decoder_step.onnx",
                                     "onnx/vocab.json", "onnx/decoding.json", "onnx/limits.json"]
    assert card["limits"] == CaptionerLimits().as_dict()
    capsys.readouterr()
    code = script("export/verify.py")([str(version)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "10 of 10 checks hold" in out and "FAIL" not in out
    assert "beam search captions (beam_width 3): identical" in out


def test_trained_captions_stop_at_end_and_match_the_reference(export, loaded):
    run, _ = export
    model, vocab, _ = load_captioner(run)
    images = scene_images()
    floats = images.astype(np.float32) / 255.0
    want = beam_search_batch(model, floats, START, END, 9, beam_width=2)
    out = loaded.signatures["caption"](image_bytes=tf.constant([png(i) for i in images]),
                                       beam_width=tf.constant([2]))
    lengths = out["length"].numpy()
    assert [c.tokens for c in want] == [t[:n].tolist() for t, n in zip(out["tokens"].numpy(), lengths)]
    assert any(c.tokens[-1] == END and len(c.tokens) < 9 for c in want)  # captions really end
    assert [t.decode() for t in out["caption"].numpy()] == [vocab.decode(c.tokens) for c in want]
    np.testing.assert_allclose(out["score"].numpy(), [c.score for c in want], rtol=1e-5)
    for maps, n in zip(out["attention"].numpy(), lengths):
        np.testing.assert_allclose(maps[:n].sum(-1), 1.0, atol=1e-5)
        assert not maps[n:].any()


def biased_model(end_bias, seed, end_scale):
    """An untrained captioner (12 ids) with spread-out logits and `<end>`'s weights scaled and bias set."""
    keras.utils.set_random_seed(seed)
    model = build_captioner(12, 32, 6, embedding_dim=16, units=32, attention_units=16,
                            cell="gru" if seed % 2 else "lstm")
    out = model.get_layer("decoder").out_logits
    kernel, bias = out.kernel.numpy() * 4, out.bias.numpy()
    kernel[:, END] *= end_scale
    bias[END] = end_bias
    out.kernel.assign(kernel)
    out.bias.assign(bias)
    return model, CaptionVocabulary([f"w{i}" for i in range(8)]), 7


@pytest.mark.parametrize("case,penalty", [("trained", LENGTH_PENALTY), ("never ends", LENGTH_PENALTY),
                                          ("ends at once", LENGTH_PENALTY), ("ends at 2 to 6", LENGTH_PENALTY),
                                          ("trained", 0.7), ("ends at 2 to 6", 0.7)])
def test_in_graph_search_is_beam_search_batch(export, case, penalty):
    if case == "trained":
        model, vocab, _ = load_captioner(export[0])
        steps = 9
        images = np.concatenate([scene_images(4, seed=9).astype(np.float32) / 255.0,
                                 np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)])
    else:
        model, vocab, steps = biased_model(*{"never ends": (-50.0, 0, 1), "ends at once": (50.0, 2, 1),
                                             "ends at 2 to 6": (0.0, 1, 10)}[case])
        images = np.random.default_rng(1).random((5, 32, 32, 3)).astype(np.float32)
    serving = CaptionerServing(model, vocab, max_length=steps, length_penalty=penalty)
    fn, spec = serving.endpoints()["caption_images"]
    search = tf.function(fn, input_signature=spec)
    dec = model.get_layer("decoder")
    annotations = annotation_model(model)(images)

    def keras_step(tokens, states, annotations, projected):
        logits, states, weights = dec.step(tokens, states, annotations, projected)
        return np.asarray(logits), [np.asarray(s) for s in states], np.asarray(weights)

    references = {}
    for k in (1, 2, 3, 5):
        want = references[k] = beam_search_batch(model, images, START, END, steps, k, penalty)
        got = search(tf.constant(images), tf.constant(k))
        lengths = got["length"].numpy()
        assert [c.tokens for c in want] == [t[:n].tolist() for t, n in zip(got["tokens"].numpy(), lengths)], k
        np.testing.assert_allclose(got["log_prob"].numpy(), [c.log_prob for c in want], rtol=1e-5)
        np.testing.assert_allclose(got["score"].numpy(), [c.score for c in want], rtol=1e-5)
        for maps, c in zip(got["attention"].numpy(), want):
            np.testing.assert_allclose(maps[: len(c.tokens)], c.alphas, atol=1e-5)
        # The numpy driver's copy of the search, on the same Keras step: the same captions exactly.
        copy = driver.beam_search(keras_step, np.asarray(annotations),
                                  np.asarray(dec.attention.project_annotations(annotations)),
                                  [np.asarray(s) for s in dec.initial_state(annotations)],
                                  START, END, steps, k, penalty)
        assert [(c.tokens, c.log_prob, c.score) for c in copy] == [(c.tokens, c.log_prob, c.score) for c in want]
    lengths = {len(c.tokens) for k in references for c in references[k]}
    assert {"never ends": lengths == {7}, "ends at once": lengths == {1},
            "ends at 2 to 6": len(lengths) > 1 and max(lengths) < 7,
            "trained": min(lengths) < steps}[case], lengths
    greedy = greedy_decode(model, images, START, END, steps, penalty)
    assert [c.tokens for c in greedy] == [c.tokens for c in references[1]]
    # A batch may mix beam widths: each image gets what its width alone gives.
    widths = [3, 1, 5, 2, 3, 1][: len(images)]
    got = search(tf.constant(images), tf.constant(widths))
    mixed = [t[:n].tolist() for t, n in zip(got["tokens"].numpy(), got["length"].numpy())]
    assert mixed == [references[k][i].tokens for i, k in enumerate(widths)]


def test_caption_decodes_images_as_load_image_does(export, loaded, tmp_path):
    rng = np.random.default_rng(0)
    big = tf.image.resize(rng.integers(0, 256, (1, 6, 9, 3)).astype(np.float32), (48, 72))[0]
    files = {"a.png": tf.io.encode_png(tf.cast(big, tf.uint8)),
             "b.jpg": tf.io.encode_jpeg(tf.cast(big, tf.uint8)),
             "c.png": tf.io.encode_png(tf.cast(big[:20, :20, :1], tf.uint8))}  # grayscale
    encoded, floats = [], []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data.numpy())
        want = load_image(tf.constant(str(tmp_path / name)), 32).numpy()
        got = decode_image_bytes(data, 32).numpy()
        np.testing.assert_array_equal(got, want)
        encoded.append(data.numpy())
        floats.append(want)
    from_bytes = loaded.signatures["caption"](image_bytes=tf.constant(encoded), beam_width=tf.constant(2))
    from_floats = loaded.signatures["caption_images"](images=tf.constant(np.stack(floats)),
                                                      beam_width=tf.constant([2]))
    for key in ("caption", "tokens", "length"):
        np.testing.assert_array_equal(from_bytes[key].numpy(), from_floats[key].numpy())
    # A row of a batch is captioned as it is alone.
    alone = loaded.signatures["caption"](image_bytes=tf.constant(encoded[1:2]), beam_width=tf.constant([2]))
    assert alone["caption"].numpy()[0] == from_bytes["caption"].numpy()[1]


def test_bad_requests_fail_with_a_clear_error(export, loaded):
    caption = loaded.signatures["caption"]
    good = png(np.zeros((32, 32, 3), np.uint8))
    for data in (b"not an image", b"", good[:40]):
        with pytest.raises(tf.errors.InvalidArgumentError):
            caption(image_bytes=tf.constant([good, data]), beam_width=tf.constant(1))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"image format not accepted: the bytes are not JPEG, PNG, BMP"):
        caption(image_bytes=tf.constant([b"GIF? no"]), beam_width=tf.constant(1))
    for width in (0, 11, -1):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"beam_width must be between 1 \(greedy\) and 10"):
            caption(image_bytes=tf.constant([good]), beam_width=tf.constant([width]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="a single value or one value per image"):
        caption(image_bytes=tf.constant([good, good]), beam_width=tf.constant([1, 2, 3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a int32 tensor"):
        caption(image_bytes=tf.constant([good]), beam_width=tf.constant(1.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"image_bytes \[1,1\] is not compatible"):
        caption(image_bytes=tf.constant([[good]]), beam_width=tf.constant(1))
    images = loaded.signatures["caption_images"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images \[1,28,28,3\] is not compatible"):
        images(images=tf.zeros([1, 28, 28, 3]), beam_width=tf.constant(1))
    forced = loaded.signatures["teacher_forced"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="captions must hold word ids between 0 and"):
        forced(images=tf.zeros([1, 32, 32, 3]), captions=tf.fill([1, 10], 999))
    # An empty batch is an empty answer; the server is still fine afterwards.
    empty = caption(image_bytes=tf.constant([], tf.string), beam_width=tf.constant(3))
    assert empty["caption"].shape == (0,) and empty["attention"].shape == (0, 9, 16)
    assert caption(image_bytes=tf.constant([good]), beam_width=tf.constant(3))["length"].numpy()[0] >= 1


def test_onnx_driver_needs_neither_tensorflow_nor_keras(export, loaded):
    _, version = export
    images = scene_images(3, seed=7)
    np.save(version.parent.parent / "images.npy", images.astype(np.float32) / 255.0)
    code = ("import sys; sys.modules.update(tensorflow=None, keras=None, tf2onnx=None)\n"
            "import numpy as np\n"
            "from kerasrnn.kinds.captioner.onnx_driver import CaptionerONNX\n"
            f"c = CaptionerONNX({str(version / 'onnx')!r})\n"
            f"print(c.caption(np.load({str(version.parent.parent / 'images.npy')!r}), beam_width=3))")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert ran.returncode == 0, ran.stderr[-2000:]
    out = loaded.signatures["caption"](image_bytes=tf.constant([png(i) for i in images]),
                                       beam_width=tf.constant(3))
    assert ran.stdout.strip() == repr([t.decode() for t in out["caption"].numpy()])
    with pytest.raises(InputError, match="has no encoder.onnx"):
        driver.CaptionerONNX(version)


def test_saved_model_cli_lists_and_runs_the_signatures(export, tmp_path):
    """`saved_model_cli` reads the version the way TF Serving does (TF1 loader, no kerasrnn)."""
    run, version = export
    images = scene_images(2).astype(np.float32) / 255.0
    np.save(tmp_path / "images.npy", images)
    cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    ran = subprocess.run([*cli, "run", "--dir", str(version), "--tag_set", "serve", "--signature_def",
                          "caption_images", "--inputs", f"images={tmp_path / 'images.npy'}",
                          "--input_exprs", "beam_width=2", "--outdir", str(tmp_path), "--overwrite"],
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-2000:]
    model, _, _ = load_captioner(run)
    want = beam_search_batch(model, images, START, END, 9, beam_width=2)
    tokens, lengths = np.load(tmp_path / "tokens.npy"), np.load(tmp_path / "length.npy")
    assert [t[:n].tolist() for t, n in zip(tokens, lengths)] == [c.tokens for c in want]


def test_warmup_requests_replay_against_the_saved_model(export, loaded):
    _, version = export
    card = json.loads((version / "assets.extra" / "model_card.json").read_text())
    try:
        from tensorflow_serving.apis import prediction_log_pb2
    except ImportError:
        assert "tensorflow-serving-api is not installed" in card["warmup_requests"]
        pytest.skip("tensorflow-serving-api is not installed: no warm-up file to read")
    records = list(tf.data.TFRecordDataset(str(version / "assets.extra" / "tf_serving_warmup_requests")))
    assert len(records) == card["warmup_requests"] == 3
    for record in records:
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        assert loaded.signatures[request.model_spec.signature_name](**inputs)


def test_export_options_are_checked(export, tmp_path):
    run, _ = export
    with pytest.raises(InputError, match="max_length must be an integer between 1 and 1000"):
        registry.export_model(run, tmp_path, "m", max_length=0)
    with pytest.raises(InputError, match="max_beam_width must be an integer between 1 and 100"):
        registry.export_model(run, tmp_path, "m", max_beam_width=0)
    for formats in (("gif",), ("png", "webp"), ()):
        with pytest.raises(InputError, match="image_formats must be one or more of jpeg,png,bmp"):
            registry.export_model(run, tmp_path, "m", image_formats=formats)
    with pytest.raises(InputError, match="prime does not apply to captioner"):
        registry.verify_version(export[1], prime="a")
    assert not (tmp_path / "m").exists()  # a failed export leaves no model folder
