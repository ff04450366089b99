"""Test helpers for other parts: a complete, tiny, randomly initialised model directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def make_tiny_model_dir(path: Path, *, seed: int = 0) -> Path:
    """Write a model directory with a 2-layer, hidden-32 random BERT and the real MiniLM
    tokenizer; ``Scorer.from_pretrained(path)`` loads it in well under a second.

    The labels are those of the shipped model (20 topics, 3 sentiments); predictions are
    random but deterministic for a given ``seed``.
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
        model = MultiTaskModel(encoder, DEFAULT_TASKS)
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
