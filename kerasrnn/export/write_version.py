"""Writing one exported version from a training run directory: SavedModel, ONNX, model card and
TF Serving warm-up requests (the layout: `kerasrnn.export.version_dir`).

Versions are never overwritten: the next free version is one above the highest existing one
(TF Serving would not serve a lower one), a version is written into a hidden temporary folder
`BASE/NAME/.tmp-<version>-XXXXXXXX-<pid>` (not all digits, so a server never loads it; made
exclusively under a random name, so nothing planted there is written into) and renamed into
place when complete. A failed export removes its temporary folder and the folders it made for
`BASE/NAME` that are left empty, and names the cause (a full disk: "cannot write
BASE/NAME/VERSION (no space left on the disk)"). A process killed outright can leave a `.tmp-*`
folder behind; the next export into the same model folder removes those whose process is gone.
"""

import datetime
import math
import os
import pathlib
import shutil
import tempfile

import keras
import tensorflow as tf

from kerasrnn import __version__, run_config, run_dir
from kerasrnn.errors import InputError
from kerasrnn.export.kind_plugin import split_options
from kerasrnn.export.version_dir import WARMUP_FILE, is_version_name, next_version
from kerasrnn.export.version_files import (CARD_FILE, CARD_FORMAT, CARD_FORMAT_VERSION, EXTRA_DIR,
                                           MODEL_NAME_RULE, model_name_problem)
from kerasrnn.files import AGAIN_HINT, creation_mode, disk_error, read_json_file, write_json_atomic


def _check_target(base, name, version):
    problem = model_name_problem(name)
    if problem is not None:
        raise InputError(f"name {problem}: {MODEL_NAME_RULE}")
    model_dir = pathlib.Path(base) / name
    if model_dir.exists() and not model_dir.is_dir():
        raise InputError(f"{model_dir} is a file; give another model name or base folder")
    if version is None:
        version = next_version(model_dir)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InputError(f"version must be an integer >= 1, got {version!r}")
    existing = [p for p in (model_dir.iterdir() if model_dir.is_dir() else ())
                if is_version_name(p.name) and int(p.name) == version]
    if existing:
        raise InputError(f"{existing[0]} already exists; versions are never overwritten: "
                         f"export without a version (the next free one is {next_version(model_dir)}) "
                         "or delete that version yourself")
    return model_dir, version


def _clean_stale_staging(model_dir):
    """Removes `.tmp-<version>-...-<pid>` folders of exports whose process is gone."""
    for path in model_dir.glob(".tmp-*-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if not is_version_name(pid) or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (PermissionError, OverflowError):
            pass


def _missing_folders(folder):
    """`folder` and those above it that do not exist yet, deepest first."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing.append(path)
    return missing


def _remove_empty(folders):
    """Removes each of `folders` (deepest first) that is empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            break


def write_warmup_requests(path, model_name, requests):
    """Writes TF Serving's warm-up file: a TFRecord of `PredictionLog`s, one per request.

    Args:
        path: `.../assets.extra/tf_serving_warmup_requests`.
        model_name: The served model's name.
        requests: List of `(signature_name, {input_name: numpy array})`.

    Returns:
        The number of requests written, or `None` (nothing written) when
        `tensorflow_serving.apis` (pip package `tensorflow-serving-api`) is not installed.
    """
    try:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    except ImportError:
        return None
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, inputs in requests:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return len(requests)


def export_model(module, model_run_dir, base, name, version=None, **options):
    """Exports a trained run to `base/name/<version>/` (SavedModel, ONNX, model card, warm-up).

    Args:
        module: The run's kind's `kind` module (`kerasrnn.kinds.registry.kind_module`).
        model_run_dir: A finished training run directory (what a training script's --out holds).
        base: The models folder TF Serving watches (e.g. `saved_models`).
        name: The model's name (a folder of `base`).
        version: Integer version >= 1; default: the next free one.
        **options: Kind-specific export options: the fields of the kind's `LIMITS` (e.g.
            `max_rows`, the char model's `max_length`) and its `export`'s own (the captioner's
            `max_length`).

    Returns:
        The version directory (`pathlib.Path`).

    Raises:
        InputError: Not an exportable run, a bad name or version, or the version exists; all
            checked before anything is written.
        FileError: A write failed (a full disk, a read-only folder), naming the version; nothing
            is left behind.
    """
    model_run_dir = pathlib.Path(model_run_dir)
    kind = module.KIND
    config = run_config.read_run_config(model_run_dir, module.RUN_FORMAT)
    if not (model_run_dir / run_dir.MODEL_FILE).is_file():
        raise InputError(f"{model_run_dir} has no {run_dir.MODEL_FILE}: training has not finished")
    limits, options = split_options(module, options, kind)
    model_dir, version = _check_target(base, name, version)

    target = model_dir / str(version)
    made = _missing_folders(model_dir)
    staging, done = None, False
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        _clean_stale_staging(model_dir)
        staging = pathlib.Path(tempfile.mkdtemp(dir=model_dir, prefix=f".tmp-{version}-",
                                                suffix=f"-{os.getpid()}"))
        staging.chmod(creation_mode(folder=True))  # the version keeps a plain mkdir's permissions
        result = module.export(model_run_dir, staging, limits=limits, **options)
        extra = staging / EXTRA_DIR
        extra.mkdir(exist_ok=True)
        warmup = write_warmup_requests(extra / WARMUP_FILE, name, result.get("warmup", []))
        metrics = model_run_dir / run_dir.METRICS_FILE
        card = {
            "format": CARD_FORMAT, "format_version": CARD_FORMAT_VERSION,
            "name": name, "version": version, "kind": kind,
            "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "kerasrnn_version": __version__,
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            "run_dir": str(model_run_dir.resolve()),
            "trained_with_kerasrnn": config.get("kerasrnn_version"),
            "model": config.get("model"),
            "training": config.get("training"),
            "metrics": read_json_file(metrics) if metrics.is_file() else None,
            "warmup_requests": (warmup if warmup is not None else
                                "not written: tensorflow-serving-api is not installed (pip "
                                "install tensorflow-serving-api; --no-deps next to tensorflow-cpu)"),
            "default_signature": next(iter(result["card"]["signatures"])),
            "limits": limits.as_dict(),
            **result["card"],
        }
        write_json_atomic(extra / CARD_FILE, strict_json(card), AGAIN_HINT)
        if target.exists():  # another exporter got there first
            raise InputError(f"{target} appeared while exporting; not overwritten")
        os.rename(staging, target)
        done = True
    except Exception as e:  # a failed write, in Python or inside TensorFlow, named as one
        if isinstance(e, OSError):  # named by the version, not by a file of the staging folder
            e = OSError(e.errno, e.strerror)
        problem = disk_error(e, where=target, hint=AGAIN_HINT)
        if problem is None or problem is e:
            raise
        raise problem from None
    finally:
        if staging is not None and not done:
            shutil.rmtree(staging, ignore_errors=True)
        if not done:
            _remove_empty(made)
    return target


def strict_json(value):
    """`value` with every float that is not finite (a score that could not be computed, NaN)
    replaced by None, so the model card is JSON every runtime parses (JavaScript's `JSON.parse`
    refuses the `NaN` Python's `json` writes)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value
