"""Inference: ``Scorer.from_pretrained(dir).predict(texts)`` — both heads in one pass."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from models.checkpoint import HEADS_TRAINED, LoadedModel, load_model_dir
from models.metrics import softmax
from models.network import MultiTaskModel
from models.tasks import NEWS_SENTIMENT, SENTIMENT, TOPIC, TaskSpec
from models.text import MAX_CHARS_PER_TOKEN, clean_text, fit_to_token_budget

# fp32 on CPU (issue 12, measured in BENCHMARKS.md "The CPU default"): dynamic int8 costs
# 2.8 points of sentiment accuracy on the hand-written news set (0.4 on the news dev split,
# 0.9 on tweet topics) for 1.5x the per-text speed, while fp32 `finsent predict` is already
# 6x the two-pipeline baseline (target 3x). int8 stays one setting away
# (FINSENT_QUANTIZE=int8, --quantize int8). CUDA runs bf16 autocast instead.
CPU_DEFAULT_QUANTIZE = "none"
QUANTIZE_CHOICES = ("none", "int8")


@dataclass(frozen=True)
class Prediction:
    """One text's labels and calibrated probabilities."""

    topic: str
    topic_probability: float
    topic_probabilities: dict[str, float]
    sentiment: str
    sentiment_probabilities: dict[str, float]
    sentiment_score: float  # P(positive) - P(negative), in [-1, 1]

    def as_dict(self) -> dict:
        return asdict(self)


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda`` without CUDA is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    return torch.device(device)


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of every ``nn.Linear`` (weights int8, activations on the fly)."""
    import warnings

    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch marks quantised tensor creation deprecated (moving to torchao); it still
        # works in the pinned torch 2.13 and torchao is not a dependency.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def length_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Index batches of texts with similar length (less padding); covers every index once."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def pad_batch(
    ids: Sequence[Sequence[int]], *, pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token ids to the longest in the batch: (input_ids, attention_mask)."""
    width = max(1, max(len(row) for row in ids))
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    if device.type == "cuda":
        # Pinned host memory lets the copy overlap with the previous batch's compute.
        input_ids = input_ids.pin_memory().to(device, non_blocking=True)
        mask = mask.pin_memory().to(device, non_blocking=True)
    return input_ids, mask


def logits_for_ids(
    model: MultiTaskModel,
    ids: Sequence[Sequence[int]],
    *,
    pad_id: int,
    device: torch.device,
    batch_size: int = 64,
) -> dict[str, np.ndarray]:
    """Logits per task, (n, n_labels), in input order; batches sorted by length."""
    n = len(ids)
    out = {t.name: np.zeros((n, t.num_labels), dtype=np.float32) for t in model.tasks}
    if n == 0:
        return out
    use_bf16 = device.type == "cuda"
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=use_bf16):
            for batch in length_batches([len(row) for row in ids], batch_size):
                input_ids, mask = pad_batch([ids[i] for i in batch], pad_id=pad_id, device=device)
                for name, value in model(input_ids, mask).items():
                    out[name][batch] = value.float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


class Scorer:
    """Scores texts with a finsent model directory.

    >>> scorer = Scorer.from_pretrained("models/finsent-minilm")  # doctest: +SKIP
    >>> scorer.predict(["Acme cuts full-year outlook"])[0].sentiment  # doctest: +SKIP
    'negative'
    """

    def __init__(
        self,
        model: MultiTaskModel,
        tokenizer: Any,
        *,
        tasks: Sequence[TaskSpec],
        temperatures: dict[str, float],
        max_length: int,
        version: str,
        device: torch.device,
        quantize: str,
        card: dict | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.tasks = tuple(tasks)
        self.temperatures = temperatures
        self.max_length = max_length
        self.version = version
        self.device = device
        self.quantize = quantize
        self.card = card or {}

    @classmethod
    def from_pretrained(
        cls, model_dir: str | Path, *, device: str = "auto", quantize: str | None = None
    ) -> Scorer:
        """Load a model directory. ``quantize``: None = the device's default
        (:data:`CPU_DEFAULT_QUANTIZE` on CPU, none on CUDA), ``"none"`` (fp32) or
        ``"int8"`` (dynamic int8, CPU only)."""
        dev = resolve_device(device)
        if quantize is None:
            quantize = CPU_DEFAULT_QUANTIZE if dev.type == "cpu" else "none"
        if quantize not in QUANTIZE_CHOICES:
            raise ValueError(
                f"quantize must be one of {QUANTIZE_CHOICES} or None, got {quantize!r}"
            )
        if quantize == "int8" and dev.type != "cpu":
            raise ValueError("int8 quantisation runs on CPU only; use quantize='none' on CUDA")
        loaded = load_model_dir(model_dir, merge_adapter=True)
        model = loaded.model
        if quantize == "int8":
            model = cast(MultiTaskModel, quantize_int8(model))
        model.to(dev).eval()
        version = loaded.card.get("version") or Path(model_dir).name
        return cls.from_loaded(
            loaded, model=model, version=str(version), device=dev, quantize=quantize
        )

    @classmethod
    def from_loaded(
        cls,
        loaded: LoadedModel,
        *,
        model: MultiTaskModel | None = None,
        version: str,
        device: torch.device,
        quantize: str,
    ) -> Scorer:
        """A scorer of a loaded model directory (``model``: other weights of the same
        architecture in its place, e.g. a soup being evaluated)."""
        return cls(
            loaded.model if model is None else model,
            loaded.tokenizer,
            tasks=loaded.tasks,
            temperatures=loaded.temperatures,
            max_length=loaded.model_config.max_length,
            version=version,
            device=device,
            quantize=quantize,
            card=loaded.card,
        )

    def fit_to_length(self, texts: Sequence[str], *, max_length: int | None = None) -> list[str]:
        """Each text cut at a token boundary so that the model reads all of it: at most
        ``max_length`` tokens (default: the model's own ``max_length``), special tokens
        included. Texts are not cleaned here; clean them first (:func:`models.clean_text`)
        and predict with ``clean=False``, so what is cut is exactly what the model reads.

        >>> scorer.fit_to_length(["Acme beats estimates"], max_length=4)  # doctest: +SKIP
        ['Acme beats']
        """
        limit = self.max_length if max_length is None else max_length
        if limit < 1:
            raise ValueError(f"max_length must be >= 1, got {limit}")
        return fit_to_token_budget(texts, tokenizer=self.tokenizer, max_length=limit)

    def _tokenize(self, texts: Sequence[str], *, clean: bool) -> list[list[int]]:
        # The character cap keeps a pathological megabyte "article" from stalling the
        # tokenizer; fit_to_length cuts with the same bound, so a fitted text is never cut.
        cap = self.max_length * MAX_CHARS_PER_TOKEN
        prepared = [(clean_text(t) if clean else t)[:cap] for t in texts]
        encoded = self.tokenizer(
            prepared, truncation=True, max_length=self.max_length, padding=False
        )
        return encoded["input_ids"]

    def predict_logits(
        self, texts: Sequence[str], *, batch_size: int = 64, clean: bool = True
    ) -> dict[str, np.ndarray]:
        """Raw (uncalibrated) logits per task, (n_texts, n_labels), in input order.
        ``clean=False``: the texts were already cleaned (:func:`models.clean_text`)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(texts) == 0:
            return {t.name: np.zeros((0, t.num_labels), dtype=np.float32) for t in self.tasks}
        return logits_for_ids(
            self.model,
            self._tokenize(texts, clean=clean),
            pad_id=self.tokenizer.pad_token_id or 0,
            device=self.device,
            batch_size=batch_size,
        )

    def calibrated(self, logits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Probabilities per task from raw logits: softmax(logits / T) with each head's
        temperature (fitted on the development split when the model was trained)."""
        return {
            name: softmax(value / self.temperatures.get(name, 1.0))
            for name, value in logits.items()
        }

    def predict_proba(
        self, texts: Sequence[str], *, batch_size: int = 64, clean: bool = True
    ) -> dict[str, np.ndarray]:
        """Calibrated probabilities per task, (n_texts, n_labels), in input order."""
        return self.calibrated(self.predict_logits(texts, batch_size=batch_size, clean=clean))

    def predict(
        self, texts: Sequence[str], *, batch_size: int = 64, clean: bool = True
    ) -> list[Prediction]:
        """Topic and sentiment for each text, in input order.

        Texts are cleaned first (:func:`models.clean_text`: HTML entities and tags, links,
        cashtags, whitespace), as in training; pass ``clean=False`` for texts that already
        are, and longer texts are cut to ``max_length`` tokens (see :meth:`fit_to_length`).

        >>> [p.sentiment for p in scorer.predict(["Acme raises guidance"])]  # doctest: +SKIP
        ['positive']
        """
        if isinstance(texts, str):
            raise TypeError("predict takes a sequence of texts, not one string")
        self.check_labels_articles()
        probs = self.predict_proba(texts, batch_size=batch_size, clean=clean)
        topic_spec = self._task("topic")
        sent_spec = self._task(self.article_sentiment_head)
        topic_p, sent_p = probs["topic"], probs[sent_spec.name]
        i_neg = sent_spec.label_index("negative")
        i_pos = sent_spec.label_index("positive")
        predictions = []
        for tp, sp in zip(topic_p.tolist(), sent_p.tolist(), strict=True):
            t_best = max(range(len(tp)), key=tp.__getitem__)
            s_best = max(range(len(sp)), key=sp.__getitem__)
            predictions.append(
                Prediction(
                    topic=topic_spec.labels[t_best],
                    topic_probability=tp[t_best],
                    topic_probabilities=dict(zip(topic_spec.labels, tp, strict=True)),
                    sentiment=sent_spec.labels[s_best],
                    sentiment_probabilities=dict(zip(sent_spec.labels, sp, strict=True)),
                    sentiment_score=sp[i_pos] - sp[i_neg],
                )
            )
        return predictions

    @property
    def article_sentiment_head(self) -> str:
        """The head whose sentiment :meth:`predict` reports: the news head when the model
        was trained with one (``--news-head separate``), else the shared sentiment head."""
        names = {task.name for task in self.tasks}
        return NEWS_SENTIMENT.name if NEWS_SENTIMENT.name in names else SENTIMENT.name

    def check_labels_articles(self) -> None:
        """Raise ``ValueError`` unless this model can label an article: a topic head and a
        sentiment head. A single-task model (``finsent train`` with one task) is a teacher
        or a study arm; it can be evaluated (:meth:`predict_proba`) but not label articles."""
        if self.card.get(HEADS_TRAINED) is False:
            raise ValueError(
                "the model's heads are untrained (an encoder from finsent adapt): "
                "train from it with finsent train --init-from, then label with that model"
            )
        names = [task.name for task in self.tasks]
        missing = [name for name in (TOPIC.name, SENTIMENT.name) if name not in names]
        if missing:
            raise ValueError(
                f"the model has no {' or '.join(missing)} head (it has {', '.join(names)}); "
                "labelling articles needs both topic and sentiment, so use a joint model "
                "(a single-task model is for --teacher and evaluation)"
            )

    def _task(self, name: str) -> TaskSpec:
        for task in self.tasks:
            if task.name == name:
                return task
        raise ValueError(f"model has no {name!r} task (tasks: {[t.name for t in self.tasks]})")
