"""The network: a shared encoder, mean pooling, and one linear head per task."""

from __future__ import annotations

import copy
import importlib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F

from models.config import LORA_TARGETS, MINILM_PACKAGE, ModelConfig
from models.tasks import MISSING_LABEL, TaskSpec


def resolve_encoder_path(base_encoder: str) -> Path:
    """The local directory of ``base_encoder``: the MiniLM package's folder, or a path."""
    if base_encoder == MINILM_PACKAGE:
        package = importlib.import_module(MINILM_PACKAGE)
        return Path(package.get_model_path())
    path = Path(base_encoder).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"base encoder {base_encoder!r} is neither {MINILM_PACKAGE!r} nor a directory "
            "holding a Hugging Face config.json"
        )
    return path


def arrange_layers(encoder: Any, layers: Sequence[int]) -> Any:
    """Rebuild ``encoder``'s layer stack from copies of its own layers, in ``layers`` order
    (depth up-scaling: ``ModelConfig.layers``). Each copy trains on its own afterwards."""
    stack = encoder.encoder.layer
    if max(layers) >= len(stack):
        raise ValueError(
            f"layers {tuple(layers)} name a layer the base encoder lacks "
            f"(it has {len(stack)}: 0-{len(stack) - 1})"
        )
    encoder.encoder.layer = nn.ModuleList(copy.deepcopy(stack[i]) for i in layers)
    encoder.config.num_hidden_layers = len(layers)
    return encoder


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors a text really has (padding excluded)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch, seq, 1)
    summed = (hidden * mask).sum(dim=1)  # (batch, hidden)
    return summed / mask.sum(dim=1).clamp(min=1.0)


class MultiTaskModel(nn.Module):
    """Encoder → mean pooling → dropout → ``{task: Linear(hidden, n_labels)}``.

    With ``branch_tasks``, each of those tasks has its own copy of the encoder's last
    ``branch_layers`` layers (``branches[task]``, started from the encoder's own): its head
    reads that copy's output, the other heads the encoder's. The layers below are shared and
    run once, so every head still comes from one pass over the text."""

    def __init__(
        self,
        encoder: Any,
        tasks: Sequence[TaskSpec],
        *,
        head_dropout: float = 0.1,
        branch_tasks: Sequence[str] = (),
        branch_layers: int = 0,
    ) -> None:
        # `encoder`: a Hugging Face encoder (or its peft wrapper): `.config`, `last_hidden_state`.
        super().__init__()
        names = [task.name for task in tasks]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"tasks need distinct names, got {names}")
        self.encoder = encoder
        self.tasks = tuple(tasks)
        hidden = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(head_dropout)
        self.heads = nn.ModuleDict({t.name: nn.Linear(hidden, t.num_labels) for t in tasks})
        self.branch_layers = branch_layers
        self.branches = _branches(encoder, names, branch_tasks, branch_layers)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled text vectors of the shared encoder's top, (batch, hidden)."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Logits per task, each (batch, n_labels) — one encoder pass for all heads."""
        if not self.branches:
            pooled = self.dropout(self.encode(input_ids, attention_mask))
            return {name: head(pooled) for name, head in self.heads.items()}
        from transformers.masking_utils import create_bidirectional_mask

        out = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
        )
        vectors = {"": mean_pool(out.last_hidden_state, attention_mask)}
        start = out.hidden_states[-1 - self.branch_layers]  # what the branched layers read
        mask = create_bidirectional_mask(
            config=self.encoder.config, inputs_embeds=start, attention_mask=attention_mask
        )
        for task, layers in self.branches.items():
            hidden = start
            for layer in cast(nn.ModuleList, layers):
                hidden = layer(hidden, mask)
            vectors[task] = mean_pool(hidden, attention_mask)
        return {
            name: head(self.dropout(vectors.get(name, vectors[""])))
            for name, head in self.heads.items()
        }


def freeze_shared(model: MultiTaskModel) -> None:
    """Leave only the task branches and their heads trainable."""
    if not model.branches:
        raise ValueError("freezing the shared layers needs task branches (--branch TASK)")
    model.requires_grad_(False)
    for task, layers in model.branches.items():
        layers.requires_grad_(True)
        model.heads[task].requires_grad_(True)


def train_only(model: MultiTaskModel, tasks: Collection[str]) -> None:
    """Freeze every weight that a task outside ``tasks`` reads, so that only those tasks'
    predictions can move. A head and a branch are read by their own task; the encoder's
    top ``branch_layers`` layers by the tasks without a branch (by every task when there
    is no branch); the layers below and the embeddings by every task. Weights already
    frozen (e.g. ``--freeze-embeddings``) stay frozen."""
    names = [t.name for t in model.tasks]
    unknown = sorted(set(tasks) - set(names))
    if unknown or not tasks:
        raise ValueError(
            f"tasks to train must be tasks of this model ({names}), got {sorted(tasks)}"
        )
    unbranched = {n for n in names if n not in model.branches} if model.branches else set(names)
    top = len(model.encoder.encoder.layer) - model.branch_layers
    for key, param in model.named_parameters():
        parts = key.split(".")
        if parts[0] in ("heads", "branches"):
            readers = {parts[1]}
        elif key.startswith("encoder.encoder.layer.") and int(parts[3]) >= top:
            readers = unbranched
        else:
            readers = set(names)
        if not readers or not readers <= set(tasks):
            param.requires_grad_(False)


def with_branch_weights(
    source: dict[str, torch.Tensor], model: MultiTaskModel
) -> dict[str, torch.Tensor]:
    """A state dict ``source`` plus, for each of ``model``'s branch weights it lacks, the
    weight of the encoder layer that branch layer copies (``branches.T.i.*`` ← the i-th of the
    last k, as :func:`_branches` builds them): a branch added to a saved unbranched model
    starts as that model's top."""
    n_layers = len(model.encoder.encoder.layer) if model.branches else 0
    out = dict(source)
    for key in model.state_dict():
        if not key.startswith("branches.") or key in source:
            continue
        _, _task, index, rest = key.split(".", 3)
        layer = n_layers - model.branch_layers + int(index)
        mirrored = f"encoder.encoder.layer.{layer}.{rest}"
        if mirrored in source:
            out[key] = source[mirrored]
    return out


def _branches(
    encoder: Any, task_names: Sequence[str], branch_tasks: Sequence[str], branch_layers: int
) -> nn.ModuleDict:
    """Per branched task, a copy of the encoder's last ``branch_layers`` layers."""
    unknown = sorted(set(branch_tasks) - set(task_names))
    if unknown:
        raise ValueError(f"branch tasks {unknown} are not tasks of this model ({list(task_names)})")
    if not branch_tasks:
        return nn.ModuleDict()
    stack = encoder.encoder.layer
    if not 1 <= branch_layers < len(stack):
        raise ValueError(
            f"branch_layers must be in [1, {len(stack) - 1}] for a {len(stack)}-layer "
            f"encoder, got {branch_layers}"
        )
    return nn.ModuleDict(
        {
            task: nn.ModuleList(copy.deepcopy(layer) for layer in stack[-branch_layers:])
            for task in branch_tasks
        }
    )


def joint_loss(
    logits: Mapping[str, torch.Tensor],
    labels: torch.Tensor,
    tasks: Sequence[TaskSpec],
    *,
    task_weights: Mapping[str, float] | None = None,
    class_weights: Mapping[str, torch.Tensor] | None = None,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``L = Σ_k λ_k L_k``; ``L_k`` averages only over examples labelled for task k.

    ``labels`` is (batch, n_tasks) in ``tasks`` order, ``MISSING_LABEL`` where an example has
    no label for a task. A task with no labelled example in the batch contributes exactly 0
    (not NaN), so batches drawn from one data set train only their own head.
    """
    if labels.dim() != 2 or labels.shape[1] != len(tasks):
        raise ValueError(f"labels must be (batch, {len(tasks)}), got {tuple(labels.shape)}")
    weights = task_weights or {}
    per_task: dict[str, torch.Tensor] = {}
    total = torch.zeros((), device=labels.device, dtype=torch.float32)
    for k, task in enumerate(tasks):
        target = labels[:, k]
        present = target != MISSING_LABEL
        n_present = int(present.sum())
        if n_present == 0:
            per_task[task.name] = total.new_zeros(())
            continue
        cw = class_weights.get(task.name) if class_weights else None
        task_logits = logits[task.name][present].float()
        # Weighted mean when class weights are set, so λ keeps the same scale either way.
        loss = F.cross_entropy(
            task_logits,
            target[present],
            weight=cw.to(task_logits.device) if cw is not None else None,
            label_smoothing=label_smoothing,
        )
        per_task[task.name] = loss
        total = total + float(weights.get(task.name, 1.0)) * loss
    return total, per_task


def distillation_loss(
    logits: Mapping[str, torch.Tensor],
    teacher_probs: Mapping[str, torch.Tensor],
    keep: torch.Tensor,
    *,
    temperature: float,
) -> dict[str, torch.Tensor]:
    """Knowledge distillation (Hinton et al., 2015) per head in ``teacher_probs``:
    ``T² · KL(p_teacher ‖ softmax(z / T))``, averaged over the rows where ``keep``.

    ``teacher_probs[head]`` are the teacher's probabilities already softened at ``T``
    (batch, n_labels); every head is taught on every kept row, whatever task the row is
    labelled for. No kept row: exactly 0 per head (not NaN)."""
    out: dict[str, torch.Tensor] = {}
    any_kept = bool(keep.any())  # once per batch, not once per head
    for name, target in teacher_probs.items():
        student = logits[name].float()
        if not any_kept:
            out[name] = student.new_zeros(())
            continue
        log_q = F.log_softmax(student[keep] / temperature, dim=-1)
        p = target[keep].to(student.device, torch.float32)
        kl = (p * (torch.log(p.clamp_min(1e-12)) - log_q)).sum(-1).mean()
        out[name] = kl * temperature**2
    return out


def consistency_loss(
    first: Mapping[str, torch.Tensor], second: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """R-Drop (Liang et al., 2021) per head: the symmetric KL between the predictions of
    two passes over the same rows with different dropout, ``½(KL(p‖q) + KL(q‖p))``,
    averaged over the rows. Both passes get gradient, so each is pulled towards the other."""
    out: dict[str, torch.Tensor] = {}
    for name, z in first.items():
        log_p = F.log_softmax(z.float(), dim=-1)
        log_q = F.log_softmax(second[name].float(), dim=-1)
        kl_pq = (log_p.exp() * (log_p - log_q)).sum(-1)
        kl_qp = (log_q.exp() * (log_q - log_p)).sum(-1)
        out[name] = 0.5 * (kl_pq + kl_qp).mean()
    return out


def apply_lora(encoder: nn.Module, config: ModelConfig) -> nn.Module:
    """Wrap ``encoder`` with a LoRA adapter on its attention and feed-forward projections."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=LORA_TARGETS,
        bias="none",
    )
    return get_peft_model(encoder, lora)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
