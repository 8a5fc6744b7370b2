"""cotrain_group: one group inside the class run (cotrain.py): its LoRA tensors as PEFT initialises them, its own
AdamW and scheduler, and its optimizer step as the Trainer takes it (clip over its own parameters, step,
schedule, log)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grader.config import TrainConfig
from grader.llm.loader import Runtime
from grader.llm.train import Plan, Prepared, lora_config, plan_batches

if TYPE_CHECKING:
    from grader.llm.cotrain import Job

MAX_GRAD_NORM = 1.0  # the Trainer's default, which train.run keeps


BETAS, EPS = (0.9, 0.999), 1e-8


@dataclass
class Member:
    """One group inside the class run: its data, its LoRA tensors, its optimizer and where it is."""

    job: Job
    data: Prepared
    plan: Plan  # the solo run's micro-batching: the Trainer's epoch fractions are counted in its micro-batches
    paths: list[str]
    lora: dict[str, tuple[Any, Any]]  # layer path -> (A, B) parameters
    optimizer: Any
    scheduler: Any
    order: Any  # torch.Generator standing in for the Trainer's global generator
    dropout: Any  # the generator the solo run's dropout draws from: `order` on CPU, the CUDA one on CUDA
    max_steps: int
    steps_per_epoch: int
    micro_per_epoch: int
    started: float
    epoch: int = -1
    queue: list[list[int]] = field(default_factory=list)  # the current epoch's remaining steps (sample indices)
    steps_in_epoch_done: int = 0
    global_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    loss_sum: float = 0.0
    pending_eval: bool = False  # the last step ended an epoch
    done: bool = False

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def cfg(self) -> TrainConfig:
        return self.job.cfg

    def parameters(self) -> list[Any]:
        return [p for pair in self.lora.values() for p in pair]

    def state_bytes(self) -> int:
        """fp32 LoRA weights, their gradients and AdamW's two moments."""
        return int(sum(p.numel() for p in self.parameters())) * 4 * 4


def new_member(job: Job, runtime: Runtime) -> Member:
    import torch
    from transformers import get_scheduler

    from grader.llm.train import _prepare

    data = _prepare(job.samples, job.cfg, runtime, job.held_out_seed)
    cfg = job.cfg
    plan = plan_batches(cfg, [len(e.input_ids) for e in data.train], runtime.device)
    initial = _peft_init(runtime, cfg)
    paths = sorted(initial)
    device = runtime.model.get_input_embeddings().weight.device
    lora = {
        path: (
            torch.nn.Parameter(a.detach().clone().to(device, torch.float32)),
            torch.nn.Parameter(b.detach().clone().to(device, torch.float32)),
        )
        for path, (a, b) in initial.items()
    }
    params = [p for pair in lora.values() for p in pair]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, betas=BETAS, eps=EPS, weight_decay=0.0)
    micro_per_epoch = math.ceil(len(data.train) / plan.rows)
    steps_per_epoch = max(math.ceil(micro_per_epoch / plan.accumulation), 1)
    max_steps = math.ceil(cfg.num_train_epochs * steps_per_epoch)
    warmup = math.ceil(max_steps * cfg.warmup_ratio)  # TrainingArguments.get_warmup_steps for a ratio below 1
    scheduler = get_scheduler(cfg.lr_scheduler_type, optimizer, num_warmup_steps=warmup, num_training_steps=max_steps)
    order = torch.Generator().manual_seed(cfg.seed)  # what set_seed(cfg.seed) makes of torch's global generator
    dropout = order if device.type == "cpu" else torch.Generator(device).manual_seed(cfg.seed)
    data.notes.append(plan_note(cfg))
    return Member(
        job, data, plan, paths, lora, optimizer, scheduler, order, dropout, max_steps, steps_per_epoch, micro_per_epoch,
        time.monotonic(),
    )  # fmt: skip


def _peft_init(runtime: Runtime, cfg: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """The LoRA tensors PEFT initialises for this config under set_seed(cfg.seed), as train._fit gets them:
    {layer path: (A, B)}. The base model is given back unchanged."""
    import warnings

    from peft import get_peft_model
    from transformers import set_seed

    set_seed(cfg.seed)
    peft_model = get_peft_model(runtime.model, lora_config(cfg))
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    try:
        found: dict[str, tuple[Any, Any]] = {}
        for name, module in peft_model.base_model.model.named_modules():
            if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
                a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
                found[name] = (a.detach().cpu(), b.detach().cpu())
        return found
    finally:
        runtime.model = peft_model.unload()


def step(m: Member, loss: float) -> None:
    """The Trainer's optimizer step: clip, step, schedule, log; an epoch's end evaluates and draws the next order."""
    import torch

    grad_norm = float(torch.nn.utils.clip_grad_norm_(m.parameters(), MAX_GRAD_NORM))
    learning_rate = float(m.scheduler.get_last_lr()[0])
    m.optimizer.step()
    m.scheduler.step()
    m.optimizer.zero_grad(set_to_none=True)
    m.queue.pop(0)
    m.global_step += 1
    m.steps_in_epoch_done += 1
    micro = min(m.steps_in_epoch_done * m.plan.accumulation, m.micro_per_epoch)
    epoch = m.epoch + micro / m.micro_per_epoch
    m.loss_sum += loss
    m.history.append(
        {"loss": loss, "grad_norm": grad_norm, "learning_rate": learning_rate, "epoch": epoch, "step": m.global_step}
    )
    m.pending_eval = not m.queue or m.global_step >= m.max_steps


def plan_note(cfg: TrainConfig) -> str:
    return (
        f"co-trained (class engine): one optimizer step of {cfg.per_device_train_batch_size} x "
        f"{cfg.gradient_accumulation_steps} samples per round, in forward passes shared with the other groups; "
        "the same samples, loss normalisation, optimizer and schedule as a run of its own"
    )
