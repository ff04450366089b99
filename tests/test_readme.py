"""README.md stays true: every setting is documented, with its real default and range."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.settings import Settings, allowed_range

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _reference_rows() -> dict[str, list[str]]:
    section = README.split("## Configuration reference", 1)[1]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `(FINSENT_[A-Z_]+)` \|(.*)\|$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_every_setting_is_in_the_configuration_reference() -> None:
    documented = set(_reference_rows())
    actual = {f"FINSENT_{name.upper()}" for name in Settings.model_fields}
    assert documented == actual


def test_documented_ranges_are_the_real_ones() -> None:
    rows = _reference_rows()
    for name in Settings.model_fields:
        bounds = allowed_range(name)
        if bounds is not None:
            allowed = rows[f"FINSENT_{name.upper()}"][1]
            assert allowed == bounds or allowed.startswith(bounds + " "), (name, allowed, bounds)
