"""Evidence, states and back-off: pure logic, no database."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.alerts.evidence import Evidence, LatestEvaluation, safe_link
from pipeline.alerts.states import AlertState, Channel, DeliveryEvent, DeliveryStatus
from pipeline.backoff import exponential_backoff

GOLDEN = json.loads((Path(__file__).parent / "golden" / "alert_messages.json").read_text())
STORED = {name: text for name, text in GOLDEN.items() if name.startswith("evidence/")}


@pytest.mark.parametrize("name", sorted(STORED))
def test_stored_evidence_reads_and_writes_back_byte_for_byte(name: str) -> None:
    stored = STORED[name]
    evidence = Evidence.from_json(json.loads(stored))
    assert json.dumps(evidence.to_json()) == stored


def test_evidence_is_read_by_attribute() -> None:
    evidence = Evidence.from_json(json.loads(STORED["evidence/resolved/banking"]))
    assert (evidence.n, evidence.negatives, evidence.model_version) == (18, 11, "test-v1")
    assert evidence.window_end - evidence.window_start == timedelta(hours=2)
    assert evidence.headlines[0].title == "Shock banking loss 2"
    assert evidence.headlines[0].published_at.tzinfo is not None
    assert evidence.silenced_until is None
    assert isinstance(evidence.latest, LatestEvaluation) and evidence.latest.share is not None


def test_a_latest_evaluation_of_an_empty_window_keeps_its_short_form() -> None:
    evidence = Evidence.from_json(json.loads(STORED["evidence/firing/banking"]))
    empty = LatestEvaluation(evaluated_at=evidence.window_end, n=0, negatives=0, share=None)
    data = replace(evidence, latest=empty).to_json()
    assert list(data)[-2:] == ["silenced_until", "latest"]
    assert data["latest"] == {
        "evaluated_at": evidence.window_end.isoformat(),
        "n": 0,
        "negatives": 0,
        "share": None,
    }
    assert Evidence.from_json(data).latest == empty


def test_malformed_evidence_is_one_clear_error() -> None:
    data = json.loads(STORED["evidence/firing/all"])
    del data["p_value"]
    with pytest.raises(ValueError, match="no 'p_value'"):
        Evidence.from_json(data)
    data = json.loads(STORED["evidence/firing/all"]) | {"window_start": "yesterday"}
    with pytest.raises(ValueError, match="malformed"):
        Evidence.from_json(data)


@pytest.mark.parametrize(
    ("link", "kept"),
    [
        ("https://news.example/a", True),
        ("HTTP://news.example/a", True),
        ("javascript:alert(1)", False),
        ("  JavaScript:alert(1)", False),
        ("data:text/html,<b>x</b>", False),
        ("vbscript:msgbox", False),
        ("//news.example/a", False),  # scheme-relative: whatever the reader's page uses
        ("http:news.example", False),
        ("http://[::1/x", False),
        ("", False),
        (None, False),
    ],
)
def test_only_http_links_are_safe(link: str | None, kept: bool) -> None:
    assert safe_link(link) == (link if kept else None)


def test_with_safe_links_drops_only_the_unsafe_ones() -> None:
    evidence = Evidence.from_json(json.loads(STORED["evidence/firing/banking"]))
    first, second, *rest = evidence.headlines
    hostile = replace(evidence, headlines=(replace(first, link="javascript:x"), second, *rest))
    cleaned = hostile.with_safe_links()
    assert cleaned.headlines[0].link is None
    assert cleaned.headlines[1:] == evidence.headlines[1:]


def test_states_are_the_stored_strings() -> None:
    assert [s.value for s in AlertState] == ["pending", "firing", "resolved"]
    assert [e.value for e in DeliveryEvent] == ["firing", "resolved"]
    assert [c.value for c in Channel] == ["webhook", "email", "outbox"]
    assert {"pending", "retry", "sent", "failed"} <= {s.value for s in DeliveryStatus}
    assert AlertState.FIRING == "firing" and f"{DeliveryStatus.SENT}" == "sent"


@pytest.mark.parametrize(
    ("attempt", "seconds"),
    [(0, 60), (1, 60), (2, 120), (3, 240), (6, 1920), (7, 3600), (10**6, 3600)],
)
def test_exponential_backoff_doubles_up_to_the_cap(attempt: int, seconds: int) -> None:
    delay = exponential_backoff(attempt=attempt, base_seconds=60, max_seconds=3600)
    assert delay == timedelta(seconds=seconds)
