"""Model provenance: the reproduce chain a card inherits from the models it was built from,
the version a new directory replaced, and the evaluation stored in a card without changing
the model's version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.checkpoint import content_version
from models.evaluate import main as evaluate_main
from models.provenance import existing_version, provenance_fields, reproduce_chain
from models.testing import make_tiny_model_dir


def test_chains_merge_in_order_and_each_command_appears_once() -> None:
    teacher_a = {"reproduce": ["train r1", "train r2", "soup r1 r2"]}
    teacher_b = {"reproduce": ["train r1", "train r3"]}
    no_chain = {"version": "finsent-0123"}  # an older card: contributes nothing
    assert reproduce_chain([teacher_a, no_chain, teacher_b], "train d1") == [
        "train r1",
        "train r2",
        "soup r1 r2",
        "train r3",
        "train d1",
    ]
    assert reproduce_chain([], "train r1") == ["train r1"]
    # A command already in the chain (a soup of one run's steps) is not repeated.
    assert reproduce_chain([{"reproduce": ["train r1"]}], "train r1") == ["train r1"]
    assert reproduce_chain([{"reproduce": "train r1"}], "soup") == ["soup"]  # not a list


def test_provenance_names_the_replaced_version_and_reads_the_sources(tmp_path: Path) -> None:
    source = make_tiny_model_dir(tmp_path / "source")
    card_path = source / "model_card.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "reproduce": ["finsent train --out source"]}))

    fresh = provenance_fields("finsent soup source x --out new", [source], tmp_path / "new")
    assert fresh == {"reproduce": ["finsent train --out source", "finsent soup source x --out new"]}

    replacing = provenance_fields("finsent soup source x --out source", [source], source)
    assert replacing["previous_version"] == card["version"] == existing_version(source)
    # Without a command (the Python API), only the replaced version is recorded.
    assert provenance_fields(None, [source], source) == {"previous_version": card["version"]}
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model_card.json").write_text("{not json")
    assert existing_version(tmp_path / "broken") is None
    assert existing_version(tmp_path / "missing") is None


def test_evaluate_writes_its_figures_into_the_card_and_keeps_the_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_tiny_model_dir(tmp_path / "model")
    before = json.loads((model / "model_card.json").read_text())
    args = [str(model), "--no-tweet-dev", "--quantize", "none", "--write-card"]
    evaluate_main(args)
    printed = json.loads(capsys.readouterr().out)
    card = json.loads((model / "model_card.json").read_text())
    evaluation = card.pop("evaluation")
    assert card == before  # nothing else in the card changed
    assert evaluation["command"] == "python -m models.evaluate " + " ".join(args)
    assert evaluation["none"] == printed["none"]
    assert evaluation["none"]["news_dev"]["sentiment"]["n"] == 257
    assert content_version(model) == before["version"]  # the card is outside the hash
    assert not list(model.glob("*.partial"))
