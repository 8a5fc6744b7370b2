"""validate: a group folder (or one data file) -> ValidationRecord + normalized samples/tests in the output folder.

Every problem in one pass, each with file, line, what is wrong and what to do. Student files are read only
through `safe_file`, which refuses symlinks and paths that leave the group folder, and caps sizes.
"""

from __future__ import annotations

import difflib
import json
import re
import time
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import tomllib
import yaml

from grader.config import DEFAULT_SYSTEM, PART_A, TrainConfig, parse_train_config
from grader.jsonl import MAX_FILE_BYTES, Reader, read_objects
from grader.layout import Layout
from grader.limits import DEFAULT_LIMITS, LIMIT_CODES, DataLimits
from grader.records import Problem, Sample, ValidationRecord, digest, write_atomic

MIN_SAMPLES = 20
MIN_TESTS = 5
MAX_REPORT_BYTES = 1 << 20
FIELDS = ("system", "instruction", "context", "answer")
WRONG_NAMES = {
    "input": "context",
    "output": "answer",
    "response": "answer",
    "question": "instruction",
    "prompt": "instruction",
    "completion": "answer",
    "target": "answer",
    "label": "answer",
    "system_prompt": "system",
    "query": "instruction",
}
NON_DATA = {
    "tests.jsonl",
    "tests.json",
    "train_config.json",
    "trainer_state.json",
    "train_results.json",
    "all_results.json",
    "eval_results.json",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "config.json",
    "generation_config.json",
    "answers.json",
    "answers.jsonl",
}
CONFIG_FILES = ("grader.toml", "config.yaml", "config.yml", "train_config.json")
NEAR_DUPLICATE = 0.9

TokenCounter = Callable[[list[str]], list[int]]


def safe_file(group_dir: Path, relative: str, problems: list[Problem]) -> Path | None:
    """The file inside the group folder, or None (and a problem) when it is a symlink, escapes, or is too big."""
    path = group_dir / relative
    root = group_dir.resolve()
    try:
        for part in [path, *path.parents]:
            if part == group_dir:
                break
            if part.is_symlink():
                problems.append(
                    Problem(
                        file=relative,
                        code="symlink",
                        message="is a symbolic link; refused, not read",
                        hint="commit the file itself, not a link to it",
                    )
                )
                return None
        resolved = path.resolve()
    except OSError as exc:
        problems.append(Problem(file=relative, code="unreadable", message=f"cannot be read: {exc.strerror}"))
        return None
    if not resolved.is_relative_to(root):
        problems.append(Problem(file=relative, code="outside", message="resolves outside the group folder; refused"))
        return None
    if not resolved.is_file():
        return None
    return resolved


def find_files(group_dir: Path, toml: dict[str, Any], problems: list[Problem]) -> tuple[list[str], str | None]:
    """Data files and the tests file, relative to the group: grader.toml's choice, else the usual layout."""
    if "data" in toml:
        wanted = toml["data"] if isinstance(toml["data"], list) else [toml["data"]]
        data = [str(p) for p in wanted]
    else:
        data = sorted(
            p.relative_to(group_dir).as_posix()
            for pattern in ("data/*.jsonl", "data/*.json", "*.jsonl", "*.json")
            for p in group_dir.glob(pattern)
            if p.name not in NON_DATA and not p.name.startswith(".")
        )
    tests = toml.get("tests")
    if tests is None:
        tests = next(
            (
                name
                for name in ("tests.jsonl", "tests.json", "data/tests.jsonl")
                if (group_dir / name).exists() or (group_dir / name).is_symlink()
            ),
            None,
        )
    return data, (str(tests) if tests else None)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _sample_problems(obj: Any, line: int, reader: Reader, *, is_test: bool) -> Sample | None:
    """Check one parsed record; return the normalized Sample, or None when it cannot be used."""
    if not isinstance(obj, dict):
        kind = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
            type(obj), "null"
        )
        reader.add(
            line,
            "not-object",
            f"line holds {kind}, not an object",
            'each line must be {"system": ..., "instruction": ..., "context": ..., "answer": ...}',
        )
        return None
    keys = {str(k) for k in obj}
    if keys & {"messages", "message", "conversations"}:
        key = next(iter(keys & {"messages", "message", "conversations"}))
        reader.add(
            line,
            "chat-format",
            f"chat format ('{key}' list) instead of the course fields",
            "the course script reads system/instruction/context/answer: turn the system, user and assistant "
            "messages into those four fields",
        )
        return None
    ok = True
    for key in ("instruction", "answer"):
        value = obj.get(key)
        if key not in obj:
            wrong = [w for w, right in WRONG_NAMES.items() if right == key and w in obj]
            hint = f"rename '{wrong[0]}' to '{key}'" if wrong else f'add "{key}": "..."'
            reader.add(line, "missing-field", f"field '{key}' is missing", hint)
            ok = False
        elif not isinstance(value, str):
            reader.add(
                line,
                "wrong-type",
                f"field '{key}' is {type(value).__name__}, expected a string",
                f"put the {key} in quotes",
            )
            ok = False
        elif not value.strip():
            reader.add(line, "empty-field", f"field '{key}' is empty", f"write the {key}, or remove the sample")
            ok = False
    context = obj.get("context", "")
    if "context" not in obj and "input" in obj:
        reader.add(line, "missing-field", "field 'context' is missing", "rename 'input' to 'context'")
        ok = False
    elif not isinstance(context, str):
        reader.add(line, "wrong-type", f"field 'context' is {type(context).__name__}, expected a string", "")
        ok = False
    elif not context.strip() and not is_test:
        reader.add(
            line,
            "empty-context",
            "field 'context' is empty or missing; the grader accepts it, but the "
            "course's train_lora.py refuses such samples",
            "add the source passage as context",
            severity="warning",
        )
    system = obj.get("system")
    if system is not None and not isinstance(system, str):
        reader.add(line, "wrong-type", f"field 'system' is {type(system).__name__}, expected a string", "")
        ok = False
    if not ok:
        return None
    return Sample(
        system=_text(system).strip() or DEFAULT_SYSTEM,
        instruction=_text(obj["instruction"]).strip(),
        context=_text(context).strip(),
        answer=_text(obj["answer"]).strip(),
        source=f"{reader.shown}:{line}",
    )


def read_samples(
    group_dir: Path,
    files: Iterable[str],
    problems: list[Problem],
    *,
    is_test: bool,
    limits: DataLimits = DEFAULT_LIMITS,
) -> list[Sample]:
    samples: list[Sample] = []
    most, code, what, flag = (
        (limits.max_tests, "over-test-limit", "test questions", "--max-tests")
        if is_test
        else (limits.max_samples, "over-sample-limit", "samples", "--max-samples")
    )
    for relative in files:
        path = safe_file(group_dir, relative, problems)
        if path is None:
            if not any(p.file == relative for p in problems):
                problems.append(
                    Problem(
                        file=relative, code="not-found", message="file not found", hint="check the path in grader.toml"
                    )
                )
            continue
        reader = Reader(relative)
        no_system: list[int] = []
        extra: set[str] = set()
        for line, obj in read_objects(path, reader, limits.max_file_mb):
            if len(samples) >= most:
                reader.add(
                    line,
                    code,
                    f"more than {most} {what}, the limit per group ({flag}); the rest was not read",
                    f"keep the {what} you need, or ask the instructor to raise the limit",
                )
                break
            sample = _sample_problems(obj, line, reader, is_test=is_test)
            if isinstance(obj, dict):
                extra |= {str(k) for k in obj} - set(FIELDS) - set(WRONG_NAMES)
                if sample and not _text(obj.get("system")).strip():
                    no_system.append(line)
            if sample:
                samples.append(sample)
        if no_system and not is_test:
            reader.add(
                no_system[0],
                "system-filled",
                f"{len(no_system)} sample(s) have no 'system'; filled with the course default \"{DEFAULT_SYSTEM}\"",
                severity="info",
            )
        if extra:
            reader.add(None, "extra-keys", f"extra keys ignored: {', '.join(sorted(extra)[:12])}", severity="info")
        problems.extend(reader.problems)
    return samples


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text)).strip()


def _file_line(source: str) -> tuple[str, int | None]:
    file, _, line = source.rpartition(":")
    return file, int(line) if line.isdigit() else None


def duplicate_problems(samples: list[Sample]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple[str, str], Sample] = {}
    for sample in samples:
        key = (normalize(sample.instruction), normalize(sample.context))
        if key in seen:
            first = seen[key]
            same = normalize(first.answer) == normalize(sample.answer)
            file, line = _file_line(sample.source)
            problems.append(
                Problem(
                    file=file,
                    line=line,
                    severity="warning",
                    code="duplicate",
                    message=f"{'duplicate of' if same else 'same question and context as'} {first.source}"
                    + ("" if same else " with a different answer"),
                    hint="remove the repeat: it weighs this sample double in training",
                )
            )
        else:
            seen[key] = sample
    return problems


def overlap_problems(samples: list[Sample], tests: list[Sample]) -> list[Problem]:
    """Test questions that also appear, exactly or nearly, in the training data make the test meaningless."""
    problems: list[Problem] = []
    train = [(normalize(s.instruction), s) for s in samples]
    for test in tests:
        question = normalize(test.instruction)
        matcher = difflib.SequenceMatcher(None, question, autojunk=False)
        for text, sample in train:
            matcher.set_seq2(text)
            if matcher.real_quick_ratio() < NEAR_DUPLICATE or matcher.quick_ratio() < NEAR_DUPLICATE:
                continue
            ratio = 1.0 if text == question else matcher.ratio()
            if ratio >= NEAR_DUPLICATE:
                file, line = _file_line(test.source)
                how = "also appears" if ratio == 1.0 else f"nearly appears ({ratio:.0%} similar)"
                problems.append(
                    Problem(
                        file=file,
                        line=line,
                        severity="warning",
                        code="test-in-train",
                        message=f"test question {how} in the training data at {sample.source}",
                        hint="test on questions the model has not been trained on",
                    )
                )
                break
    return problems


def length_problems(samples: list[Sample], max_length: int, count: TokenCounter) -> tuple[list[Problem], int, int]:
    """Samples over max_length tokens (prompt + answer) are cut in training: say which, and by how much."""
    from grader.prompts import training_text

    lengths = count([training_text(s) for s in samples])
    over = [(n, s) for n, s in zip(lengths, samples, strict=True) if n > max_length]
    problems = []
    for n, sample in over[:20]:
        file, line = _file_line(sample.source)
        problems.append(
            Problem(
                file=file,
                line=line,
                severity="warning",
                code="too-long",
                message=f"sample is {n} tokens, over max_length {max_length}: its context is cut by "
                f"{n - max_length} tokens in training",
                hint="shorten the context, or raise max_length",
            )
        )
    return problems, len(over), max(lengths, default=0)


def read_config(
    group_dir: Path, problems: list[Problem]
) -> tuple[str | None, dict[str, Any] | None, dict[str, Any], str]:
    """(config file name, its raw key/values or None when unreadable, grader.toml's settings, the file's text)."""
    found = [name for name in CONFIG_FILES if (group_dir / name).exists() or (group_dir / name).is_symlink()]
    toml: dict[str, Any] = {}
    if not found:
        problems.append(
            Problem(
                file="config.yaml",
                severity="warning",
                code="no-config",
                message="no config.yaml / train_config.json; the course defaults are used",
                hint="commit the hyper-parameters you trained with",
            )
        )
        return None, {}, toml, ""
    name = found[0]
    if len(found) > 1:
        problems.append(
            Problem(
                file=found[1],
                severity="warning",
                code="config-ignored",
                message=f"ignored: {name} is read first",
                hint="keep one config file",
            )
        )
    path = safe_file(group_dir, name, problems)
    if path is None:
        return name, None, toml, ""
    if path.stat().st_size > MAX_FILE_BYTES:
        problems.append(Problem(file=name, code="file-too-large", message="config file is too large; not read"))
        return name, None, toml, ""
    text = path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        if name.endswith(".toml"):
            toml = tomllib.loads(text)
            raw = toml.get("train", {})
        elif name.endswith(".json"):
            raw = json.loads(text)
        else:
            raw = yaml.safe_load(text) or {}
    except (ValueError, yaml.YAMLError) as exc:
        line = getattr(exc, "lineno", None) or getattr(getattr(exc, "problem_mark", None), "line", -1) + 1 or None
        problems.append(
            Problem(
                file=name,
                line=line,
                code="config-syntax",
                message=f"cannot be parsed: {exc}",
                hint="check the syntax; the course defaults are NOT used for a broken file",
            )
        )
        return name, None, toml, ""
    if not isinstance(raw, dict):
        problems.append(Problem(file=name, line=1, code="config-syntax", message="is not a mapping of key: value"))
        return name, None, toml, ""
    return name, raw, toml, text


def config_problems(
    group_dir: Path, problems: list[Problem]
) -> tuple[TrainConfig | None, str | None, list[str], dict[str, Any]]:
    """(config, the file it came from, keys filled with course defaults, grader.toml's other settings)."""
    name, raw, toml, text = read_config(group_dir, problems)
    if name is None:  # no config file: the course defaults, already said
        config, _, filled = parse_train_config({})
        return config, None, filled, toml
    if raw is None:
        return None, name, [], toml
    config, found_problems, filled = parse_train_config(raw)
    lines = text.splitlines()
    for cp in found_problems:
        line = next(
            (i for i, t in enumerate(lines, 1) if re.search(rf"(^|[\s\"']){re.escape(cp.key)}[\"']?\s*[:=]", t)), None
        )
        problems.append(
            Problem(file=name, line=line, severity=cp.severity, code="config", message=cp.message, hint=cp.hint)
        )
    if config is not None and filled:
        problems.append(
            Problem(
                file=name,
                severity="info",
                code="defaults-filled",
                message=f"not set, course defaults used: {', '.join(filled)}",
            )
        )
    return config, name, filled, toml


def run(
    group_dir: Path,
    name: str,
    layout: Layout | None = None,
    count_tokens: TokenCounter | None = None,
    limits: DataLimits = DEFAULT_LIMITS,
) -> ValidationRecord:
    """Validate one group folder; write normalized samples, tests and REPORT.md into its output folder."""
    started = time.monotonic()
    problems: list[Problem] = []
    config, config_file, filled, toml = config_problems(group_dir, problems)
    data_files, tests_file = find_files(group_dir, toml, problems)
    if not data_files:
        problems.append(
            Problem(
                file="data/",
                code="no-data",
                message="no training data found",
                hint="commit your samples as data/train.jsonl (one JSON object per line)",
            )
        )
    samples = read_samples(group_dir, data_files, problems, is_test=False, limits=limits)
    tests = read_samples(group_dir, [tests_file], problems, is_test=True, limits=limits) if tests_file else []
    if tests_file is None:
        problems.append(
            Problem(
                file="tests.jsonl",
                code="no-tests",
                message="no test questions found",
                hint=f"commit at least {MIN_TESTS} questions as tests.jsonl (instruction, context, expected answer)",
            )
        )
    if data_files and len(samples) < MIN_SAMPLES:
        problems.append(
            Problem(
                file=data_files[0],
                code="too-few-samples",
                message=f"{len(samples)} < {MIN_SAMPLES} usable samples",
                hint=f"the assignment asks for at least {MIN_SAMPLES}",
            )
        )
    if tests_file and len(tests) < MIN_TESTS:
        problems.append(
            Problem(
                file=tests_file,
                code="too-few-tests",
                message=f"{len(tests)} < {MIN_TESTS} test questions",
                hint=f"the assignment asks for at least {MIN_TESTS}",
            )
        )
    problems += duplicate_problems(samples) + overlap_problems(samples, tests)
    n_truncated = max_tokens = 0
    if count_tokens and config and samples:
        found, n_truncated, max_tokens = length_problems(samples, config.max_length, count_tokens)
        problems += found
    report_md = _copy_report(group_dir, problems)
    problems.sort(key=lambda p: (p.file, p.line or 0, p.column or 0))
    content = digest(
        [s.model_dump() for s in samples],
        [t.model_dump() for t in tests],
        config.model_dump() if config else None,
        report_md,
    )
    record = ValidationRecord(
        group=name,
        status="ok" if not any(p.severity == "error" for p in problems) else "failed",
        message=_summary(problems),
        digest=content,
        problems=problems,
        data_files=data_files,
        tests_file=tests_file,
        config_file=config_file,
        n_samples=len(samples),
        n_tests=len(tests),
        config=config.model_dump() if config else {},
        defaults_filled=[k for k in filled if k in PART_A],
        n_truncated=n_truncated,
        max_sample_tokens=max_tokens,
        report_md="REPORT.md" if report_md is not None else None,
        seconds=round(time.monotonic() - started, 3),
    )
    if layout is not None:
        _write_normalized(layout, name, samples, tests, report_md)
    return record


def over_limit(problems: list[Problem]) -> Problem | None:
    """The error that says the group is over a limit the instructor can raise (then it is `over-limit`)."""
    return next((p for p in problems if p.code in LIMIT_CODES and p.severity == "error"), None)


def _summary(problems: list[Problem]) -> str:
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        return "valid"
    # a limit says why the rest was not read; a problem at a line is a cause; a count such as "0 < 20 usable
    # samples" is only their consequence
    first = over_limit(errors) or next((p for p in errors if p.line is not None), errors[0])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first.location()}: {first.message}{more}"


def _copy_report(group_dir: Path, problems: list[Problem]) -> str | None:
    for name in ("REPORT.md", "report.md", "README.md"):
        if not ((group_dir / name).exists() or (group_dir / name).is_symlink()):
            continue
        path = safe_file(group_dir, name, problems)
        if path is None:
            return None
        with path.open("rb") as fh:
            raw = fh.read(MAX_REPORT_BYTES + 1)
        if len(raw) > MAX_REPORT_BYTES:
            problems.append(
                Problem(
                    file=name,
                    severity="warning",
                    code="report-too-large",
                    message="REPORT.md is over 1 MB; only the first 1 MB is used",
                )
            )
            raw = raw[:MAX_REPORT_BYTES]
        return raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    problems.append(
        Problem(
            file="REPORT.md",
            severity="warning",
            code="no-report",
            message="no REPORT.md: Part A, discussion and reflections cannot be graded",
            hint="write your Part A answers and reflections in REPORT.md",
        )
    )
    return None


def _write_normalized(
    layout: Layout, name: str, samples: list[Sample], tests: list[Sample], report_md: str | None
) -> None:
    def lines(items: list[Sample]) -> bytes:
        return "".join(item.model_dump_json() + "\n" for item in items).encode()

    write_atomic(layout.samples(name), lines(samples))
    write_atomic(layout.tests(name), lines(tests))
    target = layout.group_dir(name) / "REPORT.md"
    if report_md is not None:
        write_atomic(target, report_md.encode())
    else:
        target.unlink(missing_ok=True)


def load_samples(path: Path) -> list[Sample]:
    if not path.is_file():
        return []
    return [Sample.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
