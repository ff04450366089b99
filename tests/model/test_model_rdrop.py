"""R-Drop (`finsent train --rdrop ALPHA`): the consistency loss is the symmetric KL between
two passes, zero when they agree and pulling both; a run changes only when the weight is not
zero, works together with distillation, records the option; a negative weight is a one-line
error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from models.checkpoint import load_model_dir
from models.config import ModelConfig, TrainConfig
from models.data import write_news_dev_file
from models.network import consistency_loss
from models.tasks import SENTIMENT, TOPIC
from models.testing import make_tiny_encoder_dir, make_tiny_model_dir, write_tiny_training_csvs
from models.train import train_model
from pipeline.cli.app import app
from pipeline.errors import FinsentError


def test_consistency_loss_is_the_symmetric_kl_of_the_two_passes() -> None:
    torch.manual_seed(0)
    first = {"sentiment": torch.randn(4, 3)}
    second = {"sentiment": torch.randn(4, 3)}
    loss = consistency_loss(first, second)["sentiment"]
    p = torch.softmax(first["sentiment"], -1)
    q = torch.softmax(second["sentiment"], -1)
    expected = 0.5 * ((p * (p / q).log()).sum(-1) + (q * (q / p).log()).sum(-1)).mean()
    assert torch.isclose(loss, expected)
    assert loss > 0
    swapped = consistency_loss(second, first)["sentiment"]
    assert torch.isclose(loss, swapped)


def test_consistency_loss_is_zero_when_the_passes_agree_and_pulls_both_otherwise() -> None:
    z = torch.randn(5, 20)
    assert abs(consistency_loss({"topic": z}, {"topic": z.clone()})["topic"].item()) < 1e-6
    first = {"topic": torch.randn(5, 20, requires_grad=True)}
    second = {"topic": torch.randn(5, 20, requires_grad=True)}
    consistency_loss(first, second)["topic"].backward()
    for side in (first, second):
        grad = side["topic"].grad
        assert grad is not None and grad.abs().sum() > 0


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("rdrop")
    files = write_tiny_training_csvs(root, news_per_label=12)
    write_news_dev_file(files["news"], root / "news_dev.csv")
    return {
        "root": root,
        **files,
        "news_dev": root / "news_dev.csv",
        "encoder": make_tiny_encoder_dir(root / "encoder"),
        "teacher": make_tiny_model_dir(root / "teacher", seed=5),
    }


def _train(data: dict, name: str, **overrides: object) -> dict:
    tc = TrainConfig(epochs=1, max_steps=6, batch_size=8, augment_n=0, progress=False, **overrides)
    return train_model(
        data_files={TOPIC: data["topic"], SENTIMENT: data["sentiment"]},
        out_dir=data["root"] / name,
        model_config=ModelConfig(base_encoder=str(data["encoder"]), method="full"),
        train_config=tc,
        news_data=data["news"],
        news_dev_file=data["news_dev"],
    )


@pytest.fixture(scope="module")
def rdrop(data: dict) -> dict:
    """A run with R-Drop and no teacher."""
    return _train(data, "rdrop", rdrop=1.0)


def test_rdrop_changes_training_only_with_a_weight(data: dict, rdrop: dict) -> None:
    plain = _train(data, "plain")
    weightless = _train(data, "weightless", rdrop=0.0)
    assert weightless["version"] == plain["version"]
    assert rdrop["version"] != plain["version"]
    assert rdrop["train_config"]["rdrop"] == 1.0
    assert load_model_dir(data["root"] / "rdrop").card["version"] == rdrop["version"]


def test_rdrop_with_a_teacher_still_distils(data: dict, rdrop: dict) -> None:
    # The doubled batch carries the teacher's targets for both copies: the teacher still
    # changes an R-Drop run.
    both = _train(data, "taught-rdrop", teachers=(str(data["teacher"]),), rdrop=1.0)
    assert both["version"] != rdrop["version"]
    assert both["data"]["teachers"][0]["dir"] == str(data["teacher"])


def _cli(data: dict, out: Path, *extra: str) -> object:
    return CliRunner().invoke(
        app,
        [
            "train",
            "--topic-data",
            str(data["topic"]),
            "--sentiment-data",
            str(data["sentiment"]),
            "--out",
            str(out),
            "--base-encoder",
            str(data["encoder"]),
            "--method",
            "full",
            "--max-steps",
            "2",
            "--augment-n",
            "0",
            "--json",
            *extra,
        ],
    )


def test_cli_records_rdrop_in_the_reproduce_command(data: dict) -> None:
    out = data["root"] / "cli-rdrop"
    result = _cli(data, out, "--rdrop", "0.5")
    assert result.exit_code == 0, result.output
    card = load_model_dir(out).card
    assert card["train_config"]["rdrop"] == 0.5
    assert "--rdrop 0.5" in card["reproduce"][-1]


def test_cli_rejects_a_negative_rdrop_in_one_line(data: dict) -> None:
    out = data["root"] / "never"
    result = _cli(data, out, "--rdrop", "-1")
    assert isinstance(result.exception, FinsentError)
    assert str(result.exception) == "rdrop must be >= 0, got -1.0"
    assert not out.exists()
