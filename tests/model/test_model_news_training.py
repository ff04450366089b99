"""News sentences as their own stream in joint training, on a tiny random encoder: the
news dev split and the hand-written news set never train, the stream's share of batches,
evaluation every N steps and selection on the mean of all dev macro-F1s."""

from __future__ import annotations

import json

import pytest

from models import Scorer
from models.config import ModelConfig, TrainConfig
from models.data import NEWS_DEV_FILE, read_labelled_csv, write_news_dev_file
from models.evaluate import evaluate_csv
from models.metrics import classification_report
from models.tasks import NEWS_SENTIMENT, SENTIMENT, TOPIC
from models.testing import make_tiny_encoder_dir, write_csv, write_tiny_training_csvs
from models.text import clean_text
from models.train import (
    NEWS_STREAM,
    evaluation_steps,
    prepare_news,
    selection_score,
    stream_probabilities,
    train_model,
)

HAND_WRITTEN = NEWS_DEV_FILE.with_name("news_headlines_eval.csv")


@pytest.fixture(scope="module")
def news_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("news-train")
    hand_written_text, _ = read_labelled_csv(HAND_WRITTEN)
    # One sentence of the hand-written evaluation set, which must never train.
    files = write_tiny_training_csvs(
        root, extra_news=[[hand_written_text[0], "neutral", "reuters"]]
    )
    topic, sentiment, news = files["topic"], files["sentiment"], files["news"]
    dev_file = root / "news_dev.csv"
    n_dev = write_news_dev_file(news, dev_file)
    mc = ModelConfig(base_encoder=str(make_tiny_encoder_dir(root / "encoder")), method="full")
    tc = TrainConfig(
        epochs=1,
        max_steps=12,
        eval_every=5,
        batch_size=8,
        augment_n=0,
        news_share=0.25,
        progress=False,
        num_threads=2,
    )
    out = root / "model"
    card = train_model(
        data_files={TOPIC: topic, SENTIMENT: sentiment},
        out_dir=out,
        model_config=mc,
        train_config=tc,
        news_data=news,
        news_dev_file=dev_file,
    )
    return {
        "root": root,
        "news": news,
        "dev_file": dev_file,
        "n_dev": n_dev,
        "n_news": 2 * 3 * 15 + 1,  # two sources, three labels, the hand-written one
        "hand_written": clean_text(hand_written_text[0]),
        "topic": topic,
        "sentiment": sentiment,
        "mc": mc,
        "out": out,
        "card": card,
    }


def test_stream_probabilities_give_news_its_share_and_keep_the_tweet_mixing() -> None:
    tc = TrainConfig(mixing="temperature", temperature=2.0, news_share=0.2)
    tweets = stream_probabilities([10_000, 2_500], tc=tc, news=False)
    assert tweets == pytest.approx([2 / 3, 1 / 3])  # sqrt(10000) : sqrt(2500) = 100 : 50
    with_news = stream_probabilities([10_000, 2_500, 1_000], tc=tc, news=True)
    assert with_news == pytest.approx([0.8 * 2 / 3, 0.8 / 3, 0.2])
    assert sum(with_news) == pytest.approx(1.0)


def test_evaluation_steps_every_n_at_epoch_ends_and_the_last_step() -> None:
    tc = TrainConfig(eval_every=40)
    assert evaluation_steps(total_steps=130, steps_per_epoch=50, tc=tc) == [
        40,
        50,
        80,
        100,
        120,
        130,
    ]
    per_epoch = TrainConfig(eval_every=None)
    assert evaluation_steps(total_steps=100, steps_per_epoch=50, tc=per_epoch) == [50, 100]
    never_per_epoch = TrainConfig(eval_every=None, eval_every_epoch=False)
    assert evaluation_steps(total_steps=100, steps_per_epoch=50, tc=never_per_epoch) == [100]


def test_selection_is_the_mean_macro_f1_of_every_dev_set() -> None:
    summary = {
        "topic": {"macro_f1": 0.8, "accuracy": 0.9},
        "sentiment": {"macro_f1": 0.7, "accuracy": 0.8},
        NEWS_STREAM: {"macro_f1": 0.6, "accuracy": 0.7},
    }
    assert selection_score(summary) == pytest.approx(0.7)


def test_news_dev_and_the_hand_written_set_never_train(news_run: dict) -> None:
    train, dev, info = prepare_news(
        news_run["news"], dev_file=news_run["dev_file"], exclude_texts=[news_run["hand_written"]]
    )
    dev_texts, _ = read_labelled_csv(news_run["dev_file"])
    assert len(dev) == news_run["n_dev"] > 0
    assert set(train.texts).isdisjoint(clean_text(t) for t in dev_texts)
    assert news_run["hand_written"] not in train.texts
    assert info["train_dropped_as_eval_text"] == 1
    assert len(train) + len(dev) + 1 == news_run["n_news"]
    assert train.task == SENTIMENT


def test_a_news_file_the_dev_split_does_not_index_is_refused(news_run: dict, tmp_path) -> None:
    other = write_csv(
        tmp_path / "other.csv",
        ["text", "sentiment", "source"],
        [["something else", "neutral", "wsj"]] * news_run["n_news"],
    )
    with pytest.raises(ValueError, match="is not the one"):
        prepare_news(other, dev_file=news_run["dev_file"])


def test_news_trains_as_a_stream_on_the_sentiment_head(news_run: dict) -> None:
    card = news_run["card"]
    news_info = card["data"][NEWS_STREAM]
    assert news_info["head"] == "sentiment"
    assert news_info["dev"] == news_run["n_dev"]
    assert news_info["train_dropped_as_eval_text"] == 1
    streams = card["streams"]
    assert list(streams) == ["topic", "sentiment", NEWS_STREAM]
    assert streams[NEWS_STREAM] == {
        "head": "sentiment",
        "train": news_info["train"],
        "batch_share": 0.25,
    }
    # The model keeps exactly two heads: news shares the sentiment one.
    scorer = Scorer.from_pretrained(news_run["out"], device="cpu", quantize="none")
    assert [t.name for t in scorer.tasks] == ["topic", "sentiment"]
    assert set(card["dev_metrics"]) == {"topic", "sentiment"}
    assert set(card["news_dev_metrics"]) == {"accuracy", "macro_f1", "weighted_f1"}


def test_a_separate_news_head_trains_on_news_only_and_scores_articles(news_run: dict) -> None:
    tc = TrainConfig(
        max_steps=8,
        eval_every=4,
        batch_size=8,
        augment_n=0,
        news_share=0.25,
        news_head="separate",
        progress=False,
        num_threads=2,
    )
    out = news_run["root"] / "separate"
    card = train_model(
        data_files={TOPIC: news_run["topic"], SENTIMENT: news_run["sentiment"]},
        out_dir=out,
        model_config=news_run["mc"],
        train_config=tc,
        news_data=news_run["news"],
        news_dev_file=news_run["dev_file"],
    )
    assert card["streams"][NEWS_STREAM]["head"] == NEWS_SENTIMENT.name
    assert card["data"][NEWS_STREAM]["head"] == NEWS_SENTIMENT.name
    assert set(card["calibration"]) == {"topic", "sentiment", NEWS_SENTIMENT.name}
    scorer = Scorer.from_pretrained(out, device="cpu", quantize="none")
    assert [t.name for t in scorer.tasks] == ["topic", "sentiment", NEWS_SENTIMENT.name]
    assert scorer.article_sentiment_head == NEWS_SENTIMENT.name
    # predict() reports the news head's calibrated probabilities, not the tweet head's.
    texts = ["Acme raises its full-year outlook", "Shares of Beta slump after a profit warning"]
    probs = scorer.predict_proba(texts)
    for prediction, news_p, tweet_p in zip(
        scorer.predict(texts), probs[NEWS_SENTIMENT.name], probs["sentiment"], strict=True
    ):
        reported = [prediction.sentiment_probabilities[label] for label in SENTIMENT.labels]
        assert reported == pytest.approx(news_p.tolist())
        assert reported != pytest.approx(tweet_p.tolist(), abs=1e-6)
    # finsent evaluate scores the sentiment column with the same head.
    report = evaluate_csv(scorer, news_run["dev_file"], tasks=["sentiment"])["sentiment"]
    dev_texts, dev_columns = read_labelled_csv(news_run["dev_file"])
    news_p = scorer.predict_proba(dev_texts)[NEWS_SENTIMENT.name]
    expected = classification_report(
        SENTIMENT.encode(dev_columns["sentiment"]), news_p.argmax(1).tolist(), SENTIMENT.labels
    )
    assert report["confusion"] == expected["confusion"]
    assert report["calibration"]["temperature"] == round(scorer.temperatures[NEWS_STREAM], 4)
    # A model without a news head reports the shared sentiment head.
    shared = Scorer.from_pretrained(news_run["out"], device="cpu", quantize="none")
    assert shared.article_sentiment_head == "sentiment"


def test_dev_sets_are_scored_every_n_steps_and_the_best_step_is_kept(news_run: dict) -> None:
    card = news_run["card"]
    assert card["steps"]["total"] == 12
    assert [h["step"] for h in card["history"]] == [5, 10, 12]
    for entry in card["history"]:
        assert set(entry["dev"]) == {"topic", "sentiment", NEWS_STREAM}
        assert entry["selection"] == pytest.approx(selection_score(entry["dev"]), abs=1e-4)
    best = max(card["history"], key=lambda h: h["selection"])
    # The first of equal scores is kept (only a strictly better one replaces it).
    assert card["best_step"] == best["step"]
    assert card["selection_score"] == best["selection"]
    on_disk = json.loads((news_run["out"] / "model_card.json").read_text())
    assert on_disk["best_step"] == card["best_step"]
    assert on_disk["version"] == card["version"]


def test_the_train_command_takes_news_data(news_run: dict, monkeypatch) -> None:
    from typer.testing import CliRunner

    import models.train
    from pipeline.cli import app

    # The command holds out the shipped news dev split; this file's split stands in for it.
    monkeypatch.setitem(
        models.train.train_model.__kwdefaults__, "news_dev_file", news_run["dev_file"]
    )
    args = [
        "train",
        "--topic-data",
        str(news_run["topic"]),
        "--sentiment-data",
        str(news_run["sentiment"]),
        "--news-data",
        str(news_run["news"]),
        "--news-share",
        "0.3",
        "--base-encoder",
        news_run["mc"].base_encoder,
        "--method",
        "full",
        "--max-steps",
        "6",
        "--eval-every",
        "3",
        "--batch-size",
        "8",
        "--augment-n",
        "0",
        "--device",
        "cpu",
        "--out",
        str(news_run["root"] / "cli"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "  news dev (sentiment head): accuracy " in result.stdout
    card = json.loads((news_run["root"] / "cli" / "model_card.json").read_text())
    assert card["streams"][NEWS_STREAM]["batch_share"] == 0.3
    assert [h["step"] for h in card["history"]] == [3, 6]


def test_the_train_command_refuses_a_news_file_the_split_does_not_fit(
    news_run: dict, tmp_path
) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.errors import FinsentError

    other = write_csv(
        tmp_path / "other.csv", ["text", "sentiment", "source"], [["x", "neutral", "wsj"]]
    )
    args = [
        "train",
        "--topic-data",
        str(news_run["topic"]),
        "--sentiment-data",
        str(news_run["sentiment"]),
        "--news-data",
        str(other),
        "--base-encoder",
        news_run["mc"].base_encoder,
        "--method",
        "full",
        "--max-steps",
        "2",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "out"),
    ]
    result = CliRunner().invoke(app, args)
    # A FinsentError: `finsent` prints it as one line and exits 1.
    assert isinstance(result.exception, FinsentError)
    message = str(result.exception)
    assert "is not the one" in message and "\n" not in message
