"""The training loop end to end on a tiny random encoder: a loadable model directory,
and continued training from it with ``init_from``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from models import Scorer
from models.config import ModelConfig, TrainConfig
from models.tasks import SENTIMENT, TOPIC
from models.testing import make_tiny_encoder_dir
from models.train import train_model


def _write_csv(path: Path, column: str, labels: tuple[str, ...], n: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", column])
        for i in range(n):
            label = labels[i % len(labels)]
            writer.writerow([f"headline number {i} about {label} https://t.co/x{i}", label])
    return path


@pytest.fixture(scope="module")
def tiny_training(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("train")
    data = {
        TOPIC: _write_csv(root / "topic.csv", "topic", TOPIC.labels, 200),
        SENTIMENT: _write_csv(root / "sentiment.csv", "sentiment", SENTIMENT.labels, 90),
    }
    mc = ModelConfig(base_encoder=str(make_tiny_encoder_dir(root / "encoder")), method="full")
    tc = TrainConfig(epochs=1, batch_size=16, augment_n=30, progress=False, num_threads=2)
    first = root / "first"
    card = train_model(data_files=data, out_dir=first, model_config=mc, train_config=tc)
    return {"root": root, "data": data, "mc": mc, "tc": tc, "first": first, "card": card}


def test_training_writes_a_model_directory_the_scorer_loads(tiny_training: dict) -> None:
    card = tiny_training["card"]
    assert set(card["dev_metrics"]) == {"topic", "sentiment"}
    assert card["data"]["sentiment"]["train_augmented"] == 30
    on_disk = json.loads((tiny_training["first"] / "model_card.json").read_text())
    assert on_disk["version"] == card["version"]
    scorer = Scorer.from_pretrained(tiny_training["first"], device="cpu", quantize="none")
    assert scorer.version == card["version"]
    (prediction,) = scorer.predict(["Acme cuts guidance"])
    assert prediction.topic in TOPIC.labels
    assert sum(prediction.sentiment_probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_init_from_continues_from_saved_weights(tiny_training: dict) -> None:
    from dataclasses import replace

    tc = replace(
        tiny_training["tc"], init_from=str(tiny_training["first"]), lr=1e-12, head_lr=1e-12
    )
    second = tiny_training["root"] / "second"
    train_model(
        data_files=tiny_training["data"],
        out_dir=second,
        model_config=tiny_training["mc"],
        train_config=tc,
    )
    # With a vanishing learning rate, continued training keeps the loaded weights.
    texts = ["Acme beats estimates", "Bank shares plunge", ""]
    before = Scorer.from_pretrained(tiny_training["first"], device="cpu", quantize="none")
    after = Scorer.from_pretrained(second, device="cpu", quantize="none")
    for name, logits in before.predict_logits(texts).items():
        assert after.predict_logits(texts)[name] == pytest.approx(logits, abs=1e-5)


def test_init_from_a_mismatched_model_is_a_clear_error(tiny_training: dict, tmp_path) -> None:
    from dataclasses import replace

    # A one-layer encoder cannot take the two-layer model's weights.
    one_layer = make_tiny_encoder_dir(tmp_path / "one-layer", layers=1)
    mc = replace(tiny_training["mc"], base_encoder=str(one_layer))
    tc = replace(tiny_training["tc"], init_from=str(tiny_training["first"]))
    with pytest.raises(ValueError, match="does not match"):
        train_model(
            data_files=tiny_training["data"],
            out_dir=tmp_path / "out",
            model_config=mc,
            train_config=tc,
        )


def test_the_train_command_prints_a_summary_or_json(tiny_training: dict) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    root = tiny_training["root"]
    args = [
        "train",
        "--topic-data",
        str(tiny_training["data"][TOPIC]),
        "--sentiment-data",
        str(tiny_training["data"][SENTIMENT]),
        "--base-encoder",
        tiny_training["mc"].base_encoder,
        "--method",
        "full",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--augment-n",
        "30",
        "--device",
        "cpu",
    ]
    text = CliRunner().invoke(app, [*args, "--out", str(root / "cli-text")])
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"wrote {root / 'cli-text'} (version finsent-")
    assert any(line.startswith("  topic: dev accuracy ") for line in lines)
    assert any(line.startswith("  sentiment: dev accuracy ") and "ECE" in line for line in lines)
    assert not text.stdout.lstrip().startswith("{")
    as_json = CliRunner().invoke(app, [*args, "--out", str(root / "cli-json"), "--json"])
    assert as_json.exit_code == 0, as_json.output
    summary = json.loads(as_json.stdout)
    assert set(summary) >= {"out", "version", "dev_metrics", "calibration", "best_epoch"}


def test_the_card_records_the_command_that_rebuilds_the_model(tiny_training: dict) -> None:
    import shlex

    from typer.testing import CliRunner

    from pipeline.cli import app

    out = tiny_training["root"] / "cli-json"  # written by the test above
    card = json.loads((out / "model_card.json").read_text())
    (command,) = card["reproduce"]  # from the base encoder: one command
    words = shlex.split(command)
    assert words[:2] == ["finsent", "train"]
    assert words[words.index("--out") + 1] == str(out)
    assert words[words.index("--augment-n") + 1] == "30"
    assert "--json" not in words and "--seed" not in words  # output format; a default
    assert "previous_version" not in card
    # Running the recorded command again rebuilds the same weights into the same place,
    # and the new card names the version it replaced.
    again = CliRunner().invoke(app, words[1:])
    assert again.exit_code == 0, again.output
    rebuilt = json.loads((out / "model_card.json").read_text())
    assert rebuilt["version"] == card["version"]
    assert rebuilt["previous_version"] == card["version"]
    assert rebuilt["reproduce"] == [command]


def test_a_card_names_the_licence_of_a_known_shared_file_and_nothing_for_others(
    tiny_training: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models import data

    # The tiny run's own files are unknown: file and digest only, no licence invented.
    assert set(tiny_training["card"]["data"]["topic"]) >= {"file", "sha256"}
    assert "licence" not in tiny_training["card"]["data"]["topic"]
    # A known file is known by its bytes, wherever it lies and whatever its name.
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("text,topic\nAcme beats estimates,Earnings\n", encoding="utf-8")
    known = {"source": "a shared set", "licence": "MIT"}
    monkeypatch.setitem(data.KNOWN_DATA, data.file_sha256(renamed), known)
    assert data.data_file_info(renamed) == {
        "file": str(renamed),
        "sha256": data.file_sha256(renamed),
        **known,
    }


def test_the_shipped_card_names_the_source_and_licence_of_every_training_file() -> None:
    from models import SHIPPED_MODEL_DIR
    from models.data import KNOWN_DATA

    card = json.loads((Path(SHIPPED_MODEL_DIR) / "model_card.json").read_text())
    files = {name: entry for name, entry in card["data"].items() if "sha256" in entry}
    assert set(files) == {"topic", "sentiment", "news_sentiment"}
    for entry in files.values():
        assert entry["licence"] == KNOWN_DATA[entry["sha256"]]["licence"]
        assert entry["source"]
