#!/usr/bin/env python
"""What one request costs a fresh server process: peak memory above a warm-up baseline, and time.

Example:
  python benchmarks/request_cost.py saved_models/scenes/1 caption request.pkl --warmup warmup.pkl

Loads the SavedModel as a server does, answers a small valid warm-up request of the same
signature (so the baseline holds everything a first request pays once: the loaded graph, its
kernels and thread pools), takes the resident memory as the baseline and resets the kernel's
high-water mark (Linux `/proc/self/clear_refs`), answers the request, and reads the high-water
mark again: the growth is the most memory the request held at any moment. Prints one JSON line:

  {"signature", "ok", "error" (the first line of the error, if any), "error_type",
   "baseline_mib", "peak_mib", "growth_mib" (peak - baseline), "seconds"}

The request files are pickles of `{input name: numpy array}` written by the caller
(`bench_request_limits.py`, the hostile-request tests); they are read before the baseline, so
the request's own size is in it. Where the high-water mark cannot be reset (not Linux), the
process's lifetime peak is used, which hides a request that needs less than loading did.
"""

import argparse
import json
import pathlib
import pickle
import re
import resource
import sys
import time

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def _status_mib(key):
    """A memory figure of /proc/self/status (`VmRSS`, `VmHWM`) in MiB, or None off Linux."""
    try:
        found = re.search(rf"^{key}:\s+(\d+) kB", pathlib.Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(found.group(1)) / 1024 if found else None


def start_measuring():
    """The resident memory now, MiB, with the high-water mark reset to it where the kernel allows."""
    try:
        pathlib.Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS
        return _status_mib("VmRSS")
    except OSError:
        return peak_mib()


def peak_mib():
    """The peak resident memory since `start_measuring` (else since the process began), MiB."""
    hwm = _status_mib("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("version_dir", help="an exported version: BASE/NAME/VERSION")
    p.add_argument("signature", help="the signature to call, e.g. generate, caption")
    p.add_argument("request", help="pickle of {input name: numpy array}")
    p.add_argument("--warmup", required=True, help="pickle of a small valid request of the same signature")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import tensorflow as tf

    with open(args.request, "rb") as f:
        request = pickle.load(f)
    with open(args.warmup, "rb") as f:
        warmup = pickle.load(f)
    loaded = tf.saved_model.load(args.version_dir)

    def call(signature, inputs):
        return loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})

    call(args.signature, warmup)
    baseline = start_measuring()
    start = time.perf_counter()
    result = {"signature": args.signature, "ok": True, "error": None, "error_type": None}
    try:
        outputs = call(args.signature, request)
        for value in outputs.values():
            value.numpy()
    except tf.errors.OpError as e:
        from kerasrnn.data.image_files import assertion_text

        result.update(ok=False, error=assertion_text(e), error_type=type(e).__name__)
    seconds = time.perf_counter() - start
    peak = peak_mib()
    result.update(baseline_mib=round(baseline, 1), peak_mib=round(peak, 1),
                  growth_mib=round(peak - baseline, 1), seconds=round(seconds, 3))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
