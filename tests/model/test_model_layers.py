"""Depth up-scaling (``ModelConfig.layers``): an encoder built from copies of the base
encoder's layers trains, saves and loads back as the same network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from models import Scorer
from models.checkpoint import build_model, load_model_dir, save_model_dir
from models.config import ModelConfig
from models.network import arrange_layers
from models.tasks import DEFAULT_TASKS, TOPIC
from models.testing import make_tiny_encoder_dir, tiny_train_cli_args
from pipeline.errors import FinsentError


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_encoder_dir(tmp_path_factory.mktemp("layers") / "encoder", layers=2)


def test_the_arranged_stack_copies_the_named_layers_in_order(base: Path) -> None:
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(str(base))
    original = [layer.state_dict() for layer in encoder.encoder.layer]
    arrange_layers(encoder, (0, 1, 1, 0))
    assert encoder.config.num_hidden_layers == 4
    stack = encoder.encoder.layer
    for layer, source in zip(stack, (0, 1, 1, 0), strict=True):
        for name, tensor in layer.state_dict().items():
            assert torch.equal(tensor, original[source][name])
    # Copies, not shared modules: each layer trains on its own.
    assert stack[1].output.dense.weight.data_ptr() != stack[2].output.dense.weight.data_ptr()


def test_an_upscaled_model_with_frozen_embeddings_loads_back_identical(
    base: Path, tmp_path: Path
) -> None:
    config = ModelConfig(
        base_encoder=str(base), method="full", freeze_embeddings=True, layers=(0, 1, 1, 0)
    )
    model, tokenizer = build_model(config, DEFAULT_TASKS)
    with torch.no_grad():  # make the copies differ, as training would
        for i, layer in enumerate(model.encoder.encoder.layer):
            layer.output.dense.bias.add_(0.1 * i)
    model.eval()
    save_model_dir(model, tokenizer, tmp_path / "up", model_config=config)

    saved = json.loads((tmp_path / "up" / "finsent_config.json").read_text())
    assert saved["model_config"]["layers"] == [0, 1, 1, 0]
    loaded = load_model_dir(tmp_path / "up")
    assert loaded.model_config.layers == (0, 1, 1, 0)
    assert len(loaded.model.encoder.encoder.layer) == 4
    batch = tokenizer(
        ["Acme beats estimates", "Bank shares plunge"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        before = model(batch["input_ids"], batch["attention_mask"])
        after = loaded.model(batch["input_ids"], batch["attention_mask"])
    for name, logits in before.items():
        assert torch.allclose(after[name], logits, atol=1e-6)


@pytest.mark.parametrize("bad", [(), (0, -1), (True,)])
def test_layer_indices_are_checked_where_the_config_is_made(bad: tuple) -> None:
    with pytest.raises(ValueError, match="layers must be"):
        ModelConfig(layers=bad)


def test_finsent_train_layers_trains_a_deeper_model(base: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    out = tmp_path / "deeper"
    result = CliRunner().invoke(
        app, [*tiny_train_cli_args(base, tmp_path), "--layers", "0,1,1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    scorer = Scorer.from_pretrained(out, device="cpu", quantize="none")
    assert len(scorer.model.encoder.encoder.layer) == 3
    (prediction,) = scorer.predict(["Acme cuts guidance"])
    assert prediction.topic in TOPIC.labels
    card = json.loads((out / "model_card.json").read_text())
    assert "--layers 0,1,1" in card["reproduce"][-1]


@pytest.mark.parametrize(
    ("value", "message"),
    [("0,one", "--layers must be comma-separated"), ("0,2", "the base encoder lacks")],
)
def test_bad_layers_are_a_one_line_error_and_write_nothing(
    base: Path, tmp_path: Path, value: str, message: str
) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    out = tmp_path / "never"
    result = CliRunner().invoke(
        app, [*tiny_train_cli_args(base, tmp_path), "--layers", value, "--out", str(out)]
    )
    # The CLI's entry point prints a FinsentError as one line and exits 1.
    assert isinstance(result.exception, FinsentError)
    assert message in str(result.exception)
    assert not out.exists()
