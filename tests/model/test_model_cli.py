"""`finsent evaluate` and `finsent predict`: in-process on the tiny model (fast), and as a
real process on the shipped default model (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import FinsentError

SAMPLE = (
    "text,topic,sentiment\n"
    "Acme beats estimates,Earnings,positive\n"
    "Fed holds rates,Fed | Central Banks,neutral\n"
)
PREDICT_KEYS = {
    "text",
    "topic",
    "topic_probability",
    "sentiment",
    "sentiment_probabilities",
    "sentiment_score",
}


def invoke(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


def test_predict_json_lines_and_stdin(tiny_model_dir: Path) -> None:
    result = invoke(
        "predict",
        "--model",
        str(tiny_model_dir),
        "--json",
        "Acme beats",
        "--input",
        "-",
        stdin="Fed holds rates\n\n",
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["Acme beats", "Fed holds rates", ""]
    assert all(set(r) == PREDICT_KEYS for r in rows)


def test_predict_table_and_errors(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = invoke("predict", "--model", str(tiny_model_dir), "Acme beats")
    assert result.exit_code == 0, result.output
    assert "sentiment" in result.stdout.splitlines()[0] and "Acme beats" in result.stdout
    missing = invoke("predict", "--model", str(tmp_path), "x")
    assert isinstance(missing.exception, FinsentError)
    assert "no model directory" in str(missing.exception)
    nothing = invoke("predict", "--model", str(tiny_model_dir))
    assert isinstance(nothing.exception, FinsentError)
    assert "nothing to score" in str(nothing.exception)


def test_predict_reads_utf8_lines_and_refuses_other_encodings(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    good = tmp_path / "good.txt"
    good.write_bytes("\ufeffAcme beats\r\nKurs fällt \u2028 weiter\r\n".encode())
    result = invoke("predict", "--model", str(tiny_model_dir), "--json", "--input", str(good))
    assert result.exit_code == 0, result.output
    texts = [json.loads(line)["text"] for line in result.stdout.splitlines()]
    assert texts == ["Acme beats", "Kurs fällt \u2028 weiter"]  # BOM, CRs dropped; U+2028 kept
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Acme beats\nKurs fällt\n".encode("latin-1"))
    for args, stdin, where in (
        (["--input", str(latin1)], None, str(latin1)),
        (["--input", "-"], latin1.read_bytes(), "standard input"),
    ):
        bad = CliRunner().invoke(
            app, ["predict", "--model", str(tiny_model_dir), *args], input=stdin
        )
        assert isinstance(bad.exception, FinsentError)
        message = str(bad.exception)
        assert message.startswith(f"{where} is not UTF-8 text (byte 0xe4 on line 2)")
        assert "\n" not in message


def test_evaluate_by_a_column(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "by.csv"
    data.write_text("text,sentiment,source\nAcme beats,positive,wsj\nOil falls,negative,reuters\n")
    result = invoke("evaluate", "--model", str(tiny_model_dir), str(data), "--by", "source")
    assert result.exit_code == 0, result.output
    assert "by source" in result.stdout
    assert "source = reuters" in result.stdout and "source = wsj" in result.stdout
    as_json = json.loads(
        invoke(
            "evaluate", "--model", str(tiny_model_dir), str(data), "--by", "source", "--json"
        ).stdout
    )
    assert set(as_json) == {"overall", "by", "groups"}
    assert {g: r["sentiment"]["n"] for g, r in as_json["groups"].items()} == {
        "reuters": 1,
        "wsj": 1,
    }
    missing = invoke("evaluate", "--model", str(tiny_model_dir), str(data), "--by", "nope")
    assert isinstance(missing.exception, FinsentError)
    assert "no column 'nope' to group by" in str(missing.exception)


def test_help_documents_json_lines_and_every_train_option() -> None:
    import re

    predict_help = invoke("predict", "--help").stdout
    assert "JSON Lines" in predict_help
    train_help = invoke("train", "--help").stdout
    # Each option line of the help (Rich's table rows) carries a description.
    options = re.findall(r"--[a-z][a-z0-9-]*", train_help)
    assert "--augment-n" in options and "--lora-r" in options
    import inspect

    from pipeline.cli.model import train

    for name, param in inspect.signature(train).parameters.items():
        if name == "ctx":  # the parser's context, given by Typer, not an option
            continue
        assert param.default.help, f"train --{name.replace('_', '-')} has no help"


def test_evaluate_json_and_unknown_label(tiny_model_dir: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(SAMPLE)
    result = invoke("evaluate", "--model", str(tiny_model_dir), str(good), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"topic", "sentiment"}
    assert set(report["sentiment"]) == {
        "n",
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "per_class",
        "confusion",
        "calibration",
    }
    assert set(report["sentiment"]["calibration"]) == {"temperature", "ece_before", "ece_after"}
    text = invoke("evaluate", "--model", str(tiny_model_dir), str(good))
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert any(line.startswith("topic: n=2  accuracy ") and "ECE" in line for line in lines)
    assert any(line.startswith("sentiment: n=2  accuracy ") for line in lines)
    assert any(line.startswith("topic confusion matrix") for line in lines)
    bad = tmp_path / "bad.csv"
    bad.write_text("text,sentiment\nA,bullish\n")
    err = invoke("evaluate", "--model", str(tiny_model_dir), str(bad))
    assert isinstance(err.exception, FinsentError)
    assert "unknown sentiment label(s) ['bullish']" in str(err.exception)


def test_a_single_task_model_is_evaluated_but_labels_no_article(tmp_path: Path) -> None:
    """A topic-only model (`finsent train --topic-data` alone, a teacher) has no sentiment:
    `finsent predict` refuses it in one line before scoring anything, `finsent evaluate`
    reports the head it has, and the Scorer says the same to a library caller."""
    from models import Scorer
    from models.tasks import TOPIC
    from models.testing import make_tiny_model_dir

    topic_only = make_tiny_model_dir(tmp_path / "topic-only", tasks=[TOPIC])
    refused = invoke("predict", "--model", str(topic_only), "Acme beats")
    assert isinstance(refused.exception, FinsentError)
    message = str(refused.exception)
    assert message.startswith(f"cannot load the model from {topic_only}: ")
    assert "no sentiment head (it has topic)" in message and "\n" not in message
    assert refused.stdout == ""
    data = tmp_path / "labelled.csv"
    data.write_text(SAMPLE)
    result = invoke("evaluate", "--model", str(topic_only), str(data), "--json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) == {"topic"}
    with pytest.raises(ValueError, match="no sentiment head"):
        Scorer.from_pretrained(topic_only, device="cpu").predict(["Acme beats"])


@pytest.mark.slow
def test_shipped_model_is_the_default_of_the_real_command() -> None:
    eval_csv = Path(__file__).resolve().parents[2] / "models" / "data" / "news_headlines_eval.csv"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pipeline.cli import main; main()",
            "evaluate",
            str(eval_csv),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["sentiment"]["n"] >= 300
    assert report["sentiment"]["accuracy"] > 0.6
    pred = invoke("predict", "--json", "Acme issues profit warning, shares plunge")
    assert pred.exit_code == 0, pred.output
    assert json.loads(pred.stdout)["sentiment"] == "negative"
