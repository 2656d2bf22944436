"""The core install (`pip install .`: keras and numpy) is enough for the layers and models: none of
their modules imports TensorFlow, tf2onnx or TFDS, so on the JAX or PyTorch backend they run
without them (docs/layers.md shows it with `pip install . jax`). Checked here on any backend: in a
subprocess, an import of those packages *from kerasrnn code* fails, and every model still builds
and runs forward (Keras itself may import TensorFlow when it is the backend)."""

import subprocess
import sys

CODE = r'''
import importlib.abc, sys

BLOCKED = ("tensorflow", "tf2onnx", "tensorflow_datasets")

class NoTensorFlowFromKerasrnn(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in BLOCKED:
            return None
        frame = sys._getframe(1)
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if not module.startswith(("importlib", "_frozen_importlib")) and module != __name__:
                if module.split(".")[0] == "kerasrnn":
                    raise ImportError(f"{module} imports {name}: the core must not need it")
                return None
            frame = frame.f_back
        return None

sys.meta_path.insert(0, NoTensorFlowFromKerasrnn())
import numpy as np
import kerasrnn.layers
from kerasrnn.kinds.captioner.model import build_captioner
from kerasrnn.kinds.char_rnn.model import build_char_rnn
from kerasrnn.kinds.stn_classifier.model import build_stn_classifier
from kerasrnn.kinds.captioner import beam_search_numpy
from kerasrnn.kinds.char_rnn import sampling
from kerasrnn.kinds.char_rnn import token_choice

shapes = [
    build_char_rnn(20, cell="vanilla", num_layers=1, hidden_size=8)(np.zeros((2, 5), "int32")).shape,
    build_char_rnn(20, cell="lstm", num_layers=2, hidden_size=8, embedding_dim=4)(np.zeros((2, 5), "int32")).shape,
    build_stn_classifier(input_size=28, model="st-cnn", transform="affine", filters=[4, 8])(
        np.zeros((2, 28, 28, 1), "float32")).shape,
    *[o.shape for o in build_captioner(10, 32, 4, embedding_dim=8, units=8, attention_units=8)(
        [np.zeros((2, 32, 32, 3), "float32"), np.zeros((2, 6), "int32")])],
]
print([tuple(s) for s in shapes])
'''


def test_layers_and_models_import_no_tensorflow():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[(2, 5, 20), (2, 5, 20), (2, 10), (2, 5, 10), (2, 5, 16)]"


def test_the_check_catches_a_tensorflow_import_from_kerasrnn():
    code = CODE.split("import numpy as np")[0] + "import kerasrnn.data.epochs\n"  # a tf.data module
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "kerasrnn.data.epochs imports tensorflow" in done.stderr
