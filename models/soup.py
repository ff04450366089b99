"""Model soups: one model whose weights are the average of several fine-tuned finsent
models of the same architecture (Wortsman et al., 2022, "Model soups").

Averaging the weights of checkpoints fine-tuned from the same pretrained encoder — the
evaluated steps of one run (``finsent train --keep-checkpoints``), or runs with other
seeds — often scores better than any one of them, at no cost at inference: the soup is
one model of the same size. The **greedy** soup takes the ingredients best first and keeps
each only if the soup's selection score (the mean macro-F1 over the tweet dev splits and
the news dev split, as in training) does not fall; the **uniform** soup averages them all.
Temperatures are then fitted per head on the tweet dev split, as training does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.checkpoint import CARD, LoadedModel, load_model_dir
from models.data import NEWS_DEV_FILE, TaskData, read_labelled_csv
from models.evaluate import tweet_dev_sets
from models.metrics import classification_report
from models.network import MultiTaskModel
from models.provenance import DIRECTORY_FIELDS, provenance_fields
from models.scorer import Scorer
from models.tasks import SENTIMENT, TaskSpec
from models.text import clean_text
from models.train import NEWS_STREAM, calibrate, selection_score, write_model_dir

SOUP_METHODS = ("greedy", "uniform")


@dataclass(frozen=True)
class DevSet:
    """One development set: its data and the head that scores it."""

    data: TaskData
    head: str


def dev_sets(
    card: Mapping[str, Any], tasks: Sequence[TaskSpec], news_dev_file: Path
) -> dict[str, DevSet]:
    """The sets a soup is selected on: each task's tweet dev split (from the card) and,
    when ``news_dev_file`` exists, the news dev split on the news head if the model has
    one, else on the sentiment head."""
    sets = {name: DevSet(data, name) for name, data in tweet_dev_sets(card, tasks).items()}
    if news_dev_file.is_file():
        texts, columns = read_labelled_csv(news_dev_file)
        data = TaskData(
            SENTIMENT,
            tuple(clean_text(t) for t in texts),
            tuple(SENTIMENT.encode(columns["sentiment"])),
        )
        # A model with a news head (``--news-head separate``) reads news with it.
        head = NEWS_STREAM if any(t.name == NEWS_STREAM for t in tasks) else SENTIMENT.name
        sets[NEWS_STREAM] = DevSet(data, head)
    return sets


def _check_compatible(ingredients: Sequence[LoadedModel], dirs: Sequence[Path]) -> None:
    first = ingredients[0]
    if first.model_config.method != "full":
        # LoRA directories load merged; their soup would have to be stored as an adapter.
        raise ValueError(f"{dirs[0]}: soups are made of full fine-tuned models (--method full)")
    for loaded, path in zip(ingredients[1:], dirs[1:], strict=True):
        if loaded.tasks != first.tasks or loaded.model_config != first.model_config:
            raise ValueError(
                f"{path} has other tasks or another model configuration than {dirs[0]}; "
                "a soup averages models of one architecture"
            )


def average_into(target: MultiTaskModel, ingredients: Sequence[LoadedModel]) -> MultiTaskModel:
    """Load the uniform average of the ingredients' weights into ``target`` (fp32)."""
    states = [m.model.state_dict() for m in ingredients]
    averaged = {
        key: (
            torch.stack([s[key].float() for s in states]).mean(0)
            if value.is_floating_point()
            else value
        )
        for key, value in states[0].items()
    }
    target.load_state_dict(averaged)
    return target.eval()


def _scorer(model: MultiTaskModel, loaded: LoadedModel) -> Scorer:
    return Scorer.from_loaded(
        loaded, model=model, version="soup", device=torch.device("cpu"), quantize="none"
    )


def score_sets(
    scorer: Scorer, sets: Mapping[str, DevSet], *, batch_size: int = 128
) -> tuple[float, dict[str, dict], dict[str, np.ndarray]]:
    """(selection score, report per set, logits of each set's head) at inference settings."""
    reports, logits = {}, {}
    for name, dev in sets.items():
        out = scorer.predict_logits(list(dev.data.texts), batch_size=batch_size, clean=False)
        logits[name] = out[dev.head]
        reports[name] = classification_report(
            dev.data.labels, logits[name].argmax(1).tolist(), dev.data.task.labels
        )
    summary = {n: {"macro_f1": r["macro_f1"]} for n, r in reports.items()}
    return selection_score(summary), reports, logits


def _origin(card: Mapping[str, Any], best: Mapping[str, Any]) -> dict[str, Any]:
    """What an ingredient is, beyond its version: a soup's own ``soup`` record, or the
    ``train_config`` (and teachers) of a run other than the best ingredient's, whose
    configuration is the soup card's own."""
    if "soup" in card:
        return {"soup": card["soup"]}
    if card.get("train_config") == best.get("train_config"):
        return {}
    origin: dict[str, Any] = {"train_config": card.get("train_config")}
    teachers = (card.get("data") or {}).get("teachers")
    if teachers:
        origin["teachers"] = teachers
    return origin


def make_soup(
    model_dirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    method: str = "greedy",
    news_dev_file: str | Path = NEWS_DEV_FILE,
    log: Callable[[str], None] | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Average ``model_dirs`` (greedy or uniform, see the module) into ``out_dir`` and
    return the soup's card. The card is the best ingredient's, with the soup's dev figures,
    temperatures and a ``soup`` record (every ingredient's score, which were kept, and
    where each came from). ``command`` (the ``finsent soup`` line) ends the card's
    ``reproduce``, after every ingredient's chain (:mod:`models.provenance`)."""
    if method not in SOUP_METHODS:
        raise ValueError(f"method must be one of {SOUP_METHODS}, got {method!r}")
    dirs = [Path(d) for d in model_dirs]
    if len(dirs) < 2:
        raise ValueError("a soup needs at least two model directories")
    ingredients = [load_model_dir(d) for d in dirs]
    _check_compatible(ingredients, dirs)
    # Every ingredient was tried, so every one's chain is needed to rebuild the soup.
    provenance = provenance_fields(command, dirs, out_dir)
    base = ingredients[0]
    sets = dev_sets(base.card, base.tasks, Path(news_dev_file))
    say = log or (lambda message: None)

    scores = []
    for path, loaded in zip(dirs, ingredients, strict=True):
        score, _, _ = score_sets(_scorer(loaded.model, loaded), sets)
        scores.append(score)
        say(f"ingredient {path}: selection {score:.4f}")
    order = sorted(range(len(dirs)), key=lambda i: -scores[i])
    best = ingredients[order[0]]
    target = copy.deepcopy(best.model)  # a scratch copy to average into
    kept = [order[0]]
    best_score = scores[order[0]]
    trials = []
    if method == "uniform":
        kept = order
    else:
        for i in order[1:]:
            average_into(target, [ingredients[k] for k in [*kept, i]])
            score, _, _ = score_sets(_scorer(target, best), sets)
            accepted = score >= best_score
            trials.append({"add": str(dirs[i]), "selection": round(score, 4), "kept": accepted})
            say(f"soup + {dirs[i]}: selection {score:.4f} ({'kept' if accepted else 'dropped'})")
            if accepted:
                kept.append(i)
                best_score = score
    average_into(target, [ingredients[k] for k in kept])
    score, reports, logits = score_sets(_scorer(target, best), sets)
    tweet = {name: sets[name].data for name in (t.name for t in best.tasks)}
    temperatures, calibration = calibrate({name: logits[name] for name in tweet}, tweet)
    brief = {
        name: {k: round(r[k], 4) for k in ("accuracy", "macro_f1", "weighted_f1")}
        for name, r in reports.items()
    }
    card = {k: v for k, v in best.card.items() if k not in DIRECTORY_FIELDS}
    card.update(
        dev_metrics={name: brief[name] for name in tweet},
        news_dev_metrics=brief.get(NEWS_STREAM),
        dev_reports=reports,
        selection_score=round(score, 4),
        calibration=calibration,
        soup={
            "method": method,
            "note": "train_config, steps, history, best_step and best_epoch are those of the "
            "best ingredient's run; every ingredient is listed below",
            "scored_at": "inference settings (the model's max_length), fp32",
            "ingredients": [
                {
                    "dir": str(path),
                    "version": loaded.card.get("version"),
                    "selection": round(scores[k], 4),
                    "kept": k in kept,
                    **_origin(loaded.card, best.card),
                }
                for k, (path, loaded) in enumerate(zip(dirs, ingredients, strict=True))
            ],
            "trials": trials,
        },
        **provenance,
    )
    write_model_dir(target, best.tokenizer, out_dir, best.model_config, temperatures, card)
    say(f"soup of {len(kept)} of {len(dirs)}: selection {score:.4f} -> {out_dir}")
    return dict(json.loads((Path(out_dir) / CARD).read_text()))
