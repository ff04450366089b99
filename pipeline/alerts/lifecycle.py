"""Alert lifecycle: evaluate every scope, move alerts pending -> firing -> resolved, notify.

Modelled on Prometheus alerting rules and Alertmanager:

* One rule (``NegativeNewsSurge``), one alert *episode* per scope at a time: at most one
  open (pending or firing) alert per (rule, scope, topic).
* ``for``: an alert is *pending* while the firing condition has held for fewer than
  ``detect_for_evaluations`` consecutive evaluations. The default, 1, fires at the first
  evaluation where the condition holds (as a Prometheus rule without ``for``): a burst
  is reported by the first ``detect`` after it. A pending alert whose condition stops
  holding is dropped without a word, as Prometheus does.
* A firing alert resolves when the window falls back under the sustain threshold
  (:mod:`pipeline.alerts.rule`), and a resolved message goes to every target told of the firing.
* Silences suppress notifications for a scope until a time; the alert is still recorded,
  its evidence says it was silenced, and a firing alert is announced once the silence
  ends if it is still firing then.
* Acknowledging records ``acknowledged_at``; it changes nothing else.

The current model version is, unless given, the one that scored most recently
(:func:`pipeline.alerts.counts.latest_model_version`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.alerts.counts import (
    SentimentCounts,
    compact_score_hours,
    latest_model_version,
    most_negative_headlines,
    sentiment_counts_by_topic,
)
from pipeline.alerts.deliveries import (
    fingerprint,
    notified_targets,
    schedule_deliveries,
    send_due_deliveries,
)
from pipeline.alerts.evidence import Evidence, LatestEvaluation, evidence_of
from pipeline.alerts.notify import Notifier, notifiers_from_settings
from pipeline.alerts.rule import ALL_SCOPE, RULE_NAME, Counts, DetectorConfig, Evaluation
from pipeline.alerts.rule import evaluate_scopes as _evaluate_scopes
from pipeline.alerts.states import OPEN_ALERT_STATES, AlertState, DeliveryEvent
from pipeline.db import iso, utcnow
from pipeline.errors import FinsentError
from pipeline.schema import Alert, Silence
from pipeline.settings import Settings


@dataclass
class DetectReport:
    """What one ``detect`` run did. ``notified``/``failed`` count delivery attempts."""

    opened: int = 0  # alerts that started firing
    resolved: int = 0  # firing alerts that resolved
    notified: int = 0
    failed: int = 0
    pending: int = 0  # open alerts waiting for detect_for_evaluations
    firing: int = 0  # open firing alerts after this run
    silenced: int = 0  # alerts that changed state under a silence (nobody told)
    scopes: int = 0  # scopes evaluated (0: not enough history yet)
    model_version: str | None = None
    evaluated_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["evaluated_at"] = iso(self.evaluated_at)
        return data


def detector_config(settings: Settings) -> DetectorConfig:
    """The rule's thresholds from ``FINSENT_DETECT_*``."""
    return DetectorConfig(
        alpha=settings.detect_alpha,
        min_volume=settings.detect_min_volume,
        min_lift=settings.detect_min_lift,
        lift_alpha=settings.detect_lift_alpha,
        prior_strength=settings.detect_prior_strength,
        resolve_alpha=settings.detect_resolve_alpha,
        resolve_lift=settings.detect_resolve_lift,
        min_baseline_volume=settings.detect_min_baseline_volume,
    )


def _as_detector_counts(counts: dict[str, SentimentCounts]) -> dict[str, Counts]:
    # A topic literally named "all" would collide with the all-articles scope; the model's
    # topics never are, and skipping it keeps the all scope honest.
    return {t: Counts(c.total, c.negative) for t, c in counts.items() if t != ALL_SCOPE}


def _active_silences(session: Session, now: datetime) -> dict[str, datetime]:
    until: dict[str, datetime] = {}
    for silence in session.scalars(select(Silence).where(Silence.until > now)):
        until[silence.scope] = max(silence.until, until.get(silence.scope, silence.until))
    return until


@dataclass
class _Context:
    session: Session
    settings: Settings
    config: DetectorConfig
    notifiers: Sequence[Notifier]
    model_version: str
    now: datetime
    window_start: datetime
    baseline_start: datetime
    silences: dict[str, datetime]
    report: DetectReport

    def silenced_until(self, topic: str) -> datetime | None:
        times = [t for key in (topic, "*") if (t := self.silences.get(key))]
        return max(times) if times else None


def _evidence(ctx: _Context, topic: str, ev: Evaluation) -> Evidence:
    headlines = most_negative_headlines(
        session=ctx.session,
        model_version=ctx.model_version,
        start=ctx.window_start,
        end=ctx.now,
        topic=None if topic == ALL_SCOPE else topic,
        limit=ctx.settings.detect_top_headlines,
    )
    return Evidence(
        window_start=ctx.window_start,
        window_end=ctx.now,
        window_hours=ctx.settings.detect_window_hours,
        baseline_start=ctx.baseline_start,
        baseline_days=ctx.settings.detect_baseline_days,
        n=ev.n,
        negatives=ev.negatives,
        share=ev.share,
        baseline=ev.baseline,
        baseline_n=ev.baseline_n,
        baseline_negatives=ev.baseline_negatives,
        lift=ev.lift,
        p_value=ev.p_value,
        lift_p_value=ev.lift_p_value,
        fires=ev.fires,
        sustains=ev.sustains,
        alpha=ctx.config.alpha,
        min_volume=ctx.config.min_volume,
        min_lift=ctx.config.min_lift,
        model_version=ctx.model_version,
        headlines=tuple(headlines),
    )


def _latest(ctx: _Context, ev: Evaluation | None) -> LatestEvaluation:
    if ev is None:
        return LatestEvaluation(evaluated_at=ctx.now, n=0, negatives=0, share=None)
    return LatestEvaluation(
        evaluated_at=ctx.now,
        n=ev.n,
        negatives=ev.negatives,
        share=ev.share,
        baseline=ev.baseline,
        p_value=ev.p_value,
    )


def _update_evidence(alert: Alert, **changes: Any) -> None:
    alert.evidence = replace(evidence_of(alert), **changes).to_json()


def _fire(ctx: _Context, alert: Alert) -> None:
    alert.state = AlertState.FIRING
    alert.fired_at = ctx.now
    ctx.report.opened += 1
    until = ctx.silenced_until(alert.topic)
    if until is not None:
        _update_evidence(alert, silenced_until=until)
        ctx.report.silenced += 1
        return
    schedule_deliveries(
        session=ctx.session,
        alert=alert,
        event=DeliveryEvent.FIRING,
        notifiers=ctx.notifiers,
        now=ctx.now,
    )


def _resolve(ctx: _Context, alert: Alert, ev: Evaluation | None) -> None:
    alert.state = AlertState.RESOLVED
    alert.resolved_at = ctx.now
    _update_evidence(alert, latest=_latest(ctx, ev))
    ctx.report.resolved += 1
    if ctx.silenced_until(alert.topic) is not None:
        ctx.report.silenced += 1
        return
    told = notified_targets(session=ctx.session, alert_id=alert.id)
    if told:
        schedule_deliveries(
            session=ctx.session,
            alert=alert,
            event=DeliveryEvent.RESOLVED,
            notifiers=ctx.notifiers,
            now=ctx.now,
            only_targets=told,
        )


def _step(ctx: _Context, topic: str, ev: Evaluation | None, alert: Alert | None) -> None:
    """Advance one scope's alert by one evaluation."""
    scope = "all" if topic == ALL_SCOPE else "topic"
    holds = ev is not None and ev.fires
    if alert is None:
        if not holds:
            return
        assert ev is not None
        labels = {"alertname": RULE_NAME, "scope": scope, "topic": topic}
        alert = Alert(
            rule=RULE_NAME,
            scope=scope,
            topic=topic,
            state=AlertState.PENDING,
            started_at=ctx.now,
            last_evaluated_at=ctx.now,
            evaluations=1,
            fingerprint=fingerprint(labels),
            model_version=ctx.model_version,
            evidence=_evidence(ctx, topic, ev).to_json(),
        )
        ctx.session.add(alert)
        ctx.session.flush()
    elif alert.state == AlertState.PENDING:
        if not holds:
            ctx.session.delete(alert)  # never fired, never announced: forget it
            return
        assert ev is not None
        alert.evaluations += 1
        alert.last_evaluated_at = ctx.now
        alert.evidence = _evidence(ctx, topic, ev).to_json()
    else:  # firing
        alert.last_evaluated_at = ctx.now
        if ev is None or not ev.sustains:
            _resolve(ctx, alert, ev)
            return
        _update_evidence(alert, latest=_latest(ctx, ev))
        if ctx.silenced_until(topic) is None and not notified_targets(
            session=ctx.session, alert_id=alert.id
        ):
            # Fired under a silence that has ended while it still fires: announce it now.
            _update_evidence(alert, silenced_until=None)
            schedule_deliveries(
                session=ctx.session,
                alert=alert,
                event=DeliveryEvent.FIRING,
                notifiers=ctx.notifiers,
                now=ctx.now,
            )
        return
    if alert.evaluations >= max(1, ctx.settings.detect_for_evaluations):
        _fire(ctx, alert)


def _evaluate(ctx: _Context) -> None:
    window = sentiment_counts_by_topic(
        session=ctx.session, model_version=ctx.model_version, start=ctx.window_start, end=ctx.now
    )
    baseline = sentiment_counts_by_topic(
        session=ctx.session,
        model_version=ctx.model_version,
        start=ctx.baseline_start,
        end=ctx.window_start,
    )
    evaluations = _evaluate_scopes(
        window=_as_detector_counts(window),
        baseline=_as_detector_counts(baseline),
        config=ctx.config,
    )
    ctx.report.scopes = len(evaluations)
    if not evaluations:
        return  # no normal level to compare with yet: leave every alert as it is
    open_alerts = {
        alert.topic: alert
        for alert in ctx.session.scalars(
            select(Alert).where(Alert.rule == RULE_NAME, Alert.state.in_(OPEN_ALERT_STATES))
        )
    }
    for topic in sorted(set(evaluations) | set(open_alerts)):
        _step(ctx, topic, evaluations.get(topic), open_alerts.get(topic))


def run_detection(
    *,
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    notifiers: Sequence[Notifier] | None = None,
    model_version: str | None = None,
) -> DetectReport:
    """Evaluate every scope at ``now``, update alerts, and send the deliveries that are due.

    ``notifiers`` default to the configured channels (the outbox folder when none is);
    ``model_version`` defaults to the most recently scored version.
    """
    now = (now or utcnow()).astimezone(UTC)
    if notifiers is None:
        notifiers = notifiers_from_settings(settings)
    window = timedelta(hours=settings.detect_window_hours)
    report = DetectReport(evaluated_at=now)
    try:
        with Session(engine) as session, session.begin():
            version = model_version or latest_model_version(session=session)
            report.model_version = version
            if version is not None:
                ctx = _Context(
                    session=session,
                    settings=settings,
                    config=detector_config(settings),
                    notifiers=notifiers,
                    model_version=version,
                    now=now,
                    window_start=now - window,
                    baseline_start=now - window - timedelta(days=settings.detect_baseline_days),
                    silences=_active_silences(session, now),
                    report=report,
                )
                _evaluate(ctx)
            states = session.scalars(
                select(Alert.state).where(Alert.state.in_(OPEN_ALERT_STATES))
            ).all()
            report.firing = states.count(AlertState.FIRING)
            report.pending = states.count(AlertState.PENDING)
    except IntegrityError as exc:
        raise FinsentError(
            "another detect run changed the same alerts at the same time; run it again"
        ) from exc
    outcome = send_due_deliveries(
        engine=engine,
        notifiers=notifiers,
        dashboard_url=settings.dashboard_url,
        now=now,
        max_attempts=settings.delivery_max_attempts,
        backoff_base_seconds=settings.delivery_backoff_base_seconds,
        backoff_max_seconds=settings.delivery_backoff_max_seconds,
        timeout_seconds=settings.delivery_timeout_seconds,
    )
    report.notified = outcome.sent
    report.failed = outcome.failed
    # Keep the hourly rollup the next evaluation reads near one row per hour: every
    # scoring write appended its own deltas. Only the hours detection reads again.
    since = now - window - timedelta(days=settings.detect_baseline_days, hours=1)
    with Session(engine) as session, session.begin():
        compact_score_hours(session=session, since=since)
    return report
