"""What a group recorded from its own GPU run, for `grader preview`: answers and training logs, read, never run.

`answers.jsonl` (or `answers.json`) holds one object per test question: the question (`instruction`), the
fine-tuned model's answer (`finetuned`) and, optionally, the base model's (`base`). With it, a preview needs no
model at all: the training side comes from the group's committed logs and adapter header, and the report says
that every number there was read from the group's files, not measured in this run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.config import TrainConfig
from grader.llm import adapter
from grader.reading import json_lines
from grader.reading.sample_checks import normalize
from grader.reading.student_files import safe_file
from grader.records import Answer, GenerationRecord, Parts, Problem, Sample, TrainRecord

ANSWER_FILES = ("answers.jsonl", "answers.json")
FINETUNED_KEYS = ("finetuned", "fine_tuned", "finetuned_answer", "model_answer", "prediction", "generated", "output")
BASE_KEYS = ("base", "base_answer", "base_model_answer")
QUESTION_KEYS = ("instruction", "question")


def answers_file(group_dir: Path) -> str | None:
    return next((name for name in ANSWER_FILES if (group_dir / name).is_file()), None)


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    return next((str(row[k]) for k in keys if isinstance(row.get(k), str | int | float)), None)


def answers(name: str, group_dir: Path, tests: list[Sample]) -> GenerationRecord | None:
    """The group's recorded answers matched to its test questions (by question text, else by position)."""
    shown = answers_file(group_dir)
    if shown is None:
        return None
    problems: list[Problem] = []
    path = safe_file(group_dir, shown, problems)
    rows: list[tuple[int, dict[str, Any]]] = []
    if path is not None:
        reader = json_lines.Reader(shown)
        rows = [(line, obj) for line, obj in json_lines.read_objects(path, reader) if isinstance(obj, dict)]
        problems += reader.problems
    by_question = {normalize(q): row for _, row in rows if (q := _first(row, QUESTION_KEYS))}
    notes = [f"answers recorded by the group in {shown}, not generated in this run"]
    notes += [f"{p.location()}: {p.message}" for p in problems if p.severity == "error"]
    found = []
    for i, test in enumerate(tests):
        row = by_question.get(normalize(test.instruction))
        if row is None and i < len(rows) and _first(rows[i][1], QUESTION_KEYS) is None:
            row = rows[i][1]  # a file without questions is read in the order of tests.jsonl
        if row is None:
            notes.append(f"{shown} has no answer for test question {i + 1} ({test.instruction[:60]})")
        tuned = _first(row, FINETUNED_KEYS) if row else None
        base = _first(row, BASE_KEYS) if row else None
        if row is not None and tuned is None:
            notes.append(f"{shown}: question {i + 1} has no fine-tuned answer (key 'finetuned')")
        found.append(
            Answer(
                instruction=test.instruction,
                context=test.context,
                expected=test.answer,
                base=base or "",
                finetuned=tuned or "",
                source=test.source,
            )
        )
    if found and not any(a.base for a in found):
        notes.append(f"{shown} records no base answers ('base'): fine-tuned vs base cannot be compared")
    return GenerationRecord(group=name, answers=found, source="recorded", notes=notes)


def training(
    name: str, group_dir: Path, config: TrainConfig, n_samples: int, parts: Parts | None = None
) -> TrainRecord:
    """The training side of a preview from committed files: the adapter's header (not its weights) and logs."""
    folder = adapter.find(group_dir, parts)
    notes = ["read from the group's committed files; nothing was trained in this run"]
    adapter_dir = None
    changed: bool | None = None
    if folder is not None:
        where = adapter.shown(folder, group_dir)
        try:
            adapter.check(folder, group_dir, None)
            adapter_dir = where
            notes.append(f"committed adapter {where}: LoRA config and safetensors header read (weights not loaded)")
            changed = adapter.lora_b_nonzero(folder / "adapter_model.safetensors")
            if not changed:
                notes.append(f"every lora_B matrix of {where} is zero: the adapter was never trained")
        except adapter.AdapterRefused as exc:
            notes.append(f"committed adapter {where} not usable: {exc}")
    else:
        notes.append("no adapter committed (adapter/ with adapter_config.json and adapter_model.safetensors)")
    return adapter.from_logs(
        name,
        group_dir,
        folder or group_dir,
        config,
        n_samples,
        notes,
        parts=parts,
        source="logs",
        adapter_dir=adapter_dir,
        adapter_changed=changed,
    )
