"""What `export/serve_web.py` serves for the browser page, and nothing else.

Three sets of files, each behind its own URL prefix:

    /                  the page (`export/web/`: `index.html` and its `.mjs`, `.css` files,
                       `driver/` included; never `node_modules/`, `package.json` or dot files)
    /ort/NAME          ONNX Runtime Web's single-threaded WASM build, from the npm package that
                       `npm ci --ignore-scripts` installs into `export/web/node_modules/` (`ORT_FILES`)
    /model/PATH        of the exported version, only the files the browser driver reads: the model
                       card (`assets.extra/model_card.json`) and the `onnx/` files the card lists
                       (the ONNX graphs, the vocabulary, `limits.json`, `decoding.json`)

`WebSite.resolve(url_path)` maps a request path to one of those files or to None (404): a path
that leaves its folder (`..`, an absolute or encoded one, a link pointing out), names a hidden
file or anything not listed above is refused the same way, without saying which files exist.

Imports only the standard library and `kerasrnn.export.version_files` (no TensorFlow, no Keras,
no onnxruntime): serving a page needs none of them.
"""

import dataclasses
import pathlib
import posixpath
import urllib.parse

from kerasrnn.errors import InputError
from kerasrnn.export import version_files

# ONNX Runtime Web's build files inside the page's folder.
ORT_PACKAGE = "onnxruntime-web"
ORT_DIST = pathlib.Path("node_modules") / ORT_PACKAGE / "dist"
# The ES module the worker imports and what it loads: the single-threaded WASM backend.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
INSTALL_HINT = "run `make install` (or `npm ci --ignore-scripts` in export/web)"

CARD_PATH = f"{version_files.EXTRA_DIR}/{version_files.CARD_FILE}"
PAGE_SUFFIXES = (".html", ".mjs", ".js", ".css", ".png", ".svg", ".ico")
PAGE_EXCLUDED = {"node_modules", "package.json", "package-lock.json"}

MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}


def mime_type(path):
    """The Content-Type of a served file, by its suffix (`application/octet-stream` otherwise)."""
    return MIME_TYPES.get(pathlib.PurePath(path).suffix.lower(), "application/octet-stream")


def _inside(root, relative):
    """`root / relative` if it is a file that stays inside `root` (links followed), else None."""
    parts = relative.split("/")
    if not relative or relative.startswith("/") or "\\" in relative or "\x00" in relative \
            or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    root = root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


@dataclasses.dataclass(frozen=True)
class WebSite:
    """The files one page server serves (see the module docstring).

    Attributes:
        card: The exported version's model card.
        model_files: `{path relative to version_dir: file}`, what `/model/` serves.
        page_dir: The page's folder.
        ort_dir: ONNX Runtime Web's `dist/` folder.
    """

    card: dict
    model_files: dict
    page_dir: pathlib.Path
    ort_dir: pathlib.Path

    @property
    def title(self):
        """`NAME version VERSION (KIND)` from the model card."""
        return f"{self.card['name']} version {self.card['version']} ({self.card['kind']})"

    def resolve(self, url_path):
        """The file a request path names, or None (refused: answer 404).

        Args:
            url_path: The request's path as it came (percent-encoded, maybe with `?query`).
        """
        try:
            path = urllib.parse.unquote(url_path.split("?", 1)[0].split("#", 1)[0], errors="strict")
        except UnicodeDecodeError:  # not UTF-8 once decoded
            return None
        if not path.startswith("/") or posixpath.normpath(path) != path and path != "/":
            return None  # `..`, `//`, `/./`: never rewritten into another path
        relative = path[1:] or "index.html"
        if relative.startswith("model/"):
            return self.model_files.get(relative[len("model/"):])
        if relative.startswith("ort/"):
            name = relative[len("ort/"):]
            return _inside(self.ort_dir, name) if name in ORT_FILES else None
        if relative.split("/")[0] in PAGE_EXCLUDED or not relative.endswith(PAGE_SUFFIXES):
            return None
        return _inside(self.page_dir, relative)


def web_site(version_dir, page_dir):
    """Checks what the page needs and returns the `WebSite` serving `version_dir`.

    Args:
        version_dir: An exported version, `BASE/NAME/VERSION` (its model card and `onnx/`).
        page_dir: The page's folder (the repository's `export/web/`), with ONNX Runtime Web
            installed in it.

    Raises:
        InputError: Not an exported version, a damaged card, an ONNX file the card lists that
            is missing, no page, or ONNX Runtime Web not installed (says how to install it).
    """
    version_dir, page_dir = pathlib.Path(version_dir), pathlib.Path(page_dir)
    card = version_files.read_model_card(version_dir)
    card_file = version_dir / CARD_PATH
    listed = card["onnx"].get("files")
    if not isinstance(listed, list) or not listed or not all(
            isinstance(f, str) and f.startswith("onnx/") for f in listed):
        raise InputError(f"{card_file} lists no ONNX files (onnx.files); export the model again "
                         "(versions exported before ONNX files existed cannot be served to a browser)")
    model_files = {CARD_PATH: card_file.resolve()}
    for name in listed:
        path = _inside(version_dir, name)
        if path is None:
            raise InputError(f"{version_dir / name} is missing (the model card lists it); "
                             "export the model again")
        model_files[name] = path
    if not (page_dir / "index.html").is_file():
        raise InputError(f"{page_dir} has no index.html (the page's folder)")
    ort_dir = page_dir / ORT_DIST
    missing = [name for name in ORT_FILES if not (ort_dir / name).is_file()]
    if missing:
        raise InputError(f"{ORT_PACKAGE} is not installed in {page_dir / 'node_modules'} (no "
                         f"{', '.join(missing)}); {INSTALL_HINT}")
    return WebSite(card, model_files, page_dir, ort_dir)
