"""Model directories: save and load everything needed to score, self-contained.

Layout::

    model_card.json     base encoder, data, hyperparameters, metrics, calibration, version
    finsent_config.json tasks (label order), model config, per-head temperatures, storage kind
    adapter/            LoRA adapter (peft) on the referenced base encoder   (method lora)
    encoder/            full encoder weights, config.json + model.safetensors (method full)
    heads.safetensors   one Linear per task: "<task>.weight", "<task>.bias"
    branches.safetensors  the task branches' layers, "<task>.<i>.<param>" (only when branched)
    tokenizer/          the tokenizer files, copied so the directory needs nothing else

``version`` in the card is a hash of every other file, so any change of weights, heads,
labels or calibration gives a new version (and the scoring stage rescores).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from models.config import ModelConfig
from models.network import MultiTaskModel, arrange_layers, resolve_encoder_path
from models.tasks import TaskSpec

CARD = "model_card.json"
CONFIG = "finsent_config.json"
HEADS = "heads.safetensors"
BRANCHES = "branches.safetensors"
FORMAT_VERSION = 1
FROZEN_EMBEDDINGS = "embeddings.word_embeddings.weight"
# A card with this key False: the heads never trained (``finsent adapt``'s encoder): a start
# for ``finsent train --init-from``, refused by ``Scorer.check_labels_articles``.
HEADS_TRAINED = "heads_trained"


@dataclass
class LoadedModel:
    """What :func:`load_model_dir` returns."""

    model: MultiTaskModel
    tokenizer: Any
    tasks: tuple[TaskSpec, ...]
    model_config: ModelConfig
    temperatures: dict[str, float]
    card: dict[str, Any] = field(default_factory=dict)


def content_version(model_dir: Path) -> str:
    """A short hash of every file except the card: the model's version string."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(model_dir).as_posix()
        if rel == CARD:
            continue
        digest.update(rel.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "finsent-" + digest.hexdigest()[:12]


def save_model_dir(
    model: MultiTaskModel,
    tokenizer: Any,
    out_dir: str | Path,
    *,
    model_config: ModelConfig,
    temperatures: Mapping[str, float] | None = None,
    card: Mapping[str, Any] | None = None,
    half: bool = False,
) -> str:
    """Write a complete model directory; returns its version. ``half`` stores encoder
    weights (method full) in fp16 to halve the checkpoint."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    temps = {t.name: float((temperatures or {}).get(t.name, 1.0)) for t in model.tasks}
    storage = "adapter" if model_config.method == "lora" else "encoder"
    encoder = model.encoder
    if storage == "adapter":
        encoder.save_pretrained(str(out / "adapter"))
    else:
        enc_dir = out / "encoder"
        enc_dir.mkdir(exist_ok=True)
        encoder.config.save_pretrained(str(enc_dir))
        state = {
            k: (v.detach().to(torch.float16) if half and v.is_floating_point() else v.detach())
            .cpu()
            .contiguous()
            for k, v in encoder.state_dict().items()
            # The pooler is never used (mean pooling): no need to ship it. Frozen word
            # embeddings are the base encoder's own and are read from it at load time.
            if not k.startswith("pooler.")
            and not (model_config.freeze_embeddings and k == FROZEN_EMBEDDINGS)
        }
        save_file(state, str(enc_dir / "model.safetensors"))
    heads = {
        f"{name}.{p}": t.detach().float().cpu().contiguous()
        for name, head in model.heads.items()
        for p, t in head.state_dict().items()
    }
    save_file(heads, str(out / HEADS))
    if model.branches:
        dtype = torch.float16 if half else torch.float32
        branches = {
            k: t.detach().to(dtype).cpu().contiguous()
            for k, t in model.branches.state_dict().items()
        }
        save_file(branches, str(out / BRANCHES))
    tokenizer.save_pretrained(str(out / "tokenizer"))
    config = {
        "format_version": FORMAT_VERSION,
        "storage": storage,
        "model_config": model_config.as_dict(),
        "tasks": [t.as_dict() for t in model.tasks],
        "temperatures": temps,
    }
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    version = content_version(out)
    full_card = {"version": version, **(dict(card) if card else {})}
    full_card.setdefault("base_encoder", model_config.base_encoder)
    full_card.setdefault("method", model_config.method)
    full_card["tasks"] = [t.as_dict() for t in model.tasks]
    full_card["version"] = version
    (out / CARD).write_text(json.dumps(full_card, indent=2, default=str) + "\n")
    return version


def _base_encoder(config: ModelConfig) -> Any:
    """The pretrained base encoder, its layers arranged as ``config.layers`` says."""
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(str(resolve_encoder_path(config.base_encoder)))
    return arrange_layers(encoder, config.layers) if config.layers else encoder


def _load_encoder(model_dir: Path, storage: str, config: ModelConfig, *, merge: bool) -> nn.Module:
    from transformers import AutoConfig, AutoModel

    if storage == "encoder":
        enc_dir = model_dir / "encoder"
        if config.freeze_embeddings:
            # Start from the base encoder: it holds the (unchanged) word embeddings.
            encoder = _base_encoder(config)
        else:
            encoder = AutoModel.from_config(AutoConfig.from_pretrained(str(enc_dir)))
        stored = load_file(str(enc_dir / "model.safetensors"))
        state = {k: v.float() if v.is_floating_point() else v for k, v in stored.items()}
        missing, unexpected = encoder.load_state_dict(state, strict=False)
        expected = {FROZEN_EMBEDDINGS} if config.freeze_embeddings else set()
        missing = [k for k in missing if not k.startswith("pooler.") and k not in expected]
        if missing or unexpected:
            raise ValueError(
                f"{enc_dir}: weights do not match the encoder config "
                f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
            )
        return encoder
    from peft import PeftModel

    base = _base_encoder(config)
    peft_model = PeftModel.from_pretrained(base, str(model_dir / "adapter"))
    # Merged, inference runs the plain encoder: no adapter overhead, and int8 applies cleanly.
    return peft_model.merge_and_unload() if merge else peft_model


def load_model_dir(model_dir: str | Path, *, merge_adapter: bool = True) -> LoadedModel:
    """Load a directory written by :func:`save_model_dir` (on CPU, eval mode)."""
    from transformers.utils import logging as hf_logging

    # Loading takes seconds, not minutes: no "Loading weights" bar on every command's stderr.
    bar_was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return _load_model_dir(Path(model_dir), merge_adapter=merge_adapter)
    finally:
        if bar_was_enabled:
            hf_logging.enable_progress_bar()


def _load_model_dir(path: Path, *, merge_adapter: bool) -> LoadedModel:
    from transformers import AutoTokenizer

    if not (path / CONFIG).is_file():
        raise FileNotFoundError(f"{path} is not a finsent model directory (no {CONFIG})")
    raw = json.loads((path / CONFIG).read_text())
    if raw.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported model format {raw.get('format_version')!r}")
    model_config = ModelConfig(**raw["model_config"])
    tasks = tuple(TaskSpec.from_dict(t) for t in raw["tasks"])
    encoder = _load_encoder(path, raw["storage"], model_config, merge=merge_adapter)
    model = _multi_task_model(encoder, tasks, model_config)
    heads = load_file(str(path / HEADS))
    for name, head in model.heads.items():
        head.load_state_dict({"weight": heads[f"{name}.weight"], "bias": heads[f"{name}.bias"]})
    if model.branches:
        stored = load_file(str(path / BRANCHES))
        model.branches.load_state_dict({k: v.float() for k, v in stored.items()})
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(path / "tokenizer"))
    card = json.loads((path / CARD).read_text()) if (path / CARD).is_file() else {}
    temps = {t.name: float(raw.get("temperatures", {}).get(t.name, 1.0)) for t in tasks}
    return LoadedModel(model, tokenizer, tasks, model_config, temps, card)


def build_model(model_config: ModelConfig, tasks: Sequence[TaskSpec]) -> tuple[MultiTaskModel, Any]:
    """A fresh trainable model (LoRA-wrapped or full) on the configured base encoder."""
    from transformers import AutoTokenizer

    from models.network import apply_lora

    base_path = resolve_encoder_path(model_config.base_encoder)
    encoder = _base_encoder(model_config)
    tokenizer = AutoTokenizer.from_pretrained(str(base_path))
    if model_config.method == "lora":
        encoder = apply_lora(encoder, model_config)
    elif model_config.freeze_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    return _multi_task_model(encoder, tasks, model_config), tokenizer


def _multi_task_model(
    encoder: nn.Module, tasks: Sequence[TaskSpec], config: ModelConfig
) -> MultiTaskModel:
    return MultiTaskModel(
        encoder,
        tasks,
        head_dropout=config.head_dropout,
        branch_tasks=config.branch_tasks,
        branch_layers=config.branch_layers,
    )
