"""slides: a group's `Report` told in about 8 to 12 16:9 slides, one function per slide, on outputs/deck's layout.

A slide holds what a group would present: a few lines of 14 pt or more. Long text (the answers, the group's Part A
and reflections, every data problem, every rubric reason) is shortened on the slide to its first sentence(s) and
kept whole in the slide's speaker notes; the PDF report shows it all again. Every slide function takes the report
and the deck and adds its slide(s); the deck measures and places the text and saves the same bytes for the same
inputs.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from grader.measure import metrics
from grader.outputs.deck import BODY_PT, GREEN, INK, INSET, MUTED, RED, SLACK, SMALL_PT, Deck, Para, clip, text_width
from grader.outputs.report import Param, Question, Report
from grader.outputs.text import clean_text, shorten
from grader.records import Answer, ValidationRecord

NAME_PT = 16  # a Part A parameter's name and value
QA_PT = 16  # two questions with four answers each fit a slide at this size (see _question)
REPORTED = "The group's model (reported, not measured)"
LINE_PT = 18  # the size of slide text that comes in many lines: the answers, the discussion, the rubric
PARAMS_PER_SLIDE = 4  # Part A: 13 parameters on 4 slides of 3 or 4
QUESTIONS_PER_SLIDE = 2
ANSWER_WORDS = 10  # an answer on a slide: its first sentence(s), up to this many words
SUMMARY_WORDS = 14  # the group's Part A answer or discussion on a slide, in its first words
NOTES_CHARS = 4000  # one text in the speaker notes; report.pdf has every word
FULL = "Full text: speaker notes and report.pdf."
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")


def write_pptx(report: Report, path: Path) -> None:
    deck = Deck()
    slides = (_cover, _part_a, _data_training, _results, _questions, _sweep, _discussion, _rubric)
    for slide in slides:
        slide(report, deck)
    deck.footers(f"{clean_text(report.group.group)} · week 5 LoRA fine-tuning")
    deck.save(path, datetime.strptime(report.date, "%Y-%m-%d").replace(tzinfo=UTC))


def first_sentences(text: str, words: int) -> str:
    """The first sentence(s) of `text` that fit in `words` words; a longer first sentence is cut with "…"."""
    flat = " ".join(clean_text(text).split())
    kept: list[str] = []
    for sentence in _SENTENCE_END.split(flat):
        if kept and len(" ".join([*kept, sentence]).split()) > words:
            break
        kept.append(sentence)
    shown = " ".join(kept)
    tokens = shown.split()
    if len(tokens) > words:
        return " ".join(tokens[:words]).rstrip(",;:–-") + "…"
    return shown + (" …" if len(shown) < len(flat) else "")


def _points(report: Report) -> str:
    grade = report.grade
    return f"{grade.total:g} / {grade.max_total:g} points" if grade else "not graded"


def _cover(report: Report, deck: Deck) -> None:
    status = f"Status: {report.status}" + (f" ({shorten(report.reason, 100)})" if report.reason else "")
    lines = [
        f"Week 5 · LoRA fine-tuning · {report.date}",
        f"Base model: {report.base_model}",
        f"Commit: {report.group.commit or 'not a git repository'}",
        f"{status} · {_points(report)}",
    ]
    note = ""
    if report.demo_note:
        note = "Measured with the demo model, not Llama-3.1-8B: these numbers decide no points (speaker notes)."
    notes = "\n".join(line for line in (report.reason, report.demo_note) if line)
    deck.title_slide(clean_text(report.group.group), lines, note, notes)


def _param_summary(p: Param) -> str:
    """The group's answer in its first words, without the slide title or table layout it was found in."""
    if p.own is None or not p.own.where:
        return ""
    text = re.sub(r"^\s*Part A\s*[·:-]?\s*", "", clean_text(p.own.excerpt), flags=re.IGNORECASE)
    text = text.replace(" | ", "; ").strip(" |")
    for _ in range(3):  # "max_length / max_new_tokens;", "lora_r (LoRA rank)", "에폭 (num_train_epochs)"
        for key in sorted({p.name, *p.keys}, key=len, reverse=True):
            text = re.sub(rf"^[\s/:;|,·-]*{re.escape(key)}[\s/:;|,·-]*", "", text)
            text = re.sub(rf"^[^.:;()]{{0,30}}\({re.escape(key)}\)[\s:;,·-]*", "", text)
        text = re.sub(r"^\([^()]{0,30}\)[\s:;,·-]*", "", text)
    return first_sentences(text, SUMMARY_WORDS)


def _mark(answered: bool) -> list[Para]:
    return [Para("✓" if answered else "✗", LINE_PT, True, color=GREEN if answered else RED, before=0, align="center")]


def _param_row(p: Param, width: float) -> list[list[Para]]:
    value = (
        shorten(p.value, 30) + (" ⚑ outside the usual range" if p.flagged else "") + (" (default)" if p.default else "")
    )
    summary = _param_summary(p)
    said = clip(Para(summary or "not discussed in the group's deliverables", LINE_PT, before=0), width, 2)
    answered = p.own.answered if p.own else {}
    return [
        [
            Para(p.name + (" ? check" if p.own and p.own.unsure else ""), NAME_PT, True, before=0),
            Para(value, NAME_PT, p.flagged, color=RED if p.flagged else INK),
        ],
        [replace(said, color=INK if summary else RED)],
        *(_mark(bool(answered.get(q))) for q in ("what", "effect", "range", "why")),
    ]


def _param_notes(p: Param) -> str:
    lines = [f"{p.name} = {p.value} (read from {p.source or 'n/a'}; usual: {p.range})"]
    if p.own and p.own.where:
        lines.append(f"The group's answer ({p.own.where}): {shorten(p.own.excerpt, NOTES_CHARS)}")
        for question, text in p.own.evidence.items():
            lines.append(f"  {question}: {'yes' if p.own.answered.get(question) else 'no'}: {shorten(text, 200)}")
        if p.own.unsure:
            lines.append(f"  ? check: {p.own.unsure}")
    else:
        lines.append("Not discussed in the group's deliverables.")
    return "\n".join(lines)


def _chunks(n: int, most: int) -> list[range]:
    """0..n in the fewest runs of at most `most`, as even as can be (13 by 4: 4, 3, 3, 3)."""
    count = -(-n // most)
    if not count:
        return []
    edges = [round(i * n / count) for i in range(count + 1)]
    return [range(a, b) for a, b in itertools.pairwise(edges)]


def _part_a(report: Report, deck: Deck) -> None:
    # widths in points: the longest name on one line (per_device_train_batch_size), a mark's header, the answer
    names = max((text_width(p.name, NAME_PT, True) for p in report.params), default=0.0)
    name_w = min(names / SLACK + 2 * INSET + 2, deck.area.width / 3)
    mark_w = text_width("effect", SMALL_PT, True) / SLACK + 2 * INSET + 2
    width = deck.area.width - name_w - 4 * mark_w
    columns = [("parameter = value", name_w), ("the group's answer, in short", width)]
    columns += [(q, mark_w) for q in ("what", "effect", "range", "why")]
    width -= 2 * INSET
    n = len(report.params)
    for part in _chunks(n, PARAMS_PER_SLIDE):
        params = [report.params[i] for i in part]
        title = f"Part A: parameters {part.start + 1}–{part.stop} of {n}, in the group's words"
        notes = "\n\n".join(_param_notes(p) for p in params)
        deck.rows(title, columns, [_param_row(p, width) for p in params], notes)


def _data(report: Report) -> tuple[list[Para], list[Para], str]:
    """The data's facts, its problems (the count, and up to two errors: they decide points), and every problem
    for the speaker notes."""
    validation = report.validation
    if not validation:
        return [Para("The data was not validated.", LINE_PT, bullet=True)], [], ""
    files = ", ".join(validation.data_files) or "no file"
    facts = [
        f"{validation_counts(validation)} ({files}) · "
        f"{validation.n_tests} test questions ({validation.tests_file or 'no file'})"
    ]
    if validation.max_sample_tokens:
        facts.append(f"Longest sample {validation.max_sample_tokens} tokens; {validation.n_truncated} over max_length")
    problems = validation.problems
    errors = [p for p in problems if p.severity == "error"]
    said = []
    if problems:
        count = f"{len(problems)} data problem(s), {len(errors)} error(s): all in the speaker notes and report.pdf"
        said.append(Para(count, SMALL_PT + 2, bullet=True, color=RED if errors else INK))
    for p in errors[:2]:
        said.append(Para(f"{p.location()}: {first_sentences(p.message, 12)}", SMALL_PT, color=RED, before=2))
    notes = "\n".join(f"{p.location()} {p.severity}: {p.message}" for p in problems)
    return [Para(shorten(line, 300), LINE_PT, bullet=True) for line in facts], said, notes


def _data_training(report: Report, deck: Deck) -> None:
    facts, problems, listed = _data(report)
    train = report.train
    notes = [f"Data problems:\n{listed}" if listed else ""]
    if not train or train.status != "ok":
        message = train.message if train else "not reached"
        facts.append(Para(f"No training: {first_sentences(message, 30)}", LINE_PT, bullet=True, color=RED))
        deck.text("Data and training", facts + problems, "\n\n".join([*notes, f"Training: {message}"]).strip())
        return
    caption = (
        f"Training: final train loss {_num(train.train_loss, 3)} · perplexity {_num(train.perplexity, 2)} · "
        f"{train.steps} optimizer steps · "
        + {"loaded": "adapter loaded from the submission", "logs": "read from the group's logs"}.get(
            train.source, "trained in this run"
        )
    )
    if train.eval_loss is not None:
        caption += f" · held-out eval loss {train.eval_loss:.3f}"
    facts.append(Para(caption, LINE_PT, bullet=True))
    facts += [Para(line, SMALL_PT + 2, bullet=True) for line in report.loss_scale]  # the course's scale
    notes.append("\n".join([*report.loss_scale, *train.notes]))
    notes.append("Loss on answer tokens only." if not train.loss_includes_prompt else "Loss includes prompt tokens.")
    text = "\n\n".join(n for n in notes if n)
    if report.plot is None:
        deck.text("Data and training", facts + problems, text)
    else:
        deck.picture("Data and training", report.plot, facts + problems, text)


def _results(report: Report, deck: Deck) -> None:
    from grader.outputs import plots

    score = report.score
    notes = "\n".join(report.discussion)
    if not score or not score.questions:
        why = f"No answers were scored: the group is {report.status}"
        why += f" ({first_sentences(report.reason, 20)})." if report.reason else "."
        deck.text("Results", [Para(why, LINE_PT), Para(f"Points: {_points(report)}", LINE_PT, True)], notes)
        return
    shown = [Para(line, LINE_PT, bold=True) for line in report.discussion[:1]]
    # none when no question had an expected answer; a record scored before a metric existed lacks it
    for m in [m for m in metrics.shown("deck") if m.key in score.delta_mean]:
        line = (
            f"{m.label}: {score.base_mean[m.key]:.{m.digits}f} → {score.finetuned_mean[m.key]:.{m.digits}f} "
            f"({score.delta_mean[m.key]:+.{m.digits}f})"
        )
        shown.append(Para(line, LINE_PT, bullet=True))
    if report.generation and report.generation.source == "recorded":
        shown.append(Para("Answers recorded by the group, not generated in this run.", SMALL_PT, color=MUTED))
    shown.append(Para(f"Points: {_points(report)}", LINE_PT, bold=True, before=12))
    deck.picture("Results: base → fine-tuned", plots.question_chart(score), shown, notes, beside=0.42)


def _answer(label: str, text: str, rouge: float | None, color: str, width: float, lines: int) -> Para:
    scored = f" [{rouge:.2f}]" if rouge is not None else ""
    shown = first_sentences(text, ANSWER_WORDS) or "(empty)"
    return clip(Para(f"{label}{scored}: {shown}", QA_PT, color=color, before=2), width, lines)


def _question(q: Question, width: float) -> list[Para]:
    """Two of these fill a slide at most: the question in 2 lines, each answer in 2 (in 1 beside the group's)."""
    a, s = q.answer, q.score
    lines = 1 if a.reported or a.reported_base else 2
    delta = s.delta.get(metrics.HEADLINE, 0.0) if s else 0.0
    expected = a.expected or "(none given: not scored)"
    paras = [
        clip(Para(f"Q{q.n}. {first_sentences(a.instruction, SUMMARY_WORDS)}", QA_PT, True, before=12), width, 2),
        _answer("Expected", expected, None, MUTED, width, lines),
        _answer("Base", a.base, s.base.get(metrics.HEADLINE) if s else None, INK, width, lines),
        _answer(
            "Fine-tuned",
            a.finetuned,
            s.finetuned.get(metrics.HEADLINE) if s else None,
            _delta_color(delta),
            width,
            lines,
        ),
    ]
    if a.reported:
        paras.append(_answer("The group's model (reported)", a.reported, q.reported_rouge, MUTED, width, lines))
    if a.reported_base:
        base_rouge = s.reported_base.get(metrics.HEADLINE) if s else None
        paras.append(_answer("The base model (reported)", a.reported_base, base_rouge, MUTED, width, lines))
    return paras


def _delta_color(delta: float) -> str:
    return GREEN if delta > 0 else RED if delta < 0 else INK


def _question_notes(n: int, a: Answer) -> str:
    lines = [f"Q{n}. {a.instruction}", f"Expected: {a.expected}", f"Base: {a.base}", f"Fine-tuned: {a.finetuned}"]
    if a.reported:
        lines.append(f"{REPORTED}: {a.reported}")
    return "\n".join(shorten(line, NOTES_CHARS) for line in lines)


def _questions(report: Report, deck: Deck) -> None:
    questions = report.questions
    width = deck.area.inner_width
    for part in _chunks(len(questions), QUESTIONS_PER_SLIDE):
        shown = [questions[i] for i in part]
        span = f"{part.start + 1}–{part.stop}" if len(part) > 1 else f"{part.start + 1}"
        paras = [p for q in shown for p in _question(q, width)]
        paras.append(Para("Full answers: speaker notes; side by side in report.pdf.", SMALL_PT, color=MUTED, before=12))
        notes = "\n\n".join(_question_notes(q.n, q.answer) for q in shown)
        deck.text(f"Test questions {span} of {len(questions)} [{metrics.label(metrics.HEADLINE)}]", paras, notes)


def _sweep(report: Report, deck: Deck) -> None:
    """One slide per varied parameter: its plot, and the sentence with the measured spread against the seeds'."""
    if not report.sweep:
        return
    for effect in report.sweep.effects:
        plot = report.sweep_plots.get(effect.parameter)
        said = [Para(effect.sentence, LINE_PT)]
        if plot is not None:
            deck.picture(f"Sweep: {effect.parameter}", plot, said, effect.sentence)
        else:
            deck.text(f"Sweep: {effect.parameter}", said, effect.sentence)


def _discussion(report: Report, deck: Deck) -> None:
    """The group's discussion and reflections in their first words, beside what was measured."""
    said, paras, notes = report.group_discussion, [], []
    if said:
        paras += [Para(f"The group ({said.where}):", LINE_PT, True), Para(first_sentences(said.text, 20), LINE_PT)]
        notes.append(f"The group's discussion ({said.where}):\n{shorten(said.text, NOTES_CHARS)}")
    else:
        paras.append(Para("No discussion in the group's report or slides.", LINE_PT, color=RED))
    if report.critical:
        paras.append(Para(f"The sweep: {first_sentences(report.critical, 20)}", LINE_PT))
        notes.append(f"The sweep: {report.critical}")
    if report.discussion:
        paras.append(Para(first_sentences(report.discussion[0], 20), LINE_PT))  # each line says whose numbers
        notes.append("From the numbers (each line says whose):\n" + "\n".join(report.discussion))
    if report.reflections:
        plain = " · ".join(p.text for p in markdown_paragraphs(report.reflections))
        paras += [Para(f"Reflections ({report.reflections_where}):", LINE_PT, True, before=12)]
        paras.append(Para(first_sentences(plain, 20), LINE_PT))
        notes.append(f"Reflections ({report.reflections_where}):\n{shorten(report.reflections, NOTES_CHARS)}")
    else:
        paras.append(Para("No reflections in the group's report or slides.", LINE_PT, color=RED, before=12))
    if said or report.reflections:
        paras.append(Para(FULL, SMALL_PT, color=MUTED, before=12))
    deck.text("Discussion and reflections", paras, "\n\n".join(notes))


def _rubric(report: Report, deck: Deck) -> None:
    if not report.grade:
        return
    lines = []  # (title, points, colour, speaker note): the items, then the instructor's adjustments
    for item in report.grade.items:
        color = GREEN if item.points >= item.max_points else RED if item.points == 0 else INK
        points = f"{item.points:g} / {item.max_points:g}" + (" · pending" if item.pending else "")
        pending = " (pending: the instructor's run)" if item.pending else ""
        lines.append(
            (item.title, points, color, f"{item.title}: {points}{pending}. {item.reason} [{item.evidence or 'n/a'}]")
        )
    for a in report.grade.adjustments:
        lines.append((f"adjustment: {a.kind}", f"{a.points:+g}", RED if a.points < 0 else GREEN, a.shown()))
    for part in _chunks(len(lines), 9):
        rows = [
            [[Para(lines[i][0], LINE_PT, before=0)], [Para(lines[i][1], LINE_PT, True, color=lines[i][2], before=0)]]
            for i in part
        ]
        title = f"Rubric: {_points(report)}"
        notes = "\n".join(lines[i][3] for i in part)
        deck.rows(title, [("item (reasons in the speaker notes)", 8), ("points", 2.4)], rows, notes)


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
                yield Para(content, 20 if kind == "heading" else BODY_PT, kind == "heading", bullet=depth > 0)
            kind = "para"


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def validation_counts(validation: ValidationRecord) -> str:
    """'24 usable training samples', or '30 records, 10 unique training samples' when repeats count once."""
    if validation.n_records and validation.n_records != validation.n_samples:
        return f"{validation.n_records} records, {validation.n_samples} unique training samples"
    return f"{validation.n_samples} usable training samples"
