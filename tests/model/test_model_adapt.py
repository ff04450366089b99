"""`finsent adapt`: masked-language-model adaptation of the encoder on the training texts.
The masking and batching are checked as pure logic; a tiny encoder is adapted end to end
and then trained from with `finsent train --init-from`; no dev or hand-written text is ever
an adaptation text; an adapted directory labels nothing."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from models.adapt import AdaptConfig, adapt_encoder, adaptation_texts, bucketed_batches, mask_tokens
from models.checkpoint import HEADS_TRAINED, load_model_dir
from models.config import ModelConfig, TrainConfig
from models.data import write_news_dev_file
from models.scorer import Scorer
from models.tasks import MISSING_LABEL, SENTIMENT, TOPIC
from models.testing import make_tiny_encoder_dir, write_csv, write_tiny_training_csvs
from models.text import clean_text
from models.train import _hand_written_news_texts, prepare_splits, train_model
from pipeline.cli import app
from pipeline.errors import FinsentError

MASK_ID, VOCAB = 103, 1000


def _mask(ids: torch.Tensor, maskable: torch.Tensor, seed: int, prob: float = 0.15):
    return mask_tokens(
        ids,
        maskable,
        mask_id=MASK_ID,
        vocab_size=VOCAB,
        prob=prob,
        generator=torch.Generator().manual_seed(seed),
    )


def test_masking_chooses_only_maskable_tokens_at_the_rate_asked() -> None:
    ids = torch.randint(200, VOCAB, (400, 50), generator=torch.Generator().manual_seed(0))
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, :2] = False  # e.g. [CLS] and a short text's padding
    maskable[:, -10:] = False
    inputs, labels = _mask(ids, maskable, seed=1)
    chosen = labels != MISSING_LABEL
    assert not (chosen & ~maskable).any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])  # nothing else is touched
    rate = chosen.sum().item() / maskable.sum().item()
    assert 0.14 < rate < 0.16
    # BERT's split of the chosen tokens: 80% [MASK], ~10% random, ~10% kept.
    masked = (inputs == MASK_ID) & chosen
    kept = (inputs == ids) & chosen
    n = chosen.sum().item()
    assert 0.78 < masked.sum().item() / n < 0.82
    assert 0.08 < kept.sum().item() / n < 0.12  # (a random token may equal the original)
    # The same seed gives the same masks; another seed does not.
    again = _mask(ids, maskable, seed=1)
    assert torch.equal(again[0], inputs) and torch.equal(again[1], labels)
    assert not torch.equal(_mask(ids, maskable, seed=2)[1], labels)


def test_masking_always_leaves_a_token_to_predict() -> None:
    ids = torch.tensor([[101, 7, 8, 102, 0]])
    maskable = torch.tensor([[False, True, True, False, False]])
    for seed in range(20):
        _, labels = _mask(ids, maskable, seed=seed, prob=1e-6)
        chosen = labels != MISSING_LABEL
        assert chosen.sum() == 1 and not (chosen & ~maskable).any()


def test_bucketed_batches_cover_every_text_once_per_pass_with_little_padding() -> None:
    lengths = [random.Random(i).randint(5, 60) for i in range(1000)]
    stream = bucketed_batches(lengths, 32, random.Random(3), pool=5)
    first_pass = [next(stream) for _ in range(1000 // 32)]
    flat = [i for batch in first_pass for i in batch]
    assert all(len(batch) == 32 for batch in first_pass)
    assert len(set(flat)) == len(flat) == 992  # the last 8 wait for the next pass
    # Each batch is a run of a length-sorted pool: its spread is far below the data's.
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first_pass]
    assert sum(spread) / len(spread) < 20
    # The next pass reshuffles: same texts, another order.
    second_pass = [next(stream) for _ in range(1000 // 32)]
    assert second_pass != first_pass


def test_adaptation_texts_leave_out_every_dev_and_hand_written_text(tmp_path: Path) -> None:
    hand_written = _hand_written_news_texts()[0]
    files = write_tiny_training_csvs(tmp_path, extra_news=[[hand_written, "positive", "wsj"]])
    write_news_dev_file(files["news"], tmp_path / "news_dev.csv")
    split = TrainConfig(augment=False)
    _, sentiment_dev, _ = prepare_splits({SENTIMENT: files["sentiment"]}, split)
    # The sentiment dev tweets as topic rows too: those that land in topic *training* must
    # not come in through the other file.
    topic = write_csv(
        tmp_path / "topic-plus.csv",
        ["text", "topic"],
        [
            *[[f"topic post {i}", "Macro"] for i in range(60)],
            *[[text, "Macro"] for text in sentiment_dev["sentiment"].texts],
        ],
    )
    data = {TOPIC: topic, SENTIMENT: files["sentiment"]}
    train, dev, _ = prepare_splits(data, split)
    leaks = set(train["topic"].texts) & set(sentiment_dev["sentiment"].texts)
    assert leaks  # the case under test really arises
    texts, dev_texts, info = adaptation_texts(
        data, files["news"], AdaptConfig(steps=1), news_dev_file=tmp_path / "news_dev.csv"
    )
    tweet_dev = {t for d in dev.values() for t in d.texts}
    news_dev = {clean_text(t) for t in _csv_texts(tmp_path / "news_dev.csv")}
    assert tweet_dev | news_dev == set(dev_texts)
    assert not set(texts) & (tweet_dev | news_dev | set(_hand_written_news_texts()))
    assert not leaks & set(texts) and clean_text(hand_written) not in texts
    candidates = {t for d in train.values() for t in d.texts}
    assert candidates - tweet_dev - news_dev <= set(texts)  # nothing else is lost
    assert len(texts) == len(set(texts)) == info["texts"]["train"]
    assert info["texts"]["dropped"] >= 1
    assert any(t.startswith("wsj news sentence") for t in texts)  # news training rows are in


def _csv_texts(path: Path) -> list[str]:
    import csv

    with path.open(encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def adapted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("adapt")
    files = write_tiny_training_csvs(root, news_per_label=12)
    write_news_dev_file(files["news"], root / "news_dev.csv")
    encoder = make_tiny_encoder_dir(root / "encoder")
    mc = ModelConfig(base_encoder=str(encoder), method="full", freeze_embeddings=True)
    card = adapt_encoder(
        data_files={TOPIC: files["topic"], SENTIMENT: files["sentiment"]},
        news_data=files["news"],
        news_dev_file=root / "news_dev.csv",
        out_dir=root / "adapted",
        model_config=mc,
        config=AdaptConfig(
            steps=30,
            head_steps=10,
            batch_size=16,
            eval_every=10,
            lr=3e-3,
            head_lr=0.05,
            progress=False,
        ),
        command="finsent adapt --out adapted",
    )
    return {"root": root, "files": files, "encoder": encoder, "mc": mc, "card": card}


def test_adaptation_learns_the_masked_tokens_and_moves_only_the_encoder(adapted: dict) -> None:
    card = adapted["card"]
    history = card["history"]
    assert [h["step"] for h in history] == [0, 10, 20, 30, 40]
    assert history[-1]["dev"]["loss"] < history[0]["dev"]["loss"] - 1.0
    assert card[HEADS_TRAINED] is False
    assert card["reproduce"] == ["finsent adapt --out adapted"]
    assert card["steps"] == {"head": 10, "total": 40, "per_epoch": card["steps"]["per_epoch"]}
    loaded = load_model_dir(adapted["root"] / "adapted")
    base = load_model_dir_encoder(adapted["encoder"])
    after = loaded.model.encoder.state_dict()
    # The word embeddings (the tied decoder) are the base encoder's; the layers moved.
    name = "embeddings.word_embeddings.weight"
    assert torch.equal(after[name], base[name])
    layer = "encoder.layer.0.attention.self.query.weight"
    assert not torch.allclose(after[layer], base[layer], atol=1e-3)


def load_model_dir_encoder(path: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(path)).state_dict()


def test_an_adapted_encoder_is_a_start_for_training_not_a_labeller(adapted: dict) -> None:
    root, files = adapted["root"], adapted["files"]
    scorer = Scorer.from_pretrained(root / "adapted", device="cpu")
    with pytest.raises(ValueError, match="heads are untrained"):
        scorer.check_labels_articles()
    with pytest.raises(ValueError, match="heads are untrained"):
        scorer.predict(["Shares of Acme rose 5%"])
    card = train_model(
        data_files={TOPIC: files["topic"], SENTIMENT: files["sentiment"]},
        news_data=files["news"],
        news_dev_file=root / "news_dev.csv",
        out_dir=root / "student",
        model_config=adapted["mc"],
        train_config=TrainConfig(
            max_steps=4,
            batch_size=8,
            augment_n=0,
            progress=False,
            init_from=str(root / "adapted"),
        ),
        command="finsent train --init-from adapted --out student",
    )
    # The student starts from the adapted weights (step 0 scores them) and can label.
    assert card["history"][0]["step"] == 0
    assert card["reproduce"] == [
        "finsent adapt --out adapted",
        "finsent train --init-from adapted --out student",
    ]
    assert HEADS_TRAINED not in card
    Scorer.from_pretrained(root / "student", device="cpu").check_labels_articles()


def test_finsent_adapt_cli(adapted: dict) -> None:
    root, files = adapted["root"], adapted["files"]
    runner = CliRunner()
    args = [
        "adapt",
        "--topic-data",
        str(files["topic"]),
        "--sentiment-data",
        str(files["sentiment"]),
        "--base-encoder",
        str(adapted["encoder"]),
        "--steps",
        "3",
        "--head-steps",
        "2",
        "--batch-size",
        "16",
        "--out",
        str(root / "cli"),
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["texts"]["train"] > 100 and summary["dev"]["before"]["loss"] > 0
    card = json.loads((root / "cli" / "model_card.json").read_text())
    assert card["reproduce"][0].startswith("finsent adapt --topic-data")
    assert "--steps 3 --head-steps 2" in card["reproduce"][0]
    # predict refuses the adapted directory with one line; nothing is labelled.
    refused = runner.invoke(app, ["predict", "--model", str(root / "cli"), "Acme beats"])
    assert isinstance(refused.exception, FinsentError)
    assert "heads are untrained" in str(refused.exception)
    assert "\n" not in str(refused.exception) and refused.stdout == ""
    # Bad input is one line, and nothing is written: no task data, or too few texts.
    none = runner.invoke(app, ["adapt", "--out", str(root / "none")])
    assert isinstance(none.exception, FinsentError)
    assert "needs --topic-data" in str(none.exception)
    big = runner.invoke(app, [*args[:-5], "--batch-size", "5000", "--out", str(root / "big")])
    assert isinstance(big.exception, FinsentError)
    assert "fewer than one batch" in str(big.exception)
    assert not (root / "none").exists() and not (root / "big").exists()


def test_simcse_adaptation_moves_the_encoder_under_its_own_dev_measure(adapted: dict) -> None:
    root, files = adapted["root"], adapted["files"]
    card = adapt_encoder(
        data_files={TOPIC: files["topic"], SENTIMENT: files["sentiment"]},
        out_dir=root / "simcse",
        model_config=adapted["mc"],
        config=AdaptConfig(
            objective="simcse",
            head_steps=0,
            steps=6,
            batch_size=16,
            eval_every=3,
            lr=3e-3,
            progress=False,
        ),
    )
    history = card["history"]
    assert [h["step"] for h in history] == [0, 3, 6]
    assert all(h["dev"]["loss"] >= 0 and 0 <= h["dev"]["accuracy"] <= 1 for h in history)
    assert card["adapt_config"]["objective"] == "simcse" and card[HEADS_TRAINED] is False
    base = load_model_dir_encoder(adapted["encoder"])
    after = load_model_dir(root / "simcse").model.encoder.state_dict()
    layer = "encoder.layer.1.output.dense.weight"
    assert not torch.allclose(after[layer], base[layer], atol=1e-3)
    name = "embeddings.word_embeddings.weight"
    assert torch.equal(after[name], base[name])


def test_adapt_config_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="simcse trains no head"):
        AdaptConfig(objective="simcse", head_steps=10)
    with pytest.raises(ValueError, match="objective must be mlm or simcse"):
        AdaptConfig(objective="tsdae")
    with pytest.raises(ValueError, match="mask_prob"):
        AdaptConfig(mask_prob=1.5)
