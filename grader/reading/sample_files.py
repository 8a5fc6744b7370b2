"""sample_files: a group's .jsonl files -> checked, normalized Samples (one problem per bad line, folded when repeated),
and the normalized samples.jsonl / tests.jsonl written into its output folder.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grader.config import DEFAULT_SYSTEM
from grader.layout import Layout
from grader.limits import DEFAULT_LIMITS, DataLimits
from grader.reading.json_lines import Reader, read_objects
from grader.reading.student_files import safe_file
from grader.records import Problem, Sample
from grader.storage import write_atomic

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
SHOWN_PER_KIND = 5  # lines with a problem of one kind shown per file before "and N more like it"
FORMAT_CODES = {"alpaca-format", "instances-format", "chat-format"}  # one message says it for the whole file


Counted = dict[tuple[str, str, str], list[int | None]]  # (file, code, severity) -> the lines of problems not kept


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _other_format(obj: dict[Any, Any], line: int, reader: Reader) -> bool:
    """True (and a problem said) when the record is another dataset format, not one course sample."""
    keys = {str(k) for k in obj}
    if isinstance(obj.get("instances"), list) and "answer" not in keys:
        reader.add(
            line,
            "instances-format",
            "record holds an 'instances' list (self-instruct / Super-NaturalInstructions style), not one sample",
            "make one sample per instance: instruction = the record's instruction, context = the instance's "
            "'input', answer = its 'output'",
        )
        return True
    if "output" in keys and "answer" not in keys and keys & {"input", "instruction"}:
        reader.add(
            line,
            "alpaca-format",
            "Alpaca-style records (instruction / input / output)",
            "map 'input' -> 'context' and 'output' -> 'answer' (and add 'system'), e.g. jq -c "
            "'{instruction, context: .input, answer: .output}' data.jsonl",
        )
        return True
    key = next((k for k in ("messages", "message", "conversations", "conversation") if _is_chat(obj.get(k))), None)
    if key is not None:
        near = "" if key in ("messages", "conversations") else f"; the key is '{key}', not the usual '{key}s'"
        reader.add(
            line,
            "chat-format",
            f"chat format (a '{key}' list of role/content messages) instead of the course fields{near}",
            "the course script reads system/instruction/context/answer: turn the system, user and assistant "
            "messages into those four fields",
        )
        return True
    return False


def _is_chat(value: Any) -> bool:
    """A list of messages: objects with role/content (OpenAI) or from/value (ShareGPT)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and ({"role", "content"} <= set(m) or {"from", "value"} <= set(m)) for m in value)
    )


def near_miss(obj: dict[Any, Any], key: str) -> str | None:
    """A key of `obj` that is a near miss of the course field `key`: other case, a plural, a typo
    ('Answer', 'instructions', 'contex')."""
    others = [str(k) for k in obj if str(k) not in FIELDS]
    for other in others:
        if other.lower().strip() == key or other.lower().rstrip("s") == key:
            return other
    close = difflib.get_close_matches(key, [o.lower() for o in others], n=1, cutoff=0.8)
    return next((o for o in others if close and o.lower() == close[0]), None)


def _required_fields(obj: dict[Any, Any], line: int, reader: Reader) -> bool:
    """instruction and answer: present, strings, not empty (a misnamed field is named)."""
    ok = True
    for key in ("instruction", "answer"):
        value = obj.get(key)
        if key not in obj:
            near = near_miss(obj, key)
            wrong = [w for w, right in WRONG_NAMES.items() if right == key and w in obj]
            if near is not None:
                message, hint = f"field '{key}' is missing; '{near}' is a near miss of its name", ""
                hint = f"rename '{near}' to '{key}'"
            else:
                message = f"field '{key}' is missing"
                hint = f"rename '{wrong[0]}' to '{key}'" if wrong else f'add "{key}": "..."'
            reader.add(line, "missing-field", message, hint)
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
    return ok


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
    if _other_format(obj, line, reader):
        return None
    ok = _required_fields(obj, line, reader)
    context = obj.get("context", "")
    near = near_miss(obj, "context") if "context" not in obj else None
    if "context" not in obj and ("input" in obj or near is not None):
        said = f"; '{near}' is a near miss of its name" if near else ""
        reader.add(
            line, "missing-field", f"field 'context' is missing{said}", f"rename '{near or 'input'}' to 'context'"
        )
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
            formats = _format_count(reader)
            sample = _sample_problems(obj, line, reader, is_test=is_test)
            if isinstance(obj, dict) and _format_count(reader) == formats:  # another format's keys are named there
                named = {near_miss(obj, k) for k in FIELDS}
                extra |= {str(k) for k in obj} - set(FIELDS) - set(WRONG_NAMES) - named
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
            names = sorted(extra)
            more = f" and {len(names) - 12} more" if len(names) > 12 else ""
            reader.add(None, "extra-keys", f"extra keys ignored: {', '.join(names[:12])}{more}", severity="info")
        problems.extend(fold(reader.problems, dropped=_dropped(reader)))
    return samples


def read_samples_bounded(
    group_dir: Path,
    files: list[str],
    problems: list[Problem],
    *,
    is_test: bool,
    limits: DataLimits = DEFAULT_LIMITS,
) -> list[Sample]:
    """`read_samples` in a reader process bounded in memory and time (reading/sandbox): a data file that would take
    gigabytes to parse costs its own samples ("could not be read within 1024 MB / 60 s"), never the group's other
    parts or the batch. The samples come back as JSON, the same records `read_samples` gives."""
    from grader.reading import sandbox

    answer, why = sandbox.attempt(
        _read_samples_json,
        group_dir,
        files,
        is_test,
        limits,
        memory_mb=limits.reader_memory_mb,
        seconds=limits.reader_seconds,
    )
    if answer is None:
        problems.append(
            Problem(
                file=", ".join(files),
                code="over-reader-limit" if why.startswith("could not") else "unreadable",
                message=f"{why}: no sample of it is used",
                hint="hand in plain JSON lines (one sample per line); the instructor can raise --reader-memory-mb / "
                "--reader-seconds",
            )
        )
        return []
    raw = json.loads(answer)
    problems += [Problem.model_validate(p) for p in raw["problems"]]
    return [Sample.model_validate(s) for s in raw["samples"]]


def _read_samples_json(group_dir: Path, files: list[str], is_test: bool, limits: DataLimits) -> str:
    """`read_samples` in the reader process, answered as JSON text (the arguments came with the fork)."""
    problems: list[Problem] = []
    samples = read_samples(group_dir, files, problems, is_test=is_test, limits=limits)
    return json.dumps(
        {
            "samples": [s.model_dump(mode="json") for s in samples],
            "problems": [p.model_dump(mode="json") for p in problems],
        }
    )


def _format_count(reader: Reader) -> int:
    return sum(reader.counts.get((code, "error"), 0) for code in FORMAT_CODES)


def _dropped(reader: Reader) -> Counted:
    """The problems a Reader only counted, as fold() takes them: their first lines, then None for the rest."""
    return {
        (reader.shown, code, severity): lines + [None] * (reader.n_dropped[(code, severity)] - len(lines))
        for (code, severity), lines in reader.dropped.items()
    }


def fold(
    problems: list[Problem],
    keep: int = SHOWN_PER_KIND,
    dropped: dict[tuple[str, str, str], list[int | None]] | None = None,
) -> list[Problem]:
    """The problems of each kind (file, code, severity) on its first `keep` lines; the last one shown says how many
    more there are and on which lines, so that a file of 2,000 bad lines gives a readable list, and nothing is
    silently lost. `dropped`: problems a reader only counted, folded in the same way."""
    kept: list[Problem] = []
    shown_lines: Counted = {}
    hidden: Counted = {}
    last: dict[tuple[str, str, str], int] = {}
    for p in problems:
        key: tuple[str, str, str] = (p.file, p.code, p.severity)
        lines = shown_lines.setdefault(key, [])
        if p.line in lines or len(lines) < _keep(p.code, keep):
            if p.line not in lines:
                lines.append(p.line)
            last[key] = len(kept)
            kept.append(p)
        else:
            hidden.setdefault(key, []).append(p.line)
    for key, more in (dropped or {}).items():
        hidden.setdefault(key, []).extend(more)
    for kind, more in hidden.items():
        if kind not in last:
            continue
        numbers = list(dict.fromkeys(str(n) for n in more if n is not None))  # two problems on one line: listed once
        listed = ", ".join(numbers[:8]) + (", ..." if len(more) > 8 else "")
        where = f" (lines {listed})" if listed else ""
        shown = kept[last[kind]]
        kept[last[kind]] = shown.model_copy(
            update={
                "repeats": shown.repeats + len(more),
                "message": f"{shown.message}; and {len(more)} more like it{where}",
            }
        )
    return kept


def _keep(code: str, keep: int) -> int:
    return 1 if code in FORMAT_CODES else keep


def write_normalized(
    layout: Layout, name: str, samples: list[Sample], tests: list[Sample], report_md: str | None
) -> None:
    def lines(items: list[Sample]) -> bytes:
        return "".join(item.model_dump_json() + "\n" for item in items).encode()

    write_atomic(layout.samples(name), lines(samples))
    write_atomic(layout.tests(name), lines(tests))
    extracted = layout.tests_extracted(name)
    if any(t.source and not re.search(r":\d+$", t.source) for t in tests):  # read from the deliverable
        write_atomic(extracted, lines(tests))
    else:
        extracted.unlink(missing_ok=True)
    target = layout.group_dir(name) / "REPORT.md"
    if report_md is not None:
        write_atomic(target, report_md.encode())
    else:
        target.unlink(missing_ok=True)


def load_class_tests(path: Path) -> list[Sample]:
    """The instructor's class-wide test set (--tests), checked like a group's tests file: any error stops the run
    before anything is graded, since every group would be measured on it."""
    from grader.errors import ConfigError

    if not path.is_file():
        raise ConfigError(f"--tests {path}: no such file")
    problems: list[Problem] = []
    tests = read_samples(path.parent, [path.name], problems, is_test=True)
    errors = [p for p in problems if p.severity == "error"]
    if errors or not tests:
        listing = "; ".join(f"{p.location()}: {p.message}" for p in errors[:5]) or "no test questions in it"
        raise ConfigError(f"--tests {path} cannot be used: {listing}")
    return tests


def load_samples(path: Path) -> list[Sample]:
    if not path.is_file():
        return []
    return [Sample.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
