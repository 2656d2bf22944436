"""docs/architecture.md holds: every module it names exists, and imports run down the floors it
lists (except exactly its known departures). Reads source files; imports only the ONNX drivers,
in a subprocess, to check they load no TensorFlow."""

import ast
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PLAN = (ROOT / "docs" / "architecture.md").read_text()

# The floors of docs/architecture.md, by module prefix (the longest matching prefix wins).
FLOORS = {
    "kerasrnn": 0, "kerasrnn.errors": 0, "kerasrnn.files": 0,
    "kerasrnn.layers": 1, "kerasrnn.reference": 1,
    "kerasrnn.models": 2,
    "kerasrnn.data": 3,
    "kerasrnn.metrics": 4, "kerasrnn.viz": 4, "kerasrnn.gradient_flow": 4,
    "kerasrnn.config_checks": 5, "kerasrnn.training_configs": 5,
    "kerasrnn.run_dir": 5, "kerasrnn.run_backup": 5, "kerasrnn.trained_runs": 5,
    "kerasrnn.train": 6,
    "kerasrnn.export": 7,
    "kerasrnn.cli": 8,
}


def floor(module):
    prefix = max((p for p in FLOORS if module == p or module.startswith(p + ".")), key=len)
    return FLOORS[prefix]


def library_imports():
    """`{(importer, imported)}` over the package's modules (absolute `kerasrnn` imports)."""
    edges = set()
    for path in (ROOT / "kerasrnn").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kerasrnn":
                targets = [node.module]
                if node.module == "kerasrnn" or (ROOT / node.module.replace(".", "/")).is_dir():
                    # `from kerasrnn.export import version_dir`: the names may be modules
                    targets = [f"{node.module}.{a.name}" if (ROOT / node.module.replace(".", "/") /
                               f"{a.name}.py").exists() else node.module for a in node.names]
                edges.update((module, t) for t in targets)
            elif isinstance(node, ast.Import):
                edges.update((module, a.name) for a in node.names if a.name.split(".")[0] == "kerasrnn")
    return edges


def departures_in_the_plan():
    section = PLAN.split("### Known departures", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([\w.]+)` -> `([\w.]+)`", section, re.M))


def test_every_module_the_plan_names_exists():
    named = set(re.findall(r"`((?:kerasrnn|training|export|benchmarks|tests)/[\w/.]+\.py)`", PLAN))
    named |= {f"kerasrnn/{m}" for m in re.findall(r"`((?:models|data|layers|export|train)/[\w/]+\.py)`", PLAN)}
    named |= {m.replace(".", "/") + ".py" for pair in departures_in_the_plan() for m in pair
              if not (ROOT / m.replace(".", "/")).is_dir()}
    assert len(named) > 10
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_every_package_module_is_in_the_plan():
    modules = {p.relative_to(ROOT / "kerasrnn").as_posix() for p in (ROOT / "kerasrnn").rglob("*.py")
               if p.name != "__init__.py"}
    unnamed = sorted(m for m in modules if f"`{m.split('/')[-1]}`" not in PLAN and f"{m}`" not in PLAN
                     and f"/{m.split('/')[-1]}`" not in PLAN)
    assert not unnamed, f"modules docs/architecture.md does not mention: {unnamed}"


def test_imports_run_down_the_floors_and_export_imports_no_training_code():
    upward = {(a, b) for a, b in library_imports() if floor(b) > floor(a)
              or (a.startswith("kerasrnn.export") and (b == "kerasrnn.train" or b.startswith("kerasrnn.train.")))}
    planned = departures_in_the_plan()
    assert upward - planned == set(), f"imports up a floor, not in docs/architecture.md: {sorted(upward - planned)}"
    assert planned - upward == set(), f"departures docs/architecture.md lists that are gone: {sorted(planned - upward)}"


def test_the_onnx_drivers_load_no_tensorflow_or_keras():
    code = ("import sys, kerasrnn.export.char.onnx_driver, kerasrnn.export.captioner.onnx_driver; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
