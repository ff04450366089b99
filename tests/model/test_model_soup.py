"""Model soups on a tiny random encoder: `--keep-checkpoints` writes every evaluated step,
a uniform soup is the mean of its ingredients' weights, a greedy soup never scores below
its best ingredient on the dev selection, and bad ingredients get a clear error."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from models.checkpoint import load_model_dir
from models.config import ModelConfig, TrainConfig
from models.data import write_news_dev_file
from models.soup import make_soup
from models.tasks import SENTIMENT, TOPIC
from models.testing import make_tiny_encoder_dir, make_tiny_model_dir, write_tiny_training_csvs
from models.train import checkpoint_dir, train_model
from pipeline.cli.app import app
from pipeline.errors import FinsentError


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("soup")
    files = write_tiny_training_csvs(root, news_per_label=12)
    topic, sentiment, news = files["topic"], files["sentiment"], files["news"]
    news_dev = root / "news_dev.csv"
    write_news_dev_file(news, news_dev)
    mc = ModelConfig(base_encoder=str(make_tiny_encoder_dir(root / "encoder")), method="full")
    tc = TrainConfig(
        epochs=1,
        max_steps=12,
        eval_every=4,
        batch_size=8,
        augment_n=0,
        keep_checkpoints=True,
        progress=False,
    )
    out = root / "model"
    card = train_model(
        data_files={TOPIC: topic, SENTIMENT: sentiment},
        out_dir=out,
        model_config=mc,
        train_config=tc,
        news_data=news,
        news_dev_file=news_dev,
        command=TRAIN_COMMAND,
    )
    return {"root": root, "out": out, "card": card, "news_dev": news_dev}


TRAIN_COMMAND = "finsent train --max-steps 12 --eval-every 4 --keep-checkpoints --out model"


def test_keep_checkpoints_writes_every_evaluated_step(run: dict) -> None:
    steps = run["card"]["steps"]["eval_at"]
    assert steps == [4, 8, 12]
    for step in steps:
        path = checkpoint_dir(run["out"], step)
        assert path == run["out"].with_name("model.steps") / f"step-{step:05d}"
        card = load_model_dir(path).card
        assert card["best_step"] == step
        assert card["history"][-1]["step"] == step  # the run so far
        assert card["selection_score"] == next(
            h["selection"] for h in run["card"]["history"] if h["step"] == step
        )
        assert card["reproduce"] == [TRAIN_COMMAND]
        assert "previous_version" not in card
    # The best step is both in OUT and among the kept steps: the same weights.
    best = checkpoint_dir(run["out"], run["card"]["best_step"])
    assert load_model_dir(best).card["version"] == run["card"]["version"]


def test_uniform_soup_is_the_mean_of_its_ingredients(run: dict, tmp_path: Path) -> None:
    dirs = [checkpoint_dir(run["out"], s) for s in (4, 8, 12)]
    card = make_soup(dirs, tmp_path / "soup", method="uniform", news_dev_file=run["news_dev"])
    soup = load_model_dir(tmp_path / "soup").model.state_dict()
    states = [load_model_dir(d).model.state_dict() for d in dirs]
    name = "encoder.encoder.layer.0.attention.self.query.weight"
    expected = torch.stack([s[name] for s in states]).mean(0)
    # Stored in fp16, like every full fine-tuned checkpoint.
    assert torch.allclose(soup[name], expected, atol=2e-3)
    assert not torch.allclose(soup[name], states[0][name], atol=1e-6)
    assert all(i["kept"] for i in card["soup"]["ingredients"])
    assert card["version"] not in {load_model_dir(d).card["version"] for d in dirs}
    assert set(card["calibration"]) == {"topic", "sentiment"}
    assert card["news_dev_metrics"]["accuracy"] >= 0


def test_greedy_soup_never_falls_below_its_best_ingredient(run: dict, tmp_path: Path) -> None:
    dirs = [checkpoint_dir(run["out"], s) for s in (4, 8, 12)]
    card = make_soup(dirs, tmp_path / "greedy", news_dev_file=run["news_dev"])
    record = card["soup"]
    best = max(i["selection"] for i in record["ingredients"])
    assert card["selection_score"] >= best - 1e-4  # fp16 storage moves the last digit
    assert len(record["trials"]) == 2
    kept = [i for i in record["ingredients"] if i["kept"]]
    assert 1 + sum(t["kept"] for t in record["trials"]) == len(kept)


def test_soup_errors_are_one_line(run: dict, tmp_path: Path) -> None:
    one = checkpoint_dir(run["out"], 4)
    with pytest.raises(ValueError, match="at least two"):
        make_soup([one], tmp_path / "x")
    other = make_tiny_model_dir(tmp_path / "tiny")  # another architecture and no dev data
    result = CliRunner().invoke(app, ["soup", str(one), str(other), "--out", str(tmp_path / "y")])
    # The CLI's entry point prints a FinsentError as one line and exits 1.
    assert isinstance(result.exception, FinsentError)
    assert "one architecture" in str(result.exception)
    assert not (tmp_path / "y").exists()


def test_soup_cli_writes_a_loadable_model(run: dict, tmp_path: Path) -> None:
    # The CLI selects on the shipped news dev split (models/data/news_dev.csv).
    dirs = [str(checkpoint_dir(run["out"], s)) for s in (8, 12)]
    out = tmp_path / "cli-soup"
    result = CliRunner().invoke(app, ["soup", *dirs, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    card = load_model_dir(out).card
    assert summary["version"] == card["version"]
    assert summary["kept"][0] in dirs
    # The chain that rebuilds it: the ingredients' run, then this very command.
    assert card["reproduce"] == [
        TRAIN_COMMAND,
        shlex.join(["finsent", "soup", *dirs, "--out", str(out)]),
    ]


def test_a_soup_card_says_where_it_came_from(run: dict, tmp_path: Path) -> None:
    steps = [checkpoint_dir(run["out"], s) for s in (4, 8, 12)]
    first = make_soup(
        steps[:2],
        tmp_path / "first",
        method="uniform",
        news_dev_file=run["news_dev"],
        command="finsent soup a b --out first",
    )
    # An ingredient's directory fields are its own: give the first soup some, as a
    # shipped card has, and a second soup must not inherit them.
    evaluated = {**first, "evaluation": {"command": "x"}, "reproduce_note": "by hand"}
    (tmp_path / "first" / "model_card.json").write_text(json.dumps(evaluated))
    out = tmp_path / "second"
    shutil.copytree(tmp_path / "first", out)  # the second soup replaces a model
    second = make_soup(
        [tmp_path / "first", steps[2]],
        out,
        method="uniform",
        news_dev_file=run["news_dev"],
        command="finsent soup first c --out second",
    )
    assert second["previous_version"] == first["version"]
    assert second["reproduce"] == [
        TRAIN_COMMAND,
        "finsent soup a b --out first",
        "finsent soup first c --out second",
    ]
    assert "evaluation" not in second and "reproduce_note" not in second
    soup_ingredient, step_ingredient = second["soup"]["ingredients"]
    assert soup_ingredient["soup"] == first["soup"]  # a soup's own record, nested
    assert "train_config" not in step_ingredient  # the same run as the card's own
    assert "previous_version" not in first
