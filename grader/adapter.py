"""A group's committed LoRA adapter: found, checked against the base model, copied out of the submission.

Only `adapter_model.safetensors` is ever read (a `.bin` is a pickle and is refused unread); shapes are read from
the safetensors header without loading weights; `adapter_config.json` is re-written with the LoRA fields only.
The group's own logs (trainer_state.json, train_results.json, loss_log.csv) give the loss of a loaded adapter.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

from grader.records import LogEntry, TrainRecord, replace_dir

MAX_CONFIG_BYTES = 64 << 10
MAX_ADAPTER_BYTES = 2 << 30
MAX_LOG_BYTES = 16 << 20
CONFIG_KEYS = (
    "peft_type",
    "task_type",
    "r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "bias",
    "fan_in_fan_out",
    "use_rslora",
    "base_model_name_or_path",
)
LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.default)?\.weight$")


class AdapterRefused(Exception):
    """The committed adapter cannot be used; the message says why and what to do."""


def find(group_dir: Path) -> Path | None:
    """The folder holding adapter_config.json: `adapter/` first, else the first one two levels deep (no links)."""
    candidates = [group_dir / "adapter", *sorted(p.parent for p in group_dir.glob("*/adapter_config.json"))]
    candidates += [group_dir] if (group_dir / "adapter_config.json").exists() else []
    for folder in candidates:
        if (folder / "adapter_config.json").exists() and not folder.is_symlink():
            return folder
    return None


def _plain_file(path: Path, group_dir: Path, cap: int) -> Path:
    if path.is_symlink() or not path.resolve().is_relative_to(group_dir.resolve()):
        raise AdapterRefused(f"{path.name} is a link or leaves the group folder; refused")
    if not path.is_file():
        raise AdapterRefused(f"{path.name} is missing")
    if path.stat().st_size > cap:
        raise AdapterRefused(f"{path.name} is over {cap >> 20} MB; refused")
    return path


def check(folder: Path, group_dir: Path, model: Any | None) -> dict[str, Any]:
    """The adapter's LoRA config when it fits this base model (None: when its header is a consistent LoRA adapter);
    raises AdapterRefused otherwise."""
    weights = folder / "adapter_model.safetensors"
    if not weights.exists() and any(folder.glob("*.bin")):
        raise AdapterRefused(
            "only a pickle (.bin) adapter was committed; it is never loaded. Save it with "
            "model.save_pretrained(dir, safe_serialization=True)"
        )
    config_path = _plain_file(folder / "adapter_config.json", group_dir, MAX_CONFIG_BYTES)
    _plain_file(weights, group_dir, MAX_ADAPTER_BYTES)
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AdapterRefused(f"adapter_config.json is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("peft_type") != "LORA":
        raise AdapterRefused("adapter_config.json is not a LoRA adapter (peft_type must be LORA)")
    rank = raw.get("r")
    if not isinstance(rank, int) or not 1 <= rank <= 1024:
        raise AdapterRefused(f"adapter rank r = {rank!r} is not an integer between 1 and 1024")
    if not isinstance(raw.get("target_modules"), list | str):
        raise AdapterRefused("adapter_config.json names no target_modules")
    _check_shapes(weights, model, rank)
    return {key: raw[key] for key in CONFIG_KEYS if key in raw}


def _check_shapes(weights: Path, model: Any | None, rank: int) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as fh:  # reads the header only
            shapes = {key: fh.get_slice(key).get_shape() for key in fh.keys()}  # noqa: SIM118
    except Exception as exc:
        raise AdapterRefused(f"adapter_model.safetensors cannot be read: {exc}") from exc
    if not shapes:
        raise AdapterRefused("adapter_model.safetensors holds no tensors")
    lora = [(key, match, shape) for key, shape in shapes.items() if (match := LORA_KEY.match(key))]
    if not lora:
        raise AdapterRefused("adapter_model.safetensors holds no LoRA weights (lora_A / lora_B)")
    modules = dict(model.named_modules()) if model is not None else {}
    for key, match, shape in lora:
        if model is None:  # no base model at hand (a preview): the header must at least agree with its rank
            if len(shape) != 2 or shape[0 if match["ab"] == "A" else 1] != rank:
                raise AdapterRefused(f"{key} has shape {list(shape)}, which does not match rank r = {rank}")
            continue
        module = modules.get(match["module"]) or modules.get(match["module"].removeprefix("model."))
        if module is None or not hasattr(module, "in_features"):
            raise AdapterRefused(
                f"adapter targets {match['module']}, which this base model does not have: it was "
                "trained for another base model"
            )
        expected = [rank, module.in_features] if match["ab"] == "A" else [module.out_features, rank]
        if list(shape) != expected:
            raise AdapterRefused(
                f"{key} has shape {list(shape)}, this base model needs {expected}: the adapter was "
                "trained for another base model"
            )


def fingerprint(folder: Path) -> str:
    """Content hash of the committed adapter (weights + config), for the train stage's cache key."""
    h = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        path = folder / name
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as fh:
                h.update(hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()[:16]


def copy(folder: Path, config: dict[str, Any], target: Path) -> None:
    """Copy the checked adapter (weights + a re-written config) into the group's output folder."""
    with replace_dir(target) as tmp:
        shutil.copyfile(folder / "adapter_model.safetensors", tmp / "adapter_model.safetensors")
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2))


def _read(path: Path, group_dir: Path) -> str | None:
    try:
        return _plain_file(path, group_dir, MAX_LOG_BYTES).read_text(encoding="utf-8", errors="replace")
    except AdapterRefused:
        return None


def group_logs(group_dir: Path, folder: Path) -> tuple[list[LogEntry], float | None, list[str]]:
    """(per-step log, final train loss, notes) from the group's own files, each number saying where it came from."""
    from grader.train import log_entries

    notes: list[str] = []
    log: list[LogEntry] = []
    from_state: float | None = None  # the Trainer's closing entry in log_history carries the run's train_loss
    for place in (folder, group_dir):
        text = _read(place / "trainer_state.json", group_dir)
        if text and not log:
            try:
                history = [r for r in json.loads(text).get("log_history", []) if isinstance(r, dict)]
                log = log_entries(history)
                closing = [r["train_loss"] for r in history if isinstance(r.get("train_loss"), int | float)]
                from_state = float(closing[-1]) if closing and math.isfinite(closing[-1]) else None
                where = "" if place == group_dir else shown(place, group_dir)
                notes.append(f"loss log read from the group's {where}trainer_state.json")
            except (ValueError, AttributeError, TypeError):
                notes.append("trainer_state.json could not be read")
        text = _read(place / "loss_log.csv", group_dir)
        if text and not log:
            rows = list(csv.DictReader(io.StringIO(text)))
            log = [
                LogEntry(
                    step=int(float(r["step"])),
                    epoch=_num(r.get("epoch")),
                    loss=_num(r.get("loss")),
                    learning_rate=_num(r.get("learning_rate")),
                )
                for r in rows
                if r.get("step")
            ]
            notes.append("loss log read from the group's loss_log.csv")
    final = None
    for name in ("train_results.json", "all_results.json"):
        for place in (folder, group_dir):
            text = _read(place / name, group_dir)
            if final is None and text:
                try:
                    value = json.loads(text).get("train_loss")
                except (ValueError, AttributeError):
                    continue
                if isinstance(value, int | float) and math.isfinite(value):
                    final = float(value)
                    notes.append(f"final train loss read from the group's {name}")
    if final is None and from_state is not None:
        final = from_state
        notes.append("final train loss read from the group's trainer_state.json")
    if not log:
        notes.append("the group committed no per-step loss log (with the course's logging_steps 20 it is often empty)")
    return log, final, notes


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def shown(folder: Path, group_dir: Path) -> str:
    """The adapter folder as the group sees it: `adapter/`, `week5_lora_v01/`, `./`."""
    return (folder.relative_to(group_dir).as_posix() or ".") + "/"


def use(
    name: str, group_dir: Path, folder: Path, config: dict[str, Any], n_samples: int, runtime: Any, target: Path
) -> TrainRecord:
    """Use the group's own adapter: checked against the base model, copied out, its logs read for the loss."""
    lora = check(folder, group_dir, runtime.model)
    copy(folder, lora, target)
    return from_logs(
        name,
        group_dir,
        folder,
        config,
        n_samples,
        [
            f"committed adapter {shown(folder, group_dir)} loaded (safetensors, shapes match the base model); "
            "not retrained"
        ],
        source="loaded",
        adapter_dir="adapter",
        base_model=runtime.name,
        device=runtime.device,
        dtype=runtime.dtype,
        quantization=runtime.quantization,
    )


def from_logs(
    name: str, group_dir: Path, folder: Path, config: dict[str, Any], n_samples: int, notes: list[str], **fields: Any
) -> TrainRecord:
    """A TrainRecord whose numbers are the group's own logs (a loaded adapter, or a preview); `fields` say whence."""
    log, final, log_notes = group_logs(group_dir, folder)
    if final is None:
        losses = [e.loss for e in log if e.loss is not None]
        final = losses[-1] if losses else None
    return TrainRecord(
        group=name,
        config=config,
        log=log,
        train_loss=final,
        perplexity=math.exp(final) if final is not None and final < 50 else None,
        n_train=n_samples,
        steps=max((e.step for e in log), default=0),
        loss_includes_prompt=True,
        notes=[*notes, "the loss is the group's own: the course script's loss includes prompt tokens", *log_notes],
        **fields,
    )
