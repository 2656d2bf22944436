"""Helpers the scripts share: TensorFlow's log lines kept out of their output, the training
scripts' flags made from their config's fields (`add_config_flags`), flag names in error
messages, one way to end on an error (the library itself never parses arguments or prints)."""

import argparse
import atexit
import os
import re
import signal
import subprocess
import sys

from kerasrnn.config_fields import (declared, flag_names, flag_spellings, shown_default,
                                    user_settings, value_type)

# TensorFlow's C++ log lines (absl format): "I0000 00:00:1796662787.836081    4823 port.cc:153] ..."
_LOG_LINE = re.compile(rb"^([IWEF])\d{4} [\d:.]+ +\d+ [\w.-]+:\d+\] ")
_BEFORE_INIT = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# ERROR lines TensorFlow prints on runs that work, and the lines that continue them.
HARMLESS_ERRORS = (
    # an int32 op on a CPU without the AVX-512 instructions oneDNN wants for it: Eigen runs it
    re.compile(rb"\] oneDNN supports DT_\w+ only on platforms with AVX-512"),
    # a multi-worker run's last heartbeat or goodbye after the chief has finished and closed
    # the coordination service
    re.compile(rb"\] BaseCollectiveExecutor::StartAbort UNAVAILABLE: Failed to send RPC to coordination service"),
    re.compile(rb"\] Failed to disconnect from coordination service"),
)
_CONTINUATIONS = (
    re.compile(rb"^Additional GRPC error information from remote target "),
    re.compile(rb"^:UNKNOWN:Error received from peer "),
    re.compile(rb"^Proceeding with agent shutdown anyway"),
)


def quiet_tensorflow_logs(name):
    """Keeps TensorFlow's C++ start-up and INFO/WARNING lines out of a script's stderr; its
    ERROR lines still get through, except the few in `HARMLESS_ERRORS`.

    A script calls it first, before anything imports TensorFlow, with its `__name__`. It sets
    `TF_CPP_MIN_LOG_LEVEL=2` (INFO and WARNING hidden, ERROR kept) unless the environment
    already sets it. That level does not reach the lines TensorFlow's libraries print while they
    load (before `absl::InitializeLog()`: "All log messages before absl::InitializeLog() ...",
    "oneDNN custom operations are on", once per library), so stderr is passed through a filter
    process (`python -c ...`, in its own session: Ctrl-C and signals meant for the script do not
    reach it) that drops those and the harmless ERROR lines and passes everything else on
    unchanged (the script's own lines, tracebacks, real TensorFlow errors). It ends when the
    script and the processes it started have closed their stderr; at exit the script waits for
    it (at most 5 s), so its last lines come before the shell's prompt.

    `KERASRNN_TF_LOGS=1` in the environment turns all of this off (TensorFlow's own defaults).
    Nothing is filtered when `name` is not "__main__" (the script was imported, not run) or
    when TensorFlow is already loaded.
    """
    if os.environ.get("KERASRNN_TF_LOGS", "") not in ("", "0"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if name != "__main__" or "tensorflow" in sys.modules:
        return
    try:
        level = int(os.environ["TF_CPP_MIN_LOG_LEVEL"])
    except ValueError:
        level = 2
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (f"import sys; sys.path.insert(0, {package_parent!r}); "
            f"from kerasrnn.cli import filter_stderr; filter_stderr({level})")
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    original = os.dup(2)
    try:
        process = subprocess.Popen([sys.executable, "-c", code], stdin=read_end, stdout=original,
                                   start_new_session=True)
    except OSError:  # no filter: TensorFlow's lines are shown, nothing is lost
        os.close(write_end)
        return
    finally:
        os.close(read_end)
    os.dup2(write_end, 2)
    os.close(write_end)

    def drain():  # at exit: let the filter print the last lines before the shell prompt returns
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(original, 2)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # a process the script started still holds stderr
            pass

    atexit.register(drain)


def filter_stderr(level):
    """The filter process of `quiet_tensorflow_logs`: stdin to stdout, line by line, without
    the lines `hidden_log_line` hides at `level`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _filter_lines(0, 1, level)


def hidden_log_line(line, level):
    """Whether the filter of `quiet_tensorflow_logs` drops one line of stderr (bytes, no newline):
    INFO lines at `TF_CPP_MIN_LOG_LEVEL` >= 1, WARNING lines (and the one absl prints before its
    first message) at >= 2, and `HARMLESS_ERRORS`."""
    if line.rstrip() == _BEFORE_INIT:  # absl's warning before its first message
        return level >= 2
    match = _LOG_LINE.match(line)
    if not match:
        return False
    severity = "IWEF".index(match.group(1).decode())
    return severity < level or (severity == 2 and any(p.search(line) for p in HARMLESS_ERRORS))


def _filter_lines(read_end, out, level):
    pending = b""  # the start of a line that may still turn out to be hidden
    passing = False  # the rest of a line already passed on in part (a progress bar, a prompt)
    dropping = False  # inside a dropped message's continuation lines
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = []
        for line in lines:
            if passing:
                kept.append(line + b"\n")
                passing = dropping = False
            elif hidden_log_line(line, level):
                dropping = True
            elif not (dropping and any(p.match(line) for p in _CONTINUATIONS)):
                dropping = False
                kept.append(line + b"\n")
        if pending and (passing or pending[:1] not in b"IWEFAP:"):  # no hidden line starts so
            kept.append(pending)
            pending, passing = b"", True
        _write_all(out, b"".join(kept))
    if pending and not hidden_log_line(pending, level):
        _write_all(out, pending)


def _write_all(fd, data):
    while data:
        try:
            data = data[os.write(fd, data):]
        except OSError:  # the reader has gone: keep draining, so the script never blocks
            return


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


def add_config_flags(parser, config_class, title="training settings (saved in the run's config.json)"):
    """Adds a flag for each user setting of `config_class` (`kerasrnn.config_fields.setting`),
    in a group of `parser` named `title`: the field's spellings, value type, choices and help,
    with the field's default in the help.

    Every flag's parsed default is `None`, so `given_settings` tells the flags a user gave from
    the rest (a new run takes the config's defaults for those, a resumed one the run's).
    """
    flags = flag_names(config_class)
    group = parser.add_argument_group(title)
    exclusive = {}
    for field in user_settings(config_class):
        meta = declared(field)
        target = group
        if meta["exclusive"]:
            if meta["exclusive"] not in exclusive:
                exclusive[meta["exclusive"]] = group.add_mutually_exclusive_group()
            target = exclusive[meta["exclusive"]]
        text = f"{_as_flags(meta['help'], flags)} (default {_as_flags(shown_default(field), flags)})"
        options = dict(dest=field.name, default=None, help=text.replace("%", "%%"))
        if value_type(field) is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options.update(type=meta["parse"] or value_type(field), choices=meta["choices"],
                           metavar=meta["metavar"])
        target.add_argument(*flag_spellings(field), **options)
        for shortcut, value in meta["shortcuts"].items():
            target.add_argument(shortcut, dest=field.name, action="store_const", const=value,
                                help=f"the same as {flags[field.name]} {value}")


def given_settings(args, config_class):
    """`{field: value}` of the `add_config_flags` flags given in `args` (an `argparse.Namespace`);
    a flag's `off` value (e.g. `--clip 0`) as `None`."""
    given = {}
    for field in user_settings(config_class):
        value = getattr(args, field.name, None)
        if value is not None:
            off = declared(field)["off"]
            given[field.name] = None if off is not None and value == off else value
    return given


def run_settings(args, config_class, run_format, resumable, replicas):
    """What a training script hands its training function, checked before any data loads.

    A new run: the `config_class` of the flags given (its defaults for the rest), validated.
    `--resume`: only the flags given (the rest is the run's), after the run's saved settings
    are checked (`run_config.check_saved_settings`: a bad saved one is damage to its config.json,
    not a bad flag); the training function checks the rest.

    Args:
        args: The parsed flags (`add_config_flags`, `--resume`, `--out`, `--allow-large`).
        run_format: The kind's `RunFormat`; `resumable`: the settings a resume may change.
        replicas: Devices the global batch is split over (for the memory estimate).
    """
    from kerasrnn import run_config

    given = given_settings(args, config_class)
    if args.resume:
        run_config.check_saved_settings(args.out, run_format, resumable, given)
        return given
    config = config_class(**given)
    config.validate(allow_large=args.allow_large, replicas=replicas)
    return config


def flags_of(config_class):
    """`{parameter: flag}` a training script's errors are written with: its config's settings
    and the parameters of the training functions that the scripts' own flags set."""
    return {**flag_names(config_class), "time_limit": "--time-limit", "max_seconds": "--time-limit",
            "out_dir": "--out", "allow_large": "--allow-large", "resume": "--resume",
            "distribute": "--distribute", "replicas": "--replicas", "join_timeout": "--join-timeout"}


def _as_flags(text, flags):
    """`text` with each setting in backticks written as its flag (other backticks dropped)."""
    return re.sub(r"`(\w+)`", lambda m: flags.get(m.group(1), m.group(1)), text)


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


def add_run_flags(parser, config_class, resumable, large="the weights or one batch's activations"):
    """The flags of every training script: `--time-limit`, `--allow-large`, `--out`, `--resume`
    (its help naming the flags of the `resumable` settings), the distribution flags, then one flag
    per setting of `config_class` (`add_config_flags`).

    Args:
        parser: The script's `argparse.ArgumentParser`.
        config_class: The kind's config dataclass.
        resumable: The settings a resumed run may change (the kind's `config.RESUMABLE`).
        large: What `--allow-large` lets exceed 2 GiB, for its help.
    """
    flags = flag_names(config_class)
    parser.add_argument("--time-limit", type=float, help="stop after this many minutes of wall time (> 0)")
    parser.add_argument("--allow-large", action="store_true",
                        help=f"train even if {large} need more than 2 GiB")
    parser.add_argument("--out", required=True, help="run / model directory to write")
    parser.add_argument("--resume", action="store_true",
                        help=f"continue the run in --out from its last backup; only "
                             f"{', '.join(flags[name] for name in resumable)} and --time-limit may "
                             "differ from the run's settings")
    add_distribution_flags(parser)
    add_config_flags(parser, config_class)


def add_distribution_flags(parser):
    """The training scripts' `--distribute`, `--replicas` and `--join-timeout` (see
    `kerasrnn.train.distribution.choose_distribution`)."""
    parser.add_argument("--distribute", default="auto", metavar="{auto,off,mirrored,multi-worker}",
                        help="auto (default): multi-worker when TF_CONFIG is set, mirrored over "
                             "several GPUs or --replicas, else one device")
    parser.add_argument("--replicas", type=int,
                        help="mirrored: devices to train on (default all GPUs); without GPUs the "
                             "CPU is split into this many")
    parser.add_argument("--join-timeout", type=float, default=120.0, metavar="SECONDS",
                        help="multi-worker: seconds to wait for every worker of TF_CONFIG to come "
                             "up before training starts (default 120)")
