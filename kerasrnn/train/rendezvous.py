"""Waiting for a multi-worker job's other tasks before TensorFlow joins them.

TensorFlow's `MultiWorkerMirroredStrategy` blocks in C++ until every task of `TF_CONFIG`'s
cluster has started its server: a task that is alive but never starts one leaves the others
waiting without a word, and a Python signal handler (SIGTERM) cannot run meanwhile. So before
the strategy is made each task holds its own port open (a beacon) and checks, in a Python
loop, that every other task's port accepts a connection (its beacon, or TensorFlow's server
once it has moved on): bounded by a timeout, and with SIGTERM ending the wait.
"""

import signal
import socket
import threading
import time

from kerasrnn.errors import InputError

POLL_SECONDS = 0.2  # between rounds of connection attempts
CONNECT_SECONDS = 0.5  # one attempt to reach a task


def port_of(address):
    """The port of a `"host:port"` address, or `None` if it has no valid one."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return int(port)


def open_beacon(address):
    """A listening socket on this task's own port (every interface, as TensorFlow's server
    binds); raises `InputError` if the port is taken (TensorFlow would abort on it)."""
    beacon = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    beacon.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        beacon.bind(("", port_of(address)))
        beacon.listen(128)
    except OSError as e:
        beacon.close()
        raise InputError(f"this worker's address {address} (TF_CONFIG) cannot be used: "
                         f"{e.strerror or e}; choose a free port") from None
    beacon.setblocking(False)
    return beacon


def _drain(beacon):
    """Accepts and closes the connections other tasks made to the beacon."""
    while True:
        try:
            connection, _ = beacon.accept()
        except (BlockingIOError, InterruptedError):
            return
        connection.close()


def _reachable(address):
    host, port = address.rpartition(":")[0], port_of(address)
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=CONNECT_SECONDS):
            return True
    except OSError:
        return False


class _Terminated(Exception):
    pass


def wait_for_tasks(own_address, others, timeout):
    """Holds this task's port open until every address in `others` accepts a connection.

    Args:
        own_address: This task's `"host:port"` in the cluster.
        others: `{task name: "host:port"}` of the other tasks (e.g. `{"worker 1": ...}`).
        timeout: Seconds to wait for them, > 0.

    Raises:
        InputError: This task's port is taken; a task did not come up within `timeout` (the
            message names them); or SIGTERM arrived while waiting (nothing has been written).
    """
    beacon = open_beacon(own_address)
    waiting = dict(others)
    previous = None
    if threading.current_thread() is threading.main_thread():
        def terminated(signum, frame):
            raise _Terminated()
        previous = signal.signal(signal.SIGTERM, terminated)
    deadline = time.monotonic() + timeout
    try:
        while waiting:
            _drain(beacon)
            waiting = {name: address for name, address in waiting.items()
                       if not _reachable(address)}
            if waiting and time.monotonic() >= deadline:
                missing = ", ".join(f"{name} ({address})" for name, address in waiting.items())
                raise InputError(f"{missing} did not join the cluster within join_timeout "
                                 f"{timeout:g} s; start every worker of TF_CONFIG's cluster (or "
                                 "raise join_timeout); nothing was written")
            if waiting:
                time.sleep(POLL_SECONDS)
        # keep answering a moment, so that tasks still polling see this one before its beacon
        # closes (after that they see TensorFlow's server on the port, or retry)
        end = time.monotonic() + 2 * POLL_SECONDS
        while time.monotonic() < end:
            _drain(beacon)
            time.sleep(POLL_SECONDS / 4)
    except _Terminated:
        raise InputError("stopped by SIGTERM while waiting for the other workers to join; "
                         "nothing was written") from None
    finally:
        beacon.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
