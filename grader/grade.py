"""grade: the records of one group + a rubric file -> GradeRecord, every point with its reason.

The rubric is data (templates/rubric.toml); each item names one check below. A check returns the fraction of
the item's points earned and why. Items whose inputs do not exist (validation failed, nothing trained) score 0
and say so: the report still shows every item.
"""

from __future__ import annotations

import re
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from grader.errors import ConfigError
from grader.layout import templates_dir
from grader.records import GenerationRecord, GradeItem, GradeRecord, ScoreRecord, TrainRecord, ValidationRecord


class RubricItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    points: float
    check: str
    min: int = 0
    threshold: float = 0.0
    min_words: int = 0


@dataclass(frozen=True)
class Inputs:
    validation: ValidationRecord | None
    train: TrainRecord | None
    score: ScoreRecord | None
    report_md: str | None
    generation: GenerationRecord | None = None


Check = Callable[[RubricItem, Inputs], tuple[float, str]]


class Override(BaseModel):
    """A manual grade for one rubric item of one group: it wins over the automatic points, on every run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str
    item: str
    points: float
    comment: str = ""


Overrides = dict[tuple[str, str], Override]  # (group, item id) -> override


def load_rubric(path: Path | None = None) -> list[RubricItem]:
    """The rubric from TOML (`[[item]]` tables) or YAML (`item:` list, or a bare list)."""
    path = path or templates_dir() / "rubric.toml"
    try:
        text = path.read_text(encoding="utf-8")
        raw: Any = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else tomllib.loads(text)
        entries = raw["item"] if isinstance(raw, dict) else raw
        items = [RubricItem.model_validate(entry) for entry in entries]
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError, yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"rubric {path} cannot be used: {exc}") from exc
    problems = [f"unknown check '{i.check}' (known: {', '.join(CHECKS)})" for i in items if i.check not in CHECKS]
    ids = [i.id for i in items]
    problems += [f"item id '{i}' appears {ids.count(i)} times" for i in sorted(set(ids)) if ids.count(i) > 1]
    problems += [f"item '{i.id}' has points {i.points:g}; points must be > 0" for i in items if i.points <= 0]
    if not items:
        problems.append("no items")
    if problems:
        raise ConfigError(f"rubric {path}: " + "; ".join(problems))
    return items


def load_overrides(path: Path, rubric: list[RubricItem], groups: list[str]) -> Overrides:
    """A CSV of `group,item,points,comment`; every bad line is named (file:line) before anything runs."""
    import csv
    import difflib

    maxima = {item.id: item.points for item in rubric}
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"overrides {path} cannot be read: {exc}") from exc
    found: Overrides = {}
    problems = []
    for line, row in enumerate(rows, start=2):
        where = f"{path}:{line}"
        group, item = (row.get("group") or "").strip(), (row.get("item") or "").strip()
        if group not in groups:
            near = difflib.get_close_matches(group, groups, n=1)
            problems.append(f"{where}: no group '{group}'" + (f" (did you mean '{near[0]}'?)" if near else ""))
            continue
        if item not in maxima:
            problems.append(f"{where}: no rubric item '{item}' (items: {', '.join(maxima)})")
            continue
        try:
            points = float(row.get("points") or "")
        except ValueError:
            problems.append(f"{where}: points {row.get('points')!r} is not a number")
            continue
        if not 0 <= points <= maxima[item]:
            problems.append(f"{where}: points {points:g} outside 0..{maxima[item]:g} for '{item}'")
            continue
        found[(group, item)] = Override(group=group, item=item, points=points, comment=(row.get("comment") or ""))
    if problems:
        raise ConfigError(
            "manual overrides cannot be used (columns: group,item,points,comment):\n" + "\n".join(problems)
        )
    return found


def data_valid(item: RubricItem, inputs: Inputs) -> tuple[float, str]:
    v = inputs.validation
    if v is None:
        return 0.0, "not validated"
    if v.n_errors == 0 and v.n_samples == 0:
        return 0.0, "no training data was handed in"
    if v.n_errors == 0:
        warnings = sum(p.severity == "warning" for p in v.problems)
        return 1.0, "no errors" + (f" ({warnings} warnings)" if warnings else "")
    return 0.0, f"{v.n_errors} error(s), first: {v.message}"


def _count(n: int, minimum: int, what: str) -> tuple[float, str]:
    if n >= minimum:
        return 1.0, f"{n} {what} (>= {minimum})"
    return n / minimum, f"{n} < {minimum} {what}: partial credit {n}/{minimum}"


def samples(item: RubricItem, inputs: Inputs) -> tuple[float, str]:
    v = inputs.validation
    course = v.n_course_samples if v else 0  # the course's own example samples are not the group's work
    fraction, reason = _count((v.n_samples if v else 0) - course, item.min or 20, "usable samples of the group's own")
    return fraction, reason + (f" ({course} more are the course's example data, not counted)" if course else "")


def tests(item: RubricItem, inputs: Inputs) -> tuple[float, str]:
    v = inputs.validation
    if v is not None and v.tests_file is None and v.n_tests == 0:
        return 0.0, (
            f"no test questions found: commit at least {item.min or 5} as tests.jsonl (one JSON object per line: "
            "instruction, context, answer = the expected answer)"
        )
    return _count(v.n_tests if v else 0, item.min or 5, "test questions")


def adapter(item: RubricItem, inputs: Inputs) -> tuple[float, str]:
    t = inputs.train
    if t is None or t.status != "ok":
        return 0.0, "no adapter: " + (t.message if t else "training was not reached")
    if t.source in ("logs", "loaded") and t.adapter_changed is False:  # committed but never trained: no evidence
        return 0.0, f"the committed adapter's lora_B matrices are all zero: it was never trained ({t.adapter_dir})"
    if t.source == "logs":  # a preview: the adapter is whatever the group committed
        if t.adapter_dir:
            return 1.0, f"adapter committed ({t.adapter_dir}; header checked, not loaded in a preview)"
        return 0.0, "no usable adapter committed, and a preview trains none: " + "; ".join(t.notes[1:2])
    if t.adapter_changed is False:
        return 0.5, f"adapter {t.source}, but its LoRA weights never changed from zero"
    g = inputs.generation
    if t.source == "loaded" and g and g.answers and all(a.finetuned == a.base for a in g.answers):
        return 0.5, "adapter loaded, but it changes none of the answers: every fine-tuned answer equals the base one"
    return 1.0, f"adapter {t.source} ({t.steps} optimizer steps)" if t.source == "trained" else f"adapter {t.source}"


def loss_falling(item: RubricItem, inputs: Inputs) -> tuple[float, str]:
    """'Loss reported and falling': reported from the group's own logs (else this run's, when grader trained);
    falling judged only from two or more logged values. The course's defaults on a small set (logging_steps 20,
    1-3 optimizer steps) log no step: following the course costs no point."""
    t = inputs.train
    if t is None or t.status != "ok":
        return 0.0, "no training record"
    rep = t.reported
    if t.source in ("loaded", "logs") and t.adapter_changed is False:
        return 0.0, "the logs come with an adapter whose lora_B matrices are all zero: they describe no training"
    if rep is not None and (rep.train_loss is not None or rep.log):
        losses, final, whose = [e.loss for e in rep.log if e.loss is not None], rep.train_loss, "the group's logs"
        steps, every = rep.steps, rep.logging_steps
    elif t.source == "trained":
        losses, final, whose = [e.loss for e in t.log if e.loss is not None], t.train_loss, "this run's training"
        steps, every = t.steps, 1
    else:
        return 0.0, (
            "no loss reported: no trainer_state.json, train_results.json, loss_log.csv or TensorBoard events "
            "were committed"
        )
    if len(losses) < 2:
        shown = "n/a" if final is None else f"{final:.3f}"
        why = (
            f"{steps if steps is not None else 'an unknown number of'} optimizer step(s) with logging_steps "
            f"{every if every is not None else '?'} logged {len(losses)} value(s)"
        )
        return 1.0, f"final train loss {shown} reported ({whose}); whether it falls cannot be judged: {why}"
    third = max(len(losses) // 3, 1)
    first, last = sum(losses[:third]) / third, sum(losses[-third:]) / third
    if last < first:
        return 1.0, (
            f"loss falls from {first:.3f} to {last:.3f} (mean of first and last third of {len(losses)} steps, {whose})"
        )
    return 0.5, f"loss logged but not falling: {first:.3f} -> {last:.3f} ({whose})"


def beats_base(item: RubricItem, inputs: Inputs) -> tuple[float, str]:
    s = inputs.score
    if inputs.validation is not None and inputs.validation.n_tests == 0:
        return 0.0, "no test questions, so base and fine-tuned answers could not be compared"
    if s is None or not s.questions:
        return 0.0, "no scored answers"
    if not s.delta_mean:  # the group showed questions with base and fine-tuned answers but no expected answer
        return 0.0, (
            f"none of the {len(s.questions)} test questions has an expected answer: ROUGE cannot compare base and "
            "fine-tuned; the group's own comparison is in the report for the instructor to judge"
        )
    g = inputs.generation
    if g is not None and g.source == "recorded" and not all(a.base for a in g.answers):
        return 0.0, "the group's answers.jsonl records no base answer for some questions: nothing to compare with"
    gain, base = s.delta_mean["rougeL"], s.base_mean["rougeL"]
    text = f"mean ROUGE-L {base:.3f} -> {s.finetuned_mean['rougeL']:.3f} (gain {gain:+.3f}, threshold {item.threshold})"
    if gain >= item.threshold:
        return 1.0, text
    return (0.5, text + ": improved, below the threshold") if gain > 0 else (0.0, text + ": no improvement")


def part_a(item: RubricItem, inputs: Inputs) -> tuple[float, str]:
    """A quarter of each parameter's share per question of the assignment its passage answers (grader.writing)."""
    written = inputs.validation.writing if inputs.validation else None
    if written is None or written.file is None:
        return 0.0, written.looked_for if written else "not validated"
    answers = written.part_a
    answered = sum(sum(a.answered.values()) for a in answers)
    full = [a.name for a in answers if all(a.answered.values())]
    some = [
        f"{a.name} ({', '.join(q for q, ok in a.answered.items() if ok) or 'only named'})"
        for a in answers
        if a.where and not all(a.answered.values())
    ]
    missing = [a.name for a in answers if not a.where]
    reason = f"from {written.file}: {answered} of {4 * len(answers)} answers ({len(full)}/{len(answers)} parameters "
    reason += "answer what it controls, raising/lowering it, its usual range and why it matters here)"
    if some:
        reason += f"; partly: {', '.join(some)}"
    if missing:
        reason += f"; not discussed: {', '.join(missing)}"
    return answered / (4 * len(answers)) if answers else 0.0, reason


# Words that reflections on this assignment use; lorem ipsum or a pasted essay uses none of them.
ABOUT_THE_RUN = re.compile(
    r"\b(train\w*|loss|data\w*|model\w*|parameter\w*|epoch\w*|adapter|lora|answer\w*|sample\w*|gpu|"
    r"learning|fine-?tun\w*|test\w*|question\w*|rank|token\w*|context)\b|학습|데이터|모델|손실|파라미터|"
    r"어댑터|답변|질문|샘플|튜닝",
    re.IGNORECASE,
)


def reflections(item: RubricItem, inputs: Inputs) -> tuple[float, str]:
    written = inputs.validation.writing if inputs.validation else None
    quote = written.reflections if written else None
    if quote is None:
        where = f" in {written.file}" if written and written.file else ""
        return 0.0, f"no reflections section{where} (a title such as 'Reflections', 'What worked', '회고', '느낀 점')"
    words = len(re.findall(r"\w+", quote.text))
    topical = {m.lower() for m in ABOUT_THE_RUN.findall(quote.text)}
    if len(topical) < 2:
        return 0.0, (
            f"a reflections section ({quote.where}) that does not talk about the run: it names none of training, "
            "loss, data, model, parameters, answers (or 학습, 데이터, 모델, 손실, ...)"
        )
    if words >= item.min_words:
        return 1.0, f"reflections of {words} words ({quote.where})"
    return 0.5, f"reflections of only {words} words (< {item.min_words}; {quote.where})"


CHECKS: dict[str, Check] = {
    "data_valid": data_valid,
    "samples": samples,
    "tests": tests,
    "adapter": adapter,
    "loss_falling": loss_falling,
    "beats_base": beats_base,
    "part_a": part_a,
    "reflections": reflections,
}


def run(group: str, rubric: list[RubricItem], inputs: Inputs, overrides: Overrides | None = None) -> GradeRecord:
    started = time.monotonic()
    items = []
    for item in rubric:
        fraction, reason = CHECKS[item.check](item, inputs)
        points = round(item.points * min(max(fraction, 0.0), 1.0), 2)
        manual = (overrides or {}).get((group, item.id))
        if manual is None:
            graded = GradeItem(id=item.id, title=item.title, points=points, max_points=item.points, reason=reason)
        else:
            graded = GradeItem(
                id=item.id,
                title=item.title,
                points=manual.points,
                max_points=item.points,
                reason=f"manual override: {manual.comment or 'no comment'} (automatic {points:g}: {reason})",
                automatic=points,
            )
        items.append(graded)
    return GradeRecord(
        group=group,
        items=items,
        total=round(sum(i.points for i in items), 2),
        max_total=sum(i.points for i in rubric),
        seconds=round(time.monotonic() - started, 3),
    )
