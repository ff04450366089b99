"""``finsent predict`` vs the two-pipeline baseline, as whole processes, in one run.

Reproduce the figures in BENCHMARKS.md (## Scoring)::

    nice .venv/bin/python benchmarks/predict_vs_pipelines.py   # 4,000 posts, 3 runs each
    nice .venv/bin/python benchmarks/predict_vs_pipelines.py --model /tmp/tiny --n 200 --runs 1
    # the CPU-default decision: int8 and fp32 against the same baseline runs
    nice -n 10 .venv/bin/python benchmarks/predict_vs_pipelines.py --n 500 --runs 3 \\
        --quantize int8 none

Both sides read the same file of short finance posts (a fixed sample, see
``finance_posts.py``) and write one JSON line per post to /dev/null; each is timed
from process start to exit, so imports and model loading count, as they do for a
user. The runs alternate (baseline, then each ``--quantize`` mode in turn, with
``FINSENT_QUANTIZE`` set per run) so background load on a shared machine hits every
side alike; the ratio of medians is the headline figure.

Besides wall-clock time, each run's CPU time (user + system, from the kernel's
accounting of the finished child) is recorded: on a machine shared with other jobs,
wall time measures the neighbours as much as the program, while CPU time counts only
the work the program did. Both sides use the same two torch threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from finance_posts import finance_posts, write_lines

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(
    command: list[str], *, expect_lines: int | None, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """(wall seconds, CPU seconds) from start to exit; stdout goes to /dev/null (or, with
    ``expect_lines``, is counted once to check the run wrote one line per text)."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    if expect_lines is None:
        subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env
        )
        return time.perf_counter() - started, _children_cpu() - cpu_before
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if result.returncode != 0:
        raise SystemExit(f"{command[:3]} failed:\n{result.stderr[-2000:]}")
    lines = result.stdout.count("\n")
    if lines != expect_lines:
        raise SystemExit(f"{command[:3]} wrote {lines} lines for {expect_lines} texts")
    return seconds, cpu


def _stats(values: list[float], n: int) -> dict[str, object]:
    return {
        "min_s": round(min(values), 2),
        "median_s": round(statistics.median(values), 2),
        "posts_per_s_median": round(n / statistics.median(values), 1),
        "runs_s": [round(v, 2) for v in values],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="posts to score")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each side")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--batch-size", type=int, default=64, help="finsent predict batch size")
    parser.add_argument(
        "--quantize",
        nargs="+",
        default=["default"],
        choices=["default", "int8", "none"],
        help="finsent modes to time (FINSENT_QUANTIZE); default: the CPU default",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    finsent = str(Path(sys.executable).with_name("finsent"))
    # The same two threads for every side (the baseline would otherwise take all cores).
    base_env = {k: v for k, v in os.environ.items() if k != "FINSENT_QUANTIZE"}
    base_env.setdefault("OMP_NUM_THREADS", "2")
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
        sides: dict[str, tuple[list[str], dict[str, str]]] = {"baseline": (baseline_cmd, base_env)}
        for mode in args.quantize:
            env = dict(base_env)
            if mode != "default":
                env["FINSENT_QUANTIZE"] = mode
            sides[f"finsent_{mode}"] = (finsent_cmd, env)
        wall: dict[str, list[float]] = {side: [] for side in sides}
        cpu: dict[str, list[float]] = {side: [] for side in sides}
        for run in range(args.runs):
            # The first run of each side also checks it wrote one line per post.
            check = args.n if run == 0 else None
            for side, (command, env) in sides.items():
                seconds, cpu_seconds = timed(command, expect_lines=check, env=env)
                wall[side].append(seconds)
                cpu[side].append(cpu_seconds)
            print(
                f"run {run + 1}: "
                + ", ".join(
                    f"{side} {wall[side][-1]:.1f}s ({cpu[side][-1]:.1f} CPU s)" for side in sides
                ),
                file=sys.stderr,
            )

    def ratios(times: dict[str, list[float]], pick: str) -> dict[str, float]:
        reduce = statistics.median if pick == "median" else min
        base = reduce(times["baseline"])
        return {side: round(base / reduce(v), 2) for side, v in times.items() if side != "baseline"}

    result = {
        "n_posts": args.n,
        "runs": args.runs,
        "model": str(args.model or "shipped (models/finsent-minilm)"),
        "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs, {platform.system()}",
        "load_average_after": round(os.getloadavg()[0], 2),
        "wall": {side: _stats(values, args.n) for side, values in wall.items()},
        "cpu": {side: _stats(values, args.n) for side, values in cpu.items()},
        "speedup_median": ratios(wall, "median"),
        "speedup_min": ratios(wall, "min"),
        "cpu_speedup_median": ratios(cpu, "median"),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{args.n} posts, {args.runs} alternating runs each, whole processes, "
        f"{result['machine']}, load average {result['load_average_after']} at the end"
    )
    print("| | wall min s | wall median s | posts/s (median) | CPU s (median) | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for side in sides:
        w, c = result["wall"][side], result["cpu"][side]
        label = "2 × HF pipeline, batch 32" if side == "baseline" else f"finsent predict ({side})"
        ratio = (
            ""
            if side == "baseline"
            else f"{result['speedup_median'][side]}× wall, "
            f"{result['cpu_speedup_median'][side]}× CPU"
        )
        print(
            f"| {label} | {w['min_s']} | {w['median_s']} | {w['posts_per_s_median']} "
            f"| {c['median_s']} | {ratio} |"
        )


if __name__ == "__main__":
    os.chdir(REPO)
    main()
