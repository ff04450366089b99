"""Model directories: self-contained, versioned by content, identical outputs after reload."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from models import Scorer
from models.checkpoint import content_version, load_model_dir, save_model_dir
from models.testing import make_tiny_model_dir

TEXTS = ["Acme beats estimates, raises guidance", "Fed holds rates", "", "$TSLA 📉 &amp; more"]


def test_tiny_dir_is_complete_and_self_contained(tiny_model_dir: Path) -> None:
    names = {p.relative_to(tiny_model_dir).as_posix() for p in tiny_model_dir.rglob("*")}
    assert {"model_card.json", "finsent_config.json", "heads.safetensors"} <= names
    assert "tokenizer/tokenizer.json" in names
    card = json.loads((tiny_model_dir / "model_card.json").read_text())
    assert card["version"] == content_version(tiny_model_dir)
    assert [t["name"] for t in card["tasks"]] == ["topic", "sentiment"]


def test_save_load_round_trip_gives_identical_outputs(tiny_model_dir: Path, tmp_path: Path) -> None:
    loaded = load_model_dir(tiny_model_dir)
    copy = tmp_path / "copy"
    save_model_dir(
        loaded.model,
        loaded.tokenizer,
        copy,
        model_config=loaded.model_config,
        temperatures=loaded.temperatures,
    )
    a = Scorer.from_pretrained(tiny_model_dir, device="cpu", quantize="none")
    b = Scorer.from_pretrained(copy, device="cpu", quantize="none")
    assert a.version == b.version  # same contents, same version
    la, lb = a.predict_logits(TEXTS), b.predict_logits(TEXTS)
    for task in la:
        np.testing.assert_array_equal(la[task], lb[task])
    assert [p.as_dict() for p in a.predict(TEXTS)] == [p.as_dict() for p in b.predict(TEXTS)]


def test_moved_directory_still_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    shutil.copytree(tiny_model_dir, moved)
    assert Scorer.from_pretrained(moved, device="cpu").predict(["x"])[0].topic


def test_version_changes_with_contents(tmp_path: Path) -> None:
    a = make_tiny_model_dir(tmp_path / "a", seed=0)
    b = make_tiny_model_dir(tmp_path / "b", seed=1)
    c = make_tiny_model_dir(tmp_path / "c", seed=0)
    va, vb, vc = (json.loads((d / "model_card.json").read_text())["version"] for d in (a, b, c))
    assert va == vc
    assert va != vb


def test_lora_directory_stores_only_the_adapter(tmp_path: Path) -> None:
    from models.checkpoint import build_model
    from models.config import ModelConfig
    from models.tasks import DEFAULT_TASKS

    config = ModelConfig(method="lora", lora_r=2, lora_alpha=4)
    model, tokenizer = build_model(config, DEFAULT_TASKS)
    with torch.no_grad():  # make the adapter non-trivial so merging matters
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02)
    model.eval()
    save_model_dir(model, tokenizer, tmp_path / "lora", model_config=config)
    assert not (tmp_path / "lora" / "encoder").exists()
    adapter_bytes = sum(p.stat().st_size for p in (tmp_path / "lora" / "adapter").rglob("*"))
    assert adapter_bytes < 2_000_000
    ids = tokenizer(TEXTS[:2], padding=True, return_tensors="pt")
    with torch.inference_mode():
        before = model(ids["input_ids"], ids["attention_mask"])
    merged = load_model_dir(tmp_path / "lora").model
    with torch.inference_mode():
        after = merged(ids["input_ids"], ids["attention_mask"])
    for task in before:
        torch.testing.assert_close(after[task], before[task], atol=1e-4, rtol=1e-4)


def test_frozen_embeddings_are_read_from_the_base(tmp_path: Path) -> None:
    from models.checkpoint import FROZEN_EMBEDDINGS, build_model
    from models.config import ModelConfig
    from models.tasks import DEFAULT_TASKS

    config = ModelConfig(method="full", freeze_embeddings=True)
    model, tokenizer = build_model(config, DEFAULT_TASKS)
    assert not model.encoder.get_input_embeddings().weight.requires_grad
    with torch.no_grad():  # a "trained" layer that must survive the round trip
        model.encoder.encoder.layer[0].output.dense.weight.add_(0.01)
    model.eval()
    save_model_dir(model, tokenizer, tmp_path / "full", model_config=config, half=True)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "full" / "encoder" / "model.safetensors"), "pt") as f:
        assert FROZEN_EMBEDDINGS not in set(f.keys())
    ids = tokenizer(TEXTS[:2], padding=True, return_tensors="pt")
    reloaded = load_model_dir(tmp_path / "full").model
    with torch.inference_mode():
        before = model(ids["input_ids"], ids["attention_mask"])
        after = reloaded(ids["input_ids"], ids["attention_mask"])
    for task in before:  # fp16 storage: close, not bit-identical
        torch.testing.assert_close(after[task], before[task], atol=2e-2, rtol=2e-2)
