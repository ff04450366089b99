"""Test helpers for other parts: a complete, tiny, randomly initialised model directory, and
tiny labelled CSVs to train one on."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def make_tiny_model_dir(path: Path, *, seed: int = 0, tasks: Sequence[Any] | None = None) -> Path:
    """Write a model directory with a 2-layer, hidden-32 random BERT and the real MiniLM
    tokenizer; ``Scorer.from_pretrained(path)`` loads it in well under a second.

    The labels are those of the shipped model (20 topics, 3 sentiments), or the heads of
    ``tasks`` (task specs) when given; predictions are random but deterministic for a given
    ``seed``.
    """
    import torch
    from transformers import AutoTokenizer, BertModel

    from models.checkpoint import save_model_dir
    from models.config import MINILM_PACKAGE, ModelConfig
    from models.network import MultiTaskModel, resolve_encoder_path
    from models.tasks import DEFAULT_TASKS

    path = Path(path)
    tokenizer = AutoTokenizer.from_pretrained(str(resolve_encoder_path(MINILM_PACKAGE)))
    config = tiny_bert_config(tokenizer.vocab_size)
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        encoder = BertModel(config, add_pooling_layer=False)
        model = MultiTaskModel(encoder, tuple(tasks) if tasks is not None else DEFAULT_TASKS)
    finally:
        # Leave the caller's random stream as it was.
        torch.random.set_rng_state(generator_state)
    model.eval()
    model_config = ModelConfig(base_encoder="tiny-random-bert", method="full", max_length=128)
    save_model_dir(
        model,
        tokenizer,
        path,
        model_config=model_config,
        card={"description": "tiny random model for tests", "seed": seed},
    )
    return path


def tiny_bert_config(vocab_size: int, *, layers: int = 2) -> Any:
    """A hidden-32 BERT configuration (2 layers by default) over a real vocabulary."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )


def make_tiny_encoder_dir(path: Path, *, seed: int = 0, layers: int = 2) -> Path:
    """Write a plain Hugging Face encoder directory (tiny random BERT + the MiniLM
    tokenizer) that training can use as its base encoder."""
    import torch
    from transformers import AutoTokenizer, BertModel

    from models.config import MINILM_PACKAGE
    from models.network import resolve_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_encoder_path(MINILM_PACKAGE)))
    torch.manual_seed(seed)
    config = tiny_bert_config(tokenizer.vocab_size, layers=layers)
    BertModel(config, add_pooling_layer=False).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    """A UTF-8 CSV with ``header`` and ``rows``."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_tiny_training_csvs(
    root: Path, *, news_per_label: int = 15, extra_news: Sequence[Sequence[str]] = ()
) -> dict[str, Path]:
    """Tiny training files under ``root``: ``topic`` (120 rows, every topic), ``sentiment``
    (90 rows) and ``news`` (``news_per_label`` rows per label and source, reuters and wsj,
    then ``extra_news``), in the shared data's formats."""
    from models.tasks import SENTIMENT_LABELS, TOPIC

    topics = TOPIC.labels
    news = [
        [f"{source} news sentence {i} {label}", label, source]
        for source in ("reuters", "wsj")
        for label in SENTIMENT_LABELS
        for i in range(news_per_label)
    ]
    return {
        "topic": write_csv(
            root / "topic.csv",
            ["text", "topic"],
            [[f"topic post {i} on {topics[i % 20]}", topics[i % 20]] for i in range(120)],
        ),
        "sentiment": write_csv(
            root / "sentiment.csv",
            ["text", "sentiment"],
            [[f"tweet {i} {SENTIMENT_LABELS[i % 3]}", SENTIMENT_LABELS[i % 3]] for i in range(90)],
        ),
        "news": write_csv(
            root / "news.csv", ["text", "sentiment", "source"], [*news, *map(list, extra_news)]
        ),
    }


def tiny_train_cli_args(base_encoder: Path, root: Path) -> list[str]:
    """``finsent train`` arguments for a one-epoch full fine-tuning of ``base_encoder`` (a tiny
    encoder directory) on 200 topic and 90 sentiment rows written under ``root``, with
    ``--json``; the caller adds ``--out`` and what it tests."""
    from models.tasks import SENTIMENT, TOPIC

    topics = [(f"{label} news number {i}", label) for i in range(10) for label in TOPIC.labels]
    moods = [(f"{label} headline {i}", label) for i in range(30) for label in SENTIMENT.labels]
    return [
        "train",
        "--topic-data",
        str(write_csv(root / "topic.csv", ["text", "topic"], topics)),
        "--sentiment-data",
        str(write_csv(root / "sentiment.csv", ["text", "sentiment"], moods)),
        "--base-encoder",
        str(base_encoder),
        "--method",
        "full",
        "--freeze-embeddings",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--augment-n",
        "10",
        "--device",
        "cpu",
        "--json",
    ]
