"""validate: a group folder (or one data file) -> ValidationRecord + normalized samples/tests in the output folder.

Every problem in one pass, each with file, line, what is wrong and what to do; a problem repeated on many lines is
shown for the first few, "and N more like it". Student files are read only through `grader.files.safe_file`. The
parts are wherever discovery found them; a part that is missing (no tests, no report) is said and costs only its
rubric items: the group is `invalid` only when it has nothing that can be trained or loaded.
"""

from __future__ import annotations

import difflib
import re
import time
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from grader import hparams
from grader.config import ANSWER_TOKENS_CAP, DEFAULT_SYSTEM, PART_A
from grader.discover import find_parts
from grader.files import is_lfs_pointer, read_text, safe_file
from grader.jsonl import Reader, read_objects
from grader.layout import Layout
from grader.limits import DEFAULT_LIMITS, LIMIT_CODES, DataLimits
from grader.records import Parts, Problem, Sample, ValidationRecord, file_line
from grader.storage import digest, write_atomic

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
NEAR_DUPLICATE = 0.9
SHOWN_PER_KIND = 5  # lines with a problem of one kind shown per file before "and N more like it"
FORMAT_CODES = {"alpaca-format", "instances-format", "chat-format"}  # one message says it for the whole file

TokenCounter = Callable[[list[str]], list[int]]
Counted = dict[tuple[str, str, str], list[int | None]]  # (file, code, severity) -> the lines of problems not kept


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
    if isinstance(obj.get("instances"), list) and "answer" not in keys:
        reader.add(
            line,
            "instances-format",
            "record holds an 'instances' list (self-instruct / Super-NaturalInstructions style), not one sample",
            "make one sample per instance: instruction = the record's instruction, context = the instance's "
            "'input', answer = its 'output'",
        )
        return None
    if "output" in keys and "answer" not in keys and keys & {"input", "instruction"}:
        reader.add(
            line,
            "alpaca-format",
            "Alpaca-style records (instruction / input / output)",
            "map 'input' -> 'context' and 'output' -> 'answer' (and add 'system'), e.g. jq -c "
            "'{instruction, context: .input, answer: .output}' data.jsonl",
        )
        return None
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
            names = sorted(extra)
            more = f" and {len(names) - 12} more" if len(names) > 12 else ""
            reader.add(None, "extra-keys", f"extra keys ignored: {', '.join(names[:12])}{more}", severity="info")
        problems.extend(fold(reader.problems, dropped=_dropped(reader)))
    return samples


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
        numbers = [str(n) for n in more if n is not None]
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


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text)).strip()


def duplicate_problems(samples: list[Sample]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple[str, str], Sample] = {}
    for sample in samples:
        key = (normalize(sample.instruction), normalize(sample.context))
        if key in seen:
            first = seen[key]
            same = normalize(first.answer) == normalize(sample.answer)
            file, line = file_line(sample.source)
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
                file, line = file_line(test.source)
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
    for n, sample in over:
        file, line = file_line(sample.source)
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
    return fold(problems, 10), len(over), max(lengths, default=0)


def _sample_keys(samples: list[Sample]) -> set[tuple[str, str]]:
    return {(normalize(s.instruction), normalize(s.answer)) for s in samples}


def choose_data(
    group_dir: Path, parts: Parts, collected: hparams.Collected, problems: list[Problem], limits: DataLimits
) -> tuple[list[str], list[Sample], str]:
    """(the data files used, their samples, why those): grader.toml's choice; else the file the script's DATA_PATH
    ends in; else every candidate, where a file whose samples all sit in another (the sources of a merged all.jsonl)
    is read once, from the merge."""
    if "data" in collected.toml:
        wanted = collected.toml["data"] if isinstance(collected.toml["data"], list) else [collected.toml["data"]]
        files = [str(p) for p in wanted]
        return files, read_samples(group_dir, files, problems, is_test=False, limits=limits), "named in grader.toml"
    read: dict[str, tuple[list[Sample], list[Problem]]] = {}
    for relative in parts.data:
        found: list[Problem] = []
        read[relative] = (read_samples(group_dir, [relative], found, is_test=False, limits=limits), found)
    chosen: list[str] = []
    why = ""
    if collected.data_path:
        name, where = collected.data_path
        named = [f for f in read if f.rsplit("/", 1)[-1].lower() == name.lower()]
        if named:
            chosen, why = named[:1], f"named by DATA_PATH ({where})"
        elif read:
            file, line = file_line(where)
            problems.append(
                Problem(
                    file=file,
                    line=line,
                    severity="warning",
                    code="data-path",
                    message=f"DATA_PATH names {name}, which is not in the repository",
                    hint=f"commit {name}, or point DATA_PATH at the file you trained on",
                )
            )
    if not chosen:
        keys = {f: _sample_keys(samples) for f, (samples, _) in read.items()}
        for f in read:  # a file whose samples all appear in a larger (or equal, earlier) one is a source of a merge
            inside = [
                g
                for g in read
                if g != f
                and keys[f]
                and keys[f] <= keys[g]
                and (len(keys[g]) > len(keys[f]) or list(read).index(g) < list(read).index(f))
            ]
            if not inside:
                chosen.append(f)
    used_keys = set().union(*(_sample_keys(read[f][0]) for f in chosen)) if chosen else set()
    merged = [f for f in read if f not in chosen and _sample_keys(read[f][0]) and _sample_keys(read[f][0]) <= used_keys]
    notes = []
    if merged:
        notes.append(f"{', '.join(merged)}: every sample is also in {', '.join(chosen)}, so each is counted once")
    unused = [f for f in read if f not in chosen and f not in merged]
    if unused:
        notes.append(f"not used: {', '.join(unused)} ({why or 'not training data'})")
    for f in chosen:
        problems.extend(read[f][1])
    if notes:
        problems.append(
            Problem(
                file=chosen[0] if chosen else parts.data[0],
                severity="info",
                code="data-choice",
                message=f"training data read from {', '.join(chosen)}"
                + (f", {why}" if why else "")
                + "; "
                + "; ".join(notes),
            )
        )
    samples = [s for f in chosen for s in read[f][0]]
    if len(samples) > limits.max_samples:
        problems.append(
            Problem(
                file=chosen[-1],
                code="over-sample-limit",
                message=f"more than {limits.max_samples} samples, the limit per group (--max-samples); the rest "
                "was not read",
                hint="keep the samples you need, or ask the instructor to raise the limit",
            )
        )
        samples = samples[: limits.max_samples]
    note = f"{', '.join(chosen)}" + (f" ({why})" if why else "") + (f"; {'; '.join(notes)}" if notes else "")
    return chosen, samples, note


def has_adapter_weights(group_dir: Path, parts: Parts) -> bool:
    """A committed adapter with real safetensors weights (not missing, not a Git LFS pointer), before any check."""
    for folder in parts.adapters:
        path = safe_file(group_dir, f"{folder}/adapter_model.safetensors", [])
        if path is not None and path.stat().st_size > 1024 and not is_lfs_pointer(path):
            return True
    return False


def run(
    group_dir: Path,
    name: str,
    layout: Layout | None = None,
    count_tokens: TokenCounter | None = None,
    limits: DataLimits = DEFAULT_LIMITS,
    parts: Parts | None = None,
) -> ValidationRecord:
    """Validate one group folder; write normalized samples, tests and REPORT.md into its output folder."""
    started = time.monotonic()
    parts = parts if parts is not None else find_parts(group_dir)
    problems: list[Problem] = [
        Problem(file=r, severity="warning", code="refused", message="is a link or not a regular file; not read")
        for r in parts.refused
        if r not in [*parts.data, *parts.tests, *parts.configs, *parts.scripts, *parts.logs, *parts.deliverables]
    ]
    problems += [Problem(file=".", severity="warning", code="discovery", message=n) for n in parts.notes]
    collected = hparams.collect(group_dir, parts, problems)
    config = collected.config
    data_files, samples, data_note = choose_data(group_dir, parts, collected, problems, limits)
    tests_file = collected.toml.get("tests") or (parts.tests[0] if parts.tests else None)
    tests = read_samples(group_dir, [str(tests_file)], problems, is_test=True, limits=limits) if tests_file else []
    from grader import writing
    from grader.grade import part_a_entries

    wrote, shown = writing.read(group_dir, parts.deliverables, part_a_entries(), problems)
    if tests_file is not None and shown:  # the answers the group showed, for the questions of its tests file
        reported = {normalize(t.instruction): t.reported for t in shown if t.reported}
        tests = [t.model_copy(update={"reported": reported.get(normalize(t.instruction), "")}) for t in tests]
    if tests_file is None and shown:  # the Q&A of the group's slides or report are its test questions
        tests, tests_file = shown[: limits.max_tests], f"{wrote.file} (extracted)"
        problems.append(
            Problem(
                file=str(wrote.file),
                severity="info",
                code="tests-extracted",
                message=f"{len(tests)} test questions read from {shown[0].source.rpartition(', ')[2]} of the "
                "deliverable, with the answers the group's model gave (reported, not measured); see "
                "tests.extracted.jsonl",
            )
        )
    missing = []
    adapter_only = has_adapter_weights(group_dir, parts)
    if not data_files:
        missing.append("training data")
        problems.append(
            Problem(
                file="data/",
                severity="warning" if adapter_only else "error",
                code="no-data",
                message="no training data found (looked for .jsonl / .json files at any depth)"
                + ("; the committed adapter is graded without it" if adapter_only else ""),
                hint="commit your samples (e.g. all.jsonl, one JSON object per line)",
            )
        )
    if tests_file is None:
        missing.append("test questions")
        problems.append(
            Problem(
                file="tests.jsonl",
                severity="warning",
                code="no-tests",
                message="no test questions found (looked for tests.jsonl, test_*.jsonl at any depth, and for a Q&A "
                "table or labelled Q&A in the report or slides); the tests item gets no points and no answers are "
                "compared",
                hint=f"commit at least {MIN_TESTS} questions as tests.jsonl, one JSON object per line with "
                "instruction, context and the expected answer (or show them in a table: question / expected "
                "answer / model answer)",
            )
        )
    if wrote.file is None:
        missing.append("report")
        problems.append(
            Problem(
                file=".",
                severity="warning",
                code="no-report",
                message=wrote.looked_for,
                hint="hand in your slides (.pptx) or report (.pdf, .docx, REPORT.md): Part A, discussion and "
                "reflections are graded from it",
            )
        )
    if data_files and len(samples) < MIN_SAMPLES:
        problems.append(
            Problem(
                file=data_files[0],
                severity="warning",
                code="too-few-samples",
                message=f"{len(samples)} < {MIN_SAMPLES} usable samples",
                hint=f"the assignment asks for at least {MIN_SAMPLES}",
            )
        )
    if tests_file and len(tests) < MIN_TESTS:
        problems.append(
            Problem(
                file=str(tests_file),
                severity="warning",
                code="too-few-tests",
                message=f"{len(tests)} < {MIN_TESTS} test questions",
                hint=f"the assignment asks for at least {MIN_TESTS}",
            )
        )
    problems += fold(duplicate_problems(samples) + overlap_problems(samples, tests), 10)
    if config is not None and config.max_new_tokens > ANSWER_TOKENS_CAP:
        file, line = file_line(collected.sources.get("max_new_tokens", ""))
        problems.append(
            Problem(
                file=file,
                line=line,
                severity="warning",
                code="answer-cap",
                message=f"max_new_tokens {config.max_new_tokens} is over grader's cap of {ANSWER_TOKENS_CAP}: "
                f"answers are cut at {ANSWER_TOKENS_CAP} tokens",
                hint="the course answers in 200 tokens; the instructor can set --max-new-tokens for everyone",
            )
        )
    n_truncated = max_tokens = 0
    if count_tokens and config and samples:
        found, n_truncated, max_tokens = length_problems(samples, config.max_length, count_tokens)
        problems += found
    report_md = None
    if wrote.file is not None and wrote.format == "md":  # shown in the report as the group wrote it
        report_md = read_text(group_dir, wrote.file, MAX_REPORT_BYTES, [], truncate=True)
    if not samples and not adapter_only and not any(p.code == "no-data" for p in problems):
        problems.append(
            Problem(
                file=data_files[0] if data_files else "data/",
                code="no-usable-data",
                message="no usable training sample and no committed adapter: nothing can be trained or loaded",
                hint="fix the errors above",
            )
        )
    problems.sort(key=lambda p: (p.file, p.line or 0, p.column or 0))
    content = digest(
        [s.model_dump() for s in samples],
        [t.model_dump() for t in tests],
        config.model_dump() if config else None,
        collected.sources,
        report_md,
        wrote.model_dump(),
    )
    record = ValidationRecord(
        group=name,
        status="ok" if not any(p.severity == "error" for p in problems) else "failed",
        message=_summary(problems),
        digest=content,
        problems=problems,
        data_files=data_files,
        tests_file=str(tests_file) if tests_file else None,
        config_file=collected.config_file,
        n_samples=len(samples),
        n_tests=len(tests),
        config=config.model_dump() if config else {},
        defaults_filled=[k for k in collected.filled if k in PART_A],
        n_truncated=n_truncated,
        max_sample_tokens=max_tokens,
        report_md="REPORT.md" if report_md is not None else None,
        config_sources=collected.sources if config else {},
        script=collected.script,
        data_note=data_note,
        missing=missing,
        writing=wrote,
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
    count = sum(1 + p.repeats for p in errors)
    more = f" (and {count - 1} more)" if count > 1 else ""
    return f"{first.location()}: {first.message}{more}"


def _write_normalized(
    layout: Layout, name: str, samples: list[Sample], tests: list[Sample], report_md: str | None
) -> None:
    def lines(items: list[Sample]) -> bytes:
        return "".join(item.model_dump_json() + "\n" for item in items).encode()

    write_atomic(layout.samples(name), lines(samples))
    write_atomic(layout.tests(name), lines(tests))
    extracted = layout.group_dir(name) / "tests.extracted.jsonl"
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
