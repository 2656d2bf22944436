"""training/launch_workers.py with stand-in workers (no TensorFlow): each gets its own
TF_CONFIG on distinct free ports, its lines come prefixed, a failed worker stops the others in
bounded time with its status, and SIGTERM reaches every worker."""

import json
import os
import signal
import subprocess
import sys
import time

from script_runs import run_script, start_script

LAUNCHER = "training/launch_workers.py"


def launch(*args, timeout=60):
    return run_script(LAUNCHER, *args, timeout=timeout)


def test_each_worker_gets_its_place_in_one_cluster_and_its_lines_are_prefixed():
    show = "import json, os; c = json.loads(os.environ['TF_CONFIG']); print(json.dumps(c))"
    done = launch("--workers", "3", "--", sys.executable, "-c", show)
    assert done.returncode == 0, done.stderr
    configs = {}
    for line in done.stdout.splitlines():
        prefix, _, text = line.partition("] ")
        configs[prefix + "]"] = json.loads(text)
    assert sorted(configs) == ["[worker 0]", "[worker 1]", "[worker 2]"]
    clusters = {json.dumps(c["cluster"]) for c in configs.values()}
    assert len(clusters) == 1
    addresses = json.loads(clusters.pop())["worker"]
    assert len(set(addresses)) == 3 and all(a.startswith("localhost:") for a in addresses)
    assert {c["task"]["index"] for c in configs.values()} == {0, 1, 2}
    assert all(configs[f"[worker {i}]"]["task"] == {"type": "worker", "index": i} for i in range(3))


def test_a_failed_worker_stops_the_others_and_its_status_is_the_jobs():
    code = ("import json, os, sys, time; i = json.loads(os.environ['TF_CONFIG'])['task']['index']; "
            "time.sleep(0.5); sys.exit(3) if i == 1 else time.sleep(300)")
    started = time.monotonic()
    done = launch("--workers", "2", "--grace", "2", "--", sys.executable, "-c", code)
    assert done.returncode == 3
    assert time.monotonic() - started < 30
    assert "launch_workers: worker 1 exited with status 3; stopping the others" in done.stderr


def test_a_worker_that_ignores_sigterm_is_killed_after_the_grace_period():
    code = ("import json, os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "i = json.loads(os.environ['TF_CONFIG'])['task']['index']; time.sleep(0.5); "
            "sys.exit(1) if i == 0 else time.sleep(300)")
    started = time.monotonic()
    done = launch("--workers", "2", "--grace", "1", "--", sys.executable, "-c", code)
    assert done.returncode == 1 and time.monotonic() - started < 30


def test_sigterm_reaches_every_worker_and_a_coordinated_stop_keeps_its_status(tmp_path):
    code = ("import json, os, signal, sys, time, pathlib; "
            "i = json.loads(os.environ['TF_CONFIG'])['task']['index']; "
            f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path(r'{tmp_path}', str(i)).touch(), sys.exit(42))); "
            "print('ready', flush=True); time.sleep(300)")
    launcher = start_script(LAUNCHER, "--workers", "2", "--", sys.executable, "-c", code,
                            stdout=subprocess.PIPE, text=True)
    ready = 0
    for line in launcher.stdout:
        ready += line.strip().endswith("ready")
        if ready == 2:
            break
    launcher.send_signal(signal.SIGTERM)
    launcher.communicate(timeout=30)
    assert launcher.returncode == 42
    assert sorted(os.listdir(tmp_path)) == ["0", "1"]


def test_a_command_that_cannot_start_is_one_error_line():
    done = launch("--workers", "2", "--", "/nonexistent/python")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: cannot start '/nonexistent/python'")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie (dead, not yet reaped) counts as gone
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_and_their_children_die_with_a_sigkilled_launcher():
    # each worker starts a child of its own (as a shell wrapper would) and prints both pids
    code = ("import subprocess, sys, time; "
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
            "import os; print('pids', os.getpid(), child.pid, flush=True); time.sleep(300)")
    launcher = start_script(LAUNCHER, "--workers", "2", "--grace", "2", "--", sys.executable, "-c", code,
                            stdout=subprocess.PIPE, text=True)
    pids = []
    try:
        for line in launcher.stdout:
            if " pids " in line:
                pids += [int(p) for p in line.split()[-2:]]
            if len(pids) == 4:
                break
        launcher.kill()  # SIGKILL: the launcher runs no code of its own after this
        launcher.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if alive(p)]
    finally:
        for p in pids:
            if alive(p):
                os.kill(p, signal.SIGKILL)
