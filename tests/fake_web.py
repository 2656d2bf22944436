"""For the page server's tests (no TensorFlow, no browser): a fake exported version and a fake
page folder, each file's bytes naming it so that a wrong file served is seen; `serve_web.py` in
its own process (`Server`, the `serve` fixture) and the clients that load it.

A helper module the tests import, not a test file: it asserts nothing itself."""

import http.client
import json
import pathlib
import select
import socket
import subprocess
import time

import pytest

from kerasrnn.export import web_files
from script_runs import start_script

WASM = "/ort/ort-wasm-simd-threaded.wasm"
CHUNK = 64 * 1024  # serve_web.py's CHUNK


def fake_version(directory, files=("onnx/step.onnx", "onnx/vocab.json", "onnx/limits.json"), version=1):
    """A version folder with a model card (of `version`) listing `files` (each written), a
    SavedModel's files and an ONNX file the card does not list."""
    card = {"format": "kerasrnn.model_card", "format_version": 1, "name": "tiny", "version": version,
            "kind": "char_rnn", "run_dir": "runs/tiny", "signatures": {}, "default_signature": "generate",
            "limits": {}, "onnx": {"opset": 17, "files": list(files)}}
    (directory / "assets.extra").mkdir(parents=True)
    (directory / "assets.extra" / "model_card.json").write_text(json.dumps(card))
    (directory / "onnx").mkdir()
    for name in files:  # each file's bytes name it: a wrong file served is seen
        (directory / name).write_text(json.dumps({"file": name}) if name.endswith(".json") else f"onnx {name}")
    (directory / "onnx" / "unlisted.onnx").write_bytes(b"not listed")
    (directory / "saved_model.pb").write_bytes(b"graph")
    return directory


def fake_page(directory, ort=True):
    """A page folder: index.html, a module, a stylesheet, a driver module, the other kinds of
    page file (.html, .js, .png, .svg, .ico), files never served, and (if `ort`) ONNX Runtime
    Web's files; each file's bytes name it."""
    (directory / "driver").mkdir(parents=True)
    (directory / "images").mkdir()
    for name, text in {"index.html": "<!doctype html>", "page.mjs": "export {};", "style.css": "body {}",
                       "driver/kind.mjs": "export {};", "help.html": "<!doctype html>", "extra.js": "0;",
                       "images/logo.png": "\x89PNG", "images/logo.svg": "<svg/>", "favicon.ico": "ico",
                       "package.json": "{}", ".hidden.mjs": "secret", "notes.txt": "not a page file"}.items():
        (directory / name).write_text(f"{text} {name}")
    if ort:
        dist = directory / web_files.ORT_DIST
        dist.mkdir(parents=True)
        for name in (*web_files.ORT_FILES, "ort.all.min.mjs"):
            (dist / name).write_bytes((b"\0asm " if name.endswith(".wasm") else b"export {}; ") + name.encode())
    return directory


class Server:
    """`serve_web.py` in its own process: its pid, address and log (stderr)."""

    def __init__(self, version, page, log, *flags):
        self.log_path = log
        self.process = start_script("export/serve_web.py", version, "--page-dir", page, "--port", "0", *flags,
                                    stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
        ready, _, _ = select.select([self.process.stdout], [], [], 30)
        self.first_line = self.process.stdout.readline() if ready else ""
        if " at http://" not in self.first_line:
            self.process.kill()
            pytest.fail(f"serve_web.py did not start: {self.first_line!r} {log.read_text()!r}")
        host_port = self.first_line.split("http://", 1)[1].split("/", 1)[0]
        self.address = (host_port.rsplit(":", 1)[0].strip("[]"), int(host_port.rsplit(":", 1)[1]))
        if self.address[0] == "0.0.0.0":
            self.address = ("127.0.0.1", self.address[1])

    def status(self, key):
        """A number of /proc/PID/status (`VmHWM` in kB, `Threads`)."""
        for line in pathlib.Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def log(self):
        return self.log_path.read_text()

    def wait_for_log(self, text, count, timeout):
        """Waits until `text` is in `count` lines of the log (or `timeout` seconds); the count."""
        deadline = time.monotonic() + timeout
        while True:
            found = sum(text in line for line in self.log().splitlines())
            if found >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def site_dirs(tmp_path):
    """`(version_dir, page_dir)`: a fake version and page; the WASM file is 24 MB (sparse)."""
    (tmp_path / "secret.txt").write_text("secret outside")
    version = fake_version(tmp_path / "models" / "tiny" / "1")
    page = fake_page(tmp_path / "web")
    with open(page / web_files.ORT_DIST / "ort-wasm-simd-threaded.wasm", "r+b") as f:
        f.truncate(24 * 2**20)
    return version, page


@pytest.fixture
def serve(site_dirs, tmp_path):
    """`serve(*flags)`: a started `Server` on `site_dirs`, stopped after the test."""
    servers = []

    def start(*flags, version=None):
        servers.append(Server(version or site_dirs[0], site_dirs[1], tmp_path / f"log{len(servers)}", *flags))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def get(address, path, timeout=10):
    """`(status, body)` of GET `path`."""
    connection = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def request_and_never_read(address, path):
    """A connection that sends GET `path` and reads nothing (a small receive buffer)."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(address)
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return client
