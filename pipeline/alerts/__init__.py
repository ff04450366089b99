"""The alert stage: scores → alerts → notifications.

Read in data-path order: :mod:`~pipeline.alerts.counts` (read-side counts by topic
and hour), :mod:`~pipeline.alerts.rule` (the spike rule, pure functions of counts),
:mod:`~pipeline.alerts.evidence` (what an alert carries), then one run of
:func:`run_detection` (:mod:`~pipeline.alerts.lifecycle`): pending → firing →
resolved (:mod:`~pipeline.alerts.states`), with :mod:`~pipeline.alerts.deliveries`
(scheduling, concurrent attempts, each within a :mod:`~pipeline.alerts.deadline`),
:mod:`~pipeline.alerts.message` (what a notification says) and
:mod:`~pipeline.alerts.notify` (webhook, email, outbox). Operator actions — list,
acknowledge, silence — are in :mod:`~pipeline.alerts.actions`.
"""

from pipeline.alerts.lifecycle import DetectReport, run_detection

__all__ = ["DetectReport", "run_detection"]
