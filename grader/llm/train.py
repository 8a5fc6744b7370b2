"""train: normalized samples + the group's TrainConfig -> a LoRA adapter, trainer_state.json, TensorBoard events.

Done as the course's train_lora.py intends, with its quirks fixed: the prompt is masked (loss on the answer
only), an EOS token ends each answer, the pad token is not EOS, and every optimizer step is logged whatever the
group's `logging_steps` (their value is reported, not used to starve the loss curve). Writes only into the
group's output folder; the base model is shared and left as it was (LoRA layers are unloaded afterwards).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
import warnings
from dataclasses import dataclass
from typing import Any

from grader.config import TrainConfig
from grader.layout import Layout
from grader.llm.loader import Runtime
from grader.llm.prompts import answer_text, prompt
from grader.records import LogEntry, Sample, TrainRecord
from grader.storage import replace_dir

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]
IGNORE = -100
MIN_PROMPT_TOKENS = 8
MIN_TRAIN = 20  # the assignment's minimum: a held-out slice never takes the training set below it
MIN_EVAL = 2


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]
    cut_tokens: int


def encode(sample: Sample, tokenizer: Any, cfg: TrainConfig, eos_id: int) -> Encoded | None:
    """Prompt tokens masked, answer + EOS trained; an over-long sample loses the end of its context, not its answer."""
    fmt = cfg.prompt_format
    special = fmt == "plain"  # the chat template writes its own BOS
    answer = tokenizer(answer_text(sample, fmt), add_special_tokens=False)["input_ids"] + [eos_id]
    prompt_ids = tokenizer(prompt(sample, fmt, tokenizer), add_special_tokens=special)["input_ids"]
    over = len(prompt_ids) + len(answer) - cfg.max_length
    cut = max(over, 0)
    if over > 0 and sample.context:
        context_ids = tokenizer(sample.context, add_special_tokens=False)["input_ids"]
        keep = max(len(context_ids) - over - 4, 0)
        shorter = sample.model_copy(update={"context": tokenizer.decode(context_ids[:keep])})
        prompt_ids = tokenizer(prompt(shorter, fmt, tokenizer), add_special_tokens=special)["input_ids"]
    room = cfg.max_length - len(answer)
    if len(prompt_ids) > room:
        # Still too long without its context: keep BOS and the prompt's end (the question and "Answer:"), and
        # cut the answer itself only when it alone does not fit.
        keep = max(room, MIN_PROMPT_TOKENS)
        prompt_ids = prompt_ids[:1] + prompt_ids[len(prompt_ids) - keep + 1 :]
        answer = answer[: cfg.max_length - len(prompt_ids)]
    ids = prompt_ids + answer
    labels = [IGNORE] * len(prompt_ids) + answer
    if all(label == IGNORE for label in labels):
        return None
    return Encoded(ids, labels, cut)


def split(samples: list[Sample], cfg: TrainConfig, seed: int | None = None) -> tuple[list[Sample], list[Sample]]:
    """(train, held out): a seeded `eval_ratio` slice when at least MIN_TRAIN samples remain, else no eval set.
    `seed` (default: the config's) picks the slice: a sweep keeps the group's, so every point is measured on it."""
    n_eval = round(len(samples) * cfg.eval_ratio)
    if n_eval < MIN_EVAL or len(samples) - n_eval < MIN_TRAIN:
        return samples, []
    held = set(random.Random(cfg.seed if seed is None else seed).sample(range(len(samples)), n_eval))
    return [s for i, s in enumerate(samples) if i not in held], [s for i, s in enumerate(samples) if i in held]


class Collator:
    """Right padding for training: pad id in inputs, -100 in labels, 0 in the attention mask."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: list[Encoded]) -> dict[str, Any]:
        import torch

        width = max(len(item.input_ids) for item in batch)
        ids = [item.input_ids + [self.pad_id] * (width - len(item.input_ids)) for item in batch]
        labels = [item.labels + [IGNORE] * (width - len(item.labels)) for item in batch]
        mask = [[1] * len(item.input_ids) + [0] * (width - len(item.input_ids)) for item in batch]
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


def precision(cfg: TrainConfig, runtime: Runtime) -> tuple[bool, bool, list[str]]:
    """(bf16, fp16) for the Trainer on this device, with a note wherever the group's choice could not be honoured."""
    if runtime.device != "cuda":
        asked = "bf16" if cfg.bf16 else "fp16" if cfg.fp16 else "fp32"
        if asked == "fp32":
            return False, False, []
        if runtime.quantization == "nf4":
            return False, False, [f"{asked} was asked for; on CPU the 4-bit layers compute in bf16, the rest in fp32"]
        return False, False, [f"{asked} was asked for; a CPU run computes in fp32"]
    if runtime.dtype == "bfloat16":
        return (not cfg.fp16), cfg.fp16, []
    note = ["this GPU has no bf16: trained in fp16 instead"] if cfg.bf16 else []
    return False, True, note


# Tokens (rows x longest row) one forward pass may hold when grader regroups micro-batches: on CUDA this bounds
# the fp32 logits of a 128k vocabulary (4 GB at 8k tokens) and the checkpointed activations of an 8B model.
ROW_TOKENS = {"cpu": 4096, "cuda": 8192}


@dataclass(frozen=True)
class Plan:
    """How the effective batch (the group's per_device_train_batch_size x gradient_accumulation_steps) is run:
    `rows` samples per forward pass, `accumulation` passes per optimizer step, rows sorted by length within each
    optimizer step (less padding; the step's samples are the same). Every plan gives the same optimizer steps:
    the loss is normalised over the label tokens of the whole effective batch, as transformers does."""

    rows: int
    accumulation: int
    sort_in_step: bool = True

    @property
    def effective(self) -> int:
        return self.rows * self.accumulation


def plan_batches(cfg: TrainConfig, lengths: list[int], device: str, row_tokens: int | None = None) -> Plan:
    """As many rows per forward pass as ROW_TOKENS allows (a divisor of the effective batch, never fewer than the
    group's own per_device_train_batch_size): 1 x 16 on 16 short samples runs as 16 x 1."""
    effective = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps
    budget = row_tokens or ROW_TOKENS["cuda" if device == "cuda" else "cpu"]
    longest = max(lengths, default=1)
    rows = cfg.per_device_train_batch_size
    for candidate in range(effective, rows, -1):
        if effective % candidate == 0 and candidate * longest <= budget:
            rows = candidate
            break
    return Plan(rows, effective // rows)


def halved(plan: Plan) -> Plan | None:
    """The next smaller plan after an out-of-memory error: the largest divisor of the effective batch at most
    half the rows; None at one row."""
    for rows in range(plan.rows // 2, 0, -1):
        if plan.effective % rows == 0:
            return Plan(rows, plan.effective // rows, plan.sort_in_step)
    return None


def lora_config(cfg: TrainConfig) -> Any:
    """The group's LoraConfig, one for both engines (the class engine's adapters load as this run's do)."""
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        bias="none",
        target_modules=ATTENTION + (MLP if cfg.include_mlp else []),
        task_type="CAUSAL_LM",
    )


def run(
    name: str,
    samples: list[Sample],
    cfg: TrainConfig,
    runtime: Runtime,
    layout: Layout,
    *,
    plan: Plan | None = None,
    held_out_seed: int | None = None,
) -> TrainRecord:
    """Train a LoRA adapter with the group's own hyper-parameters; return what was measured. `plan` fixes how
    micro-batches are formed (tests and the benchmark); by default grader chooses it (plan_batches).
    `held_out_seed` picks the held-out slice (default: cfg.seed)."""
    started = time.monotonic()
    data = _prepare(samples, cfg, runtime, held_out_seed)
    plan = plan or plan_batches(cfg, [len(e.input_ids) for e in data.train], runtime.device)
    group_dir = layout.group_dir(name)
    shutil.rmtree(layout.runs(name), ignore_errors=True)  # this run's events only; the old adapter stays
    while True:
        try:
            fitted = _fit(data, cfg, runtime, plan, group_dir / ".trainer", layout.runs(name))
            break
        except Exception as exc:
            from grader.llm.loader import free_cuda, out_of_memory

            smaller = halved(plan) if out_of_memory(exc) else None
            if smaller is None:
                raise
            free_cuda()
            data.notes.append(f"out of memory at {plan.rows} rows per forward pass: started again with {smaller.rows}")
            shutil.rmtree(layout.runs(name), ignore_errors=True)
            plan = smaller
    _save(fitted, runtime, layout, name)
    data.notes.append(_plan_note(cfg, plan))
    return _record(name, cfg, runtime, data, fitted, started)


@dataclass
class Prepared:
    train: list[Encoded]
    evaluated: list[Encoded]
    notes: list[str]
    bf16: bool
    fp16: bool


def _prepare(samples: list[Sample], cfg: TrainConfig, runtime: Runtime, held_out_seed: int | None = None) -> Prepared:
    """Split off the held-out slice, encode both, decide the precision; every decision becomes a note."""
    tokenizer = runtime.tokenizer
    tokenizer.padding_side = "right"
    eos_id = (
        runtime.eos_ids()[1] if cfg.prompt_format == "chat" and len(runtime.eos_ids()) > 1 else runtime.eos_ids()[0]
    )
    train_samples, held_out = split(samples, cfg, held_out_seed)
    encoded = [e for e in (encode(s, tokenizer, cfg, eos_id) for s in train_samples) if e is not None]
    evaluated = [e for e in (encode(s, tokenizer, cfg, eos_id) for s in held_out) if e is not None]
    if not encoded:
        raise ValueError("no sample has answer tokens left within max_length")
    bf16, fp16, notes = precision(cfg, runtime)
    if evaluated:
        notes.append(
            f"{len(evaluated)} of {len(samples)} samples held out (eval_ratio {cfg.eval_ratio}, "
            f"seed {cfg.seed if held_out_seed is None else held_out_seed}) "
            f"for an eval loss; trained on the other {len(encoded)}"
        )
    else:
        notes.append(
            f"no held-out eval slice: {len(samples)} samples at eval_ratio {cfg.eval_ratio} would leave fewer "
            f"than {MIN_TRAIN} to train on (or hold out fewer than {MIN_EVAL})"
        )
    cut = [e.cut_tokens for e in encoded if e.cut_tokens]
    if cut:
        notes.append(
            f"{len(cut)} of {len(encoded)} samples were over max_length {cfg.max_length}; their context was "
            f"cut by {min(cut)} to {max(cut)} tokens"
        )
    return Prepared(encoded, evaluated, notes, bf16, fp16)


@dataclass
class Fitted:
    model: Any  # the PeftModel, LoRA layers still in
    trainer: Any
    train_loss: float
    work: Any  # Path of the trainer's scratch folder
    changed: bool = False  # some lora_B weight is non-zero (set once saved)


def _fit(data: Prepared, cfg: TrainConfig, runtime: Runtime, plan: Plan, work: Any, runs_dir: Any) -> Fitted:
    """One training run with `plan`. On failure the LoRA layers are taken out again before the error goes up."""
    from peft import get_peft_model
    from torch.utils.tensorboard import SummaryWriter
    from transformers import set_seed
    from transformers.integrations import TensorBoardCallback  # type: ignore[attr-defined]
    from transformers.trainer_callback import PrinterCallback

    set_seed(cfg.seed)
    # The course's QLoRA recipe checkpoints activations; on an fp32 CPU run it only costs time.
    checkpointing = cfg.gradient_checkpointing and (runtime.device == "cuda" or runtime.quantization == "nf4")
    model = get_peft_model(runtime.model, lora_config(cfg))
    # peft reads a transformers attribute deprecated in 5.x; harmless, and noise to the user.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    writer = SummaryWriter(log_dir=str(runs_dir))
    trainer = _trainer(model, _arguments(cfg, data, runtime, plan, work, checkpointing), data, plan, runtime)
    trainer.add_callback(TensorBoardCallback(writer))
    trainer.remove_callback(PrinterCallback)  # the batch has one progress display: ours
    try:
        result = trainer.train()
        final = trainer.state.global_step
        if data.evaluated and not any("eval_loss" in r and r.get("step") == final for r in trainer.state.log_history):
            trainer.evaluate()  # a fractional last epoch ends without an epoch-end eval
        writer.flush()
    except BaseException:
        _take_out(model, runtime, checkpointing)
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        writer.close()
    if checkpointing:
        data.notes.append("activation checkpointing on (use_reentrant=False), as the course's QLoRA recipe does")
    return Fitted(model, trainer, float(result.metrics.get("train_loss", math.nan)), work)


def _arguments(cfg: TrainConfig, data: Prepared, runtime: Runtime, plan: Plan, work: Any, checkpointing: bool) -> Any:
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(work),
        per_device_train_batch_size=plan.rows,
        gradient_accumulation_steps=plan.accumulation,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.num_train_epochs,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float below 1 is the warmup ratio
        logging_steps=1,
        logging_first_step=True,
        eval_strategy="epoch" if data.evaluated else "no",
        eval_on_start=bool(data.evaluated),  # the eval loss before any update: the baseline the curve falls from
        # The eval loss averages per-batch means over rows, so it keeps the group's own batch size.
        per_device_eval_batch_size=cfg.per_device_train_batch_size,
        prediction_loss_only=True,
        save_strategy="no",
        report_to="none",
        seed=cfg.seed,
        bf16=data.bf16,
        fp16=data.fp16,
        use_cpu=runtime.device == "cpu",
        activation_checkpointing=checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        remove_unused_columns=False,
        disable_tqdm=True,
        dataloader_pin_memory=False,
        optim="adamw_torch",
    )


def _trainer(model: Any, args: Any, data: Prepared, plan: Plan, runtime: Runtime) -> Any:
    from transformers import Trainer

    lengths = [len(e.input_ids) for e in data.train]

    class StepTrainer(Trainer):  # type: ignore[misc]
        """The Trainer's own shuffled order, with each optimizer step's rows sorted by length when asked."""

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            return StepSorted(super()._get_train_sampler(train_dataset), plan.effective, lengths, plan.sort_in_step)

    return StepTrainer(
        model=model,
        args=args,
        train_dataset=data.train,  # type: ignore[arg-type]
        eval_dataset=data.evaluated or None,  # type: ignore[arg-type]
        data_collator=Collator(runtime.tokenizer.pad_token_id),
    )


class StepSorted:
    """Wraps the Trainer's sampler (so the shuffled order is the Trainer's, whatever the plan); within each
    optimizer step of `step` samples, longest first when `sort` (fewer pad tokens per forward pass). A step's
    samples, and so its gradient, do not change."""

    def __init__(self, inner: Any, step: int, lengths: list[int], sort: bool) -> None:
        self.inner, self.step, self.lengths, self.sort = inner, step, lengths, sort

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Any:
        order = list(iter(self.inner))
        for i in range(0, len(order), self.step):
            chunk = order[i : i + self.step]
            yield from sorted(chunk, key=lambda j: -self.lengths[j]) if self.sort else chunk


def _take_out(model: Any, runtime: Runtime, checkpointing: bool) -> None:
    """LoRA layers out of the shared base model, which is left exactly as it was."""
    runtime.model = model.unload()
    if checkpointing:
        runtime.model.activation_checkpointing_disable()
    runtime.model.eval()


def _save(fitted: Fitted, runtime: Runtime, layout: Layout, name: str) -> None:
    """The adapter (safetensors) and trainer_state.json into the group's folder; then the base model back."""
    import torch

    group_dir = layout.group_dir(name)
    try:
        with replace_dir(layout.adapter(name)) as folder:
            fitted.model.save_pretrained(str(folder), safe_serialization=True)
            runtime.tokenizer.save_pretrained(str(folder))
        fitted.trainer.state.save_to_json(str(fitted.work / "trainer_state.json"))
        os.replace(fitted.work / "trainer_state.json", group_dir / "trainer_state.json")
        fitted.changed = any(
            bool(p.detach().abs().sum() > 0) for n, p in fitted.model.named_parameters() if "lora_B" in n
        )
    finally:
        _take_out(fitted.model, runtime, bool(fitted.trainer.args.activation_checkpointing))
        shutil.rmtree(fitted.work, ignore_errors=True)
        if runtime.device == "cuda":
            torch.cuda.empty_cache()


def _plan_note(cfg: TrainConfig, plan: Plan) -> str:
    group = f"{cfg.per_device_train_batch_size} x {cfg.gradient_accumulation_steps}"
    if plan.rows == cfg.per_device_train_batch_size:
        return f"batches as the group set them: {group} (rows per forward pass x accumulation)"
    return (
        f"run as {plan.rows} x {plan.accumulation} rows per forward pass x accumulation instead of the group's "
        f"{group}: the same {plan.effective} samples per optimizer step and the same loss normalisation, "
        "fewer and larger forward passes"
    )


def _record(
    name: str, cfg: TrainConfig, runtime: Runtime, data: Prepared, fitted: Fitted, started: float
) -> TrainRecord:
    state = fitted.trainer.state
    return record(
        name, cfg, runtime, data, state.log_history, state.global_step, fitted.train_loss, fitted.changed, started
    )


def record(
    name: str,
    cfg: TrainConfig,
    runtime: Runtime,
    data: Prepared,
    history: list[dict[str, Any]],
    steps: int,
    train_loss: float,
    changed: bool,
    started: float,
) -> TrainRecord:
    """The TrainRecord of one group's run, solo (the Trainer's log history) or co-trained (cotrain.py's)."""
    log = log_entries(history)
    evals = [e.eval_loss for e in log if e.eval_loss is not None]
    eval_loss = evals[-1] if evals else None
    data.notes.append(
        "adapter changed: some lora_B weights are non-zero"
        if changed
        else "adapter did NOT change: every lora_B weight is still zero (learning rate too low or no steps)"
    )
    return TrainRecord(
        group=name,
        source="trained",
        adapter_dir="adapter",
        base_model=runtime.name,
        device=runtime.device,
        dtype="bf16" if data.bf16 else "fp16" if data.fp16 else "fp32",
        quantization=runtime.quantization,
        config=cfg,
        log=log,
        train_loss=train_loss,
        perplexity=math.exp(train_loss) if train_loss < 50 else None,
        eval_loss=eval_loss,
        eval_perplexity=math.exp(eval_loss) if eval_loss is not None and eval_loss < 50 else None,
        n_train=len(data.train),
        n_eval=len(data.evaluated),
        steps=steps,
        loss_includes_prompt=False,
        adapter_changed=changed,
        notes=runtime.notes + data.notes,
        seconds=round(time.monotonic() - started, 2),
    )


def log_entries(history: list[dict[str, Any]]) -> list[LogEntry]:
    """Trainer/course log_history -> one entry per step (an eval line joins the train line of its step; the final
    summary line has no 'loss' and is dropped)."""
    entries: list[LogEntry] = []
    for row in history:
        if "loss" not in row and "eval_loss" not in row:
            continue
        step = row.get("step", 0)
        if not isinstance(step, int | float) or isinstance(step, bool) or not math.isfinite(step) or abs(step) > 1e12:
            continue  # a made-up or broken log line ("step": 1e999) is not a step
        entry = LogEntry(
            step=int(step),
            epoch=_finite(row.get("epoch")),
            loss=_finite(row.get("loss")),
            learning_rate=_finite(row.get("learning_rate")),
            eval_loss=_finite(row.get("eval_loss")),
        )
        last = entries[-1] if entries else None
        if last is not None and last.step == entry.step and (last.loss is None) != (entry.loss is None):
            fields = {k: v for k, v in entry.model_dump().items() if v is not None}
            entries[-1] = last.model_copy(update=fields)
        else:
            entries.append(entry)
    return entries


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
