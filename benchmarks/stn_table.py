#!/usr/bin/env python
"""The README's distorted-MNIST results table: ST-CNN and CNN on every distortion, one budget.

Trains each (distortion, model) pair with `training/train_stn.py` into `OUT/<distortion>-<model>`
(a pair whose `metrics.json` exists is not trained again, so an interrupted table resumes), then
prints our test errors beside the paper's Table 1 as a markdown table.

Usage:
  python benchmarks/stn_table.py --mnist /path/to/mnist.npz --epochs 6 --out runs/stn-table
  python benchmarks/stn_table.py --out runs/stn-table --report-only      # print the table again
"""

import argparse
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DISTORTIONS = ("R", "RTS", "P", "E", "cluttered")
MODELS = ("cnn", "st-cnn")
# Jaderberg et al. 2015, Table 1 (left) and section 4.1 (cluttered), % test error.
PAPER = {
    ("R", "cnn"): 1.2, ("RTS", "cnn"): 0.8, ("P", "cnn"): 1.5, ("E", "cnn"): 1.4,
    ("R", "st-cnn"): 0.7, ("RTS", "st-cnn"): 0.5, ("P", "st-cnn"): 0.8, ("E", "st-cnn"): 1.2,
    ("cluttered", "cnn"): 3.5, ("cluttered", "st-cnn"): 1.7,
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder holding one run folder per pair")
    p.add_argument("--epochs", type=int, default=6, help="epochs per run (default 6)")
    p.add_argument("--mnist", help="mnist.npz or idx folder (default: $KERASRNN_MNIST, else download)")
    p.add_argument("--distortions", default=",".join(DISTORTIONS), help="comma-separated subset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report-only", action="store_true", help="print the table from existing runs")
    return p.parse_args(argv)


def train(run, distortion, model, args):
    command = [sys.executable, str(ROOT / "training" / "train_stn.py"), "--distortion", distortion,
               "--model", model, "--epochs", str(args.epochs), "--lr-decay", "cosine",
               "--seed", str(args.seed), "--out", str(run)]
    if args.mnist:
        command += ["--mnist", args.mnist]
    if (run / "config.json").exists():
        command.append("--resume")
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def report(out, distortions):
    print("| distortion | CNN (ours) | ST-CNN affine (ours) | CNN (paper) | ST-CNN affine (paper) | epochs | ST-CNN train images/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for d in distortions:
        cells, epochs, speed = [], "", ""
        for m in MODELS:
            path = out / f"{d}-{m}" / "metrics.json"
            metrics = json.loads(path.read_text()) if path.exists() else None
            cells.append(f"{metrics['test_error_pct']:.2f}" if metrics else "-")
            if metrics and m == "st-cnn":
                epochs, speed = metrics.get("epochs", ""), f"{metrics.get('images_per_second') or 0:,.0f}"
        print(f"| {d} | {cells[0]} | {cells[1]} | {PAPER[(d, 'cnn')]} | {PAPER[(d, 'st-cnn')]} | {epochs} | {speed} |")


def main(argv=None):
    args = parse_args(argv)
    out = pathlib.Path(args.out)
    distortions = [d for d in args.distortions.split(",") if d]
    unknown = sorted(set(distortions) - set(DISTORTIONS))
    if unknown:
        print(f"error: unknown distortion(s) {', '.join(unknown)}; use {', '.join(DISTORTIONS)}", file=sys.stderr)
        return 2
    if not args.report_only:
        for d in distortions:
            for m in MODELS:
                run = out / f"{d}-{m}"
                if not (run / "metrics.json").exists():
                    train(run, d, m, args)
    report(out, distortions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
