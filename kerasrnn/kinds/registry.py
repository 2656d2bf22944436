"""The model kinds: the one module that names them all.

Each kind is a package `kerasrnn/kinds/<kind>/` (config, model, data, training, export, ONNX
driver); its `kind` module is the face export and verification use
(`kerasrnn.export.kind_plugin`). Scripts, benchmarks and tests find a kind here, by name or from
a run directory or a model card; nothing in the library below imports this module.
"""

from kerasrnn import run_config
from kerasrnn.errors import InputError
from kerasrnn.export import verification, version_files, write_version
from kerasrnn.kinds.captioner import kind as captioner
from kerasrnn.kinds.char_rnn import kind as char_rnn
from kerasrnn.kinds.draw import kind as draw
from kerasrnn.kinds.stn_classifier import kind as stn_classifier

KINDS = {module.KIND: module for module in (char_rnn, stn_classifier, captioner, draw)}


def run_kind(directory):
    """The model kind of a training run directory (`char_rnn`, ...), checked to be exportable.

    Raises:
        InputError: Not a kerasrnn run directory, or a kind nothing exports yet.
    """
    kind = run_config.read_kind(directory)
    if kind not in KINDS:
        raise InputError(f"{directory} holds a {kind!r} model; export knows "
                         f"{', '.join(sorted(KINDS))}")
    return kind


def kind_module(kind):
    """The plug-in module of a model kind (see the module docstring)."""
    if kind not in KINDS:
        raise InputError(f"no exporter for model kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    return KINDS[kind]




def export_model(model_run_dir, base, name, version=None, **options):
    """Exports a finished training run of any kind (`write_version.export_model` with the run's
    kind); returns the version directory."""
    module = kind_module(run_kind(model_run_dir))
    return write_version.export_model(module, model_run_dir, base, name, version, **options)


def verify_version(version_dir, model_run_dir=None, **options):
    """Compares an exported version of any kind with its Keras model
    (`verification.verify_version` with the model card's kind); returns `(card, checks)`."""
    card = version_files.read_model_card(version_dir)
    return verification.verify_version(kind_module(card["kind"]), version_dir, model_run_dir,
                                       card=card, **options)
