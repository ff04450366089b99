"""The one cleaning function used by training and scoring."""

from __future__ import annotations

import pytest

from models.text import clean_text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("$AAPL beats estimates https://t.co/AbC123", "AAPL beats estimates"),
        ("$CCL $RCL - Nomura cuts", "CCL RCL - Nomura cuts"),
        ("Buy $BRK.B now", "Buy BRK.B now"),
        ("Revenue of $5 billion", "Revenue of $5 billion"),
        ("Exxon &amp; Chevron &amp;amp; BP", "Exxon & Chevron & BP"),
        ("<p>Shares <b>fall</b></p>", "Shares fall"),
        ("  many \n\t spaces  ", "many spaces"),
        ("see www.example.com/x for more", "see for more"),
        ("", ""),
        (None, ""),
        ("Gewinn steigt 📈", "Gewinn steigt 📈"),
    ],
)
def test_clean_text(raw: str | None, clean: str) -> None:
    assert clean_text(raw) == clean
