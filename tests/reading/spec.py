"""What one corpus document is: its pages (a slide, a PDF page, a section of a Word file or a Markdown report) and
the truth a careful TA reads in it.

A page holds paragraphs (plain strings), tables and code boxes. The truth is written by hand beside the content:
for each Part A parameter the words that answer each of the assignment's four questions (None: not answered), the
test Q&A rows the group showed, and what looks like a question but is not one (code, prompts). The builder finds
every quoted word in the page it was written on, so a label cannot drift away from the document.

How a question counts as answered (the TA's reading, not a rule of the reader):
  what    the passage says what the parameter controls or is (a definition), not only its name or the value used
  effect  it says what raising or lowering it (or choosing one value over another) does
  range   it gives a usual value, a range or a default as such; the group's own value alone is not a range, and a
          value under a "typical range" header is
  why     it ties the parameter to this task: the geology / hyperspectral data, its size, its long paper contexts,
          the group's GPU or run (its step count, its log); "important" or "-" says nothing
Only the parameter's own passage counts (its row, its slide or bullet, its sentence in prose); a word in the
reflections, in code or in another parameter's passage answers nothing. Course material and the assignment's text
pasted back answer nothing: they are not the group's work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

QUESTIONS = ("what", "effect", "range", "why")
PARAMETERS = (
    "learning_rate",
    "num_train_epochs",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_length",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "include_mlp",
    "warmup_ratio",
    "lr_scheduler_type",
    "bf16",
    "logging_steps",
)


@dataclass(frozen=True)
class Table:
    rows: list[list[str]]


@dataclass(frozen=True)
class Code:
    """Monospace text on a slide or in a report: a script excerpt, a prompt template, a smoke test."""

    text: str


Element = str | Table | Code


@dataclass(frozen=True)
class Page:
    title: str
    body: Sequence[Element] = field(default_factory=list)
    notes: str = ""


@dataclass(frozen=True)
class Answer:
    """The truth for one parameter: for each question the group's words that answer it, or None."""

    name: str
    what: str | None = None
    effect: str | None = None
    range: str | None = None
    why: str | None = None
    note: str = ""
    scope: str = ""  # the passage the words are in (a table row's text), where the words alone are too common
    copied_from: str = ""  # the course material its passage is copied from (it then answers nothing)

    def words(self) -> dict[str, str | None]:
        return {"what": self.what, "effect": self.effect, "range": self.range, "why": self.why}


@dataclass(frozen=True)
class QA:
    """One test Q&A row as the group showed it ("" where the document has no such field)."""

    question: str
    expected: str = ""
    base: str = ""
    answer: str = ""


@dataclass(frozen=True)
class NotQA:
    """Text that looks like a test question but is not one (code, a prompt template, a smoke test)."""

    text: str
    why: str


@dataclass(frozen=True)
class Doc:
    name: str  # file name in the corpus, with its extension
    style: str  # how the group wrote it, in a line
    pages: list[Page]
    answers: list[Answer] = field(default_factory=list)  # parameters not listed answer nothing
    qa: list[QA] = field(default_factory=list)
    not_qa: list[NotQA] = field(default_factory=list)
    not_group_work: str | None = None  # what it is when it is not the group's own work (course material, ...)
    bullets: bool = False  # paragraphs are bullet points (slides, Word, Markdown)

    @property
    def format(self) -> str:
        return self.name.rsplit(".", 1)[-1]


def header_row(name: str, row: list[str], unanswered: tuple[str, ...] = (), note: str = "") -> Answer:
    """The truth of a table row whose columns after the first are the four questions in order: a cell answers its
    column's question, except those the TA judged not to (`unanswered`: empty, '-', vague, only the value used)."""
    cells = dict(zip(QUESTIONS, row[1:5], strict=True))
    words = {q: (None if q in unanswered or not cells[q].strip() else cells[q]) for q in QUESTIONS}
    return Answer(name, words["what"], words["effect"], words["range"], words["why"], note, " | ".join(row))


def qa_table(header: list[str], rows: list[QA], numbered: bool = False) -> Table:
    """A Q&A table with the columns the header names, in the order question, [expected], [base], answer."""
    fields = ["question"]
    lowered = " ".join(header).lower()
    if "expected" in lowered or "정답" in lowered or "reference" in lowered:
        fields.append("expected")
    if "base" in lowered or "베이스" in lowered:
        fields.append("base")
    fields.append("answer")
    body = [[*([str(i)] if numbered else []), *(getattr(qa, f) for f in fields)] for i, qa in enumerate(rows, 1)]
    assert len(header) == len(body[0]), (header, fields)
    return Table(rows=[header, *body])
