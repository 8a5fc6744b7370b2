"""The course's training script (`LoRA_fine_Tuning.py` / `train_lora.py`) read as data: parsed, never run.

`ast.parse` turns the group's edited script into a tree; only literals are taken: module-level constants
(`LR = 2e-4`), the literal keywords of its `TrainingArguments(...)`, `LoraConfig(...)`, `BitsAndBytesConfig(...)`
and `generate(...)` calls, and names in those keywords that point at such constants (`learning_rate=LR`). A
value the script computes (`LR = base * 2`) is named with its line and not guessed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import PureWindowsPath
from typing import Any

MAX_SCRIPT_BYTES = 256 << 10  # the course script is ~8 KB
# The course script's constants -> the Part A name (or a setting the grader records).
CONSTANTS = {
    "MAX_LEN": "max_length",
    "MAX_LENGTH": "max_length",
    "MAX_SEQ_LEN": "max_length",
    "MAX_SEQ_LENGTH": "max_length",
    "BATCH": "per_device_train_batch_size",
    "BATCH_SIZE": "per_device_train_batch_size",
    "GRAD_ACC": "gradient_accumulation_steps",
    "GRAD_ACCUM": "gradient_accumulation_steps",
    "GRADIENT_ACCUMULATION_STEPS": "gradient_accumulation_steps",
    "LR": "learning_rate",
    "LEARNING_RATE": "learning_rate",
    "EPOCHS": "num_train_epochs",
    "NUM_EPOCHS": "num_train_epochs",
    "LORA_R": "lora_r",
    "LORA_RANK": "lora_r",
    "LORA_ALPHA": "lora_alpha",
    "LORA_DROPOUT": "lora_dropout",
    "INCLUDE_MLP": "include_mlp",
    "WARMUP_RATIO": "warmup_ratio",
    "LOGGING_STEPS": "logging_steps",
    "MAX_NEW_TOKENS": "max_new_tokens",
    "SEED": "seed",
}
TRAINING_KEYWORDS = {
    "learning_rate",
    "num_train_epochs",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "logging_steps",
    "warmup_ratio",
    "lr_scheduler_type",
    "bf16",
    "fp16",
    "seed",
}
LORA_KEYWORDS = {"r": "lora_r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout"}
PATHS = ("DATA_PATH", "OUT_RUNS", "OUT_ADAPT", "OUTPUT_DIR", "MODEL_NAME", "BASE_MODEL")


@dataclass
class Value:
    key: str
    value: Any
    line: int
    how: str  # 'LR' or 'TrainingArguments(learning_rate=...)', for messages


@dataclass
class ScriptValues:
    """What the script says: Part A values with their lines, file names it points at, and what could not be read."""

    values: dict[str, Value] = field(default_factory=dict)
    paths: dict[str, tuple[str, int]] = field(default_factory=dict)  # DATA_PATH -> (last component, line)
    target_modules: tuple[list[str], int] | None = None
    problems: list[tuple[int | None, str, str]] = field(default_factory=list)  # (line, message, hint)
    conflicts: list[tuple[int, str]] = field(default_factory=list)  # (line, message)


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def parse(source: str) -> ScriptValues:
    """Read the script's values; never raises on content (a syntax error is one problem)."""
    found = ScriptValues()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        line = getattr(exc, "lineno", None)
        found.problems.append(
            (line, f"is not valid Python ({getattr(exc, 'msg', exc)}); no value was read from it", "fix the syntax")
        )
        return found
    constants: dict[str, tuple[Any, int]] = {}
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        value = getattr(node, "value", None)
        for target in targets:
            if not isinstance(target, ast.Name) or value is None:
                continue
            name = target.id
            ok, literal = _literal(value)
            if ok:
                constants[name] = (literal, node.lineno)
            if name in CONSTANTS or name in PATHS:
                if not ok:
                    found.problems.append(
                        (
                            node.lineno,
                            f"{name} = {_shown(source, value)} is computed, not a literal; its value was not read",
                            f"write the value itself (e.g. {name} = ...) so it can be read without running the script",
                        )
                    )
                    continue
                if name in PATHS and isinstance(literal, str):
                    found.paths[name] = (PureWindowsPath(literal).name, node.lineno)
                elif name in CONSTANTS:
                    found.values[CONSTANTS[name]] = Value(CONSTANTS[name], literal, node.lineno, name)
    for call in ast.walk(tree):
        if isinstance(call, ast.Call):
            _keywords(call, constants, found, source)
    return found


def _shown(source: str, node: ast.AST) -> str:
    """The expression as the group wrote it (cut to 60 characters)."""
    text = ast.get_source_segment(source, node) or ast.unparse(node)
    return " ".join(text.split())[:60]


def _keywords(call: ast.Call, constants: dict[str, tuple[Any, int]], found: ScriptValues, source: str) -> None:
    name = _call_name(call)
    for kw in call.keywords:
        if kw.arg is None:
            continue
        key = None
        if name == "TrainingArguments" and kw.arg in TRAINING_KEYWORDS:
            key = kw.arg
        elif name == "LoraConfig" and kw.arg in LORA_KEYWORDS:
            key = LORA_KEYWORDS[kw.arg]
        elif name == "LoraConfig" and kw.arg == "target_modules":
            # only a list written in the call: a named list may be extended later (`if INCLUDE_MLP: targets += ...`)
            ok, value = _literal(kw.value)
            if ok and isinstance(value, list | tuple):
                found.target_modules = ([str(v) for v in value], kw.value.lineno)
            continue
        elif name == "BitsAndBytesConfig" and kw.arg == "load_in_4bit":
            key = "load_in_4bit"
        elif name == "generate" and kw.arg == "max_new_tokens":
            key = "max_new_tokens"
        elif kw.arg == "max_length" and (name in ("tok", "tokenize") or name.endswith("tokenizer")):
            key = "max_length"
        if key is None:
            continue
        ok, value = _resolve(kw.value, constants)
        line = kw.value.lineno
        if not ok:
            if key not in found.values:
                found.problems.append(
                    (
                        line,
                        f"{name}({kw.arg}={_shown(source, kw.value)}) is computed; its value was not read",
                        "use a literal or a module-level constant",
                    )
                )
            continue
        how = f"{name}({kw.arg}=...)"
        earlier = found.values.get(key)
        if earlier is not None and earlier.value != value and not isinstance(kw.value, ast.Name):
            found.conflicts.append(
                (line, f"{key}: {how} passes {value!r}, while {earlier.how} (line {earlier.line}) is {earlier.value!r}")
            )
        if isinstance(kw.value, ast.Name) and kw.value.id in constants:
            line = constants[kw.value.id][1]  # the value lives where the constant is set
        if earlier is None or not isinstance(kw.value, ast.Name):
            found.values[key] = Value(key, value, line, how)  # the call's literal is what the Trainer used


def _resolve(node: ast.AST, constants: dict[str, tuple[Any, int]]) -> tuple[bool, Any]:
    if isinstance(node, ast.Name):
        if node.id in constants:
            return True, constants[node.id][0]
        return False, None
    return _literal(node)
