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
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from grader.errors import ConfigError
from grader.layout import templates_dir
from grader.measure import metrics
from grader.measure.metrics import HEADLINE
from grader.reading.sample_checks import normalize
from grader.records import (
    Answer,
    CommittedAdapter,
    GenerationRecord,
    GradeItem,
    GradeRecord,
    QuestionScore,
    ReportedLoss,
    ScoreRecord,
    TrainRecord,
    ValidationRecord,
)

# Evidence an item may accept. "this-run" is grader's own training and answers: a measurement that counts only when
# it measured the group's real model (a real base model, not the demo), unless the item says `measured = "always"`.
EVIDENCE = {
    "loss_falling": ("logs", "deliverable", "this-run"),
    "adapter": ("committed", "logs", "deliverable", "this-run"),
    "beats_base": ("group", "this-run"),
}
DEFAULT_EVIDENCE = {
    "loss_falling": ("logs", "deliverable"),
    "adapter": ("committed", "logs", "deliverable"),
    "beats_base": ("group", "this-run"),
}


class RubricItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    points: float
    check: str
    min: int = 0
    threshold: float = 0.0
    min_words: int = 0
    evidence: list[str] | None = None  # what the item accepts (EVIDENCE); None: the check's default
    measured: Literal["real-base-only", "always"] = "real-base-only"  # when grader's own run may decide it
    stated_share: float = Field(0.5, ge=0, le=1)  # loss: the share a loss stated with no log behind it earns
    metric: str = HEADLINE  # beats_base: the key of the metric (grader.measure.metrics) whose gain it grades

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, key: str) -> str:
        if key not in metrics.BY_KEY:
            raise ValueError(f"unknown metric '{key}': one of {', '.join(metrics.BY_KEY)}")
        return key

    def accepts(self, kind: str) -> bool:
        return kind in (self.evidence if self.evidence is not None else DEFAULT_EVIDENCE.get(self.check, ()))


@dataclass(frozen=True)
class Inputs:
    validation: ValidationRecord | None
    train: TrainRecord | None
    score: ScoreRecord | None
    report_md: str | None
    generation: GenerationRecord | None = None
    real_base: bool = False  # this run's base model is a real one (not the demo): its measurements can count
    base_model: str = ""

    def this_run_counts(self, item: RubricItem) -> bool:
        """Whether grader's own training and answers may decide `item`: they measured the group's real model."""
        return item.accepts("this-run") and (self.real_base or item.measured == "always")


@dataclass(frozen=True)
class Decision:
    """A check's verdict: the fraction of the item's points, why, what evidence decided it, and whether only the
    instructor's run on the real base model can measure it (a preview on the demo model cannot)."""

    fraction: float
    reason: str
    evidence: str = ""
    pending: bool = False


Check = Callable[[RubricItem, Inputs], Decision]


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
    for i in items:
        known = EVIDENCE.get(i.check, ())
        wrong = [e for e in i.evidence or [] if e not in known]
        if wrong:
            accepted = f"it accepts {', '.join(known)}" if known else "its check takes no evidence list"
            problems.append(f"item '{i.id}': unknown evidence {', '.join(map(repr, wrong))} ({accepted})")
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


def data_valid(item: RubricItem, inputs: Inputs) -> Decision:
    v = inputs.validation
    if v is None:
        return Decision(0.0, "not validated")
    if v.n_errors == 0 and v.n_samples == 0:
        return Decision(0.0, "no training data was handed in")
    where = ", ".join(v.data_files) or "the group's data"
    if v.n_errors == 0:
        warnings = sum(p.severity == "warning" for p in v.problems)
        return Decision(1.0, "no errors" + (f" ({warnings} warnings)" if warnings else ""), where)
    return Decision(0.0, f"{v.n_errors} error(s), first: {v.message}", where)


def _count(n: int, minimum: int, what: str, where: str) -> Decision:
    if n >= minimum:
        return Decision(1.0, f"{n} {what} (>= {minimum})", where)
    return Decision(n / minimum, f"{n} < {minimum} {what}: partial credit {n}/{minimum}", where)


def samples(item: RubricItem, inputs: Inputs) -> Decision:
    v = inputs.validation
    course = v.n_course_samples if v else 0  # the course's own example samples are not the group's work
    where = ", ".join(v.data_files) if v else ""
    decided = _count((v.n_samples if v else 0) - course, item.min or 20, "usable samples of the group's own", where)
    if course:
        return Decision(
            decided.fraction, decided.reason + f" ({course} more are the course's example data, not counted)", where
        )
    return decided


def tests(item: RubricItem, inputs: Inputs) -> Decision:
    v = inputs.validation
    if v is not None and v.tests_file is None and v.n_tests == 0:
        return Decision(
            0.0,
            f"no test questions found: commit at least {item.min or 5} as tests.jsonl (one JSON object per line: "
            "instruction, context, answer = the expected answer), or show them in the deliverable",
            "none",
        )
    where = (v.tests_file or "") if v else ""
    copied = len(v.tests_in_training) if v else 0
    if v is not None and copied:
        decided = _count(v.n_tests - copied, item.min or 5, "held-out test questions", where)
        said = f"; {copied} more are training samples and are not counted: {', '.join(v.tests_in_training[:5])}"
        return Decision(decided.fraction, decided.reason + said, where)
    return _count(v.n_tests if v else 0, item.min or 5, "test questions", where)


def _group_logs(inputs: Inputs) -> ReportedLoss | None:
    """The loss in the group's own log files (read at validation; a train record of an older run carries it too)."""
    v, t = inputs.validation, inputs.train
    logs = v.logs if v is not None and v.logs is not None else (t.reported if t is not None else None)
    return logs if logs is not None and (logs.train_loss is not None or logs.log or logs.steps) else None


def _files(logs: ReportedLoss) -> str:
    """'train_results.json, trainer_state.json': the files the group's numbers were read from."""
    names = [re.sub(r"^.* (?:from|read from) (?:TensorBoard events )?", "", s) for s in logs.sources if " from " in s]
    return ", ".join(dict.fromkeys(names)) or "the group's logs"


def _falling(losses: list[float], final: float | None, whose: str, steps: Any, every: Any) -> tuple[float, str]:
    """Falling is judged only from two or more values: fewer is the course's default on a small set, no fault."""
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
        return (
            1.0,
            f"loss falls from {first:.3f} to {last:.3f} (mean of first and last third of {len(losses)} steps, {whose})",
        )
    return 0.5, f"loss logged but not falling: {first:.3f} -> {last:.3f} ({whose})"


def loss_falling(item: RubricItem, inputs: Inputs) -> Decision:
    """'Loss reported and falling', from the group's evidence: its logs, else the loss its deliverable states (the
    stated share: a claim with no log behind it), never grader's own run unless the item accepts "this-run" and that
    run measured the group's real model. Falling is judged from the group's logged values only."""
    v, t = inputs.validation, inputs.train
    logs = _group_logs(inputs)
    committed = v.adapter if v else None
    if logs is not None and committed is not None and committed.trained is False:
        return Decision(
            0.0, "the logs come with an adapter whose lora_B matrices are all zero: they describe no training", "logs"
        )
    if item.accepts("logs") and logs is not None and (logs.train_loss is not None or logs.log):
        losses = [e.loss for e in logs.log if e.loss is not None]
        files = _files(logs)
        fraction, reason = _falling(
            losses, logs.train_loss, f"the group's logs: {files}", logs.steps, logs.logging_steps
        )
        return Decision(fraction, reason, f"the group's logs ({files})")
    stated = v.writing.loss if v and v.writing else None
    if item.accepts("deliverable") and stated is not None and stated.train_loss is not None:
        ppl = f", perplexity {stated.perplexity:g}" if stated.perplexity is not None else ""
        return Decision(
            item.stated_share,
            f"final train loss {stated.train_loss:g}{ppl} stated in the deliverable ({stated.where}: "
            f"«{stated.words}»), not backed by a log: commit the course script's train_results.json / "
            "trainer_state.json for the rest (falling is judged from logged values only)",
            f"the deliverable ({stated.where})",
        )
    if inputs.this_run_counts(item) and t is not None and t.status == "ok" and t.source == "trained":
        losses = [e.loss for e in t.log if e.loss is not None]
        fraction, reason = _falling(losses, t.train_loss, f"measured in this run on {inputs.base_model}", t.steps, 1)
        return Decision(fraction, reason, f"measured in this run on {inputs.base_model}")
    unread = [n for n in (v.logs.sources if v and v.logs else []) if "could not be read" in n]
    reason = (
        "no loss reported: no trainer_state.json, train_results.json, all_results.json, loss_log.csv or TensorBoard "
        "events were committed, and the deliverable states no train loss (e.g. 'Final train loss: 1.87')"
    )
    if unread:
        reason = f"no loss could be taken from the group's logs ({unread[0]}), and the deliverable states none"
    if t is not None and t.source == "trained":
        reason += "; grader's own training is a measurement of the data, not the group's report"
    return Decision(0.0, reason, "none")


def adapter(item: RubricItem, inputs: Inputs) -> Decision:
    """'Adapter trained and saved', from what the group committed: its adapter folder (weights left out because of
    GitHub's 100 MB limit or an LFS pointer still count: the config says what was saved), else half for logs or a
    deliverable that show a run; grader training one proves nothing about the group."""
    v, t = inputs.validation, inputs.train
    committed = v.adapter if v else None
    if item.accepts("committed") and committed is not None:
        return _committed(committed, inputs)
    logs = _group_logs(inputs)
    if item.accepts("logs") and logs is not None:
        return Decision(
            0.5,
            f"the group's logs ({_files(logs)}) show a training run, but no adapter folder (adapter_config.json) was "
            "committed: save it with model.save_pretrained and commit the folder",
            f"the group's logs ({_files(logs)})",
        )
    writing = v.writing if v else None
    shown = (writing.loss.where if writing.loss else writing.training_shown) if writing else ""
    if item.accepts("deliverable") and shown:
        return Decision(
            0.5,
            f"the deliverable shows training ({shown}), but no adapter folder and no training logs were committed",
            f"the deliverable ({shown})",
        )
    if inputs.this_run_counts(item) and t is not None and t.status == "ok" and t.source == "trained":
        if t.adapter_changed is False:
            return Decision(
                0.5, "adapter trained in this run, but its LoRA weights never changed from zero", "this run"
            )
        return Decision(1.0, f"adapter trained in this run ({t.steps} optimizer steps)", "this run")
    reason = "no adapter committed (a folder with adapter_config.json), no training logs and no training shown in the "
    reason += "deliverable"
    if t is not None and t.source == "trained":
        reason += "; the adapter grader trained on the group's data measures the data, not the group's work"
    return Decision(0.0, reason, "none")


def _committed(committed: CommittedAdapter, inputs: Inputs) -> Decision:
    where, t, g = committed.where, inputs.train, inputs.generation
    evidence = f"committed adapter {where}"
    shape = f"r {committed.rank} on {len(committed.target_modules)} module(s)" if committed.rank else "LoRA config"
    if committed.trained is False:
        return Decision(
            0.0, f"the committed adapter's lora_B matrices are all zero: it was never trained ({where})", evidence
        )
    if committed.weights in ("missing", "lfs") and (committed.config_problem or committed.rank is None):
        return Decision(
            0.5 if committed.rank else 0.0,
            f"an adapter folder {where} without weights, and its adapter_config.json is not a sound LoRA config: "
            f"{committed.config_problem or 'no rank r'}",
            evidence,
        )
    if committed.weights in ("missing", "lfs"):
        why = "a Git LFS pointer" if committed.weights == "lfs" else "not committed (GitHub's 100 MB file limit)"
        return Decision(
            1.0, f"adapter saved in {where} ({shape}); its weights are {why}: the config says what was saved", evidence
        )
    if committed.weights == "pickle":
        return Decision(
            0.5,
            f"only a pickle (.bin) adapter in {where}, which is never loaded: save it with safe_serialization=True",
            evidence,
        )
    if not committed.usable:
        return Decision(
            0.5,
            f"an adapter folder {where} was committed but is not a usable LoRA adapter: {committed.problem}",
            evidence,
        )
    loaded = t is not None and t.status == "ok" and t.source == "loaded"
    if loaded and inputs.real_base and g and g.answers and all(a.finetuned == a.base for a in g.answers):
        return Decision(
            0.5,
            f"adapter committed in {where} and loaded on {inputs.base_model}, but it changes none of the answers: "
            "every fine-tuned answer equals the base one",
            evidence,
        )
    misfit = next((n for n in (t.notes if t else []) if "trained for another base model" in n), None)
    if misfit and inputs.real_base:
        return Decision(
            0.5, f"adapter committed in {where}, but it does not fit {inputs.base_model}: {misfit}", evidence
        )
    said = f", loaded on {inputs.base_model}" if loaded else ""
    return Decision(1.0, f"adapter committed in {where} (safetensors, {shape}{said})", evidence)


def _group_comparison(inputs: Inputs, key: str) -> tuple[list[tuple[float, float]], str]:
    """The group's own base-vs-fine-tuned comparison, scored against its expected answers: (base, fine-tuned)
    metric `key` per question, and where it came from. Its answers.jsonl (a preview's recorded answers) or the base and
    fine-tuned answers its deliverable or tests file showed."""
    g, s = inputs.generation, inputs.score
    if g is None or s is None or not s.questions:
        return [], ""
    kept = [(a, q) for a, q in _not_copied(inputs) if a is not None]
    if g.source == "recorded":  # every question needs the base answer beside it, or there is no comparison
        if not all(a.base for a in g.answers):
            return [], ""
        pairs = [(q.base[key], q.finetuned[key]) for _, q in kept if q.base]
        return pairs, "the group's recorded answers"
    pairs, places = [], []
    for a, q in kept:
        if a.expected and q.reported and q.reported_base:
            pairs.append((q.reported_base[key], q.reported[key]))
            if ", " in a.source:  # a question read from the deliverable names its slide or page
                places.append(a.source.rpartition(", ")[2])
    # the answers the group showed come from its deliverable, also for questions of its tests file
    v = inputs.validation
    shown = v.writing.file if v is not None and v.writing is not None and v.writing.file else "the deliverable"
    return pairs, ", ".join([shown, *dict.fromkeys(places)])


def _not_copied(inputs: Inputs) -> list[tuple[Answer | None, QuestionScore]]:
    """This run's answers and their scores, without the questions that are training samples (matched by their text:
    rows of one slide share a source); a score without its answer is kept."""
    g, s = inputs.generation, inputs.score
    if s is None:
        return []
    copied = set(inputs.validation.copied_questions) if inputs.validation else set()
    answers: list[Answer | None] = list(g.answers) if g is not None else []
    answers += [None] * (len(s.questions) - len(answers))
    return [
        (a, q)
        for a, q in zip(answers, s.questions, strict=False)
        if a is None or normalize(a.instruction) not in copied
    ]


def _held_out(inputs: Inputs) -> list[QuestionScore]:
    """The scored questions of this run that are not training samples (the ones a comparison may use)."""
    return [q for _, q in _not_copied(inputs) if q.base]


def _gain_decision(base: float, tuned: float, item: RubricItem, whose: str) -> tuple[float, str]:
    gain = tuned - base
    name = metrics.label(item.metric)
    text = f"mean {name} {base:.3f} -> {tuned:.3f} (gain {gain:+.3f}, threshold {item.threshold}; {whose})"
    if gain >= item.threshold:
        return 1.0, text
    return (0.5, text + ": improved, below the threshold") if gain > 0 else (0.0, text + ": no improvement")


def beats_base(item: RubricItem, inputs: Inputs) -> Decision:
    """'Fine-tuned beats base': the group's own comparison (base and fine-tuned answers it showed, scored against its
    expected answers), and grader's measured comparison only when it measured the group's real model (then it
    decides, and the group's claim stands beside it). On the demo model the measured gain is a pipeline check."""
    s = inputs.score
    if inputs.validation is not None and inputs.validation.n_tests == 0:
        return Decision(0.0, "no test questions, so base and fine-tuned answers could not be compared", "none")
    pairs, where = _group_comparison(inputs, item.metric) if item.accepts("group") else ([], "")
    claimed = ""
    if pairs:
        base, tuned = sum(b for b, _ in pairs) / len(pairs), sum(f for _, f in pairs) / len(pairs)
        fraction, claimed = _gain_decision(
            base, tuned, item, f"the group's own answers on {len(pairs)} question(s): {where}"
        )
    measured = (
        s is not None and bool(s.delta_mean) and (inputs.generation is None or inputs.generation.source != "recorded")
    )
    held = _held_out(inputs)
    if inputs.validation is not None and inputs.validation.tests_in_training and not held:
        return Decision(
            0.0,
            "every test question is also a training sample ("
            + ", ".join(inputs.validation.tests_in_training[:5])
            + "): no held-out question shows what fine-tuning taught",
            "none",
        )
    if measured and inputs.this_run_counts(item):
        base_mean = sum(q.base[item.metric] for q in held) / len(held)
        tuned_mean = sum(q.finetuned[item.metric] for q in held) / len(held)
        left_out = len(inputs.validation.tests_in_training) if inputs.validation else 0
        whose = f"measured in this run on {inputs.base_model}"
        got, text = _gain_decision(
            base_mean,
            tuned_mean,
            item,
            whose + (f"; {left_out} question(s) in the training data left out" if left_out else ""),
        )
        return Decision(
            got,
            text + (f"; the group's own comparison: {claimed}" if claimed else ""),
            f"measured in this run on {inputs.base_model}",
        )
    check = ""
    if measured and s is not None:
        gain = s.delta_mean[item.metric]
        check = f" (grader's own answers on the {inputs.base_model or 'demo'} model: {metrics.label(item.metric)} "
        check += f"gain {gain:+.3f}, a "
        check += "pipeline check, not graded)"
    if pairs:
        return Decision(fraction, claimed + check, f"the group's answers ({where})")
    g = inputs.generation
    if g is not None and g.source == "recorded" and not all(a.base for a in g.answers):
        return Decision(
            0.0,
            "the group's answers.jsonl records no base answer for some questions: nothing to compare with",
            "the group's recorded answers",
        )
    if s is not None and s.questions and not s.delta_mean:  # questions shown with base and fine-tuned answers only
        return Decision(
            0.0,
            f"none of the {len(s.questions)} test questions has an expected answer: ROUGE cannot compare base and "
            "fine-tuned; the group's own comparison is in the report for the instructor to judge",
            "the deliverable",
        )
    if not measured:
        t = inputs.train
        why = t.message if t is not None and t.status != "ok" and t.message else "the model stages were not reached"
        return Decision(0.0, f"no base and fine-tuned answers to compare: {why}", "none")
    pending = item.accepts("this-run") and not inputs.real_base
    reason = "the group shows no base-model answers beside its fine-tuned ones, so it made no comparison to grade"
    if pending:
        reason += "; the instructor's run on the real base model measures it"
    return Decision(0.0, reason + check, "none", pending=pending)


def part_a(item: RubricItem, inputs: Inputs) -> Decision:
    """A quarter of each parameter's share per question of the assignment its passage answers (reading/writing)."""
    written = inputs.validation.writing if inputs.validation else None
    if written is None or written.file is None:
        return Decision(0.0, written.looked_for if written else "not validated", "none")
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
    return Decision(answered / (4 * len(answers)) if answers else 0.0, reason, f"the deliverable ({written.file})")


# Words that reflections on this assignment use; lorem ipsum or a pasted essay uses none of them.
ABOUT_THE_RUN = re.compile(
    r"\b(train\w*|loss|data\w*|model\w*|parameter\w*|epoch\w*|adapter|lora|answer\w*|sample\w*|gpu|"
    r"learning|fine-?tun\w*|test\w*|question\w*|rank|token\w*|context)\b|학습|데이터|모델|손실|파라미터|"
    r"어댑터|답변|질문|샘플|튜닝",
    re.IGNORECASE,
)


def reflections(item: RubricItem, inputs: Inputs) -> Decision:
    written = inputs.validation.writing if inputs.validation else None
    quote = written.reflections if written else None
    if quote is None:
        where = f" in {written.file}" if written and written.file else ""
        return Decision(
            0.0,
            f"no reflections section{where} (a title such as 'Reflections', 'What worked', '회고', '느낀 점')",
            "none",
        )
    words = len(re.findall(r"\w+", quote.text))
    topical = {m.lower() for m in ABOUT_THE_RUN.findall(quote.text)}
    evidence = f"the deliverable ({quote.where})"
    if len(topical) < 2:
        return Decision(
            0.0,
            f"a reflections section ({quote.where}) that does not talk about the run: it names none of training, "
            "loss, data, model, parameters, answers (or 학습, 데이터, 모델, 손실, ...)",
            evidence,
        )
    if words >= item.min_words:
        return Decision(1.0, f"reflections of {words} words ({quote.where})", evidence)
    return Decision(0.5, f"reflections of only {words} words (< {item.min_words}; {quote.where})", evidence)


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
        decided = CHECKS[item.check](item, inputs)
        points = round(item.points * min(max(decided.fraction, 0.0), 1.0), 2)
        manual = (overrides or {}).get((group, item.id))
        graded = GradeItem(
            id=item.id,
            title=item.title,
            points=points,
            max_points=item.points,
            reason=decided.reason,
            evidence=decided.evidence,
            pending=decided.pending,
        )
        if manual is not None:
            graded = graded.model_copy(
                update={
                    "points": manual.points,
                    "reason": f"manual override: {manual.comment or 'no comment'} (automatic {points:g}: "
                    f"{decided.reason})",
                    "automatic": points,
                    "evidence": "the instructor",
                    "pending": False,
                }
            )
        items.append(graded)
    return GradeRecord(
        group=group,
        items=items,
        total=round(sum(i.points for i in items), 2),
        max_total=sum(i.points for i in rubric),
        flags=flags(inputs),
        measured_counts=inputs.real_base,
        seconds=round(time.monotonic() - started, 3),
    )


def flags(inputs: Inputs) -> list[str]:
    """Where the group's claims and the measurements disagree: said for the instructor, never silently decided."""
    from grader.measure import scale

    found = []
    v, t = inputs.validation, inputs.train
    logs, stated = _group_logs(inputs), v.writing.loss if v and v.writing else None
    logged = logs.train_loss if logs else None
    said = stated.train_loss if stated else None
    if logs and stated and logged is not None and said is not None and abs(logged - said) > max(0.05 * logged, 0.01):
        found.append(
            f"the deliverable states loss {said:g} ({stated.where}) but the group's logs say {logged:.4g} "
            f"({_files(logs)})"
        )
    from grader.reading.deliverable import UNSEEN

    writing = v.writing if v else None
    if writing is not None:
        found += [f"{writing.file}: {n}" for n in writing.notes if n.startswith(UNSEEN)]
    if not inputs.real_base:
        return found
    claimed = logs.train_loss if logs and logs.train_loss is not None else stated.train_loss if stated else None
    if claimed is not None and t is not None and t.source == "trained" and t.train_loss is not None:
        apart = abs(scale.band_index(claimed) - scale.band_index(t.train_loss))
        if apart >= 2:
            found.append(
                f"reported loss {claimed:.3g} ('{scale.band(claimed)}') vs {t.train_loss:.3g} "
                f"('{scale.band(t.train_loss)}') measured in this run with the group's config on {inputs.base_model}, "
                f"{apart} bands apart on the course's scale (this run's loss leaves out prompt tokens; the course "
                "script's includes them)"
            )
    pairs, where = _group_comparison(inputs, HEADLINE)
    s = inputs.score
    if (
        pairs
        and s is not None
        and s.delta_mean
        and (inputs.generation is None or inputs.generation.source != "recorded")
    ):
        claimed_gain = sum(f - b for b, f in pairs) / len(pairs)
        measured_gain = s.delta_mean[HEADLINE]
        if (claimed_gain > 0) != (measured_gain > 0):
            found.append(
                f"the group's own answers ({where}) show a {metrics.label(HEADLINE)} gain of {claimed_gain:+.3f}, "
                f"this run measured {measured_gain:+.3f} on {inputs.base_model}"
            )
    return found
