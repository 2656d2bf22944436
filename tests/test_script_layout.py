"""How scripts share code and how tests run them: a benchmark script imports shared modules
(`benchmarks/_shared.py`, `benchmarks/costly_images.py`), never another script, and never edits
`sys.path`; the tests run a script only through `tests/script_runs.py`."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def is_script(path):
    """A file a person runs: it has the `if __name__ == "__main__":` guard."""
    return any(isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)
               for node in ast.parse(path.read_text()).body)


def imported_names(path):
    """The top-level module names `path` imports, anywhere in its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_a_benchmark_script_imports_no_other_script_and_edits_no_sys_path():
    files = sorted(BENCHMARKS.glob("*.py"))
    scripts = {p.stem for p in files if is_script(p)}
    for path in files:
        assert "sys.path" not in {ast.unparse(n) for n in ast.walk(ast.parse(path.read_text()))
                                  if isinstance(n, ast.Attribute)}, path.name
        assert imported_names(path) & scripts == set(), path.name
    assert {"bench_char_rnn", "bench_serving", "bench_request_limits"} <= scripts
    assert {"_shared", "costly_images"} <= {p.stem for p in files} - scripts


def test_the_tests_run_scripts_only_through_script_runs():
    helper = ROOT / "tests" / "script_runs.py"
    # (make_fixtures.py, a script, loads the helper itself by its path: `runpy.run_path(str(helpers))`)
    loads = re.compile(r"\brunpy\.run_path\((?!str\(helpers\)\))|spec_from_file_location\(")
    # a script path handed to the interpreter: `[sys.executable, str(ROOT / "export" / ...`,
    # `[PYTHON, "training/x.py"`, `[sys.executable, str(SCRIPT)`
    spawns = re.compile(r"\[\s*(?:sys\.executable|PYTHON)\s*,\s*(?:str\(|[\"'][\w/]+\.py[\"'])")
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path in (helper, pathlib.Path(__file__).resolve()):
            continue
        text = path.read_text()
        found = [m.group(0) for m in loads.finditer(text)] + [m.group(0) for m in spawns.finditer(text)]
        offenders += [f"{path.relative_to(ROOT)}: {f}" for f in found]
    assert offenders == []
