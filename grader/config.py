"""Configuration: the course's training defaults (once, here) and the grader's own run settings.

A group's `config.yaml` / `train_config.json` / `grader.toml` is parsed into `TrainConfig`, key by key, so every
bad value is named on its own and every missing key is filled with the course default and said.
"""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader.layout import templates_dir
from grader.limits import DEFAULT_LIMITS, DEFAULTS, DataLimits, Device, Engine, Quantize

SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "warmup_stable_decay",
)
DEFAULT_SYSTEM = "You are a geology and hyperspectral remote sensing assistant."
PromptFormat = Literal["plain", "chat"]


class TrainConfig(BaseModel):
    """The 13 parameters of Part A (by the course's names) plus the few settings the course script hard-codes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float = Field(2e-4, gt=0, le=1, description="Peak step size of the optimizer.")
    num_train_epochs: float = Field(1.0, gt=0, le=100, description="Passes over the training data.")
    per_device_train_batch_size: int = Field(1, ge=1, le=1024, description="Samples per forward pass.")
    gradient_accumulation_steps: int = Field(16, ge=1, le=4096, description="Forward passes per optimizer step.")
    max_length: int = Field(2048, ge=16, le=131072, description="Tokens kept per training sample (prompt + answer).")
    max_new_tokens: int = Field(200, ge=1, le=8192, description="Tokens generated per answer at test time.")
    lora_r: int = Field(16, ge=1, le=1024, description="Rank of the LoRA update matrices.")
    lora_alpha: int = Field(32, ge=1, le=4096, description="Scale of the LoRA update (alpha / r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input during training.")
    include_mlp: bool = Field(True, description="Also adapt gate/up/down_proj, not only q/k/v/o_proj.")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Share of steps spent ramping the learning rate up.")
    lr_scheduler_type: Literal[SCHEDULERS] = Field("cosine", description="Shape of the learning-rate decay.")  # type: ignore[valid-type]
    bf16: bool = Field(True, description="Compute in bfloat16 (needs an Ampere or newer GPU).")
    fp16: bool = Field(False, description="Compute in float16 with loss scaling (older GPUs).")
    logging_steps: int = Field(20, ge=1, le=100000, description="Optimizer steps between loss log lines.")
    # Not part of Part A, but the course script fixes them and a run must record them.
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Seed for data order and LoRA initialisation.")
    load_in_4bit: bool = Field(True, description="QLoRA: 4-bit NF4 base weights with double quantization (CUDA).")
    gradient_checkpointing: bool = Field(True, description="Recompute activations to save memory.")
    eval_ratio: float = Field(
        0.1, ge=0, le=0.5, description="Share of samples held out for an eval loss (only when 20 remain to train on)."
    )
    prompt_format: PromptFormat = Field(
        "plain", description="'plain' course template or the tokenizer's 'chat' template."
    )

    @model_validator(mode="after")
    def _one_precision(self) -> TrainConfig:
        if self.bf16 and self.fp16:
            raise ValueError("bf16 and fp16 are both true; choose one (bf16 on Ampere or newer GPUs)")
        return self


ANSWER_TOKENS_CAP = 1024  # the course answers in 200; a group's 8192 would hold up the class-wide base pass


def answer_tokens(config: TrainConfig, override: int | None) -> int:
    """Tokens generated per answer: the instructor's --max-new-tokens, else the group's value up to the cap."""
    return override or min(config.max_new_tokens, ANSWER_TOKENS_CAP)


@cache
def part_a_entries() -> list[dict[str, Any]]:
    """Part A's 13 parameters as the course describes them (templates/parameters.yaml): read by validation, the
    rubric, the report, the script reader and the summary alike."""
    import yaml

    entries: list[dict[str, Any]] = yaml.safe_load((templates_dir() / "parameters.yaml").read_text(encoding="utf-8"))
    return entries


def spelled(where: str) -> dict[str, str]:
    """Another name of a Part A key -> the key, as `where` writes it: 'config', 'script' (the course script's
    constants), 'peft' (LoraConfig / adapter_config.json), 'trainer' (TrainingArguments keywords) or 'trainer_state'
    (parameters.yaml's per_key)."""
    return {
        name: key
        for entry in part_a_entries()
        for key, names in entry.get("per_key", {}).items()
        for name in names.get(where, [])
    }


def compared() -> tuple[str, ...]:
    """The Part A keys the class summary correlates with the gain (per_key `compared: true`), in the course's order."""
    return tuple(key for e in part_a_entries() for key, names in e.get("per_key", {}).items() if names.get("compared"))


# Part A's config keys, in the course's order (the gradebook's columns): every `keys` of parameters.yaml
PART_A = tuple(key for entry in part_a_entries() for key in entry["keys"])
KNOWN_KEYS = tuple(TrainConfig.model_fields)
# Keys of the course script that the grader reads but does not take from the group (the base model is the
# grader's, paths are found by layout); accepted without a warning.
IGNORED_KEYS = frozenset(
    {
        "model_name",
        "model_name_or_path",
        "base_model",
        "data_path",
        "dataset_path",
        "train_file",
        "output_dir",
        "save_steps",
        "report_to",
        "use_4bit",
        "target_modules",
        "lora_target_modules",
        "data",
        "tests",
    }
)


ALIASES = {"use_4bit": "load_in_4bit", **spelled("config")}  # use_4bit: a setting of the grader, not Part A


class ConfigProblem(BaseModel):
    """One finding about one key, before the validator attaches a file and line."""

    model_config = ConfigDict(frozen=True)
    key: str
    severity: Literal["error", "warning", "info"]
    message: str
    hint: str = ""


def flatten(raw: dict[str, Any]) -> dict[str, Any]:
    """Course configs sometimes nest keys under `training:` or `lora:`; one level is read as flat."""
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and str(key) not in KNOWN_KEYS:
            for sub, sub_value in value.items():
                flat[str(sub)] = sub_value
        else:
            flat[str(key)] = value
    return flat


def parse_train_config(raw: dict[str, Any]) -> tuple[TrainConfig | None, list[ConfigProblem], list[str]]:
    """Parse a group's hyper-parameters; returns (config or None, problems key by key, keys filled by default)."""
    problems: list[ConfigProblem] = []
    values = known_values(flatten(raw), problems)
    good = valid_values(values, problems)
    try:
        config: TrainConfig | None = TrainConfig.model_validate(good)
    except ValidationError as exc:
        config = None
        for err in exc.errors():
            problems.append(
                ConfigProblem(
                    key="bf16",
                    severity="error",
                    message=err["msg"].removeprefix("Value error, "),
                    hint="set exactly one of bf16 / fp16 to true",
                )
            )
    if len(good) < len(values):
        config = None
    filled = [name for name in PART_A if name not in values]
    return config, problems, filled


def known_values(flat: dict[str, Any], problems: list[ConfigProblem]) -> dict[str, Any]:
    """The values under their canonical names; an alias is said, an unknown key is named with the nearest known."""
    values: dict[str, Any] = {}
    for key, value in sorted(flat.items(), key=lambda kv: kv[0] not in KNOWN_KEYS):  # canonical names first
        name = ALIASES.get(key, key)
        if name in KNOWN_KEYS:
            if name != key and name in values:
                problems.append(
                    ConfigProblem(
                        key=key,
                        severity="warning",
                        message=f"'{key}' ignored: '{name}' is also set and wins",
                        hint=f"remove '{key}'",
                    )
                )
                continue
            if name != key:
                problems.append(ConfigProblem(key=key, severity="info", message=f"'{key}' read as '{name}'"))
            values[name] = value
        elif key not in IGNORED_KEYS:
            near = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean '{near[0]}'?" if near else f"known keys: {', '.join(PART_A)}"
            problems.append(
                ConfigProblem(key=key, severity="warning", message=f"unknown key '{key}' ignored", hint=hint)
            )
    return values


def valid_values(values: dict[str, Any], problems: list[ConfigProblem]) -> dict[str, Any]:
    """The values TrainConfig accepts one by one; each refused one is a problem with its valid range."""
    good: dict[str, Any] = {}
    for name, value in values.items():
        try:
            TrainConfig.model_validate({name: value})
            good[name] = value
        except ValidationError as exc:
            for err in exc.errors():
                if err["loc"] and err["loc"][0] == name:
                    problems.append(_value_problem(name, value, err["msg"]))
                    break
            else:
                good[name] = value  # the error is about the combination (bf16 + fp16), reported below
    return good


def _value_problem(name: str, value: Any, msg: str) -> ConfigProblem:
    field = TrainConfig.model_fields[name]
    default = field.default
    return ConfigProblem(
        key=name,
        severity="error",
        message=f"{name} = {value!r}: {msg.lower()}",
        hint=f"{field.description} Valid: {valid_range(name)}; the course default is {default!r}.",
    )


def valid_range(name: str) -> str:
    """The values TrainConfig accepts for `name`, in words ('> 0 and <= 1', 'true or false', 'one of ...')."""
    import annotated_types as at

    field = TrainConfig.model_fields[name]
    if field.annotation is bool:
        return "true or false"
    choices = getattr(field.annotation, "__args__", None)
    if choices and all(isinstance(c, str) for c in choices):
        return "one of " + ", ".join(choices)
    bounds = {at.Gt: ">", at.Ge: ">=", at.Lt: "<", at.Le: "<="}
    words = [
        f"{sign} {getattr(m, sign_attr)}"
        for m in field.metadata
        for kind, sign in bounds.items()
        if isinstance(m, kind)
        for sign_attr in (kind.__name__.lower(),)
    ]
    kind = "an integer" if field.annotation is int else "a number"
    return f"{kind} " + " and ".join(words) if words else kind


class RunSettings(BaseModel):
    """How the grader runs: which base model, where output goes, limits. Flags, env vars or a config file set it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_model: str = Field(
        DEFAULTS.base_model, description="'demo' (built locally), a local folder, or a cached Hugging Face id."
    )
    out: Path = Field(DEFAULTS.out, description="Output folder: one sub-folder per group plus the gradebook.")
    device: Device = Field(DEFAULTS.device, description="Where models run.")
    quantize: Quantize = Field(
        DEFAULTS.quantize,
        description="Base model in 4-bit NF4: auto = on CUDA (the course's QLoRA), fp32 on CPU; 4bit; none.",
    )
    threads: int | None = Field(
        None, ge=1, le=1024, description="CPU threads for torch [default: the CPUs this process may use]."
    )
    max_new_tokens: int | None = Field(None, ge=1, description="Override the groups' max_new_tokens (faster previews).")
    force: bool = Field(False, description="Redo every stage even when its cached record still matches.")
    rescore: bool = Field(False, description="Re-score, re-grade and re-render from stored answers; no model.")
    timeout: float | None = Field(
        DEFAULTS.timeout,
        gt=0,
        description="Wall-clock limit per group, in seconds, every stage included (default one hour).",
    )
    max_samples: int = Field(DEFAULT_LIMITS.max_samples, ge=1, description="Training samples a group may have.")
    max_tests: int = Field(DEFAULT_LIMITS.max_tests, ge=1, description="Test questions a group may have.")
    max_file_mb: int = Field(DEFAULT_LIMITS.max_file_mb, ge=1, description="Size of one data or tests file, in MB.")
    reader_memory_mb: int = Field(
        DEFAULT_LIMITS.reader_memory_mb, ge=64, description="Memory one reader of one student file may use, in MB."
    )
    reader_seconds: float = Field(
        DEFAULT_LIMITS.reader_seconds, gt=0, description="Time one reader of one student file may take, in seconds."
    )
    only: tuple[str, ...] = Field((), description="Grade only these groups; the others keep their last results.")
    fail_fast: bool = Field(False, description="Re-raise the first group failure (debugging).")
    preview: bool = Field(False, description="Use a group's recorded answers and logs when it has them; no model.")
    cache_dir: Path | None = Field(None, description="Where the demo model is built; default ~/.cache/grader.")
    class_tests: Path | None = Field(
        None, description="Held-out questions every group's model answers too (--tests): one test set for the class."
    )
    course: Path | None = Field(
        None, description="The course's own files (--course): passages, decks and data copied from them earn nothing."
    )
    adjustments: Path | None = Field(
        None, description="Penalties and bonuses (CSV group,kind,points,reason); default: OUT/adjustments.csv."
    )
    assignment: str = Field(
        DEFAULTS.assignment, min_length=1, description="The assignment's column name in canvas.csv/moodle.csv."
    )
    run_id: str | None = Field(None, description="Written into each results.json: which run graded the group.")
    shard: str | None = Field(None, description="Set in a shard's process: the coordinator holds the lock.")
    engine: Engine = Field(
        DEFAULTS.engine, description="class: co-train all adapters on one base and answer in mixed batches; per-group."
    )

    @property
    def limits(self) -> DataLimits:
        return DataLimits(
            max_samples=self.max_samples,
            max_tests=self.max_tests,
            max_file_mb=self.max_file_mb,
            reader_memory_mb=self.reader_memory_mb,
            reader_seconds=self.reader_seconds,
        )
