"""render: a group's records -> report.pdf (Jinja2 -> HTML -> WeasyPrint) and slides.pptx (python-pptx).

One data model (`report_data`) feeds both. Student text is escaped (autoescape) or, for REPORT.md, rendered as
Markdown with raw HTML and images off and then sanitized with an allowlist. WeasyPrint may fetch nothing but
`data:` URIs, files under the grader's own templates folder and the font files of `grader.fonts`.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from grader import __version__, fonts, scale
from grader.grade import part_a_entries
from grader.layout import Layout, templates_dir
from grader.records import (
    GenerationRecord,
    GradeRecord,
    GroupRecord,
    RenderRecord,
    ScoreRecord,
    TrainRecord,
    ValidationRecord,
    write_atomic,
)
from grader.writing import QUESTION_TEXT

ALLOWED_TAGS = {
    "p",
    "br",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "hr",
    "del",
}
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


LONG_WORD = re.compile(r"\S{201,}")


def clean_text(text: str) -> str:
    """Drop control characters and lone surrogates that break XML (PPTX) and PDF text, and cut a "word" of over
    200 characters (line breaking one of 40,000 characters took WeasyPrint minutes)."""
    return LONG_WORD.sub(lambda m: m.group(0)[:200] + "…", CONTROL.sub("", text))


def markdown_html(text: str) -> str:
    """Student Markdown -> safe HTML: no raw HTML, no images, no links' targets; then an allowlist sanitizer."""
    import nh3
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")
    return str(nh3.clean(md.render(clean_text(text)), tags=ALLOWED_TAGS, attributes={}, url_schemes=set()))


DIFF_WORDS = 600  # words of each side compared: an LCS table of at most 600 x 600 cells, ~0.2 s in the worst case


def word_diff(expected: str, answer: str) -> list[tuple[str, bool]]:
    """The answer as runs of words, each run marked True where its words match the expected answer (in order: a
    longest common subsequence, case-insensitive). Beyond DIFF_WORDS words the answer is shown unmarked.

    Runs, not single words: one inline box per word made WeasyPrint's line breaking the slowest part of a report.
    """
    a = [w.lower() for w in expected.split()[:DIFF_WORDS]]
    words = answer.split()
    b = [w.lower() for w in words[:DIFF_WORDS]]
    same = _lcs(a, b)
    runs: list[tuple[str, bool]] = []
    for i, word in enumerate(words[:DIFF_WORDS]):
        if runs and runs[-1][1] == (i in same):
            runs[-1] = (f"{runs[-1][0]} {word}", i in same)
        else:
            runs.append((word, i in same))
    if len(words) > DIFF_WORDS:
        runs.append((" ".join(words[DIFF_WORDS:]), False))
    return runs


def _lcs(a: list[str], b: list[str]) -> set[int]:
    """Positions in b of one longest common subsequence of a and b (O(len(a) * len(b)), both capped)."""
    if not a or not b:
        return set()
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        row, below = rows[i], rows[i + 1]
        for j in range(len(b) - 1, -1, -1):
            row[j] = below[j + 1] + 1 if a[i] == b[j] else max(below[j], row[j + 1])
    same, i, j = set(), 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            same.add(j)
            i, j = i + 1, j + 1
        elif rows[i + 1][j] >= rows[i][j + 1]:
            i += 1
        else:
            j += 1
    return same


def _value(entry: dict[str, Any], config: dict[str, Any]) -> tuple[str, bool]:
    """The group's value for a Part A entry, and whether it is outside the usual range."""
    if not config or not all(key in config for key in entry["keys"]):
        return "n/a", False
    if entry["name"] == "bf16":
        value = "bf16" if config.get("bf16") else "fp16" if config.get("fp16") else "fp32"
        return value, value == "fp32"
    if entry["name"] == "max_length":
        return f"{config['max_length']} / {config['max_new_tokens']}", not 256 <= config["max_length"] <= 8192
    raw = config[entry["name"]]
    usual = entry["usual"]
    if isinstance(raw, bool) or isinstance(usual[0], str):
        return str(raw).lower(), str(raw).lower() not in [str(u).lower() for u in usual]
    return f"{raw:g}", not usual[0] <= raw <= usual[1]


def discussion(score: ScoreRecord | None, flagged: list[str], train: TrainRecord | None) -> list[str]:
    """An automatic discussion of the run, built only from measured numbers."""
    lines = []
    if score and score.questions:
        better = [i + 1 for i, q in enumerate(score.questions) if q.delta["rougeL"] > 0]
        worse = [i + 1 for i, q in enumerate(score.questions) if q.delta["rougeL"] < 0]
        gain = score.delta_mean["rougeL"]
        verdict = "helped" if gain > 0.02 else "changed little" if gain > -0.02 else "hurt"
        lines.append(
            f"Fine-tuning {verdict}: mean ROUGE-L {score.base_mean['rougeL']:.3f} (base) vs "
            f"{score.finetuned_mean['rougeL']:.3f} (fine-tuned), {gain:+.3f}."
        )
        lines.append(
            f"Better on question(s) {', '.join(map(str, better)) or 'none'}; "
            f"worse on {', '.join(map(str, worse)) or 'none'}; "
            f"{len(score.questions) - len(better) - len(worse)} unchanged."
        )
    if train and train.log:
        losses = [e.loss for e in train.log if e.loss is not None]
        if losses:
            lines.append(
                f"Training ran {train.steps} optimizer steps; logged loss went from {losses[0]:.3f} to "
                f"{losses[-1]:.3f} (final train loss {train.train_loss:.3f})."
            )
        if train.steps < 5:
            lines.append(
                "So few optimizer steps leave the adapter close to its start: epochs, batch size and "
                "gradient accumulation decide how many updates a small dataset gets."
            )
    if (
        train
        and train.eval_loss is not None
        and train.train_loss is not None
        and train.eval_loss > 1.3 * train.train_loss
    ):
        lines.append(
            f"The held-out loss ({train.eval_loss:.3f}) is well above the train loss ({train.train_loss:.3f}): the "
            "adapter fits its training answers better than new ones. Fewer epochs, more lora_dropout or more data "
            "are the first things to try."
        )
    if train and train.log:
        losses = [e.loss for e in train.log if e.loss is not None]
        if len(losses) >= 2 and losses[-1] >= losses[0]:
            rate = train.config.get("learning_rate") if train.config else None
            lines.append(
                "The logged loss did not fall: learning_rate"
                + (f" ({rate:g})" if isinstance(rate, int | float) else "")
                + " and the number of optimizer steps are the parameters to look at first."
            )
    if score and score.questions and all(q.delta["rougeL"] == 0 for q in score.questions):
        lines.append("Every fine-tuned answer scored as the base answer did: the adapter barely changed the model.")
    if flagged:
        lines.append(f"Values outside the usual range, likely critical here: {', '.join(flagged)}.")
    return lines


def report_data(
    group: GroupRecord,
    validation: ValidationRecord | None,
    train: TrainRecord | None,
    generation: GenerationRecord | None,
    score: ScoreRecord | None,
    grade: GradeRecord | None,
    status: str,
    reason: str,
    plot: Path | None,
    report_md: str | None,
    *,
    base_model: str = "",
    class_tests: tuple[Any, ScoreRecord] | None = None,
) -> dict[str, Any]:
    config = (train.config if train and train.config else validation.config if validation else {}) or {}
    sources = validation.config_sources if validation else {}
    written = validation.writing if validation else None
    params = []
    for entry in part_a_entries():
        value, flagged = _value(entry, config)
        defaulted = validation is not None and entry["name"] in validation.defaults_filled
        own = written.answer(entry["name"]) if written else None
        params.append(
            {
                **entry,
                "value": value,
                "flagged": flagged,
                "default": defaulted,
                "source": " · ".join(dict.fromkeys(sources[k] for k in entry["keys"] if k in sources)),
                "own": own,
                "coverage": own.status if own else "missing",
            }
        )
    questions = []
    if generation:
        for i, answer in enumerate(generation.answers):
            questions.append(
                {
                    "n": i + 1,
                    "answer": answer,
                    "score": score.questions[i] if score else None,
                    "reported_rouge": score.questions[i].reported.get("rougeL") if score and answer.reported else None,
                    "base_diff": word_diff(answer.expected, answer.base),
                    "tuned_diff": word_diff(answer.expected, answer.finetuned),
                }
            )
    flagged_names = [p["name"] for p in params if p["flagged"]]
    reflections = written.reflections if written else None
    when = group.commit_time or datetime.now(UTC).strftime("%Y-%m-%d")
    base_model = base_model or (train.base_model if train else "")
    class_rows = []
    if class_tests is not None:
        class_gen, class_score = class_tests
        class_rows = [
            {"n": i + 1, "answer": a, "score": q}
            for i, (a, q) in enumerate(zip(class_gen.answers, class_score.questions, strict=True))
        ]
    return {
        "class_questions": class_rows,
        "class_score": class_tests[1] if class_tests else None,
        "base_model": base_model or "n/a",
        "demo_note": DEMO_NOTE if base_model == "demo" else "",
        "loss_scale": loss_scale(train),
        "group": group,
        "status": status,
        "reason": reason,
        "validation": validation,
        "train": train,
        "generation": generation,
        "score": score,
        "grade": grade,
        "params": params,
        "questions": questions,
        "discussion": discussion(score, flagged_names, train),
        "date": when[:10],
        "version": __version__,
        "plot_uri": data_uri(plot) if plot and plot.is_file() else None,
        "report_html": markdown_html(_shown_report(report_md, reflections is not None, written)) if report_md else None,
        "writing": written,
        "reflections": reflections.text if reflections else "",
        "reflections_where": reflections.where if reflections else "",
        "reflections_html": markdown_html(reflections.text) if reflections else None,
        "group_discussion": written.discussion if written else None,
        "questions_text": QUESTION_TEXT,
        "errors": [p for p in validation.problems if p.severity == "error"] if validation else [],
    }


DEMO_NOTE = (
    "Every answer, loss and score measured in this run comes from the demo model, a tiny Llama built locally, "
    "not from Llama-3.1-8B: the pipeline is real, its numbers are not the group's model's."
)


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


REPORT_SHOWN = 100_000  # characters of the group's Markdown reproduced in the PDF (a 30,000-row table is 1 MB)


def _shown_report(text: str, reflections_shown: bool = False, written: Any = None) -> str:
    """The group's Markdown as it wrote it, capped, without the sections the report already quoted above
    (its reflections and discussion appear once, in their own sections)."""
    from grader.writing import DISCUSSION, REFLECTIONS

    quoted = [REFLECTIONS] if reflections_shown else []
    if written is not None and getattr(written, "discussion", None):
        quoted.append(DISCUSSION)
    text = _without_sections(text, quoted) if quoted else text
    if len(text) <= REPORT_SHOWN:
        return text
    cut = text[:REPORT_SHOWN].rsplit("\n", 1)[0]
    return f"{cut}\n\n*(the rest, {len(text) - len(cut):,} characters, is in the group's file)*"


HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _without_sections(text: str, headings: list[re.Pattern[str]]) -> str:
    """Drop each Markdown section whose heading matches, down to the next heading of its level or above, leaving
    one line that says where it is shown instead."""
    kept: list[str] = []
    skipping = 0  # the level of the section being dropped, 0 when keeping
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match and skipping and len(match.group(1)) <= skipping:
            skipping = 0
        if skipping:
            continue
        if match and any(h.search(match.group(2)) for h in headings):
            skipping = len(match.group(1))
            kept += [line, "", "*(quoted above, in this report's own section for it)*", ""]
            continue
        kept.append(line)
    return "\n".join(kept)


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


@cache
def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(templates_dir()),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
    )
    env.filters["clean"] = clean_text
    env.filters["num"] = lambda v, digits=3: "n/a" if v is None else f"{v:.{digits}f}"
    return env


def render_template(name: str, data: dict[str, Any]) -> str:
    return str(_environment().get_template(name).render(**data))


def render_html(data: dict[str, Any]) -> str:
    return render_template("report.html.j2", data)


def safe_fetcher() -> Any:
    """A WeasyPrint URL fetcher that serves `data:`, the grader's own assets and the font files it ships, and
    refuses everything else."""
    from urllib.parse import unquote, urlparse

    from weasyprint.urls import URLFetcher, URLFetchingError

    root = templates_dir().resolve()
    shipped = {face.path.resolve() for face in fonts.faces()}

    class AssetsOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            parsed = urlparse(url)
            if parsed.scheme == "data":
                return super().fetch(url, headers)
            local = Path(unquote(parsed.path)).resolve() if parsed.scheme == "file" else None
            if local is not None and (local.is_relative_to(root) or local in shipped):
                return super().fetch(url, headers)
            raise URLFetchingError(f"refused by the grader's renderer: {url[:80]}")

    return AssetsOnly(allowed_protocols={"data", "file"}, allow_redirects=False, timeout=1)


def write_pdf(html: str, path: Path) -> None:
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    fetcher, font_config = safe_fetcher(), FontConfiguration()
    faces = CSS(string=fonts.face_css(), url_fetcher=fetcher, font_config=font_config)
    # Without libharfbuzz-subset WeasyPrint subsets fonts with fontTools, which stamps each font with the time of
    # day unless SOURCE_DATE_EPOCH is set: a fixed stamp keeps the same inputs giving the same bytes.
    with _environ(SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH", "0")):
        pdf = HTML(string=html, base_url=templates_dir().as_uri() + "/", url_fetcher=fetcher).write_pdf(
            stylesheets=[faces], font_config=font_config
        )
    write_atomic(path, pdf)


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def shown_text(html: str) -> str:
    """The text a reader sees in an HTML page (tags out, entities decoded)."""
    import html as entities

    return entities.unescape(re.sub(r"<[^>]*>", " ", html))


def run(data: dict[str, Any], layout: Layout, name: str) -> RenderRecord:
    from grader.slides import write_pptx

    started = time.monotonic()
    html = render_html(data)
    write_pdf(html, layout.report_pdf(name))
    write_pptx(data, layout.slides(name), layout.plot(name, "training"))
    plots = ["training.png"] if layout.plot(name, "training").is_file() else []
    return RenderRecord(
        group=name,
        report_pdf="report.pdf",
        slides_pptx="slides.pptx",
        plots=plots,
        missing_glyphs=fonts.missing(shown_text(html))[:200],
        seconds=round(time.monotonic() - started, 2),
    )
