#!/usr/bin/env python
"""Run a training script as a multi-worker job on this machine: N worker processes, each with
its TF_CONFIG on free loopback ports, their output prefixed with the worker's index.

Example:
  python training/launch_workers.py --workers 2 -- \\
      python training/train_char_rnn.py --preset demo --distribute multi-worker --out runs/mw

--batch-size stays the global batch: each of the N workers trains on 1/N of it.
Ctrl-C or SIGTERM is passed on to every worker (they save one coordinated checkpoint and stop,
with status 42; run the same command with --resume to continue). When a worker fails, the others
are stopped (SIGTERM, then SIGKILL after --grace seconds) and the launcher exits with the failed
worker's status, so a job never hangs on a dead peer. When the launcher itself dies, even by
SIGKILL, its workers are stopped the same way (a watchdog process, and on Linux the kernel's
parent-death signal), so none is left behind. On a real cluster, each machine runs the script
itself with its own TF_CONFIG (see docs/distributed-training.md).
"""

import argparse
import ctypes
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

PREEMPTED = 42  # a worker's status after a coordinated checkpoint on SIGTERM (as the scripts')
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies (Linux)
try:  # looked up here: after fork, the child only calls it
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: the watchdog alone
    _PRCTL = None

# The watchdog: reads "group <pgid>" lines from the launcher; "done" ends it quietly, and the end
# of its input without "done" (the launcher died, however) stops every group: SIGTERM, then
# SIGKILL after the grace period. Its own session keeps it out of signals sent to the launcher's
# process group.
WATCHDOG = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
groups = []
for line in sys.stdin:
    if line.strip() == "done":
        sys.exit(0)
    if line.startswith("group "):
        groups.append(int(line.split()[1]))
def alive(group):
    try:
        os.killpg(group, 0)
        return True
    except OSError:
        return False
def send(signum):
    for group in groups:
        try:
            os.killpg(group, signum)
        except OSError:
            pass
send(signal.SIGTERM)
deadline = time.monotonic() + float(sys.argv[1])
while any(alive(g) for g in groups) and time.monotonic() < deadline:
    time.sleep(0.1)
send(signal.SIGKILL)
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2, help="worker processes to start (default 2)")
    p.add_argument("--grace", type=float, default=10.0,
                   help="seconds a worker gets to stop after SIGTERM before it is killed (default 10)")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="-- then the command each worker runs (the same for all)")
    args = p.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        p.error("give the command after --, e.g. -- python training/train_char_rnn.py ...")
    if not 1 <= args.workers <= 64:
        p.error(f"--workers must be between 1 and 64, got {args.workers}")
    if not 0 < args.grace <= 600:
        p.error(f"--grace must be in (0, 600] seconds, got {args.grace}")
    return args


def free_ports(count):
    """`count` distinct loopback ports that are free now (the OS picks them)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(addresses, index):
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def _relay(stream, prefix, lock):
    for line in iter(stream.readline, b""):
        with lock:
            sys.stdout.buffer.write(prefix + line)
            sys.stdout.buffer.flush()
    stream.close()


def _die_with_launcher(launcher_pid):
    """Runs in each worker before its command: SIGTERM when the launcher dies (Linux)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != launcher_pid:  # the launcher died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def start_watchdog(grace):
    """The process that stops the workers' groups if the launcher dies (see `WATCHDOG`)."""
    return subprocess.Popen([sys.executable, "-c", WATCHDOG, str(grace)], stdin=subprocess.PIPE,
                            text=True, start_new_session=True)


def _end_watchdog(watchdog):
    try:
        watchdog.stdin.write("done\n")
        watchdog.stdin.close()
    except OSError:  # it is gone already
        pass
    watchdog.wait()


def launch(command, workers, grace):
    """Runs the job; returns the launcher's exit status."""
    watchdog = start_watchdog(grace)
    try:
        return _launch(command, workers, grace, watchdog)
    finally:
        _end_watchdog(watchdog)


def _launch(command, workers, grace, watchdog):
    addresses = [f"localhost:{port}" for port in free_ports(workers)]
    lock = threading.Lock()
    processes, relays = [], []
    for index in range(workers):
        env = dict(os.environ, TF_CONFIG=tf_config(addresses, index), PYTHONUNBUFFERED="1")
        try:
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       preexec_fn=functools.partial(_die_with_launcher, os.getpid()))
        except (OSError, subprocess.SubprocessError) as e:
            _stop(processes, grace)
            print(f"error: cannot start {command[0]!r}: {getattr(e, 'strerror', None) or e}",
                  file=sys.stderr)
            return 2
        processes.append(process)
        watchdog.stdin.write(f"group {process.pid}\n")  # its own session: its group is its pid
        watchdog.stdin.flush()
        relay = threading.Thread(target=_relay, args=(process.stdout, f"[worker {index}] ".encode(), lock),
                                 daemon=True)
        relay.start()
        relays.append(relay)

    signalled = []

    def forward(signum, frame):
        signalled.append(signum)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        status = _watch(processes, grace, signalled)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for relay in relays:
            relay.join(timeout=5)
    return status


def _watch(processes, grace, signalled):
    """Waits for the workers; the first to fail stops the rest. Returns the job's status."""
    while True:
        codes = [p.poll() for p in processes]
        failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
        if failed:
            index, code = failed[0]
            if code == PREEMPTED or signalled:
                # a coordinated stop: every worker saves and exits by itself; wait for them
                deadline = time.monotonic() + 6 * grace
                while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
                    time.sleep(0.1)
                _stop(processes, grace)
                return PREEMPTED if code == PREEMPTED else code
            print(f"launch_workers: worker {index} exited with status {_describe(code)}; "
                  "stopping the others", file=sys.stderr, flush=True)
            _stop(processes, grace)
            return code if code > 0 else 128 - code
        if all(c == 0 for c in codes):
            return 0
        time.sleep(0.1)


def _describe(code):
    if code < 0:
        try:
            return f"{-code} ({signal.Signals(-code).name})"
        except ValueError:
            return str(code)
    return str(code)


def _stop(processes, grace):
    """SIGTERM to every running worker (its whole process group), SIGKILL after `grace` s."""
    for p in processes:
        if p.poll() is None:
            _signal_group(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    for p in processes:
        if p.poll() is None:
            _signal_group(p, signal.SIGKILL)
            p.wait()


def _signal_group(process, signum):
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def main(argv=None):
    args = parse_args(argv)
    return launch(args.command, args.workers, args.grace)


if __name__ == "__main__":
    sys.exit(main())
