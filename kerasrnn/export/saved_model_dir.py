"""A TF Serving model directory, `BASE/NAME/<version>/`, written from a training run directory.

What one version holds:

    BASE/NAME/3/
      saved_model.pb, variables/, fingerprint.pb   the SavedModel (signatures per model kind)
      assets.extra/model_card.json                 what was exported, from what, when (below)
      assets.extra/tf_serving_warmup_requests      one request per signature (TFRecord of
                                                   PredictionLog), if tensorflow-serving-api
                                                   is installed
      onnx/                                        the ONNX files (and what a driver needs)

TF Serving treats every all-digit subfolder of `BASE/NAME` as a version and serves the highest
one; in a version it loads the SavedModel (`saved_model.pb`, `variables/`, `assets/`) and reads
`assets.extra/` for warm-up, and ignores anything else, so the `onnx/` folder travels with the
version without disturbing the server.

Versions are never overwritten: the next free version is one above the highest existing one
(TF Serving would not serve a lower one), a version is written into a hidden temporary folder
`BASE/NAME/.tmp-<version>-<pid>` (not all digits, so a server never loads it) and renamed into
place when complete, and a failed export removes its temporary folder (and the model folder, if
it made it and it is empty). A process killed outright can leave a `.tmp-*` folder behind; the
next export into the same model folder removes those whose process is gone.

Each model kind plugs in as one module, named in `KIND_MODULES` under the kind of its run
directories (`config.json`'s format `kerasrnn.<kind>`). The module provides:

    KIND                                   the kind, e.g. "char_rnn"
    CARD_FIELDS                            `{model card field: type}` its `verify` reads
    LIMITS                                 its `request_limits.RequestLimits` subclass: the limits
                                           every signature checks, one export option per field,
                                           recorded in the model card as `limits`
    export(run_dir, staging_dir, limits, **options) -> dict
        writes the SavedModel (with `write_saved_model`) and `staging_dir/onnx/`; returns
        {"card": kind-specific model card fields (at least `signatures`, the default first,
        and `onnx`), "warmup": [(signature, {input: array})]}
    verify(version_dir, card, run_dir, **options) -> list of `Check`
        loads the Keras model, the SavedModel and the ONNX files and compares them.
"""

import dataclasses
import datetime
import importlib
import inspect
import json
import os
import pathlib
import re
import shutil

import keras
import numpy as np
import tensorflow as tf

from kerasrnn import __version__, run_dir
from kerasrnn.errors import InputError
from kerasrnn.export import version_files

KIND_MODULES = {
    "captioner": "kerasrnn.export.captioner_serving",
    "char_rnn": "kerasrnn.export.char_serving",
    "stn_classifier": "kerasrnn.export.stn_serving",
}
EXTRA_DIR, CARD_FILE, WARMUP_FILE = "assets.extra", "model_card.json", "tf_serving_warmup_requests"
ONNX_DIR = "onnx"
ATOL = 1e-4  # verify's limit on max |delta| between Keras, SavedModel and ONNX outputs
CARD_FORMAT, CARD_FORMAT_VERSION = "kerasrnn.model_card", 1
# The model card fields every kind has, checked on reading (a kind's module adds its own).
CARD_FIELDS = {"name": str, "version": int, "kind": str, "run_dir": str, "signatures": dict,
               "default_signature": str, "limits": dict, "onnx": dict}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # matched whole (fullmatch)


@dataclasses.dataclass
class Check:
    """One comparison `verify` made: what, whether it held, and the numbers."""

    name: str
    ok: bool
    detail: str


def max_diff_check(name, want, got, atol=ATOL):
    """A `Check` that the arrays `got` equal `want` (lists of the same length) within `atol`."""
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)), initial=0.0))
               for a, b in zip(want, got))
    return Check(name, diff <= atol, f"max |delta| {diff:.2e} (limit {atol:.0e})")


def run_kind(directory):
    """The model kind of a training run directory (`char_rnn`, ...), checked to be exportable.

    Raises:
        InputError: Not a kerasrnn run directory, or a kind nothing exports yet.
    """
    directory = pathlib.Path(directory)
    path = directory / run_dir.CONFIG_FILE
    if not path.is_file():
        raise InputError(f"{directory} is not a kerasrnn model directory (no {run_dir.CONFIG_FILE}); "
                         "pass the --out directory of a training script")
    try:
        fmt = json.loads(path.read_text()).get("format", "")
    except (json.JSONDecodeError, AttributeError):
        raise InputError(f"{path} is corrupt (not a JSON object); retrain or restore the file") from None
    if not isinstance(fmt, str) or not fmt.startswith("kerasrnn."):
        raise InputError(f"{directory} is not a kerasrnn model directory ({run_dir.CONFIG_FILE} "
                         f"has format {fmt!r})")
    kind = fmt[len("kerasrnn."):]
    if kind not in KIND_MODULES:
        raise InputError(f"{directory} holds a {kind!r} model; export knows "
                         f"{', '.join(sorted(KIND_MODULES))}")
    return kind


def kind_module(kind):
    """The export module of a model kind (see the module docstring)."""
    if kind not in KIND_MODULES:
        raise InputError(f"no exporter for model kind {kind!r}; known: {', '.join(sorted(KIND_MODULES))}")
    return importlib.import_module(KIND_MODULES[kind])


def _check_options(function, options, kind, also=()):
    accepted = set(inspect.signature(function).parameters) | set(also)
    for key in options:
        if key not in accepted or key == "limits":
            raise InputError(f"{key} does not apply to {kind} models")


def split_options(module, options, kind):
    """`(limits, other export options)` from `export_model`'s options for a kind's module.

    Raises:
        InputError: An option the kind does not take, or a limit that is not an integer >= 1.
    """
    names = module.LIMITS.option_names()
    _check_options(module.export, options, kind, also=names)
    return (module.LIMITS(**{k: v for k, v in options.items() if k in names}),
            {k: v for k, v in options.items() if k not in names})


def _clean_stale_staging(model_dir):
    """Removes `.tmp-<version>-<pid>` folders of exports whose process is gone."""
    for path in model_dir.glob(".tmp-*-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (PermissionError, OverflowError):
            pass


def versions(model_dir):
    """The versions in `BASE/NAME` (its all-digit subfolders), ascending."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir):
    """One above the highest version in `model_dir` (1 for a new model)."""
    return max(versions(model_dir), default=0) + 1


def _check_target(base, name, version):
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(f"--name {name!r}: use letters, digits, '_', '-' and '.', starting with a "
                         "letter or digit")
    model_dir = pathlib.Path(base) / name
    if model_dir.exists() and not model_dir.is_dir():
        raise InputError(f"{model_dir} is a file; give another --name or --base")
    if version is None:
        version = next_version(model_dir)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InputError(f"--version must be an integer >= 1, got {version!r}")
    existing = [p for p in (model_dir.iterdir() if model_dir.is_dir() else ())
                if p.name.isdigit() and int(p.name) == version]
    if existing:
        raise InputError(f"{existing[0]} already exists; versions are never overwritten: "
                         f"leave out --version (the next free one is {next_version(model_dir)}) "
                         "or delete that version yourself")
    return model_dir, version


def write_saved_model(directory, models, endpoints):
    """Writes a SavedModel with Keras's `ExportArchive`; returns its signatures for the model card.

    `ExportArchive` tracks the variables the functions use, so TF Serving's C++ loader (and
    `saved_model_cli run`) restores them; a plain `tf.Module` holding a Keras 3 model loads in
    Python but not there.

    Args:
        directory: The SavedModel folder.
        models: The Keras models whose variables the functions read.
        endpoints: `{signature name: (function, [tf.TensorSpec])}`; each function returns a dict
            of named outputs. The first is also `serving_default`.

    Returns:
        `{signature name: {"inputs": {name: {"dtype", "shape"}}, "outputs": {...}}}`, without
        the `serving_default` alias (the model card names it `default_signature`).
    """
    archive = keras.export.ExportArchive()
    for model in models:
        archive.track(model)
    functions = {name: archive.add_endpoint(name, fn, input_signature=spec)
                 for name, (fn, spec) in endpoints.items()}
    archive.write_out(str(directory), verbose=False)

    def spec(t):
        return {"dtype": t.dtype.name, "shape": None if t.shape.rank is None else t.shape.as_list()}

    described = {}
    for name, fn in functions.items():
        concrete = fn.get_concrete_function()
        described[name] = {
            "inputs": {s.name: spec(s) for s in concrete.structured_input_signature[0]},
            "outputs": {k: spec(v) for k, v in sorted(concrete.structured_outputs.items())}}
    return described


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


def _read_json(path):
    return json.loads(path.read_text()) if path.is_file() else None


def export_model(model_run_dir, base, name, version=None, **options):
    """Exports a trained run to `base/name/<version>/` (SavedModel, ONNX, model card, warm-up).

    Args:
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
    """
    model_run_dir = pathlib.Path(model_run_dir)
    kind = run_kind(model_run_dir)
    module = kind_module(kind)
    config = run_dir.read_run_config(model_run_dir, kind)
    if not (model_run_dir / run_dir.MODEL_FILE).is_file():
        raise InputError(f"{model_run_dir} has no {run_dir.MODEL_FILE}: training has not finished")
    limits, options = split_options(module, options, kind)
    model_dir, version = _check_target(base, name, version)

    made_model_dir = not model_dir.exists()
    model_dir.mkdir(parents=True, exist_ok=True)
    _clean_stale_staging(model_dir)
    staging = model_dir / f".tmp-{version}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    done = False
    try:
        staging.mkdir()
        result = module.export(model_run_dir, staging, limits=limits, **options)
        extra = staging / EXTRA_DIR
        extra.mkdir(exist_ok=True)
        warmup = write_warmup_requests(extra / WARMUP_FILE, name, result.get("warmup", []))
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
            "metrics": _read_json(model_run_dir / run_dir.METRICS_FILE),
            "warmup_requests": (warmup if warmup is not None else
                                "not written: tensorflow-serving-api is not installed (pip "
                                "install tensorflow-serving-api; --no-deps next to tensorflow-cpu)"),
            "default_signature": next(iter(result["card"]["signatures"])),
            "limits": limits.as_dict(),
            **result["card"],
        }
        run_dir.write_json_atomic(extra / CARD_FILE, card)
        if (model_dir / str(version)).exists():  # another exporter got there first
            raise InputError(f"{model_dir / str(version)} appeared while exporting; not overwritten")
        os.rename(staging, model_dir / str(version))
        done = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not done and made_model_dir and not any(model_dir.iterdir()):
            model_dir.rmdir()
    return model_dir / str(version)


def read_model_card(version_dir):
    """Reads `assets.extra/model_card.json` of an exported version.

    Raises:
        InputError: The folder is not a kerasrnn export version.
    """
    version_dir = pathlib.Path(version_dir)
    path = version_dir / EXTRA_DIR / CARD_FILE
    if not version_dir.is_dir():
        raise InputError(f"{version_dir} does not exist; give BASE/NAME/VERSION of an export")
    if not path.is_file() or not (version_dir / "saved_model.pb").is_file():
        raise InputError(f"{version_dir} is not an exported kerasrnn model version (no "
                         f"saved_model.pb or {EXTRA_DIR}/{CARD_FILE}); give BASE/NAME/VERSION")
    card = version_files.read_json(path, {})
    if card.get("format") != CARD_FORMAT or card.get("format_version") != CARD_FORMAT_VERSION:
        raise InputError(f"{path} is not a kerasrnn model card of format version {CARD_FORMAT_VERSION}")
    version_files.require(card, CARD_FIELDS, path)
    if card["kind"] not in KIND_MODULES:
        raise InputError(f"{path} is damaged (kind {card['kind']!r} is none of "
                         f"{', '.join(sorted(KIND_MODULES))}); export the model again")
    return version_files.require(card, kind_module(card["kind"]).CARD_FIELDS, path)


def load_saved_model(version_dir):
    """`tf.saved_model.load` of an exported version, damage reported as one `InputError`.

    Raises:
        InputError: `saved_model.pb` or `variables/` is missing, truncated or damaged.
    """
    try:
        return tf.saved_model.load(str(version_dir))
    except Exception as e:  # damage surfaces as OpError, DecodeError, IndexError, ValueError, ...
        reason = str(getattr(e, "message", e)).strip().splitlines()
        reason = (reason[0] if reason else type(e).__name__)[:160]
        raise InputError(f"the SavedModel in {version_dir} cannot be loaded ({reason}); "
                         "export the model again") from None


def verify_version(version_dir, model_run_dir=None, **options):
    """Compares an exported version with the Keras model it came from.

    Args:
        version_dir: `BASE/NAME/VERSION`.
        model_run_dir: The training run directory; default: the one the model card records.
        **options: Kind-specific settings (e.g. the char model's `prime`, `length`, `seed`).

    Returns:
        `(card, checks)`: the model card and the list of `Check`s.
    """
    card = read_model_card(version_dir)
    model_run_dir = pathlib.Path(model_run_dir or card["run_dir"])
    if not model_run_dir.is_dir():
        raise InputError(f"the model card says the model came from {model_run_dir}, which does not "
                         "exist; pass the run directory with --model")
    module = kind_module(card["kind"])
    _check_options(module.verify, options, card["kind"])
    checks = module.verify(pathlib.Path(version_dir), card, model_run_dir, **options)
    return card, checks
