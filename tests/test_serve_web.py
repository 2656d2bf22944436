"""The page server (`export/serve_web.py`) on a network: bounded clients on this machine (raw
sockets), each against `serve_web.py` in its own process on a fake version and page.

- files are streamed: 4 clients that request a 24 MB file and never read raise the server's
  peak memory (VmHWM) by less than 4 x (64 KiB + 1 MiB) + 8 MiB, not by 4 x 24 MB, and each is
  dropped, in one log line, once it has taken nothing for `--timeout` seconds;
- a request head is due within `--timeout` seconds (a deadline, not a wait per byte): 20
  clients that trickle a header line every 0.2 s are cut off after about 1 s; a head over
  16 KiB is refused;
- at most `--max-connections` handler threads run: 6 clients that never read, against a cap of
  3, never raise the server's threads by more than 3, and a client behind them is answered;
  60 simultaneous requests against a cap of 4 are all answered;
- a client that goes away mid-response is one log line, no traceback;
- every request is checked when its file is opened: a listed file, a page file or the `onnx/`
  folder swapped for a link out of the folder after start-up is refused (404, nothing of the
  outside file sent), and a link swapped in between the check and the open is not followed;
- a model's folder serves its latest version and says so; `--host ''` warns that every
  interface is bound; bad limits end in one `error:` line.

The heavy cases (80 clients on a 14 MB file, 500 half-sent requests, 300 simultaneous
connections) are in test_serve_web_load.py (slow tier).
"""

import json
import os
import select
import socket
import threading
import time

import pytest

from fake_web import CHUNK, WASM, fake_version, get, request_and_never_read, serve, site_dirs  # noqa: F401
from kerasrnn.export import web_files
from script_runs import script_module


def closed_within(client, seconds):
    """Seconds until the server closed `client` (EOF or reset on reading), or None."""
    start = time.monotonic()
    client.setblocking(False)
    while time.monotonic() - start < seconds:
        ready, _, _ = select.select([client], [], [], 0.05)
        if ready:
            try:
                if client.recv(65536) == b"":
                    return time.monotonic() - start
            except ConnectionResetError:
                return time.monotonic() - start
    return None


def test_clients_that_never_read_cost_a_chunk_each_and_are_dropped_after_the_timeout(serve):
    server = serve("--timeout", "0.5")
    assert get(server.address, "/")[0] == 200
    before = server.status("VmHWM")
    clients = [request_and_never_read(server.address, WASM) for _ in range(4)]
    assert server.wait_for_log('"GET /ort/ort-wasm-simd-threaded.wasm HTTP/1.1" 200', 4, 10) == 4
    time.sleep(0.5)  # each stuck in a write
    grown_kib = server.status("VmHWM") - before
    print(f"4 clients that never read a 24 MB file: peak memory grew {grown_kib} KiB")
    # Read whole, each would add 24 MB; streamed, a 64 KiB chunk and a thread's stack.
    assert grown_kib < (4 * (CHUNK + 2**20) + 8 * 2**20) / 1024, grown_kib
    assert server.wait_for_log("client stopped reading /ort/ort-wasm-simd-threaded.wasm", 4, 10) == 4
    assert "Traceback" not in server.log()
    assert get(server.address, "/")[0] == 200
    for client in clients:
        client.close()


def test_half_sent_requests_are_cut_off_at_the_timeout(serve):
    server = serve("--timeout", "1")
    clients = []
    for _ in range(20):
        client = socket.create_connection(server.address)
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        clients.append(client)
    closed = {}
    start = time.monotonic()
    while len(closed) < len(clients) and time.monotonic() - start < 5:
        for i, client in enumerate(clients):  # a header line every 0.2 s: never idle for 1 s
            if i not in closed:
                try:
                    client.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    closed[i] = time.monotonic() - start
        ready, _, _ = select.select([c for i, c in enumerate(clients) if i not in closed], [], [], 0.2)
        for client in ready:
            try:
                data = client.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed[clients.index(client)] = time.monotonic() - start
    assert len(closed) == 20, f"{20 - len(closed)} half-sent requests still held after 5 s"
    assert max(closed.values()) < 3, closed
    assert server.wait_for_log("Request timed out", 20, 5) == 20
    for client in clients:
        client.close()
    # a request head over 16 KiB: refused, the connection closed without an answer
    client = socket.create_connection(server.address)
    client.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert closed_within(client, 5) is not None
    client.close()
    assert server.wait_for_log("request refused: request head over 16384 bytes", 1, 5) == 1
    assert get(server.address, "/")[0] == 200


def test_no_more_handler_threads_than_the_cap_and_every_client_is_answered(serve):
    server = serve("--max-connections", "3", "--timeout", "0.5")
    threads_before = server.status("Threads")
    clients = [request_and_never_read(server.address, WASM) for _ in range(6)]
    waiting = {}

    def wait_in_line():
        waiting["answer"] = get(server.address, "/index.html", timeout=20)[0]

    behind = threading.Thread(target=wait_in_line)
    behind.start()
    most = 0
    deadline = time.monotonic() + 15
    while ("answer" not in waiting or server.wait_for_log("client stopped reading", 6, 0) < 6) \
            and time.monotonic() < deadline:
        most = max(most, server.status("Threads"))
        time.sleep(0.02)
    behind.join(timeout=1)
    assert most <= threads_before + 3, (threads_before, most)
    assert waiting.get("answer") == 200
    assert server.wait_for_log("client stopped reading", 6, 0) == 6  # each one, in turn
    for client in clients:
        client.close()

    # more simultaneous requests than the cap: all answered
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(get(server.address, "/page.mjs")))
               for _ in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert [status for status, _ in answers] == [200] * 60
    assert all(body == b"export {}; page.mjs" for _, body in answers)


def test_a_client_that_goes_away_mid_response_is_one_log_line(serve):
    server = serve()
    for _ in range(5):
        client = socket.create_connection(server.address)
        client.sendall(f"GET {WASM} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        client.recv(10000)
        client.close()  # unread data: the system resets the connection
    assert server.wait_for_log("client went away during /ort/ort-wasm-simd-threaded.wasm after", 5, 10) == 5
    log = server.log()
    assert "Traceback" not in log and "Exception" not in log, log
    assert get(server.address, "/")[0] == 200


def test_a_file_swapped_for_a_link_out_of_its_folder_after_start_up_is_refused(serve, site_dirs, tmp_path):
    version, page = site_dirs
    server = serve("--timeout", "2")
    assert get(server.address, "/model/onnx/step.onnx") == (200, b"onnx onnx/step.onnx")
    assert get(server.address, "/page.mjs") == (200, b"export {}; page.mjs")
    (version / "onnx" / "step.onnx").unlink()
    (version / "onnx" / "step.onnx").symlink_to(tmp_path / "secret.txt")
    (page / "page.mjs").unlink()
    (page / "page.mjs").symlink_to(tmp_path / "secret.txt")
    for path in ("/model/onnx/step.onnx", "/page.mjs"):
        status, body = get(server.address, path)
        assert status == 404 and b"secret" not in body, path
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "vocab.json").write_text("secret vocab")
    (version / "onnx").rename(tmp_path / "old-onnx")
    (version / "onnx").symlink_to(outside)
    status, body = get(server.address, "/model/onnx/vocab.json")
    assert status == 404 and b"secret" not in body
    (version / "onnx").unlink()
    (version / "onnx").mkdir()
    os.mkfifo(version / "onnx" / "limits.json")  # opened, it would wait for a writer
    start = time.monotonic()
    assert get(server.address, "/model/onnx/limits.json")[0] == 404
    assert time.monotonic() - start < 2


def test_a_link_swapped_in_between_the_check_and_the_open_is_not_followed(tmp_path, monkeypatch):
    (tmp_path / "secret.txt").write_text("secret")
    root = tmp_path / "root"
    (root / "onnx").mkdir(parents=True)
    (root / "onnx" / "step.onnx").write_text("onnx")
    check = web_files._inside

    def check_then_swap(folder, relative):
        checked = check(folder, relative)
        (root / "onnx" / "step.onnx").unlink()
        (root / "onnx" / "step.onnx").symlink_to(tmp_path / "secret.txt")
        return checked

    with web_files.open_inside(root, "onnx/step.onnx") as file:
        assert file.read() == b"onnx"
    monkeypatch.setattr(web_files, "_inside", check_then_swap)
    assert web_files.open_inside(root, "onnx/step.onnx") is None
    (root / "onnx" / "step.onnx").unlink()
    (root / "onnx" / "step.onnx").write_text("onnx")

    def check_then_swap_folder(folder, relative):
        checked = check(folder, relative)
        (root / "onnx").rename(tmp_path / "old")
        (root / "onnx").symlink_to(tmp_path / "old")
        return checked

    monkeypatch.setattr(web_files, "_inside", check_then_swap_folder)
    assert web_files.open_inside(root, "onnx/step.onnx") is None


def test_a_model_folder_serves_its_latest_version(serve, tmp_path):
    models = tmp_path / "models" / "tiny"
    for number in (2, 10):
        fake_version(models / str(number), version=number)
    (models / "notes").mkdir()
    assert web_files.version_to_serve(models) == (models / "10", True)  # 10 > 2, not "10" < "2"
    assert web_files.version_to_serve(models / "2") == (models / "2", False)
    assert web_files.version_to_serve(tmp_path / "nothing") == (tmp_path / "nothing", False)
    server = serve(version=models)
    assert f"tiny version 10 (char_rnn) at http://127.0.0.1:{server.address[1]}/ " \
           f"(the latest version in {models}; Ctrl-C to stop)" in server.first_line
    status, body = get(server.address, "/model/assets.extra/model_card.json")
    assert status == 200 and json.loads(body)["version"] == 10


def test_listening_on_every_interface_warns(serve):
    every_interface = script_module("export/serve_web.py").every_interface
    assert [every_interface(h) for h in ("0.0.0.0", "::", "[::]", "127.0.0.1", "::1", "localhost")] \
        == [True, True, True, False, False, False]
    server = serve("--host", "")
    assert server.first_line.startswith("serving tiny version 1 (char_rnn) at http://0.0.0.0:")
    assert server.wait_for_log("warning: --host '' listens on every interface", 1, 5) == 1
    assert get(server.address, "/")[0] == 200


@pytest.mark.parametrize("flags,expected", [
    (["--max-connections", "0"], "--max-connections must be between 1 and 10000, got 0"),
    (["--timeout", "0"], "--timeout must be more than 0 and at most 3600 seconds, got 0.0"),
    (["--timeout", "nan"], "--timeout must be more than 0 and at most 3600 seconds, got nan"),
])
def test_bad_limits_end_in_one_error_line(site_dirs, capsys, script, flags, expected):
    version, page = site_dirs
    assert script("export/serve_web.py")([str(version), "--port", "0", "--page-dir", str(page), *flags]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {expected}\n"
