"""Tasks are data: a spec (name + label names) drives heads, losses, metrics and outputs."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# Label -100 marks "this example carries no label for this task" (PyTorch's ignore_index).
MISSING_LABEL = -100

TOPIC_LABELS: tuple[str, ...] = (
    "Analyst Update",
    "Fed | Central Banks",
    "Company | Product News",
    "Treasuries | Corporate Debt",
    "Dividend",
    "Earnings",
    "Energy | Oil",
    "Financials",
    "Currencies",
    "General News | Opinion",
    "Gold | Metals | Materials",
    "IPO",
    "Legal | Regulation",
    "M&A | Investments",
    "Macro",
    "Markets",
    "Politics",
    "Personnel Change",
    "Stock Commentary",
    "Stock Movement",
)
SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")


class UnknownLabelError(ValueError):
    """A data file holds label names the task does not know."""


@dataclass(frozen=True)
class TaskSpec:
    """One classification task: its name (a CSV column) and its label names, in head order."""

    name: str
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"task name {self.name!r} must be lowercase letters, digits and '_', "
                "starting with a letter"
            )
        # Accept lists from JSON but store a tuple so the spec stays hashable and frozen.
        object.__setattr__(self, "labels", tuple(self.labels))
        if len(self.labels) < 2:
            raise ValueError(f"task {self.name!r} needs at least 2 labels, got {len(self.labels)}")
        if any(not isinstance(label, str) or not label.strip() for label in self.labels):
            raise ValueError(f"task {self.name!r} has an empty or non-string label name")
        duplicates = sorted({label for label in self.labels if self.labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"task {self.name!r} has duplicate labels: {duplicates}")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def label_index(self, label: str) -> int:
        """The head index of ``label``; :class:`UnknownLabelError` names it if unknown."""
        try:
            return self.labels.index(label)
        except ValueError:
            raise UnknownLabelError(
                f"unknown {self.name} label {label!r}; known: {', '.join(self.labels)}"
            ) from None

    def encode(self, labels: list[str]) -> list[int]:
        """Label names → indices, naming every unknown label at once."""
        unknown = sorted({label for label in labels if label not in self.labels})
        if unknown:
            raise UnknownLabelError(
                f"unknown {self.name} label(s) {unknown}; known: {', '.join(self.labels)}"
            )
        return [self.labels.index(label) for label in labels]

    def as_dict(self) -> dict:
        return {"name": self.name, "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, data: dict) -> TaskSpec:
        return cls(name=data["name"], labels=tuple(data["labels"]))


TOPIC = TaskSpec("topic", TOPIC_LABELS)
SENTIMENT = TaskSpec("sentiment", SENTIMENT_LABELS)
DEFAULT_TASKS: tuple[TaskSpec, ...] = (TOPIC, SENTIMENT)
# The optional head of news sentences (``finsent train --news-head separate``): sentiment's
# labels, trained on news only. A model that has it scores articles with it.
NEWS_SENTIMENT = TaskSpec("news_sentiment", SENTIMENT_LABELS)
