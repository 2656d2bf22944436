"""Smoke test of benchmarks/bench_serving.py: `--quick` builds, exports and times all three kinds."""

import re

from script_runs import run_script


def test_quick_prints_every_row():
    ran = run_script("benchmarks/bench_serving.py", "--quick", timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    out = ran.stdout
    assert "$ python benchmarks/bench_serving.py --quick" in out and "os.cpu_count()" in out
    assert "char, stn, captioner UNTRAINED, built and exported in a temporary directory" in out
    for row in ("(a) SavedModel generate (in-graph loop)", "(b) client loop over SavedModel step",
                "(c) ONNX Runtime driver"):
        assert re.search(rf"^\| {re.escape(row)} \| [\d,]+ \| [\d.]+x \|$", out, re.M), row
    assert re.search(r"^in-graph generate / client loop over step = [\d.]+x \(target >= 3x: (met|NOT met)\); "
                     r"same text from all three: yes$", out, re.M)
    for model in ("STN classifier", "captioner greedy", "captioner beam 3"):
        for batch in (1, 32):
            assert re.search(rf"^\| {model} \| {batch} \| [\d,.]+ \| [\d,.]+ \| [\d.]+x \| ", out, re.M), (model, batch)
