"""Joint training: temperature-mixed task batches, masked joint loss, best-epoch checkpoint,
per-head temperature calibration, and a model card recording how it was made."""

from __future__ import annotations

import json
import math
import platform
import random
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.checkpoint import build_model, load_model_dir, save_model_dir
from models.config import ModelConfig, TrainConfig
from models.data import (
    TaskData,
    endless_batches,
    file_sha256,
    load_task_data,
    mixing_probabilities,
    split_digest,
    stratified_limit,
    stratified_split,
)
from models.metrics import (
    classification_report,
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from models.network import MultiTaskModel, count_parameters, joint_loss
from models.scorer import logits_for_ids, pad_batch, resolve_device
from models.tasks import MISSING_LABEL, TaskSpec
from models.text import clean_text


def _augmentation(n: int, seed: int) -> list[tuple[str, str]]:
    from models.augment import news_style_examples

    return news_style_examples(seed=seed, n=n)


def prepare_splits(
    data_files: Mapping[TaskSpec, str | Path], config: TrainConfig
) -> tuple[dict[str, TaskData], dict[str, TaskData], dict[str, Any]]:
    """(train, dev, info) per task name: stratified dev split with ``split_seed``, optional
    per-task limit, news-style augmentation added to sentiment *training* data only."""
    train: dict[str, TaskData] = {}
    dev: dict[str, TaskData] = {}
    info: dict[str, Any] = {}
    for task, path in data_files.items():
        data = load_task_data(path, task)
        tr_idx, dev_idx = stratified_split(
            data.labels, fraction=config.dev_fraction, seed=config.split_seed
        )
        tr, dv = data.subset(tr_idx), data.subset(dev_idx)
        if config.limit_per_task:
            tr = stratified_limit(tr, config.limit_per_task, seed=config.seed)
        augmented = 0
        if config.augment and task.name == "sentiment" and config.augment_n:
            extra = _augmentation(config.augment_n, config.seed)
            texts = tr.texts + tuple(clean_text(t) for t, _ in extra)
            labels = tr.labels + tuple(task.encode([label for _, label in extra]))
            tr, augmented = TaskData(task, texts, labels), len(extra)
        train[task.name], dev[task.name] = tr, dv
        info[task.name] = {
            "file": str(path),
            "sha256": file_sha256(path),
            "rows_after_dedupe": len(data),
            "train": len(tr),
            "train_augmented": augmented,
            "dev": len(dv),
            "dev_digest": split_digest(dv.texts),
        }
    return train, dev, info


def _class_weights(data: TaskData, scheme: str) -> torch.Tensor | None:
    if scheme == "none":
        return None
    counts = np.bincount(np.asarray(data.labels), minlength=data.task.num_labels).astype(float)
    inv = 1.0 / np.maximum(counts, 1.0)
    weights = np.sqrt(inv) if scheme == "sqrt_inverse" else inv
    # Normalised to mean 1 over the examples, so the loss keeps its scale.
    weights = weights / (weights * counts).sum() * counts.sum()
    return torch.tensor(weights, dtype=torch.float32)


def evaluate_dev(
    model: MultiTaskModel,
    dev_ids: Mapping[str, list[list[int]]],
    dev: Mapping[str, TaskData],
    *,
    pad_id: int,
    device: torch.device,
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """(report per task, logits per task) on the development split."""
    reports, logits = {}, {}
    for name, ids in dev_ids.items():
        out = logits_for_ids(model, ids, pad_id=pad_id, device=device, batch_size=128)[name]
        task = dev[name].task
        reports[name] = classification_report(dev[name].labels, out.argmax(1), task.labels)
        logits[name] = out
    return reports, logits


def _summary(reports: Mapping[str, dict]) -> dict[str, dict[str, float]]:
    return {
        name: {k: round(r[k], 4) for k in ("accuracy", "macro_f1", "weighted_f1")}
        for name, r in reports.items()
    }


def calibrate(
    dev_logits: Mapping[str, np.ndarray], dev: Mapping[str, TaskData]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """A temperature per head fitted on the dev split, with ECE before and after."""
    temperatures, calibration = {}, {}
    for name, logits in dev_logits.items():
        y = dev[name].labels
        temp = fit_temperature(logits, y)
        temperatures[name] = temp
        calibration[name] = {
            "temperature": round(temp, 4),
            "ece_before": round(expected_calibration_error(softmax(logits), y), 4),
            "ece_after": round(expected_calibration_error(softmax(logits / temp), y), 4),
        }
    return temperatures, calibration


def write_model_dir(
    model: MultiTaskModel,
    tokenizer: Any,
    out_dir: str | Path,
    mc: ModelConfig,
    temperatures: Mapping[str, float],
    card: Mapping[str, Any],
) -> None:
    """Save into a sibling ``.partial`` directory, then swap it in (never half-written)."""
    out = Path(out_dir)
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    was_training = model.training
    model.cpu()
    save_model_dir(
        model,
        tokenizer,
        tmp,
        model_config=mc,
        temperatures=temperatures,
        card=card,
        half=mc.method == "full",
    )
    model.train(was_training)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def _load_weights(model: torch.nn.Module, model_dir: str) -> None:
    """Copy the weights of a saved finsent model into a freshly built ``model``."""
    source = load_model_dir(model_dir).model.state_dict()
    target = model.state_dict()
    if set(source) != set(target):
        missing = sorted(set(target) ^ set(source))[:3]
        raise ValueError(
            f"{model_dir} does not match the model being trained (e.g. {missing}); "
            "use the same tasks and --method"
        )
    model.load_state_dict(source)


def train_model(
    *,
    data_files: Mapping[TaskSpec, str | Path],
    out_dir: str | Path,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
) -> dict[str, Any]:
    """Train jointly on ``{task spec: CSV}``, write the best epoch's model to ``out_dir``,
    and return its model card (also written as ``model_card.json``)."""
    mc = model_config or ModelConfig()
    tc = train_config or TrainConfig()
    from transformers import get_linear_schedule_with_warmup, set_seed

    torch.set_num_threads(tc.num_threads)
    set_seed(tc.seed)  # Python, NumPy and torch (CPU and CUDA) generators
    device = resolve_device(tc.device)
    started = time.time()

    tasks = tuple(data_files)
    train, dev, data_info = prepare_splits(data_files, tc)
    model, tokenizer = build_model(mc, tasks)
    if tc.init_from is not None:
        _load_weights(model, tc.init_from)
    model.to(device)
    pad_id = tokenizer.pad_token_id or 0

    def tokenize(texts: tuple[str, ...]) -> list[list[int]]:
        return tokenizer(list(texts), truncation=True, max_length=tc.max_length)["input_ids"]

    train_ids = {name: tokenize(d.texts) for name, d in train.items()}
    dev_ids = {name: tokenize(d.texts) for name, d in dev.items()}
    names = [t.name for t in tasks]
    sizes = [len(train[n]) for n in names]
    probs = mixing_probabilities(sizes, mixing=tc.mixing, temperature=tc.temperature)
    rng = random.Random(tc.seed)
    streams = {
        n: endless_batches(
            [len(x) for x in train_ids[n]], tc.batch_size, random.Random(tc.seed + k)
        )
        for k, n in enumerate(names)
    }
    class_weights = {
        n: w for n in names if (w := _class_weights(train[n], tc.class_weights)) is not None
    }

    head_params = [p for p in model.heads.parameters()]
    head_ids = {id(p) for p in head_params}
    encoder_params = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    optimizer = torch.optim.AdamW(
        [{"params": encoder_params, "lr": tc.lr}, {"params": head_params, "lr": tc.head_lr}],
        weight_decay=tc.weight_decay,
    )
    steps_per_epoch = math.ceil(sum(sizes) / tc.batch_size)
    total_steps = steps_per_epoch * tc.epochs
    # Linear warm-up over the first warmup_ratio of the steps, then linear decay to zero.
    scheduler = get_linear_schedule_with_warmup(
        optimizer,
        num_warmup_steps=max(1, int(total_steps * tc.warmup_ratio)),
        num_training_steps=total_steps,
    )
    trainable, total_params = count_parameters(model)

    from tqdm.auto import tqdm

    card: dict[str, Any] = {
        "description": "finsent multi-task model: topic and sentiment heads on one encoder",
        "base_encoder": mc.base_encoder,
        "method": mc.method,
        "model_config": mc.as_dict(),
        "train_config": tc.as_dict(),
        "data": data_info,
        "dev_split": {"fraction": tc.dev_fraction, "seed": tc.split_seed, "stratified": True},
        "parameters": {"trainable": trainable, "total": total_params},
        "environment": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": str(device),
            "threads": tc.num_threads,
        },
    }
    history: list[dict[str, Any]] = []
    best_score = -1.0
    use_bf16 = device.type == "cuda"
    # On a terminal refresh often; into a log file, a line a minute.
    interval = 0.5 if sys.stderr.isatty() else 60.0
    bar = tqdm(
        total=total_steps,
        disable=not tc.progress,
        desc="train",
        dynamic_ncols=True,
        mininterval=interval,
    )
    step = 0
    for epoch in range(1, tc.epochs + 1):
        model.train()
        running: dict[str, float] = {}
        for _ in range(steps_per_epoch):
            k = rng.choices(range(len(names)), weights=probs)[0]
            batch = next(streams[names[k]])
            input_ids, mask = pad_batch(
                [train_ids[names[k]][i] for i in batch], pad_id=pad_id, device=device
            )
            labels = torch.full((len(batch), len(names)), MISSING_LABEL, dtype=torch.long)
            labels[:, k] = torch.tensor([train[names[k]].labels[i] for i in batch])
            labels = labels.to(device)
            with torch.autocast("cuda", torch.bfloat16, enabled=use_bf16):
                logits = model(input_ids, mask)
            loss, per_task = joint_loss(
                logits,
                labels,
                tasks,
                task_weights={n: tc.weight_of(n) for n in names},
                class_weights=class_weights,
                label_smoothing=tc.label_smoothing,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.max_grad_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            value = per_task[names[k]].item()
            running[names[k]] = 0.95 * running.get(names[k], value) + 0.05 * value
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix({f"loss_{n[:4]}": f"{v:.3f}" for n, v in running.items()})
        reports, dev_logits = evaluate_dev(model, dev_ids, dev, pad_id=pad_id, device=device)
        score = float(np.mean([r["macro_f1"] for r in reports.values()]))
        summary = _summary(reports)
        history.append({"epoch": epoch, "seconds": round(time.time() - started, 1), "dev": summary})
        if tc.progress:
            # On stderr, with the bar: stdout carries only the command's own output.
            bar.write(
                f"epoch {epoch}: dev {json.dumps(summary)} mean macro-F1 {score:.4f}",
                file=sys.stderr,
            )
        if score > best_score:
            # Keep the best epoch on disk at once: a run cut short still leaves a model.
            best_score = score
            temperatures, calibration = calibrate(dev_logits, dev)
            card.update(
                dev_metrics=summary,
                dev_reports=reports,
                best_epoch=epoch,
                calibration=calibration,
                history=history,
                training_seconds=round(time.time() - started, 1),
            )
            write_model_dir(model, tokenizer, out_dir, mc, temperatures, card)
            model.to(device)
    bar.close()
    # The final card records the whole run (the card is not part of the version hash).
    card_path = Path(out_dir) / "model_card.json"
    final = json.loads(card_path.read_text())
    final.update(history=history, training_seconds=round(time.time() - started, 1))
    card_path.write_text(json.dumps(final, indent=2, default=str) + "\n")
    return final
