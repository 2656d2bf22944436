"""The one way the tests run the repository's scripts (`training/`, `export/`, `benchmarks/`,
`tests/fixtures/make_fixtures.py`), by their path from the repository root.

In the test's own process, the fast way, where the test needs what `main` returns and what it
prints (`capsys`): `script_main(path)(argv)`; `script_module(path)` gives the script's other
functions and constants. The script is loaded as `python PATH` loads it (its own folder first
on `sys.path`, so a benchmark's sibling modules import), without running it (its `__name__`
is not `"__main__"`).

In a fresh process, where the test needs a real one (the exit status the interpreter gives,
stderr as a terminal shows it, TensorFlow's start-up lines, environment variables, signals,
a server to talk to): `run_script(path, *args)` waits for it, `start_script(path, *args)`
does not.
"""

import pathlib
import runpy
import subprocess
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parents[1]


def script_module(path):
    """The globals of the script at `path` (relative to the repository root), loaded afresh
    and not run, as a `SimpleNamespace` (`script_module("export/client.py").main`)."""
    path = ROOT / path
    folder = str(path.parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        return types.SimpleNamespace(**runpy.run_path(str(path)))
    finally:
        if added:
            sys.path.remove(folder)


def script_main(path):
    """The `main(argv) -> exit status` of the script at `path`: `script_main(path)(argv)` does
    in this process what `python PATH ARGV...` does (its flags, its output, its exit status)."""
    return script_module(path).main


def _command(path, args):
    return [sys.executable, str(ROOT / path), *map(str, args)]


def run_script(path, *args, **options):
    """Runs `python PATH ARGS...` in a fresh process and waits for it.

    Args:
        path: The script, relative to the repository root.
        *args: Its arguments (each passed through `str`).
        **options: For `subprocess.run` (`cwd`, `env`, `timeout`, `input`, `check`, ...); by
            default its stdout and stderr are captured as text.

    Returns:
        The `subprocess.CompletedProcess` (`returncode`, `stdout`, `stderr`).
    """
    if "stdout" not in options and "stderr" not in options:
        options.setdefault("capture_output", True)
    options.setdefault("text", True)
    return subprocess.run(_command(path, args), **options)


def start_script(path, *args, **options):
    """Starts `python PATH ARGS...` in a fresh process; the `subprocess.Popen` (`options` are
    its own: `stdout=subprocess.PIPE`, `env`, ...)."""
    return subprocess.Popen(_command(path, args), **options)
