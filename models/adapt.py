"""Task-adaptive pretraining (TAPT; Gururangan et al., 2020, "Don't Stop Pretraining"):
masked-language-model training of the shared encoder on finsent's own *training* texts —
the tweets of both tasks and the news sentences, never a dev or hand-written text — before
the joint fine-tuning.

``all-MiniLM-L6-v2`` was tuned for sentence similarity on general web text. Financial
tweets (cashtags, outlets' shorthand) and Reuters sentences are a different register, and
no other encoder is available offline, so the encoder is adapted to that register here.

The result is a finsent model directory: the adapted encoder with **untrained heads**. It
labels nothing (``Scorer.check_labels_articles`` refuses it, by its card); it is the start
of ``finsent train --init-from``. The word-embedding matrix stays frozen — it is the MLM
decoder (tied, as in BERT) and the shipped checkpoints leave it out — so the adapted model
and every model trained from it load on the same base encoder package.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from models.checkpoint import CARD, HEADS_TRAINED, build_model
from models.config import ModelConfig, TrainConfig, _check
from models.data import NEWS_DEV_FILE
from models.network import MultiTaskModel
from models.provenance import provenance_fields
from models.scorer import pad_batch, resolve_device
from models.tasks import MISSING_LABEL, TaskSpec


@dataclass(frozen=True)
class AdaptConfig:
    """One adaptation run (``finsent adapt``)."""

    steps: int = 3000  # encoder and head together, after head_steps
    # First this many steps train only the new MLM head, the encoder frozen (no backward
    # pass through it): a randomly initialised head's first gradients would otherwise
    # reach the pretrained encoder (linear probing before fine-tuning, Kumar et al., 2022).
    head_steps: int = 300
    batch_size: int = 64
    lr: float = 1e-4  # the encoder
    head_lr: float = 1e-3  # the MLM transform (new) and the output bias
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    # "mlm": masked-language modelling (BERT); "simcse": unsupervised SimCSE (Gao et al.,
    # 2021) — each text encoded twice under different dropout, mean-pooled as the heads see
    # it, and told apart from the rest of the batch (InfoNCE at `simcse_temperature`). It
    # keeps the sentence-embedding objective MiniLM was tuned with; no head, no head_steps.
    objective: str = "mlm"
    simcse_temperature: float = 0.05
    mask_prob: float = 0.15
    max_length: int = 64
    eval_every: int = 500
    seed: int = 13
    # The dev split the fine-tuning runs will use (TrainConfig's): its texts stay out.
    dev_fraction: float = 0.1
    split_seed: int = 1234
    device: str = "auto"
    num_threads: int = 2
    progress: bool = True

    def __post_init__(self) -> None:
        _check(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        _check(self.head_steps >= 0, f"head_steps must be >= 0, got {self.head_steps}")
        _check(
            self.objective in ("mlm", "simcse"),
            f"objective must be mlm or simcse, got {self.objective!r}",
        )
        _check(
            self.objective == "mlm" or self.head_steps == 0,
            "simcse trains no head: head_steps must be 0",
        )
        _check(self.simcse_temperature > 0, "simcse_temperature must be > 0")
        _check(self.batch_size >= 2, f"batch_size must be >= 2, got {self.batch_size}")
        _check(self.lr > 0 and self.head_lr > 0, "learning rates must be > 0")
        _check(0 < self.mask_prob < 1, f"mask_prob must be in (0, 1), got {self.mask_prob}")
        _check(
            8 <= self.max_length <= 512, f"max_length must be in [8, 512], got {self.max_length}"
        )
        _check(self.eval_every >= 1, f"eval_every must be >= 1, got {self.eval_every}")
        _check(
            0 <= self.warmup_ratio < 1, f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class MaskedLMHead(nn.Module):
    """BERT's MLM head: dense → GELU → LayerNorm, then the (frozen, tied) word embeddings
    as the output projection, plus a bias per vocabulary entry."""

    def __init__(self, embeddings: nn.Embedding, *, layer_norm_eps: float = 1e-12) -> None:
        super().__init__()
        vocab, hidden = embeddings.weight.shape
        self.dense = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(vocab))
        self.embeddings = embeddings  # shared with the encoder, not a copy

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.norm(F.gelu(self.dense(hidden)))
        return x @ self.embeddings.weight.t() + self.bias


def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    prob: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: each maskable token is chosen with ``prob``; a chosen token becomes
    ``mask_id`` (80%), a random token (10%) or stays (10%). Returns (inputs, labels): labels
    hold the original id where chosen and ``MISSING_LABEL`` elsewhere. At least one token
    of the batch is chosen, so the loss is never empty."""
    draw = torch.rand(input_ids.shape, generator=generator)
    chosen = (draw < prob) & maskable
    if not chosen.any() and maskable.any():
        first = maskable.flatten().nonzero()[0]
        chosen.view(-1)[first] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, MISSING_LABEL))
    how = torch.rand(input_ids.shape, generator=generator)
    inputs = input_ids.clone()
    inputs[chosen & (how < 0.8)] = mask_id
    swap = chosen & (how >= 0.8) & (how < 0.9)
    inputs[swap] = torch.randint(vocab_size, input_ids.shape, generator=generator)[swap]
    return inputs, labels


def adaptation_texts(
    data_files: Mapping[TaskSpec, str | Path],
    news_data: str | Path | None,
    config: AdaptConfig,
    *,
    news_dev_file: str | Path = NEWS_DEV_FILE,
) -> tuple[list[str], list[str], dict[str, Any]]:
    """(train texts, dev texts, info): every training text of the tasks' files and of the
    news data, each once, cleaned as training cleans them; the dev splits the fine-tuning
    runs use (same fraction and split seed), the news dev split and the hand-written set
    are left out — a text equal to any of them is dropped from every file."""
    from models.train import _hand_written_news_texts, prepare_news, prepare_splits

    split = TrainConfig(
        augment=False, dev_fraction=config.dev_fraction, split_seed=config.split_seed
    )
    train, dev, info = prepare_splits(data_files, split)
    hand_written = _hand_written_news_texts()
    if news_data is not None:
        news_train, news_dev, info["news"] = prepare_news(
            news_data, dev_file=news_dev_file, exclude_texts=hand_written
        )
        train["news"], dev["news"] = news_train, news_dev
    dev_texts = list(dict.fromkeys(t for d in dev.values() for t in d.texts))
    held_out = set(dev_texts) | set(hand_written)
    texts = [t for t in dict.fromkeys(t for d in train.values() for t in d.texts) if t]
    kept = [t for t in texts if t not in held_out]
    info["texts"] = {"train": len(kept), "dev": len(dev_texts), "dropped": len(texts) - len(kept)}
    return kept, dev_texts, info


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, *, pool: int = 50
) -> Iterator[list[int]]:
    """Endless full batches of indices, every index once per pass: each pass is shuffled,
    cut into pools of ``pool`` batches, each pool sorted by length and cut into batches
    (little padding), and the batches of a pool shuffled."""
    order = list(range(len(lengths)))
    while True:
        rng.shuffle(order)
        usable = len(order) - len(order) % batch_size
        for start in range(0, usable, batch_size * pool):
            chunk = sorted(
                order[start : min(start + batch_size * pool, usable)], key=lengths.__getitem__
            )
            batches = [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
            rng.shuffle(batches)
            yield from batches


def _mlm_loss(
    model: MultiTaskModel,
    head: MaskedLMHead,
    inputs: torch.Tensor,
    mask: torch.Tensor,
    labels: torch.Tensor,
    *,
    train_encoder: bool = True,
) -> tuple[torch.Tensor, int, int]:
    """(mean loss over the chosen tokens, chosen tokens, correctly predicted)."""
    with torch.set_grad_enabled(train_encoder and torch.is_grad_enabled()):
        hidden = model.encoder(input_ids=inputs, attention_mask=mask).last_hidden_state
    chosen = labels != MISSING_LABEL
    logits = head(hidden[chosen])
    target = labels[chosen]
    loss = F.cross_entropy(logits, target)
    correct = int((logits.argmax(-1) == target).sum())
    return loss, int(target.numel()), correct


def simcse_loss(
    model: MultiTaskModel, ids: torch.Tensor, mask: torch.Tensor, *, temperature: float
) -> tuple[torch.Tensor, int, int]:
    """(InfoNCE loss, texts, texts whose second view is nearest to their first): two passes
    of the same batch differ only by dropout, so ``model`` must be in training mode."""
    first = F.normalize(model.encode(ids, mask), dim=-1)
    second = F.normalize(model.encode(ids, mask), dim=-1)
    logits = first @ second.t() / temperature
    target = torch.arange(len(ids), device=ids.device)
    loss = F.cross_entropy(logits, target)
    return loss, len(ids), int((logits.argmax(-1) == target).sum())


# One batch: (input ids, attention mask, MLM labels — None for SimCSE, which masks nothing).
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


def objective_loss(
    model: MultiTaskModel,
    head: MaskedLMHead,
    batch: Batch,
    *,
    config: AdaptConfig,
    train_encoder: bool = True,
) -> tuple[torch.Tensor, int, int]:
    """The configured objective on one batch: (loss, items scored, items right)."""
    inputs, mask, labels = batch
    if labels is None:
        return simcse_loss(model, inputs, mask, temperature=config.simcse_temperature)
    return _mlm_loss(model, head, inputs, mask, labels, train_encoder=train_encoder)


def evaluate_dev(
    model: MultiTaskModel,
    head: MaskedLMHead,
    batches: Sequence[Batch],
    *,
    config: AdaptConfig,
) -> dict[str, float]:
    """The objective's loss and accuracy on fixed dev batches: for MLM the texts masked
    once, in eval mode; for SimCSE in training mode (its two views need dropout) under a
    fixed seed, so every evaluation draws the same dropout masks."""
    was_training = model.training
    model.train(config.objective == "simcse")
    head.eval()
    total_loss, total, correct = 0.0, 0, 0
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        for batch in batches:
            loss, n, right = objective_loss(model, head, batch, config=config)
            total_loss += float(loss) * n
            total += n
            correct += right
    model.train(was_training)
    head.train(was_training)
    return {
        "loss": round(total_loss / max(total, 1), 4),
        "accuracy": round(correct / max(total, 1), 4),
    }


def adapt_encoder(
    *,
    data_files: Mapping[TaskSpec, str | Path],
    out_dir: str | Path,
    model_config: ModelConfig | None = None,
    config: AdaptConfig | None = None,
    news_data: str | Path | None = None,
    news_dev_file: str | Path = NEWS_DEV_FILE,
    command: str | None = None,
) -> dict[str, Any]:
    """Adapt the encoder by masked-language modelling on the training texts, write it with
    untrained heads for ``data_files``' tasks to ``out_dir``, and return the card."""
    from transformers import get_linear_schedule_with_warmup, set_seed

    from models.train import write_model_dir

    mc = model_config or ModelConfig(method="full", freeze_embeddings=True)
    cfg = config or AdaptConfig()
    if mc.method != "full" or not mc.freeze_embeddings:
        raise ValueError(
            "adaptation trains every encoder weight but the word embeddings (the tied MLM "
            "decoder): use method 'full' with frozen embeddings"
        )
    provenance = provenance_fields(command, [], out_dir)
    torch.set_num_threads(cfg.num_threads)
    set_seed(cfg.seed)
    device = resolve_device(cfg.device)
    started = time.time()
    texts, dev_texts, data_info = adaptation_texts(
        data_files, news_data, cfg, news_dev_file=news_dev_file
    )
    if len(texts) < cfg.batch_size:
        raise ValueError(f"{len(texts)} training texts: fewer than one batch of {cfg.batch_size}")
    tasks = tuple(data_files)
    model, tokenizer = build_model(mc, tasks)
    embeddings = model.encoder.get_input_embeddings()
    head = MaskedLMHead(embeddings, layer_norm_eps=float(model.encoder.config.layer_norm_eps))
    model.to(device)
    head.to(device)
    pad_id = tokenizer.pad_token_id or 0
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
    vocab_size = int(embeddings.weight.shape[0])

    def tokenize(rows: Sequence[str]) -> list[list[int]]:
        return tokenizer(list(rows), truncation=True, max_length=cfg.max_length)["input_ids"]

    def make_batch(rows: Sequence[list[int]], generator: torch.Generator) -> Batch:
        ids, attention = pad_batch(rows, pad_id=pad_id, device=torch.device("cpu"))
        if cfg.objective == "simcse":
            return ids.to(device), attention.to(device), None
        maskable = (attention == 1) & ~torch.isin(ids, special)
        inputs, labels = mask_tokens(
            ids,
            maskable,
            mask_id=int(tokenizer.mask_token_id),
            vocab_size=vocab_size,
            prob=cfg.mask_prob,
            generator=generator,
        )
        return inputs.to(device), attention.to(device), labels.to(device)

    train_ids = tokenize(texts)
    dev_ids = tokenize(dev_texts)
    # The dev texts are masked once, the same way at every evaluation.
    dev_generator = torch.Generator().manual_seed(cfg.seed + 1)
    # SimCSE's dev batches are training-sized: its accuracy is retrieval within a batch.
    width = 128 if cfg.objective == "mlm" else cfg.batch_size
    dev_batches = [
        make_batch(dev_ids[i : i + width], dev_generator) for i in range(0, len(dev_ids), width)
    ]
    generator = torch.Generator().manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)

    head_params = [p for p in head.parameters() if p.requires_grad]  # not the embeddings
    encoder_params = [p for p in model.encoder.parameters() if p.requires_grad]
    # Phase 1 (head_steps): the head alone, at a constant rate. Phase 2 (steps): both, with
    # linear warm-up and decay.
    head_optimizer = torch.optim.AdamW(head_params, lr=cfg.head_lr, weight_decay=cfg.weight_decay)
    optimizer = torch.optim.AdamW(
        [{"params": encoder_params, "lr": cfg.lr}, {"params": head_params, "lr": cfg.head_lr}],
        weight_decay=cfg.weight_decay,
    )
    scheduler = get_linear_schedule_with_warmup(
        optimizer,
        num_warmup_steps=max(1, int(cfg.steps * cfg.warmup_ratio)),
        num_training_steps=cfg.steps,
    )
    total_steps = cfg.head_steps + cfg.steps
    steps_per_epoch = math.ceil(len(texts) / cfg.batch_size)
    eval_at = {
        0,
        cfg.head_steps,
        total_steps,
        *range(cfg.head_steps + cfg.eval_every, total_steps + 1, cfg.eval_every),
    }
    history: list[dict[str, Any]] = []
    stream = bucketed_batches([len(row) for row in train_ids], cfg.batch_size, rng)

    from tqdm.auto import tqdm

    bar = tqdm(
        total=total_steps,
        disable=not cfg.progress,
        desc="adapt",
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 60.0,
    )
    running: float | None = None
    model.train()
    head.train()
    for step in range(total_steps + 1):
        if step:
            encoder_trains = step > cfg.head_steps
            batch = make_batch([train_ids[k] for k in next(stream)], generator)
            loss, _, _ = objective_loss(
                model, head, batch, config=cfg, train_encoder=encoder_trains
            )
            opt = optimizer if encoder_trains else head_optimizer
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(
                (encoder_params if encoder_trains else []) + head_params, cfg.max_grad_norm
            )
            opt.step()
            if encoder_trains:
                scheduler.step()
            value = float(loss.detach())
            running = value if running is None else 0.95 * running + 0.05 * value
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix({f"{cfg.objective}_loss": f"{running:.3f}"})
        if step in eval_at:
            dev_mlm = evaluate_dev(model, head, dev_batches, config=cfg)
            history.append(
                {
                    "step": step,
                    "encoder_steps": max(0, step - cfg.head_steps),
                    "epoch": round(step / steps_per_epoch, 3),
                    "seconds": round(time.time() - started, 1),
                    "train_loss": None if running is None else round(running, 4),
                    "dev": dev_mlm,
                }
            )
            if cfg.progress:
                bar.write(f"step {step}: dev {cfg.objective} {dev_mlm}", file=sys.stderr)
    bar.close()
    card: dict[str, Any] = {
        "description": (
            "finsent encoder adapted by masked-language modelling on the training texts; "
            "its heads are untrained: start finsent train --init-from here, do not label with it"
        ),
        HEADS_TRAINED: False,
        "base_encoder": mc.base_encoder,
        "method": mc.method,
        "model_config": mc.as_dict(),
        "adapt_config": cfg.as_dict(),
        "data": data_info,
        "dev_split": {"fraction": cfg.dev_fraction, "seed": cfg.split_seed, "stratified": True},
        "steps": {"head": cfg.head_steps, "total": total_steps, "per_epoch": steps_per_epoch},
        "history": history,
        "training_seconds": round(time.time() - started, 1),
        **provenance,
    }
    write_model_dir(model, tokenizer, out_dir, mc, {t.name: 1.0 for t in tasks}, card)
    written: dict[str, Any] = json.loads((Path(out_dir) / CARD).read_text())
    return written  # with the version the directory got
