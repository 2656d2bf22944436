#!/usr/bin/env python
"""Send one prediction request to TF Serving, over REST (row or columnar JSON) or gRPC; print the answer.

Examples:
  python export/client.py --rest http://localhost:8501 --name shakespeare \\
      --input prime='"ROMEO:"' --input length=200 --input temperature=0.8 --input top_k=20 --input seed=1
  python export/client.py --rest http://localhost:8501 --name scenes --format columnar \\
      --input image_bytes=@photo.jpg --input image_bytes=@other.png --input beam_width=3
  python export/client.py --grpc localhost:8500 --name digits --signature rectify --input images=@digits.npy

Inputs (--input NAME=VALUE, one per signature input; the model card or `saved_model_cli show`
lists them):
  NAME=JSON     a JSON value: one row (a number, a string) or a list with one entry per row
  NAME=@FILE    FILE.npy: a numpy array (first axis = rows); FILE.json: its JSON value; any other
                file: its bytes, one row (an encoded image); repeat the flag to add rows. A
                FILE above 64 MiB (a .json above 16 MiB) is refused before it is read: TF
                Serving refuses requests above 32 MiB by default (serving_config.py
                --max-request-bytes)
An input given for one row is repeated for every row, so every input has one value per row:
what the REST row format needs, and what TF Serving's server-side batching needs in any format.

REST (`requests` if installed, else urllib): POST /v1/models/NAME[/versions/N]:predict with
{"signature_name": S, "instances": [{input: value, ...} per row]} (row format, default) or
{"signature_name": S, "inputs": {input: [values]}} (--format columnar); bytes travel as
{"b64": "..."}. The server's JSON answer is printed as it came: {"predictions": [...]} or
{"outputs": {...}}. gRPC (tensorflow-serving-api): the signature's input dtypes are read with
GetModelMetadata, the PredictResponse is printed as columnar JSON {"outputs": {...}}.
Exit status 0: answered; 1: the server refused the request (its error is printed); 2: bad arguments.
"""

import argparse
import base64
import io
import json
import pathlib
import sys

import numpy as np

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept

# The most bytes of one @FILE input: twice the largest request TF Serving takes by default (a
# larger file could not be sent anyway); .json files are capped lower, by
# `kerasrnn.files.JSON_MAX_BYTES`, as parsing takes about ten times a file's size.
INPUT_FILE_MAX_BYTES = 64 * 1024 * 1024

# TF Serving DataType names -> numpy dtypes for the inputs our signatures take.
NUMPY_DTYPES = {"DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_INT32": np.int32,
                "DT_INT64": np.int64, "DT_STRING": object, "DT_BOOL": np.bool_,
                "DT_UINT8": np.uint8}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--rest", metavar="URL", help="REST endpoint, e.g. http://localhost:8501")
    where.add_argument("--grpc", metavar="HOST:PORT", help="gRPC endpoint, e.g. localhost:8500")
    p.add_argument("--name", required=True, help="the served model's name")
    p.add_argument("--signature", default="serving_default", help="signature (default serving_default)")
    p.add_argument("--version", help="model version, digits 0-9 (default: the served one)")
    p.add_argument("--format", choices=("row", "columnar"), default="row",
                   help="REST body: row ('instances', default) or columnar ('inputs')")
    p.add_argument("--input", action="append", default=[], metavar="NAME=VALUE",
                   help="an input value (see above); repeat for each input")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    return p.parse_args(argv)


# -- inputs ------------------------------------------------------------------------------------

def parse_inputs(specs):
    """`["NAME=VALUE", ...]` -> `{name: list of rows or numpy array}` (see the module docstring)."""
    from kerasrnn.errors import InputError
    from kerasrnn.files import read_bytes_capped, read_json_file

    inputs = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name:
            raise ValueError(f"--input {spec!r}: write NAME=VALUE")
        if value.startswith("@"):
            path = pathlib.Path(value[1:])
            if not path.is_file():
                raise ValueError(f"--input {name}: {path} is not a file")
            fix = "give another file"
            try:
                if path.suffix == ".json":  # sized, decoded and parsed in one place
                    rows = read_json_file(path, fix)
                else:
                    raw = read_bytes_capped(path, INPUT_FILE_MAX_BYTES, fix)
                    if path.suffix != ".npy":
                        inputs.setdefault(name, []).append(raw)
                        continue
                    rows = np.load(io.BytesIO(raw), allow_pickle=False)
            except InputError as e:  # too large, unreadable, not JSON (the message names the file)
                raise ValueError(f"--input {name}: {e}") from None
            except (OSError, ValueError, EOFError) as e:  # not .npy
                raise ValueError(f"--input {name}: cannot read {path} ({type(e).__name__}: "
                                 f"{' '.join(str(e).split())})") from None
        else:
            try:
                rows = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"--input {name}={value}: not JSON (quote strings: "
                                 f"{name}='\"text\"')") from None
        if name in inputs:
            raise ValueError(f"--input {name} is given twice (repeat only @FILE values)")
        inputs[name] = rows
    return inputs


def as_rows(inputs):
    """Every input as a list of rows, one-row inputs repeated: `({name: list}, number of rows)`."""
    rows = {}
    for name, value in inputs.items():
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        rows[name] = list(value) if isinstance(value, (list, np.ndarray)) else [value]
    lengths = {len(v) for v in rows.values()} - {1}
    if len(lengths) > 1:
        raise ValueError("inputs have different numbers of rows: " + ", ".join(
            f"{n} {len(v)}" for n, v in rows.items()))
    batch = lengths.pop() if lengths else 1
    return {name: v * batch if len(v) == 1 else v for name, v in rows.items()}, batch


def _jsonable(value):
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def rest_body(inputs, signature="serving_default", fmt="row"):
    """The JSON body of a REST predict request in TF Serving's row or columnar format."""
    rows, batch = as_rows(inputs)
    body = {"signature_name": signature}
    if fmt == "row":
        body["instances"] = [{name: _jsonable(v[i]) for name, v in rows.items()} for i in range(batch)]
    elif fmt == "columnar":
        body["inputs"] = {name: _jsonable(v) for name, v in rows.items()}
    else:
        raise ValueError(f"format must be row or columnar, got {fmt!r}")
    return body


def grpc_request(inputs, name, signature, dtypes, version=None):
    """A `PredictRequest` for `inputs`, each cast to its signature dtype.

    Args:
        inputs: `{input: value}` as `parse_inputs` gives.
        name, signature, version: The model, signature and (optional) version.
        dtypes: `{input: TF Serving DataType name}`, e.g. `{"prime": "DT_STRING"}`.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2

    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=name, signature_name=signature))
    if version is not None:
        request.model_spec.version.value = version
    rows, _ = as_rows(inputs)
    for key, value in rows.items():
        if key not in dtypes:
            raise ValueError(f"signature {signature!r} has no input {key!r}; its inputs: "
                             f"{', '.join(sorted(dtypes))}")
        dtype = NUMPY_DTYPES.get(dtypes[key])
        if dtype is None:
            raise ValueError(f"input {key!r} has dtype {dtypes[key]}, which this client cannot send")
        if dtype is object:
            array = np.array([v.encode() if isinstance(v, str) else v for v in value], object)
        else:
            array = np.asarray(value, dtype)
        request.inputs[key].CopyFrom(tf.make_tensor_proto(array))
    return request


# -- transport ---------------------------------------------------------------------------------

def post_rest(url, name, body, version=None, timeout=60.0):
    """POSTs a predict request; returns `(HTTP status, parsed JSON answer)`."""
    target = f"{url.rstrip('/')}/v1/models/{name}" + (f"/versions/{version}" if version else "") + ":predict"
    data = json.dumps(body).encode()
    try:
        import requests
    except ImportError:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(target, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")
    response = requests.post(target, data=data, headers={"Content-Type": "application/json"},
                             timeout=timeout)
    return response.status_code, response.json()


def grpc_signature_dtypes(channel, name, signature, version=None, timeout=60.0):
    """`{input: DataType name}` of a served signature, from GetModelMetadata."""
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2, prediction_service_pb2_grpc

    request = get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec=model_pb2.ModelSpec(name=name), metadata_field=["signature_def"])
    if version is not None:
        request.model_spec.version.value = version
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    response = stub.GetModelMetadata(request, timeout=timeout)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    if signature not in signatures.signature_def:
        raise ValueError(f"model {name!r} has no signature {signature!r}; it has "
                         f"{', '.join(sorted(signatures.signature_def))}")
    inputs = signatures.signature_def[signature].inputs
    return {k: types_pb2.DataType.Name(v.dtype) for k, v in inputs.items()}


def response_json(response):
    """A `PredictResponse` as columnar JSON: `{"model_spec": ..., "outputs": {name: value}}`."""
    import tensorflow as tf

    outputs = {key: _strings_as_text(tf.make_ndarray(proto).tolist())
               for key, proto in sorted(response.outputs.items())}
    spec = response.model_spec
    return {"model_spec": {"name": spec.name, "signature_name": spec.signature_name,
                           "version": spec.version.value},
            "outputs": outputs}


def _strings_as_text(value):
    """Bytes in nested lists -> UTF-8 text, or `{"b64": ...}` where not UTF-8 (as TF Serving's REST)."""
    if isinstance(value, list):
        return [_strings_as_text(v) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def predict_grpc(target, name, signature, inputs, version=None, timeout=60.0):
    """Sends a gRPC Predict; returns the answer as `response_json` gives it."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        dtypes = grpc_signature_dtypes(channel, name, signature, version, timeout)
        request = grpc_request(inputs, name, signature, dtypes, version)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return response_json(stub.Predict(request, timeout=timeout))


def outputs_of(answer, names):
    """The outputs of a REST or `response_json` answer as `{name: numpy array}`, rows first.

    Args:
        answer: `{"predictions": [...]}` (row format), `{"outputs": ...}` (columnar, gRPC).
        names: The signature's output names (a one-output signature's answer does not name it).
    """
    if "predictions" in answer:
        rows = answer["predictions"]
        if len(names) == 1:
            return {names[0]: np.asarray(rows)}
        return {name: np.asarray([row[name] for row in rows]) for name in names}
    outputs = answer["outputs"]
    if not isinstance(outputs, dict) or set(outputs) != set(names):
        outputs = {names[0]: outputs}
    return {name: np.asarray(outputs[name]) for name in names}


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: send(args), {"version": "--version"})


def send(args):
    """Sends the request `args` describe and prints the answer; returns the exit status."""
    from kerasrnn.errors import InputError
    from kerasrnn.export.version_dir import parse_version

    try:
        if args.version is not None:
            args.version = parse_version(args.version)
        inputs = parse_inputs(args.input)
        if not inputs:
            raise ValueError("give the signature's inputs with --input NAME=VALUE")
        if args.rest:
            status, answer = post_rest(args.rest, args.name, rest_body(inputs, args.signature, args.format),
                                       args.version, args.timeout)
        else:
            import grpc

            try:
                status, answer = 200, predict_grpc(args.grpc, args.name, args.signature, inputs,
                                                   args.version, args.timeout)
            except grpc.RpcError as e:
                status, answer = 400, {"error": f"{e.code().name}: {e.details()}"}
    except ValueError as e:  # bad inputs: `run` prints the one line, status 2
        raise InputError(str(e)) from None
    except OSError as e:  # connection refused, timeout (requests' errors are OSErrors too)
        print(f"error: cannot reach {args.rest or args.grpc}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=1))
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
