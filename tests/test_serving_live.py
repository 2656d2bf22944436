"""TF Serving: models.config and batching parameters, the client's REST (row, columnar) and gRPC
requests for every signature of all three model kinds, checked against `saved_model_cli show`
and answered as the SavedModel answers in Python (what verify.py compares with).

`test_live_tensorflow_model_server` starts the real `tensorflow_model_server` when it is on PATH
(it is not pip-installable; the tensorflow/serving docker image has it) and is skipped, with
that reason, where it is not. Without it, stand-in servers (a gRPC PredictionService and a REST
endpoint that decode requests as TF Serving documents it, both answering from the SavedModel)
carry the client's requests end to end.

The models are untrained and tiny (a char LSTM, a CNN classifier, a captioner); their run
directories are written directly, without training.
"""

import base64
import concurrent.futures
import http.server
import json
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")
serving_apis = pytest.importorskip("tensorflow_serving.apis",
                                   reason="tensorflow-serving-api is not installed (gRPC requests)")

import keras  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from tensorflow.core.framework import types_pb2  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2  # noqa: E402

from kerasrnn.export.version_files import read_model_card  # noqa: E402
from kerasrnn.kinds.registry import export_model  # noqa: E402
from script_runs import script_module  # noqa: E402

SERVER = shutil.which("tensorflow_model_server")
client = script_module("export/client.py")
serving_config = script_module("export/serving_config.py")

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="export needs the TensorFlow backend")


# -- tiny exported models ----------------------------------------------------------------------

from tiny_runs import captioner_run, char_run, stn_run  # noqa: E402


def png(seed):
    pixels = np.random.default_rng(seed).integers(0, 256, (40, 30, 3)).astype(np.uint8)
    return tf.io.encode_png(pixels).numpy()


def requests_for(name):
    """[(signature, client inputs)] covering every signature of the model `name`."""
    rng = np.random.default_rng(0)
    if name == "char":
        return [("generate", {"prime": ["def ", "se"], "length": [6], "temperature": [0.0],
                              "top_k": [0], "seed": [1]}),
                ("generate", {"prime": ["x"], "length": [9], "temperature": [1.5], "top_k": [3], "seed": [7]}),
                ("step", {"tokens": [[1, 2, 3], [4, 5, 6]], "state_1_0": np.zeros((2, 8), np.float32),
                          "state_1_1": rng.normal(0, 0.5, (2, 8)).astype(np.float32)})]
    if name == "digits":
        return [("classify", {"images": rng.random((2, 28, 28, 1)).astype(np.float32)})]
    return [("caption", {"image_bytes": [png(1), png(2)], "beam_width": [2]}),
            ("caption_images", {"images": rng.random((2, 32, 32, 3)).astype(np.float32), "beam_width": [3, 1]}),
            ("teacher_forced", {"images": rng.random((1, 32, 32, 3)).astype(np.float32),
                                "captions": [[2, 4, 5, 6, 3, 0, 0, 0]]})]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Three exported models under one base: `(base, {name: (version dir, card, loaded SavedModel)})`."""
    root = tmp_path_factory.mktemp("serving")
    base = root / "saved_models"
    models = {}
    for name, make in (("char", char_run), ("digits", stn_run), ("scenes", captioner_run)):
        keras.utils.set_random_seed(0)
        make(root / name)
        version = export_model(root / name, base, name)
        models[name] = (version, read_model_card(version), tf.saved_model.load(str(version)))
    return base, models


def signature_dtypes(card, signature):
    return {k: "DT_" + ("FLOAT" if v["dtype"] == "float32" else v["dtype"].upper())
            for k, v in card["signatures"][signature]["inputs"].items()}


def expected(models, name, signature, inputs):
    """The SavedModel's answer in Python: `{output: numpy array}`, strings decoded."""
    version, card, loaded = models[name]
    request = client.grpc_request(inputs, name, signature, signature_dtypes(card, signature))
    out = loaded.signatures[signature](**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
    return {k: (np.vectorize(bytes.decode)(v.numpy()) if v.dtype == tf.string else v.numpy())
            for k, v in out.items()}


def assert_same(got, want, where):
    assert set(got) == set(want), where
    for key, value in want.items():
        value, answer = np.asarray(value), np.asarray(got[key])
        assert answer.shape == value.shape, (where, key, answer.shape, value.shape)
        if value.dtype.kind in "fc":
            np.testing.assert_allclose(answer.astype(np.float64), value, atol=1e-4, err_msg=f"{where} {key}")
        else:
            np.testing.assert_array_equal(answer.astype(value.dtype), value, err_msg=f"{where} {key}")


# -- TF Serving's REST decoding, for the checks and the stand-in server --------------------------

NUMPY = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_INT64": np.int64, "DT_STRING": object}


def _from_json(value, dtype):
    if dtype == "DT_STRING":
        def text(v):
            if isinstance(v, list):
                return [text(x) for x in v]
            return base64.b64decode(v["b64"]) if isinstance(v, dict) else v.encode()
        return np.array(text(value), object)
    return np.array(value, NUMPY[dtype])


def rest_tensors(body, dtypes):
    """A REST predict body -> `{input: numpy array}`, as TF Serving reads the row and columnar formats."""
    if "instances" in body:
        return {k: _from_json([row[k] for row in body["instances"]], dtypes[k]) for k in body["instances"][0]}
    return {k: _from_json(v, dtypes[k]) for k, v in body["inputs"].items()}


def rest_answer(outputs, row_format):
    """`{output: numpy array}` -> TF Serving's REST answer."""
    listed = {k: (np.vectorize(bytes.decode, otypes=[object])(v) if v.dtype == object else v).tolist()
              for k, v in outputs.items()}
    if row_format:
        rows = [dict(zip(listed, values)) for values in zip(*listed.values())]
        return {"predictions": [next(iter(r.values())) for r in rows] if len(listed) == 1 else rows}
    return {"outputs": next(iter(listed.values())) if len(listed) == 1 else listed}


# -- saved_model_cli ---------------------------------------------------------------------------

# Runs `saved_model_cli show` (its own command-line entry point) for every version in argv: the
# signature list, then each signature's inputs and outputs; one process, so TensorFlow loads once.
SHOW_ALL = """
import contextlib, io, re, sys
from tensorflow.python.tools import saved_model_cli

def show(*args):
    sys.argv = ["saved_model_cli", "show", *args]
    saved_model_cli.flags.FLAGS.unparse_flags()  # absl keeps the last call's flags otherwise
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            saved_model_cli.main()
        except SystemExit as e:
            if e.code:
                raise
    return out.getvalue()

for directory in sys.argv[1:]:
    keys = re.findall(r'SignatureDef key: "([^"]+)"', show("--dir", directory, "--tag_set", "serve"))
    for key in keys:
        print(f"### {directory} {key}")
        print(show("--dir", directory, "--tag_set", "serve", "--signature_def", key))
"""


def cli_signatures(versions):
    """`saved_model_cli show` of each version, parsed:
    `{version: {signature: {"inputs"|"outputs": {name: (dtype, shape or None)}}}}`."""
    shown = subprocess.run([sys.executable, "-c", SHOW_ALL, *map(str, versions)], capture_output=True,
                           text=True, check=True).stdout
    parsed = {}
    for block in shown.split("### ")[1:]:
        header, _, body = block.partition("\n")
        directory, key = header.rsplit(" ", 1)
        sig = parsed.setdefault(directory, {}).setdefault(key, {"inputs": {}, "outputs": {}})
        for side, name, dtype, shape in re.findall(
                r"(inputs|outputs)\['([^']+)'\] tensor_info:\s+dtype: (\w+)\s+shape: ([^\n]+)", body):
            sig[side][name] = (dtype, None if shape == "unknown_rank" else
                               [int(d) for d in shape.strip("()").split(",") if d.strip()])
    return {pathlib.Path(d): v for d, v in parsed.items()}


def compatible(shape, cli_shape):
    return cli_shape is None or (len(shape) == len(cli_shape) and all(
        c == -1 or c == s for s, c in zip(shape, cli_shape)))


def test_requests_match_saved_model_cli_show_and_the_saved_model(served):
    base, models = served
    shown = cli_signatures([v for v, _, _ in models.values()])
    for name, (version, card, loaded) in models.items():
        signatures = shown[version]
        assert set(signatures) - {"__saved_model_init_op"} == {*card["signatures"], "serving_default"}
        assert signatures["serving_default"] == signatures[card["default_signature"]]
        seen = set()
        for signature, inputs in requests_for(name):
            seen.add(signature)
            cli = signatures[signature]
            dtypes = {k: v[0] for k, v in cli["inputs"].items()}
            want = expected(models, name, signature, inputs)
            assert set(want) == set(cli["outputs"]) == set(card["signatures"][signature]["outputs"])
            # gRPC: every input, in the signature's dtype and a compatible shape.
            request = client.grpc_request(inputs, name, signature, dtypes)
            assert request.model_spec.name == name and request.model_spec.signature_name == signature
            assert set(request.inputs) == set(cli["inputs"])
            for key, proto in request.inputs.items():
                assert types_pb2.DataType.Name(proto.dtype) == cli["inputs"][key][0], (name, signature, key)
                assert compatible(tf.make_ndarray(proto).shape, cli["inputs"][key][1]), (name, signature, key)
            # REST, both formats: every input; binary strings as {"b64": ...}; decoded as TF
            # Serving decodes them, they give the SavedModel's answer.
            for fmt in ("row", "columnar"):
                body = json.loads(json.dumps(client.rest_body(inputs, signature, fmt)))
                assert body["signature_name"] == signature
                tensors = rest_tensors(body, dtypes)
                assert set(tensors) == set(cli["inputs"])
                for key, array in tensors.items():
                    assert compatible(array.shape, cli["inputs"][key][1]), (name, signature, fmt, key)
                if name == "scenes" and signature == "caption":
                    rows = body["instances"] if fmt == "row" else [dict(zip(body["inputs"], v))
                                                                   for v in zip(*body["inputs"].values())]
                    assert [base64.b64decode(r["image_bytes"]["b64"]) for r in rows] == inputs["image_bytes"]
                out = loaded.signatures[signature](**{k: tf.constant(v) for k, v in tensors.items()})
                assert_same({k: (np.vectorize(bytes.decode)(v.numpy()) if v.dtype == tf.string else v.numpy())
                             for k, v in out.items()}, want, (name, signature, fmt))
        assert seen == set(card["signatures"]), name


# -- models.config and batching parameters -----------------------------------------------------

def test_serving_config_lists_every_exported_model(served, tmp_path, capsys):
    base, models = served
    (base / "notes").mkdir(exist_ok=True)  # no version: not a model
    (base / "readme.txt").write_text("not a model")
    (base / "digits" / ".tmp-2-123").mkdir(exist_ok=True)  # a half export is ignored
    assert serving_config.main(["--base", str(base)]) == 0
    assert "3 models: char, digits, scenes" in capsys.readouterr().out
    config = text_format.Parse((base / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    entries = {c.name: c for c in config.model_config_list.config}
    assert set(entries) == set(models)
    for name, entry in entries.items():
        assert entry.base_path == str((base / name).resolve()) and entry.model_platform == "tensorflow"
    batching = (base / "batching_parameters.txt").read_text()
    values = dict(re.findall(r"^(\w+) \{ value: (\d+) \}$", batching, re.M))
    assert set(values) == {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"}
    assert values["max_batch_size"] == "32"

    assert serving_config.main(["--base", str(base), "--prefix", "/models/", "--max-batch-size", "8"]) == 0
    config = text_format.Parse((base / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    assert [c.base_path for c in config.model_config_list.config] == ["/models/char", "/models/digits",
                                                                     "/models/scenes"]
    assert "max_batch_size { value: 8 }" in (base / "batching_parameters.txt").read_text()

    capsys.readouterr()
    assert serving_config.main(["--base", str(tmp_path / "empty")]) == 2
    assert "holds no exported model" in capsys.readouterr().err
    assert serving_config.main(["--base", str(base), "--max-batch-size", "0"]) == 2
    assert "--max-batch-size must be >= 1" in capsys.readouterr().err


# -- the client end to end, against stand-in servers -------------------------------------------

def free_ports(n):
    """`n` TCP ports that are free now (bound and released)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class StandInPredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """TF Serving's gRPC Predict and GetModelMetadata, answered from the SavedModels in Python."""

    def __init__(self, models):
        self.models = models

    def GetModelMetadata(self, request, context):
        from tensorflow.core.protobuf import saved_model_pb2

        version = self.models[request.model_spec.name][0]
        saved = saved_model_pb2.SavedModel.FromString((version / "saved_model.pb").read_bytes())
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for key, value in saved.meta_graphs[0].signature_def.items():
            signatures.signature_def[key].CopyFrom(value)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.metadata["signature_def"].Pack(signatures)
        return response

    def Predict(self, request, context):
        import grpc

        version, _, loaded = self.models[request.model_spec.name]
        signature = request.model_spec.signature_name or "serving_default"
        try:
            out = loaded.signatures[signature](**{k: tf.constant(tf.make_ndarray(v))
                                                  for k, v in request.inputs.items()})
        except tf.errors.InvalidArgumentError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, e.message)
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        response.model_spec.version.value = int(version.name)
        for key, value in out.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
        return response


def rest_stand_in(models, card_dtypes):
    """An HTTP server answering POST /v1/models/NAME:predict from the SavedModels; returns it."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            name = re.match(r"/v1/models/([^/:]+)(?:/versions/\d+)?:predict$", self.path).group(1)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            signature = body.get("signature_name") or "serving_default"
            try:
                tensors = rest_tensors(body, card_dtypes(name, signature))
                out = models[name][2].signatures[signature](**{k: tf.constant(v) for k, v in tensors.items()})
                status, answer = 200, rest_answer({k: v.numpy() for k, v in out.items()}, "instances" in body)
            except tf.errors.InvalidArgumentError as e:
                status, answer = 400, {"error": e.message}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def client_answer(argv, capsys):
    code = client.main(argv)
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err


def cli_inputs(inputs, tmp_path):
    """Client inputs as --input flags (arrays through .npy files, bytes through files)."""
    flags = []
    for key, value in inputs.items():
        if isinstance(value, np.ndarray):
            np.save(tmp_path / f"{key}.npy", value)
            flags += ["--input", f"{key}=@{tmp_path / key}.npy"]
        elif value and isinstance(value[0], bytes):
            for i, data in enumerate(value):
                (tmp_path / f"{key}{i}.png").write_bytes(data)
                flags += ["--input", f"{key}=@{tmp_path / key}{i}.png"]
        else:
            flags += ["--input", f"{key}={json.dumps(value)}"]
    return flags


def test_client_against_stand_in_servers(served, tmp_path, capsys):
    import grpc

    base, models = served
    grpc_server = grpc.server(concurrent.futures.ThreadPoolExecutor(2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(StandInPredictionService(models), grpc_server)
    (grpc_port,) = free_ports(1)
    grpc_server.add_insecure_port(f"127.0.0.1:{grpc_port}")
    grpc_server.start()
    def dtypes(name, signature):
        card = models[name][1]
        return signature_dtypes(card, card["default_signature"] if signature == "serving_default" else signature)

    rest = rest_stand_in(models, dtypes)
    threading.Thread(target=rest.serve_forever, daemon=True).start()
    rest_url = f"http://127.0.0.1:{rest.server_address[1]}"
    try:
        for name in models:
            card = models[name][1]
            for signature, inputs in requests_for(name):
                want = expected(models, name, signature, inputs)
                names = sorted(card["signatures"][signature]["outputs"])
                flags = ["--name", name, "--signature", signature, *cli_inputs(inputs, tmp_path)]
                for where in (["--rest", rest_url], ["--rest", rest_url, "--format", "columnar"],
                              ["--grpc", f"127.0.0.1:{grpc_port}"]):
                    code, answer, err = client_answer([*where, *flags], capsys)
                    assert code == 0, err
                    assert_same(client.outputs_of(answer, names), want, (name, signature, where))
        # The default signature, and refusals: the server's error is printed, exit status 1.
        image = ["--input", f"image_bytes=@{tmp_path / 'image_bytes0.png'}", "--input", "beam_width=1"]
        code, answer, _ = client_answer(["--rest", rest_url, "--name", "scenes", *image], capsys)
        assert code == 0 and len(answer["predictions"]) == 1 and 1 <= answer["predictions"][0]["length"] <= 7
        (tmp_path / "bad.jpg").write_bytes(b"not an image")
        bad = ["--name", "scenes", "--input", f"image_bytes=@{tmp_path / 'bad.jpg'}", "--input", "beam_width=1"]
        for where in (["--rest", rest_url], ["--grpc", f"127.0.0.1:{grpc_port}"]):
            code, answer, _ = client_answer([*where, *bad], capsys)
            assert code == 1 and "image format not accepted" in answer["error"]
        code, _, err = client_answer(["--rest", rest_url, "--name", "char", "--input", "prime=def"], capsys)
        assert code == 2 and "not JSON" in err
        code, _, err = client_answer(["--rest", rest_url, "--name", "char", "--input", 'prime=["a","b"]',
                                      "--input", "length=[1,2,3]"], capsys)
        assert code == 2 and "different numbers of rows" in err
    finally:
        rest.shutdown()
        grpc_server.stop(None)


# -- the real server -----------------------------------------------------------------------------

def _get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_live_tensorflow_model_server(served, tmp_path):
    if SERVER is None:
        pytest.skip("tensorflow_model_server is not on PATH (TF Serving is not pip-installable: use the "
                    "tensorflow/serving docker image or its apt package, see export/README.md); the "
                    "stand-in servers above carry the same requests")
    base, models = served
    names, config, params = serving_config.write_configs(base, max_batch_size=8, batch_timeout_micros=1000,
                                                         max_enqueued_batches=10, num_batch_threads=2)
    grpc_port, rest_port = free_ports(2)
    rest_url, grpc_target = f"http://127.0.0.1:{rest_port}", f"127.0.0.1:{grpc_port}"
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([SERVER, f"--port={grpc_port}", f"--rest_api_port={rest_port}",
                                   f"--model_config_file={config}", "--enable_batching",
                                   f"--batching_parameters_file={params}"],
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        waiting = set(names)
        while waiting:
            assert server.poll() is None, "the server exited:\n" + log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{waiting} not AVAILABLE after 180 s:\n" + log_path.read_text()[-3000:]
            for name in list(waiting):
                try:
                    status = _get(f"{rest_url}/v1/models/{name}")["model_version_status"]
                except OSError:
                    continue
                if any(s["state"] == "AVAILABLE" for s in status):
                    waiting.discard(name)
            time.sleep(0.5)
        for name in names:
            card = models[name][1]
            for signature, inputs in requests_for(name):
                want = expected(models, name, signature, inputs)
                outputs = sorted(card["signatures"][signature]["outputs"])
                for fmt in ("row", "columnar"):
                    status, answer = client.post_rest(rest_url, name, client.rest_body(inputs, signature, fmt))
                    assert status == 200, answer
                    assert_same(client.outputs_of(answer, outputs), want, (name, signature, fmt))
                answer = client.predict_grpc(grpc_target, name, signature, inputs)
                assert_same(client.outputs_of(answer, outputs), want, (name, signature, "grpc"))
        # Bad requests get an error; the server lives on.
        bad = [("scenes", "caption", {"image_bytes": [b"not an image"], "beam_width": [1]}),
               ("scenes", "caption", {"image_bytes": [png(1)], "beam_width": [99]}),
               ("char", "generate", {"prime": ["def"], "length": [100_000], "temperature": [0.0],
                                     "top_k": [0], "seed": [0]}),
               ("digits", "classify", {"images": np.zeros((1, 27, 27, 1), np.float32)})]
        for name, signature, inputs in bad:
            status, answer = client.post_rest(rest_url, name, client.rest_body(inputs, signature))
            assert status == 400 and answer.get("error"), (name, signature, answer)
        assert server.poll() is None
        signature, inputs = requests_for("scenes")[0]
        status, answer = client.post_rest(rest_url, "scenes", client.rest_body(inputs, signature))
        assert status == 200
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
