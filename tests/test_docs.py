"""The README stays a short front door and the docs' links resolve (fast; no TensorFlow)."""

import contextlib
import io
import pathlib
import re
import shlex

import pytest

from script_runs import script_module

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# docs/security.md is written separately; a link to it is checked once the file exists.
MAY_BE_PENDING = {(ROOT / "docs" / "security.md").resolve()}


def relative_links(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL (http:, mailto:) or an anchor in the same page
        path = target.split("#", 1)[0].split("?", 1)[0]
        if path:
            yield target, (page.parent / path).resolve()


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move detail to docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    missing = [target for target, path in relative_links(page)
               if not path.exists() and path not in MAY_BE_PENDING]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_developer_paths(page):
    assert "../shared" not in page.read_text(encoding="utf-8")


# ------------------------------------------------------------------ documented commands parse

SCRIPT_PAGES = PAGES + [ROOT / "export" / "README.md"]
COMMAND = re.compile(r"(?<![\w/.-])python ((?:training|export|benchmarks)/\w+\.py)\b(.*)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


def fenced_lines(page):
    """The lines of a page's fenced code blocks, continuation lines joined, prompts stripped, with
    each `for X in A B; do` loop's variable replaced by its first value."""
    for block in FENCE.findall(page.read_text(encoding="utf-8")):
        loops = {}
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"^\s*\$ ", "", line).strip()
            loop = re.match(r"for (\w+) in (\S+)", line)
            if loop:
                loops[loop.group(1)] = loop.group(2)
            for name, value in loops.items():
                line = line.replace("$" + name, value)
            yield line


def documented_commands(page):
    """`(script, argv)` for every `python training|export|benchmarks/....py ...` in a page's code
    blocks (arguments up to a comment, `;`, `&&`, `|` or a redirection; `$(...)` left out)."""
    for line in fenced_lines(page):
        for match in COMMAND.finditer(line):
            rest = re.sub(r"\$\([^)]*\)", "", match.group(2))  # $(... && echo --resume): optional
            rest = re.split(r"\s(?:#|;|&&|\||>|2>)|;", rest)[0]
            yield match.group(1), shlex.split(rest)


def parse_error(script, argv):
    """What the script's own argument parser says about `argv` (None: it parses)."""
    parse_args = script_module(script).parse_args
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            parse_args(argv)
    except SystemExit as e:
        return f"exit {e.code}: {stderr.getvalue().strip().splitlines()[-1:]}"
    return None


def test_every_documented_command_parses():
    commands = sorted({(p.relative_to(ROOT).as_posix(), s, tuple(a)) for p in SCRIPT_PAGES
                       for s, a in documented_commands(p)})
    assert len(commands) > 60
    assert {s for _, s, _ in commands} >= {"training/train_char_rnn.py", "export/serving_config.py",
                                           "training/caption_image.py", "benchmarks/stn_table.py"}
    bad = [f"{page}: python {script} {shlex.join(argv)}: {problem}" for page, script, argv in commands
           if (problem := parse_error(script, list(argv)))]
    assert not bad, "\n".join(bad)


def test_a_wrong_flag_in_a_page_would_be_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\nfor c in lstm gru; do\n  python training/train_char_rnn.py --cell $c \\\n"
                    "      --stepz 10 --out runs/x  # comment\ndone\n```\n")
    [(script, argv)] = documented_commands(page)
    assert (script, argv) == ("training/train_char_rnn.py", ["--cell", "lstm", "--stepz", "10", "--out", "runs/x"])
    assert "unrecognized arguments: --stepz 10" in parse_error(script, argv)
    assert parse_error(script, ["--cell", "lstm", "--steps", "10", "--out", "runs/x"]) is None


# ------------------------------------------------------------------ what the pages say holds


def test_documented_server_commands_take_every_flag_serving_config_writes():
    """A TF Serving command serves with all of `server_flags.txt` (the gRPC message size, thread
    counts and REST timeout too, not only the config and batching files)."""
    server_flags = script_module("export/serving_config.py").server_flags
    flags = [f.split("=")[0] for f in server_flags("/models", 1, 1, 1, 1)]
    assert len(flags) == 7
    commands = [(page.relative_to(ROOT).as_posix(), line) for page in SCRIPT_PAGES for line in fenced_lines(page)
                if re.search(r"tensorflow/serving\b|^tensorflow_model_server\b", line)
                and "MODEL_NAME=" not in line]
    assert len(commands) >= 4
    short = [(page, line) for page, line in commands if "saved_models/server_flags.txt" not in line
             and not all(f in line for f in flags) and not ('"${flags[@]}"' in line and
             "mapfile -t flags < saved_models/server_flags.txt" in (ROOT / page).read_text(encoding="utf-8"))]
    assert not short, f"server commands without the flags of server_flags.txt: {short}"


def test_the_readme_links_the_architecture_page():
    assert "(docs/architecture.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_no_developer_paths_in_scripts():
    """What `--help` shows (each script's docstring and help texts) names no developer folder."""
    scripts = sorted((ROOT / d / f) for d in ("training", "export", "benchmarks") for f in
                     [p.name for p in (ROOT / d).glob("*.py")])
    assert len(scripts) > 20
    found = [s.relative_to(ROOT).as_posix() for s in scripts if "../shared" in s.read_text(encoding="utf-8")]
    assert not found


def test_every_served_model_name_is_one_a_page_exports():
    """`saved_models/NAME/` and `v1/models/NAME` on any page name a model some page's
    `export_model.py --name NAME` writes: one name per model across the pages."""
    texts = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in SCRIPT_PAGES}
    exported = {re.sub(r"\\\$\w+", r"[\\w-]+", re.escape(name)) for text in texts.values()
                for name in re.findall(r"export_model\.py [^\n]*?--name ([\w$-]+)", text)}
    assert all(any(re.fullmatch(e, name) for e in exported) for name in ("code", "scenes", "digits-r", "demo-stn"))
    used = {(page, name) for page, text in texts.items()
            for name in re.findall(r"(?:saved_models|v1/models)/([\w$-]+)[/:]", text) if name != "NAME"}
    unknown = sorted((page, name) for page, name in used if not any(re.fullmatch(e, name) for e in exported))
    assert not unknown, f"model names no page exports: {unknown}"
