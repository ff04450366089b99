"""``finsent predict`` vs the two-pipeline baseline, as whole processes, in one run.

Reproduce the figures in BENCHMARKS.md (## Scoring)::

    nice .venv/bin/python benchmarks/predict_vs_pipelines.py   # 4,000 posts, 3 runs each
    nice .venv/bin/python benchmarks/predict_vs_pipelines.py --model /tmp/tiny --n 200 --runs 1

Both sides read the same file of short finance posts (a fixed sample, see
``finance_posts.py``) and write one JSON line per post to /dev/null; each is timed
from process start to exit, so imports and model loading count, as they do for a
user. The runs alternate (baseline, finsent, baseline, ...) so background load on a
shared machine hits both alike; the ratio of medians is the headline figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from finance_posts import finance_posts, write_lines

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def timed(command: list[str], *, expect_lines: int | None) -> float:
    """Seconds from start to exit; stdout goes to /dev/null (or is counted once)."""
    started = time.perf_counter()
    if expect_lines is None:
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return time.perf_counter() - started
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{command[:3]} failed:\n{result.stderr[-2000:]}")
    lines = result.stdout.count("\n")
    if lines != expect_lines:
        raise SystemExit(f"{command[:3]} wrote {lines} lines for {expect_lines} texts")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="posts to score")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each side")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--batch-size", type=int, default=64, help="finsent predict batch size")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    finsent = str(Path(sys.executable).with_name("finsent"))
    with tempfile.TemporaryDirectory() as tmp:
        posts = write_lines(finance_posts(args.n), Path(tmp) / "posts.txt")
        baseline_cmd = [
            sys.executable,
            str(HERE / "hf_pipelines_baseline.py"),
            "--input",
            str(posts),
        ]
        finsent_cmd = [finsent, "predict", "--input", str(posts), "--json", "--device", "cpu"]
        finsent_cmd += ["--batch-size", str(args.batch_size)]
        if args.model is not None:
            finsent_cmd += ["--model", str(args.model)]
        times: dict[str, list[float]] = {"baseline": [], "finsent": []}
        for run in range(args.runs):
            # The first run of each side also checks it wrote one line per post.
            check = args.n if run == 0 else None
            times["baseline"].append(timed(baseline_cmd, expect_lines=check))
            times["finsent"].append(timed(finsent_cmd, expect_lines=check))
            print(
                f"run {run + 1}: baseline {times['baseline'][-1]:.1f}s, "
                f"finsent {times['finsent'][-1]:.1f}s",
                file=sys.stderr,
            )

    summary = {
        side: {
            "min_s": round(min(values), 2),
            "median_s": round(statistics.median(values), 2),
            "posts_per_s_median": round(args.n / statistics.median(values), 1),
            "runs_s": [round(v, 2) for v in values],
        }
        for side, values in times.items()
    }
    result = {
        "n_posts": args.n,
        "runs": args.runs,
        "model": str(args.model or "shipped (models/finsent-minilm)"),
        "quantize": os.environ.get("FINSENT_QUANTIZE", "default"),
        "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs, {platform.system()}",
        **summary,
        "speedup_median": round(
            summary["baseline"]["median_s"] / summary["finsent"]["median_s"], 2
        ),
        "speedup_min": round(summary["baseline"]["min_s"] / summary["finsent"]["min_s"], 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{args.n} posts, {args.runs} alternating runs each, whole processes, {result['machine']}"
    )
    print("| | min s | median s | posts/s (median) |")
    print("|---|---:|---:|---:|")
    for side, label in (("baseline", "2 × HF pipeline, batch 32"), ("finsent", "finsent predict")):
        s = summary[side]
        print(f"| {label} | {s['min_s']} | {s['median_s']} | {s['posts_per_s_median']} |")
    print(f"speed-up (median / min): {result['speedup_median']}× / {result['speedup_min']}×")


if __name__ == "__main__":
    os.chdir(REPO)
    main()
