#!/usr/bin/env python
"""Write TF Serving's model config (every exported model under --base) and batching parameters.

Example:
  python export/serving_config.py --base saved_models                   # absolute paths, plain binary
  python export/serving_config.py --base saved_models --prefix /models  # paths inside the container

Writes BASE/models.config, one entry per model folder of BASE (a folder with at least one
integer version holding a saved_model.pb; TF Serving serves the highest version of each and
picks up new versions as they appear):

  model_config_list {
    config {
      name: "shakespeare"
      base_path: "/models/shakespeare"
      model_platform: "tensorflow"
    }
  }

and BASE/batching_parameters.txt (server-side batching: requests that arrive within
--batch-timeout-micros are merged into one batch of at most --max-batch-size rows):

  max_batch_size { value: 32 }
  batch_timeout_micros { value: 2000 }
  max_enqueued_batches { value: 100 }
  num_batch_threads { value: 2 }        (default: the number of CPUs)

Then:
  tensorflow_model_server --port=8500 --rest_api_port=8501 \\
      --model_config_file="$PWD/saved_models/models.config" \\
      --enable_batching --batching_parameters_file="$PWD/saved_models/batching_parameters.txt"
  docker run -p 8500:8500 -p 8501:8501 -v "$PWD/saved_models:/models" tensorflow/serving \\
      --model_config_file=/models/models.config \\
      --enable_batching --batching_parameters_file=/models/batching_parameters.txt

With batching on, TF Serving concatenates the inputs of merged requests along their first axis,
so every input of a request needs one value per row (export/client.py sends them so), and the
char model's `step` requests merged together need the same number of tokens.
"""

import argparse
import os
import pathlib
import sys

CONFIG_FILE, BATCHING_FILE = "models.config", "batching_parameters.txt"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="saved_models", help="models folder (default saved_models)")
    p.add_argument("--prefix",
                   help="base_path prefix in the config, e.g. /models where docker mounts --base "
                        "(default: the absolute path of --base)")
    p.add_argument("--max-batch-size", type=int, default=32, help="rows per merged batch (default 32)")
    p.add_argument("--batch-timeout-micros", type=int, default=2000,
                   help="longest wait for a batch to fill, microseconds (default 2000)")
    p.add_argument("--max-enqueued-batches", type=int, default=100,
                   help="batches queued before requests are refused (default 100)")
    p.add_argument("--num-batch-threads", type=int, default=os.cpu_count() or 1,
                   help="batches run in parallel (default: the number of CPUs)")
    return p.parse_args(argv)


def model_folders(base):
    """The model folders of `base`: subfolders with an integer version holding a saved_model.pb."""
    base = pathlib.Path(base)
    found = []
    for folder in sorted(base.iterdir() if base.is_dir() else ()):
        if folder.is_dir() and not folder.name.startswith("."):
            if any(v.name.isdigit() and (v / "saved_model.pb").is_file() for v in folder.iterdir()):
                found.append(folder)
    return found


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


def write_configs(base, prefix=None, **batching):
    """Writes `base/models.config` and `base/batching_parameters.txt`.

    Returns:
        `(model names, config path, batching path)`.

    Raises:
        ValueError: No exported model under `base`, or a batching value below 1 (0 for the timeout).
    """
    base = pathlib.Path(base)
    names = [f.name for f in model_folders(base)]
    if not names:
        raise ValueError(f"{base} holds no exported model (BASE/NAME/VERSION/saved_model.pb); "
                         "export one with export/export_model.py first")
    for key, value in batching.items():
        least = 0 if key == "batch_timeout_micros" else 1
        if value < least:
            raise ValueError(f"--{key.replace('_', '-')} must be >= {least}, got {value}")
    prefix = str(base.resolve()) if prefix is None else prefix
    config, params = base / CONFIG_FILE, base / BATCHING_FILE
    for path, text in ((config, models_config(names, prefix)), (params, batching_parameters(**batching))):
        tmp = path.with_name(path.name + ".tmp")  # a server polling the config never reads half
        tmp.write_text(text)
        os.replace(tmp, path)
    return names, config, params


def main(argv=None):
    args = parse_args(argv)
    try:
        names, config, params = write_configs(
            args.base, args.prefix, max_batch_size=args.max_batch_size,
            batch_timeout_micros=args.batch_timeout_micros,
            max_enqueued_batches=args.max_enqueued_batches, num_batch_threads=args.num_batch_threads)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {config} ({len(names)} models: {', '.join(names)}) and {params}")
    if args.prefix is None:
        print(f"serve: tensorflow_model_server --port=8500 --rest_api_port=8501 --model_config_file={config} "
              f"--enable_batching --batching_parameters_file={params}")
    else:
        prefix = args.prefix.rstrip("/")
        mount = f"{pathlib.Path(args.base).resolve()}:{prefix}"
        print(f'serve: docker run -p 8500:8500 -p 8501:8501 -v "{mount}" '
              f"tensorflow/serving --model_config_file={prefix}/{CONFIG_FILE} --enable_batching "
              f"--batching_parameters_file={prefix}/{BATCHING_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
