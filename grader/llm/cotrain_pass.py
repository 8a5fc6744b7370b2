"""cotrain_pass: the shared forward and backward passes of one round of the class run (cotrain.py): every active
group's next step cut into its solo run's micro-batches, packed into passes, one loss over all rows, then each
group's own optimizer step; and a group's eval loss."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grader.llm import cotrain_group, cotrain_order
from grader.llm.loader import Runtime
from grader.llm.train import IGNORE, Collator, Encoded

if TYPE_CHECKING:
    from grader.llm.cotrain_group import Member
    from grader.llm.multilora import MultiLoraLinear, Slots

# Rows x widest row of one shared forward pass. The logits are taken only where a label follows (_row_losses), but
# a model other than Llama takes the full forward, whose fp32 logits of a 128k vocabulary are 4 GB at 8k tokens.
FORWARD_TOKENS = {"cpu": 16384, "cuda": 8192}
# A group's micro-batch joins a pass only if its widest row is at least this share of the pass's widest: padding
# is computed like any token, so a short group beside a long one would pay for the long one's width.
PAD_SLACK = 0.75


@dataclass
class Piece:
    """Some rows of one group's step in one forward pass; `items` is the step's label-token count."""

    member: Member
    rows: list[Encoded]
    items: int


def _pieces(active: list[Member]) -> list[list[Piece]]:
    """Each active group's next step as its solo run's micro-batches (`plan.rows` rows of the step, longest
    first), so that its dropout masks are drawn in the solo run's shapes and order."""
    steps = []
    for m in active:
        rows = [m.data.train[i] for i in m.queue[0]]
        items = sum(sum(1 for t in e.labels[1:] if t != IGNORE) for e in rows)
        steps.append([Piece(m, rows[i : i + m.plan.rows], items) for i in range(0, len(rows), m.plan.rows)])
    return steps


def _forwards(steps: list[list[Piece]], budget: int) -> list[list[Piece]]:
    """Forward passes: the k-th micro-batch of every group before any group's (k+1)-th (one per group per
    pass, in its order), packed widest first while rows x widest row stays within `budget` and no piece is
    padded by more than a quarter of the pass's width (padding is computed like any token)."""
    passes: list[list[Piece]] = []
    for k in range(max((len(s) for s in steps), default=0)):
        rows = width = 0
        start = len(passes)
        for piece in sorted((s[k] for s in steps if k < len(s)), key=lambda p: -_width(p)):
            w = _width(piece)
            if len(passes) > start and (rows + len(piece.rows)) * max(width, w) <= budget and w >= PAD_SLACK * width:
                passes[-1].append(piece)
                rows, width = rows + len(piece.rows), max(width, w)
            else:
                passes.append([piece])
                rows, width = len(piece.rows), w
    return passes


def _width(piece: Piece) -> int:
    return max(len(e.input_ids) for e in piece.rows)


def shared_round(active: list[Member], runtime: Runtime, wrapped: dict[str, MultiLoraLinear], slots: Slots) -> None:
    """One optimizer step for every active group: shared forward and backward passes, then each group's own
    clipping, AdamW step and scheduler step."""
    import torch

    budget = FORWARD_TOKENS["cuda" if runtime.device == "cuda" else "cpu"]
    losses: dict[str, float] = {m.name: 0.0 for m in active}
    runtime.model.train()
    for forward in _forwards(_pieces(active), budget):
        batch = Collator(runtime.tokenizer.pad_token_id)([e for p in forward for e in p.rows])
        rows, at = [], 0
        for p in forward:
            rows.append((p.member.name, at, at + len(p.rows)))
            at += len(p.rows)
        slots.set(rows, [_width(p) for p in forward])
        device = runtime.model.get_input_embeddings().weight.device
        # One cross-entropy over all rows, each row's token losses divided by its group's step token count:
        # the sum is every group's normalised loss at once (no per-group slices of the logits to backprop).
        per_row = _row_losses(runtime.model, batch, device)
        weights = torch.tensor([1.0 / p.items for p in forward for _ in p.rows], device=device)
        (per_row * weights).sum().backward()
        shares = (per_row.detach() * weights).tolist()
        for p, (_, lo, hi) in zip(forward, slots.rows, strict=True):
            losses[p.member.name] += sum(shares[lo:hi])
        del per_row
    slots.set([], [])
    for m in active:
        cotrain_group.step(m, losses[m.name])


def _row_losses(model: Any, batch: dict[str, Any], device: Any) -> Any:
    """Each row's cross-entropy summed over its label tokens, next-token shifted: transformers' ForCausalLMLoss
    before its sum and its division by num_items_in_batch. The LM head and the softmax run only at the positions
    a label follows (a quarter of the tokens here): the other positions add nothing to the loss or its gradient,
    and the head is the widest matrix of the model (the vocabulary)."""
    import torch

    labels = batch["labels"].to(device)
    shifted = torch.nn.functional.pad(labels, (0, 1), value=IGNORE)[..., 1:]
    keep = shifted != IGNORE
    inputs = {"input_ids": batch["input_ids"].to(device), "attention_mask": batch["attention_mask"].to(device)}
    head = _head(model)
    if head is None:
        logits = model(**inputs).logits[keep]
    else:
        logits = head(model.get_decoder()(**inputs).last_hidden_state[keep])
    losses = torch.nn.functional.cross_entropy(logits.float(), shifted[keep], reduction="none")
    return torch.zeros(labels.shape[0], device=device, dtype=losses.dtype).index_add_(0, keep.nonzero()[:, 0], losses)


def _head(model: Any) -> Any:
    """The LM head, for a model whose forward is exactly `lm_head(decoder(...).last_hidden_state)`: Llama (the
    course's model and the demo's). Any other class may do more to its logits (a soft cap, a scale, a subclass's
    own forward): None, and the full forward is used."""
    if type(model).__name__ != "LlamaForCausalLM" or not hasattr(model, "get_decoder"):
        return None
    return model.get_output_embeddings()


def evaluate(m: Member, runtime: Runtime, slots: Slots) -> None:
    """The Trainer's eval loss: per batch of the group's batch size (in order), the mean over label tokens; then
    the mean over rows. Its DataLoader draws one seed from the group's generator, as the Trainer's does."""
    import torch

    cotrain_order.draw(m.order)
    started = time.monotonic()
    size = m.cfg.per_device_train_batch_size
    collate = Collator(runtime.tokenizer.pad_token_id)
    device = runtime.model.get_input_embeddings().weight.device
    weighted, rows = 0.0, 0
    was_training = runtime.model.training
    runtime.model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(m.data.evaluated), size):
                chunk = m.data.evaluated[i : i + size]
                batch = collate(chunk)
                slots.set([(m.name, 0, len(chunk))], [max(len(e.input_ids) for e in chunk)])
                count = int((batch["labels"][:, 1:] != IGNORE).sum())
                loss = float(_row_losses(runtime.model, batch, device).sum()) / count if count else math.nan
                if math.isfinite(loss):
                    weighted, rows = weighted + loss * len(chunk), rows + len(chunk)
    finally:
        slots.set([], [])
        runtime.model.train(was_training)
    seconds = time.monotonic() - started
    epoch = 0.0 if not m.history else m.history[-1]["epoch"]
    m.history.append(
        {
            "eval_loss": weighted / rows if rows else math.nan,
            "eval_runtime": round(seconds, 4),
            "epoch": epoch,
            "step": m.global_step,
        }
    )
