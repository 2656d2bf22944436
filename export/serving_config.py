#!/usr/bin/env python
"""Write TF Serving's model config (every exported model under --base), batching parameters and
server flags, after checking that TF Serving can read them and that they fit the models' limits.

Example:
  python export/serving_config.py --base saved_models                   # absolute paths, plain binary
  python export/serving_config.py --base saved_models --prefix /models  # paths inside the container

Writes BASE/models.config, one entry per model folder of BASE (a folder with at least one
integer version, a subfolder named by the digits 0-9 only, holding a saved_model.pb; TF Serving
serves the highest version of each and picks up new versions as they appear):

  model_config_list {
    config {
      name: "shakespeare"
      base_path: "/models/shakespeare"
      model_platform: "tensorflow"
    }
  }

BASE/batching_parameters.txt (server-side batching: requests that arrive within
--batch-timeout-micros are merged into one batch of at most --max-batch-size rows):

  max_batch_size { value: 32 }          (default: min(32, the smallest max_rows of the models))
  batch_timeout_micros { value: 2000 }
  max_enqueued_batches { value: 16 }    (a bounded queue: beyond it requests get UNAVAILABLE)
  num_batch_threads { value: 2 }        (default: the number of CPUs)

and BASE/server_flags.txt, the flags of tensorflow_model_server one per line (run it with
`mapfile -t flags < saved_models/server_flags.txt; tensorflow_model_server --port=8500
--rest_api_port=8501 "${flags[@]}"`; this script prints the full command line):

  --model_config_file=/models/models.config
  --enable_batching
  --batching_parameters_file=/models/batching_parameters.txt
  --grpc_channel_arguments=grpc.max_receive_message_length=33554432   (--max-request-bytes)
  --grpc_max_threads=4                  (--grpc-max-threads, default 2 x CPUs)
  --rest_api_num_threads=4              (--rest-api-num-threads, default 2 x CPUs)
  --rest_api_timeout_in_ms=30000        (--rest-api-timeout-ms)

Then:
  tensorflow_model_server --port=8500 --rest_api_port=8501 \\
      --model_config_file="$PWD/saved_models/models.config" \\
      --enable_batching --batching_parameters_file="$PWD/saved_models/batching_parameters.txt" ...
  docker run -p 8500:8500 -p 8501:8501 -v "$PWD/saved_models:/models" tensorflow/serving \\
      --model_config_file=/models/models.config \\
      --enable_batching --batching_parameters_file=/models/batching_parameters.txt ...

Refused, with nothing written: a model folder name TF Serving cannot take (at most 100 letters,
digits, `_`, `.`, `-`, starting with a letter or digit), a --prefix (or --base path) with
control characters, a config that does not parse with TF Serving's own ModelServerConfig proto (checked where the
tensorflow-serving-api package is installed), an unreadable model card, and a --max-batch-size
above a model's `limits.max_rows` (its model card, BASE/NAME/VERSION/assets.extra/model_card.json
of the highest version; a card without `limits` sets no bound).

Limits and memory. With batching on, TF Serving concatenates the inputs of merged requests
along their first axis and runs the signature once on the merged batch, so a model's limits
(max_rows and the like) apply to the merged batch, not to each request: a merged batch above
max_rows would be refused as a whole, hence --max-batch-size <= the smallest max_rows. Every
input of a request needs one value per row (export/client.py sends them so), and the char
model's `step` requests merged together need the same number of tokens. The worst-case memory
of the server is about concurrency x the per-request peak of the heaviest signature, where
concurrency is --num-batch-threads with batching on (else the gRPC plus REST threads), plus the
requests waiting in the queue (at most --max-enqueued-batches x --max-batch-size rows, each
request at most --max-request-bytes). The per-request peaks are measured by a benchmark: see
docs/security.md for the figures. --max-request-bytes bounds gRPC messages only:
tensorflow_model_server has no flag for the size of a REST body, so put a proxy with a body
limit (e.g. nginx client_max_body_size) in front of the REST port, or expose only gRPC. gRPC has
no server-side timeout flag: clients set deadlines (export/client.py does).
"""

import argparse
import json
import os
import pathlib
import shlex
import sys
import unicodedata

CONFIG_FILE, BATCHING_FILE, FLAGS_FILE = "models.config", "batching_parameters.txt", "server_flags.txt"
CARD_PATH = ("assets.extra", "model_card.json")
DEFAULT_MAX_BATCH_SIZE = 32
CONTROL_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # refused in --prefix
INT32_MAX = 2**31 - 1  # tensorflow_model_server parses these flags as int32
DEFAULTS = dict(batch_timeout_micros=2000, max_enqueued_batches=16, max_request_bytes=32 * 1024 * 1024,
                rest_api_timeout_ms=30000)


def cpu_count():
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_args(argv=None):
    cpus = cpu_count()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="saved_models", help="models folder (default saved_models)")
    p.add_argument("--prefix",
                   help="base_path prefix in the config, e.g. /models where docker mounts --base "
                        "(default: the absolute path of --base)")
    p.add_argument("--max-batch-size", type=int,
                   help=f"rows per merged batch (default: {DEFAULT_MAX_BATCH_SIZE}, or the smallest "
                        "max_rows of the models' cards if smaller; a larger value is refused)")
    p.add_argument("--batch-timeout-micros", type=int, default=DEFAULTS["batch_timeout_micros"],
                   help="longest wait for a batch to fill, microseconds (default %(default)s)")
    p.add_argument("--max-enqueued-batches", type=int, default=DEFAULTS["max_enqueued_batches"],
                   help="batches queued before requests are refused with UNAVAILABLE (default %(default)s)")
    p.add_argument("--num-batch-threads", type=int, default=cpus,
                   help="batches run in parallel (default: the number of CPUs, %(default)s)")
    p.add_argument("--max-request-bytes", type=int, default=DEFAULTS["max_request_bytes"],
                   help="largest gRPC message the server accepts (default %(default)s = 32 MiB)")
    p.add_argument("--grpc-max-threads", type=int, default=2 * cpus,
                   help="gRPC server threads (default: 2 x the number of CPUs, %(default)s)")
    p.add_argument("--rest-api-num-threads", type=int, default=2 * cpus,
                   help="REST server threads (default: 2 x the number of CPUs, %(default)s)")
    p.add_argument("--rest-api-timeout-ms", type=int, default=DEFAULTS["rest_api_timeout_ms"],
                   help="REST call timeout, milliseconds (default %(default)s)")
    return p.parse_args(argv)


def _versions(folder):
    """The version folders (named by ASCII digits only) of `folder` that hold a saved_model.pb."""
    from kerasrnn.export.version_dir import version_dirs

    return [v for v in version_dirs(folder) if (v / "saved_model.pb").is_file()]


def model_folders(base):
    """The model folders of `base`: subfolders with an integer version holding a saved_model.pb."""
    base = pathlib.Path(base)
    return [folder for folder in sorted(base.iterdir() if base.is_dir() else ())
            if folder.is_dir() and not folder.name.startswith(".") and _versions(folder)]


def latest_version(folder):
    """The version folder TF Serving serves: the highest integer version with a saved_model.pb."""
    return max(_versions(pathlib.Path(folder)), key=lambda v: int(v.name))


def check_name(folder):
    """Raises ValueError unless the folder's name can be a model name in models.config."""
    from kerasrnn.export.version_files import MODEL_NAME_RULE, model_name_problem

    problem = model_name_problem(pathlib.Path(folder).name)
    if problem is not None:
        raise ValueError(f"model folder {str(folder)!r} has a name TF Serving cannot take ({problem}: "
                         f"{MODEL_NAME_RULE}); rename it")


def check_prefix(prefix, what):
    """Raises ValueError if `prefix` has control characters (a newline breaks the config and the flags)
    or other characters that end a line or are invisible (Unicode categories C*, Zl, Zp)."""
    bad = sorted({c for c in prefix if unicodedata.category(c) in CONTROL_CATEGORIES})
    if bad:
        raise ValueError(f"{what} {prefix!r} contains control characters ({', '.join(map(repr, bad))}); "
                         "use a path without them")


def max_rows(version_dir):
    """`limits.max_rows` of the model card of `version_dir`, or None where the card has no `limits`.

    Raises:
        ValueError: The card is missing, unreadable, not JSON, or its limits are malformed.
    """
    from kerasrnn.export.version_files import read_json

    path = pathlib.Path(version_dir).joinpath(*CARD_PATH)
    card = read_json(path)  # an InputError (a ValueError) for a missing or damaged card
    if "limits" not in card:
        return None
    limits, rows = card["limits"], None
    if isinstance(limits, dict):
        rows = limits.get("max_rows")
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
        raise ValueError(f"model card {path} has no positive integer limits.max_rows (got "
                         f"{json.dumps(limits)[:80]}); export the model again")
    return rows


def _quoted(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def models_config(names, prefix):
    """The text of a `ModelServerConfig` serving `names` from `prefix/<name>`."""
    lines = ["model_config_list {"]
    for name in names:
        lines += ["  config {", f"    name: {_quoted(name)}",
                  f"    base_path: {_quoted(prefix.rstrip('/') + '/' + name)}",
                  '    model_platform: "tensorflow"', "  }"]
    return "\n".join(lines + ["}"]) + "\n"


def batching_parameters(max_batch_size, batch_timeout_micros, max_enqueued_batches, num_batch_threads):
    """The text of TF Serving's `BatchingParameters` (--batching_parameters_file)."""
    return (f"max_batch_size {{ value: {max_batch_size} }}\n"
            f"batch_timeout_micros {{ value: {batch_timeout_micros} }}\n"
            f"max_enqueued_batches {{ value: {max_enqueued_batches} }}\n"
            f"num_batch_threads {{ value: {num_batch_threads} }}\n")


def server_flags(prefix, max_request_bytes, grpc_max_threads, rest_api_num_threads, rest_api_timeout_ms):
    """The tensorflow_model_server flags (besides the ports) that serve the files under `prefix`."""
    prefix = prefix.rstrip("/")
    return [f"--model_config_file={prefix}/{CONFIG_FILE}",
            "--enable_batching",
            f"--batching_parameters_file={prefix}/{BATCHING_FILE}",
            f"--grpc_channel_arguments=grpc.max_receive_message_length={max_request_bytes}",
            f"--grpc_max_threads={grpc_max_threads}",
            f"--rest_api_num_threads={rest_api_num_threads}",
            f"--rest_api_timeout_in_ms={rest_api_timeout_ms}"]


def _one_line(error):
    return " ".join(str(error).split())


def check_parses(config_text, batching_text, names, prefix):
    """Parses the texts with TF Serving's own protos, where the tensorflow-serving-api package has them.

    Raises:
        ValueError: A text does not parse, or the parsed config does not list `names` once each.
    """
    try:
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2
    except Exception:  # the package is optional: no check without it
        return
    try:
        config = text_format.Parse(config_text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as e:
        raise ValueError(f"the generated {CONFIG_FILE} does not parse as TF Serving's ModelServerConfig "
                         f"({_one_line(e)}); check the model folder names and --prefix") from None
    parsed = [c.name for c in config.model_config_list.config]
    if len(set(parsed)) != len(parsed) or sorted(parsed) != sorted(names):
        raise ValueError(f"the generated {CONFIG_FILE} lists {parsed}, not each of {names} once")
    for entry in config.model_config_list.config:
        if entry.base_path != prefix.rstrip("/") + "/" + entry.name:
            raise ValueError(f"the generated {CONFIG_FILE} gives model {entry.name!r} the base path "
                             f"{entry.base_path!r}; check --prefix")
    try:
        from tensorflow_serving.servables.tensorflow import session_bundle_config_pb2
    except Exception:  # not in the pip package (2.21): the server parses the batching file itself
        return
    try:
        text_format.Parse(batching_text, session_bundle_config_pb2.BatchingParameters())
    except text_format.ParseError as e:
        raise ValueError(f"the generated {BATCHING_FILE} does not parse as TF Serving's "
                         f"BatchingParameters ({_one_line(e)})") from None


def write_configs(base, prefix=None, max_batch_size=None,
                  batch_timeout_micros=DEFAULTS["batch_timeout_micros"],
                  max_enqueued_batches=DEFAULTS["max_enqueued_batches"], num_batch_threads=None,
                  max_request_bytes=DEFAULTS["max_request_bytes"], grpc_max_threads=None,
                  rest_api_num_threads=None, rest_api_timeout_ms=DEFAULTS["rest_api_timeout_ms"]):
    """Writes `base/models.config`, `base/batching_parameters.txt` and `base/server_flags.txt`.

    Every check runs before the first write: on an error nothing is written.

    Args:
        max_batch_size: Default: min(32, the smallest `limits.max_rows` of the models' cards).
        num_batch_threads: Default: the number of CPUs.
        grpc_max_threads, rest_api_num_threads: Default: 2 x the number of CPUs.

    Returns:
        `(model names, config path, batching path)`; the flags are in `base/server_flags.txt`.

    Raises:
        ValueError: No exported model under `base`; a model folder name or prefix TF Serving cannot
            take; an unreadable model card; a value below its least (0 for the timeout, else 1) or
            above int32; a max_batch_size above a model's max_rows; a config that does not parse.
    """
    from kerasrnn.files import AGAIN_HINT, write_text_atomic

    base = pathlib.Path(base)
    folders = model_folders(base)
    if not folders:
        raise ValueError(f"{base} holds no exported model (BASE/NAME/VERSION/saved_model.pb); "
                         "export one with export/export_model.py first")
    for folder in folders:
        check_name(folder)
    names = [f.name for f in folders]
    if prefix is None:
        prefix = str(base.resolve())
        check_prefix(prefix, "the --base path (no --prefix given)")
    else:
        check_prefix(prefix, "--prefix")

    limits = {f.name: max_rows(latest_version(f)) for f in folders}
    bounded = {name: rows for name, rows in limits.items() if rows is not None}
    tightest = min(bounded, key=bounded.get) if bounded else None
    cpus = cpu_count()
    values = dict(max_batch_size=max_batch_size, batch_timeout_micros=batch_timeout_micros,
                  max_enqueued_batches=max_enqueued_batches,
                  num_batch_threads=cpus if num_batch_threads is None else num_batch_threads,
                  max_request_bytes=max_request_bytes,
                  grpc_max_threads=2 * cpus if grpc_max_threads is None else grpc_max_threads,
                  rest_api_num_threads=2 * cpus if rest_api_num_threads is None else rest_api_num_threads,
                  rest_api_timeout_ms=rest_api_timeout_ms)
    if values["max_batch_size"] is None:
        values["max_batch_size"] = min([DEFAULT_MAX_BATCH_SIZE] + list(bounded.values()))
    for key, value in values.items():
        flag, least = "--" + key.replace("_", "-"), 0 if key == "batch_timeout_micros" else 1
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{flag} must be an integer, got {value!r}")
        if value < least:
            raise ValueError(f"{flag} must be >= {least}, got {value}")
        if value > INT32_MAX:
            raise ValueError(f"{flag} must be <= {INT32_MAX}, got {value}")
    if tightest is not None and values["max_batch_size"] > bounded[tightest]:
        raise ValueError(f"--max-batch-size {values['max_batch_size']} is above model {tightest!r}'s "
                         f"max_rows {bounded[tightest]} (a merged batch above it would be refused as a "
                         f"whole); give --max-batch-size {bounded[tightest]} or less")

    batching = {k: values[k] for k in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
                                       "num_batch_threads")}
    flags = {k: values[k] for k in ("max_request_bytes", "grpc_max_threads", "rest_api_num_threads",
                                    "rest_api_timeout_ms")}
    texts = {CONFIG_FILE: models_config(names, prefix), BATCHING_FILE: batching_parameters(**batching),
             FLAGS_FILE: "\n".join(server_flags(prefix, **flags)) + "\n"}
    check_parses(texts[CONFIG_FILE], texts[BATCHING_FILE], names, prefix)
    for file_name, text in texts.items():
        write_text_atomic(base / file_name, text, AGAIN_HINT)  # a polling server never reads half
    return names, base / CONFIG_FILE, base / BATCHING_FILE


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: configure(args))


def configure(args):
    """Writes the files `args` describe and prints how to serve them."""
    from kerasrnn.errors import InputError

    try:
        names, config, params = write_configs(
            args.base, args.prefix, max_batch_size=args.max_batch_size,
            batch_timeout_micros=args.batch_timeout_micros, max_enqueued_batches=args.max_enqueued_batches,
            num_batch_threads=args.num_batch_threads, max_request_bytes=args.max_request_bytes,
            grpc_max_threads=args.grpc_max_threads, rest_api_num_threads=args.rest_api_num_threads,
            rest_api_timeout_ms=args.rest_api_timeout_ms)
    except ValueError as e:  # `run` prints the one line, status 2
        raise InputError(_one_line(e)) from None
    flags_path = config.with_name(FLAGS_FILE)
    flags = flags_path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    print(f"wrote {config} ({len(names)} models: {', '.join(names)}), {params} and {flags_path}")
    ports = ["--port=8500", "--rest_api_port=8501"]
    if args.prefix is None:
        print("serve: " + shlex.join(["tensorflow_model_server"] + ports + flags))
    else:
        mount = f"{pathlib.Path(args.base).resolve()}:{args.prefix.rstrip('/')}"
        print("serve: " + shlex.join(["docker", "run", "-p", "8500:8500", "-p", "8501:8501", "-v", mount,
                                      "tensorflow/serving"] + flags))
    return 0


if __name__ == "__main__":
    sys.exit(main())
