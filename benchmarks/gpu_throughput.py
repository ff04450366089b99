"""Articles per second of ``Scorer.predict`` by batch size and precision (run by gpu.sh).

    benchmarks/gpu.sh                      # NVIDIA GPU: bf16 and fp32, batches 256/1024/4096
    benchmarks/gpu.sh --cpu-smoke          # anywhere: checks the script on a few posts

The posts are the fixed sample of ``finance_posts.py``, repeated to ``--n``. Per
cell: one untimed warm-up, then the best of ``--repeats`` timed calls of
``predict`` (everything a caller pays: cleaning, tokenising, padding, the
forward pass, probabilities) and of ``predict_logits`` (no Prediction objects).
``tokenize`` times the Scorer's CPU-side text preparation alone, the ceiling
for any batch size.

The Scorer runs CUDA in bf16 autocast and has no switch for it; fp32 here turns
autocast off for the measurement (and the table shows the dtype the linear
layers really computed in).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # models without an install
from finance_posts import finance_posts  # noqa: E402


@contextlib.contextmanager
def precision(name: str) -> Iterator[None]:
    """bf16: the Scorer as shipped (autocast on CUDA). fp32: autocast disabled."""
    import torch

    if name == "bf16":
        yield
        return
    original = torch.autocast

    def autocast_off(device_type: str, dtype=None, enabled: bool = True, **kwargs):  # noqa: ANN001, ANN202
        return original(device_type, dtype=dtype, enabled=False, **kwargs)

    torch.autocast = autocast_off  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.autocast = original  # type: ignore[misc]


def linear_dtype(scorer, text: str) -> str:  # noqa: ANN001
    """The dtype the first linear layer's output has (bf16 under autocast, else fp32)."""
    import torch

    seen: list[str] = []
    layer = next(m for m in scorer.model.modules() if isinstance(m, torch.nn.Linear))
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(str(out.dtype)))
    try:
        scorer.predict_logits([text])
    finally:
        handle.remove()
    return seen[0].replace("torch.", "") if seen else "?"


def best_seconds(call, repeats: int, sync) -> float:  # noqa: ANN001
    call()  # warm-up: kernels, cuDNN/cuBLAS heuristics, allocator
    sync()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        sync()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument(
        "--precisions", nargs="+", choices=["bf16", "fp32"], default=["bf16", "fp32"]
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    import torch

    from models import Scorer

    model_dir = args.model or Path(__file__).resolve().parent.parent / "models" / "finsent-minilm"
    scorer = Scorer.from_pretrained(model_dir, device=args.device, quantize="none")
    if args.device == "cuda":
        device_name = torch.cuda.get_device_name(0)
        sync = torch.cuda.synchronize
    else:
        device_name = f"CPU ({platform.machine()}, {os.cpu_count()} logical CPUs)"
        sync = lambda: None  # noqa: E731
    posts = finance_posts(args.n)
    tokens = [len(ids) for ids in scorer.tokenizer(posts[:4000])["input_ids"]]
    print(
        f"{device_name}; torch {torch.__version__}; model {scorer.version}; "
        f"{len(posts)} posts, mean {sum(tokens) / len(tokens):.1f} tokens",
        flush=True,
    )
    tokenize = getattr(scorer, "_tokenize", None)
    tokenize_rate = None
    if tokenize is not None:
        tokenize_rate = len(posts) / best_seconds(lambda: tokenize(posts), args.repeats, sync)
        print(f"tokenize only (CPU side, the ceiling): {tokenize_rate:,.0f} posts/s", flush=True)

    rows = []
    print("| precision | computes in | batch | predict posts/s | logits posts/s | peak GPU MiB |")
    print("|---|---|---:|---:|---:|---:|", flush=True)
    for name in args.precisions:
        with precision(name):
            dtype = linear_dtype(scorer, posts[0])
            for batch_size in args.batch_sizes:
                if args.device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                predict_s = best_seconds(
                    lambda bs=batch_size: scorer.predict(posts, batch_size=bs), args.repeats, sync
                )
                logits_s = best_seconds(
                    lambda bs=batch_size: scorer.predict_logits(posts, batch_size=bs),
                    args.repeats,
                    sync,
                )
                peak = torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else 0
                row = {
                    "precision": name,
                    "computes_in": dtype,
                    "batch_size": batch_size,
                    "predict_posts_per_s": round(len(posts) / predict_s),
                    "logits_posts_per_s": round(len(posts) / logits_s),
                    "peak_gpu_mib": round(peak),
                }
                rows.append(row)
                print(
                    f"| {name} | {dtype} | {batch_size} | {row['predict_posts_per_s']:,} | "
                    f"{row['logits_posts_per_s']:,} | {row['peak_gpu_mib']:,} |",
                    flush=True,
                )
    result = {
        "device": device_name,
        "torch": torch.__version__,
        "model_version": scorer.version,
        "n_posts": len(posts),
        "tokenize_posts_per_s": round(tokenize_rate) if tokenize_rate else None,
        "rows": rows,
    }
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
