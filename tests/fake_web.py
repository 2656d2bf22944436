"""A fake exported version and a fake page folder for the page server's tests (no TensorFlow,
no browser): each file's bytes name it, so a wrong file served is seen.

A helper module the tests import, not a test file: it asserts nothing itself."""

import json

from kerasrnn.export import web_files


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
