"""Builds the labelled reading corpus: `python -m tests.reading.build [FOLDER]` (default tests/reading/corpus/).

Every document of tests/reading/docs_*.py is written as the file a group hands in, and beside it
`<file>.truth.json`: for each of the 13 Part A parameters the words that answer each of the four questions and
where they are (None: not answered), whether the document is the group's own work, the test Q&A rows it shows and
the text that only looks like a question. The truth is what a careful TA reads (see tests/reading/spec.py), written
by hand with the content; this script only places it ('slide 3', 'page 2') and refuses a label whose words are not
in the document. The files are committed; tests/test_reading.py checks they are what this script writes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from tests.reading import docs_empty, docs_extra, docs_more, docs_prose, docs_tables
from tests.reading.spec import PARAMETERS, Answer, Doc
from tests.reading.writers import Places, write

CORPUS = Path(__file__).parent / "corpus"
DOCS: list[Doc] = sorted(
    [*docs_tables.DOCS, *docs_prose.DOCS, *docs_empty.DOCS, *docs_more.DOCS, *docs_extra.DOCS], key=lambda doc: doc.name
)


def _norm(text: str) -> str:
    return " ".join(text.split())


def locate(words: str, places: Places, file: str, scope: str = "") -> str:
    """Where the words are: the title, paragraph, table row or code box that holds them (within `scope` when
    given). Words found in two places are refused: the truth must say which passage answers."""
    found = {where for text, where in places if _norm(words) in _norm(text) and _norm(scope) in _norm(text)}
    if len(found) != 1:
        said = "are not in the document" if not found else f"are in several places ({sorted(found)})"
        raise ValueError(f"{file}: the truth quotes words that {said}: {words!r}")
    return found.pop()


def truth(doc: Doc, places: Places) -> dict[str, Any]:
    given = {answer.name: answer for answer in doc.answers}
    unknown = set(given) - set(PARAMETERS)
    if unknown or len(given) != len(doc.answers):
        raise ValueError(f"{doc.name}: unknown or repeated parameters in the truth: {sorted(unknown)}")
    if doc.not_group_work and (any(any(a.words().values()) for a in doc.answers) or doc.qa):
        raise ValueError(f"{doc.name}: {doc.not_group_work} earns nothing; its truth must answer nothing")
    part_a: dict[str, Any] = {}
    for name in PARAMETERS:
        answer = given.get(name, Answer(name))
        cells: dict[str, Any] = {
            question: None
            if words is None
            else {"words": words, "where": locate(words, places, doc.name, answer.scope)}
            for question, words in answer.words().items()
        }
        if answer.copied_from and any(answer.words().values()):
            raise ValueError(f"{doc.name}: {name} is copied from {answer.copied_from}; it answers nothing")
        part_a[name] = {**cells, "note": answer.note, "copied_from": answer.copied_from or None}
    return {
        "file": doc.name,
        "format": doc.format,
        "style": doc.style,
        "not_group_work": doc.not_group_work,
        "part_a": part_a,
        "qa": [
            {
                "question": qa.question,
                "expected": qa.expected,
                "base": qa.base,
                "answer": qa.answer,
                "where": locate(qa.question, places, doc.name),
            }
            for qa in doc.qa
        ],
        "not_qa": [{"text": n.text, "why": n.why, "where": locate(n.text, places, doc.name)} for n in doc.not_qa],
    }


def _check_pages(doc: Doc, path: Path) -> None:
    """A PDF page per corpus page, or the truth's 'page N' would point at the wrong page."""
    if doc.format != "pdf":
        return
    from pypdf import PdfReader

    pages = len(PdfReader(str(path)).pages)
    if pages != len(doc.pages):
        raise ValueError(f"{doc.name}: {pages} PDF pages for {len(doc.pages)} pages of content (a page overflowed)")


def main(root: Path | None = None) -> list[Path]:
    """Write every document and its truth; returns the paths written."""
    root = root or CORPUS
    root.mkdir(parents=True, exist_ok=True)
    names = [doc.name for doc in DOCS]
    if len(set(names)) != len(names) or not all(re.fullmatch(r"[\w.-]+", n) for n in names):
        raise ValueError(f"corpus names must be unique plain file names: {names}")
    written = []
    for doc in DOCS:
        path = root / doc.name
        places = write(doc, path)
        _check_pages(doc, path)
        label = root / f"{doc.name}.truth.json"
        label.write_text(json.dumps(truth(doc, places), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        written += [path, label]
    return written


if __name__ == "__main__":
    for written in main(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        print(written)
