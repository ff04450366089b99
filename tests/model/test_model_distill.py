"""Knowledge distillation (`finsent train --teacher`): the loss is the softened KL, zero
when the student already agrees and exactly 0 (not NaN) without a kept row; teachers' targets
are their calibrated, softened, averaged probabilities; no dev text is ever distilled; a
teacher changes training only when its weight is not zero; a single-task teacher teaches its
own head; and a bad teacher is a one-line error. R-Drop (`--rdrop`), the other loss that
needs no new labels: the symmetric KL between two dropout passes, zero when they agree and
pulling both; a run changes only with a weight, still distils with a teacher, and records the
option; a negative weight is a one-line error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from models.checkpoint import load_model_dir
from models.config import ModelConfig, TrainConfig
from models.data import TaskData, write_news_dev_file
from models.metrics import softmax
from models.network import consistency_loss, distillation_loss
from models.scorer import logits_for_ids
from models.tasks import SENTIMENT, TOPIC, TaskSpec
from models.testing import (
    make_tiny_encoder_dir,
    make_tiny_model_dir,
    tiny_train_cli_args,
    write_tiny_training_csvs,
)
from models.train import distillable_rows, teacher_probabilities, train_model
from pipeline.cli.app import app
from pipeline.errors import FinsentError


def test_distillation_loss_is_the_softened_kl_times_t_squared() -> None:
    torch.manual_seed(0)
    student = {"sentiment": torch.randn(4, 3)}
    teacher = torch.softmax(torch.randn(4, 3) / 2.0, dim=-1)
    keep = torch.tensor([True, True, False, True])
    loss = distillation_loss(student, {"sentiment": teacher}, keep, temperature=2.0)["sentiment"]
    log_q = torch.log_softmax(student["sentiment"][keep] / 2.0, dim=-1)
    p = teacher[keep]
    expected = 4.0 * (p * (p.log() - log_q)).sum(-1).mean()
    assert torch.isclose(loss, expected)
    assert loss > 0


def test_distillation_loss_is_zero_when_the_student_agrees_or_no_row_is_kept() -> None:
    logits = {"topic": torch.randn(5, 20, requires_grad=True)}
    agree = torch.softmax(logits["topic"].detach() / 3.0, dim=-1)
    keep = torch.ones(5, dtype=torch.bool)
    loss = distillation_loss(logits, {"topic": agree}, keep, temperature=3.0)["topic"]
    assert abs(loss.item()) < 1e-5
    none = distillation_loss(logits, {"topic": agree}, ~keep, temperature=3.0)["topic"]
    assert none.item() == 0.0 and not torch.isnan(none)


def test_every_head_is_taught_on_every_kept_row() -> None:
    # A batch of topic tweets still trains the sentiment head through the teacher.
    logits = {"topic": torch.randn(3, 20, requires_grad=True)}
    logits["sentiment"] = torch.randn(3, 3, requires_grad=True)
    targets = {name: torch.softmax(torch.randn_like(z), dim=-1) for name, z in logits.items()}
    losses = distillation_loss(logits, targets, torch.ones(3, dtype=torch.bool), temperature=2.0)
    torch.stack(list(losses.values())).sum().backward()
    assert logits["sentiment"].grad is not None and logits["sentiment"].grad.abs().sum() > 0
    assert logits["topic"].grad is not None and logits["topic"].grad.abs().sum() > 0


def test_no_dev_text_is_ever_distilled() -> None:
    train = {
        "topic": TaskData(TOPIC, ("acme beats", "shared tweet", "fed holds"), (0, 1, 2)),
        "sentiment": TaskData(SENTIMENT, ("stocks fall", "bonds rally"), (0, 2)),
    }
    dev = {
        "topic": TaskData(TOPIC, ("a topic dev tweet",), (3,)),
        "sentiment": TaskData(SENTIMENT, ("shared tweet",), (1,)),
    }
    rows = distillable_rows(train, dev)
    assert rows["topic"].tolist() == [True, False, True]
    assert rows["sentiment"].tolist() == [True, True]


def test_teacher_targets_are_calibrated_softened_and_averaged(tmp_path: Path) -> None:
    teacher = make_tiny_model_dir(tmp_path / "teacher", seed=3)
    loaded = load_model_dir(teacher)
    tasks = loaded.tasks
    ids = {"sentiment": loaded.tokenizer(["shares plunge", "profit rises 5%"])["input_ids"]}
    probs, record = teacher_probabilities(
        [teacher],
        ids,
        tasks,
        tokenizer=loaded.tokenizer,
        temperature=2.0,
        device=torch.device("cpu"),
    )
    raw = logits_for_ids(loaded.model, ids["sentiment"], pad_id=0, device=torch.device("cpu"))
    for head, z in raw.items():
        expected = softmax(z / (loaded.temperatures[head] * 2.0))
        np.testing.assert_allclose(probs["sentiment"][head], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(probs["sentiment"][head].sum(1), 1.0, atol=1e-5)
    assert record == [
        {"dir": str(teacher), "version": loaded.card["version"], "heads": "topic,sentiment"}
    ]
    # Two copies of one teacher: the same targets as one.
    twice, _ = teacher_probabilities(
        [teacher, teacher],
        ids,
        tasks,
        tokenizer=loaded.tokenizer,
        temperature=2.0,
        device=torch.device("cpu"),
    )
    for head in raw:
        np.testing.assert_allclose(twice["sentiment"][head], probs["sentiment"][head], atol=1e-6)
    # A teacher of other tasks is refused by name.
    other = (TaskSpec("topic", tuple(f"t{i}" for i in range(20))), SENTIMENT)
    with pytest.raises(ValueError, match="other topic labels"):
        teacher_probabilities(
            [teacher],
            ids,
            other,
            tokenizer=loaded.tokenizer,
            temperature=2.0,
            device=torch.device("cpu"),
        )


def test_single_task_teachers_teach_their_own_head(tmp_path: Path) -> None:
    # A topic-only and a sentiment-only teacher beside a joint one: each head is the mean
    # over the teachers that have it, so a specialist and the joint model share that head.
    joint = make_tiny_model_dir(tmp_path / "joint", seed=3)
    topic_only = make_tiny_model_dir(tmp_path / "topic", seed=4, tasks=(TOPIC,))
    sentiment_only = make_tiny_model_dir(tmp_path / "sentiment", seed=5, tasks=(SENTIMENT,))
    loaded = load_model_dir(joint)
    ids = {"topic": loaded.tokenizer(["fed holds rates", "acme beats"])["input_ids"]}

    def targets(teachers: list[Path]) -> dict[str, np.ndarray]:
        probs, _ = teacher_probabilities(
            teachers,
            ids,
            loaded.tasks,
            tokenizer=loaded.tokenizer,
            temperature=2.0,
            device=torch.device("cpu"),
        )
        return probs["topic"]

    alone = {path: targets([path]) for path in (joint, topic_only, sentiment_only)}
    assert set(alone[topic_only]) == {"topic"}
    assert set(alone[sentiment_only]) == {"sentiment"}
    mixed = targets([joint, topic_only, sentiment_only])
    for head, specialist in (("topic", topic_only), ("sentiment", sentiment_only)):
        expected = (alone[joint][head] + alone[specialist][head]) / 2
        np.testing.assert_allclose(mixed[head], expected, atol=1e-6)
        assert not np.allclose(mixed[head], alone[joint][head], atol=1e-4)
    # A topic-only student is taught by a joint teacher's topic head alone.
    probs, record = teacher_probabilities(
        [joint],
        ids,
        (TOPIC,),
        tokenizer=loaded.tokenizer,
        temperature=2.0,
        device=torch.device("cpu"),
    )
    assert set(probs["topic"]) == {"topic"} and record[0]["heads"] == "topic"
    # A teacher with none of the student's heads is refused by name.
    with pytest.raises(ValueError, match="none of the heads"):
        teacher_probabilities(
            [sentiment_only],
            ids,
            (TOPIC,),
            tokenizer=loaded.tokenizer,
            temperature=2.0,
            device=torch.device("cpu"),
        )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("distill")
    files = write_tiny_training_csvs(root, news_per_label=12)
    write_news_dev_file(files["news"], root / "news_dev.csv")
    return {
        "root": root,
        **files,
        "news_dev": root / "news_dev.csv",
        "encoder": make_tiny_encoder_dir(root / "encoder"),
        "teacher": make_tiny_model_dir(root / "teacher", seed=5),
    }


def _train(data: dict, out: Path, **overrides: object) -> dict:
    tc = TrainConfig(epochs=1, max_steps=6, batch_size=8, augment_n=0, progress=False, **overrides)
    return train_model(
        data_files={TOPIC: data["topic"], SENTIMENT: data["sentiment"]},
        out_dir=out,
        model_config=ModelConfig(base_encoder=str(data["encoder"]), method="full"),
        train_config=tc,
        news_data=data["news"],
        news_dev_file=data["news_dev"],
    )


@pytest.fixture(scope="module")
def plain(data: dict) -> dict:
    """A run without a teacher (its directory is ``card["out"]``)."""
    return {**_train(data, data["root"] / "plain"), "out": data["root"] / "plain"}


def test_a_teacher_changes_training_only_with_a_weight(data: dict, plain: dict) -> None:
    root, teacher = data["root"], str(data["teacher"])
    weightless = _train(data, root / "weightless", teachers=(teacher,), distill_weight=0.0)
    taught = _train(data, root / "taught", teachers=(teacher,), distill_weight=1.0)
    assert weightless["version"] == plain["version"]
    assert taught["version"] != plain["version"]
    version = load_model_dir(teacher).card["version"]
    assert taught["data"]["teachers"] == [
        {"dir": teacher, "version": version, "heads": "topic,sentiment"}
    ]
    assert taught["train_config"]["teachers"] == [teacher]
    assert "teachers" not in plain["data"]


def test_cli_rejects_a_missing_teacher_in_one_line(data: dict) -> None:
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--topic-data",
            str(data["topic"]),
            "--sentiment-data",
            str(data["sentiment"]),
            "--out",
            str(data["root"] / "never"),
            "--base-encoder",
            str(data["encoder"]),
            "--method",
            "full",
            "--max-steps",
            "2",
            "--teacher",
            str(data["root"] / "no-such-model"),
            "--json",
        ],
    )
    # The CLI's entry point prints a FinsentError as one line and exits 1.
    assert isinstance(result.exception, FinsentError)
    assert "is not a finsent model directory" in str(result.exception)
    assert not (data["root"] / "never").exists()


def test_ensemble_of_copies_scores_as_one_model(data: dict, plain: dict, tmp_path: Path) -> None:
    from models.ensemble import ensemble_reports, main

    model = plain["out"]
    one = ensemble_reports([model], news_dev_file=data["news_dev"])
    two = ensemble_reports([model, model], news_dev_file=data["news_dev"])
    assert set(one["dev"]) == {"topic", "sentiment", "news_sentiment"}
    assert one["dev"] == two["dev"] and one["selection"] == two["selection"]
    # The same figures as the model's own soup scoring at inference settings.
    from models.soup import _scorer, dev_sets, score_sets

    loaded = load_model_dir(model)
    score, reports, _ = score_sets(
        _scorer(loaded.model, loaded), dev_sets(loaded.card, loaded.tasks, data["news_dev"])
    )
    assert one["selection"] == round(score, 4)
    assert one["dev"]["topic"]["accuracy"] == round(reports["topic"]["accuracy"], 4)
    assert main([str(tmp_path / "none")]) == 2  # a missing model: one line, exit 2


def test_cli_trains_a_single_task_model_taught_by_a_joint_teacher(data: dict) -> None:
    out = data["root"] / "topic-only"
    args = ["train", "--out", str(out), "--base-encoder", str(data["encoder"])]
    args += ["--method", "full", "--max-steps", "3", "--batch-size", "8", "--augment-n", "0"]
    result = CliRunner().invoke(
        app,
        [*args, "--topic-data", str(data["topic"]), "--teacher", str(data["teacher"]), "--json"],
    )
    assert result.exit_code == 0, result.output
    loaded = load_model_dir(out)
    assert [t.name for t in loaded.tasks] == ["topic"]
    assert loaded.card["data"]["teachers"][0]["heads"] == "topic"
    own = loaded.card["reproduce"][-1]
    assert "--topic-data" in own and "--sentiment-data" not in own
    # Neither task: one line, nothing written.
    never = data["root"] / "no-task"
    result = CliRunner().invoke(app, ["train", "--out", str(never), "--max-steps", "1"])
    assert isinstance(result.exception, FinsentError)
    assert "needs --topic-data, --sentiment-data or both" in str(result.exception)
    assert not never.exists()


def test_ensemble_with_a_single_task_model_averages_only_its_head(
    data: dict, plain: dict, tmp_path: Path
) -> None:
    from models.ensemble import ensemble_reports

    topic_only = tmp_path / "topic-only"
    train_model(
        data_files={TOPIC: data["topic"]},
        out_dir=topic_only,
        model_config=ModelConfig(base_encoder=str(data["encoder"]), method="full"),
        train_config=TrainConfig(epochs=1, max_steps=3, batch_size=8, progress=False),
    )
    alone = ensemble_reports([plain["out"]], news_dev_file=data["news_dev"])
    mixed = ensemble_reports([plain["out"], topic_only], news_dev_file=data["news_dev"])
    assert set(mixed["dev"]) == set(alone["dev"])
    # The sentiment and news sets are the first model's alone; topic is the pair's mean.
    assert mixed["dev"]["sentiment"] == alone["dev"]["sentiment"]
    assert mixed["dev"]["news_sentiment"] == alone["dev"]["news_sentiment"]
    sentiment_only = make_tiny_model_dir(tmp_path / "sentiment", tasks=(SENTIMENT,))
    with pytest.raises(ValueError, match="none of the heads"):
        ensemble_reports([topic_only, sentiment_only], news_dev_file=data["news_dev"])


def test_consistency_loss_is_the_symmetric_kl_of_the_two_passes() -> None:
    torch.manual_seed(0)
    first, second = {"sentiment": torch.randn(4, 3)}, {"sentiment": torch.randn(4, 3)}
    loss = consistency_loss(first, second)["sentiment"]
    p = torch.softmax(first["sentiment"], -1)
    q = torch.softmax(second["sentiment"], -1)
    expected = 0.5 * ((p * (p / q).log()).sum(-1) + (q * (q / p).log()).sum(-1)).mean()
    assert torch.isclose(loss, expected)
    assert loss > 0
    assert torch.isclose(consistency_loss(second, first)["sentiment"], loss)


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
def rdrop(data: dict) -> dict:
    """A run with R-Drop and no teacher."""
    return _train(data, data["root"] / "rdrop", rdrop=1.0)


def test_rdrop_changes_training_only_with_a_weight(data: dict, plain: dict, rdrop: dict) -> None:
    weightless = _train(data, data["root"] / "rdrop-weightless", rdrop=0.0)
    assert weightless["version"] == plain["version"]
    assert rdrop["version"] != plain["version"]
    assert rdrop["train_config"]["rdrop"] == 1.0
    assert load_model_dir(data["root"] / "rdrop").card["version"] == rdrop["version"]


def test_rdrop_with_a_teacher_still_distils(data: dict, rdrop: dict) -> None:
    # The doubled batch carries the teacher's targets for both copies: the teacher still
    # changes an R-Drop run.
    teacher = str(data["teacher"])
    both = _train(data, data["root"] / "rdrop-taught", teachers=(teacher,), rdrop=1.0)
    assert both["version"] != rdrop["version"]
    assert both["data"]["teachers"][0]["dir"] == teacher


def test_cli_records_rdrop_and_rejects_a_negative_one(data: dict, tmp_path: Path) -> None:
    args = tiny_train_cli_args(data["encoder"], tmp_path)
    out = tmp_path / "cli-rdrop"
    result = CliRunner().invoke(
        app, [*args, "--max-steps", "2", "--rdrop", "0.5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    card = load_model_dir(out).card
    assert card["train_config"]["rdrop"] == 0.5
    assert "--rdrop 0.5" in card["reproduce"][-1]
    never = tmp_path / "never"
    result = CliRunner().invoke(app, [*args, "--rdrop", "-1", "--out", str(never)])
    assert isinstance(result.exception, FinsentError)
    assert str(result.exception) == "rdrop must be >= 0, got -1.0"
    assert not never.exists()
