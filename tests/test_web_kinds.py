"""The JavaScript side grows by model kind: `export/web/driver/kind.mjs`'s table names the kinds
the Python package exports, each has its folder `export/web/kinds/KIND/` with the modules the
page's shell, the page's worker and the Node.js example load from it (and they export what those
load), a kind's folder is imported only for a kind of the table, the page (index.html, page.mjs,
worker.mjs, the Node.js example) names no kind, and the page server serves a kind's page files
but not its Node.js module.

Fast: `node` imports the modules (no ONNX Runtime, no browser); skips without `node`.
"""

import json
import pathlib
import re
import shutil
import subprocess

import pytest

from fake_web import fake_version
from kerasrnn.export import web_files

ROOT = pathlib.Path(__file__).resolve().parents[1]
NODE = shutil.which("node")
WEB = ROOT / "export" / "web"
KIND_TABLE = WEB / "driver" / "kind.mjs"


# Kinds the Python package exports that the page and the Node.js example do not run (yet): only
# a kind that runs there has a folder and a line in the table (architecture.md, "Adding a model kind").
NOT_ON_THE_WEB = set()


def python_kinds():
    """The model kinds the Python package knows that the page runs, sorted."""
    from kerasrnn.kinds.registry import KINDS

    assert NOT_ON_THE_WEB <= set(KINDS), NOT_ON_THE_WEB - set(KINDS)
    return sorted(set(KINDS) - NOT_ON_THE_WEB)


def node_json(script):
    """Runs the ES module `script` in node (`TABLE`: the URL of driver/kind.mjs); the JSON it prints."""
    if NODE is None:
        pytest.skip("no `node` on the PATH")
    source = f"const TABLE = {json.dumps(KIND_TABLE.as_uri())};\n" + script
    done = subprocess.run([NODE, "--input-type=module", "-e", source], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def js_table():
    """`{"kinds": KINDS, "files": KIND_FILES}` of driver/kind.mjs."""
    return node_json("""
        const { KINDS, KIND_FILES } = await import(TABLE);
        console.log(JSON.stringify({ kinds: KINDS, files: KIND_FILES }));""")


def test_the_js_kind_table_is_the_python_kinds():
    table = js_table()
    assert table["kinds"] == python_kinds()
    assert table["files"] == ["driver.mjs", "page.mjs", "worker.mjs", "node.mjs"]


def test_every_kind_of_the_table_has_its_folder_and_no_other_folder_is_there():
    table = js_table()
    for kind in table["kinds"]:
        for name in table["files"]:
            assert (WEB / "kinds" / kind / name).is_file(), f"kinds/{kind}/{name}"
    assert sorted(p.name for p in (WEB / "kinds").iterdir() if p.is_dir()) == table["kinds"]


def test_each_kinds_modules_export_what_their_loaders_use():
    """page.mjs: TITLE and setUp (the shell); worker.mjs: load and requests (the worker);
    node.mjs: WHAT, OPTIONS and run (the Node.js example); driver.mjs: a class with `create`.
    The page modules import here without a DOM: they touch the page only when set up."""
    exports = node_json("""
        const { KINDS, importKind } = await import(TABLE);
        const out = {};
        for (const kind of KINDS) {
          const [driver, page, worker, node] = await Promise.all(
            ["driver.mjs", "page.mjs", "worker.mjs", "node.mjs"].map((f) => importKind(kind, f)));
          out[kind] = {
            creates: Object.values(driver).filter((v) => typeof v?.create === "function").length,
            page: [typeof page.TITLE, typeof page.setUp],
            worker: [typeof worker.load, Object.entries(worker.requests).map(([t, f]) => [t, typeof f])],
            node: [typeof node.WHAT, typeof node.run,
                   Object.values(node.OPTIONS).every((o) => typeof o.value === "string" && "default" in o)],
          };
        }
        console.log(JSON.stringify(out));""")
    requests = {"char_rnn": ["generate"], "captioner": ["caption"], "stn_classifier": ["classify"],
                "draw": ["generate", "reconstruct"]}
    assert sorted(exports) == python_kinds()
    for kind, got in exports.items():
        assert got["creates"] == 1, kind
        assert got["page"] == ["string", "function"], kind
        assert got["worker"] == ["function", [[r, "function"] for r in requests[kind]]], kind
        assert got["node"] == ["string", "function", True], kind


def test_a_kind_outside_the_table_is_refused_before_any_path_is_built():
    got = node_json("""
        const { kindOf, kindFile } = await import(TABLE);
        const refused = (f) => { try { f(); return null; } catch (e) { return e.message; } };
        const bad = ["../../../etc", "char_rnn/../..", "__proto__", "constructor", "toString", "", null,
                     "CHAR_RNN", ["char_rnn"]];
        console.log(JSON.stringify({
          card: bad.map((kind) => refused(() => kindOf({ kind }))),
          noKind: refused(() => kindOf({})),
          file: bad.map((kind) => refused(() => kindFile(kind, "page.mjs"))),
          otherFile: refused(() => kindFile("char_rnn", "../../page.mjs")),
          good: kindFile("char_rnn", "page.mjs"),
          goodKind: kindOf({ kind: "stn_classifier" }),
        }));""")
    kinds = ", ".join(python_kinds())
    assert all(m is not None and m.endswith(f"these drivers run {kinds}") for m in got["card"]), got["card"]
    assert got["noKind"] == f"the model card names kind undefined; these drivers run {kinds}"
    assert all(m is not None and m.endswith(f"the kinds are {kinds}") for m in got["file"]), got["file"]
    assert got["otherFile"].startswith('no kind file "../../page.mjs"')
    assert got["good"] == (WEB / "kinds" / "char_rnn" / "page.mjs").as_uri()
    assert got["goodKind"] == "stn_classifier"


def test_the_page_and_the_node_example_name_no_kind():
    """What every kind shares names none: a kind is added by a folder and a line in the table."""
    names = [*python_kinds(), "char", "stn", "generate", "classify"]
    for path in (WEB / "index.html", WEB / "page.mjs", WEB / "worker.mjs", WEB / "widgets.mjs",
                 WEB / "style.css", ROOT / "export" / "node" / "example.mjs"):
        code = path.read_text()
        if path.suffix == ".mjs":  # the code, not its comments (which give examples)
            code = re.sub(r"^\s*//.*$|/\*\*.*?\*/", "", code, flags=re.M | re.S)
        found = [n for n in names if re.search(rf"(?<![\w-]){n}(?![\w])", code)]
        assert not found, (path.name, found)


def test_the_server_serves_each_kinds_page_files_and_not_its_node_module(tmp_path):
    version = fake_version(tmp_path / "models" / "tiny" / "1")
    site = web_files.WebSite({}, version, frozenset(), WEB, WEB / web_files.ORT_DIST)
    for kind in python_kinds():
        for name in ("driver.mjs", "page.mjs", "worker.mjs", "style.css"):
            located = site.locate(f"/kinds/{kind}/{name}")
            assert located == (WEB, f"kinds/{kind}/{name}"), (kind, name)
            with web_files.open_inside(*located) as file:
                assert file.read() == (WEB / "kinds" / kind / name).read_bytes()
        for path in (f"/kinds/{kind}/node.mjs", f"/kinds/{kind}/Node.mjs", f"/kinds/{kind}/",
                     f"/kinds/{kind}/../../package.json"):
            assert site.locate(path) is None, path
    for path in ("/widgets.mjs", "/driver/kind.mjs", "/page.mjs", "/worker.mjs"):
        assert site.locate(path) == (WEB, path[1:]), path
