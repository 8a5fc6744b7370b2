"""cotrain: every group's LoRA adapter trained at once on one frozen base model (the class engine).

Each round every active group contributes its next optimizer step's samples to one shared batch; the targeted
linear layers (multilora.py) add each group's LoRA term to that group's rows only. Everything else stays the
group's own and is done as the Trainer of `train.run` does it, so that a group's adapter is the one its solo run
gives (tests/test_cotrain.py checks it to rtol 1e-3, losses and tensors):

- LoRA initialisation: PEFT's own, under `set_seed(cfg.seed)`, exactly as `train._fit` makes it;
- data order: the Trainer's RandomSampler draws a seed from the global torch generator at each epoch, after the
  DataLoader drew its base seed, and every evaluation's DataLoader draws one more; a per-group generator seeded
  like `set_seed(cfg.seed)` replays those draws, so the epoch orders are the Trainer's;
- steps of `per_device_train_batch_size x gradient_accumulation_steps` samples (the last of an epoch shorter),
  the loss summed over the step's label tokens and divided by their number (the Trainer's `num_items_in_batch`);
- AdamW (betas 0.9/0.999, eps 1e-8, no weight decay: the Trainer's defaults), the group's scheduler and warmup
  on its own step counter, gradient norm clipped to 1.0 over the group's own parameters;
- an eval loss before training and at every epoch end, averaged over batches of the group's batch size;
- the adapter saved as a standard PEFT folder, trainer_state.json and TensorBoard events as the Trainer writes.

- dropout: each step runs as the solo run's micro-batches (one per group per forward pass, in order), and the
  masks are drawn at the micro-batch's own shape from the group's generator, which replays the solo run's
  draws from torch's global generator (CPU) or its CUDA generator: masks equal to the solo run's, and a
  group's own whoever trains beside it.

A group leaves the batch when its steps are done; groups whose adapters and optimizer state do not fit the
memory left wait and join when others leave (waves).

This module is the shared run: who trains when (waves, time limits) and the rounds until every group has left.
Its parts: cotrain_group.py (one group's state: LoRA tensors, AdamW, schedule, its optimizer step),
cotrain_order.py (the Trainer's data order, replayed), cotrain_pass.py (the shared forward and backward passes,
the eval loss), cotrain_files.py (what a finished group leaves: PEFT folder, trainer_state.json, events).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.config import TrainConfig
from grader.layout import Layout
from grader.llm import cotrain_files, cotrain_group, cotrain_order, cotrain_pass
from grader.llm.cotrain_group import Member
from grader.llm.loader import Runtime
from grader.records import Sample, TrainRecord

if TYPE_CHECKING:
    from grader.llm.multilora import MultiLoraLinear, Slots

UNSUPPORTED_SCHEDULERS = {"reduce_lr_on_plateau": "its steps follow the eval loss, which the Trainer runs itself"}


@dataclass(frozen=True)
class Job:
    """One group's training: what `train.run` takes."""

    name: str
    samples: list[Sample]
    cfg: TrainConfig
    held_out_seed: int | None = None
    layout: Layout | None = None  # where its adapter and records go, when not the run's (a sweep point's folder)
    seconds: float | None = None  # the group's own time limit (--timeout) in the shared run, from its first step


class OutOfTime(Exception):
    """A group's time in the shared run reached its own limit: it leaves, untrained, and the others go on."""

    def __init__(self, seconds: float, limit: float) -> None:
        super().__init__(f"training did not finish within the per-group limit of {limit:g} s (--timeout)")
        self.seconds = seconds


def unsupported(cfg: TrainConfig) -> str | None:
    """Why this config needs the per-group engine, or None when the class engine trains it faithfully."""
    if cfg.lr_scheduler_type in UNSUPPORTED_SCHEDULERS:
        return f"lr_scheduler_type {cfg.lr_scheduler_type}: {UNSUPPORTED_SCHEDULERS[cfg.lr_scheduler_type]}"
    return None


def run(
    jobs: list[Job], runtime: Runtime, layout: Layout, on_done: Callable[[str, TrainRecord], None] | None = None
) -> dict[str, TrainRecord | BaseException]:
    """Train every job's adapter together; a group's failure is its own (its exception), the others go on.
    `on_done` gets each group's record as the group leaves, so a run killed later keeps the groups done."""
    import torch

    from grader.llm.multilora import Slots, unwrap, wrap

    results: dict[str, TrainRecord | BaseException] = {}
    members: list[Member] = []
    for job in jobs:
        try:
            members.append(cotrain_group.new_member(job, runtime))
        except Exception as exc:  # a group with no trainable sample fails alone, as in train.run
            results[job.name] = exc
    if not members:
        return results
    paths = sorted({p for m in members for p in m.paths})
    slots = Slots()
    model = runtime.model
    frozen = {name: p.requires_grad for name, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = wrap(model, paths, slots)
    # As train.run: the course's QLoRA recipe checkpoints activations on CUDA and for 4-bit; the dropout masks are
    # seeded per pass, so the recomputed forward draws the same ones.
    checkpointing = (runtime.device == "cuda" or runtime.quantization == "nf4") and any(
        m.cfg.gradient_checkpointing for m in members
    )
    if checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    waiting = list(members)
    active: list[Member] = []
    budget = _state_budget(runtime)
    try:
        while waiting or active:
            _admit(waiting, active, budget)
            for m in active:
                if m.epoch < 0:
                    _begin(m, runtime, wrapped, slots)
            cotrain_pass.shared_round(active, runtime, wrapped, slots)
            for m in active:
                _end_of_steps(m, runtime, slots)
            for m in [m for m in active if not m.done and _out_of_time(m)]:
                # a group with far more work than the others runs on alone after they leave; its own limit stops it
                active.remove(m)
                results[m.name] = OutOfTime(time.monotonic() - m.started, m.job.seconds or 0.0)
                _detach(m, wrapped)
            for m in [m for m in active if m.done]:
                active.remove(m)
                try:
                    finished = cotrain_files.finish(m, runtime, m.job.layout or layout, len(members), budget)
                    results[m.name] = finished
                    if on_done is not None:
                        on_done(m.name, finished)
                except Exception as exc:
                    results[m.name] = exc
                _detach(m, wrapped)
    finally:
        if checkpointing:
            model.activation_checkpointing_disable()
        unwrap(model, wrapped)
        for name, p in model.named_parameters():
            p.requires_grad_(frozen.get(name, False))
        model.eval()
        if runtime.device == "cuda":
            torch.cuda.empty_cache()
    return results


def _out_of_time(m: Member) -> bool:
    return m.job.seconds is not None and m.epoch >= 0 and time.monotonic() - m.started > m.job.seconds


def _state_budget(runtime: Runtime) -> int:
    """Bytes the groups' LoRA weights and optimizer states may take: half of the memory free now (the other half
    is for the shared forward pass's activations and logits)."""
    import torch

    if runtime.device == "cuda":
        free, _ = torch.cuda.mem_get_info()
        return int(free) // 2
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 // 2
    except (OSError, ValueError, IndexError):
        pass
    return 8 * 2**30


def _admit(waiting: list[Member], active: list[Member], budget: int) -> None:
    """Waiting groups join, in order, while their states fit the budget; one always runs, fit or not."""
    used = sum(m.state_bytes() for m in active)
    while waiting and (not active or used + waiting[0].state_bytes() <= budget):
        m = waiting.pop(0)
        used += m.state_bytes()
        active.append(m)


def _attach(m: Member, wrapped: dict[str, MultiLoraLinear]) -> None:
    from grader.llm.multilora import Adapter

    for path, (a, b) in m.lora.items():
        wrapped[path].adapters[m.name] = Adapter(a, b, m.cfg.lora_alpha / m.cfg.lora_r, m.cfg.lora_dropout, m.dropout)


def _detach(m: Member, wrapped: dict[str, MultiLoraLinear]) -> None:
    for path in m.lora:
        wrapped[path].adapters.pop(m.name, None)
    m.optimizer.state.clear()


def _begin(m: Member, runtime: Runtime, wrapped: dict[str, MultiLoraLinear], slots: Slots) -> None:
    """The Trainer's start: the eval loss before any update (eval_on_start), then the first epoch's order."""
    _attach(m, wrapped)
    m.started = time.monotonic()
    if m.data.evaluated:
        cotrain_pass.evaluate(m, runtime, slots)
    cotrain_order.next_epoch(m)


def _end_of_steps(m: Member, runtime: Runtime, slots: Slots) -> None:
    """After a step: at an epoch's end the eval loss, then either the next epoch or the group is done."""
    if not m.pending_eval:
        return
    m.pending_eval = False
    if m.data.evaluated:
        cotrain_pass.evaluate(m, runtime, slots)
    if m.global_step >= m.max_steps:
        m.done = True
    else:
        cotrain_order.next_epoch(m)
