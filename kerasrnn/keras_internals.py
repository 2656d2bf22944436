"""Every private Keras API the package relies on, each behind one function, and the one check
of the Keras version they were tested on (`TESTED_KERAS`, which the distributed-training fixes
of `kerasrnn.train.keras_distribute_fixes` share).

The check runs on use, not on import: reading a run, loading a model and exporting use only
public Keras, so an untested Keras is refused only where a private API is reached, and only
when that API is missing or changed there (`AttributeError`, `ImportError` or `TypeError` from
the call): an untested Keras that still has it works. On a tested Keras such an error is a
bug of ours and is raised as it is.

* `model_bytes`: `keras.src.saving.saving_lib.save_model` into a file object (the public
  `keras.saving.save_model` takes only a path ending in `.keras`);
* `weights_bytes`: `saving_lib.H5IOStore` and `saving_lib._save_state` (the public
  `save_weights` takes only a path, and HDF5 writing to a disk can crash on a full one);
* `steps_trained`: `optimizer._iterations` (the public `iterations` counts weight updates,
  `gradient_accumulation_steps` batches each);
* `set_initial_epoch`: `model._initial_epoch`, which `fit` reads after its callbacks'
  `on_train_begin` to start a restored run in its epoch;
* `trained_variable`: `optimizer._trainable_variables` and `_get_variable_index` (which
  variable an `update_step` is updating).

The distributed-training fixes (`kerasrnn.train.keras_distribute_fixes`) replace private
methods of Keras's TensorFlow trainer and optimizer wholesale; they check `TESTED_KERAS`
before installing anything and refuse any other Keras.
"""

import contextlib
import io

import keras

from kerasrnn.errors import InputError

TESTED_KERAS = ("3.15.1",)  # the `cpu` and `gpu` extras and constraints.txt pin the same (a test checks)


def refusal(what):
    """The one-line `InputError` for a private Keras API (`what`) this Keras lacks or changed."""
    return InputError(
        f"kerasrnn relies on Keras's private {what}, which keras {keras.__version__} lacks or "
        f"changed; kerasrnn is tested on keras {' / '.join(TESTED_KERAS)}: install it (the "
        "package's cpu and gpu extras pin it: pip install -e '.[cpu]')")


@contextlib.contextmanager
def _private(what):
    """Runs a private Keras call: on a Keras outside `TESTED_KERAS`, an `AttributeError`,
    `ImportError` or `TypeError` it raises (the API is gone or its signature changed) becomes
    `refusal(what)`; on a tested Keras every error stays as it is."""
    try:
        yield
    except (AttributeError, ImportError, TypeError):
        if keras.__version__ in TESTED_KERAS:
            raise
        raise refusal(what) from None


def _saving_lib():
    from keras.src.saving import saving_lib

    return saving_lib


def model_bytes(model):
    """`model` as the bytes of a `.keras` file, serialised in memory.

    Relies on `keras.src.saving.saving_lib.save_model(model, file_object)`.
    """
    buffer = io.BytesIO()
    with _private("keras.src.saving.saving_lib.save_model"):
        _saving_lib().save_model(model, buffer)
    return buffer.getvalue()


def weights_bytes(model):
    """`model`'s weights (optimizer state included) as the bytes of a `.weights.h5` file,
    serialised in memory: HDF5 never writes to the disk, where a full disk can crash it.

    Relies on `saving_lib.H5IOStore(file_object, mode="w")` and `saving_lib._save_state(model,
    weights_store=, assets_store=, inner_path=, visited_saveables=)`, the two steps of
    `model.save_weights`.
    """
    buffer = io.BytesIO()
    with _private("keras.src.saving.saving_lib.H5IOStore and _save_state"):
        saving_lib = _saving_lib()
        store = saving_lib.H5IOStore(buffer, mode="w")
        try:
            saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="",
                                   visited_saveables=set())
        finally:
            store.close()
    return buffer.getvalue()


def steps_trained(model):
    """The batches `model` has trained on, resumes included: its optimizer's step counter.

    With `gradient_accumulation_steps` k the optimizer updates the weights once every k
    batches, and Keras's `optimizer.iterations` counts those updates; positions in the data,
    backups and `steps` settings count batches, which is this.

    Relies on `optimizer._iterations` (a scalar variable, one per batch).
    """
    with _private("optimizer._iterations"):
        iterations = model.optimizer._iterations
    return int(iterations.numpy())


def inside_accumulation(model):
    """Whether `model`'s optimizer holds gradients summed since its last weight update (with
    `gradient_accumulation_steps`): training stops, and backs up, only when it does not."""
    accumulation = model.optimizer.gradient_accumulation_steps
    return bool(accumulation) and steps_trained(model) % accumulation != 0


def set_initial_epoch(model, epoch):
    """Makes the running `fit` of `model` start at `epoch` (0-based); call it from a callback's
    `on_train_begin`, as Keras's `BackupAndRestore` does.

    Relies on `model._initial_epoch`, which `fit` reads right after `on_train_begin` (it is
    `None` on a model outside that; setting a name Keras no longer reads would do nothing, so
    a model without it is refused on an untested Keras).
    """
    with _private("model._initial_epoch"):
        if not hasattr(model, "_initial_epoch"):
            raise AttributeError("_initial_epoch")
    model._initial_epoch = epoch


def trained_variable(optimizer, variable):
    """The Keras variable of `optimizer`'s trainable variables that `variable`, as its
    `update_step` receives it (on TensorFlow the backend variable), stands for.

    Relies on `optimizer._trainable_variables` and `optimizer._get_variable_index(variable)`.
    """
    with _private("optimizer._trainable_variables and _get_variable_index"):
        return optimizer._trainable_variables[optimizer._get_variable_index(variable)]
