"""docs/architecture.md holds: every module it names exists, imports run down the floors it lists
(except exactly its known departures), kinds never import each other and nothing outside a
kind's package imports it but the registry, the library reads no environment variables and
loads no module by name, and no import circle exists. Reads source files; imports only the
ONNX drivers, in a subprocess, to check they load no TensorFlow."""

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
    "kerasrnn.data": 2,
    "kerasrnn.viz": 3, "kerasrnn.config_checks": 3, "kerasrnn.config_fields": 3,
    "kerasrnn.keras_internals": 3,
    "kerasrnn.run_dir": 4, "kerasrnn.run_backup": 4, "kerasrnn.run_config": 4,
    "kerasrnn.train": 5,
    "kerasrnn.export": 6,
    "kerasrnn.kinds": 7,
    "kerasrnn.kinds.registry": 8,
    "kerasrnn.cli": 9,
    # the 0.1 names of moved modules: thin re-exports of a kind's module
    "kerasrnn.models": 10, "kerasrnn.export.char": 10, "kerasrnn.export.captioner": 10,
}
# The modules a kind's package serves export and deployment with: they import none of its
# training modules (a served model must not depend on how it was trained).
TRAINING_MODULES = {"train", "streams", "attention_correctness", "gradient_flow"}
KINDS_DIR = ROOT / "kerasrnn" / "kinds"
KINDS = sorted(p.name for p in KINDS_DIR.iterdir() if (p / "__init__.py").exists())


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_files():
    return sorted((ROOT / "kerasrnn").rglob("*.py"))


def imports_of(path):
    """The `kerasrnn` modules `path` imports, at any depth of its code (functions included)."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kerasrnn":
            found = [node.module]
            if node.module == "kerasrnn" or (ROOT / node.module.replace(".", "/")).is_dir():
                # `from kerasrnn.export import version_dir`: the names may be modules
                found = [f"{node.module}.{a.name}" if (ROOT / node.module.replace(".", "/") /
                         f"{a.name}.py").exists() else node.module for a in node.names]
            targets.update(found)
        elif isinstance(node, ast.Import):
            targets.update(a.name for a in node.names if a.name.split(".")[0] == "kerasrnn")
    return targets


def library_imports():
    """`{(importer, imported)}` over the package's modules (absolute `kerasrnn` imports)."""
    return {(module_name(path), target) for path in library_files() for target in imports_of(path)}


def floor(module):
    prefix = max((p for p in FLOORS if module == p or module.startswith(p + ".")), key=len)
    return FLOORS[prefix]


def kind_of(module):
    """The kind whose package holds `module`, or None."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["kerasrnn", "kinds"] and parts[2] in KINDS else None


def is_reexport(module):
    return floor(module) == FLOORS["kerasrnn.models"]


def departures_in_the_plan():
    section = PLAN.split("### Known departures", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([\w.]+)` -> `([\w.]+)`", section, re.M))


def test_every_module_the_plan_names_exists():
    named = set(re.findall(r"`((?:kerasrnn|training|export|benchmarks|tests)/[\w/.]+\.py)`", PLAN))
    named |= {m.replace(".", "/") + ".py" for pair in departures_in_the_plan() for m in pair
              if not (ROOT / m.replace(".", "/")).is_dir()}
    assert len(named) > 10
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_every_package_module_is_in_the_plan():
    modules = {p.relative_to(ROOT / "kerasrnn").as_posix() for p in library_files()
               if p.name != "__init__.py"}
    unnamed = sorted(m for m in modules if f"`{m.split('/')[-1]}`" not in PLAN and f"{m}`" not in PLAN
                     and f"/{m.split('/')[-1]}`" not in PLAN)
    assert not unnamed, f"modules docs/architecture.md does not mention: {unnamed}"


def test_imports_run_down_the_floors():
    upward = {(a, b) for a, b in library_imports() if floor(b) > floor(a)
              or (a.startswith("kerasrnn.export") and (b == "kerasrnn.train" or b.startswith("kerasrnn.train.")))}
    planned = departures_in_the_plan()
    assert upward - planned == set(), f"imports up a floor, not in docs/architecture.md: {sorted(upward - planned)}"
    assert planned - upward == set(), f"departures docs/architecture.md lists that are gone: {sorted(planned - upward)}"


def test_kinds_never_import_each_other_and_only_the_registry_imports_a_kind():
    assert set(KINDS) >= {"char_rnn", "stn_classifier", "captioner"}
    crossing = sorted((a, b) for a, b in library_imports() if kind_of(b) and kind_of(a) != kind_of(b)
                      and a != "kerasrnn.kinds.registry" and not is_reexport(a))
    assert not crossing, f"imports of a kind's package from outside it: {crossing}"


def test_a_kinds_export_side_imports_no_training_code():
    training = {f"kerasrnn.kinds.{k}.{m}" for k in KINDS for m in TRAINING_MODULES}
    served = {(a, b) for a, b in library_imports()
              if kind_of(a) and a.rsplit(".", 1)[-1] not in TRAINING_MODULES
              and (b in training or b == "kerasrnn.train" or b.startswith("kerasrnn.train."))}
    assert not served, f"a kind's export or model code imports training code: {sorted(served)}"


def test_the_library_reads_no_environment_variables_and_loads_no_module_by_name():
    """Scripts read the environment (`TF_CONFIG`, data paths) and pass values in; `kerasrnn.cli`
    is the scripts' own module. Every import is a plain one, so this test sees the whole graph."""
    found = []
    for path in library_files():
        if module_name(path) == "kerasrnn.cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} reads os.{node.attr}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [getattr(node, "module", None) or ""] + [a.name for a in node.names]
                if "importlib" in names or any(n.startswith("importlib.") for n in names):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports importlib")
            if isinstance(node, ast.Name) and node.id == "__import__":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} calls __import__")
    assert not found, found


def test_no_import_circle():
    graph = {}
    for a, b in library_imports():
        if a != b:
            graph.setdefault(a, set()).add(b)
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_library_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in library_files()
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"modules over 400 lines (split them by job): {long}"


def test_each_onnx_driver_loads_no_tensorflow_keras_or_other_kind():
    drivers = sorted(KINDS_DIR.glob("*/onnx_driver.py"))
    assert {p.parent.name for p in drivers} >= {"char_rnn", "captioner"}
    for path in drivers:
        module = module_name(path)
        code = (f"import sys, {module}; print(sorted(m for m in sys.modules if m in "
                "('tensorflow', 'keras', 'tf2onnx') or (m.startswith('kerasrnn.kinds.') and "
                f"not m.startswith('{module.rsplit('.', 1)[0]}'))))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                              check=True)
        assert done.stdout.strip() == "[]", (module, done.stdout + done.stderr)
