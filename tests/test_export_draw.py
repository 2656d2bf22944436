"""DRAW's export: SavedModel `generate` and `reconstruct`, `decoder_step.onnx`,
`reconstruct_step.onnx` and their driver, verify.

A tiny DRAW is trained for one epoch on generated squares (tests/test_train_draw.py's `blobs`)
and exported with `max_rows` 3, so the limit is cheap to cross.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

import keras  # noqa: E402
from test_train_draw import TINY, blobs  # noqa: E402

from kerasrnn.errors import InputError  # noqa: E402
from kerasrnn.export import counter_random, counter_random_tf  # noqa: E402
from kerasrnn.kinds.draw import onnx_driver  # noqa: E402
from kerasrnn.kinds.draw.config import DRAWConfig  # noqa: E402
from kerasrnn.kinds.draw.limits import DRAWLimits  # noqa: E402
from kerasrnn.kinds.draw.model import LOSSES, generator_from  # noqa: E402
from kerasrnn.kinds.draw.signatures import DRAWServing  # noqa: E402
from kerasrnn.kinds.draw.train import train_draw  # noqa: E402
from kerasrnn.kinds.draw.trained import load_draw  # noqa: E402
from kerasrnn.kinds.registry import export_model, verify_version  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                                   reason="export needs the TensorFlow backend")]

ROWS = 3  # the export's max_rows


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`(run_dir, version_dir, loaded SavedModel)` of a tiny trained DRAW."""
    root = tmp_path_factory.mktemp("draw_export")
    data = (blobs(240, 0), np.zeros(240, int)), (blobs(60, 1), np.zeros(60, int))
    train_draw(DRAWConfig(**TINY, epochs=1), data, root / "run", verbose=0)
    version = export_model(root / "run", root / "saved_models", "draw", max_rows=ROWS)
    return root / "run", version, tf.saved_model.load(str(version))


def generate(loaded, seeds):
    out = loaded.signatures["generate"](seed=tf.constant(seeds, tf.int64))
    return {k: v.numpy() for k, v in out.items()}


def reconstruct(loaded, images, seeds):
    out = loaded.signatures["reconstruct"](images=tf.constant(images, tf.float32),
                                           seed=tf.constant(seeds, tf.int64))
    return {k: v.numpy() for k, v in out.items()}


def test_the_version_holds_both_signatures_and_the_onnx_files(exported):
    _, version, _ = exported
    card = json.loads((version / "assets.extra" / "model_card.json").read_text())
    assert card["kind"] == "draw" and card["default_signature"] == "generate"
    assert card["limits"] == {"max_rows": ROWS}
    assert card["signatures"]["generate"]["outputs"] == {
        "canvases": {"dtype": "float32", "shape": [None, 3, 28, 28, 1]},
        "images": {"dtype": "float32", "shape": [None, 28, 28, 1]},
        "windows": {"dtype": "float32", "shape": [None, 3, 4]}}
    assert set(card["signatures"]["reconstruct"]["inputs"]) == {"images", "seed"}
    assert sorted(p.name for p in (version / "onnx").iterdir()) == [
        "decoder_step.onnx", "draw.json", "limits.json", "reconstruct_step.onnx"]
    assert card["onnx"]["files"] == ["onnx/decoder_step.onnx", "onnx/reconstruct_step.onnx",
                                     "onnx/draw.json", "onnx/limits.json"]
    sizes = json.loads((version / "onnx" / "draw.json").read_text())
    assert sizes == {"steps": 3, "latent_dim": TINY["latent_dim"], "encoder_units": 16,
                     "decoder_units": 16, "write_size": TINY["write_size"], "image_shape": [28, 28, 1]}


def test_the_noise_is_standard_normal_and_the_same_in_tensorflow_and_numpy():
    seeds, index = np.array([[0], [7], [-3]], np.int64), np.arange(4000, dtype=np.int64)[None]
    want = counter_random.counter_normal(seeds, index)
    got = counter_random_tf.counter_normal(tf.constant(seeds), tf.constant(index)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.array_equal(want.astype(np.float32), got.astype(np.float32))
    many = counter_random.counter_normal(5, np.arange(200_000))
    assert abs(many.mean()) < 0.01 and abs(many.std() - 1) < 0.01
    assert abs((np.abs(many) < 1).mean() - 0.6827) < 0.005  # the normal's mass within one sigma


def test_generate_is_the_keras_generator_on_the_seeds_noise(exported):
    run, _, loaded = exported
    model, config = load_draw(run)
    generator = generator_from(model, **config["model"])
    seeds = np.array([3, -11, 2**62], np.int64)
    served = generate(loaded, seeds)
    want = generator.predict_on_batch(onnx_driver.noise(seeds, 3, TINY["latent_dim"]))
    np.testing.assert_allclose(served["canvases"], want["canvases"], atol=1e-6)
    np.testing.assert_allclose(served["windows"], want["windows"], atol=1e-5)
    np.testing.assert_array_equal(served["images"], served["canvases"][:, -1])
    assert served["canvases"].shape == (3, 3, 28, 28, 1)
    assert 0 <= served["images"].min() and served["images"].max() <= 1
    # A row is its seed's alone: the same alone as in a batch, and another seed draws another image.
    np.testing.assert_array_equal(generate(loaded, seeds[1:2])["images"][0], served["images"][1])
    assert np.abs(served["images"][0] - served["images"][1]).max() > 1e-3
    assert np.abs(np.diff(served["canvases"], axis=1)).max() > 1e-3  # every step draws


def test_reconstruct_bound_is_the_training_loss_of_the_binarized_image(exported):
    run, _, loaded = exported
    model, config = load_draw(run)
    model.compile(loss=LOSSES)
    grey = np.random.default_rng(0).random((3, 28, 28, 1)).astype(np.float32)
    grey[0, :4] = 0.5  # exactly the threshold: 1
    seeds = np.array([1, 2, 3], np.int64)
    served = reconstruct(loaded, grey, seeds)
    binary = (grey >= 0.5).astype(np.float32)
    noise = onnx_driver.noise(seeds, 3, TINY["latent_dim"])
    for i in range(3):  # one image per batch: Keras's loss is that image's bound
        loss = model.evaluate([binary[i:i + 1], noise[i:i + 1]],
                              {"canvas": binary[i:i + 1], "kl": np.zeros(1)}, verbose=0)[0]
        assert served["nll_bound"][i] == pytest.approx(loss, rel=1e-5)
    logits = model.predict_on_batch([binary, noise])["canvas"]
    np.testing.assert_allclose(served["reconstructions"], 1 / (1 + np.exp(-logits)), atol=1e-6)
    # The rule binarizes: grey images on either side of 0.5 give the binary image's answer.
    shifted = reconstruct(loaded, np.where(binary > 0, 0.5 + grey / 2, grey / 2), seeds)
    np.testing.assert_allclose(shifted["nll_bound"], served["nll_bound"], rtol=1e-6)
    # Another seed is other noise, so another bound.
    assert reconstruct(loaded, grey, seeds + 10)["nll_bound"][0] != served["nll_bound"][0]


def test_requests_over_the_limits_are_refused(exported):
    _, _, loaded = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"too many seeds.*at most 3 \(max_rows\)"):
        generate(loaded, np.arange(ROWS + 1))
    images = np.zeros((ROWS + 1, 28, 28, 1), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"too many images.*at most 3 \(max_rows\)"):
        reconstruct(loaded, images, np.arange(ROWS + 1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="seed must have one value per image"):
        reconstruct(loaded, images[:2], np.arange(3))
    for bad in (1.5, -0.1, np.nan):
        with pytest.raises(tf.errors.InvalidArgumentError, match="pixels between 0 and 1"):
            reconstruct(loaded, np.full((1, 28, 28, 1), bad, np.float32), [0])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images \[1,27,27,1\] is not compatible"):
        reconstruct(loaded, np.zeros((1, 27, 27, 1)), [0])
    assert generate(loaded, np.zeros(0, np.int64))["canvases"].shape == (0, 3, 28, 28, 1)
    assert reconstruct(loaded, images[:0], np.zeros(0))["nll_bound"].shape == (0,)


def _ancestors(op):
    """Every op `op` waits for, through its inputs and its control inputs."""
    seen, todo = set(), [op]
    while todo:
        current = todo.pop()
        for parent in [t.op for t in current.inputs] + list(current.control_inputs):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _says(op, text):
    """Whether an Assert op's message constants hold `text`."""
    return any(t.op.type == "Const" and text in str(tf.make_ndarray(t.op.get_attr("value")))
               for t in op.inputs)


def test_the_limit_gates_the_model(exported):
    """The model runs (inside the `If` of a non-empty batch) only after the rows check passed:
    without the gate TensorFlow would run it beside the assert, whatever the request's size."""
    run, _, _ = exported
    model, config = load_draw(run)
    module = DRAWServing(model, config["model"], DRAWLimits(max_rows=ROWS))
    for name, (function, spec) in module.endpoints().items():
        graph = tf.function(function).get_concrete_function(*spec).graph
        ops = graph.get_operations()
        rows_check = [op for op in ops if op.type == "Assert" and _says(op, "max_rows")]
        branches = [op for op in ops if op.type in ("If", "StatelessIf")]
        assert len(rows_check) == 1 and len(branches) == 1, (name, rows_check, branches)
        assert rows_check[0] in _ancestors(branches[0]), name


def test_verify_passes_and_the_onnx_driver_draws_the_savedmodels_images(exported, script, capsys):
    _, version, loaded = exported
    _, checks = verify_version(version)
    assert len(checks) == 7 and all(c.ok for c in checks), checks
    drawer = onnx_driver.DRAWGenerator(version / "onnx")
    seeds = [0, 99, -(2**63)]
    got, want = drawer.generate(seeds), generate(loaded, np.array(seeds, np.int64))
    for key in ("images", "canvases", "windows"):
        np.testing.assert_allclose(got[key], want[key], atol=1e-5)
    with pytest.raises(InputError, match=r"too many seeds.*at most 3 \(max_rows\)"):
        drawer.generate(list(range(ROWS + 1)))
    with pytest.raises(InputError, match="int64"):
        drawer.generate([2**63])
    assert drawer.generate([])["canvases"].shape == (0, 3, 28, 28, 1)
    capsys.readouterr()
    assert script("export/verify.py")([str(version)]) == 0
    assert "7 of 7 checks hold" in capsys.readouterr().out


def test_saved_model_cli_runs_generate(exported, tmp_path):
    """`saved_model_cli run` loads the version as TF Serving does (TF1 loader, no kerasrnn)."""
    _, version, loaded = exported
    seeds = np.array([4, 5], np.int64)
    np.save(tmp_path / "seed.npy", seeds)
    ran = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "run",
                          "--dir", str(version), "--tag_set", "serve", "--signature_def", "generate",
                          "--inputs", f"seed={tmp_path / 'seed.npy'}", "--outdir", str(tmp_path),
                          "--overwrite"], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-2000:]
    want = generate(loaded, seeds)
    for key in ("images", "canvases", "windows"):
        np.testing.assert_allclose(np.load(tmp_path / f"{key}.npy"), want[key], atol=1e-6)


def test_the_onnx_driver_reconstructs_as_the_savedmodel(exported):
    """`DRAWGenerator.reconstruct` (`reconstruct_step.onnx` run T times) is the SavedModel's
    `reconstruct`: the same binarization, noise and bound; bad requests are refused alike."""
    _, version, loaded = exported
    drawer = onnx_driver.DRAWGenerator(version / "onnx")
    grey = np.random.default_rng(5).random((3, 28, 28, 1)).astype(np.float32)
    grey[0, :4] = 0.5  # exactly the threshold: 1
    seeds = [7, -(2**63), 2**63 - 1]
    got, want = drawer.reconstruct(grey, seeds), reconstruct(loaded, grey, np.array(seeds, np.int64))
    np.testing.assert_allclose(got["reconstructions"], want["reconstructions"], atol=1e-5)
    np.testing.assert_allclose(got["nll_bound"], want["nll_bound"], rtol=1e-5)
    assert got["nll_bound"].shape == (3,) and got["nll_bound"].min() > 0
    assert drawer.reconstruct(grey[:0], [])["nll_bound"].shape == (0,)
    for images, seeds, message in (
            (np.zeros((ROWS + 1, 28, 28, 1)), list(range(ROWS + 1)), r"too many images.*at most 3"),
            (grey[:2], [1], "one per image"), (np.full((1, 28, 28, 1), np.nan), [0], "pixels between 0 and 1"),
            (np.full((1, 28, 28, 1), 1.5), [0], "pixels between 0 and 1"),
            (np.zeros((1, 27, 27, 1)), [0], r"images must be \(B, 28, 28, 1\)"),
            (grey[:1], [1.5], "int64")):
        with pytest.raises(InputError, match=message):
            drawer.reconstruct(images, seeds)
