#!/usr/bin/env python
"""Serve the browser page for one exported model version: the model runs in the browser
(ONNX Runtime Web, WASM, in a Web Worker); this server only hands out files.

Examples:
  python export/serve_web.py saved_models/shakespeare/1              # http://127.0.0.1:8000/
  python export/serve_web.py saved_models/scenes/2 --port 8080
  python export/serve_web.py saved_models/digits/1 --host 0.0.0.0    # reachable from other machines

What it serves (read-only, GET and HEAD; see kerasrnn/export/web_files.py): the page
(export/web/), ONNX Runtime Web's WASM build from export/web/node_modules (`make install` puts
it there), and of the version only its model card and the onnx/ files the card lists. Anything
else, a path that leaves its folder included, is answered 404.

Exit status 130 after Ctrl-C; 2 on bad input (not an exported version, a missing ONNX file,
ONNX Runtime Web not installed, a port in use), with one `error:` line.
"""

import argparse
import errno
import http.server
import pathlib
import sys


# The page loads only its own files; WebAssembly may be compiled (ONNX Runtime Web's), nothing
# else evaluated; it cannot be framed by another site.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
                           "img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("version_dir", metavar="VERSION_DIR", help="an exported version, BASE/NAME/VERSION")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--page-dir", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent / "web",
                   help="the page's folder, with ONNX Runtime Web installed in it (default: web/ "
                        "beside this script)")
    return p.parse_args(argv)


def handler_for(site):
    """A request handler class serving `site`'s files (a `kerasrnn.export.web_files.WebSite`)."""
    from kerasrnn.export import web_files

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "kerasrnn-serve-web"
        sys_version = ""

        def do_GET(self):
            self._send(body=True)

        def do_HEAD(self):
            self._send(body=False)

        def _send(self, body):
            path = site.resolve(self.path)
            if path is None:
                self.send_error(404, "Not Found")
                return
            try:
                stat = path.stat()
                tag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
                if tag in self.headers.get("If-None-Match", ""):
                    self.send_response(304)  # the browser's copy is current (the 14 MB of WASM)
                    self.send_header("ETag", tag)
                    self.end_headers()
                    return
                data = path.read_bytes()
            except OSError:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", web_files.mime_type(path))
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache")  # kept, but checked again on each load
            self.send_header("ETag", tag)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            self.end_headers()
            if body:
                self.wfile.write(data)

    return Handler


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: serve(args), interrupted="stopped")


def serve(args):
    """Checks the version and the page, then serves them until Ctrl-C."""
    from kerasrnn.errors import InputError
    from kerasrnn.export.web_files import web_site

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, got {args.port}")
    site = web_site(args.version_dir, args.page_dir)
    try:
        server = http.server.ThreadingHTTPServer((args.host, args.port), handler_for(site))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise InputError(f"port {args.port} on {args.host} is in use; choose another with --port") \
                from None
        raise InputError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e})") from None
    server.daemon_threads = True
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {site.title} at http://{shown}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
