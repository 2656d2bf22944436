"""Training the ST-CNN / CNN on distorted MNIST with `model.fit`: the logic behind train_stn.py.

The training images are distorted afresh every epoch (on the fly, seeded); the last
`val_size` training images, distorted once, are the validation set; the test set is distorted
once with a fixed seed (`TEST_SEED`) so every run is scored on the same images, as the paper
scores its fixed distorted test sets.
"""

import dataclasses
import math
import pathlib

import keras

from kerasrnn import run_dir
from kerasrnn.data import mnist
from kerasrnn.errors import InputError
from kerasrnn.models.stn_classifier import MODELS, TRANSFORMER_NAME, build_stn_classifier
from kerasrnn.train import checks
from kerasrnn.train.callbacks import StopAfterSteps, Throughput, run_callbacks
from kerasrnn.train.lr_multiplier import with_lr_multiplier
from kerasrnn.trained_runs import STN_CLASSIFIER

KIND = STN_CLASSIFIER
TEST_SEED = 2015
OPTIMIZERS = ("adam", "sgd")
RESUMABLE = ("epochs", "learning_rate")
# Activations kept for backpropagation per input pixel, roughly: the classifier's 32 and 64
# feature maps at about the input size, the transformer's grid and the localisation net.
FLOATS_PER_PIXEL = 64


@dataclasses.dataclass
class STNConfig:
    """Everything an STN training run depends on (saved in `config.json`)."""

    distortion: str = "R"
    model: str = "st-cnn"
    transform: str = "affine"
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_decay: str = "none"  # "none" or "cosine" (to 1% of the rate over --epochs)
    dropout: float = 0.0  # on the classifier's flattened features
    loc_lr_multiplier: float = 1.0  # the paper slows the localisation net; with Adam, 1.0 measured better
    train_size: int | None = None  # use only the first N training images (quick runs)
    val_size: int = 5000
    seed: int = 0

    def model_config(self):
        """The `build_stn_classifier` arguments that define the trained weights."""
        return dict(input_size=mnist.output_size(self.distortion), model=self.model,
                    transform=self.transform, dropout=self.dropout)

    def validate(self, allow_large=False):
        """Raises `InputError` for settings that cannot train (messages name the parameters).

        Args:
            allow_large: Allow one batch's activations above `checks.LARGE_BYTES`.
        """
        checks.check_choice("distortion", self.distortion, mnist.DISTORTIONS)
        checks.check_choice("model", self.model, MODELS)
        checks.check_choice("transform", self.transform, ("affine", "projective", "tps"))
        checks.check_choice("optimizer", self.optimizer, OPTIMIZERS)
        checks.check_choice("lr_decay", self.lr_decay, ("none", "cosine"))
        for name in ("epochs", "batch_size", "val_size"):
            checks.check_int(name, getattr(self, name))
        if self.train_size is not None:
            checks.check_int("train_size", self.train_size)
            if self.train_size < self.batch_size:
                raise InputError(f"train_size {self.train_size} is smaller than one batch "
                                 f"(batch_size {self.batch_size})")
        checks.check_real("dropout", self.dropout, 0.0, 1.0, high_open=True)
        checks.check_real("learning_rate", self.learning_rate, low=0.0, low_open=True)
        checks.check_real("loc_lr_multiplier", self.loc_lr_multiplier, low=0.0, low_open=True)
        checks.check_seed(self.seed)
        side = mnist.output_size(self.distortion)
        checks.check_memory("activations in one batch",
                            self.batch_size * side * side * FLOATS_PER_PIXEL * checks.FLOAT_BYTES,
                            dict(batch_size=self.batch_size, distortion=self.distortion), allow_large)


def compile_model(model, config, steps_per_epoch=None):
    """Compiles with the configured optimizer, the transformer's variables on a slower rate.

    `steps_per_epoch` is needed for `lr_decay="cosine"` (the schedule spans all epochs).
    """
    lr = config.learning_rate
    if config.lr_decay == "cosine" and steps_per_epoch:
        lr = keras.optimizers.schedules.CosineDecay(lr, config.epochs * steps_per_epoch, alpha=0.01)
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(lr)
    else:
        optimizer = keras.optimizers.SGD(lr, momentum=0.9)
    if config.model == "st-cnn" and config.loc_lr_multiplier != 1.0:
        transformer = model.get_layer(TRANSFORMER_NAME)
        optimizer = with_lr_multiplier(optimizer, transformer.trainable_variables, config.loc_lr_multiplier)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


def split_train_val(x, y, config):
    """The last `val_size` training images validate; the first `train_size` of the rest train."""
    if len(x) <= config.val_size:
        raise InputError(f"MNIST has {len(x)} training images, not more than val_size {config.val_size}")
    x_train, y_train = x[: len(x) - config.val_size], y[: len(x) - config.val_size]
    if config.train_size:
        x_train, y_train = x_train[: config.train_size], y_train[: config.train_size]
    return (x_train, y_train), (x[len(x) - config.val_size :], y[len(x) - config.val_size :])


def train_stn(config, data, out_dir, resume=False, max_seconds=None, verbose=1, extra_callbacks=(),
              allow_large=False):
    """Trains an ST-CNN or CNN on distorted MNIST and writes the run directory `out_dir`.

    Every setting is checked before anything is written.

    Args:
        config: `STNConfig`. When resuming, `epochs` and `learning_rate` may differ from the
            saved run's (the new ones are used and recorded in `config.json`); any other setting
            that differs is refused. To resume giving only some settings, pass a dict of them
            (e.g. `{"epochs": 20}`); the rest come from the run.
        data: `((x_train, y_train), (x_test, y_test))` as `mnist.load_mnist` returns.
        out_dir: Directory to write (see `kerasrnn.run_dir`).
        resume: Continue the run in `out_dir` from its last per-epoch backup.
        max_seconds: Stop after this much wall time (checked after each step); `None` or > 0.
        verbose: Keras progress bar setting.
        extra_callbacks: More Keras callbacks for `fit`.
        allow_large: Allow batches whose activations exceed `checks.LARGE_BYTES`.

    Returns:
        The metrics dict also written to `out_dir/metrics.json` (`test_error_pct`, ...); its
        `history` covers every epoch of the run, resumed ones included.

    Raises:
        InputError: A bad setting (before anything is written), or training diverged.
    """
    checks.check_max_seconds(max_seconds)
    saved = run_dir.prepare_run_dir(out_dir, resume, KIND)
    if saved is not None:
        config = checks.resumed_settings(STNConfig, saved["training"], config, RESUMABLE)
    config.validate(allow_large)
    keras.utils.set_random_seed(config.seed)
    (x, y), (x_test, y_test) = data
    (x_train, y_train), (x_val, y_val) = split_train_val(x, y, config)
    start_epoch = run_dir.restored_epoch(out_dir) if saved is not None else 0
    if resume and start_epoch >= config.epochs:
        raise InputError(f"resume: {out_dir} has already trained {start_epoch} epochs; "
                         "pass a larger epochs to train further")

    batch = config.batch_size
    train_ds = mnist.distorted_mnist_dataset(x_train, y_train, config.distortion, batch, config.seed,
                                             shuffle=True, epoch=start_epoch, repeat=True,
                                             drop_remainder=True)
    val_ds = mnist.distorted_mnist_dataset(x_val, y_val, config.distortion, batch, config.seed + 1,
                                           shuffle=False)
    test_ds = mnist.distorted_mnist_dataset(x_test, y_test, config.distortion, batch, TEST_SEED,
                                            shuffle=False)
    steps_per_epoch = len(x_train) // batch
    model = compile_model(build_stn_classifier(**config.model_config()), config, steps_per_epoch)

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if saved is None:
        run_dir.write_run_config(out, KIND, config.model_config(), dataclasses.asdict(config))
    else:
        run_dir.update_training_config(out, dataclasses.asdict(config))
    throughput = Throughput(batch)
    stopper = StopAfterSteps(None, max_seconds)
    standard_callbacks, run_history = run_callbacks(out, start_epoch=start_epoch,
                                                       learning_rate=config.learning_rate)
    callbacks = [*standard_callbacks, stopper, throughput, *extra_callbacks]
    model.fit(train_ds, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
              validation_data=val_ds, validation_steps=math.ceil(len(x_val) / batch),
              callbacks=callbacks, verbose=verbose, shuffle=False)
    h = run_history.history
    losses = h.get("loss", [])

    test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)
    final = build_stn_classifier(**config.model_config())
    final.set_weights(model.get_weights())
    metrics = {
        "test_error_pct": 100.0 * (1.0 - test_accuracy),
        "test_loss": test_loss,
        "val_error_pct": 100.0 * (1.0 - h["val_accuracy"][-1]) if h.get("val_accuracy") else None,
        "train_loss": losses[-1] if losses else None,
        "epochs": run_history.epochs,
        "steps": int(model.optimizer.iterations.numpy()),
        "images_per_second": throughput.per_second,
        "train_seconds": throughput.seconds,
        "stopped_by_time_limit": stopper.stopped_by_time,
        "train_images": int(len(x_train)),
        "history": {k: [float(v) for v in vs] for k, vs in h.items()},
        "parameters": int(final.count_params()),
    }
    run_dir.save_trained_model(out, final, metrics)
    return metrics
