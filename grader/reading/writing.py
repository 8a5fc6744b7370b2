"""What a group wrote, read from its own deliverable: Part A per parameter (grader.reading.parta: the structure first,
then the words), the test Q&A it showed, its discussion and its reflections, each with the slide or page it came
from. A parameter earns a quarter of its share of the Part A points per question answered.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from grader.limits import DEFAULT_LIMITS, DataLimits
from grader.reading.material import WHOLE, Material, copied_blocks, summary
from grader.records import Document, ParamAnswer, Problem, Quote, Sample, Writing

QUESTION_TEXT = {
    "what": "what it controls",
    "effect": "raising / lowering it",
    "range": "usual range or default",
    "why": "why it matters here",
}
REFLECTIONS = re.compile(
    r"reflect|lesson|retrospect|what worked|difficult|improve|회고|소감|느낀\s*점|어려웠|개선|배운\s*점", re.IGNORECASE
)
DISCUSSION = re.compile(r"discussion|discuss|토의|논의|고찰|결과\s*분석", re.IGNORECASE)


def part_a(document: Document, entries: list[dict[str, Any]]) -> list[ParamAnswer]:
    """Part A per parameter, read structure first (grader.reading.parta)."""
    from grader.reading import parta

    return parta.part_a(document, entries)


def _joined(texts: list[str], fmt: str) -> str:
    """Markdown stays Markdown: list items on consecutive lines, paragraphs apart; other formats line by line."""
    if fmt != "md":
        return "\n".join(texts)
    out = texts[0]
    for before, text in itertools.pairwise(texts):
        listed = re.match(r"([-*+]|\d+[.)])\s", before) and re.match(r"([-*+]|\d+[.)])\s", text)
        out += ("\n" if listed else "\n\n") + text
    return out


def _section(document: Document, heading: re.Pattern[str]) -> Quote | None:
    """The text under the first title that matches, up to the next title (or the next slide, for a deck)."""
    blocks = document.blocks
    for i, block in enumerate(blocks):
        if block.kind != "title" or not heading.search(block.text):
            continue
        texts = []
        for nxt in blocks[i + 1 :]:
            if nxt.kind == "title" or (
                document.format == "pptx" and nxt.where.split(" ")[:2] != block.where.split(" ")[:2]
            ):
                break
            texts.append(nxt.text)
        if texts:
            return Quote(text=_joined(texts, document.format), where=f"{document.file}, {block.where}")
    labelled = [b for b in blocks if b.kind != "title" and re.match(rf"\s*({heading.pattern})", b.text, re.I)]
    if labelled:
        return Quote(text="\n".join(b.text for b in labelled), where=f"{document.file}, {labelled[0].where}")
    return None


# Test Q&A the group showed: tables with recognisable headers, or labelled blocks.
HEADERS = {
    "instruction": re.compile(r"question|instruction|prompt|질문|문제|입력", re.IGNORECASE),
    "context": re.compile(r"context|문맥|컨텍스트|근거", re.IGNORECASE),
    "expected": re.compile(r"expected|reference|ground.?truth|correct|gold|정답|기대|예상|참조", re.IGNORECASE),
    "reported_base": re.compile(r"\bbase\b|베이스|기본\s*모델|원본\s*모델", re.IGNORECASE),
    "reported": re.compile(
        r"model|fine.?tuned|prediction|generated|output|response|모델|생성|출력|응답", re.IGNORECASE
    ),
}
LABELS = re.compile(
    r"(?P<label>Q\s?\d+\s*[.:)]\s*(?:Question\s*:)?|Question\s*:|Instruction\s*:|질문\s*:|Context\s*:|문맥\s*:|"
    r"Expected(?:\s+answer)?\s*:|Reference(?:\s+answer)?\s*:|정답\s*:|"
    r"Base(?:\s+model)?(?:'s)?(?:\s+answer|\s+output)?\s*:|(?:베이스|기본|원본)\s*모델(?:\s*답변?)?\s*:|"
    r"(?:Model|Fine-?tuned|Our model)(?:'s)?(?:\s+answer|\s+output)?\s*:|모델\s*답변?\s*:|Answer\s*:|답변?\s*:)",
    re.IGNORECASE,
)


# Code, templates and prompts shown on a slide are not test questions: a placeholder ({ins}, {{context}}), an escaped
# newline, an f-string, a call or a definition.
CODE = re.compile(
    r"\{\{?\s*[A-Za-z_][\w.\[\]'\"]*\s*\}\}?|\\n|\bf[\"'][^\"']*\{|^\s*(def|class) \w+\s*[(:]|^\s*import \w|"
    r"^\s*from [\w.]+ import|^\s*return\b|^\s*for \w+ in |\b(print|format_row|tokenizer|generate|open|len)\s*\(|"
    r"^\s*[A-Za-z_][\w.]*\s*=\s*\S|[;{}]\s*$|^\s*(>>>|\$ )",
)


def looks_like_code(text: str) -> str | None:
    """The piece of `text` that makes it code rather than a question, or None."""
    match = CODE.search(text)
    return match.group(0).strip() if match else None


def _column(header: str) -> str | None:
    header = header.strip()
    if not header:
        return None
    if HEADERS["expected"].search(header):
        return "expected"
    if HEADERS["reported_base"].search(header) and not HEADERS["instruction"].search(header):
        return "reported_base"
    if HEADERS["reported"].search(header) and not HEADERS["instruction"].search(header):
        return "reported"
    if HEADERS["context"].search(header):
        return "context"
    if HEADERS["instruction"].search(header):
        return "instruction"
    return None


def _from_tables(document: Document) -> list[dict[str, str]]:
    items = []
    for table in document.tables:
        if len(table.rows) < 2:
            continue
        columns = [_column(cell) for cell in table.rows[0]]
        if "instruction" not in columns or not {"expected", "reported", "reported_base"} & set(columns):
            continue  # a table of questions with an expected answer, the group's model's answer or the base's
        for row in table.rows[1:]:
            item = {key: row[j].strip() for j, key in enumerate(columns) if key and j < len(row)}
            if item.get("instruction") and not looks_like_code(item["instruction"]):
                items.append({**item, "where": f"{document.file}, {table.where}"})
    return items


def _from_labels(document: Document) -> list[dict[str, str]]:
    items: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for block in document.blocks:
        if block.kind in ("table", "code"):
            continue
        pieces = LABELS.split(block.text)
        if len(pieces) < 3:
            continue
        for k in range(1, len(pieces) - 1, 2):
            label, value = pieces[k].lower(), pieces[k + 1].strip()
            if re.match(r"q\s?\d|question|instruction|질문", label):
                if current.get("instruction"):
                    items.append(current)
                # a prompt template or code ("Instruction: {ins}\n") starts nothing: what follows is not its answer
                code = looks_like_code(value) or looks_like_code(block.text)
                current = {} if code else {"instruction": value, "where": f"{document.file}, {block.where}"}
            elif current and re.match(r"context|문맥", label):
                current["context"] = value
            elif current and re.match(r"expected|reference|정답", label):
                current["expected"] = value
            elif current and re.match(r"base|베이스|기본|원본", label):
                current["reported_base"] = value
            elif current and re.match(r"answer|답", label) and "expected" not in current:
                current["expected"] = value  # "Answer:" next to a question is the expected one ...
            elif current:
                current["reported"] = value  # ... "Model answer:" (or a second "Answer:") is the model's
    if current.get("instruction"):
        items.append(current)
    return items


def tests_from(document: Document, system: str) -> list[Sample]:
    """The test questions the group showed, with their expected answers and the answers its model gave. A question
    shown only with the base and the fine-tuned model's answers (no expected one) is the group's own comparison: kept,
    with an empty expected answer, which scoring leaves unscored."""
    items = _from_tables(document) or _from_labels(document)
    return [
        Sample(
            system=system,
            instruction=item["instruction"],
            context=item.get("context", ""),
            answer=item.get("expected", ""),
            source=item["where"],
            reported=item.get("reported", ""),
            reported_base=item.get("reported_base", ""),
        )
        for item in items
        if not _placeholder(item) and (item.get("expected") or item.get("reported") or item.get("reported_base"))
    ]


PLACEHOLDER = re.compile(r"^\s*(tbd|todo|tba|n/?a|-+|…|\.\.\.|\?+|lorem ipsum.*|\(.*paste.*\))\s*\d*\s*$", re.I)
FILLER = re.compile(r"\b(lorem|ipsum|dolor|consectetur|adipiscing|eiusmod)\b", re.IGNORECASE)


def _placeholder(item: dict[str, str]) -> bool:
    """A row of a template left unfilled ("TBD 2 | TBD | TBD") or filler text (lorem ipsum): not a test question."""
    answers = [item.get(k, "") for k in ("expected", "reported", "reported_base")]
    unfilled = all(not a.strip() or PLACEHOLDER.match(a) for a in answers)
    return bool(PLACEHOLDER.match(item["instruction"]) or FILLER.search(item["instruction"]) or unfilled)


def whole_copy(document: Document, course: Material) -> str | None:
    """Why the whole document is the course's (the lecture deck handed in as the group's), or None."""
    most, share = course.share("\n".join(b.text for b in document.blocks))
    if share < WHOLE:
        return None
    return (
        f"the whole {'deck' if document.format == 'pptx' else 'document'} is copied from the course's {most} "
        f"({share:.0%} of its text is the course's), not the group's work"
    )


def without_course(document: Document, course: Material) -> tuple[Document, list[str]]:
    """The document without its passages (paragraphs, table rows) copied from the course's files, and what was
    left out, counted per course file."""
    sources = copied_blocks([b.text for b in document.blocks], course)
    blocks = [b for b, source in zip(document.blocks, sources, strict=True) if source is None]
    tables = [
        table.model_copy(
            update={"rows": [table.rows[0], *(r for r in table.rows[1:] if course.source(" | ".join(r)) is None)]}
        )
        for table in document.tables
        if table.rows
    ]
    return document.model_copy(update={"blocks": blocks, "tables": tables}), summary(sources)


def understand(document: Document, entries: list[dict[str, Any]], system: str) -> tuple[Writing, list[Sample]]:
    """What one document says: Part A per parameter, reflections, discussion, and the test Q&A it shows."""
    from grader.reading import stated
    from grader.reading.deliverable import images_said

    tests = tests_from(document, system)
    looked = (
        "no test Q&A found: looked for a table headed question / expected answer / model answer (or 질문 / 정답 / "
        "모델 답변) and for blocks labelled Q1, Question:, Expected:, Model answer:"
    )
    return (
        Writing(
            file=document.file,
            format=document.format,
            pages=document.pages,
            images=images_said(document),
            part_a=part_a(document, entries),
            reflections=_section(document, REFLECTIONS),
            discussion=_section(document, DISCUSSION),
            tests_found=len(tests),
            looked_for="" if tests else looked,
            loss=stated.loss(document),
            training_shown=stated.training_shown(document),
            notes=document.notes,
        ),
        tests,
    )


def read(
    group_dir: Path,
    deliverables: list[str],
    entries: list[dict[str, Any]],
    problems: list[Problem],
    course: Material | None = None,
    limits: DataLimits = DEFAULT_LIMITS,
) -> tuple[Writing, list[Sample]]:
    """Read the group's deliverable (the first document that can be read and is the group's own): without the
    passages copied from the course's files, and not at all when the whole document is the course's."""
    from grader.config import DEFAULT_SYSTEM
    from grader.reading import deliverable

    candidates = deliverable.choose(deliverables)
    skipped: list[str] = []
    for i, relative in enumerate(candidates):
        document = deliverable.read_bounded(group_dir, relative, problems, limits)
        if document is None:
            continue
        template = deliverable.is_template(document) or (whole_copy(document, course) if course else None)
        if template:
            skipped.append(f"{relative} not counted: {template}")
            continue
        copied: list[str] = []
        if course is not None:
            document, copied = without_course(document, course)
        writing, tests = understand(document, entries, DEFAULT_SYSTEM)
        update = {"others": candidates[i + 1 :], "skipped": skipped, "copied": copied}
        return writing.model_copy(update=update), tests
    looked = f"no report or slides found ({deliverable.formats_said()})" + (
        f"; {'; '.join(skipped)}" if skipped else ""
    )
    return Writing(skipped=skipped, looked_for=looked, part_a=part_a(Document(file="", format=""), entries)), []
