"""Untrained tiny run directories of each model kind, written directly (no training), for export
and serving tests: a char LSTM (hidden 8), a CNN classifier on 28 x 28 digits, an ST-CNN with
its weights moved by noise, a captioner on 32 x 32 images with a 14-word vocabulary and captions
of up to 6 words, a DRAW of 4 glimpses.

And trained ones, for the tests of damaged runs: an ST-CNN and a captioner trained one epoch on
tiny data by their training functions, so they hold every file training writes (`backup/`,
`history.json`, `checkpoints/`, `logs/`, `metrics.json`).

A helper module the tests import, not a test file: it asserts nothing itself; the tests that use
its runs check them."""

import dataclasses

import numpy as np

from kerasrnn import run_dir
from kerasrnn.kinds.captioner.vocab import CaptionVocabulary
from kerasrnn.kinds.char_rnn.text import Vocabulary
from kerasrnn.kinds.char_rnn.model import build_char_rnn
from kerasrnn.kinds.stn_classifier.model import build_stn_classifier
from kerasrnn.kinds.captioner.config import KIND as CAPTIONER
from kerasrnn.kinds.char_rnn.trained import write_char_run_config
from kerasrnn.kinds.captioner.config import CaptionerConfig
from kerasrnn.kinds.draw.config import KIND as DRAW, DRAWConfig
from kerasrnn.kinds.draw.model import build_draw


def char_run(directory):
    vocab = Vocabulary(sorted(set("def return self.x = (a, b):\n")))
    config = dict(vocab_size=len(vocab), cell="lstm", num_layers=1, hidden_size=8, dropout=0.0,
                  embedding_dim=4)
    directory.mkdir()
    write_char_run_config(directory, config, {"sample_prime": "def "}, vocab)
    run_dir.save_trained_model(directory, build_char_rnn(**config), {"epochs": 0})


def stn_run(directory):
    config = {"input_size": 28, "model": "cnn", "transform": "affine", "filters": [4, 8]}
    directory.mkdir()
    run_dir.write_run_config(directory, "stn_classifier", config, {"distortion": "R"})
    run_dir.save_trained_model(directory, build_stn_classifier(**config), {"epochs": 0})


def st_cnn_run(transform):
    """An untrained ST-CNN (so its version has `rectifier.onnx` too), every weight moved by noise:
    the localization head starts at the identity transform, which would make the rectifier
    sample exactly at the pixels."""
    def make(directory):
        config = {"input_size": 28, "model": "st-cnn", "transform": transform, "filters": [4, 8]}
        directory.mkdir()
        run_dir.write_run_config(directory, "stn_classifier", config, {"distortion": "R"})
        model = build_stn_classifier(**config)
        rng = np.random.default_rng(0)
        for weight in model.weights:
            weight.assign(np.asarray(weight) + rng.normal(0, 0.1, weight.shape).astype(np.float32))
        run_dir.save_trained_model(directory, model, {"epochs": 0})
    return make


def captioner_run(directory):
    config = CaptionerConfig(image_size=32, max_length=6, embedding_dim=16, units=32, attention_units=16)
    vocab = CaptionVocabulary([f"w{i}" for i in range(14)])
    directory.mkdir()
    vocab.save(directory)
    run_dir.write_run_config(directory, CAPTIONER, config.model_config(len(vocab)), dataclasses.asdict(config))
    run_dir.save_trained_model(directory, config.build_model(len(vocab)), {"epochs": 0})


def draw_run(directory):
    """An untrained DRAW of 4 glimpses (LSTMs of 16, |z| 4) on 28 x 28 images."""
    config = DRAWConfig(steps=4, encoder_units=16, decoder_units=16, latent_dim=4)
    directory.mkdir()
    run_dir.write_run_config(directory, DRAW, config.model_config(), dataclasses.asdict(config))
    run_dir.save_trained_model(directory, build_draw(**config.model_config()), {"epochs": 0})


def random_mnist(path, train=96, test=16):
    """A `mnist.npz` of random 28 x 28 uint8 images and labels (enough to train and plot)."""
    rng = np.random.default_rng(0)
    arrays = {f"x_{split}": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
              for split, n in (("train", train), ("test", test))}
    arrays.update({f"y_{split}": rng.integers(0, 10, n).astype(np.uint8)
                   for split, n in (("train", train), ("test", test))})
    np.savez(path, **arrays)
    return path


def trained_stn_run(directory, mnist_path):
    """An ST-CNN trained one epoch (two steps of 16 images) on `random_mnist` by `train_stn`."""
    from kerasrnn.data.mnist import load_mnist
    from kerasrnn.kinds.stn_classifier.train import train_stn
    from kerasrnn.kinds.stn_classifier.config import STNConfig

    config = STNConfig(distortion="R", epochs=1, batch_size=16, train_size=32, val_size=16)
    return train_stn(config, load_mnist(mnist_path), directory, verbose=0)


def trained_captioner_run(directory):
    """A captioner (units 8) trained one epoch on 16 generated scenes by `train_captioner`."""
    from kerasrnn.kinds.captioner.train import train_captioner

    config = CaptionerConfig(dataset="scenes", image_size=32, max_length=6, embedding_dim=8, units=8,
                             attention_units=8, epochs=1, batch_size=8, train_count=16, test_count=4)
    return train_captioner(config, directory, verbose=0)
