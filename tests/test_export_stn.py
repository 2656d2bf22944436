"""The STN classifier's export: SavedModel `classify`/`rectify`, ONNX classifier + rectifier, verify.

A tiny ST-CNN and CNN are trained for one epoch on generated discs and rings; the ST-CNN's
transformer kernel is then set to random values, so theta is far from the identity and a wrongly
exported grid or sampler shows in the rectified images.
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

from kerasrnn import run_dir  # noqa: E402
from kerasrnn.kinds.stn_classifier.model import TRANSFORMER_NAME, rectifier  # noqa: E402
from kerasrnn.kinds.stn_classifier.train import train_stn  # noqa: E402
from kerasrnn.kinds.stn_classifier.trained import load_stn_model  # noqa: E402
from kerasrnn.kinds.stn_classifier.config import STNConfig  # noqa: E402


pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="export needs the TensorFlow backend")


def discs_and_rings(n, rng):
    """uint8 (n, 28, 28) discs (label 0) and rings (label 1)."""
    yy, xx = np.mgrid[:28, :28]
    labels = rng.integers(0, 2, n)
    images = np.zeros((n, 28, 28), np.uint8)
    for i, label in enumerate(labels):
        d = np.hypot(yy - rng.uniform(10, 18), xx - rng.uniform(10, 18))
        r = rng.uniform(4, 7)
        images[i] = 255 * ((d < r) & ((d > r - 2) if label else True))
    return images, labels.astype(np.uint8)


@pytest.fixture(scope="module")
def exports(tmp_path_factory, script):
    """{model: (run_dir, version_dir)} for a tiny trained ST-CNN and CNN."""
    root = tmp_path_factory.mktemp("stn_export")
    rng = np.random.default_rng(0)
    data = (discs_and_rings(96, rng), discs_and_rings(32, rng))
    out = {}
    for model in ("st-cnn", "cnn"):
        keras.utils.set_random_seed(0)
        run = root / model
        train_stn(STNConfig(distortion="R", model=model, epochs=1, batch_size=32, train_size=64,
                            val_size=32), data, run, verbose=0)
        if model == "st-cnn":  # push theta away from the identity
            trained, _ = load_stn_model(run)
            st = trained.get_layer(TRANSFORMER_NAME)
            st.kernel.assign(np.random.default_rng(1).normal(0, 0.1, st.kernel.shape).astype("float32"))
            run_dir.save_trained_model(run, trained, json.loads((run / "metrics.json").read_text()))
        assert script("export/export_model.py")(["--model", str(run), "--name", model,
                                                 "--base", str(root / "saved_models")]) == 0
        out[model] = run, root / "saved_models" / model / "1"
    return out


@pytest.mark.parametrize("model", ["st-cnn", "cnn"])
def test_export_writes_a_version_that_verify_accepts(exports, model, capsys, script):
    run, version = exports[model]
    onnx = sorted(p.name for p in (version / "onnx").iterdir())
    card = json.loads((version / "assets.extra" / "model_card.json").read_text())
    assert card["kind"] == "stn_classifier" and card["default_signature"] == "classify"
    assert card["model"] == {"input_size": 28, "model": model, "transform": "affine", "dropout": 0.0}
    assert card["metrics"]["epochs"] == 1 and card["num_classes"] == 10
    assert card["training_data"] == {"dataset": "MNIST", "distortion": "R", "train_size": 64,
                                     "val_size": 32}
    assert card["signatures"]["classify"]["inputs"] == {"images": {"dtype": "float32",
                                                                   "shape": [None, 28, 28, 1]}}
    if model == "st-cnn":
        assert onnx == ["classifier.onnx", "limits.json", "rectifier.onnx"]
        assert set(card["signatures"]) == {"classify", "rectify"}
    else:
        assert onnx == ["classifier.onnx", "limits.json"] and set(card["signatures"]) == {"classify"}
    capsys.readouterr()
    code = script("export/verify.py")([str(version)])
    out = capsys.readouterr().out
    assert code == 0, out
    checks = 5 if model == "st-cnn" else 3
    assert f"{checks} of {checks} checks hold" in out and "FAIL" not in out


def test_signatures_compute_the_keras_outputs_and_refuse_bad_images(exports):
    run, version = exports["st-cnn"]
    model, _ = load_stn_model(run)
    images = np.random.default_rng(2).random((3, 28, 28, 1)).astype("float32")
    loaded = tf.saved_model.load(str(version))
    out = loaded.signatures["classify"](images=tf.constant(images))
    logits = model.predict_on_batch(images)
    np.testing.assert_allclose(out["logits"].numpy(), logits, atol=1e-5)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(out["class_ids"].numpy(), logits.argmax(-1))
    rectified = loaded.signatures["rectify"](images=tf.constant(images))["rectified"].numpy()
    want = rectifier(model).predict_on_batch(images)
    assert np.abs(want - images).max() > 0.05  # the transformer really moves the image
    np.testing.assert_allclose(rectified, want, atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images \[1,27,27,1\] is not compatible"):
        loaded.signatures["classify"](images=tf.zeros([1, 27, 27, 1]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images \[1,28,28\] is not compatible"):
        loaded.signatures["rectify"](images=tf.zeros([1, 28, 28]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float tensor"):
        loaded.signatures["classify"](images=tf.zeros([1, 28, 28, 1], tf.uint8))


def test_saved_model_cli_runs_classify(exports, tmp_path):
    """`saved_model_cli run` loads the version as TF Serving does (TF1 loader, no kerasrnn)."""
    run, version = exports["cnn"]
    images = np.random.default_rng(3).random((2, 28, 28, 1)).astype("float32")
    np.save(tmp_path / "images.npy", images)
    ran = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "run",
                          "--dir", str(version), "--tag_set", "serve", "--signature_def", "classify",
                          "--inputs", f"images={tmp_path / 'images.npy'}", "--outdir", str(tmp_path),
                          "--overwrite"], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-2000:]
    model, _ = load_stn_model(run)
    logits = model.predict_on_batch(images)
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), logits, atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "class_ids.npy"), logits.argmax(-1))
