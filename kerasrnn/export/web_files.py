"""What `export/serve_web.py` serves for the browser page, and nothing else.

Three sets of files, each behind its own URL prefix:

    /                  the page (`export/web/`: `index.html` and its `.mjs`, `.css` files,
                       `driver/` and `kinds/` included; never `node_modules/`, `package.json`,
                       dot files or a kind's `node.mjs`, the Node.js example's)
    /ort/NAME          ONNX Runtime Web's single-threaded WASM build, from the npm package that
                       `npm ci --ignore-scripts` installs into `export/web/node_modules/` (`ORT_FILES`)
    /model/PATH        of the exported version, only the files the browser driver reads: the model
                       card (`assets.extra/model_card.json`) and the `onnx/` files the card lists
                       (the ONNX graphs, the vocabulary, `limits.json`, `decoding.json`)

`WebSite.locate(url_path)` names the file a request path asks for and `open_inside` opens it;
either gives None (404) where a path leaves its folder (`..`, an absolute or encoded one, a link
pointing out), names a hidden file, something other than a regular file or anything not listed
above, without saying which files exist. The check is made at every request, as the file is
opened: a listed file swapped for a link out of its folder after start-up is refused, and no
link swapped in between the check and the open is followed (each folder down from the resolved
root is opened with `O_NOFOLLOW`).

`version_to_serve(folder)` takes a model's folder (`BASE/NAME`) to its latest version.

Imports only the standard library and `kerasrnn.export.version_files` (no TensorFlow, no Keras,
no onnxruntime): serving a page needs none of them.
"""

import dataclasses
import os
import pathlib
import posixpath
import stat
import urllib.parse

from kerasrnn.errors import InputError
from kerasrnn.export import version_files
from kerasrnn.export.version_dir import versions

# ONNX Runtime Web's build files inside the page's folder.
ORT_PACKAGE = "onnxruntime-web"
ORT_DIST = pathlib.Path("node_modules") / ORT_PACKAGE / "dist"
# The ES module the worker imports and what it loads: the single-threaded WASM backend.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
INSTALL_HINT = "run `make install` (or `npm ci --ignore-scripts` in export/web)"

CARD_PATH = f"{version_files.EXTRA_DIR}/{version_files.CARD_FILE}"
PAGE_SUFFIXES = (".html", ".mjs", ".js", ".css", ".png", ".svg", ".ico")
PAGE_EXCLUDED = {"node_modules", "package.json", "package-lock.json"}
NODE_ONLY = "node.mjs"  # a kind's module for the Node.js example (kinds/KIND/node.mjs), not the page's

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


# Opening without following a link in the last component, never blocking on a FIFO's open.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = _OPEN_FLAGS | getattr(os, "O_DIRECTORY", 0)
_FILE_FLAGS = _OPEN_FLAGS | getattr(os, "O_NONBLOCK", 0)


def _inside(root, relative):
    """`(resolved root, parts of the resolved file under it)` if `root / relative`, links
    followed, stays inside `root`, else None. `relative` is a `/`-separated path."""
    parts = relative.split("/")
    if not relative or relative.startswith("/") or "\\" in relative or "\x00" in relative \
            or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    try:
        root = pathlib.Path(root).resolve(strict=True)
        path = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, a loop of links
        return None
    if not path.is_relative_to(root) or path == root:
        return None
    return root, path.relative_to(root).parts


def open_inside(root, relative):
    """The regular file `root / relative` opened for reading (binary), or None where the path
    leaves `root` (links inside `root` are followed), names a hidden file, is missing or is not
    a regular file.

    The path is resolved, then opened one folder at a time down from the resolved root, each
    with `O_NOFOLLOW`: a link swapped in after the check is refused, not followed. A FIFO or
    device is opened non-blocking, seen and refused.
    """
    inside = _inside(root, relative)
    if inside is None:
        return None
    root, parts = inside
    folder = None
    try:
        folder = os.open(root, _DIR_FLAGS)
        for part in parts[:-1]:
            inner = os.open(part, _DIR_FLAGS, dir_fd=folder)
            os.close(folder)
            folder = inner
        fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=folder)
    except OSError:  # a link swapped in (ELOOP, ENOTDIR), gone meanwhile, unreadable
        return None
    finally:
        if folder is not None:
            os.close(folder)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


@dataclasses.dataclass(frozen=True)
class WebSite:
    """The files one page server serves (see the module docstring).

    Attributes:
        card: The exported version's model card.
        version_dir: The exported version's folder.
        model_files: The paths relative to `version_dir` that `/model/` serves (the card and the
            files it lists).
        page_dir: The page's folder.
        ort_dir: ONNX Runtime Web's `dist/` folder.
    """

    card: dict
    version_dir: pathlib.Path
    model_files: frozenset
    page_dir: pathlib.Path
    ort_dir: pathlib.Path

    @property
    def title(self):
        """`NAME version VERSION (KIND)` from the model card."""
        return f"{self.card['name']} version {self.card['version']} ({self.card['kind']})"

    def locate(self, url_path):
        """`(folder, path relative to it)` a request path names, or None (refused: answer 404).
        Says nothing of whether the file is there: `open_inside(folder, path)` checks that,
        and opens it.

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
            name = relative[len("model/"):]
            return (self.version_dir, name) if name in self.model_files else None
        if relative.startswith("ort/"):
            name = relative[len("ort/"):]
            return (self.ort_dir, name) if name in ORT_FILES else None
        if relative.split("/")[0] in PAGE_EXCLUDED or relative.split("/")[-1].lower() == NODE_ONLY \
                or not relative.endswith(PAGE_SUFFIXES):
            return None
        return self.page_dir, relative


def version_to_serve(folder):
    """`(version_dir, latest)`: `folder` itself (`latest` False) unless it is a model's folder
    `BASE/NAME` with versions and no model card of its own; then its highest version (True).

    The versions are `version_dir.versions` (the ASCII-digit subfolders, as TF Serving reads
    them). `web_site` reports a folder that is neither.
    """
    folder = pathlib.Path(folder)
    numbers = versions(folder)
    if (folder / CARD_PATH).exists() or not numbers:
        return folder, False
    return folder / str(numbers[-1]), True


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
    for name in listed:
        file = open_inside(version_dir, name)
        if file is None:
            raise InputError(f"{version_dir / name} is missing (the model card lists it); "
                             "export the model again")
        file.close()
    if not (page_dir / "index.html").is_file():
        raise InputError(f"{page_dir} has no index.html (the page's folder)")
    ort_dir = page_dir / ORT_DIST
    missing = [name for name in ORT_FILES if not (ort_dir / name).is_file()]
    if missing:
        raise InputError(f"{ORT_PACKAGE} is not installed in {page_dir / 'node_modules'} (no "
                         f"{', '.join(missing)}); {INSTALL_HINT}")
    return WebSite(card, version_dir, frozenset((CARD_PATH, *listed)), page_dir, ort_dir)
