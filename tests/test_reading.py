"""The labelled reading corpus (tests/reading/): the committed files are what its builder writes, and the
measurement of grader's reader against it runs over every file.

READER_FLOORS are the figures the reader reached when they were last raised (measured, rounded down): a change
that reads worse fails here. Whoever improves the reader raises them to the new measured values
(`nox -s reading` prints them); they are floors, not the issue's targets (precision and recall >= 0.9, exact Q&A
rows >= 0.95).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reading import build, measure

# measured on 2026-11-29 over the 19 documents with the structure-first reader (grader.reading.parta), without --course
# (the lecture deck g10 and the passages g16 copied from it are only recognised with the course's files: with
# `--course` naming the lecture deck, Part A precision is 0.99); before it (main at 50f61ee): P 0.70 R 0.60, exact 0.80
READER_FLOORS = {
    ("part_a", "overall", "precision"): 0.91,
    ("part_a", "overall", "recall"): 0.98,
    ("part_a", "what", "precision"): 0.90,
    ("part_a", "what", "recall"): 0.98,
    ("part_a", "effect", "precision"): 0.94,
    ("part_a", "effect", "recall"): 0.99,
    ("part_a", "range", "precision"): 0.88,
    ("part_a", "range", "recall"): 0.99,
    ("part_a", "why", "precision"): 0.92,
    ("part_a", "why", "recall"): 0.99,
    ("qa", "precision"): 0.98,
    ("qa", "recall"): 1.00,
    ("qa", "exact_match"): 1.00,
}


def _pdf_text(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(str(path)).pages]


def test_the_committed_corpus_is_what_the_builder_writes(tmp_path: Path) -> None:
    written = build.main(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in build.CORPUS.iterdir())
    for path in written:
        committed = build.CORPUS / path.name
        if path.suffix == ".pdf":  # PDF bytes carry grader's font subsets: the text is what must not drift
            assert _pdf_text(path) == _pdf_text(committed), path.name
        else:
            assert path.read_bytes() == committed.read_bytes(), f"{path.name}: run python -m tests.reading.build"


def test_the_corpus_has_every_style_the_issue_asks_for() -> None:
    formats = {doc.format for doc in build.DOCS}
    assert len(build.DOCS) >= 12 and formats == {"pptx", "pdf", "docx", "md"}
    assert any(doc.not_group_work for doc in build.DOCS) and any(doc.not_qa for doc in build.DOCS)
    assert any(answer.copied_from for doc in build.DOCS for answer in doc.answers)
    qa = [row for doc in build.DOCS for row in doc.qa]
    assert any(not row.expected for row in qa) and any(row.base for row in qa) and len(qa) >= 40


def test_a_label_whose_words_are_not_in_the_document_is_refused() -> None:
    places = [("learning_rate | step size | ↑ fast | 1e-4–3e-4 | 24 samples", "slide 2"), ("0.03", "slide 3")]
    assert build.locate("step size", places, "f.pptx") == "slide 2"
    with pytest.raises(ValueError, match="not in the document"):
        build.locate("controls the step", places, "f.pptx")
    with pytest.raises(ValueError, match="several places"):
        build.locate("3", places, "f.pptx")


def test_the_measurement_covers_the_whole_corpus_and_keeps_the_reader_above_its_floors(tmp_path: Path) -> None:
    result = measure.main(["--json", str(tmp_path / "reading.json")])
    assert result["files"] == len(build.DOCS)
    assert result["cells"] == len(build.DOCS) * 13 * 4
    assert {f["file"] for f in result["per_file"]} == {doc.name for doc in build.DOCS}
    assert result["qa"]["truth"] == sum(len(doc.qa) for doc in build.DOCS)
    assert (tmp_path / "reading.json").is_file()
    assert result["copied_passages"]["cells"] == 4 * sum(bool(a.copied_from) for d in build.DOCS for a in d.answers)
    assert {item["file"] for item in result["answers_nothing"]} >= {d.name for d in build.DOCS if d.not_group_work}
    below = {}
    for key, floor in READER_FLOORS.items():
        value = result[key[0]][key[1]] if len(key) == 2 else result[key[0]][key[1]][key[2]]
        if value < floor:
            below[key] = (value, floor)
    assert not below, f"the reader reads the corpus worse than before: {below}"
