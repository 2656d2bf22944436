"""How a model kind plugs into export: the protocol of `kerasrnn/kinds/<kind>/kind.py`, and the
checks of the export and verify options a caller passes for one kind.

`kerasrnn.kinds.registry` names every kind's `kind` module; export (`write_version`) and
verification take the module as an argument. A kind's `kind` module provides:


    KIND                                   the kind, e.g. "char_rnn" (`config.json`'s format
                                           `kerasrnn.<kind>`, the model card's `kind`)
    RUN_FORMAT                             its `run_config.RunFormat` (what its config.json holds)
    CARD_FIELDS                            `{model card field: type}` its `verify` reads
    LIMITS                                 its `request_limits.RequestLimits` subclass: the limits
                                           every signature checks, one export option per field,
                                           recorded in the model card as `limits`
    export(run_dir, staging_dir, limits, **options) -> dict
        writes the SavedModel (with `saved_model.write_saved_model`) and `staging_dir/onnx/`; returns
        {"card": kind-specific model card fields (at least `signatures`, the default first,
        and `onnx`), "warmup": [(signature, {input: array})]}
    verify(version_dir, card, run_dir, **options) -> list of `Check`
        loads the Keras model, the SavedModel and the ONNX files and compares them.
"""

import inspect

from kerasrnn.errors import InputError


def check_options(function, options, kind, also=()):
    """Raises `InputError` for an option `function` (a kind's `export` or `verify`) does not
    take; `also` names more accepted options."""
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
    check_options(module.export, options, kind, also=names)
    return (module.LIMITS(**{k: v for k, v in options.items() if k in names}),
            {k: v for k, v in options.items() if k not in names})
