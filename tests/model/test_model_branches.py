"""Task branches (``ModelConfig.branch_tasks``): a task with its own copy of the encoder's top
layers reads that copy, the other heads read the encoder, and the model saves, loads,
trains and continues from an unbranched model as one network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from models import Scorer
from models.checkpoint import BRANCHES, build_model, load_model_dir, save_model_dir
from models.config import ModelConfig
from models.tasks import DEFAULT_TASKS, SENTIMENT, TOPIC
from models.testing import make_tiny_encoder_dir, make_tiny_model_dir, tiny_train_cli_args
from models.train import _load_weights
from pipeline.errors import FinsentError

TEXTS = ["Acme beats estimates, raises guidance", "Bank shares plunge after fraud probe"]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_encoder_dir(tmp_path_factory.mktemp("branches") / "encoder", layers=3)


def _config(base: Path, **branching: object) -> ModelConfig:
    return ModelConfig(base_encoder=str(base), method="full", freeze_embeddings=True, **branching)


def _batch(tokenizer: object) -> tuple[torch.Tensor, torch.Tensor]:
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")  # type: ignore[operator]
    return batch["input_ids"], batch["attention_mask"]


def _shift(layer: torch.nn.Module) -> None:
    """Change a layer's output, as training would (not by a constant: LayerNorm removes it)."""
    bias = layer.output.dense.bias  # type: ignore[union-attr]
    bias.add_(torch.linspace(-1.0, 1.0, bias.numel()))


def test_a_new_branch_is_the_encoder_top_and_changing_it_moves_only_its_head(
    base: Path,
) -> None:
    plain, tokenizer = build_model(_config(base), DEFAULT_TASKS)
    torch.manual_seed(0)
    branched, _ = build_model(
        _config(base, branch_tasks=("topic",), branch_layers=2), DEFAULT_TASKS
    )
    branched.heads.load_state_dict(plain.heads.state_dict())
    plain.eval(), branched.eval()
    ids, mask = _batch(tokenizer)
    with torch.no_grad():
        before = plain(ids, mask)
        start = branched(ids, mask)
        for name, logits in before.items():  # a fresh branch copies the top: same outputs
            assert torch.allclose(start[name], logits, atol=1e-5)
        _shift(branched.branches["topic"][1])
        moved = branched(ids, mask)
    assert not torch.allclose(moved["topic"], before["topic"], atol=1e-3)
    assert torch.allclose(moved["sentiment"], before["sentiment"], atol=1e-5)


def test_a_branched_task_trains_its_branch_and_the_shared_layers_not_the_encoder_top(
    base: Path,
) -> None:
    model, tokenizer = build_model(
        _config(base, branch_tasks=("topic",), branch_layers=1), DEFAULT_TASKS
    )
    model.train()
    model(*_batch(tokenizer))["topic"].logsumexp(-1).sum().backward()
    top = model.encoder.encoder.layer[-1]
    assert all(p.grad is None or not p.grad.any() for p in top.parameters())
    assert any(p.grad is not None and p.grad.any() for p in model.branches.parameters())
    below = model.encoder.encoder.layer[0]
    assert any(p.grad is not None and p.grad.any() for p in below.parameters())


@pytest.mark.parametrize("half", [False, True])
def test_a_branched_model_loads_back_as_the_same_network(
    base: Path, tmp_path: Path, half: bool
) -> None:
    config = _config(base, branch_tasks=("topic",), branch_layers=2)
    model, tokenizer = build_model(config, DEFAULT_TASKS)
    with torch.no_grad():  # make the branch differ from the encoder top, as training would
        for layer in model.branches["topic"]:
            _shift(layer)
    model.eval()
    save_model_dir(model, tokenizer, tmp_path / "branched", model_config=config, half=half)

    saved = json.loads((tmp_path / "branched" / "finsent_config.json").read_text())
    assert saved["model_config"]["branch_tasks"] == ["topic"]
    assert (tmp_path / "branched" / BRANCHES).is_file()
    loaded = load_model_dir(tmp_path / "branched")
    assert loaded.model_config == config
    ids, mask = _batch(tokenizer)
    with torch.no_grad():
        before, after = model(ids, mask), loaded.model(ids, mask)
    for name, logits in before.items():
        assert torch.allclose(after[name], logits, atol=2e-2 if half else 1e-5)


def test_an_unbranched_model_is_written_as_before_branches_existed(
    base: Path, tmp_path: Path
) -> None:
    config = _config(base)
    model, tokenizer = build_model(config, DEFAULT_TASKS)
    save_model_dir(model, tokenizer, tmp_path / "plain", model_config=config)
    assert not (tmp_path / "plain" / BRANCHES).exists()
    # Nor a word of branches in its config: its version is what it was before branches existed.
    saved = json.loads((tmp_path / "plain" / "finsent_config.json").read_text())
    assert not [key for key in saved["model_config"] if key.startswith("branch")]
    assert load_model_dir(tmp_path / "plain").model_config == config


def test_continuing_an_unbranched_model_starts_each_branch_from_its_top_layers(
    base: Path, tmp_path: Path
) -> None:
    config = _config(base)
    source, tokenizer = build_model(config, DEFAULT_TASKS)
    with torch.no_grad():
        _shift(source.encoder.encoder.layer[-1])
    save_model_dir(source, tokenizer, tmp_path / "plain", model_config=config)

    branched, _ = build_model(
        _config(base, branch_tasks=("sentiment",), branch_layers=1), DEFAULT_TASKS
    )
    _load_weights(branched, str(tmp_path / "plain"))
    copy = branched.branches["sentiment"][0].state_dict()
    for name, tensor in source.encoder.encoder.layer[-1].state_dict().items():
        assert torch.allclose(copy[name], tensor.float(), atol=1e-3)  # fp32 → fp16 → fp32


@pytest.mark.parametrize(
    ("branching", "message"),
    [
        ({"branch_tasks": ("topic",), "branch_layers": 0}, "branch_layers must be >= 1"),
        ({"branch_tasks": (), "branch_layers": 1}, "branch_layers must be >= 1"),
        ({"branch_tasks": ("topic", "topic"), "branch_layers": 1}, "distinct task names"),
        ({"branch_tasks": ("topic",), "branch_layers": 1, "method": "lora"}, "'full' only"),
    ],
)
def test_branching_is_checked_where_the_config_is_made(
    branching: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ModelConfig(**branching)  # type: ignore[arg-type]


def test_finsent_train_branch_trains_a_branched_model_that_labels_articles(
    base: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    out = tmp_path / "branched"
    result = CliRunner().invoke(
        app, [*tiny_train_cli_args(base, tmp_path), "--branch", "topic", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    scorer = Scorer.from_pretrained(out, device="cpu", quantize="none")
    assert list(scorer.model.branches) == ["topic"]
    assert len(scorer.model.branches["topic"]) == 1
    (prediction,) = scorer.predict(["Acme cuts guidance"])
    assert prediction.topic in TOPIC.labels
    assert prediction.sentiment in SENTIMENT.labels
    card = json.loads((out / "model_card.json").read_text())
    assert "--branch topic" in card["reproduce"][-1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--branch", "mood"], "branch tasks ['mood'] are not tasks of this model"),
        (["--branch", "topic", "--branch-layers", "3"], "branch_layers must be in [1, 2]"),
    ],
)
def test_bad_branches_are_a_one_line_error_and_write_nothing(
    base: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    out = tmp_path / "never"
    result = CliRunner().invoke(
        app, [*tiny_train_cli_args(base, tmp_path), *extra, "--out", str(out)]
    )
    assert isinstance(result.exception, FinsentError)
    assert message in str(result.exception)
    assert not out.exists()


def _continue_with_topic_branch(base: Path, tmp_path: Path, *freezing: str) -> tuple[Path, Path]:
    """Train a tiny start, then continue it for 6 steps with a topic branch, taught by the
    start, with the ``freezing`` options; every evaluated step kept. (start, grown)."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    start, grown = tmp_path / "start", tmp_path / "grown"
    args = tiny_train_cli_args(base, tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, [*args, "--out", str(start)]).exit_code == 0
    result = runner.invoke(
        app,
        [
            *args,
            *("--init-from", str(start), "--teacher", str(start)),
            *("--branch", "topic", *freezing, "--max-steps", "6"),
            *("--eval-every", "3", "--keep-checkpoints", "--out", str(grown)),
        ],
    )
    assert result.exit_code == 0, result.output
    return start, grown


def test_freeze_shared_trains_only_the_branch_and_its_head(base: Path, tmp_path: Path) -> None:
    start, grown = _continue_with_topic_branch(base, tmp_path, "--freeze-shared")
    before = load_model_dir(start).model.state_dict()
    after = load_model_dir(grown).model
    # The branch started as the top layer and then trained (topic batches and, through the
    # teacher, sentiment batches too), unless step 0 stayed the best: check the last step.
    last = load_model_dir(tmp_path / "grown.steps" / "step-00006").model
    top = len(last.encoder.encoder.layer) - 1
    moved = [
        name
        for name, tensor in last.branches["topic"][0].state_dict().items()
        if not torch.equal(tensor, before[f"encoder.encoder.layer.{top}.{name}"])
    ]
    assert moved
    # Everything shared, and the sentiment head, is bit for bit the start's (the pooler is
    # never used nor saved).
    for model in (after, last):
        for name, tensor in model.state_dict().items():
            if not name.startswith(("branches.", "heads.topic.", "encoder.pooler.")):
                assert torch.equal(tensor, before[name]), name
    card = json.loads((grown / "model_card.json").read_text())
    assert "--freeze-shared" in card["reproduce"][-1]


def _trainable(model: torch.nn.Module) -> set[str]:
    """The trainable weights' names, cut to the part that says whose they are."""
    return {
        ".".join(name.split(".")[: 4 if name.startswith("encoder.encoder.layer.") else 2])
        for name, p in model.named_parameters()
        if p.requires_grad
    }


@pytest.mark.parametrize(
    ("branched", "tasks", "expected"),
    [
        # Topic reads its branch, so the encoder's top layer is sentiment's alone.
        (True, ["sentiment"], {"encoder.encoder.layer.2", "heads.sentiment"}),
        (True, ["topic"], {"branches.topic", "heads.topic"}),
        # Without a branch every layer is read by both tasks: only the head trains.
        (False, ["sentiment"], {"heads.sentiment"}),
    ],
)
def test_train_only_trains_the_weights_no_other_task_reads(
    base: Path, branched: bool, tasks: list[str], expected: set[str]
) -> None:
    from models.network import train_only

    branching = {"branch_tasks": ("topic",), "branch_layers": 1} if branched else {}
    model, _ = build_model(_config(base, **branching), DEFAULT_TASKS)
    train_only(model, tasks)
    assert _trainable(model) == expected


def test_train_only_every_task_keeps_what_was_frozen_frozen(base: Path) -> None:
    from models.network import train_only

    model, _ = build_model(_config(base, branch_tasks=("topic",), branch_layers=1), DEFAULT_TASKS)
    before = {name for name, p in model.named_parameters() if p.requires_grad}
    train_only(model, ["topic", "sentiment"])
    assert {name for name, p in model.named_parameters() if p.requires_grad} == before
    assert "encoder.embeddings.word_embeddings.weight" not in before  # --freeze-embeddings
    with pytest.raises(ValueError, match="tasks of this model"):
        train_only(model, ["news"])


def test_train_only_sentiment_keeps_every_topic_weight(base: Path, tmp_path: Path) -> None:
    """``--train-only sentiment`` on a start whose topic gets a branch: the encoder's top
    layer (now sentiment's alone) and the sentiment head train; topic's predictions stay."""
    start, grown = _continue_with_topic_branch(base, tmp_path, "--train-only", "sentiment")
    before = load_model_dir(start).model.state_dict()
    last = load_model_dir(tmp_path / "grown.steps" / "step-00006").model
    top = len(last.encoder.encoder.layer) - 1
    mine = (f"encoder.encoder.layer.{top}.", "heads.sentiment.")
    after = last.state_dict()
    assert any(not torch.equal(after[n], before[n]) for n in before if n.startswith(mine))
    for name, tensor in after.items():
        if name.startswith("branches.topic.0."):  # the branch is the start's top, unchanged
            mirrored = f"encoder.encoder.layer.{top}." + name.removeprefix("branches.topic.0.")
            assert torch.equal(tensor, before[mirrored]), name
        elif not name.startswith((*mine, "encoder.pooler.")):
            assert torch.equal(tensor, before[name]), name
    start_topic = Scorer.from_pretrained(start, quantize="none").predict_logits(TEXTS)["topic"]
    last_topic = Scorer.from_pretrained(
        tmp_path / "grown.steps" / "step-00006", quantize="none"
    ).predict_logits(TEXTS)["topic"]
    assert torch.allclose(torch.from_numpy(last_topic), torch.from_numpy(start_topic), atol=1e-5)
    card = json.loads((grown / "model_card.json").read_text())
    assert "--train-only sentiment" in card["reproduce"][-1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--freeze-shared"], "freeze_shared needs init_from"),
        (["--freeze-shared", "--init-from", "{start}"], "needs task branches"),
        (["--train-only", "sentiment"], "train_only needs init_from"),
        (["--train-only", "news", "--init-from", "{start}"], "tasks of this model"),
        (
            ["--train-only", "topic", "--freeze-shared", "--init-from", "{start}"],
            "use one of train_only and freeze_shared",
        ),
    ],
)
def test_freezing_without_a_start_a_branch_or_a_task_is_a_one_line_error(
    base: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    start = make_tiny_model_dir(tmp_path / "start")
    out = tmp_path / "never"
    extra = [item.format(start=start) for item in extra]
    result = CliRunner().invoke(
        app, [*tiny_train_cli_args(base, tmp_path), *extra, "--out", str(out)]
    )
    assert isinstance(result.exception, FinsentError)
    assert message in str(result.exception)
    assert not out.exists()
