"""benchmarks/bench_distributed.py: the projection's formulas on hand-computed cases (fast), and
`--quick` on the ST-CNN, which runs every path: the counts, one process, two independent
processes, two workers under MultiWorkerMirroredStrategy and the gradient-accumulation probes
(slow: it starts worker processes)."""

import json

import pytest

from script_runs import script_module

bench = script_module("benchmarks/bench_distributed.py")

TEN_GBPS = 10e9  # 1.25e9 bytes/s
# 1 s of compute at 1e12 FLOP/s; 1.25e9 bytes = 1 s on 10 Gb/s
ONE_SECOND = bench.StepCost(flops=1e12, dense_bytes=1.25e9)


def test_one_worker_exchanges_nothing():
    assert bench.allreduce_seconds(ONE_SECOND, 1, TEN_GBPS, latency_s=1.0) == 0.0
    assert bench.efficiency(ONE_SECOND, 1, TEN_GBPS, 1e12) == 1.0


@pytest.mark.parametrize("workers, seconds, efficiency", [
    (2, 1.0, 0.5),      # 2 (N-1)/N = 1: the bytes once
    (4, 1.5, 0.4),      # 2 x 3/4
    (64, 2 * 63 / 64, 1 / (1 + 2 * 63 / 64)),
])
def test_ring_allreduce(workers, seconds, efficiency):
    assert bench.allreduce_seconds(ONE_SECOND, workers, TEN_GBPS) == pytest.approx(seconds)
    assert bench.efficiency(ONE_SECOND, workers, TEN_GBPS, 1e12) == pytest.approx(efficiency)


def test_sparse_gradients_are_all_gathered_and_latency_adds_per_ring_step():
    sparse = bench.StepCost(flops=1e12, dense_bytes=0, sparse_bytes=1.25e9)
    assert bench.allreduce_seconds(sparse, 3, TEN_GBPS) == pytest.approx(2.0)  # (N-1) x 1 s
    assert bench.efficiency(sparse, 3, TEN_GBPS, 1e12) == pytest.approx(1 / 3)
    assert bench.allreduce_seconds(ONE_SECOND, 2, TEN_GBPS, latency_s=1e-3) == pytest.approx(1.002)
    assert bench.allreduce_seconds(ONE_SECOND, 2, 100e9) == pytest.approx(0.1)


def test_larger_batches_and_accumulation():
    cost = bench.StepCost(flops=1e12, dense_bytes=1.25e9, sparse_bytes=1e6, sparse_dense_bytes=4e3)
    bigger = cost.with_batch_multiple(3)
    assert (bigger.flops, bigger.dense_bytes, bigger.sparse_bytes) == (3e12, 1.25e9, 3e6)
    accumulated = cost.with_accumulation(3)  # one dense exchange per 3 micro-steps
    assert (accumulated.flops, accumulated.dense_bytes, accumulated.sparse_bytes) == (3e12, 1.25e9 + 4e3, 0)
    assert cost.with_accumulation(1) == cost


def test_smallest_setting_that_reaches_the_target():
    # 1 s compute, 1 s all-reduce at 2 workers: k / (k + 1) >= 0.9 first at k = 9
    assert bench.settings_to_reach(ONE_SECOND, 0.9, 2, TEN_GBPS, 1e12) == (9, 9)
    assert bench.settings_to_reach(ONE_SECOND, 0.5, 2, TEN_GBPS, 1e12) == (1, 1)
    # a sparse gradient as costly as the compute caps a larger batch at 50%; accumulating
    # (dense, here 0 bytes) reaches any target from k = 2
    sparse = bench.StepCost(flops=1e12, dense_bytes=0, sparse_bytes=1.25e9)
    assert bench.settings_to_reach(sparse, 0.9, 2, TEN_GBPS, 1e12) == (None, 2)
    assert bench.smallest_factor(lambda f: f / 10, 0.55) == 6


@pytest.mark.slow
def test_quick_runs_every_path(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--kinds", "stn", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "$ python benchmarks/bench_distributed.py --quick --kinds stn" in text
    for heading in ("| model | batch per worker |", "| model | (a) 1 process |", "| model | Gb/s | 2 | 4 | 8 |",
                    "| model | today |", "| model, setting | Gb/s |"):
        assert heading in text
    assert text.count("gradient_accumulation_steps 2 under ") == 2
    figures = json.loads(out.read_text())
    (row,) = figures["counts"]
    assert row["kind"] == "stn" and row["batch"] == 128
    assert row["gradient_bytes"] == 4 * row["weights"] == row["dense_bytes"]  # all dense
    assert 10e9 < row["flops"] < 14e9  # ~93 MFLOP per 42x42 image, forward + backward
    measured = figures["measured"]["stn"]
    assert measured["one"]["workers"] == 1 and measured["two"]["workers"] == 2
    assert measured["one_busy"]["workers"] == 1 and measured["two"]["allreduce_seconds"] > 0
    assert len(measured["cycles"]) == 1
    assert [p["distribute"] for p in figures["accumulation_probes"]] == ["mirrored", "multi-worker"]
    for probe in figures["accumulation_probes"]:
        assert probe["distributed_plain"] <= bench.PROBE_TOLERANCE  # the strategy alone: same weights
        assert probe["one_process_accumulated"] <= bench.PROBE_TOLERANCE
    target = figures["targets"]["stn"]
    assert target["efficiency"] < 0.9 and target["batch_multiple"] == target["accumulation_steps"]
    eight = figures["projection_with_setting"][0]["efficiency"][bench.WORKERS.index(8)]
    assert eight >= 0.9
