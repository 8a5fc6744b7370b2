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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from grader.config import TrainConfig
from grader.limits import DEFAULT_LIMITS, DataLimits
from grader.reading.student_files import is_lfs_pointer
from grader.records import CommittedAdapter, LogEntry, Parts, ReportedLoss, TrainRecord
from grader.storage import replace_dir

MAX_CONFIG_BYTES = 64 << 10
MAX_ADAPTER_BYTES = 2 << 30
MAX_LOG_BYTES = 16 << 20
MAX_LOG_POINTS = 2000  # logged steps kept per run: every one up to this, evenly spaced beyond (first and last kept)
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


def _parts(group_dir: Path, parts: Parts | None) -> Parts:
    """The parts discovery found (a batch has them already), else found now (`grader ask`, a single call)."""
    from grader.reading.discover import find_parts

    return parts if parts is not None else find_parts(group_dir)


def find(group_dir: Path, parts: Parts | None = None) -> Path | None:
    """The folder holding adapter_config.json, wherever the group put it: `adapter/` first, else the shallowest."""
    for relative in _parts(group_dir, parts).adapters:
        folder = group_dir / relative
        if (folder / "adapter_config.json").exists() and not folder.is_symlink():
            return folder
    return None


def _plain_file(path: Path, group_dir: Path, cap: int) -> Path:
    """The adapter's or a log's file, opened the one way every student file is (student_files.safe_file), and capped."""
    from grader.reading.student_files import safe_file
    from grader.records import Problem

    problems: list[Problem] = []
    try:
        relative = path.relative_to(group_dir).as_posix()
    except ValueError:
        raise AdapterRefused(f"{path.name} leaves the group folder; refused") from None
    found = safe_file(group_dir, relative, problems)
    if found is None:
        raise AdapterRefused(f"{path.name} {problems[0].message}" if problems else f"{path.name} is missing")
    if found.stat().st_size > cap:
        raise AdapterRefused(f"{path.name} is over {cap >> 20} MB; refused")
    return found


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
    if not weights.exists() and not weights.is_symlink():
        raise AdapterRefused(
            "adapter_model.safetensors is missing: only the adapter's config and tokenizer were committed "
            "(often because the weights, ~168 MB for r 16 on 7 modules of an 8B model, are over GitHub's 100 MB "
            "file limit)"
        )
    _plain_file(weights, group_dir, MAX_ADAPTER_BYTES)
    if is_lfs_pointer(weights):
        raise AdapterRefused(
            "adapter_model.safetensors is a Git LFS pointer, not the weights: run `git lfs pull` before "
            "handing in, or attach the weights to a release"
        )
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AdapterRefused(f"adapter_config.json is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("peft_type") != "LORA":
        raise AdapterRefused("adapter_config.json is not a LoRA adapter (peft_type must be LORA)")
    wrong = config_problems(raw)
    if wrong:
        raise AdapterRefused("adapter_config.json: " + "; ".join(wrong))
    rank = raw["r"]
    _check_shapes(weights, model, rank, raw["target_modules"])
    return {key: raw[key] for key in CONFIG_KEYS if key in raw}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def config_problems(raw: dict[str, Any]) -> list[str]:
    """Every value of a LoRA adapter_config.json that PEFT would choke on or that would change the shared base model,
    named field by field (checked like the group's config, never left to a traceback at generation)."""
    found = []
    rank = raw.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= 1024:
        found.append(f"rank r = {rank!r} is not an integer between 1 and 1024")
    alpha = raw.get("lora_alpha", 8)
    if not _number(alpha) or not 0 < alpha <= 4096:
        found.append(f"lora_alpha = {alpha!r} is not a number > 0 and <= 4096")
    dropout = raw.get("lora_dropout", 0.0)
    if not _number(dropout) or not 0 <= dropout < 1:
        found.append(f"lora_dropout = {dropout!r} is not a number >= 0 and < 1")
    if not isinstance(raw.get("target_modules"), list | str):
        found.append("no target_modules")
    for key in ("fan_in_fan_out", "use_rslora", "use_dora", "inference_mode"):
        if key in raw and not isinstance(raw[key], bool):
            found.append(f"{key} = {raw[key]!r} is not true or false")
    if raw.get("use_dora") is True:
        found.append("use_dora = true: DoRA adapters carry magnitude vectors beside LoRA and are not loaded")
    if raw.get("bias", "none") != "none":
        found.append(f"bias = {raw['bias']!r}: only 'none' is loaded (trained biases would change the base model)")
    if raw.get("modules_to_save"):
        found.append("modules_to_save is set: full copies of base-model modules are never loaded into the shared base")
    return found


def _check_shapes(weights: Path, model: Any | None, rank: int, targets: list[str] | str) -> None:
    """Only LoRA A/B matrices of the declared target modules, each of the shape the base model needs. Anything else
    (embed_tokens, lm_head, a norm, modules_to_save) would be loaded into the base model that every group shares."""
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
    other = [key for key in shapes if not LORA_KEY.match(key)]
    if other:
        raise AdapterRefused(
            f"adapter_model.safetensors also holds {len(other)} tensor(s) that are not LoRA weights (e.g. "
            f"{other[0][:80]}): they would overwrite the base model; save only the adapter (no modules_to_save)"
        )
    declared = {targets} if isinstance(targets, str) else {str(t) for t in targets}
    stray = [key for key, match, _ in lora if match["module"].rsplit(".", 1)[-1] not in declared]
    if stray and not (isinstance(targets, str) and targets == "all-linear"):
        raise AdapterRefused(
            f"{stray[0][:80]} adapts a module that adapter_config.json's target_modules does not declare "
            f"({', '.join(sorted(declared))})"
        )
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


def lora_b_nonzero(weights: Path) -> bool:
    """Whether training moved the adapter at all: LoRA starts with B = 0, so an adapter whose every lora_B is still
    zero changes nothing, whatever logs come with it. Reads the B matrices only (r x out each: small)."""
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as fh:
        for key in fh.keys():  # noqa: SIM118 (safe_open is not a dict)
            match = LORA_KEY.match(key)
            if match and match["ab"] == "B" and bool(fh.get_tensor(key).abs().sum() > 0):
                return True
    return False


def committed(group_dir: Path, parts: Parts | None = None) -> CommittedAdapter | None:
    """What the group committed of its adapter, from the repository alone (config and safetensors header; no base
    model): the rubric's evidence that the group trained and saved one. None when no adapter_config.json was found."""
    folder = find(group_dir, parts)
    if folder is None:
        return None
    where = shown(folder, group_dir)
    weights_file = folder / "adapter_model.safetensors"
    weights: Literal["present", "missing", "lfs", "pickle"] = "present"
    if not weights_file.exists():
        weights = "pickle" if any(folder.glob("*.bin")) else "missing"
    elif weights_file.is_file() and not weights_file.is_symlink() and is_lfs_pointer(weights_file):
        weights = "lfs"
    raw: dict[str, Any] = {}
    problem, trained = "", None
    try:
        raw = check(folder, group_dir, None)
        trained = lora_b_nonzero(weights_file)
    except AdapterRefused as exc:
        problem = str(exc)
        raw = _lora_config(folder, group_dir)
    config_problem = "; ".join(config_problems(raw)) if raw else "not a LoRA adapter config (peft_type must be LORA)"
    targets = raw.get("target_modules")
    return CommittedAdapter(
        where=where,
        weights=weights,
        usable=not problem,
        problem=problem,
        config_problem=config_problem,
        trained=trained,
        rank=raw["r"] if isinstance(raw.get("r"), int) and not isinstance(raw.get("r"), bool) else None,
        target_modules=[str(t) for t in targets][:32]
        if isinstance(targets, list)
        else [str(targets)]
        if targets
        else [],
    )


def _lora_config(folder: Path, group_dir: Path) -> dict[str, Any]:
    """adapter_config.json as far as it reads as a LoRA config ({} otherwise): what a config-only commit says."""
    try:
        raw = json.loads(_plain_file(folder / "adapter_config.json", group_dir, MAX_CONFIG_BYTES).read_text("utf-8"))
    except (AdapterRefused, OSError, ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return raw if isinstance(raw, dict) and raw.get("peft_type") == "LORA" else {}


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


def _ordered(logs: list[str], name: str, prefer: str | None) -> list[str]:
    """The group's files of this name, the one beside the adapter first, then the shallowest."""
    found = [f for f in logs if f.rsplit("/", 1)[-1] == name or (name == "tfevents" and ".tfevents." in f)]
    return sorted(found, key=lambda f: (prefer is None or not f.startswith(prefer + "/"), f.count("/"), f))


@dataclass
class _StateLog:
    log: list[LogEntry]
    train_loss: float | None  # the Trainer's closing entry in log_history carries the run's train_loss
    steps: int | None
    logging_steps: int | None
    logged: int = 0  # entries in log_history, before thinning


def group_logs(group_dir: Path, prefer: str | None = None, parts: Parts | None = None) -> ReportedLoss:
    """The loss the group reported, read from its own files wherever they are; every number says which file.

    Per-step loss: trainer_state.json, else loss_log.csv, else TensorBoard events. Final loss: train_results.json or
    all_results.json, else trainer_state.json's closing entry, else the events' train_loss, else the last step."""
    logs = _parts(group_dir, parts).logs
    sources: list[str] = []
    state = _StateLog([], None, None, None)
    for name in _ordered(logs, "trainer_state.json", prefer)[:1]:
        try:
            state = _trainer_state(group_dir, name)
        except (ValueError, AttributeError, TypeError, RecursionError):
            sources.append(f"{name} could not be read")
            continue
        if state.log:
            sources.append(f"per-step loss read from {name}")
        if state.logged > MAX_LOG_POINTS:
            sources.append(f"{name} logs {state.logged:,} entries: {MAX_LOG_POINTS:,} of them, evenly spaced, are kept")
    log = state.log
    for name in _ordered(logs, "loss_log.csv", prefer)[:1]:
        if not log:
            log = _csv_log(group_dir, name)
            sources += [f"per-step loss read from {name}"] if log else []
    events: dict[str, list[tuple[int, float]]] = {}
    for name in _ordered(logs, "tfevents", prefer)[:1]:
        events = tfevents_scalars(group_dir / name, group_dir)
        if BAD_CHECKSUM in events:
            offset = events.pop(BAD_CHECKSUM)[0][0]
            sources.append(
                f"{name}: a record at byte {offset} fails TensorBoard's checksum (not written by its writer, or "
                "damaged); it and what follows are not read as evidence"
            )
        if events.get("train/loss") and not log:
            log = [LogEntry(step=step, loss=value) for step, value in thinned(events["train/loss"])]
            sources.append(f"per-step loss read from TensorBoard events {name}")
    final = _results_loss(group_dir, logs, prefer, sources)
    candidates = (
        (state.train_loss, "final train loss read from trainer_state.json"),
        (
            events["train/train_loss"][-1][1] if events.get("train/train_loss") else None,
            "final train loss read from the TensorBoard events",
        ),
        (log[-1].loss if log else None, "final train loss: the last logged step"),
    )
    for value, said in candidates:
        if final is None and value is not None:
            final = value
            sources.append(said)
    return ReportedLoss(
        train_loss=final,
        perplexity=math.exp(final) if final is not None and final < 50 else None,
        log=log,
        steps=state.steps,
        logging_steps=state.logging_steps,
        sources=sources,
    )


def _group_logs_json(group_dir: str, prefer: str | None, parts: str | None) -> str:
    """`group_logs` in a reader child (grader.reading.sandbox), answered as JSON text."""
    found = Parts.model_validate_json(parts) if parts else None
    return group_logs(Path(group_dir), prefer, found).model_dump_json()


def group_logs_bounded(
    group_dir: Path, prefer: str | None = None, parts: Parts | None = None, limits: DataLimits = DEFAULT_LIMITS
) -> ReportedLoss:
    """`group_logs` where its memory and time are bounded: a 15 MB trainer_state.json of 1.4M entries parses into
    gigabytes of objects before any thinning can start, and then costs the logs only (said), nothing else."""
    from grader.reading import sandbox

    if not sandbox.available():
        return group_logs(group_dir, prefer, parts)
    try:
        answer = sandbox.run(
            _group_logs_json,
            str(group_dir),
            prefer,
            parts.model_dump_json() if parts else None,
            memory_mb=limits.reader_memory_mb,
            seconds=limits.reader_seconds,
        )
    except sandbox.ReaderFailed as exc:
        return ReportedLoss(sources=[f"the group's logs could not be read ({exc}): no loss was taken from them"])
    except sandbox.OverLimit as exc:
        return ReportedLoss(
            sources=[
                f"the group's logs could not be read within {limits.reader_memory_mb} MB / {limits.reader_seconds:g} "
                f"s (the reader {exc}): no loss was taken from them"
            ]
        )
    return ReportedLoss.model_validate_json(answer)


def _trainer_state(group_dir: Path, name: str) -> _StateLog:
    from grader.llm.train import log_entries

    state = json.loads(_read(group_dir / name, group_dir) or "null")
    history = [r for r in state.get("log_history", []) if isinstance(r, dict)]
    closing = [r["train_loss"] for r in history if isinstance(r.get("train_loss"), int | float)]
    return _StateLog(
        log=_finite(log_entries(thinned([r for r in history if "loss" in r or "eval_loss" in r]))),
        train_loss=float(closing[-1]) if closing and math.isfinite(closing[-1]) else None,
        steps=_int(state.get("global_step")),
        logging_steps=_int(state.get("logging_steps")),
        logged=len(history),
    )


def thinned(rows: list[Any], bound: int = MAX_LOG_POINTS) -> list[Any]:
    """At most `bound` rows, evenly spaced, the first and the last kept: a log of 1.4M steps draws the same curve from
    2,000 points, and no table, plot or record grows with it (the report says how many were logged)."""
    if len(rows) <= bound:
        return rows
    stride = len(rows) / (bound - 1)
    return [rows[min(round(i * stride), len(rows) - 1)] for i in range(bound - 1)] + [rows[-1]]


def _csv_log(group_dir: Path, name: str) -> list[LogEntry]:
    rows = thinned(list(csv.DictReader(io.StringIO(_read(group_dir / name, group_dir) or ""))))
    return [
        LogEntry(
            step=step,
            epoch=_num(r.get("epoch")),
            loss=_num(r.get("loss")),
            learning_rate=_num(r.get("learning_rate")),
        )
        for r in rows
        if (step := _int(_num(r.get("step")))) is not None
    ]


def _results_loss(group_dir: Path, logs: list[str], prefer: str | None, sources: list[str]) -> float | None:
    """The final train loss of train_results.json or all_results.json (the Trainer's own summary files)."""
    for name in ("train_results.json", "all_results.json"):
        for path in _ordered(logs, name, prefer)[:1]:
            text = _read(group_dir / path, group_dir)
            if not text:
                continue
            try:
                value = json.loads(text).get("train_loss")
            except (ValueError, AttributeError, RecursionError):
                continue
            if isinstance(value, int | float) and math.isfinite(value):
                sources.append(f"final train loss read from {path}")
                return float(value)
    return None


def _finite(log: list[LogEntry]) -> list[LogEntry]:
    return [e for e in log if e.loss is None or math.isfinite(e.loss)]


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value) if 0 <= value < 1e12 else None


def _num(value: str | None) -> float | None:
    try:
        number = float(value) if value not in (None, "") else None
    except (ValueError, TypeError):
        return None
    return number if number is None or math.isfinite(number) else None


BAD_CHECKSUM = "grader/bad_checksum"  # a pseudo-tag: the file failed TFRecord's CRC check at this byte offset


def tfevents_scalars(path: Path, group_dir: Path, max_records: int = 100_000) -> dict[str, list[tuple[int, float]]]:
    """Scalars of a TensorBoard event file, read as TFRecords of Event protobufs (data only, size-capped)."""
    import struct

    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    try:
        data = _plain_file(path, group_dir, MAX_LOG_BYTES).read_bytes()
    except (AdapterRefused, OSError):
        return {}
    scalars: dict[str, list[tuple[int, float]]] = {}
    pos = 0
    for _ in range(max_records):
        if pos + 12 > len(data):
            break
        header = data[pos : pos + 8]
        (length,) = struct.unpack_from("<Q", data, pos)
        if length > len(data) - pos - 16:
            break
        record = data[pos + 12 : pos + 12 + length]
        # TFRecord: each length and each record carries a masked CRC-32C; a record that fails it was not written by
        # TensorBoard's writer (or was damaged), so it is not evidence, and neither is anything after it
        (length_crc,) = struct.unpack_from("<I", data, pos + 8)
        (record_crc,) = struct.unpack_from("<I", data, pos + 12 + length)
        if masked_crc32c(header) != length_crc or masked_crc32c(record) != record_crc:
            scalars[BAD_CHECKSUM] = [(pos, 0.0)]
            break
        pos += 16 + length
        try:
            event = event_pb2.Event.FromString(record)
        except Exception:  # a damaged record: the rest of the file cannot be trusted either
            break
        for value in event.summary.value:
            number = value.simple_value if value.HasField("simple_value") else None
            if number is None and value.HasField("tensor") and value.tensor.float_val:
                number = value.tensor.float_val[0]
            if number is not None and math.isfinite(number):
                scalars.setdefault(value.tag, []).append((int(event.step), float(number)))
    return scalars


def shown(folder: Path, group_dir: Path) -> str:
    """The adapter folder as the group sees it: `adapter/`, `week5_lora_v01/`, `./`."""
    return (folder.relative_to(group_dir).as_posix() or ".") + "/"


def use(
    name: str,
    group_dir: Path,
    folder: Path,
    config: TrainConfig,
    n_samples: int,
    runtime: Any,
    target: Path,
    parts: Parts | None = None,
) -> TrainRecord:
    """Use the group's own adapter: checked against the base model, copied out, its logs read for the loss."""
    lora = check(folder, group_dir, runtime.model)
    copy(folder, lora, target)
    trained = lora_b_nonzero(folder / "adapter_model.safetensors")
    said = [] if trained else ["every lora_B matrix of the committed adapter is zero: it was never trained"]
    return from_logs(
        name,
        group_dir,
        folder,
        config,
        n_samples,
        [
            f"committed adapter {shown(folder, group_dir)} loaded (safetensors, shapes match the base model); "
            "not retrained",
            *said,
        ],
        parts=parts,
        source="loaded",
        adapter_dir="adapter",
        adapter_changed=trained,
        base_model=runtime.name,
        device=runtime.device,
        dtype=runtime.dtype,
        quantization=runtime.quantization,
    )


def from_logs(
    name: str,
    group_dir: Path,
    folder: Path,
    config: TrainConfig,
    n_samples: int,
    notes: list[str],
    parts: Parts | None = None,
    **fields: Any,
) -> TrainRecord:
    """A TrainRecord whose numbers are the group's own logs (a loaded adapter, or a preview); `fields` say whence."""
    prefer = folder.relative_to(group_dir).as_posix() if folder != group_dir else None
    reported = group_logs_bounded(group_dir, prefer, parts)
    return TrainRecord(
        group=name,
        config=config,
        log=reported.log,
        train_loss=reported.train_loss,
        perplexity=reported.perplexity,
        n_train=n_samples,
        steps=reported.steps or max((e.step for e in reported.log), default=0),
        loss_includes_prompt=True,
        notes=[
            *notes,
            "the loss is the group's own: the course script's loss includes prompt tokens",
            *reported.sources,
            *_no_log_note(reported),
        ],
        reported=reported,
        **fields,
    )


def _no_log_note(reported: ReportedLoss) -> list[str]:
    if reported.log:
        return []
    return [
        f"no per-step loss was logged: {reported.steps if reported.steps is not None else 'an unknown number of'} "
        f"optimizer step(s) with logging_steps {reported.logging_steps or 'unknown'} log none (the course's "
        "defaults on 20-40 samples)"
    ]
