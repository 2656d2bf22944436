"""Smoke test of benchmarks/bench_captioner.py: `--quick` prints every row, default and `--model`."""

from script_runs import ROOT, run_script, script_module

bench_captioner = script_module("benchmarks/bench_captioner.py")


def _table_rows(out):
    rows = {}
    for method in bench_captioner.METHODS:
        for batch in bench_captioner.BATCHES:
            lines = [line for line in out.splitlines() if line.startswith(f"| {method} | {batch} |")]
            assert len(lines) == 1, (method, batch, out)
            rows[(method, batch)] = [c.strip() for c in lines[0].strip("|").split("|")]
    return rows


def test_quick_run_prints_every_row():
    result = run_script("benchmarks/bench_captioner.py", "--quick", timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "$ python benchmarks/bench_captioner.py --quick" in out
    assert "os.cpu_count()" in out and "worst case" in out
    rows = _table_rows(out)
    assert rows[("greedy", 1)][3] == "1.00x"
    for cells in rows.values():
        assert len(cells) == 5 and cells[3].endswith("x")
        assert float(cells[2].replace(",", "")) > 0
        assert cells[4] == "3.0"  # the untrained model cannot stop early: max-length captions


def test_quick_run_on_a_saved_run_directory(tmp_path, capsys):
    from kerasrnn.kinds.captioner.vocab import CaptionVocabulary
    from kerasrnn.kinds.captioner.model import build_captioner

    vocab = CaptionVocabulary(["a", "red", "circle"])
    vocab.save(tmp_path)
    build_captioner(len(vocab), 32, 4, embedding_dim=8, units=8, attention_units=8).save(
        tmp_path / "model.keras")
    (tmp_path / "config.json").write_text('{"model": {"max_length": 1}}')  # 1 word, then <end>
    assert bench_captioner.main(["--quick", "--model", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "model.keras (7 ids); captions stop at <end>" in out and "worst case" not in out
    assert "32x32 scene images, at most 2 tokens" in out
    for cells in _table_rows(out).values():
        assert 1.0 <= float(cells[4]) <= 2.0
