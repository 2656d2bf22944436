"""Smoke test of benchmarks/bench_stn.py: `--quick` runs every row and prints both tables."""

from script_runs import script_module

bench_stn = script_module("benchmarks/bench_stn.py")


def test_quick_prints_every_row(capsys):
    assert bench_stn.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "$ python benchmarks/bench_stn.py --quick" in out
    assert "os.cpu_count()" in out
    for size in bench_stn.SIZES:
        for name in bench_stn.SAMPLERS:
            rows = [line for line in out.splitlines() if line.startswith(f"| {name} | {size}x{size} |")]
            assert len(rows) == 1, (name, size)
            cells = [c.strip() for c in rows[0].strip("|").split("|")]
            assert len(cells) == 7
            if name.startswith("(b)"):
                assert cells[4:6] == ["n/a", "n/a"]  # no gradient with respect to the transform
            else:
                assert cells[5].endswith("x")
        reference = next(line for line in out.splitlines()
                         if line.startswith(f"| {bench_stn.REFERENCE} | {size}x{size} |"))
        assert reference.count("| 1.00x |") == 2
        # the tf.image reference, converted to our convention, computes what ours computes
        tf_image = next(line for line in out.splitlines()
                        if line.startswith(f"| {bench_stn.SAMPLERS[2]} | {size}x{size} |"))
        assert float(tf_image.strip("|").split("|")[-1]) < 1e-4
    assert "| CNN |" in out and "| ST-CNN (affine) |" in out
    assert "ST-CNN / CNN = " in out
