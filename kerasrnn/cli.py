"""Helpers the scripts share: flag names in error messages, one way to end on an error (the
library itself never parses arguments or prints)."""

import dataclasses
import os
import re
import sys


def in_flag_terms(message, flags):
    """A library message with parameter names written as a script's flags.

    A name in backticks (`resume`) is replaced wherever it stands; names with an underscore
    wherever they stand as a whole word; plain-word names (`dropout`, `seed`) only at the start
    of the message, where a check names its parameter.

    Args:
        message: The text of an `InputError`.
        flags: `{parameter name: flag}`, e.g. `{"learning_rate": "--lr"}`, or parameter names
            whose flags are `--name-with-dashes`.
    """
    if not isinstance(flags, dict):
        flags = {name: "--" + name.replace("_", "-") for name in flags}
    for name, flag in sorted(flags.items(), key=lambda item: -len(item[0])):
        message = message.replace(f"`{name}`", flag)
        if "_" in name:
            message = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", flag, message)
        else:
            message = re.sub(rf"^{re.escape(name)}(?![\w-])", flag, message)
    return re.sub(r"`(\w+)`", r"\1", message)  # a name in backticks that is no flag here


def flags_of(config_class, renamed=None):
    """`{field: flag}` for a config dataclass: `--field-name` unless `renamed` says otherwise."""
    flags = {f.name: "--" + f.name.replace("_", "-") for f in dataclasses.fields(config_class)}
    flags.update({"time_limit": "--time-limit", "max_seconds": "--time-limit", "out_dir": "--out",
                  "allow_large": "--allow-large", "resume": "--resume", "distribute": "--distribute",
                  "replicas": "--replicas", "join_timeout": "--join-timeout"})
    flags.update(renamed or {})
    return flags


def format_limits(limits):
    """A model card's `limits` as one line: "max_rows 32, ..., image_formats jpeg,png"."""
    return ", ".join(f"{k} {','.join(v) if isinstance(v, list) else v}" for k, v in limits.items())


def run(work, flags=(), interrupted="interrupted"):
    """Runs a script's job; a problem the user can fix ends in one line and an exit status.

    Args:
        work: The job, a function of no arguments; it returns the exit status (None means 0).
        flags: The script's `{parameter: flag}` (or parameter names), for `in_flag_terms` on an
            `InputError`'s message (a damaged file's dotted keys, `training.seq_length`, stay).
        interrupted: The line printed after Ctrl-C (e.g. how to continue the run).

    Returns:
        The job's status; 2 after an `InputError` or a failed write (a full disk, a read-only
        folder), 130 after Ctrl-C, 42 after SIGTERM stopped training with a backup
        (`Preempted`). Any other exception is a bug and propagates.
    """
    from kerasrnn.errors import InputError, Preempted
    from kerasrnn.files import disk_error

    try:
        status = work()
    except InputError as e:
        return _error(in_flag_terms(str(e), flags))
    except Preempted as e:
        print(f"\n{in_flag_terms(str(e), flags)}", file=sys.stderr)
        return Preempted.STATUS
    except KeyboardInterrupt:
        print(f"\n{interrupted}", file=sys.stderr)
        return 130
    except Exception as e:  # a write that failed inside Keras or TensorFlow, or anything else
        problem = disk_error(e)
        if problem is None:
            raise
        return _error(in_flag_terms(str(problem), flags))
    return 0 if status is None else status


def _error(message):
    print(f"error: {message}", file=sys.stderr)
    return 2


def mnist_from_flags(path):
    """MNIST for a script: from its `--mnist PATH`, else `$KERASRNN_MNIST`, else downloaded; a
    missing or bad copy's error says where to point the script."""
    from kerasrnn.data.mnist import load_mnist
    from kerasrnn.errors import InputError

    try:
        return load_mnist(path or os.environ.get("KERASRNN_MNIST"))
    except InputError as e:
        raise InputError(f"{e} (--mnist PATH or KERASRNN_MNIST=PATH)") from None


def add_distribution_flags(parser):
    """The training scripts' `--distribute`, `--replicas` and `--gradient-accumulation-steps` (see
    `kerasrnn.train.distribution.choose_distribution`)."""
    parser.add_argument("--distribute", default="auto", metavar="{auto,off,mirrored,multi-worker}",
                        help="auto (default): multi-worker when TF_CONFIG is set, mirrored over "
                             "several GPUs or --replicas, else one device")
    parser.add_argument("--replicas", type=int,
                        help="mirrored: devices to train on (default all GPUs); without GPUs the "
                             "CPU is split into this many")
    parser.add_argument("--gradient-accumulation-steps", type=int, metavar="K",
                        help="average the gradients of K batches in each weight update "
                             "(default 1): K times the batch in the memory of one, and with "
                             "several replicas or workers one gradient exchange per K batches")
    parser.add_argument("--join-timeout", type=float, default=120.0, metavar="SECONDS",
                        help="multi-worker: seconds to wait for every worker of TF_CONFIG to come "
                             "up before training starts (default 120)")
