"""Without network, MNIST's error gives the real cause of the failed download and where to get
`mnist.npz` by hand (fast: both downloads are replaced by what they raise offline)."""

import sys
import types

import keras
import pytest

from kerasrnn.cli import mnist_from_flags
from kerasrnn.data.mnist import MNIST_NPZ_URL, load_mnist
from kerasrnn.errors import InputError

OFFLINE = ("URL fetch failure on https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz: "
           "None -- [Errno -2] Name or service not known")


@pytest.fixture
def offline(monkeypatch):
    def tfds_load(*args, **kwargs):
        raise ConnectionError("Failed to connect to the dataset server\nsecond line of detail")

    def keras_load(*args, **kwargs):
        raise Exception(OFFLINE)

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(load=tfds_load, as_numpy=lambda x: x))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", keras_load)


def test_the_offline_error_names_the_cause_and_where_to_get_mnist(offline):
    with pytest.raises(InputError) as error:
        load_mnist()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"could not download MNIST: Exception: {OFFLINE}")  # was "(Exception)"
    assert "TFDS: ConnectionError: Failed to connect to the dataset server" in message
    assert "second line" not in message
    assert f"download {MNIST_NPZ_URL}" in message and "mnist.npz" in message


def test_a_script_adds_its_flag_and_environment_variable(offline, monkeypatch):
    monkeypatch.delenv("KERASRNN_MNIST", raising=False)
    with pytest.raises(InputError) as error:
        mnist_from_flags(None)
    assert str(error.value).endswith("(--mnist PATH or KERASRNN_MNIST=PATH)")
    assert "Name or service not known" in str(error.value)
