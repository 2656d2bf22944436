"""README's quick start runs as written, in a fresh folder, and prints only its own lines; what
`verify.py` prints is what export/README.md shows (numbers, captions and paths aside).
Slow: it trains a char model and a captioner (about 5 minutes on 2 CPU cores)."""

import os
import pathlib
import re
import shlex

import pytest

from script_runs import run_script

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
ENV = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERASRNN_TF_LOGS")}


def quick_start_blocks():
    """The command lines of README's quick start code blocks, comments dropped."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Quick start", 1)[1]
    section = section.split("\n## ", 1)[0]
    return [[re.split(r"\s+#", line)[0].strip() for line in block.splitlines() if line.strip()]
            for block in FENCE.findall(section)]


def run_documented(line, cwd, env=None):
    """One documented `python <script> ...` line, run in `cwd` with the repository's scripts."""
    argv = shlex.split(line)
    assert argv[0] == "python" and (ROOT / argv[1]).is_file(), line
    done = run_script(argv[1], *argv[2:], cwd=cwd, timeout=900,
                      env=dict(ENV, PYTHONPATH=str(ROOT), **(env or {})))
    assert done.returncode == 0, f"{line}\n{done.stderr[-3000:]}"
    assert done.stderr == "", f"{line} printed to stderr:\n{done.stderr[:3000]}"
    return done.stdout


def normalised(lines):
    """Output lines with what changes from run to run replaced: numbers, quoted captions, the run
    directory's path and the ONNX runtimes installed."""
    out = []
    for line in lines:
        line = re.sub(r"\(captioner, from [^)]*\)", "(captioner, from RUN)", line)
        line = re.sub(r"ONNX Runtime \(Python\).*?(?= \(limit|$)", "RUNTIMES", line)
        line = re.sub(r"'[^']*'", "'CAPTION'", line)
        out.append(re.sub(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", "N", line))
    return out


def documented_verify_output():
    """export/README.md's `$ python export/verify.py ...` block: the command and what it prints."""
    text = (ROOT / "export" / "README.md").read_text(encoding="utf-8")
    block = next(b for b in FENCE.findall(text) if b.startswith("$ python export/verify.py"))
    command, *printed = block.rstrip("\n").splitlines()
    return re.split(r"\s+#", command[2:])[0], printed


def test_the_quick_start_runs_as_documented(tmp_path):
    commands, stn = quick_start_blocks()
    assert len(commands) == 6 and len(stn) == 1
    verify_command, verify_printed = documented_verify_output()
    assert verify_command in commands  # the documented output is the quick start's verify
    outputs = {line: run_documented(line, tmp_path) for line in commands}

    sample = outputs[commands[1]]
    assert commands[1].startswith("python training/sample_char_rnn.py") and "--prime \"def \"" in commands[1]
    assert sample.startswith("def ") and len(sample) >= 200
    caption = outputs[commands[3]].splitlines()
    assert commands[3].startswith("python training/caption_image.py") and "--scene 0" in commands[3]
    assert caption[0].endswith("[reference, test scenes image 0]") and caption[-1].startswith("attention figure:")
    assert (tmp_path / "scene-0.png").stat().st_size > 1000

    printed = outputs[verify_command].rstrip("\n").splitlines()
    assert printed[-1] == "10 of 10 checks hold"
    assert normalised(printed) == normalised(verify_printed)


@pytest.mark.skipif(not os.environ.get("KERASRNN_MNIST"), reason="set KERASRNN_MNIST to a mnist.npz to run the STN quick start")
def test_the_stn_quick_start_runs_as_documented(tmp_path):
    [line] = quick_start_blocks()[1]
    out = run_documented(line, tmp_path)
    error = float(re.search(r"test error ([\d.]+)%", out).group(1))
    assert error < 50  # one epoch on 10,000 digits: far better than chance (90%)
