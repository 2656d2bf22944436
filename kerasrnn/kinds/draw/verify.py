"""Checking a DRAW version: Keras, the SavedModel and ONNX give the same images, canvases, windows,
reconstructions and bounds for the same seeds (`decoder_step.onnx` and `reconstruct_step.onnx`
in every ONNX runtime installed, the ONNX driver's images, reconstructions and bounds against
the SavedModel's)."""

import numpy as np
import tensorflow as tf

from kerasrnn.export import verification
from kerasrnn.export.version_dir import ONNX_DIR, load_saved_model
from kerasrnn.kinds.draw import onnx_driver as driver
from kerasrnn.kinds.draw.model import generator_from, reconstruction_nats
from kerasrnn.kinds.draw.onnx_models import (RECONSTRUCT_INPUTS, RECONSTRUCT_OUTPUTS, STEP_INPUTS,
                                             STEP_OUTPUTS, decoder_step, reconstruct_step)
from kerasrnn.kinds.draw.signatures import BINARY_THRESHOLD
from kerasrnn.kinds.draw.trained import load_draw


def keras_generate(generator, seeds):
    """The Keras generation model on the seeds' noise: `{"images", "canvases", "windows"}`."""
    sizes = generator.input.shape
    out = generator.predict_on_batch(driver.noise(seeds, sizes[1], sizes[2]))
    canvases = np.asarray(out["canvases"])
    return {"images": canvases[:, -1], "canvases": canvases, "windows": np.asarray(out["windows"])}


def keras_reconstruct(model, images, seeds):
    """The training model on the binarized images and the seeds' noise: `{"reconstructions",
    "nll_bound"}` (the bound is the training loss of each image)."""
    binary = (images >= BINARY_THRESHOLD).astype(np.float32)
    steps, latent = model.inputs[1].shape[1:]
    out = model.predict_on_batch([binary, driver.noise(seeds, steps, latent)])
    logits = np.asarray(out["canvas"])
    bound = np.asarray(reconstruction_nats(binary, logits)) + np.asarray(out["kl"])
    return {"reconstructions": 1 / (1 + np.exp(-logits.astype(np.float64))), "nll_bound": bound}


def verify(version_dir, card, run_dir, batch_size=4, seed=1234):
    """Compares the Keras models, the SavedModel and the ONNX files (see `verify.py`), on
    `batch_size` seeds from `seed` (fewer where the version's `max_rows` is lower)."""
    model, config = load_draw(run_dir)
    if card.get("model") != config["model"]:
        return [verification.Check("model", False, "the run's model settings differ from the export's")]
    generator = generator_from(model, **config["model"])
    rows = min(batch_size, (card.get("limits") or {}).get("max_rows") or batch_size)
    seeds = np.arange(seed, seed + rows, dtype=np.int64)
    loaded = load_saved_model(version_dir)
    close = verification.max_diff_check
    names = ("images", "canvases", "windows")
    want = keras_generate(generator, seeds)
    served = {k: v.numpy() for k, v in loaded.signatures["generate"](seed=tf.constant(seeds)).items()}
    checks = [close(f"generate {'+'.join(names)}: Keras vs SavedModel",
                    [want[k] for k in names], [served[k] for k in names])]

    grey = np.random.default_rng(seed).random((rows, *config["model"]["image_shape"])).astype(np.float32)
    want_r = keras_reconstruct(model, grey, seeds)
    got_r = {k: v.numpy() for k, v in loaded.signatures["reconstruct"](
        images=tf.constant(grey), seed=tf.constant(seeds)).items()}
    checks.append(close("reconstructions: Keras vs SavedModel", [want_r["reconstructions"]],
                        [got_r["reconstructions"]]))
    # The bound is hundreds of nats: float32 rounding is relative.
    scale = max(1.0, float(np.max(np.abs(want_r["nll_bound"]))))
    checks.append(close("nll_bound: Keras vs SavedModel (relative)", [want_r["nll_bound"] / scale],
                        [got_r["nll_bound"] / scale]))

    onnx_dir = version_dir / ONNX_DIR
    step = decoder_step(generator)
    rng = np.random.default_rng(seed)
    inputs = {name: rng.normal(0, 0.5, (rows, *t.shape[1:])).astype(np.float32)
              for name, t in zip(STEP_INPUTS, step.inputs)}
    step_want = step.predict_on_batch([inputs[n] for n in STEP_INPUTS])
    checks.append(verification.runtime_check("decoder step: Keras vs ONNX", [
        (onnx_dir / driver.STEP_FILE, inputs,
         {n: np.asarray(v) for n, v in zip(STEP_OUTPUTS, step_want)})]))
    step = reconstruct_step(model)
    inputs = {name: rng.normal(0, 0.5, (rows, *t.shape[1:])).astype(np.float32)
              for name, t in zip(RECONSTRUCT_INPUTS, step.inputs)}
    inputs["images"] = rng.random(inputs["images"].shape).astype(np.float32)
    step_want = dict(zip(RECONSTRUCT_OUTPUTS, step.predict_on_batch([inputs[n] for n in RECONSTRUCT_INPUTS])))
    # The states and the window here; the bound (hundreds of nats) below, relative, via the driver.
    checks.append(verification.runtime_check("reconstruct step: Keras vs ONNX", [
        (onnx_dir / driver.RECONSTRUCT_FILE, inputs,
         {n: np.asarray(v) for n, v in step_want.items() if n not in ("next_kl", "nll_bound")})]))
    drawer = driver.DRAWGenerator(onnx_dir)
    drawn = drawer.generate(seeds)
    checks.append(close(f"generate {'+'.join(names)}: SavedModel vs ONNX driver",
                        [served[k] for k in names], [drawn[k] for k in names]))
    redrawn = drawer.reconstruct(grey, seeds)
    checks.append(close("reconstruct reconstructions+nll_bound (relative): SavedModel vs ONNX driver",
                        [got_r["reconstructions"], got_r["nll_bound"] / scale],
                        [redrawn["reconstructions"], redrawn["nll_bound"] / scale]))
    return checks
