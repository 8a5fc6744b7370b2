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
from grader.model import Runtime
from grader.prompts import answer_text, prompt
from grader.records import LogEntry, Sample, TrainRecord, replace_dir

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


def split(samples: list[Sample], cfg: TrainConfig) -> tuple[list[Sample], list[Sample]]:
    """(train, held out): a seeded `eval_ratio` slice when at least MIN_TRAIN samples remain, else no eval set."""
    n_eval = round(len(samples) * cfg.eval_ratio)
    if n_eval < MIN_EVAL or len(samples) - n_eval < MIN_TRAIN:
        return samples, []
    held = set(random.Random(cfg.seed).sample(range(len(samples)), n_eval))
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
        return False, False, [] if asked == "fp32" else [f"{asked} was asked for; a CPU run computes in fp32"]
    if runtime.dtype == "bfloat16":
        return (not cfg.fp16), cfg.fp16, []
    note = ["this GPU has no bf16: trained in fp16 instead"] if cfg.bf16 else []
    return False, True, note


def run(name: str, samples: list[Sample], cfg: TrainConfig, runtime: Runtime, layout: Layout) -> TrainRecord:
    """Train a LoRA adapter with the group's own hyper-parameters; return what was measured."""
    import torch
    from peft import LoraConfig, get_peft_model
    from torch.utils.tensorboard import SummaryWriter
    from transformers import Trainer, TrainingArguments, set_seed
    from transformers.integrations import TensorBoardCallback  # type: ignore[attr-defined]
    from transformers.trainer_callback import PrinterCallback

    started = time.monotonic()
    tokenizer = runtime.tokenizer
    tokenizer.padding_side = "right"
    eos_id = (
        runtime.eos_ids()[1] if cfg.prompt_format == "chat" and len(runtime.eos_ids()) > 1 else runtime.eos_ids()[0]
    )
    train_samples, held_out = split(samples, cfg)
    encoded = [e for e in (encode(s, tokenizer, cfg, eos_id) for s in train_samples) if e is not None]
    evaluated = [e for e in (encode(s, tokenizer, cfg, eos_id) for s in held_out) if e is not None]
    if not encoded:
        raise ValueError("no sample has answer tokens left within max_length")
    bf16, fp16, notes = precision(cfg, runtime)
    if evaluated:
        notes.append(
            f"{len(evaluated)} of {len(samples)} samples held out (eval_ratio {cfg.eval_ratio}, seed {cfg.seed}) "
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
    group_dir = layout.group_dir(name)
    adapter_dir, runs_dir = layout.adapter(name), layout.runs(name)
    shutil.rmtree(runs_dir, ignore_errors=True)  # this run's events only; the old adapter stays until replaced
    work = group_dir / ".trainer"

    set_seed(cfg.seed)
    base = runtime.model
    use_checkpointing = cfg.gradient_checkpointing and runtime.device == "cuda"
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        bias="none",
        target_modules=ATTENTION + (MLP if cfg.include_mlp else []),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, lora)
    args = TrainingArguments(
        output_dir=str(work),
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.num_train_epochs,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float below 1 is the warmup ratio
        logging_steps=1,
        logging_first_step=True,
        eval_strategy="epoch" if evaluated else "no",
        eval_on_start=bool(evaluated),  # the eval loss before any update: the baseline the curve falls from
        per_device_eval_batch_size=cfg.per_device_train_batch_size,
        prediction_loss_only=True,
        save_strategy="no",
        report_to="none",
        seed=cfg.seed,
        bf16=bf16,
        fp16=fp16,
        use_cpu=runtime.device == "cpu",
        activation_checkpointing=use_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if use_checkpointing else None,
        remove_unused_columns=False,
        disable_tqdm=True,
        dataloader_pin_memory=False,
        optim="adamw_torch",
    )
    # peft reads a transformers attribute deprecated in 5.x; harmless, and noise to the user.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    writer = SummaryWriter(log_dir=str(runs_dir))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=encoded,  # type: ignore[arg-type]
        eval_dataset=evaluated or None,  # type: ignore[arg-type]
        data_collator=Collator(tokenizer.pad_token_id),
        callbacks=[TensorBoardCallback(writer)],
    )
    trainer.remove_callback(PrinterCallback)  # the batch has one progress display: ours
    try:
        result = trainer.train()
        final = trainer.state.global_step
        if evaluated and not any("eval_loss" in r and r.get("step") == final for r in trainer.state.log_history):
            trainer.evaluate()  # a fractional last epoch ends without an epoch-end eval
        writer.flush()
        with replace_dir(adapter_dir) as folder:
            model.save_pretrained(str(folder), safe_serialization=True)
            tokenizer.save_pretrained(str(folder))
        trainer.state.save_to_json(str(work / "trainer_state.json"))
        os.replace(work / "trainer_state.json", group_dir / "trainer_state.json")
        changed = any(bool(p.detach().abs().sum() > 0) for n, p in model.named_parameters() if "lora_B" in n)
        log = log_entries(trainer.state.log_history)
    finally:
        writer.close()
        runtime.model = model.unload()  # LoRA layers out, base weights as they were
        if use_checkpointing:
            runtime.model.activation_checkpointing_disable()
        runtime.model.eval()
        shutil.rmtree(work, ignore_errors=True)
        if runtime.device == "cuda":
            torch.cuda.empty_cache()
    train_loss = float(result.metrics.get("train_loss", math.nan))
    evals = [e.eval_loss for e in log if e.eval_loss is not None]
    eval_loss = evals[-1] if evals else None
    notes.append(
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
        dtype="bf16" if bf16 else "fp16" if fp16 else "fp32",
        quantization=runtime.quantization,
        config=cfg.model_dump(),
        log=log,
        train_loss=train_loss,
        perplexity=math.exp(train_loss) if train_loss < 50 else None,
        eval_loss=eval_loss,
        eval_perplexity=math.exp(eval_loss) if eval_loss is not None and eval_loss < 50 else None,
        n_train=len(encoded),
        n_eval=len(evaluated),
        steps=trainer.state.global_step,
        loss_includes_prompt=False,
        adapter_changed=changed,
        notes=runtime.notes + notes,
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
