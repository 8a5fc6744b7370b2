"""report: a group's records -> the report's typed data model (`Report`), which the PDF and the deck both show.

Built only from measured records; student text stays raw here and is made safe where it is shown (grader.outputs.text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grader import __version__
from grader.config import TrainConfig, part_a_entries
from grader.measure import scale
from grader.measure.metrics import HEADLINE, label
from grader.outputs.text import markdown_html, shown_report, word_diff
from grader.reading.writing import DISCUSSION, QUESTION_TEXT, REFLECTIONS
from grader.records import (
    Answer,
    GenerationRecord,
    GradeRecord,
    GroupRecord,
    GroupStatus,
    ParamAnswer,
    Problem,
    QuestionScore,
    Quote,
    ScoreRecord,
    SweepRecord,
    TrainRecord,
    ValidationRecord,
    Writing,
)


@dataclass(frozen=True)
class Param:
    """One Part A parameter: the course's text for it (templates/parameters.yaml), the group's value, its answer."""

    name: str
    keys: list[str]
    what: str
    effect: str
    range: str
    why: str
    value: str
    flagged: bool  # outside the usual range
    default: bool  # the value was not set by the group: the course script's default was filled in
    source: str  # where the value was read
    own: ParamAnswer | None
    coverage: str  # missing | named | partly | discussed


@dataclass(frozen=True)
class Question:
    n: int
    answer: Answer
    score: QuestionScore | None
    reported_rouge: float | None
    base_diff: list[tuple[str, bool]]
    tuned_diff: list[tuple[str, bool]]


@dataclass(frozen=True)
class ClassQuestion:
    n: int
    answer: Answer
    score: QuestionScore


@dataclass(frozen=True)
class Report:
    """Everything report.html.j2 and the deck show, by name."""

    group: GroupRecord
    status: GroupStatus
    reason: str
    date: str
    base_model: str
    demo_note: str
    validation: ValidationRecord | None
    train: TrainRecord | None
    generation: GenerationRecord | None
    score: ScoreRecord | None
    grade: GradeRecord | None
    params: list[Param]
    questions: list[Question]
    discussion: list[str]  # measured in this run
    loss_scale: list[str]
    plot: Path | None
    report_html: str | None  # the group's Markdown, sanitized, without the sections shown on their own
    writing: Writing | None
    reflections: str
    reflections_where: str
    reflections_html: str | None
    group_discussion: Quote | None  # the group's own discussion, as it wrote it
    errors: list[Problem]
    class_questions: list[ClassQuestion] = field(default_factory=list)
    class_score: ScoreRecord | None = None
    sweep: SweepRecord | None = None  # `grader sweep`: measured effects of the varied parameters
    critical: str = ""  # "which parameters seemed most critical", from the sweep
    sweep_plots: dict[str, Path] = field(default_factory=dict)  # parameter -> its plot
    version: str = __version__
    questions_text: dict[str, str] = field(default_factory=lambda: dict(QUESTION_TEXT))


DEMO_NOTE = (
    "Every answer, loss and score measured in this run comes from the demo model, a tiny Llama built locally, "
    "not from Llama-3.1-8B: the pipeline is real, its numbers are not the group's model's, and they decide no "
    "points (the rubric reads the group's own logs, adapter and report)."
)


# Long by one constructor: every field of the Report is set in one place, each from one helper or record.
def build(
    group: GroupRecord,
    *,
    status: GroupStatus,
    reason: str = "",
    validation: ValidationRecord | None = None,
    train: TrainRecord | None = None,
    generation: GenerationRecord | None = None,
    score: ScoreRecord | None = None,
    grade: GradeRecord | None = None,
    plot: Path | None = None,
    report_md: str | None = None,
    base_model: str = "",
    class_tests: tuple[GenerationRecord, ScoreRecord] | None = None,
    sweep: SweepRecord | None = None,
    sweep_plots: dict[str, Path] | None = None,
) -> Report:
    written = validation.writing if validation else None
    params = _params(validation, train)
    reflections = written.reflections if written else None
    base_model = base_model or (train.base_model if train else "")
    quoted = ([REFLECTIONS] if reflections else []) + ([DISCUSSION] if written and written.discussion else [])
    return Report(
        group=group,
        status=status,
        reason=reason,
        date=(group.commit_time or datetime.now(UTC).strftime("%Y-%m-%d"))[:10],
        base_model=base_model or "n/a",
        demo_note=DEMO_NOTE if base_model == "demo" else "",
        validation=validation,
        train=train,
        generation=generation,
        score=score,
        grade=grade,
        params=params,
        questions=_questions(generation, score),
        discussion=discussion(score, [p.name for p in params if p.flagged], train),
        critical=_measured_by_sweep(sweep),
        loss_scale=loss_scale(train),
        plot=plot if plot and plot.is_file() else None,
        report_html=markdown_html(shown_report(report_md, quoted)) if report_md else None,
        writing=written,
        reflections=reflections.text if reflections else "",
        reflections_where=reflections.where if reflections else "",
        reflections_html=markdown_html(reflections.text) if reflections else None,
        group_discussion=written.discussion if written else None,
        errors=[p for p in validation.problems if p.severity == "error"] if validation else [],
        class_questions=[
            ClassQuestion(i + 1, a, q)
            for i, (a, q) in enumerate(zip(class_tests[0].answers, class_tests[1].questions, strict=True))
        ]
        if class_tests
        else [],
        class_score=class_tests[1] if class_tests else None,
        sweep=sweep,
        sweep_plots={k: v for k, v in (sweep_plots or {}).items() if v.is_file()},
    )


def _measured_by_sweep(sweep: SweepRecord | None) -> str:
    """Which parameters seemed most critical, answered from the sweep when the group has one."""
    from grader.measure.sweep_stats import critical_sentence

    return critical_sentence(sweep) if sweep and sweep.effects else ""


def _params(validation: ValidationRecord | None, train: TrainRecord | None) -> list[Param]:
    config = train.config if train and train.config else validation.config if validation else None
    sources = validation.config_sources if validation else {}
    written = validation.writing if validation else None
    params = []
    for entry in part_a_entries():
        value, flagged = _value(entry, config)
        own = written.answer(entry["name"]) if written else None
        params.append(
            Param(
                name=entry["name"],
                keys=entry["keys"],
                what=entry["what"],
                effect=entry["effect"],
                range=entry["range"],
                why=entry["why"],
                value=value,
                flagged=flagged,
                default=validation is not None and entry["name"] in validation.defaults_filled,
                source=" · ".join(dict.fromkeys(sources[k] for k in entry["keys"] if k in sources)),
                own=own,
                coverage=own.status if own else "missing",
            )
        )
    return params


def _questions(generation: GenerationRecord | None, score: ScoreRecord | None) -> list[Question]:
    if not generation:
        return []
    return [
        Question(
            n=i + 1,
            answer=answer,
            score=score.questions[i] if score and score.questions[i].base else None,  # unscored: no expected
            reported_rouge=score.questions[i].reported.get(HEADLINE) if score and answer.reported else None,
            base_diff=word_diff(answer.expected, answer.base),
            tuned_diff=word_diff(answer.expected, answer.finetuned),
        )
        for i, answer in enumerate(generation.answers)
    ]


def _value(entry: dict[str, Any], config: TrainConfig | None) -> tuple[str, bool]:
    """The group's value for a Part A entry, and whether it is outside the usual range."""
    if config is None or not all(key in TrainConfig.model_fields for key in entry["keys"]):
        return "n/a", False
    if entry["name"] == "bf16":
        value = "bf16" if config.bf16 else "fp16" if config.fp16 else "fp32"
        return value, value == "fp32"
    if entry["name"] == "max_length":
        return f"{config.max_length} / {config.max_new_tokens}", not 256 <= config.max_length <= 8192
    raw = getattr(config, entry["name"])
    usual = entry["usual"]
    if isinstance(raw, bool) or isinstance(usual[0], str):
        return str(raw).lower(), str(raw).lower() not in [str(u).lower() for u in usual]
    return f"{raw:g}", not usual[0] <= raw <= usual[1]


def discussion(score: ScoreRecord | None, flagged: list[str], train: TrainRecord | None) -> list[str]:
    """An automatic discussion of the run, built only from measured numbers."""
    lines = _score_lines(score) + _training_lines(train)
    scored = [q for q in score.questions if q.delta] if score else []
    if scored and all(q.delta[HEADLINE] == 0 for q in scored):
        lines.append("Every fine-tuned answer scored as the base answer did: the adapter barely changed the model.")
    if flagged:
        lines.append(f"Values outside the usual range, likely critical here: {', '.join(flagged)}.")
    return lines


def _score_lines(score: ScoreRecord | None) -> list[str]:
    if not score or not score.questions:
        return []
    if not score.delta_mean:
        return [
            f"None of the {len(score.questions)} questions has an expected answer, so ROUGE cannot say whether "
            "fine-tuning helped: the base and fine-tuned answers are shown side by side."
        ]
    better = [i + 1 for i, q in enumerate(score.questions) if q.delta.get(HEADLINE, 0) > 0]
    worse = [i + 1 for i, q in enumerate(score.questions) if q.delta.get(HEADLINE, 0) < 0]
    unscored = sum(not q.delta for q in score.questions)
    gain = score.delta_mean[HEADLINE]
    verdict = "helped" if gain > 0.02 else "changed little" if gain > -0.02 else "hurt"
    return [
        f"Fine-tuning {verdict}: mean {label(HEADLINE)} {score.base_mean[HEADLINE]:.3f} (base) vs "
        f"{score.finetuned_mean[HEADLINE]:.3f} (fine-tuned), {gain:+.3f}.",
        f"Better on question(s) {', '.join(map(str, better)) or 'none'}; "
        f"worse on {', '.join(map(str, worse)) or 'none'}; "
        f"{len(score.questions) - len(better) - len(worse) - unscored} unchanged"
        + (f"; {unscored} without an expected answer, not scored." if unscored else "."),
    ]


def _training_lines(train: TrainRecord | None) -> list[str]:
    if not train:
        return []
    lines = []
    losses = [e.loss for e in train.log if e.loss is not None]
    # a loaded adapter's or a preview's log is the group's own: reported, never "measured in this run"
    whose = (
        "Reported by the group (its logs, not measured here): training"
        if train.source in ("loaded", "logs")
        else ("Measured in this run: training")
    )
    if train.log:
        if losses:
            final = f"{train.train_loss:.3f}" if train.train_loss is not None else "n/a"
            lines.append(
                f"{whose} ran {train.steps} optimizer steps; logged loss went from {losses[0]:.3f} to "
                f"{losses[-1]:.3f} (final train loss {final})."
            )
        if train.steps < 5:
            lines.append(
                "So few optimizer steps leave the adapter close to its start: epochs, batch size and "
                "gradient accumulation decide how many updates a small dataset gets."
            )
    if train.eval_loss is not None and train.train_loss is not None and train.eval_loss > 1.3 * train.train_loss:
        lines.append(
            f"The held-out loss ({train.eval_loss:.3f}) is well above the train loss ({train.train_loss:.3f}): the "
            "adapter fits its training answers better than new ones. Fewer epochs, more lora_dropout or more data "
            "are the first things to try."
        )
    if len(losses) >= 2 and losses[-1] >= losses[0]:
        rate = train.config.learning_rate if train.config else None
        lines.append(
            "The logged loss did not fall: learning_rate"
            + (f" ({rate:g})" if isinstance(rate, int | float) else "")
            + " and the number of optimizer steps are the parameters to look at first."
        )
    return lines


def loss_scale(train: TrainRecord | None) -> list[str]:
    """The final loss on the course's scale: the group's logs and this run's training, each labelled."""
    if train is None or train.status != "ok":
        return []
    lines = []
    if train.reported is not None:
        lines.append(scale.describe(train.reported.train_loss, "the group's own logs"))
    if train.source == "trained":
        lines.append(scale.describe(train.train_loss, "this run's training"))
    return [line for line in lines if line]
