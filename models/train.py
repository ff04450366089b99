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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.checkpoint import build_model, load_model_dir, save_model_dir
from models.config import ModelConfig, TrainConfig
from models.data import (
    NEWS_DEV_FILE,
    TaskData,
    data_file_info,
    endless_batches,
    file_sha256,
    load_news_split,
    load_task_data,
    mixing_probabilities,
    read_labelled_csv,
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
from models.network import (
    MultiTaskModel,
    consistency_loss,
    count_parameters,
    distillation_loss,
    freeze_shared,
    joint_loss,
    train_only,
    with_branch_weights,
)
from models.provenance import provenance_fields
from models.scorer import logits_for_ids, pad_batch, resolve_device
from models.tasks import MISSING_LABEL, NEWS_SENTIMENT, SENTIMENT, TaskSpec
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
            **data_file_info(path),
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
    heads: Mapping[str, str] | None = None,
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """(report, logits) per dev set, each read from its head (``heads``: dev set name →
    head name; by default the set's own name)."""
    reports, logits = {}, {}
    for name, ids in dev_ids.items():
        head = (heads or {}).get(name, name)
        out = logits_for_ids(model, ids, pad_id=pad_id, device=device, batch_size=128)[head]
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


def _load_weights(model: MultiTaskModel, model_dir: str) -> None:
    """Copy the weights of a saved finsent model into a freshly built ``model``. Task branches
    the saved model lacks start from its own top layers, as they would from the base encoder."""
    source = with_branch_weights(load_model_dir(model_dir).model.state_dict(), model)
    target = model.state_dict()
    if set(source) != set(target):
        missing = sorted(set(target) ^ set(source))[:3]
        raise ValueError(
            f"{model_dir} does not match the model being trained (e.g. {missing}); "
            "use the same tasks and --method"
        )
    model.load_state_dict(source)


# The news stream's name: its own batches and dev split, on the sentiment head, or on its
# own head of the same name (``news_head="separate"``).
NEWS_STREAM = NEWS_SENTIMENT.name


def prepare_news(
    news_data: str | Path,
    *,
    dev_file: str | Path = NEWS_DEV_FILE,
    exclude_texts: Sequence[str] = (),
) -> tuple[TaskData, TaskData, dict[str, Any]]:
    """(train, dev, info) of the news sentiment data: the fixed news dev split
    (``models/data/news_dev.csv``) is held out automatically — the rows it lists are dev,
    checked against ``news_data`` — and any training row whose cleaned text is in
    ``exclude_texts`` (the hand-written news set) is dropped, so neither evaluation set is
    ever trained on."""
    split = load_news_split(news_data, dev_file=dev_file)
    excluded = set(exclude_texts) | set(split.dev.texts)
    keep = [i for i, text in enumerate(split.train.texts) if text not in excluded]
    train = split.train.subset(keep)
    info = {
        **data_file_info(news_data),
        "head": SENTIMENT.name,
        "dev_file": str(dev_file),
        "dev_file_sha256": file_sha256(dev_file),
        "train": len(train),
        "train_dropped_as_eval_text": len(split.train) - len(train),
        "dev": len(split.dev),
        "dev_digest": split_digest(split.dev.texts),
    }
    return train, split.dev, info


def _hand_written_news_texts() -> list[str]:
    path = Path(__file__).resolve().parent / "data" / "news_headlines_eval.csv"
    texts, _ = read_labelled_csv(path)
    return [clean_text(t) for t in texts]


def stream_probabilities(sizes: Sequence[int], *, tc: TrainConfig, news: bool) -> list[float]:
    """How often each stream's batch is drawn: the tweet tasks by ``tc.mixing``; with
    ``news`` (the last stream), a fixed ``tc.news_share`` for it and the rest scaled."""
    if not news:
        return mixing_probabilities(sizes, mixing=tc.mixing, temperature=tc.temperature)
    tweets = mixing_probabilities(sizes[:-1], mixing=tc.mixing, temperature=tc.temperature)
    return [p * (1.0 - tc.news_share) for p in tweets] + [tc.news_share]


def evaluation_steps(*, total_steps: int, steps_per_epoch: int, tc: TrainConfig) -> list[int]:
    """The steps after which the dev sets are scored: every ``eval_every`` steps, each
    epoch's end (``eval_every_epoch``), always the last step, and step 0 (before any
    update) when continuing from ``init_from`` — the weights to beat."""
    steps = {total_steps}
    if tc.init_from is not None:
        steps.add(0)
    if tc.eval_every:
        steps.update(range(tc.eval_every, total_steps + 1, tc.eval_every))
    if tc.eval_every_epoch:
        steps.update(range(steps_per_epoch, total_steps + 1, steps_per_epoch))
    return sorted(steps)


def selection_score(summary: Mapping[str, Mapping[str, float]]) -> float:
    """Model selection: the mean macro-F1 over every dev set (tweet topic, tweet
    sentiment, and the news dev split when news trains)."""
    return float(np.mean([r["macro_f1"] for r in summary.values()]))


def checkpoint_dir(out_dir: str | Path, step: int) -> Path:
    """Where ``keep_checkpoints`` writes the model of ``step``: ``<out>.steps/step-NNNNN``."""
    out = Path(out_dir)
    return out.with_name(out.name + ".steps") / f"step-{step:05d}"


def distillable_rows(
    train: Mapping[str, TaskData], dev: Mapping[str, TaskData]
) -> dict[str, np.ndarray]:
    """Per training stream, a mask of the rows a teacher may label: never a text that is in
    any dev set (e.g. a sentiment-dev tweet that is also a topic training tweet), since the
    teacher's label for it would carry the dev split into training."""
    dev_texts = {text for d in dev.values() for text in d.texts}
    return {
        name: np.array([text not in dev_texts for text in d.texts], dtype=bool)
        for name, d in train.items()
    }


def shared_heads(
    tasks: Sequence[TaskSpec], labels: Mapping[str, tuple[str, ...]], who: str, whom: str
) -> list[str]:
    """The names of ``tasks`` that are heads of ``labels`` (``{head: labels}``), checked to
    have the same labels in the same order; none at all is an error too."""
    shared = [t.name for t in tasks if t.name in labels]
    if not shared:
        raise ValueError(f"{who} has none of the heads of {whom}")
    for t in tasks:
        if t.name in labels and tuple(t.labels) != tuple(labels[t.name]):
            raise ValueError(f"{who} has other {t.name} labels than {whom}")
    return shared


def teacher_probabilities(
    teachers: Sequence[str | Path],
    train_ids: Mapping[str, list[list[int]]],
    tasks: Sequence[TaskSpec],
    *,
    tokenizer: Any,
    temperature: float,
    device: torch.device,
) -> tuple[dict[str, dict[str, np.ndarray]], list[dict[str, str]]]:
    """The distillation targets: per stream and head, the mean over the teachers that have
    that head of ``softmax(z / (T_head · temperature))`` (``T_head``: each teacher's own
    calibrated temperature), over the same token ids the student reads; and who the
    teachers are.

    A teacher may have a subset of the student's heads (e.g. a topic-only model): each head
    is taught by the teachers that have it, with the same labels in the same order; a head
    no teacher has is not distilled."""
    from models.checkpoint import content_version

    labels = {t.name: t.labels for t in tasks}
    sums: dict[str, dict[str, np.ndarray]] = {}
    counts: dict[str, int] = {}
    record = []
    for path in teachers:
        loaded = load_model_dir(path)
        shared = shared_heads(loaded.tasks, labels, f"teacher {path}", "the model being trained")
        if loaded.tokenizer.get_vocab() != tokenizer.get_vocab():
            raise ValueError(f"teacher {path} has another tokenizer than the model being trained")
        model = loaded.model.to(device)
        pad_id = loaded.tokenizer.pad_token_id or 0
        for stream, ids in train_ids.items():
            logits = logits_for_ids(model, ids, pad_id=pad_id, device=device, batch_size=128)
            for head in shared:
                t_head = loaded.temperatures.get(head, 1.0)
                p = softmax(logits[head] / (t_head * temperature))
                acc = sums.setdefault(stream, {})
                acc[head] = acc[head] + p if head in acc else p
        for head in shared:
            counts[head] = counts.get(head, 0) + 1
        record.append(
            {"dir": str(path), "version": content_version(Path(path)), "heads": ",".join(shared)}
        )
        del model, loaded
    probs = {
        s: {h: (p / counts[h]).astype(np.float32) for h, p in heads.items()}
        for s, heads in sums.items()
    }
    return probs, record


def train_model(
    *,
    data_files: Mapping[TaskSpec, str | Path],
    out_dir: str | Path,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    news_data: str | Path | None = None,
    news_dev_file: str | Path = NEWS_DEV_FILE,
    command: str | None = None,
) -> dict[str, Any]:
    """Train jointly on ``{task spec: CSV}``, write the best model (by
    :func:`selection_score`, evaluated at :func:`evaluation_steps`) to ``out_dir``, and
    return its model card (also written as ``model_card.json``).

    ``news_data`` (news-sentiment/train.csv) adds the news sentences as a third stream of
    batches on the sentiment head (``news_share`` of the batches), minus the fixed news
    dev split (``news_dev_file``), which is scored with the tweet dev sets and counts in
    model selection.

    ``command`` (the ``finsent train`` line) goes into the card's ``reproduce``, after the
    chains of the teachers and of ``init_from`` (:mod:`models.provenance`)."""
    mc = model_config or ModelConfig()
    tc = train_config or TrainConfig()
    if tc.freeze_shared and not mc.branch_tasks:
        raise ValueError("--freeze-shared needs task branches to train (--branch TASK)")
    sources = [*tc.teachers, *([tc.init_from] if tc.init_from is not None else [])]
    # Read before the first write replaces what out_dir holds.
    provenance = provenance_fields(command, sources, out_dir)
    from transformers import get_linear_schedule_with_warmup, set_seed

    torch.set_num_threads(tc.num_threads)
    set_seed(tc.seed)  # Python, NumPy and torch (CPU and CUDA) generators
    device = resolve_device(tc.device)
    started = time.time()

    tasks = tuple(data_files)
    train, dev, data_info = prepare_splits(data_files, tc)
    # Streams of batches: one per task, plus the news stream on the sentiment head.
    heads = {t.name: t.name for t in tasks}
    if news_data is not None:
        if SENTIMENT.name not in heads:
            raise ValueError("news data needs a sentiment task (it trains the sentiment head)")
        news_train, news_dev, data_info[NEWS_STREAM] = prepare_news(
            news_data, dev_file=news_dev_file, exclude_texts=_hand_written_news_texts()
        )
        train[NEWS_STREAM], dev[NEWS_STREAM] = news_train, news_dev
        heads[NEWS_STREAM] = SENTIMENT.name
        if tc.news_head == "separate":
            tasks = (*tasks, NEWS_SENTIMENT)
            heads[NEWS_STREAM] = data_info[NEWS_STREAM]["head"] = NEWS_SENTIMENT.name
    task_names = [t.name for t in tasks]
    if not set(tc.train_only) <= set(task_names):
        raise ValueError(
            f"--train-only names tasks that are not tasks of this model ({task_names})"
        )
    model, tokenizer = build_model(mc, tasks)
    if tc.init_from is not None:
        _load_weights(model, tc.init_from)
    if tc.freeze_shared:
        freeze_shared(model)
    if tc.train_only:
        train_only(model, tc.train_only)
    model.to(device)
    pad_id = tokenizer.pad_token_id or 0

    def tokenize(texts: tuple[str, ...]) -> list[list[int]]:
        return tokenizer(list(texts), truncation=True, max_length=tc.max_length)["input_ids"]

    train_ids = {name: tokenize(d.texts) for name, d in train.items()}
    dev_ids = {name: tokenize(d.texts) for name, d in dev.items()}
    names = list(train)  # tasks in order, then the news stream
    head_column = {t.name: k for k, t in enumerate(tasks)}
    sizes = [len(train[n]) for n in names]
    probs = stream_probabilities(sizes, tc=tc, news=news_data is not None)
    rng = random.Random(tc.seed)
    streams = {
        n: endless_batches(
            [len(x) for x in train_ids[n]], tc.batch_size, random.Random(tc.seed + k)
        )
        for k, n in enumerate(names)
    }
    # Distillation targets, and per stream which rows may be distilled.
    soft: dict[str, dict[str, np.ndarray]] = {}
    distill_rows: dict[str, np.ndarray] = {}
    if tc.teachers:
        # Building the teachers draws from torch's generator: fork it, so a run with a
        # teacher sees the same dropout as the same run without one.
        with torch.random.fork_rng(devices=[]):
            soft, data_info["teachers"] = teacher_probabilities(
                tc.teachers,
                train_ids,
                tasks,
                tokenizer=tokenizer,
                temperature=tc.distill_temperature,
                device=device,
            )
        distill_rows = distillable_rows(train, dev)
    # Class weights per head, from that head's tweet data.
    class_weights = {
        t.name: w
        for t in tasks
        if (w := _class_weights(train[t.name], tc.class_weights)) is not None
    }

    head_params = [p for p in model.heads.parameters() if p.requires_grad]
    head_ids = {id(p) for p in head_params}
    encoder_params = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    optimizer = torch.optim.AdamW(
        [{"params": encoder_params, "lr": tc.lr}, {"params": head_params, "lr": tc.head_lr}],
        weight_decay=tc.weight_decay,
    )
    steps_per_epoch = math.ceil(sum(sizes) / tc.batch_size)
    total_steps = tc.max_steps or steps_per_epoch * tc.epochs
    eval_at = set(evaluation_steps(total_steps=total_steps, steps_per_epoch=steps_per_epoch, tc=tc))
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
        "streams": {
            n: {"head": heads[n], "train": size, "batch_share": round(p, 4)}
            for n, size, p in zip(names, sizes, probs, strict=True)
        },
        "selection": "mean macro-F1 over the dev sets: " + ", ".join(names),
        "steps": {"total": total_steps, "per_epoch": steps_per_epoch, "eval_at": sorted(eval_at)},
        "parameters": {"trainable": trainable, "total": total_params},
        "environment": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": str(device),
            "threads": tc.num_threads,
        },
        **provenance,
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
    running: dict[str, float] = {}
    step_seconds = 0.0  # time in training steps only (not start-up, not evaluation)
    model.train()
    for step in range(total_steps + 1):
        # Step 0 trains nothing: it scores the starting weights (continued training).
        if step:
            step_started = time.time()
            k = rng.choices(range(len(names)), weights=probs)[0]
            stream = names[k]
            batch = next(streams[stream])
            input_ids, mask = pad_batch(
                [train_ids[stream][i] for i in batch], pad_id=pad_id, device=device
            )
            labels = torch.full((len(batch), len(tasks)), MISSING_LABEL, dtype=torch.long)
            labels[:, head_column[heads[stream]]] = torch.tensor(
                [train[stream].labels[i] for i in batch]
            )
            labels = labels.to(device)
            # Distillation's rows and targets, only when it teaches (R-Drop doubles them).
            keep, targets = None, {}
            if soft and tc.distill_weight:
                keep = torch.from_numpy(distill_rows[stream][batch])
                targets = {h: torch.from_numpy(p[batch]) for h, p in soft[stream].items()}
            if tc.rdrop:
                # Both passes in one batch: the rows twice over, each copy its own dropout.
                input_ids, mask = input_ids.repeat(2, 1), mask.repeat(2, 1)
                labels = labels.repeat(2, 1)
                targets = {h: p.repeat(2, 1) for h, p in targets.items()}
                keep = None if keep is None else keep.repeat(2)
            with torch.autocast("cuda", torch.bfloat16, enabled=use_bf16):
                logits = model(input_ids, mask)
            loss, per_task = joint_loss(
                logits,
                labels,
                tasks,
                task_weights={heads[stream]: tc.weight_of(stream)},
                class_weights=class_weights,
                label_smoothing=tc.label_smoothing,
            )
            if keep is not None:
                taught = distillation_loss(
                    logits, targets, keep.to(device), temperature=tc.distill_temperature
                )
                loss = loss + tc.distill_weight * torch.stack(list(taught.values())).sum()
            if tc.rdrop:
                n = len(batch)
                agree = consistency_loss(
                    {h: z[:n] for h, z in logits.items()}, {h: z[n:] for h, z in logits.items()}
                )
                loss = loss + tc.rdrop * torch.stack(list(agree.values())).sum()
            optimizer.zero_grad(set_to_none=True)
            if loss.requires_grad:  # not so for a frozen head's batch with nothing to distil
                loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.max_grad_norm)
            optimizer.step()
            scheduler.step()
            value = per_task[heads[stream]].item()
            running[stream] = 0.95 * running.get(stream, value) + 0.05 * value
            step_seconds += time.time() - step_started
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix({f"loss_{n[:4]}": f"{v:.3f}" for n, v in running.items()})
        if step not in eval_at:
            continue
        reports, dev_logits = evaluate_dev(
            model, dev_ids, dev, heads=heads, pad_id=pad_id, device=device
        )
        summary = _summary(reports)
        score = selection_score(summary)
        epoch = round(step / steps_per_epoch, 3)
        history.append(
            {
                "step": step,
                "epoch": epoch,
                "seconds": round(time.time() - started, 1),
                "step_seconds": round(step_seconds, 1),
                "dev": summary,
                "selection": round(score, 4),
            }
        )
        if tc.progress:
            # On stderr, with the bar: stdout carries only the command's own output.
            bar.write(
                f"step {step} (epoch {epoch}): dev {json.dumps(summary)} selection {score:.4f}",
                file=sys.stderr,
            )
        if tc.keep_checkpoints or score > best_score:
            # One temperature per head, fitted on that head's tweet dev split.
            temperatures, calibration = calibrate({t.name: dev_logits[t.name] for t in tasks}, dev)
        if tc.keep_checkpoints:
            step_card = {**card, "dev_metrics": {t.name: summary[t.name] for t in tasks}}
            step_card.pop("previous_version", None)  # out_dir's, not the step directory's
            step_card.update(
                history=list(history),
                news_dev_metrics=summary.get(NEWS_STREAM),
                best_step=step,
                best_epoch=epoch,
                selection_score=round(score, 4),
                calibration=calibration,
            )
            write_model_dir(
                model, tokenizer, checkpoint_dir(out_dir, step), mc, temperatures, step_card
            )
            model.to(device)
        if score > best_score:
            # Keep the best model on disk at once: a run cut short still leaves a model.
            best_score = score
            card.update(
                dev_metrics={t.name: summary[t.name] for t in tasks},
                news_dev_metrics=summary.get(NEWS_STREAM),
                dev_reports=reports,
                best_epoch=epoch,
                best_step=step,
                selection_score=round(score, 4),
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
