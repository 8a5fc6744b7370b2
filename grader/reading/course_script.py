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

from grader.config import spelled

MAX_SCRIPT_BYTES = 256 << 10  # the course script is ~8 KB
# The course script's constants -> the Part A name (templates/parameters.yaml's per_key `script`), or a setting the
# grader records.
CONSTANTS = {**spelled("script"), "SEED": "seed"}
# The keywords of its TrainingArguments(...) and LoraConfig(...) -> the Part A name (per_key `trainer` and `peft`).
TRAINING_KEYWORDS = {**spelled("trainer"), "seed": "seed"}
LORA_KEYWORDS = spelled("peft")
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
    unsure: list[tuple[int, str]] = field(
        default_factory=list
    )  # (line, 'unsure: ...'): values Python may set otherwise
    notes: list[tuple[int, str]] = field(default_factory=list)  # (line, message): values worked out as Python would


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
        why = str(getattr(exc, "msg", "") or exc or "") or type(exc).__name__  # a bomb's error can have no text
        deep = isinstance(exc, RecursionError | MemoryError) or "nested" in why
        hint = "write the values as plain literals, not one expression nested thousands deep" if deep else ""
        found.problems.append(
            (line, f"is not valid Python ({why[:200]}); no value was read from it", hint or "fix the syntax")
        )
        return found
    sets: list[_Set] = []
    _statements(tree.body, "", sets, found)
    history = _history(sets, source, found)
    constants = {name: values[-1] for name, values in history.items()}  # the value when the module has run
    for name, (literal, line) in constants.items():
        if name in PATHS and isinstance(literal, str):
            found.paths[name] = (PureWindowsPath(literal).name, line)
        elif name in CONSTANTS:
            found.values[CONSTANTS[name]] = Value(CONSTANTS[name], literal, line, name)
    functions = [(n.lineno, n.end_lineno or n.lineno) for n in ast.walk(tree) if isinstance(n, FUNCTIONS)]
    for call in ast.walk(tree):
        if isinstance(call, ast.Call):
            in_function = any(a <= call.lineno <= b for a, b in functions)
            # a call at module level sees each constant as it was set above it, not as it ends
            seen = constants if in_function else _before(history, call.lineno)
            _keywords(call, seen, found, source, _later(history, call.lineno) if not in_function else {})
    return found


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
MAX_UNSURE = 50  # per script: a file of 7,000 reassignments says the first 50 and how many more


@dataclass
class _Set:
    """One assignment to a name of the course script: its line, its value node, the operator of `LR *= 10`, and
    the block it sits in ('' at module level, unconditional; else 'inside the if block at line 30', ...)."""

    name: str
    line: int
    value: ast.AST
    op: ast.operator | None
    where: str


def _statements(body: list[ast.stmt], where: str, sets: list[_Set], found: ScriptValues) -> None:
    """Every assignment to a tracked name, in source order, with the block that makes it conditional. An `if` on a
    literal (`if True:`) is no condition: Python's choice there is certain."""
    for node in body:
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            op = node.op if isinstance(node, ast.AugAssign) else None
            for target in targets:
                if isinstance(target, ast.Name) and (target.id in CONSTANTS or target.id in PATHS):
                    sets.append(_Set(target.id, node.lineno, node.value, op, where))
        elif isinstance(node, ast.If):
            certain, test = _literal(node.test)
            if _main_guard(node.test):  # the script is run as a script: its main block runs
                certain, test = True, True
            if certain:
                _statements(node.body if test else node.orelse, where, sets, found)
            else:
                inner = where or f"inside the if block at line {node.lineno}"
                _statements(node.body, inner, sets, found)
                _statements(node.orelse, inner, sets, found)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.While):
            inner = where or f"in the loop at line {node.lineno}"
            _statements(node.body, inner, sets, found)
            _statements(node.orelse, inner, sets, found)
        elif isinstance(node, ast.With | ast.AsyncWith):
            _statements(node.body, where, sets, found)
        elif isinstance(node, ast.Try):
            inner = where or f"inside the try block at line {node.lineno}"
            for block in (node.body, *(h.body for h in node.handlers), node.orelse):
                _statements(block, inner, sets, found)
            _statements(node.finalbody, where, sets, found)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            _statements(node.body, f"inside {node.name} at line {node.lineno}", sets, found)
        elif isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            _unsure(
                found,
                node.lineno,
                f"`from {node.module} import *` may set any constant; values are read from this file only",
            )


def _main_guard(test: ast.expr) -> bool:
    """`if __name__ == "__main__":`"""
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _unsure(found: ScriptValues, line: int, message: str) -> None:
    if len(found.unsure) < MAX_UNSURE:
        found.unsure.append((line, f"unsure: {message}"))
    elif len(found.unsure) == MAX_UNSURE:
        found.unsure.append((line, "unsure: and more places like the ones above (not listed)"))


def _history(sets: list[_Set], source: str, found: ScriptValues) -> dict[str, list[tuple[Any, int]]]:
    """name -> its values, in order, as Python sets them at module level; each conditional or uncertain assignment
    is said, and the last certain value is the one used."""
    history: dict[str, list[tuple[Any, int]]] = {}
    for s in sets:
        earlier = history.get(s.name, [])
        current = earlier[-1] if earlier else None
        if s.where:
            used = f"{current[0]!r} from line {current[1]}" if current else "the course default"
            _unsure(
                found,
                s.line,
                f"{s.name} is also set {s.where} (line {s.line}); grader uses {used}, the last "
                "value set outside any block",
            )
            continue
        if s.op is not None:
            value = _augmented(current[0] if current else None, s.op, s.value)
            if value is None:
                _unsure(
                    found,
                    s.line,
                    f"{s.name} is changed by `{_shown(source, s.value)}` at line {s.line}, which "
                    "cannot be worked out without running the script; grader uses the value before it",
                )
                continue
            found.notes.append((s.line, f"{s.name} becomes {value!r} at line {s.line} (as Python computes it)"))
            history.setdefault(s.name, []).append((value, s.line))
            continue
        ok, literal = _literal(s.value)
        if not ok and current is not None:
            _unsure(
                found,
                s.line,
                f"{s.name} is computed again at line {s.line} (`{_shown(source, s.value)}`), "
                f"which cannot be worked out without running the script; grader uses {current[0]!r} from line "
                f"{current[1]}",
            )
            continue
        if not ok:
            found.problems.append(
                (
                    s.line,
                    f"{s.name} = {_shown(source, s.value)} is computed, not a literal; its value was not read",
                    f"write the value itself (e.g. {s.name} = ...) so it can be read without running the script",
                )
            )
            continue
        history.setdefault(s.name, []).append((literal, s.line))
    return history


def _augmented(current: Any, op: ast.operator, node: ast.AST) -> Any:
    """`LR *= 10` worked out when both sides are plain numbers (None otherwise): what Python itself would compute."""
    ok, operand = _literal(node)
    numbers = (int, float)
    if not ok or not isinstance(current, numbers) or not isinstance(operand, numbers):
        return None
    if isinstance(current, bool) or isinstance(operand, bool):
        return None
    operations = {ast.Add: float.__add__, ast.Sub: float.__sub__, ast.Mult: float.__mul__, ast.Div: float.__truediv__}
    apply = operations.get(type(op))
    if apply is None or (isinstance(op, ast.Div) and operand == 0):
        return None
    result = apply(float(current), float(operand))
    return (
        int(result) if isinstance(current, int) and isinstance(operand, int) and not isinstance(op, ast.Div) else result
    )


def _before(history: dict[str, list[tuple[Any, int]]], line: int) -> dict[str, tuple[Any, int]]:
    """Each name's value as set above `line` (what a module-level call there sees)."""
    seen = {}
    for name, values in history.items():
        above = [v for v in values if v[1] < line]
        if above:
            seen[name] = above[-1]
    return seen


def _later(history: dict[str, list[tuple[Any, int]]], line: int) -> dict[str, tuple[Any, int]]:
    """Each name changed below `line` to another value: the first such change."""
    later = {}
    for name, values in history.items():
        above = [v for v in values if v[1] < line]
        changed = [v for v in values if v[1] > line and (not above or v[0] != above[-1][0])]
        if above and changed:
            later[name] = changed[0]
    return later


def _shown(source: str, node: ast.AST) -> str:
    """The expression as the group wrote it (cut to 60 characters)."""
    text = ast.get_source_segment(source, node) or ast.unparse(node)
    return " ".join(text.split())[:60]


def _keywords(
    call: ast.Call,
    constants: dict[str, tuple[Any, int]],
    found: ScriptValues,
    source: str,
    later: dict[str, tuple[Any, int]] | None = None,
) -> None:
    name = _call_name(call)
    for kw in _spread(call, name, found):
        if kw.arg is None:
            continue
        if isinstance(kw.value, ast.Name) and later and kw.value.id in later:
            value, line = later[kw.value.id]
            _unsure(
                found,
                line,
                f"{kw.value.id} changes to {value!r} at line {line}, after {name}(...) at line "
                f"{call.lineno} used it; grader uses the value that call saw",
            )
        key = None
        if name == "TrainingArguments" and kw.arg in TRAINING_KEYWORDS:
            key = TRAINING_KEYWORDS[kw.arg]
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
        seen_other = isinstance(kw.value, ast.Name) and earlier is not None and earlier.how == kw.value.id
        if earlier is None or not isinstance(kw.value, ast.Name) or (seen_other and earlier.value != value):
            # the call's literal, or the constant as the call saw it, is what the Trainer used
            how = kw.value.id if isinstance(kw.value, ast.Name) else how
            found.values[key] = Value(key, value, line, how)


def _spread(call: ast.Call, name: str, found: ScriptValues) -> list[ast.keyword]:
    """The call's keywords, with `**{"learning_rate": 2e-4}` opened into keywords (a literal dict is certain) and
    `**kwargs` said: its values cannot be read without running the script."""
    keywords = []
    for kw in call.keywords:
        if kw.arg is not None:
            keywords.append(kw)
        elif isinstance(kw.value, ast.Dict) and all(
            isinstance(k, ast.Constant) and isinstance(k.value, str) for k in kw.value.keys
        ):
            for key, value in zip(kw.value.keys, kw.value.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    keywords.append(ast.keyword(arg=key.value, value=value, lineno=value.lineno))
        elif name in ("TrainingArguments", "LoraConfig"):
            _unsure(
                found,
                call.lineno,
                f"{name}(**{ast.unparse(kw.value)[:40]}) at line {call.lineno}: its values "
                "cannot be read without running the script; the values read elsewhere are used",
            )
    return keywords


def _resolve(node: ast.AST, constants: dict[str, tuple[Any, int]]) -> tuple[bool, Any]:
    if isinstance(node, ast.Name):
        if node.id in constants:
            return True, constants[node.id][0]
        return False, None
    return _literal(node)
