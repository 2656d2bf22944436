"""The private Keras APIs the package relies on (`kerasrnn.keras_internals`): each still exists
and does what its wrapper says in the installed Keras, the installed Keras is a tested one, an
untested Keras that lacks one is refused in one line naming the tested version and the fix,
and no other library module reaches into `keras.src`."""

import ast
import pathlib

import keras
import numpy as np
import pytest

from kerasrnn import keras_internals
from kerasrnn.errors import InputError
from kerasrnn.keras_internals import (TESTED_KERAS, inside_accumulation, model_bytes, set_initial_epoch,
                                      steps_trained, trained_variable, weights_bytes)

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _model(accumulation=None):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1, gradient_accumulation_steps=accumulation), "mse")
    return model


def _data(n=6):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def test_the_installed_keras_is_a_tested_one():
    """Fails on another Keras: the wrappers are tested on `TESTED_KERAS` only (the
    distributed-training fixes check the same constant)."""
    from kerasrnn.train import keras_distribute_fixes

    assert keras.__version__ in TESTED_KERAS, (keras.__version__, TESTED_KERAS)
    assert keras_distribute_fixes.TESTED_KERAS is TESTED_KERAS


def test_steps_trained_counts_batches_where_iterations_counts_updates():
    model = _model(accumulation=2)
    x, y = _data(6)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)  # 3 batches: 1 weight update
    assert steps_trained(model) == 3
    assert int(model.optimizer.iterations.numpy()) == 1
    assert inside_accumulation(model)


def test_weights_bytes_is_what_load_weights_reads(tmp_path):
    model = _model()
    x, y = _data()
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    path = tmp_path / "w.weights.h5"
    path.write_bytes(weights_bytes(model))
    other = _model()
    other.optimizer.build(other.trainable_variables)
    other.load_weights(path)
    for a, b in zip(model.weights + model.optimizer.variables, other.weights + other.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert steps_trained(other) == 3


def test_model_bytes_is_what_load_model_reads(tmp_path):
    model = _model()
    x, _ = _data()
    path = tmp_path / "m.keras"
    path.write_bytes(model_bytes(model))
    np.testing.assert_allclose(keras.saving.load_model(path).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=0, atol=0)


class _StartAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.seen = epoch, []

    def on_train_begin(self, logs=None):
        set_initial_epoch(self.model, self.epoch)

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


def test_set_initial_epoch_starts_fit_in_that_epoch():
    model = _model()
    x, y = _data()
    start = _StartAt(3)
    history = model.fit(x, y, batch_size=2, epochs=5, verbose=0, callbacks=[start])
    assert start.seen == [3, 4] and len(history.history["loss"]) == 2


def test_trained_variable_names_the_variable_update_step_updates():
    seen = []

    class Recording(keras.optimizers.SGD):
        def update_step(self, gradient, variable, learning_rate):
            seen.append(trained_variable(self, variable).path)
            return super().update_step(gradient, variable, learning_rate)

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(Recording(0.1), "mse")
    model.fit(*_data(2), batch_size=2, epochs=1, verbose=0)
    assert sorted(seen) == sorted(v.path for v in model.trainable_variables)


class _Bare:
    """An object without any of the private names (what a Keras that renamed them gives)."""

    optimizer = None


def _saving_lib_without(monkeypatch, name):
    from keras.src.saving import saving_lib

    monkeypatch.delattr(saving_lib, name)


# (what the refusal names, a call reaching a missing private API, the set-up removing it)
MISSING = [
    ("saving_lib.save_model", lambda: model_bytes(_model()),
     lambda mp: _saving_lib_without(mp, "save_model")),
    ("_save_state", lambda: weights_bytes(_model()), lambda mp: _saving_lib_without(mp, "_save_state")),
    ("H5IOStore", lambda: weights_bytes(_model()), lambda mp: _saving_lib_without(mp, "H5IOStore")),
    ("optimizer._iterations", lambda: steps_trained(type("M", (), {"optimizer": _Bare()})()),
     lambda mp: None),
    ("model._initial_epoch", lambda: set_initial_epoch(_Bare(), 1), lambda mp: None),
    ("optimizer._trainable_variables", lambda: trained_variable(_Bare(), None), lambda mp: None),
]


@pytest.mark.parametrize("what, call, remove", MISSING, ids=[m[0] for m in MISSING])
def test_an_untested_keras_without_the_private_api_is_refused_in_one_line(monkeypatch, what, call, remove):
    remove(monkeypatch)
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    with pytest.raises(InputError) as e:
        call()
    message = str(e.value)
    assert "\n" not in message
    assert what in message and "keras 3.99.0" in message
    assert f"tested on keras {TESTED_KERAS[0]}" in message and "pip install -e '.[cpu]'" in message


@pytest.mark.parametrize("what, call, remove", MISSING, ids=[m[0] for m in MISSING])
def test_on_the_tested_keras_a_missing_private_api_is_raised_as_it_is(monkeypatch, what, call, remove):
    remove(monkeypatch)  # our bug there, not the user's Keras: no advice to install it
    with pytest.raises(AttributeError):
        call()


def test_an_untested_keras_with_the_private_apis_intact_works(monkeypatch):
    model = _model(accumulation=2)
    x, y = _data(6)
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert steps_trained(model) == 3
    assert len(weights_bytes(model)) > 0 and model_bytes(model)[:2] == b"PK"


def test_the_refusal_is_one_line_naming_the_tested_version_and_the_extras(monkeypatch):
    monkeypatch.setattr(keras_internals, "TESTED_KERAS", ("9.9.9",))
    message = str(keras_internals.refusal("optimizer._iterations"))
    assert "\n" not in message and "tested on keras 9.9.9" in message
    assert f"keras {keras.__version__} lacks or changed" in message and "'.[cpu]'" in message


PRIVATE_NAMES = {"_iterations", "_save_state", "_initial_epoch", "_learning_rate",
                 "_trainable_variables", "_get_variable_index", "_save_model"}


def _private_keras_uses(source):
    """`keras.src` imports and private attributes of Keras objects (`PRIVATE_NAMES`) in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras.src"):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("keras.src")]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_NAMES:
            found.append(node.attr)
    return found


def test_the_scan_finds_private_uses():
    source = ("from keras.src.saving import saving_lib\nimport keras.src.ops\n"
              "x = model.optimizer._iterations\nmodel._initial_epoch = 2\n")
    assert _private_keras_uses(source) == ["keras.src.saving", "keras.src.ops", "_iterations",
                                           "_initial_epoch"]


def test_no_library_module_but_keras_internals_reaches_into_private_keras():
    """The distributed-training fixes replace Keras's private trainer methods wholesale and
    check `TESTED_KERAS` themselves before installing anything."""
    allowed = {"keras_internals.py", "keras_distribute_fixes.py"}
    uses = {str(p.relative_to(ROOT)): found for p in sorted((ROOT / "kerasrnn").rglob("*.py"))
            if p.name not in allowed and (found := _private_keras_uses(p.read_text()))}
    assert not uses


def test_set_learning_rate_sets_a_constant_rate_and_leaves_a_schedule():
    """`SetLearningRate` reads the public `optimizer.learning_rate` (no private `_learning_rate`)."""
    from kerasrnn.train.callbacks import SetLearningRate

    constant = _model()
    callback = SetLearningRate(0.5)
    callback.set_model(constant)
    callback.on_train_begin()
    assert float(constant.optimizer.learning_rate.numpy()) == 0.5

    scheduled = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    scheduled.compile(keras.optimizers.SGD(schedule), "mse")
    scheduled.optimizer.iterations.assign(2)
    callback.set_model(scheduled)
    callback.on_train_begin()
    assert float(scheduled.optimizer.learning_rate.numpy()) == pytest.approx(0.025)
