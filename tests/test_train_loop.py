"""The training loop written once (`kerasrnn.train.loop`), run on a tiny fake kind: a dense
classifier with dropout on 32 random rows, 4 steps an epoch. It calls the task's hooks in their
documented order, trains two epochs at once to exactly the weights of one epoch resumed to two
(optimizer slots, dropout's random state and the step restored from the backup), refuses bad
settings before writing anything (validating them once), refuses a resume that changes a setting
it may not change or has nothing left to train. The library holds one `fit` call, the loop's."""

import dataclasses
import json
import pathlib
import re

import keras
import numpy as np
import pytest

from kerasrnn.config_checks import check_int, check_real
from kerasrnn.errors import InputError
from kerasrnn import run_dir
from kerasrnn.run_config import ANY_INT, RunFormat
from kerasrnn.train.loop import Data, Schedule, Task, train

ROOT = pathlib.Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class FakeConfig:
    units: int = 4
    epochs: int = 2
    batch_size: int = 8
    learning_rate: float = 0.05
    seed: int = 0
    gradient_accumulation_steps: int = 1
    distribution: dict | None = None

    def validate(self, allow_large=False, replicas=1):
        for name in ("units", "epochs", "batch_size", "gradient_accumulation_steps"):
            check_int(name, getattr(self, name))
        check_real("learning_rate", self.learning_rate, low=0.0, low_open=True)


FORMAT = RunFormat("fake", FakeConfig, {"units": ANY_INT}, ("units",))


class FakeTask(Task):
    run_format = FORMAT
    resumable = ("epochs", "learning_rate")

    def __init__(self, steps=None):
        self.calls, self.steps = [], steps  # steps: counted in steps, like the char model
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(32, 8)).astype(np.float32)
        self.y = rng.integers(0, 3, 32)

    def read_run(self, config, saved, out_dir):
        self.calls.append("read_run")

    def validate(self, config, allow_large, replicas):
        self.calls.append("validate")
        config.validate(allow_large, replicas)

    def schedule(self, config, distribution):
        self.calls.append("schedule")
        per_epoch = len(self.x) // config.batch_size
        if self.steps:
            return Schedule(per_epoch, -(-self.steps // per_epoch), self.steps, in_steps=True)
        return Schedule(per_epoch, config.epochs, config.epochs * per_epoch)

    def _model(self, config):
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(config.units, "relu"),
                                 keras.layers.Dropout(0.3), keras.layers.Dense(3)])

    def build(self, config, distribution):
        self.calls.append("build")
        model = self._model(config)
        model.compile(keras.optimizers.Adam(config.learning_rate),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    def datasets(self, config, distribution, start, model):
        self.calls.append("datasets")
        import tensorflow as tf

        train_ds = (tf.data.Dataset.from_tensor_slices((self.x, self.y)).batch(config.batch_size)
                    .repeat().skip(start.skip))
        val = tf.data.Dataset.from_tensor_slices((self.x[:8], self.y[:8])).batch(8)
        return Data(train_ds, val, 1)

    def write_run(self, out_dir, config):
        self.calls.append("write_run")
        run_dir.write_run_config(out_dir, "fake", {"units": config.units},
                                 dataclasses.asdict(config))

    def final_model(self, config, model, distribution):
        self.calls.append("final_model")
        final = self._model(config)
        final.set_weights(model.get_weights())
        return final

    def metrics(self, config, fitted, final, distribution):
        self.calls.append("metrics")
        return {**fitted.common_metrics(final), "rows": len(self.x)}


def weights_of(directory):
    model = keras.saving.load_model(pathlib.Path(directory) / "model.keras", compile=False)
    return [np.asarray(w) for w in model.get_weights()]


def test_a_fake_task_trains_two_epochs_and_resumes_to_the_same_weights(tmp_path):
    task = FakeTask()
    whole = train(task, FakeConfig(epochs=2), tmp_path / "whole", verbose=0)
    assert task.calls == ["read_run", "validate", "schedule", "build", "datasets", "write_run",
                          "final_model", "metrics"]
    assert (whole["epochs"], whole["steps"], whole["rows"]) == (2, 8, 32)
    assert len(whole["history"]["loss"]) == 2 and len(whole["history"]["val_loss"]) == 2
    saved = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert saved["steps"] == 8 and saved["history"] == whole["history"]

    train(FakeTask(), FakeConfig(epochs=1), tmp_path / "split", verbose=0)
    resumed = train(FakeTask(), {"epochs": 2}, tmp_path / "split", resume=True, verbose=0)
    assert (resumed["epochs"], resumed["steps"]) == (2, 8)
    assert resumed["history"]["loss"] == whole["history"]["loss"]
    for a, b in zip(weights_of(tmp_path / "whole"), weights_of(tmp_path / "split"), strict=True):
        np.testing.assert_array_equal(a, b)
    config = json.loads((tmp_path / "split" / "config.json").read_text())["training"]
    assert config["epochs"] == 2 and config["distribution"]["replicas"] == 1


def test_a_run_counted_in_steps_stops_mid_epoch_and_resumes_to_the_same_weights(tmp_path):
    whole = train(FakeTask(steps=8), FakeConfig(), tmp_path / "whole", verbose=0)
    part = train(FakeTask(steps=6), FakeConfig(), tmp_path / "split", verbose=0)
    assert (part["steps"], part["epochs"], whole["steps"]) == (6, 2, 8)
    resumed = train(FakeTask(steps=8), {}, tmp_path / "split", resume=True, verbose=0)
    assert (resumed["steps"], resumed["epochs"]) == (8, 2)
    for a, b in zip(weights_of(tmp_path / "whole"), weights_of(tmp_path / "split"), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(InputError, match="already trained 8 steps"):
        train(FakeTask(steps=8), {}, tmp_path / "split", resume=True, verbose=0)


def test_a_bad_setting_is_refused_before_anything_is_written(tmp_path):
    task = FakeTask()
    with pytest.raises(InputError, match="^units must be"):
        train(task, FakeConfig(units=0), tmp_path / "run", verbose=0)
    assert task.calls == ["read_run", "validate"] and not (tmp_path / "run").exists()
    with pytest.raises(InputError, match="max_seconds"):
        train(FakeTask(), FakeConfig(), tmp_path / "run", max_seconds=0, verbose=0)
    assert not (tmp_path / "run").exists()


def test_a_resume_with_nothing_left_to_train_is_refused(tmp_path):
    run = tmp_path / "run"
    train(FakeTask(), FakeConfig(epochs=1), run, verbose=0)
    with pytest.raises(InputError, match="already trained 1 epochs"):
        train(FakeTask(), {"epochs": 1}, run, resume=True, verbose=0)
    with pytest.raises(InputError, match=r"resume may change only .*units \(run 4, given 5\)"):
        train(FakeTask(), {"epochs": 2, "units": 5}, run, resume=True, verbose=0)


def test_the_library_calls_fit_once_in_the_loop():
    calls = {p.relative_to(ROOT).as_posix(): len(re.findall(r"\.fit\(", p.read_text()))
             for p in (ROOT / "kerasrnn").rglob("*.py")}
    assert {p: n for p, n in calls.items() if n} == {"kerasrnn/train/loop.py": 1}
