"""The model kinds export knows, and how a kind plugs in.

Each kind is a package `kerasrnn/export/<package>/` (signatures, export, verify, ONNX driver)
whose `kind` module declares the plug-in protocol; `kind_modules()` reads each package's
declared `KIND`, the kind of its run directories (`config.json`'s format `kerasrnn.<kind>`).
A kind's `kind` module provides:


    KIND                                   the kind, e.g. "char_rnn"
    CARD_FIELDS                            `{model card field: type}` its `verify` reads
    LIMITS                                 its `request_limits.RequestLimits` subclass: the limits
                                           every signature checks, one export option per field,
                                           recorded in the model card as `limits`
    export(run_dir, staging_dir, limits, **options) -> dict
        writes the SavedModel (with `write_version.write_saved_model`) and `staging_dir/onnx/`; returns
        {"card": kind-specific model card fields (at least `signatures`, the default first,
        and `onnx`), "warmup": [(signature, {input: array})]}
    verify(version_dir, card, run_dir, **options) -> list of `Check`
        loads the Keras model, the SavedModel and the ONNX files and compares them.
"""

import functools
import importlib
import inspect
import pathlib

from kerasrnn import run_dir
from kerasrnn.errors import InputError
from kerasrnn.files import CONFIG_MAX_BYTES, damaged, read_json_file, type_name

KIND_PACKAGES = ("char", "stn", "captioner")  # kerasrnn/export/<package>/kind.py


@functools.cache
def kind_modules():
    """`{kind: its plug-in module}`, from the `KIND` each package's `kind` module declares."""
    modules = [importlib.import_module(f"kerasrnn.export.{p}.kind") for p in KIND_PACKAGES]
    return {module.KIND: module for module in modules}


def run_kind(directory):
    """The model kind of a training run directory (`char_rnn`, ...), checked to be exportable.

    Raises:
        InputError: Not a kerasrnn run directory, or a kind nothing exports yet.
    """
    directory = pathlib.Path(directory)
    path = directory / run_dir.CONFIG_FILE
    if not path.is_file():
        raise InputError(f"{directory} is not a kerasrnn model directory (no {run_dir.CONFIG_FILE}); "
                         "give the run directory a training script wrote")
    config = read_json_file(path, max_bytes=CONFIG_MAX_BYTES)
    if not isinstance(config, dict):
        raise damaged(path, f"the file is {type_name(config)}, not an object")
    fmt = config.get("format", "")
    if not isinstance(fmt, str) or not fmt.startswith("kerasrnn."):
        raise InputError(f"{directory} is not a kerasrnn model directory ({run_dir.CONFIG_FILE} "
                         f"has format {fmt!r})")
    kind = fmt[len("kerasrnn."):]
    if kind not in kind_modules():
        raise InputError(f"{directory} holds a {kind!r} model; export knows "
                         f"{', '.join(sorted(kind_modules()))}")
    return kind


def kind_module(kind):
    """The plug-in module of a model kind (see the module docstring)."""
    modules = kind_modules()
    if kind not in modules:
        raise InputError(f"no exporter for model kind {kind!r}; known: {', '.join(sorted(modules))}")
    return modules[kind]


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
