"""Proving an exported version computes what the trained Keras model computes: the checks each
kind's `verify` returns, and `verify_version`, what `export/verify.py` runs.

The ONNX files are checked in every ONNX runtime installed (`runtime_check`,
`kerasrnn.export.onnx_runtimes`): ONNX Runtime (Python), OpenVINO and ONNX Runtime for Node.js."""

import dataclasses
import pathlib

import numpy as np

from kerasrnn.errors import InputError
from kerasrnn.export import onnx_runtimes, version_files
from kerasrnn.export.kind_plugin import check_options
from kerasrnn.export.version_files import CARD_FILE, EXTRA_DIR, read_model_card

ATOL = 1e-4  # verify's limit on max |delta| between Keras, SavedModel and ONNX outputs (every runtime)


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


def runtime_check(name, graphs, atol=ATOL):
    """A `Check` that ONNX files compute the Keras outputs in every ONNX runtime installed.

    Each runtime of `onnx_runtimes.find_runtimes()` that is installed runs every graph; the
    detail gives each one's max |delta| to Keras (or why it failed), and names those not
    installed. It holds when every installed runtime is within `atol` on every output.

    Args:
        name: The check's name.
        graphs: A list of `(path, inputs, want)`: an `.onnx` file, `{input name: array}` and
            `{output name: the Keras array}`.
        atol: The limit on max |delta|.
    """
    runtimes = onnx_runtimes.find_runtimes()
    runs = onnx_runtimes.run_graphs([(path, inputs) for path, inputs, _ in graphs], runtimes)
    if not runs:
        return Check(name, False, "no ONNX runtime is installed: "
                     + "; ".join(f"{r.label}: {r.missing}" for r in runtimes))
    parts, ok = [], True
    for run in runs.values():
        if run.error:
            parts.append(f"{run.runtime.label} FAILED: {run.error}")
            ok = False
            continue
        missing = [f"{pathlib.Path(path).name}:{n}" for (path, _, want), got in zip(graphs, run.outputs)
                   for n in want if n not in got]
        if missing:
            parts.append(f"{run.runtime.label} FAILED: no output {', '.join(missing)}")
            ok = False
            continue
        diff = max(float(np.max(np.abs(np.asarray(got[n]) - np.asarray(w)), initial=0.0))
                   for (_, _, want), got in zip(graphs, run.outputs) for n, w in want.items())
        ok = ok and diff <= atol
        parts.append(f"{run.runtime.label} {diff:.2e}")
    skipped = [r.label for r in runtimes if r.missing]
    return Check(name, ok, f"max |delta| {', '.join(parts)} (limit {atol:.0e})"
                 + (f"; not installed: {', '.join(skipped)}" if skipped else ""))


def verify_version(module, version_dir, model_run_dir=None, card=None, **options):
    """Compares an exported version with the Keras model it came from.

    Args:
        module: The version's kind's `kind` module (`kerasrnn.kinds.registry.kind_module`).
        version_dir: `BASE/NAME/VERSION`.
        model_run_dir: The training run directory; default: the one the model card records.
        card: The version's model card, if already read.
        **options: Kind-specific settings (e.g. the char model's `prime`, `length`, `seed`).

    Returns:
        `(card, checks)`: the model card and the list of `Check`s.
    """
    card = card if card is not None else read_model_card(version_dir)
    if card["kind"] != module.KIND:
        raise InputError(f"{version_dir} holds a {card['kind']} model, not a {module.KIND} model")
    version_files.require(card, module.CARD_FIELDS, pathlib.Path(version_dir) / EXTRA_DIR / CARD_FILE)
    model_run_dir = pathlib.Path(model_run_dir or card["run_dir"])
    if not model_run_dir.is_dir():
        raise InputError(f"the model card says the model came from {model_run_dir}, which does not "
                         "exist; pass the run directory with `model_run_dir`")
    check_options(module.verify, options, card["kind"])
    checks = module.verify(pathlib.Path(version_dir), card, model_run_dir, **options)
    return card, checks
