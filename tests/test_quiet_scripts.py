"""Scripts print their own lines: TensorFlow's start-up lines (printed before its logging is set
up, so `TF_CPP_MIN_LOG_LEVEL` cannot hide them) and its known-harmless ERROR lines are filtered
out of stderr, while real errors, tracebacks and the scripts' own lines get through."""

import os
import pathlib
import subprocess
import sys

import pytest

from kerasrnn.cli import hidden_log_line
from script_runs import run_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYTHON = sys.executable

START_UP = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796662787.836081    4823 port.cc:153] oneDNN custom operations are on. You may "
    b"see slightly different numerical results due to floating-point round-off errors from "
    b"different computation orders. To turn them off, set the environment variable "
    b"`TF_ENABLE_ONEDNN_OPTS=0`.",
]
AVX512 = (b"E0000 00:00:1796662845.027051    5217 util.cc:131] oneDNN supports DT_INT32 only on "
          b"platforms with AVX-512. Falling back to the default Eigen-based implementation if present.")
COORDINATION = [
    b"E0000 00:00:1796662947.098961    9390 base_collective_executor.cc:252] "
    b"BaseCollectiveExecutor::StartAbort UNAVAILABLE: Failed to send RPC to coordination service. "
    b"Either the leader task was preempted/died/restarted unexpectedly or this task is "
    b"experiencing network issues.",
    b"Additional GRPC error information from remote target /job:worker/replica:0/task:0 while "
    b"calling /tensorflow.CoordinationService/Heartbeat:",
    b':UNKNOWN:Error received from peer  {grpc_status:14, grpc_message:"Connection refused"}',
]
REAL_ERROR = (b"E0000 00:00:1796662845.027051    5217 op_kernel.cc:1857] OP_REQUIRES failed at "
              b"reshape_op.h:65 : INVALID_ARGUMENT: Input to reshape is a tensor with 4 values")
WARNING = b"W0000 00:00:1796662845.027051    5217 loader.cc:1] a warning"
# what tests/conftest.py sets for the test process would hide nothing here: start from a clean slate
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERASRNN_TF_LOGS")}


@pytest.mark.parametrize("line", START_UP + [AVX512, COORDINATION[0], WARNING])
def test_start_up_lines_and_harmless_errors_are_hidden(line):
    assert hidden_log_line(line, 2)


@pytest.mark.parametrize("line", [REAL_ERROR, b"error: --steps must be positive", b"Traceback (most recent call last):",
                                  b"E0000 is how this line starts, but it is no log line", b""])
def test_errors_and_a_scripts_own_lines_are_kept(line):
    assert not hidden_log_line(line, 2)


def test_the_level_the_user_sets_decides_info_and_warning_lines():
    assert not hidden_log_line(START_UP[1], 0) and hidden_log_line(START_UP[1], 1)
    assert not hidden_log_line(WARNING, 1) and hidden_log_line(WARNING, 2)


def run_filtered(lines, env=None, name="__main__"):
    """A process that installs the filter (as a script does first) and writes `lines` to fd 2
    the way TensorFlow's C++ code does, with a partial last line; returns (stderr, status)."""
    code = ("import os, sys\n"
            "from kerasrnn.cli import quiet_tensorflow_logs\n"
            f"quiet_tensorflow_logs({name!r})\n"
            "print('level', os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n"
            f"for line in {lines!r}:\n"
            "    os.write(2, line + b'\\n')\n"
            "os.write(2, b'last, no newline')\n"
            "sys.exit(3)\n")
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, timeout=60, cwd=ROOT,
                          env=dict(CLEAN_ENV, PYTHONPATH=str(ROOT), **(env or {})))
    return done.stdout, done.stderr, done.returncode


def test_a_script_shows_its_own_lines_and_real_errors_but_no_start_up_lines():
    lines = START_UP + [b"text: 3,007,027 characters"] + START_UP + [AVX512, REAL_ERROR] + COORDINATION + [
        b"error: --steps must be positive"]
    stdout, stderr, status = run_filtered(lines)
    assert status == 3 and stdout == b"level 2\n"
    assert stderr == (b"text: 3,007,027 characters\n" + REAL_ERROR + b"\nerror: --steps must be positive\n"
                      b"last, no newline")


def test_nothing_is_filtered_when_the_user_asks_for_tensorflows_logs_or_imports_a_script():
    lines = START_UP + [AVX512]
    stdout, stderr, _ = run_filtered(lines, env={"KERASRNN_TF_LOGS": "1"})
    assert stdout == b"level None\n" and stderr == b"\n".join(lines) + b"\nlast, no newline"
    stdout, stderr, _ = run_filtered(lines, name="train_char_rnn")
    assert stdout == b"level 2\n" and stderr == b"\n".join(lines) + b"\nlast, no newline"
    _, stderr, _ = run_filtered(lines, env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert stderr == b"\n".join(START_UP) + b"\nlast, no newline"


@pytest.mark.slow
def test_a_real_script_run_prints_no_tensorflow_lines(tmp_path):
    """export_model.py and verify.py on a tiny char run: before, stderr held "All log messages
    before absl::InitializeLog()", "oneDNN custom operations are on" (twice each) and, from
    verify, an E0000 AVX-512 line; now it is empty, and a bad argument still says why."""
    sys.path.insert(0, str(ROOT / "tests"))
    import tiny_runs

    tiny_runs.char_run(tmp_path / "run")
    env = dict(CLEAN_ENV, PYTHONPATH=str(ROOT))
    for argv in (["export/export_model.py", "--model", str(tmp_path / "run"), "--name", "code",
                  "--base", str(tmp_path / "models")],
                 ["export/verify.py", str(tmp_path / "models" / "code" / "1")]):
        done = run_script(*argv, timeout=300, cwd=ROOT, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
    assert "4 of 4 checks hold" in done.stdout
    done = run_script("export/verify.py", tmp_path / "models" / "code" / "9", timeout=300, cwd=ROOT, env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith("error: ")


def test_the_filter_is_not_taken_for_the_script(tmp_path):
    """The filter process does not carry the script's arguments, so `pgrep -f -- "--out DIR"`
    finds the script alone (a launcher's or a test's way to find workers)."""
    marker = f"--out {tmp_path}/run"
    code = ("import os, sys\n"
            "from kerasrnn.cli import quiet_tensorflow_logs\n"
            "quiet_tensorflow_logs('__main__')\n"
            "mine = [p for p in os.listdir('/proc') if p.isdigit() and os.path.exists(f'/proc/{p}/cmdline')\n"
            f"        and {marker!r}.encode() in open(f'/proc/{{p}}/cmdline', 'rb').read().replace(b'\\0', b' ')]\n"
            "print(len(mine))\n")
    done = subprocess.run([PYTHON, "-c", code, *marker.split()], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env=dict(CLEAN_ENV, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1\n"
