"""Where a model directory came from, written into its card by the command that made it.

Every ``finsent train`` and ``finsent soup`` records its own command line. A model built
from other models (a student from its teachers, a run continued from ``--init-from``, a
soup from its ingredients) also inherits their chains, so the card's ``reproduce`` is the
whole list of commands that rebuilds it from the shared data, in order, each once. The
card also names the version its command replaced in the output directory
(``previous_version``), so a shipped checkpoint says what it superseded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from models.checkpoint import CARD

# Card fields that describe one particular directory, not the weights: a model built from
# another must not inherit them (a soup starts from its best ingredient's card).
DIRECTORY_FIELDS = ("version", "previous_version", "reproduce", "reproduce_note", "evaluation")


def read_card(model_dir: str | Path) -> dict[str, Any]:
    """The card of ``model_dir``, or ``{}`` when it has none (or an unreadable one)."""
    path = Path(model_dir) / CARD
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def existing_version(model_dir: str | Path) -> str | None:
    """The version of the model already in ``model_dir`` (the one a new one replaces)."""
    version = read_card(model_dir).get("version")
    return version if isinstance(version, str) else None


def reproduce_chain(sources: Iterable[Mapping[str, Any]], command: str) -> list[str]:
    """The sources' ``reproduce`` lists merged in order (each command once), then
    ``command``. A source without a list contributes nothing; a chain cannot be longer than
    the commands it holds, so shared ancestors (one run's steps in a soup) appear once."""
    chain: list[str] = []
    for card in sources:
        steps = card.get("reproduce")
        if not isinstance(steps, list):
            continue
        chain.extend(step for step in steps if isinstance(step, str) and step not in chain)
    if command not in chain:
        chain.append(command)
    return chain


def provenance_fields(
    command: str | None, sources: Sequence[str | Path], out_dir: str | Path
) -> dict[str, Any]:
    """The card fields of a directory about to be written to ``out_dir`` by ``command``
    from the model directories ``sources``: ``reproduce`` (only with a command) and
    ``previous_version`` (only when ``out_dir`` already holds a model)."""
    fields: dict[str, Any] = {}
    if command is not None:
        fields["reproduce"] = reproduce_chain((read_card(s) for s in sources), command)
    previous = existing_version(out_dir)
    if previous is not None:
        fields["previous_version"] = previous
    return fields
