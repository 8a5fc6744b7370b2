"""The PPTX deck: the report's data model told in about 8 to 12 16:9 slides (python-pptx).

Long text is split across continuation slides by a character budget instead of running off the slide.
Core properties are fixed, so the deck does not carry python-pptx's 2013 default author and date.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from grader.records import write_atomic
from grader.render import clean_text

BODY_CHARS = 900  # what fits in the body box at 16 pt
TITLE_PT, BODY_PT, SMALL_PT = 30, 16, 12
FONT = "DejaVu Sans"


def chunks(text: str, budget: int = BODY_CHARS) -> list[str]:
    """Split at word boundaries into pieces of at most `budget` characters."""
    words, pieces, current = clean_text(text).split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > budget:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    if current or not pieces:
        pieces.append(current)
    return pieces


class Deck:
    def __init__(self) -> None:
        from pptx import Presentation
        from pptx.util import Emu

        self.prs = Presentation()
        self.prs.slide_width, self.prs.slide_height = Emu(12192000), Emu(6858000)  # exactly 16:9 (13.333 x 7.5 in)
        self.blank = self.prs.slide_layouts[6]

    def slide(self, title: str) -> Any:
        from pptx.util import Inches

        slide = self.prs.slides.add_slide(self.blank)
        self.text(slide, title, Inches(0.6), Inches(0.35), Inches(12.1), Inches(0.9), TITLE_PT, bold=True)
        return slide

    def text(
        self,
        slide: Any,
        text: str | list[str],
        left: Any,
        top: Any,
        width: Any,
        height: Any,
        size: int,
        *,
        bold: bool = False,
    ) -> None:
        from pptx.dml.color import RGBColor
        from pptx.util import Pt

        box = slide.shapes.add_textbox(left, top, width, height).text_frame
        box.word_wrap = True
        lines = [text] if isinstance(text, str) else text
        for i, line in enumerate(lines):
            paragraph = box.paragraphs[0] if i == 0 else box.add_paragraph()
            run = paragraph.add_run()
            run.text = clean_text(line)
            run.font.size, run.font.bold, run.font.name = Pt(size), bold, FONT
            run.font.color.rgb = RGBColor(0x1F, 0x5F, 0x8B) if bold and size == TITLE_PT else RGBColor(0x1D, 0x27, 0x31)

    def bullets(self, title: str, lines: list[str], size: int = BODY_PT) -> None:
        from pptx.util import Inches

        self.text(self.slide(title), lines, Inches(0.6), Inches(1.4), Inches(12.1), Inches(5.6), size)

    def save(self, path: Path, when: datetime) -> None:
        props = self.prs.core_properties
        props.author = props.last_modified_by = "grader"
        props.created = props.modified = when
        props.revision = 1
        buffer = io.BytesIO()
        self.prs.save(buffer)
        write_atomic(path, buffer.getvalue())


def write_pptx(data: dict[str, Any], path: Path, plot: Path) -> None:
    from pptx.util import Inches

    deck = Deck()
    group, train, score, grade = data["group"], data["train"], data["score"], data["grade"]
    deck.bullets(
        f"{clean_text(group.group)} · week 5 LoRA fine-tuning",
        [
            f"Status: {data['status']} · {data['reason']}",
            f"Date: {data['date']}",
            f"Base model: {train.base_model if train else 'n/a'}",
            f"Commit: {group.commit or 'n/a'}",
        ],
    )
    v = data["validation"]
    deck.bullets(
        "Data",
        [f"{v.n_samples} training samples, {v.n_tests} test questions" if v else "not validated"]
        + [f"{p.location()}: {p.message}" for p in data["errors"][:8]],
    )
    params = [f"{p['name']}: {p['value']}{'  ⚑ outside usual range' if p['flagged'] else ''}" for p in data["params"]]
    deck.bullets("Parameters (Part A)", params, SMALL_PT + 2)
    slide = deck.slide("Training loss")
    if plot.is_file() and train and train.status == "ok":
        slide.shapes.add_picture(str(plot), Inches(0.9), Inches(1.4), width=Inches(11.5))
        deck.text(
            slide,
            f"final train loss {train.train_loss:.3f} · perplexity "
            f"{train.perplexity if train.perplexity is None else round(train.perplexity, 2)} · "
            f"{train.steps} steps"
            + (f" · held-out eval loss {train.eval_loss:.3f}" if train.eval_loss is not None else ""),
            Inches(0.9),
            Inches(6.5),
            Inches(11.5),
            Inches(0.6),
            SMALL_PT,
        )
    else:
        deck.text(slide, "No training in this run.", Inches(0.6), Inches(1.4), Inches(12), Inches(1), BODY_PT)
    if score and score.questions:
        deck.bullets(
            "Results",
            [
                f"ROUGE-L base {score.base_mean['rougeL']:.3f} → fine-tuned "
                f"{score.finetuned_mean['rougeL']:.3f} ({score.delta_mean['rougeL']:+.3f})",
                f"ROUGE-1 {score.base_mean['rouge1']:.3f} → {score.finetuned_mean['rouge1']:.3f}",
                f"Exact match {score.base_mean['exact_match']:.2f} → {score.finetuned_mean['exact_match']:.2f}",
                f"Points {grade.total} / {grade.max_total}" if grade else "",
            ],
        )
    for q in data["questions"]:
        a = q["answer"]
        text = f"Expected: {a.expected}\n\nBase: {a.base or '(empty)'}\n\nFine-tuned: {a.finetuned or '(empty)'}"
        pieces = [p for para in text.split("\n\n") for p in chunks(para, BODY_CHARS // 3)]
        pages = [pieces[i : i + 3] for i in range(0, len(pieces), 3)]
        for n, page in enumerate(pages):
            title = f"Q{q['n']}. {chunks(a.instruction, 60)[0]}" + (" (cont.)" if n else "")
            deck.bullets(title, page, SMALL_PT + 2)
    deck.bullets("Discussion", data["discussion"] or ["Nothing was measured in this run."])
    for n, piece in enumerate(chunks(data["reflections"] or "No reflections section in REPORT.md.")):
        deck.bullets("Reflections" + (" (cont.)" if n else ""), [piece])
    when = datetime.strptime(data["date"], "%Y-%m-%d").replace(tzinfo=timezone.utc)
    deck.save(path, when)
