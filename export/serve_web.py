#!/usr/bin/env python
"""Serve the browser page for one exported model version: the model runs in the browser
(ONNX Runtime Web, WASM, in a Web Worker); this server only hands out files.

Examples:
  python export/serve_web.py saved_models/shakespeare/1              # http://127.0.0.1:8000/
  python export/serve_web.py saved_models/shakespeare                # its latest version
  python export/serve_web.py saved_models/scenes/2 --port 8080
  python export/serve_web.py saved_models/digits/1 --host 0.0.0.0    # every interface (warns)

What it serves (read-only, GET and HEAD; see kerasrnn/export/web_files.py): the page
(export/web/), ONNX Runtime Web's WASM build from export/web/node_modules (`make install` puts
it there), and of the version only its model card and the onnx/ files the card lists. Anything
else, a path that leaves its folder included, is answered 404. Each request is checked when its
file is opened, so a file swapped for a link out of its folder after start-up is refused.

Under load: at most --max-connections connections are handled at once (one thread each); more
wait in the listen queue (128) until one ends. A connection must send its request head (at most
16 KiB) within --timeout seconds, and every 64 KiB of the response must be taken by the client
within --timeout seconds, or it is closed. Files are streamed 64 KiB at a time: memory grows by
about 64 KiB per connection, not by the file's size. A client that goes away mid-response is
logged in one line.

Exit status 130 after Ctrl-C; 2 on bad input (not an exported version, a missing ONNX file,
ONNX Runtime Web not installed, a port in use, a limit out of range), with one `error:` line.
"""

import argparse
import errno
import http.server
import io
import ipaddress
import math
import os
import pathlib
import socket
import sys
import threading
import time


# The page loads only its own files; WebAssembly may be compiled (ONNX Runtime Web's), nothing
# else evaluated; it cannot be framed by another site.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
                           "img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'")
CHUNK = 64 * 1024  # bytes of a file read and sent at a time, per connection
HEAD_LIMIT = 16 * 1024  # bytes of a request head (request line and headers)
LISTEN_QUEUE = 128  # connections the system holds while every handler is busy


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("version_dir", metavar="VERSION_DIR",
                   help="an exported version, BASE/NAME/VERSION, or a model's folder BASE/NAME (its "
                        "latest version)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only; '', 0.0.0.0 or :: "
                        "listen on every interface, with a warning)")
    p.add_argument("--page-dir", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent / "web",
                   help="the page's folder, with ONNX Runtime Web installed in it (default: web/ "
                        "beside this script)")
    p.add_argument("--max-connections", type=int, default=64,
                   help="connections handled at once (default 64); more wait in the listen queue")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds a connection has to send its request, and the client to take each "
                        "64 KiB of a response, before it is closed (default 30)")
    return p.parse_args(argv)


class HeadTooLarge(Exception):
    """A request head over `HEAD_LIMIT` bytes."""


class HeadReader(io.RawIOBase):
    """A connection's bytes for reading the request head: all of it due `seconds` after the
    connection was accepted (a deadline, not a wait per byte), at most `HEAD_LIMIT` bytes."""

    def __init__(self, sock, seconds):
        super().__init__()
        self.sock, self.deadline, self.count = sock, time.monotonic() + seconds, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request was not sent in time")
        if self.count >= HEAD_LIMIT:
            raise HeadTooLarge(f"request head over {HEAD_LIMIT} bytes")
        self.sock.settimeout(left)
        with memoryview(buffer) as view:
            n = self.sock.recv_into(view[:HEAD_LIMIT - self.count])
        self.count += n
        return n


def handler_for(site, timeout=30.0):
    """A request handler class serving `site`'s files (a `kerasrnn.export.web_files.WebSite`),
    closing a connection that does not send its request head within `timeout` seconds or does
    not take 64 KiB of the response within `timeout` seconds."""
    from kerasrnn.export import web_files

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "kerasrnn-serve-web"
        sys_version = ""

        def setup(self):
            super().setup()
            self.rfile.close()
            self.rfile = io.BufferedReader(HeadReader(self.connection, timeout), 4096)

        def handle_one_request(self):
            try:
                super().handle_one_request()
            except HeadTooLarge as e:
                self.log_error("request refused: %s", e)
                self.close_connection = True

        def do_GET(self):
            self._send(body=True)

        def do_HEAD(self):
            self._send(body=False)

        def _send(self, body):
            self.connection.settimeout(timeout)  # each write (64 KiB at most) within `timeout`
            located = site.locate(self.path)
            file = None if located is None else web_files.open_inside(*located)
            if file is None:
                self.send_error(404, "Not Found")
                return
            with file:
                stat = os.fstat(file.fileno())
                tag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
                if tag in self.headers.get("If-None-Match", ""):
                    self.send_response(304)  # the browser's copy is current (the 14 MB of WASM)
                    self.send_header("ETag", tag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", web_files.mime_type(located[1]))
                self.send_header("Content-Length", str(stat.st_size))
                self.send_header("Cache-Control", "no-cache")  # kept, but checked again on each load
                self.send_header("ETag", tag)
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                self.end_headers()
                if body:
                    self._stream(file, stat.st_size)

        def _stream(self, file, size):
            """Sends `size` bytes of `file`, `CHUNK` at a time; a client that goes away or
            stops reading ends the connection with one log line."""
            sent = 0
            try:
                while sent < size:
                    chunk = file.read(min(CHUNK, size - sent))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except TimeoutError:
                self.log_error("client stopped reading %s after %d of %d bytes; closed", self.path, sent, size)
            except OSError as e:
                self.log_error("client went away during %s after %d of %d bytes (%s)", self.path, sent,
                               size, e.strerror or type(e).__name__)
            else:
                if sent == size:
                    return
                self.log_error("%s shrank while being sent (%d of %d bytes); closed", self.path, sent, size)
            self.close_connection = True

    return Handler


class PageServer(http.server.ThreadingHTTPServer):
    """`ThreadingHTTPServer` with at most `max_connections` connections handled at once (more
    wait in a listen queue of `LISTEN_QUEUE`) and one log line, no traceback, per failed
    connection."""

    request_queue_size = LISTEN_QUEUE
    daemon_threads = True
    block_on_close = False  # Ctrl-C stops at once; every connection is bounded by its timeouts

    def __init__(self, address, handler, max_connections):
        self.slots = threading.BoundedSemaphore(max_connections)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def get_request(self):
        # Accepts only with a slot free; while none is, connections wait in the listen queue.
        # The wait is short so that `shutdown()` is seen.
        if not self.slots.acquire(timeout=0.5):
            raise OSError("every connection slot is busy")
        try:
            return super().get_request()
        except BaseException:
            self.slots.release()
            raise

    def shutdown_request(self, request):
        try:
            super().shutdown_request(request)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        sys.stderr.write(f"{client_address[0]} - - connection ended: {type(error).__name__}: {error}\n")


def every_interface(address):
    """Whether a socket bound to `address` (as bound: `0.0.0.0`, not `''`) listens on every
    interface of the machine."""
    try:
        return ipaddress.ip_address(address.strip("[]")).is_unspecified
    except ValueError:  # a host name
        return False


def make_server(site, host, port, max_connections=64, timeout=30.0):
    """A `PageServer` for `site` listening on `host:port` (not yet serving).

    Raises:
        InputError: A limit out of range, the port in use, or an address it cannot listen on.
    """
    from kerasrnn.errors import InputError

    if not 0 <= port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, got {port}")
    if not 1 <= max_connections <= 10000:
        raise InputError(f"--max-connections must be between 1 and 10000, got {max_connections}")
    if not (math.isfinite(timeout) and 0 < timeout <= 3600):
        raise InputError(f"--timeout must be more than 0 and at most 3600 seconds, got {timeout}")
    try:
        return PageServer((host, port), handler_for(site, timeout), max_connections)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise InputError(f"port {port} on {host} is in use; choose another with --port") from None
        raise InputError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: serve(args), interrupted="stopped")


def serve(args):
    """Checks the version and the page, then serves them until Ctrl-C."""
    from kerasrnn.export.web_files import version_to_serve, web_site

    version_dir, latest = version_to_serve(args.version_dir)
    site = web_site(version_dir, args.page_dir)
    server = make_server(site, args.host, args.port, args.max_connections, args.timeout)
    host, port = server.server_address[:2]
    if every_interface(host):
        print(f"warning: --host {args.host!r} listens on every interface: anyone who can reach this "
              "machine can load the page and download the model", file=sys.stderr, flush=True)
    shown = f"[{host}]" if ":" in host else host
    which = f"the latest version in {args.version_dir}; " if latest else ""
    print(f"serving {site.title} at http://{shown}:{port}/ ({which}Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
