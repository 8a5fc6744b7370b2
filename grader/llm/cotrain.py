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
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.config import TrainConfig
from grader.layout import Layout
from grader.llm.loader import Runtime
from grader.llm.train import (
    ATTENTION,
    IGNORE,
    MLP,
    Collator,
    Encoded,
    Plan,
    Prepared,
    lora_config,
    plan_batches,
    record,
)
from grader.records import Sample, TrainRecord
from grader.storage import replace_dir

if TYPE_CHECKING:
    from grader.llm.multilora import MultiLoraLinear, Slots

MAX_GRAD_NORM = 1.0  # the Trainer's default, which train.run keeps
BETAS, EPS = (0.9, 0.999), 1e-8
# Rows x widest row of one shared forward pass: the fp32 logits of a 128k vocabulary are 4 GB at 8k tokens.
FORWARD_TOKENS = {"cpu": 16384, "cuda": 8192}
PAD_SLACK = 0.75
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


def targets(model: Any, cfg: TrainConfig) -> list[str]:
    """Paths of the linear layers PEFT would wrap for this config (the names it matches by suffix)."""
    wanted = set(ATTENTION + (MLP if cfg.include_mlp else []))
    return [name for name, _ in model.named_modules() if name.rpartition(".")[2] in wanted]


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
            members.append(_member(job, runtime))
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
            _round(active, runtime, wrapped, slots)
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
                    finished = _finish(m, runtime, m.job.layout or layout, len(members), budget)
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


def _member(job: Job, runtime: Runtime) -> Member:
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
    data.notes.append(_plan_note(cfg))
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
        _evaluate(m, runtime, slots)
    _next_epoch(m)


def _draw(generator: Any) -> int:
    import torch

    return int(torch.empty((), dtype=torch.int64).random_(generator=generator).item())


def _next_epoch(m: Member) -> None:
    """The Trainer's order for the next epoch: the DataLoader draws its base seed, then RandomSampler its own."""
    import torch

    m.epoch += 1
    _draw(m.order)
    seed = _draw(m.order)
    order = torch.randperm(len(m.data.train), generator=torch.Generator().manual_seed(seed)).tolist()
    effective = m.plan.effective
    lengths = [len(e.input_ids) for e in m.data.train]
    m.queue = [sorted(order[i : i + effective], key=lambda j: -lengths[j]) for i in range(0, len(order), effective)]
    m.steps_in_epoch_done = 0


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


def _round(active: list[Member], runtime: Runtime, wrapped: dict[str, MultiLoraLinear], slots: Slots) -> None:
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
        _step(m, losses[m.name])


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
    """The LM head applied to the decoder's last hidden states, as the model's own forward does (Llama), or None
    where the model's forward does more to its logits (a soft cap, a scale): then the full forward is used."""
    config = getattr(model, "config", None)
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
        return None
    if not hasattr(model, "get_decoder") or type(model).__name__ != "LlamaForCausalLM":
        return None
    return model.get_output_embeddings()


def _step(m: Member, loss: float) -> None:
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


def _end_of_steps(m: Member, runtime: Runtime, slots: Slots) -> None:
    """After a step: at an epoch's end the eval loss, then either the next epoch or the group is done."""
    if not m.pending_eval:
        return
    m.pending_eval = False
    if m.data.evaluated:
        _evaluate(m, runtime, slots)
    if m.global_step >= m.max_steps:
        m.done = True
    else:
        _next_epoch(m)


def _evaluate(m: Member, runtime: Runtime, slots: Slots) -> None:
    """The Trainer's eval loss: per batch of the group's batch size (in order), the mean over label tokens; then
    the mean over rows. Its DataLoader draws one seed from the group's generator, as the Trainer's does."""
    import torch

    _draw(m.order)
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


def _plan_note(cfg: TrainConfig) -> str:
    return (
        f"co-trained (class engine): one optimizer step of {cfg.per_device_train_batch_size} x "
        f"{cfg.gradient_accumulation_steps} samples per round, in forward passes shared with the other groups; "
        "the same samples, loss normalisation, optimizer and schedule as a run of its own"
    )


def _finish(m: Member, runtime: Runtime, layout: Layout, class_size: int, budget: int) -> TrainRecord:
    """The group's adapter (a PEFT folder), trainer_state.json and TensorBoard events; then its record."""
    seconds = time.monotonic() - m.started
    train_loss = m.loss_sum / max(m.global_step, 1)
    m.history.append(
        {
            "train_runtime": round(seconds, 4),
            "train_loss": train_loss,
            "epoch": m.history[-1]["epoch"] if m.history else 0.0,
            "step": m.global_step,
        }
    )
    save_adapter(m, runtime, layout.adapter(m.name))
    _write_state(m, layout.group_dir(m.name) / "trainer_state.json")
    _write_events(m, runtime, layout)
    changed = any(bool(b.detach().abs().sum() > 0) for _, b in m.lora.values())
    m.data.notes.append(
        f"trained with {class_size - 1} other group(s) on one base model; LoRA and optimizer state "
        f"{m.state_bytes() / 2**20:.1f} MiB of a {budget / 2**20:.0f} MiB budget"
    )
    return record(m.name, m.cfg, runtime, m.data, m.history, m.global_step, train_loss, changed, m.started)


def save_adapter(m: Member, runtime: Runtime, folder: Path) -> None:
    """adapter_config.json + adapter_model.safetensors under PEFT's key names, and the tokenizer, as
    `PeftModel.save_pretrained` writes them for this config."""
    from safetensors.torch import save_file

    config = lora_config(m.cfg)
    config.base_model_name_or_path = getattr(runtime.model, "name_or_path", None)
    config.inference_mode = True
    tensors = {}
    for path, (a, b) in m.lora.items():
        tensors[f"base_model.model.{path}.lora_A.weight"] = a.detach().to("cpu").contiguous()
        tensors[f"base_model.model.{path}.lora_B.weight"] = b.detach().to("cpu").contiguous()
    with replace_dir(folder) as tmp:
        config.save_pretrained(str(tmp))
        save_file(tensors, str(tmp / "adapter_model.safetensors"), metadata={"format": "pt"})
        runtime.tokenizer.save_pretrained(str(tmp))


def _write_state(m: Member, path: Path) -> None:
    """trainer_state.json with the fields the Trainer writes (the log history is what grader reads back)."""
    from transformers import TrainerState

    state = TrainerState(
        epoch=m.history[-1]["epoch"] if m.history else 0.0,
        global_step=m.global_step,
        max_steps=m.max_steps,
        logging_steps=1,
        num_train_epochs=math.ceil(m.cfg.num_train_epochs),
        train_batch_size=m.plan.rows,
        log_history=m.history,
    )
    tmp = path.with_name(path.name + ".tmp")
    state.save_to_json(str(tmp))
    os.replace(tmp, path)


def _write_events(m: Member, runtime: Runtime, layout: Layout) -> None:
    """TensorBoard events under the tags the Trainer's TensorBoardCallback uses (train/loss, eval/loss, ...)."""
    from torch.utils.tensorboard import SummaryWriter

    runs = layout.runs(m.name)
    shutil.rmtree(runs, ignore_errors=True)
    writer = SummaryWriter(log_dir=str(runs))
    try:
        writer.add_text("args", json.dumps({"engine": "class", **m.cfg.model_dump()}, indent=2))
        for row in m.history:
            for key, value in row.items():
                if key == "step" or not isinstance(value, int | float):
                    continue
                tag = f"eval/{key[5:]}" if key.startswith("eval_") else f"train/{key}"
                writer.add_scalar(tag, value, row["step"])
        writer.flush()
    finally:
        writer.close()
