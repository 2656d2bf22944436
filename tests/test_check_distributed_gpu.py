"""benchmarks/check_distributed_gpu.py, the one-command equivalence check for GPU machines: without
a GPU it refuses in one line unless told `--cpu`; with `--cpu` it runs the comparison on 2 logical
CPU devices and reports every pair within its tolerance (here on the char model only: the three
kinds are what tests/test_distributed_training.py covers)."""

import os
import re

from script_runs import ROOT, run_script


def run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    return run_script("benchmarks/check_distributed_gpu.py", *args, cwd=ROOT, env=env, timeout=600)


def test_without_a_gpu_it_says_so_in_one_line():
    done = run()
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: no GPU found")
    done = run("--cpu", "--kinds", "char,nope")
    assert done.returncode == 2 and "error: --kinds takes some of" in done.stderr


def test_on_two_cpu_devices_mirrored_and_two_workers_equal_one_device(tmp_path):
    done = run("--cpu", "--kinds", "char", "--keep", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    rows = re.findall(r"^\| char \| (.+?) \| ([0-9.e+-]+) \|$", done.stdout, re.MULTILINE)
    assert [name for name, _ in rows] == ["mirrored x2", "2 workers"]
    assert all(float(difference) <= 1e-5 for _, difference in rows)
    assert (tmp_path / "char" / "one-device" / "model.keras").is_file()
