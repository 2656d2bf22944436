"""Proving an exported version computes what the trained Keras model computes: the checks each
kind's `verify` returns, and `verify_version`, what `export/verify.py` runs."""

import dataclasses
import pathlib

import numpy as np

from kerasrnn.errors import InputError
from kerasrnn.export import version_files
from kerasrnn.export.kinds import _check_options, kind_module
from kerasrnn.export.version_dir import CARD_FILE, EXTRA_DIR, read_model_card

ATOL = 1e-4  # verify's limit on max |delta| between Keras, SavedModel and ONNX outputs


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
    module = kind_module(card["kind"])  # an InputError for a kind export does not know
    version_files.require(card, module.CARD_FIELDS, pathlib.Path(version_dir) / EXTRA_DIR / CARD_FILE)
    model_run_dir = pathlib.Path(model_run_dir or card["run_dir"])
    if not model_run_dir.is_dir():
        raise InputError(f"the model card says the model came from {model_run_dir}, which does not "
                         "exist; pass the run directory with `model_run_dir`")
    _check_options(module.verify, options, card["kind"])
    checks = module.verify(pathlib.Path(version_dir), card, model_run_dir, **options)
    return card, checks
