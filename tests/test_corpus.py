"""The embedded default corpus: the standard library's sources, deterministic, ASCII."""

import pytest

from kerasrnn.kinds.char_rnn.corpus import python_stdlib_corpus, stdlib_source_files


@pytest.mark.slow
def test_corpus_is_deterministic_ascii_python_of_the_requested_size():
    a = python_stdlib_corpus(max_bytes=200_000)
    b = python_stdlib_corpus(max_bytes=200_000)
    assert a == b
    assert 200_000 <= len(a) < 1_000_000
    assert a.isascii() and "\t" not in a
    assert "def " in a and "import " in a


def test_files_are_sorted_and_skip_tests(tmp_path):
    for rel in ["b.py", "a.py", "test/t.py", "pkg/c.py"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(f"# {rel}\n")
    (tmp_path / "pkg" / "u.py").write_bytes("x = '\u00e9'\n".encode())
    names = [p.relative_to(tmp_path).as_posix() for p in stdlib_source_files(tmp_path)]
    assert names == ["a.py", "b.py", "pkg/c.py", "pkg/u.py"]
    text = python_stdlib_corpus(stdlib_dir=tmp_path)
    assert text == "# a.py\n\n# b.py\n\n# pkg/c.py\n\n"  # the non-ASCII file is skipped
