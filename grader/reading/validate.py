"""validate: a group folder (or one data file) -> ValidationRecord + normalized samples/tests in the output folder.

Every problem in one pass, each with file, line, what is wrong and what to do; a problem repeated on many lines is
shown for the first few, "and N more like it". Student files are read only through `student_files.safe_file`. The
parts are wherever discovery found them; a part that is missing (no tests, no report) is said and costs only its
rubric items: the group is `invalid` only when it has nothing that can be trained or loaded.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from grader.config import ANSWER_TOKENS_CAP, PART_A, part_a_entries
from grader.layout import Layout
from grader.limits import DEFAULT_LIMITS, LIMIT_CODES, DataLimits
from grader.llm import adapter
from grader.reading import domain, part_a_values
from grader.reading.deliverable import UNSEEN, formats_said
from grader.reading.discover import find_parts
from grader.reading.material import load as load_material
from grader.reading.sample_checks import (
    TokenCounter,
    copied_tests,
    duplicate_problems,
    length_problems,
    normalize,
    overlap_problems,
    sample_keys,
    unique_count,
)
from grader.reading.sample_files import fold, read_samples_bounded, write_normalized
from grader.reading.student_files import is_lfs_pointer, read_text, safe_file
from grader.records import Parts, Problem, Sample, ValidationRecord, Writing, file_line
from grader.storage import digest

MIN_SAMPLES = 20
MIN_TESTS = 5
MAX_REPORT_BYTES = 1 << 20
FOLDED = re.compile(r"; and \d+ more like it( \(lines [^)]*\))?$")  # what sample_files.fold appends to a message


def choose_data(
    group_dir: Path, parts: Parts, collected: part_a_values.Collected, problems: list[Problem], limits: DataLimits
) -> tuple[list[str], list[Sample], str]:
    """(the data files used, their samples, why those): grader.toml's choice; else the file the script's DATA_PATH
    ends in; else every candidate, where a file whose samples all sit in another (the sources of a merged all.jsonl)
    is read once, from the merge."""
    if "data" in collected.toml:
        wanted = collected.toml["data"] if isinstance(collected.toml["data"], list) else [collected.toml["data"]]
        files = [str(p) for p in wanted]
        samples = read_samples_bounded(group_dir, files, problems, is_test=False, limits=limits)
        return files, samples, "named in grader.toml"
    read: dict[str, tuple[list[Sample], list[Problem]]] = {}
    for relative in parts.data:
        found: list[Problem] = []
        read[relative] = (read_samples_bounded(group_dir, [relative], found, is_test=False, limits=limits), found)
    chosen, why = _named_by_data_path(read, collected.data_path, problems)
    chosen = chosen or _not_merged_sources(read)
    used_keys = set().union(*(sample_keys(read[f][0]) for f in chosen)) if chosen else set()
    merged = [f for f in read if f not in chosen and sample_keys(read[f][0]) and sample_keys(read[f][0]) <= used_keys]
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


def _named_by_data_path(
    read: dict[str, tuple[list[Sample], list[Problem]]], data_path: tuple[str, str] | None, problems: list[Problem]
) -> tuple[list[str], str]:
    """The file the script's DATA_PATH ends in, when the repository has it (else a warning, when it has others)."""
    if not data_path:
        return [], ""
    name, where = data_path
    named = [f for f in read if f.rsplit("/", 1)[-1].lower() == name.lower()]
    if named:
        return named[:1], f"named by DATA_PATH ({where})"
    if read:
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
    return [], ""


def _not_merged_sources(read: dict[str, tuple[list[Sample], list[Problem]]]) -> list[str]:
    """Every candidate but those whose samples all appear in a larger (or equal, earlier) one: the sources of a
    merge, such as the per-paper files of an all.jsonl."""
    keys = {f: sample_keys(samples) for f, (samples, _) in read.items()}
    order = list(read)
    return [
        f
        for f in read
        if not any(
            g != f
            and keys[f]
            and keys[f] <= keys[g]
            and (len(keys[g]) > len(keys[f]) or order.index(g) < order.index(f))
            for g in read
        )
    ]


def has_adapter_weights(group_dir: Path, parts: Parts) -> bool:
    """A committed adapter with real safetensors weights (not missing, not a Git LFS pointer), before any check."""
    for folder in parts.adapters:
        path = safe_file(group_dir, f"{folder}/adapter_model.safetensors", [])
        if path is not None and path.stat().st_size > 1024 and not is_lfs_pointer(path):
            return True
    return False


# Long by one constructor: every field of the ValidationRecord is set in one place; the checks are the steps.
def run(
    group_dir: Path,
    name: str,
    layout: Layout | None = None,
    count_tokens: TokenCounter | None = None,
    limits: DataLimits = DEFAULT_LIMITS,
    parts: Parts | None = None,
    course: Path | None = None,
) -> ValidationRecord:
    """Validate one group folder; write normalized samples, tests and REPORT.md into its output folder."""
    started = time.monotonic()
    parts = parts if parts is not None else find_parts(group_dir)
    problems = _discovery_problems(parts)
    collected = part_a_values.collect_bounded(group_dir, parts, problems, limits)
    config = collected.config
    data_files, samples, data_note = choose_data(group_dir, parts, collected, problems, limits)
    wrote, tests, tests_file = _tests(group_dir, parts, collected, problems, limits, course)
    n_course = _course_samples(samples, course, problems)
    adapter_only = has_adapter_weights(group_dir, parts)
    missing = _missing_parts(data_files, tests_file, wrote, adapter_only, problems)
    copies = copied_tests(samples, tests)
    overlap = overlap_problems(copies)
    held_out = len(tests) - len(overlap)
    problems += _count_problems(data_files, samples, tests_file, tests, held_out)
    problems += fold(duplicate_problems(samples) + overlap, 10)
    measured = domain.measure(samples)
    if measured.flagged:
        problems.append(domain.problem(measured))
    if config is not None and config.max_new_tokens > ANSWER_TOKENS_CAP:
        problems.append(_answer_cap(config.max_new_tokens, collected.sources.get("max_new_tokens", "")))
    n_truncated = max_tokens = 0
    if count_tokens and config and samples:
        found, n_truncated, max_tokens = length_problems(samples, config.max_length, count_tokens)
        problems += found
    report_md = _report_md(group_dir, wrote)
    logs = adapter.group_logs_bounded(group_dir, parts=parts, limits=limits)  # the group's evidence of its run
    if not samples and not adapter_only and not any(p.code == "no-data" for p in problems):
        problems.append(_nothing_usable(data_files))
    problems.sort(key=lambda p: (p.file, p.line or 0, p.column or 0))
    record = ValidationRecord(
        group=name,
        status="ok" if usable_despite(problems, data_files, samples, config is not None) else "failed",
        message=_summary(problems),
        digest=digest(
            [s.model_dump() for s in samples],
            [t.model_dump() for t in tests],
            config.model_dump() if config else None,
            collected.sources,
            report_md,
            wrote.model_dump(),
        ),
        problems=problems,
        data_files=data_files,
        tests_file=str(tests_file) if tests_file else None,
        config_file=collected.config_file,
        n_samples=unique_count(samples),
        n_tests=len(tests),
        n_records=len(samples),
        n_tests_held_out=held_out,
        tests_in_training=[test.source for test, _, _ in copies],
        copied_questions=[normalize(test.instruction) for test, _, _ in copies],
        data_flags=[domain.flag(measured)] if measured.flagged else [],
        config=config,
        defaults_filled=[k for k in collected.filled if k in PART_A],
        n_truncated=n_truncated,
        max_sample_tokens=max_tokens,
        report_md="REPORT.md" if report_md is not None else None,
        config_sources=collected.sources if config else {},
        script=collected.script,
        data_note=data_note,
        missing=missing,
        writing=wrote,
        logs=logs if logs.sources or logs.steps is not None else None,
        adapter=adapter.committed(group_dir, parts),
        n_course_samples=n_course,
        seconds=round(time.monotonic() - started, 3),
    )
    if layout is not None:
        write_normalized(layout, name, samples, tests, report_md)
    return record


def _discovery_problems(parts: Parts) -> list[Problem]:
    read = [*parts.data, *parts.tests, *parts.configs, *parts.scripts, *parts.logs, *parts.deliverables]
    problems = [
        Problem(file=r, severity="warning", code="refused", message="is a link or not a regular file; not read")
        for r in parts.refused
        if r not in read
    ]
    return problems + [Problem(file=".", severity="warning", code="discovery", message=n) for n in parts.notes]


def _tests(
    group_dir: Path,
    parts: Parts,
    collected: part_a_values.Collected,
    problems: list[Problem],
    limits: DataLimits,
    course: Path | None = None,
) -> tuple[Writing, list[Sample], str | None]:
    """The deliverable as read, the test questions and where they came from: the tests file (with the answers the
    group showed for them), else the Q&A of its slides or report."""
    from grader.reading import writing

    tests_file = collected.toml.get("tests") or (parts.tests[0] if parts.tests else None)
    tests = []
    if tests_file:
        tests = read_samples_bounded(group_dir, [str(tests_file)], problems, is_test=True, limits=limits)
    material = load_material(str(course.resolve())) if course is not None else None
    wrote, shown = writing.read(group_dir, parts.deliverables, part_a_entries(), problems, material, limits)
    problems += [  # what a viewer cannot see is said where every problem is said, not only in the report
        Problem(
            file=str(wrote.file),
            severity="warning",
            code="unseen-text",
            message=note,
            hint="put what you want graded where a viewer sees it",
        )
        for note in wrote.notes
        if note.startswith(UNSEEN)
    ]
    if tests_file is not None and shown:
        showed = {normalize(t.instruction): t for t in shown if t.reported or t.reported_base}
        tests = [
            t.model_copy(update={"reported": s.reported, "reported_base": s.reported_base})
            if (s := showed.get(normalize(t.instruction)))
            else t
            for t in tests
        ]
    if tests_file is None and shown:
        tests, tests_file = shown[: limits.max_tests], f"{wrote.file} (extracted)"
        problems.append(
            Problem(
                file=str(wrote.file),
                severity="info",
                code="tests-extracted",
                message=f"{len(tests)} test questions read from {_places(tests)} of the deliverable, "
                f"{_what_was_shown(tests)}; see tests.extracted.jsonl",
            )
        )
    return wrote, tests, str(tests_file) if tests_file else None


def _course_samples(samples: list[Sample], course: Path | None, problems: list[Problem]) -> int:
    """How many samples are the course's example data (by content: question and answer), said once."""
    if course is None or not samples:
        return 0
    material = load_material(str(course.resolve()))
    sources = [material.source(f"{s.instruction}\n{s.answer}") for s in samples]
    copied = [(s, hit[0]) for s, hit in zip(samples, sources, strict=True) if hit]
    if copied:
        files = sorted({name for _, name in copied})
        problems.append(
            Problem(
                file=copied[0][0].source.rsplit(":", 1)[0] or "data",
                severity="warning",
                code="course-data",
                message=f"{len(copied)} of {len(samples)} samples are copied from the course's "
                f"{', '.join(files)}: trained on, not counted as the group's samples",
                hint="build your own samples from your own paper chunks",
            )
        )
    return len(copied)


def _places(tests: list[Sample]) -> str:
    """'slides 16, 20' or 'page 2': where the questions were, each place once, in order."""
    places = list(dict.fromkeys(t.source.rpartition(", ")[2] for t in tests))
    unit, numbers = places[0].split(" ")[0], [p.partition(" ")[2] for p in places]
    if all(p.split(" ")[0] == unit for p in places) and len(places) > 1:
        return f"{unit}s {', '.join(numbers)}"
    return ", ".join(places)


def _what_was_shown(tests: list[Sample]) -> str:
    """What came with the questions, counted: never "with the model's answers" when the group showed none."""
    expected = sum(bool(t.answer) for t in tests)
    tuned = sum(bool(t.reported) for t in tests)
    base = sum(bool(t.reported_base) for t in tests)
    said = [f"{expected} with an expected answer"]
    if tuned:
        said.append(f"{tuned} with the answer the group's model gave")
    if base:
        said.append(f"{base} with the base model's answer the group showed")
    if expected < len(tests):
        said.append(f"{len(tests) - expected} without an expected answer: shown, not scored by ROUGE")
    return ", ".join(said) + (" (reported by the group, not measured)" if tuned or base else "")


def _missing_parts(
    data_files: list[str], tests_file: str | None, wrote: Writing, adapter_only: bool, problems: list[Problem]
) -> list[str]:
    """The parts of the assignment the group did not hand in, each with its problem."""
    missing = []
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
                file=".",  # the group folder: naming a tests.jsonl that does not exist would send the reader to it
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
        copies = [s.split(" not counted: ", 1)[1] for s in wrote.skipped if "copied from the course's" in s]
        missing.append(f"report ({copies[0]})" if copies else "report")
        problems.append(
            Problem(
                file=".",
                severity="warning",
                code="no-report",
                message=wrote.looked_for,
                hint=f"hand in your slides or report ({formats_said()}): Part A, discussion and reflections are "
                "graded from it",
            )
        )
    return missing


def _nothing_usable(data_files: list[str]) -> Problem:
    return Problem(
        file=data_files[0] if data_files else "data/",
        code="no-usable-data",
        message="no usable training sample and no committed adapter: nothing can be trained or loaded",
        hint="fix the errors listed with their lines for this file",  # said first in the listing: not "above"
    )


def counted(n_records: int, n_unique: int) -> str:
    """'24 samples', or '30 records, 10 unique samples' when repeats count once."""
    return f"{n_unique} samples" if n_records == n_unique else f"{n_records} records, {n_unique} unique samples"


def _count_problems(
    data_files: list[str], samples: list[Sample], tests_file: str | None, tests: list[Sample], held_out: int
) -> list[Problem]:
    problems = []
    unique = unique_count(samples)
    if data_files and unique < MIN_SAMPLES:
        repeats = "" if unique == len(samples) else f" ({counted(len(samples), unique)}: a repeat counts once)"
        problems.append(
            Problem(
                file=data_files[0],
                severity="warning",
                code="too-few-samples",
                message=f"{unique} < {MIN_SAMPLES} usable samples{repeats}",
                hint=f"the assignment asks for at least {MIN_SAMPLES}",
            )
        )
    if tests_file and held_out < MIN_TESTS:
        copied = len(tests) - held_out
        trained = f" not in the training data ({len(tests)}, of which {copied} also in it)" if copied else ""
        problems.append(
            Problem(
                file=tests_file,
                severity="warning",
                code="too-few-tests",
                message=f"{held_out} < {MIN_TESTS} test questions{trained}",
                hint=f"the assignment asks for at least {MIN_TESTS}"
                + (", on questions the model was not trained on" if copied else ""),
            )
        )
    return problems


def _answer_cap(max_new_tokens: int, source: str) -> Problem:
    file, line = file_line(source)
    return Problem(
        file=file,
        line=line,
        severity="warning",
        code="answer-cap",
        message=f"max_new_tokens {max_new_tokens} is over grader's cap of {ANSWER_TOKENS_CAP}: "
        f"answers are cut at {ANSWER_TOKENS_CAP} tokens",
        hint="the course answers in 200 tokens; the instructor can set --max-new-tokens for everyone",
    )


def _report_md(group_dir: Path, wrote: Writing) -> str | None:
    """The group's Markdown report, as it wrote it (capped): the PDF reproduces it."""
    if wrote.file is None or wrote.format != "md":
        return None
    return read_text(group_dir, wrote.file, MAX_REPORT_BYTES, [], truncate=True)


def usable_despite(problems: list[Problem], data_files: list[str], samples: list[Sample], configured: bool) -> bool:
    """Whether the group can be trained in spite of its errors: every error is a bad line of a data file (or the
    count below the minimum those lines leave) and usable samples and a config remain. Those errors cost the data
    items their points and the lines are skipped; `invalid` stays for a group with nothing usable."""
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        return True
    if over_limit(errors):  # a limit the instructor can raise: `over-limit`, never trained on part of the file
        return False
    # a value the course script would refuse is its error, but grader said what it used instead (script_refusals)
    tolerated = ("too-few-samples", "script-refused")
    line_errors = all((p.file in data_files and p.line is not None) or p.code in tolerated for p in errors)
    return line_errors and bool(samples) and configured


def skipped_said(record: ValidationRecord) -> str:
    """'trained on 23 of 24 samples; all.jsonl:5 skipped': what a group trained in spite of bad lines is told."""
    lines = list(dict.fromkeys(p.location() for p in record.problems if p.severity == "error" and p.line is not None))
    if not lines:
        return ""
    shown = ", ".join(lines[:5]) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")
    total = record.n_records + len(lines)
    return f"trained on {record.n_records} of {total} samples; {shown} skipped (each costs the data item its points)"


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
    message = FOLDED.sub("", first.message)  # its repeats are counted below, once
    like = f", {first.repeats} of them like it" if first.repeats else ""
    more = f" (and {count - 1} more error{'s' if count > 2 else ''}{like})" if count > 1 else ""
    return f"{first.location()}: {message}{more}"
