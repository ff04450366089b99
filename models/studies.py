"""Equal-budget studies behind the shipped configuration (results in models/README.md).

Every arm trains on the same stratified subset of each training file (``--limit`` examples
per task), for the same epochs, on the shared development split, and is scored on that
split (tweets only) and on the hand-written news sentences (never trained on).

    nice -n 10 python -m models.studies all --out runs/studies.jsonl
    nice -n 10 python -m models.studies joint --seeds 14 --out runs/studies.jsonl
    python -m models.studies table runs/studies.jsonl
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from models.config import ModelConfig, TrainConfig
from models.tasks import SENTIMENT, TOPIC

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
TOPIC_CSV = DATA / "twitter-financial-news-topic" / "train.csv"
SENTIMENT_CSV = DATA / "twitter-financial-news-sentiment" / "train.csv"
NEWS_EVAL = Path(__file__).resolve().parent / "data" / "news_headlines_eval.csv"


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_arm(
    name: str, *, tasks: tuple[str, ...], mc: ModelConfig, tc: TrainConfig
) -> dict[str, Any]:
    """Train one arm into a temporary directory; return its figures."""
    from models.evaluate import evaluate_csv
    from models.scorer import Scorer

    files = {TOPIC: TOPIC_CSV, SENTIMENT: SENTIMENT_CSV}
    data_files = {spec: path for spec, path in files.items() if spec.name in tasks}
    tmp = Path(tempfile.mkdtemp(prefix="finsent-study-"))
    try:
        from models.train import train_model

        started = time.time()
        card = train_model(
            data_files=data_files, out_dir=tmp / "model", model_config=mc, train_config=tc
        )
        seconds = time.time() - started
        scorer = Scorer.from_pretrained(tmp / "model", device="cpu", quantize="none")
        news = evaluate_csv(scorer, NEWS_EVAL, tasks=tasks) if NEWS_EVAL.is_file() else {}
        size = dir_size(tmp / "model") - dir_size(tmp / "model" / "tokenizer")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "arm": name,
        "seed": tc.seed,
        "method": mc.method,
        "tasks": list(tasks),
        "limit_per_task": tc.limit_per_task,
        "epochs": tc.epochs,
        "mixing": tc.mixing,
        "task_weights": tc.task_weights,
        "augment": tc.augment,
        "dev": card["dev_metrics"],
        "news": {t: {k: round(r[k], 4) for k in ("accuracy", "macro_f1")} for t, r in news.items()},
        "trainable_params": card["parameters"]["trainable"],
        "checkpoint_bytes_without_tokenizer": size,
        "train_seconds": round(seconds, 1),
    }


BOTH = ("topic", "sentiment")
FULL = ModelConfig(method="full", freeze_embeddings=True)  # the shipped method


def arm_table(base: TrainConfig) -> dict[str, tuple[tuple[str, ...], ModelConfig, TrainConfig]]:
    """Every arm by name: (tasks, model config, train config). ``base`` is the shipped
    training configuration cut down to the study budget."""
    return {
        "joint (shipped config)": (BOTH, FULL, base),
        "topic only": (("topic",), FULL, base),
        "sentiment only": (("sentiment",), FULL, base),
        "lora r16 (lr 1e-3)": (BOTH, ModelConfig(method="lora"), replace(base, lr=1e-3)),
        "full, embeddings trained": (BOTH, ModelConfig(method="full"), base),
        "mixing proportional": (BOTH, FULL, replace(base, mixing="proportional")),
        "mixing uniform": (BOTH, FULL, replace(base, mixing="uniform")),
        "lambda sentiment=2": (BOTH, FULL, replace(base, task_weights={"sentiment": 2.0})),
        "no augmentation": (BOTH, FULL, replace(base, augment=False)),
    }


STUDIES = {
    "joint": ["joint (shipped config)", "topic only", "sentiment only"],
    "method": ["joint (shipped config)", "lora r16 (lr 1e-3)", "full, embeddings trained"],
    "augment": ["joint (shipped config)", "no augmentation"],
    "mixing": [
        "joint (shipped config)",
        "mixing proportional",
        "mixing uniform",
        "lambda sentiment=2",
    ],
}


def print_table(path: Path) -> None:
    """Markdown table of a results file."""
    print(
        "| arm | seed | topic acc | topic F1 | sent acc | sent F1 | news acc | news F1 |"
        " trainable | ckpt MB | train s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for line in path.read_text().splitlines():
        r = json.loads(line)
        dev, news = r["dev"], r["news"]

        def cell(d: dict, task: str, key: str) -> str:
            return f"{d[task][key]:.3f}" if task in d else "–"

        print(
            f"| {r['arm']} | {r['seed']} | {cell(dev, 'topic', 'accuracy')} | "
            f"{cell(dev, 'topic', 'macro_f1')} | {cell(dev, 'sentiment', 'accuracy')} | "
            f"{cell(dev, 'sentiment', 'macro_f1')} | {cell(news, 'sentiment', 'accuracy')} | "
            f"{cell(news, 'sentiment', 'macro_f1')} | {r['trainable_params']:,} | "
            f"{r['checkpoint_bytes_without_tokenizer'] / 1e6:.1f} | {r['train_seconds']:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=[*STUDIES, "all", "table"])
    parser.add_argument("results", nargs="?", type=Path, help="results file (for 'table')")
    parser.add_argument("--seeds", type=int, nargs="+", default=[13])
    parser.add_argument("--limit", type=int, default=1000, help="training examples per task")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--arms", nargs="*", help="run only these arms")
    parser.add_argument("--out", type=Path, default=Path("runs/studies.jsonl"))
    args = parser.parse_args()
    if args.study == "table":
        print_table(args.results or args.out)
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    names = list(
        dict.fromkeys(n for k, v in STUDIES.items() if args.study in (k, "all") for n in v)
    )
    done = set()
    if args.out.is_file():  # resume: arms already in the results file are not rerun
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            done.add((row["arm"], row["seed"]))
    for seed in args.seeds:
        # Augmentation scaled to the subset so sentiment keeps the shipped tweet:news ratio.
        base = TrainConfig(
            epochs=args.epochs,
            limit_per_task=args.limit,
            max_length=args.max_length,
            seed=seed,
            lr=1e-4,
            num_threads=args.threads,
            progress=False,
            augment_n=round(TrainConfig().augment_n * min(1.0, args.limit / 8500)),
        )
        table = arm_table(base)
        for name in names:
            if (args.arms and name not in args.arms) or (name, seed) in done:
                continue
            tasks, mc, tc = table[name]
            row = run_arm(name, tasks=tasks, mc=mc, tc=tc)
            print(json.dumps(row), flush=True)
            with args.out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
