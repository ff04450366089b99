"""What an alert carries: :class:`Evidence`, written by the lifecycle, read by attribute.

An alert stores its evidence as JSON (``alerts.evidence``) and sends the same JSON in the
webhook body. :meth:`Evidence.to_json` writes exactly the dict finsent has always stored
(same keys, same order, timestamps as ISO 8601 text), and :meth:`Evidence.from_json`
reads it back, so stored alerts and receivers see no difference; readers — notifiers,
``finsent alerts``, the demo, the dashboard — use :func:`evidence_of` and attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pipeline.alerts.counts import Headline
from pipeline.db import iso
from pipeline.schema import Alert

LINK_SCHEMES = ("http", "https")


def safe_link(url: str | None) -> str | None:
    """``url`` if it is an http(s) link, else None: a ``javascript:`` or ``data:`` link
    from a feed must never become clickable in anything finsent sends."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    return url if parts.scheme.lower() in LINK_SCHEMES and parts.netloc else None


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def _maybe_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)


def headline_from_json(data: dict[str, Any]) -> Headline:
    return Headline(
        article_id=int(data["article_id"]),
        title=str(data["title"]),
        link=data.get("link"),
        published_at=_time(data["published_at"]),
        topic=str(data["topic"]),
        p_negative=float(data["p_negative"]),
    )


@dataclass(frozen=True)
class LatestEvaluation:
    """The scope's window at the most recent evaluation of a firing (or resolved) alert.

    ``baseline`` and ``p_value`` are None when the scope had no articles at all then
    (and are then left out of the JSON, as they always were).
    """

    evaluated_at: datetime
    n: int
    negatives: int
    share: float | None
    baseline: float | None = None
    p_value: float | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "evaluated_at": iso(self.evaluated_at),
            "n": self.n,
            "negatives": self.negatives,
            "share": self.share,
        }
        if self.baseline is not None or self.p_value is not None:
            data["baseline"] = self.baseline
            data["p_value"] = self.p_value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatestEvaluation:
        return cls(
            evaluated_at=_time(data["evaluated_at"]),
            n=int(data["n"]),
            negatives=int(data["negatives"]),
            share=_maybe_float(data.get("share")),
            baseline=_maybe_float(data.get("baseline")),
            p_value=_maybe_float(data.get("p_value")),
        )


@dataclass(frozen=True)
class Evidence:
    """Why an alert fired: the window and baseline it compared, the rule's verdict and
    thresholds, the model, the most negative headlines, and any silence.

    The fields from ``n`` to ``sustains`` are the rule's
    :class:`~pipeline.alerts.rule.Evaluation` when the alert opened (or last pended).
    ``latest`` is the most recent evaluation once the alert fires on.
    """

    window_start: datetime
    window_end: datetime
    window_hours: float
    baseline_start: datetime
    baseline_days: float
    n: int
    negatives: int
    share: float
    baseline: float
    baseline_n: int
    baseline_negatives: int
    lift: float
    p_value: float
    lift_p_value: float
    fires: bool
    sustains: bool
    alpha: float
    min_volume: int
    min_lift: float
    model_version: str
    headlines: tuple[Headline, ...] = ()
    silenced_until: datetime | None = None
    latest: LatestEvaluation | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored (and sent) dict; ``latest`` appears once there is one."""
        data: dict[str, Any] = {
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
            "window_hours": self.window_hours,
            "baseline_start": iso(self.baseline_start),
            "baseline_days": self.baseline_days,
            "n": self.n,
            "negatives": self.negatives,
            "share": self.share,
            "baseline": self.baseline,
            "baseline_n": self.baseline_n,
            "baseline_negatives": self.baseline_negatives,
            "lift": self.lift,
            "p_value": self.p_value,
            "lift_p_value": self.lift_p_value,
            "fires": self.fires,
            "sustains": self.sustains,
            "alpha": self.alpha,
            "min_volume": self.min_volume,
            "min_lift": self.min_lift,
            "model_version": self.model_version,
            "headlines": [headline.as_dict() for headline in self.headlines],
            "silenced_until": iso(self.silenced_until),
        }
        if self.latest is not None:
            data["latest"] = self.latest.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        """Read a stored evidence dict; a ValueError names what is missing or malformed."""
        try:
            latest = data.get("latest")
            return cls(
                window_start=_time(data["window_start"]),
                window_end=_time(data["window_end"]),
                window_hours=float(data["window_hours"]),
                baseline_start=_time(data["baseline_start"]),
                baseline_days=float(data["baseline_days"]),
                n=int(data["n"]),
                negatives=int(data["negatives"]),
                share=float(data["share"]),
                baseline=float(data["baseline"]),
                baseline_n=int(data["baseline_n"]),
                baseline_negatives=int(data["baseline_negatives"]),
                lift=float(data["lift"]),
                p_value=float(data["p_value"]),
                lift_p_value=float(data["lift_p_value"]),
                fires=bool(data["fires"]),
                sustains=bool(data["sustains"]),
                alpha=float(data["alpha"]),
                min_volume=int(data["min_volume"]),
                min_lift=float(data["min_lift"]),
                model_version=str(data["model_version"]),
                headlines=tuple(headline_from_json(h) for h in data.get("headlines") or ()),
                silenced_until=_maybe_time(data.get("silenced_until")),
                latest=None if latest is None else LatestEvaluation.from_json(latest),
            )
        except KeyError as exc:
            raise ValueError(f"alert evidence has no {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise ValueError(f"alert evidence is malformed: {exc}") from exc

    def with_safe_links(self) -> Evidence:
        """The same evidence with every headline link that is not http(s) set to None."""
        headlines = tuple(replace(h, link=safe_link(h.link)) for h in self.headlines)
        return replace(self, headlines=headlines)


def evidence_of(alert: Alert) -> Evidence:
    """The typed evidence of a stored alert."""
    return Evidence.from_json(alert.evidence)
