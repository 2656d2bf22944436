"""Running an exported ONNX file in every ONNX runtime at hand: ONNX Runtime (Python), OpenVINO
and ONNX Runtime for Node.js, each only where it is installed.

    runtimes = find_runtimes()                      # [Runtime(name, label, version, missing)]
    runs = run_graphs([(path, {"images": images})]) # {runtime name: RuntimeRun}
    runs["openvino"].outputs[0]["logits"]           # or .error, a one-line reason

`verify` (`kerasrnn.export.verification.runtime_check`) compares what each one computes with
Keras, so a file that one runtime reads differently from another fails there, not at a user's.

* ONNX Runtime (Python): the `onnxruntime` package (the `export` extra), CPU provider.
* OpenVINO: the `openvino` package (the `runtimes` extra) on the CPU, with
  `INFERENCE_PRECISION_HINT` set to `f32`. Without it, OpenVINO computes in bf16 on a CPU that
  has bf16 (AVX-512 BF16, AMX) and differs from Keras by about 1e-2.
* ONNX Runtime for Node.js: `node` on the PATH and the `onnxruntime-node` npm package in
  `NODE_DIR` (`export/node/` of the repository, which `make install` fills with
  `npm ci --ignore-scripts`; or the folder `$KERASRNN_NODE_DIR` names). One `node` process runs
  `NODE_DIR/run_onnx.js` on all the graphs of a call; inputs and outputs travel as `.npy` files.

Imports only the standard library and numpy, and each runtime's package when it runs; never
TensorFlow or Keras.
"""

import dataclasses
import json
import pathlib
import shutil
import subprocess
import tempfile

import numpy as np

ONNXRUNTIME, OPENVINO, ONNXRUNTIME_NODE = "onnxruntime", "openvino", "onnxruntime-node"
LABELS = {ONNXRUNTIME: "ONNX Runtime (Python)", OPENVINO: "OpenVINO (CPU, f32)",
          ONNXRUNTIME_NODE: "ONNX Runtime for Node.js"}
# The repository's export/node/ folder (package.json, its lockfile, run_onnx.js, node_modules/).
NODE_DIR = pathlib.Path(__file__).resolve().parents[2] / "export" / "node"
NODE_SCRIPT = "run_onnx.js"
NODE_TIMEOUT_S = 300
OPENVINO_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}  # parity with Keras's float32 (see above)


@dataclasses.dataclass(frozen=True)
class Runtime:
    """One ONNX runtime: `name` (`ONNXRUNTIME`, `OPENVINO` or `ONNXRUNTIME_NODE`), a `label` to
    print, its `version` where installed, else `missing`: why it is skipped."""

    name: str
    label: str
    version: str | None = None
    missing: str | None = None


@dataclasses.dataclass
class RuntimeRun:
    """What one runtime computed for a list of graphs: `outputs`, one `{output name: array}` per
    graph, or `error`, a one-line reason it could not run them (e.g. a file it refused)."""

    runtime: Runtime
    outputs: list | None = None
    error: str | None = None


_node_dir = None  # set by `use_node_dir`


def use_node_dir(folder):
    """Makes the Node.js runtime run from `folder` (with `run_onnx.js` and
    `node_modules/onnxruntime-node`) instead of `NODE_DIR`; None goes back to `NODE_DIR`.
    Scripts call it with `$KERASRNN_NODE_DIR`."""
    global _node_dir
    _node_dir = pathlib.Path(folder) if folder else None


def node_dir():
    """The folder holding `run_onnx.js` and `node_modules/onnxruntime-node`: the one
    `use_node_dir` set, or `NODE_DIR`."""
    return _node_dir or NODE_DIR


def find_runtimes():
    """The three runtimes, in a fixed order, each with its version or why it is missing."""
    found = []
    try:
        import onnxruntime

        found.append(Runtime(ONNXRUNTIME, LABELS[ONNXRUNTIME], onnxruntime.__version__))
    except ImportError:
        found.append(Runtime(ONNXRUNTIME, LABELS[ONNXRUNTIME],
                             missing="the onnxruntime package is not installed (the export extra)"))
    try:
        import openvino

        found.append(Runtime(OPENVINO, LABELS[OPENVINO], openvino.__version__.split("-")[0]))
    except ImportError:
        found.append(Runtime(OPENVINO, LABELS[OPENVINO],
                             missing="the openvino package is not installed (the runtimes extra)"))
    folder = node_dir()
    package = folder / "node_modules" / "onnxruntime-node" / "package.json"
    if shutil.which("node") is None:
        found.append(Runtime(ONNXRUNTIME_NODE, LABELS[ONNXRUNTIME_NODE], missing="no `node` on the PATH"))
    elif not package.is_file() or not (folder / NODE_SCRIPT).is_file():
        found.append(Runtime(ONNXRUNTIME_NODE, LABELS[ONNXRUNTIME_NODE],
                             missing=f"onnxruntime-node is not installed in {folder} (`npm ci "
                                     "--ignore-scripts` there, as `make install` does, or set "
                                     "KERASRNN_NODE_DIR to a folder with run_onnx.js and it)"))
    else:
        version = json.loads(package.read_text()).get("version", "?")
        found.append(Runtime(ONNXRUNTIME_NODE, LABELS[ONNXRUNTIME_NODE], version))
    return found


def run_graphs(graphs, runtimes=None):
    """Runs ONNX files in every installed runtime.

    Args:
        graphs: A list of `(path, inputs)`: an `.onnx` file and `{input name: array}`.
        runtimes: The `Runtime`s to use (default: `find_runtimes()`); missing ones are skipped.

    Returns:
        `{runtime name: RuntimeRun}` for each runtime that ran (or failed); skipped runtimes are
        not in it.
    """
    runners = {ONNXRUNTIME: _run_onnxruntime, OPENVINO: _run_openvino, ONNXRUNTIME_NODE: _run_node}
    graphs = [(pathlib.Path(path), {n: np.asarray(v, order="C") for n, v in inputs.items()})
              for path, inputs in graphs]
    runs = {}
    for runtime in find_runtimes() if runtimes is None else runtimes:
        if runtime.missing:
            continue
        try:
            runs[runtime.name] = RuntimeRun(runtime, outputs=runners[runtime.name](graphs))
        except _Refused as e:
            runs[runtime.name] = RuntimeRun(runtime, error=str(e))
    return runs


class _Refused(Exception):
    """A runtime could not load or run a graph; the message names the file."""


def _one_line(error):
    text = str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:300]


def _run_onnxruntime(graphs):
    import onnxruntime

    results = []
    for path, inputs in graphs:
        try:
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            names = [o.name for o in session.get_outputs()]
            results.append(dict(zip(names, session.run(names, inputs))))
        except Exception as e:  # onnxruntime's own exception types
            raise _Refused(f"{path.name}: {_one_line(e)}") from None
    return results


def _run_openvino(graphs):
    import openvino

    core = openvino.Core()
    results = []
    for path, inputs in graphs:
        try:
            compiled = core.compile_model(str(path), "CPU", OPENVINO_CONFIG)
            computed = compiled(inputs)
            # Copies: the compiled model's own request owns the arrays it returns.
            results.append({name: np.array(computed[port]) for port in compiled.outputs
                            for name in port.get_names()})
        except Exception as e:  # OpenVINO raises RuntimeError and its own types
            # Its messages stack source locations and shape dumps around the reason: keep the reason.
            noise = ("Exception from", "Check '", "While validating", "Shape inference")
            lines = [line.strip() for line in str(e).splitlines()
                     if line.strip() and not line.strip().startswith(noise)]
            raise _Refused(f"{path.name}: {' '.join(lines)[:300] or _one_line(e)}") from None
    return results


def _run_node(graphs):
    folder = node_dir()
    with tempfile.TemporaryDirectory(prefix="kerasrnn-node-") as tmp:
        tmp = pathlib.Path(tmp)
        request = []
        for g, (path, inputs) in enumerate(graphs):
            files = {}
            for i, (name, value) in enumerate(inputs.items()):
                files[name] = f"g{g}_in{i}.npy"
                np.save(tmp / files[name], value)
            request.append({"model": str(path.resolve()), "inputs": files, "prefix": f"g{g}_out"})
        (tmp / "request.json").write_text(json.dumps({"graphs": request}))
        try:
            done = subprocess.run(["node", str(folder / NODE_SCRIPT), str(tmp)], cwd=folder,
                                  capture_output=True, text=True, timeout=NODE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise _Refused(f"node did not finish in {NODE_TIMEOUT_S} s") from None
        if done.returncode != 0:
            raise _Refused(_one_line(done.stderr or f"node exited with status {done.returncode}"))
        response = json.loads((tmp / "response.json").read_text())
        return [{name: np.load(tmp / file) for name, file in graph["outputs"].items()}
                for graph in response["graphs"]]
