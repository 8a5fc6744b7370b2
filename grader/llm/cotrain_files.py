"""cotrain_files: what a group leaves as it finishes the class run (cotrain.py), as its solo run would: the
adapter as a standard PEFT folder, trainer_state.json, TensorBoard events, and its TrainRecord."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from grader.layout import Layout
from grader.llm.loader import Runtime
from grader.llm.train import lora_config, record
from grader.records import TrainRecord
from grader.storage import replace_dir

if TYPE_CHECKING:
    from grader.llm.cotrain_group import Member


def finish(m: Member, runtime: Runtime, layout: Layout, class_size: int, budget: int) -> TrainRecord:
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
