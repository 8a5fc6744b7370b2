"""slides: a group's `Report` told in about 8 to 12 16:9 slides, one function per slide, on grader.deck's layout.

Every slide function takes the report and the deck and adds its slide(s); the deck measures and places the text
(nothing runs off a slide) and saves the same bytes for the same inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from grader.deck import BODY_PT, GREEN, INK, MUTED, RED, TABLE_PT, Deck, Para
from grader.records import Answer, QuestionScore, ValidationRecord
from grader.report import Param, Report
from grader.text import clean_text, shorten, shorten_block

CELL_CHARS = 1500  # a Q&A cell longer than this is cut; the PDF report has the whole text
FLOW_CHARS = 6000  # the same for a flowing section such as the reflections


def write_pptx(report: Report, path: Path) -> None:
    deck = Deck()
    slides = (_cover, _data, _part_a, _training, _results, _questions, _sweep, _discussion, _reflections, _rubric)
    for slide in slides:
        slide(report, deck)
    deck.footers(f"{clean_text(report.group.group)} · week 5 LoRA fine-tuning · grader")
    deck.save(path, datetime.strptime(report.date, "%Y-%m-%d").replace(tzinfo=UTC))


def _points(report: Report) -> str:
    grade = report.grade
    return f"{grade.total:g} / {grade.max_total:g} points" if grade else "not graded"


def _cover(report: Report, deck: Deck) -> None:
    status = f"Status: {report.status}" + (f" ({shorten(report.reason, 120)})" if report.reason else "")
    lines = [
        f"Week 5 · LoRA fine-tuning · {report.date}",
        f"Base model: {report.base_model}",
        f"Commit: {report.group.commit or 'not a git repository'}",
        f"{status} · {_points(report)}",
    ]
    deck.title_slide(clean_text(report.group.group), lines, report.demo_note)


def _data(report: Report, deck: Deck) -> None:
    validation = report.validation
    if not validation:
        deck.flow("Data", [Para("Not validated.")])
        return
    files = ", ".join(validation.data_files) or "no file"
    facts = [
        Para(f"{validation_counts(validation)} from {files}", bullet=True),
        Para(f"{validation.n_tests} test questions from {validation.tests_file or 'no file'}", bullet=True),
    ]
    if validation.max_sample_tokens:
        longest = f"Longest sample {validation.max_sample_tokens} tokens; {validation.n_truncated} over max_length"
        facts.append(Para(longest, bullet=True))
    problems = validation.problems
    if problems:
        facts.append(Para(f"{sum(1 + p.repeats for p in problems)} problem(s) found:", bold=True, before=10))
        for p in problems[:12]:
            line = f"{p.location()} {p.severity}: {shorten(p.message, 300)}"
            facts.append(Para(line, TABLE_PT + 1, bullet=True, color=RED if p.severity == "error" else INK))
        if len(problems) > 12:
            facts.append(Para(f"... and {len(problems) - 12} more: see report.pdf", TABLE_PT + 1, bullet=True))
    deck.flow("Data", facts)


def _param_row(p: Param) -> list[Para]:
    value = shorten(p.value, 40) + (" ⚑" if p.flagged else "") + (" (default)" if p.default else "")
    said = p.own is not None and bool(p.own.where)
    own = f"{shorten(p.own.excerpt, 220)} [{p.own.where}]" if p.own and said else "not discussed"
    answered = sum(p.own.answered.values()) if p.own else 0
    coverage = GREEN if p.coverage == "discussed" else RED if p.coverage == "missing" else INK
    return [
        Para(" / ".join(p.keys), TABLE_PT, before=0),
        Para(value, TABLE_PT, p.flagged, color=RED if p.flagged else INK, before=0),
        Para(f"{shorten(p.source, 80)} · usual: {shorten(p.range, 90)}", TABLE_PT, before=0),
        Para(own, TABLE_PT, color=INK if said else RED, before=0),
        Para(
            f"{answered}/4 {p.coverage}" + (" ? check" if p.own and p.own.unsure else ""),
            TABLE_PT,
            color=coverage,
            before=0,
        ),
    ]


def _part_a(report: Report, deck: Deck) -> None:
    columns = [
        ("parameter", 2.2),
        ("value", 1.4),
        ("read from · usual", 2.6),
        ("the group's answer", 4.4),
        ("4 questions", 1.2),
    ]
    deck.grid("Part A: the 13 parameters, in the group's words", columns, [_param_row(p) for p in report.params])


def _training(report: Report, deck: Deck) -> None:
    train = report.train
    if not train or train.status != "ok":
        deck.flow("Training", [Para(f"No training: {shorten(train.message, 400) if train else 'not reached'}.")])
        return
    if report.plot is None:
        lines = [Para(line, bullet=True) for line in report.loss_scale] or [Para("No loss was reported.")]
        notes = [Para(shorten(n, 300), TABLE_PT + 1, bullet=True) for n in train.notes[:8]]
        if len(train.notes) > 8:
            notes.append(Para(f"... and {len(train.notes) - 8} more notes: see report.pdf", TABLE_PT + 1, bullet=True))
        deck.flow("Training", lines + notes)
        return
    caption = (
        f"final train loss {_num(train.train_loss, 3)} · perplexity {_num(train.perplexity, 2)} · "
        f"{train.steps} optimizer steps"
    )
    if train.eval_loss is not None:
        caption += f" · held-out eval loss {train.eval_loss:.3f} ({train.n_eval} samples)"
    caption += {
        "loaded": " · adapter loaded from the submission",
        "logs": " · read from the group's committed logs (nothing trained in this run)",
    }.get(train.source, " · trained in this run")
    caption += " · loss on answer tokens only" if not train.loss_includes_prompt else " · loss includes prompt tokens"
    caption += "".join(f" · {line}" for line in report.loss_scale)
    deck.picture("Training loss and learning rate", report.plot, caption)


METRICS = (
    ("ROUGE-L", "rougeL", 3),
    ("ROUGE-1", "rouge1", 3),
    ("ROUGE-2", "rouge2", 3),
    ("Exact match", "exact_match", 2),
)


def _results(report: Report, deck: Deck) -> None:
    score = report.score
    results = [Para("No answers were scored.")]
    if score and score.questions:
        results = [Para(line, bold=i == 0) for i, line in enumerate(report.discussion[:1])]
        for label, key, digits in METRICS if score.delta_mean else ():  # none when no question had an expected answer
            line = (
                f"{label}: base {score.base_mean[key]:.{digits}f} → fine-tuned "
                f"{score.finetuned_mean[key]:.{digits}f} ({score.delta_mean[key]:+.{digits}f})"
            )
            results.append(Para(line, bullet=True))
    if report.generation and report.generation.source == "recorded":
        results.append(Para("Answers recorded by the group (answers.jsonl), not generated in this run.", color=MUTED))
    results.append(Para(f"Points: {_points(report)}", bold=True, before=12))
    deck.flow("Results", results)


def _answer_cell(text: str, rouge: float | None) -> Para:
    shown = shorten(text, CELL_CHARS) or "(empty)"
    return Para(shown if rouge is None else f"[{rouge:.2f}] {shown}", TABLE_PT, before=0)


def _question_row(n: int, a: Answer, s: QuestionScore | None) -> list[Para]:
    reported = f" · the group's model (reported, not measured): {shorten(a.reported, 300)}" if a.reported else ""
    if a.reported_base:
        reported += f" · the base model (reported, not measured): {shorten(a.reported_base, 300)}"
    expected = shorten(a.expected, CELL_CHARS) or "(no expected answer: not scored)"
    return [
        Para(f"Q{n}. {shorten(a.instruction, 200)}", TABLE_PT, True, before=0),
        Para(expected + reported, TABLE_PT, before=0),
        _answer_cell(a.base, s.base.get("rougeL") if s else None),
        _answer_cell(a.finetuned, s.finetuned.get("rougeL") if s else None),
    ]


def _questions(report: Report, deck: Deck) -> None:
    if not report.questions:
        return
    deck.grid(
        "Test questions: base vs fine-tuned [ROUGE-L]",
        [("question", 2.2), ("expected", 3), ("base", 3), ("fine-tuned", 3)],
        [_question_row(q.n, q.answer, q.score) for q in report.questions],
    )


def _sweep(report: Report, deck: Deck) -> None:
    """One slide per varied parameter: its plot, and the sentence with the measured spread against the seeds'."""
    if not report.sweep:
        return
    for effect in report.sweep.effects:
        plot = report.sweep_plots.get(effect.parameter)
        if plot is not None:
            deck.picture(f"Sweep: {effect.parameter}", plot, effect.sentence)
        else:
            deck.flow(f"Sweep: {effect.parameter}", [Para(effect.sentence)])


def _discussion(report: Report, deck: Deck) -> None:
    said = report.group_discussion
    ours = [Para(f"The group ({said.where}):", bold=True)] if said else []
    ours += [Para(shorten(line, 600), bullet=True) for line in (said.text.splitlines() if said else [])]
    measured = [Para(line, bullet=True) for line in report.discussion] or [Para("Nothing was measured in this run.")]
    swept = (
        [Para("Which parameters mattered (the sweep):", bold=True), Para(report.critical)] if report.critical else []
    )
    heading = [Para("From the numbers (each line says whose):", bold=True, before=10)] if said or swept else []
    deck.flow("Discussion", swept + ours + heading + measured)


def _reflections(report: Report, deck: Deck) -> None:
    paras = list(markdown_paragraphs(shorten_block(report.reflections, FLOW_CHARS))) if report.reflections else []
    if paras:
        paras.append(Para(report.reflections_where, TABLE_PT, color=MUTED, before=6))
    deck.flow("Reflections", paras or [Para("No reflections in the group's report or slides.", color=MUTED)])


def _rubric(report: Report, deck: Deck) -> None:
    if not report.grade:
        return
    rows = []
    for item in report.grade.items:
        color = GREEN if item.points >= item.max_points else RED if item.points == 0 else INK
        rows.append(
            [
                Para(item.title, TABLE_PT, before=0),
                Para(
                    f"{item.points:g} / {item.max_points:g}" + (" · instructor's run" if item.pending else ""),
                    TABLE_PT,
                    True,
                    color=color,
                    before=0,
                ),
                Para(shorten(f"{item.reason} [{item.evidence or 'n/a'}]", 600), TABLE_PT, before=0),
            ]
        )
    deck.grid(f"Rubric: {_points(report)}", [("item", 3), ("points", 1.2), ("reason", 7)], rows)


def markdown_paragraphs(text: str) -> Iterator[Para]:
    """A group's Markdown as slide paragraphs: headings bold, list items bulleted, no markup and no links."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark", {"html": False}).enable("table").parse(clean_text(text))
    depth, kind = 0, "para"
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif token.type == "heading_open":
            kind = "heading"
        elif token.type in ("inline", "fence", "code_block"):
            parts = [
                " " if child.type in ("softbreak", "hardbreak") else child.content for child in token.children or []
            ]
            content = "".join(parts) if token.type == "inline" else token.content
            content = " ".join(content.split())
            if content:
                yield Para(content, 18 if kind == "heading" else BODY_PT, kind == "heading", bullet=depth > 0)
            kind = "para"


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def validation_counts(validation: ValidationRecord) -> str:
    """'24 usable training samples', or '30 records, 10 unique training samples' when repeats count once."""
    if validation.n_records and validation.n_records != validation.n_samples:
        return f"{validation.n_records} records, {validation.n_samples} unique training samples"
    return f"{validation.n_samples} usable training samples"
