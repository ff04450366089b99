"""How the cost of ``Scorer.predict`` grows with batch size and with text length.

Reproduce the table in BENCHMARKS.md (## Scoring)::

    nice .venv/bin/python benchmarks/scoring_cost.py                 # shipped model, CPU defaults
    nice .venv/bin/python benchmarks/scoring_cost.py --model /tmp/tiny --n 64
    # fp32 vs int8 per text, in CPU time (BENCHMARKS.md, "The CPU default")
    nice -n 10 .venv/bin/python benchmarks/scoring_cost.py --compare-quantize --n 1000

Batch sizes: short finance posts (the fixed sample of ``finance_posts.py``). Text
lengths: texts of exactly L tokens (windows of the posts' token stream, decoded),
at batch 64. Each cell is timed twice and the faster run kept (the machine is shared).
``--compare-quantize``: fp32 and int8 Scorers on the same posts, three alternating rounds,
each timed in CPU seconds of this process as well as wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from finance_posts import finance_posts


def best_rate(scorer, texts: list[str], batch_size: int, repeats: int = 2) -> float:  # noqa: ANN001
    """Texts per second, best of ``repeats``."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        scorer.predict(texts, batch_size=batch_size)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def texts_of_length(tokenizer, posts: list[str], length: int, n: int) -> list[str]:  # noqa: ANN001
    """``n`` texts of ``length`` tokens with special tokens (windows of the posts)."""
    stream: list[int] = []
    for post in posts:
        stream.extend(tokenizer(post, add_special_tokens=False)["input_ids"])
    body = length - tokenizer.num_special_tokens_to_add(pair=False)
    stream = (stream * (n * body // max(len(stream), 1) + 1))[: n * body]
    return [tokenizer.decode(stream[i * body : (i + 1) * body]) for i in range(n)]


def compare_quantize(model_dir: Path, n: int, batch_size: int = 64, rounds: int = 3) -> dict:
    """Median CPU and wall seconds of ``predict`` on ``n`` posts, fp32 vs int8, alternating."""
    from models import Scorer

    posts = finance_posts(n)
    scorers = {
        q: Scorer.from_pretrained(model_dir, device="cpu", quantize=q) for q in ("none", "int8")
    }
    for scorer in scorers.values():
        scorer.predict(posts[:64])  # warm-up
    cpu: dict[str, list[float]] = {q: [] for q in scorers}
    wall: dict[str, list[float]] = {q: [] for q in scorers}
    for _ in range(rounds):
        for q, scorer in scorers.items():
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            scorer.predict(posts, batch_size=batch_size)
            cpu[q].append(time.process_time() - cpu_start)
            wall[q].append(time.perf_counter() - wall_start)
    return {
        q: {
            "cpu_s_median": round(statistics.median(cpu[q]), 2),
            "wall_s_median": round(statistics.median(wall[q]), 2),
            "posts_per_cpu_s": round(n / statistics.median(cpu[q]), 1),
        }
        for q in scorers
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--n", type=int, default=512, help="texts per cell")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64, 128, 256])
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--quantize", choices=["none", "int8"], default=None)
    parser.add_argument("--compare-quantize", action="store_true", help="fp32 vs int8 only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from models import SHIPPED_MODEL_DIR, Scorer

    model_dir = args.model or SHIPPED_MODEL_DIR
    if args.compare_quantize:
        print(json.dumps(compare_quantize(model_dir, args.n)))
        return
    scorer = Scorer.from_pretrained(model_dir, device="cpu", quantize=args.quantize)
    posts = finance_posts(args.n)
    scorer.predict(posts[:32])  # warm-up
    tokens = [len(ids) for ids in scorer.tokenizer(posts)["input_ids"]]
    by_batch = {bs: best_rate(scorer, posts, bs) for bs in args.batch_sizes}
    by_length = {}
    for length in args.lengths:
        if length > scorer.max_length:
            continue
        texts = texts_of_length(scorer.tokenizer, posts, length, max(args.n // 2, 16))
        by_length[length] = best_rate(scorer, texts, 64)

    result = {
        "model_version": scorer.version,
        "quantize": scorer.quantize,
        "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs",
        "posts_mean_tokens": round(sum(tokens) / len(tokens), 1),
        "posts_per_s_by_batch_size": {k: round(v, 1) for k, v in by_batch.items()},
        "texts_per_s_by_tokens_at_batch_64": {k: round(v, 1) for k, v in by_length.items()},
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"model {scorer.version} ({scorer.quantize}), {result['machine']}, "
        f"posts average {result['posts_mean_tokens']} tokens"
    )
    print("| batch size | posts/s | ms per post |")
    print("|---:|---:|---:|")
    for bs, rate in by_batch.items():
        print(f"| {bs} | {rate:.0f} | {1000 / rate:.2f} |")
    print()
    print("| tokens per text (batch 64) | texts/s | ms per text | tokens/s |")
    print("|---:|---:|---:|---:|")
    for length, rate in by_length.items():
        print(f"| {length} | {rate:.0f} | {1000 / rate:.2f} | {rate * length:.0f} |")


if __name__ == "__main__":
    main()
