"""How well grader reads a group's deliverable, measured on the labelled corpus (tests/reading/corpus/):
`python -m tests.reading.measure [--json reports/reading.json] [--corpus DIR]` or `nox -s reading`.

Every corpus file is read by grader's own reader (grader.reading.writing.read: the deliverable reader, then Part A, the
test Q&A) and compared with the truth beside it (<file>.truth.json, a careful TA's reading, see
tests/reading/spec.py). It prints and writes as JSON:
  - Part A: precision and recall per question (what / effect / range / why) and overall, over every
    (file, parameter, question) cell; a cell is positive when the question is answered;
  - Q&A: rows matched by their question, the precision and recall of those rows, and the exact-match rate: truth
    rows whose question, expected, base and model answer all agree; texts are compared without their whitespace (a
    PDF's line wrap inside a Korean word reads as a space no one wrote); for slides and pages, how many matched
    rows name the truth's slide or page;
  - what the reader gives to documents that answer nothing (course material, the assignment pasted back, lorem):
    the share of Part A and of the tests item it would award; and how many Part A cells it credits to passages a
    group copied from the course's material into its own deck;
  - every disagreement: file, parameter, question, reader vs truth, the reader's evidence words and place.
This module imports only grader and the standard library, so it also runs as a plain script.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus"
QUESTIONS = ("what", "effect", "range", "why")
TESTS_MIN = 5  # the rubric's `tests` item: n / 5 of its points


def read_one(corpus: Path, name: str, course: Path | None = None) -> tuple[Any, list[Any]]:
    """The reader as the pipeline runs it on one group's deliverable: (Writing, test Samples); with `course`, as
    `grader grade --course DIR` runs it (the course's own files recognised)."""
    from grader.config import part_a_entries
    from grader.reading import material, writing

    known = material.load(str(course.resolve())) if course else None
    return writing.read(corpus, [name], part_a_entries(), [], known)


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, reader: bool, truth: bool) -> None:
        self.tp += reader and truth
        self.fp += reader and not truth
        self.fn += truth and not reader

    def figures(self) -> dict[str, float | int]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        return {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def _norm(text: str) -> str:
    return " ".join(text.split())


def _same(a: str, b: str) -> bool:
    return "".join(a.split()) == "".join(b.split())


def _rows(samples: list[Any]) -> list[dict[str, str]]:
    return [
        {
            "question": s.instruction,
            "expected": s.answer,
            "base": s.reported_base,
            "answer": s.reported,
            "where": s.source,
        }
        for s in samples
    ]


def _compare_qa(truth: list[dict[str, str]], found: list[dict[str, str]], fmt: str) -> dict[str, Any]:
    """Rows paired by their normalised question; a truth row pairs with at most one row of the reader's."""
    unused = list(range(len(found)))
    matched = exact = placed = paged = 0
    misses: list[dict[str, Any]] = []
    for row in truth:
        pair = next((i for i in unused if _same(found[i]["question"], row["question"])), None)
        if pair is None:
            misses.append({"truth": row, "reader": None})
            continue
        unused.remove(pair)
        matched += 1
        other = found[pair]
        same = all(_same(other[key], row[key]) for key in ("expected", "base", "answer"))
        exact += same
        if fmt in ("pptx", "pdf"):
            paged += 1
            placed += other["where"].rsplit(", ", 1)[-1] == row["where"]
        if not same:
            misses.append({"truth": row, "reader": other})
    extra = [found[i] for i in unused]
    return {
        "truth": len(truth),
        "found": len(found),
        "matched": matched,
        "exact": exact,
        "paged": paged,
        "placed": placed,
        "misses": misses,
        "extra": extra,
    }


def measure(corpus: Path = CORPUS, course: Path | None = None) -> dict[str, Any]:
    labels = sorted(corpus.glob("*.truth.json"))
    per_question = {q: Tally() for q in QUESTIONS}
    overall = Tally()
    disagreements: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    qa_total = {"truth": 0, "found": 0, "matched": 0, "exact": 0, "paged": 0, "placed": 0}
    qa_misses: list[dict[str, Any]] = []
    answers_nothing: list[dict[str, Any]] = []
    copied = {"cells": 0, "credited": 0}
    cells = 0
    for label in labels:
        truth = json.loads(label.read_text(encoding="utf-8"))
        written, tests = read_one(corpus, truth["file"], course)
        own = {p.name: p for p in written.part_a}
        credited = truth_count = 0
        for name, labelled in truth["part_a"].items():
            answer = own.get(name)
            for q in QUESTIONS:
                said = bool(answer and answer.answered.get(q))
                true = labelled[q] is not None
                cells += 1
                if labelled.get("copied_from"):
                    copied["cells"] += 1
                    copied["credited"] += said
                per_question[q].add(said, true)
                overall.add(said, true)
                credited += said
                truth_count += true
                if said != true:
                    disagreements.append(
                        {
                            "file": truth["file"],
                            "parameter": name,
                            "question": q,
                            "reader": said,
                            "truth": true,
                            "reader_words": (answer.evidence.get(q, "") if answer else ""),
                            "reader_where": answer.where if answer else "",
                            "truth_words": labelled[q]["words"] if labelled[q] else "",
                            "truth_where": labelled[q]["where"] if labelled[q] else "",
                            "note": labelled["note"],
                        }
                    )
        qa = _compare_qa(truth["qa"], _rows(tests), truth["format"])
        for key in qa_total:
            qa_total[key] += qa[key]
        qa_misses += [{"file": truth["file"], **m} for m in qa["misses"]]
        qa_misses += [{"file": truth["file"], "truth": None, "reader": row} for row in qa["extra"]]
        summary = {
            "file": truth["file"],
            "read": written.file,
            "part_a_truth": truth_count,
            "part_a_reader": credited,
            "qa_truth": qa["truth"],
            "qa_found": qa["found"],
            "qa_exact": qa["exact"],
            "not_group_work": truth["not_group_work"],
            "skipped": written.skipped,
        }
        files.append(summary)
        if truth_count == 0 and not truth["qa"]:
            answers_nothing.append(
                {
                    "file": truth["file"],
                    "what": truth["not_group_work"] or "the group's own, empty",
                    "part_a_share": round(credited / (4 * len(truth["part_a"])), 4),
                    "tests_share": round(min(len(tests) / TESTS_MIN, 1.0), 4),
                }
            )
    rows = qa_total
    return {
        "files": len(labels),
        "cells": cells,
        "part_a": {"overall": overall.figures(), **{q: t.figures() for q, t in per_question.items()}},
        "qa": {
            **rows,
            "precision": round(rows["matched"] / rows["found"], 4) if rows["found"] else 1.0,
            "recall": round(rows["matched"] / rows["truth"], 4) if rows["truth"] else 1.0,
            "exact_match": round(rows["exact"] / rows["truth"], 4) if rows["truth"] else 1.0,
        },
        "answers_nothing": answers_nothing,
        "copied_passages": copied,
        "per_file": files,
        "disagreements": disagreements,
        "qa_disagreements": qa_misses,
    }


def _cut(text: str, n: int = 70) -> str:
    text = _norm(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def report(result: dict[str, Any]) -> str:
    lines = [
        f"Reading corpus: {result['files']} documents, {result['cells']} Part A cells (file x parameter x question)"
    ]
    lines.append("")
    lines.append(f"{'Part A':<10}{'precision':>10}{'recall':>8}{'tp':>6}{'fp':>5}{'fn':>5}")
    for key in ("overall", *QUESTIONS):
        f = result["part_a"][key]
        lines.append(f"{key:<10}{f['precision']:>10.3f}{f['recall']:>8.3f}{f['tp']:>6}{f['fp']:>5}{f['fn']:>5}")
    qa = result["qa"]
    lines += [
        "",
        f"Q&A rows: truth {qa['truth']}, read {qa['found']}, matched by question {qa['matched']} "
        f"(precision {qa['precision']:.3f}, recall {qa['recall']:.3f}); exact rows {qa['exact']} "
        f"(exact-match rate {qa['exact_match']:.3f}); on slides/pages {qa['placed']} of {qa['paged']} matched rows "
        "name the right slide/page",
        "",
        "Documents that answer nothing (what the reader would award):",
    ]
    for item in result["answers_nothing"]:
        lines.append(
            f"  {item['file']:<32} {item['what']:<28} Part A {item['part_a_share']:.2f}, "
            f"tests {item['tests_share']:.2f}"
        )
    copied = result["copied_passages"]
    lines.append(
        f"  Part A passages copied from course material into a group's own deck: {copied['credited']} of "
        f"{copied['cells']} cells credited"
    )
    lines += ["", "Per file: Part A cells truth / reader, Q&A rows truth / read / exact"]
    for f in result["per_file"]:
        lines.append(
            f"  {f['file']:<32} {f['part_a_truth']:>3} / {f['part_a_reader']:<3}  "
            f"{f['qa_truth']} / {f['qa_found']} / {f['qa_exact']}"
            + (f"  skipped: {f['skipped']}" if f["skipped"] else "")
        )
    lines += ["", f"Part A disagreements ({len(result['disagreements'])}):"]
    for d in result["disagreements"]:
        verdict = "reader credits, truth not" if d["reader"] else "truth answers, reader not"
        lines.append(
            f"  {d['file']} · {d['parameter']} · {d['question']}: {verdict}; reader words "
            f"{_cut(d['reader_words'], 30)!r} ({d['reader_where'] or 'no passage'}); truth "
            f"{_cut(d['truth_words'], 50)!r} {d['truth_where']}"
        )
    lines += ["", f"Q&A disagreements ({len(result['qa_disagreements'])}):"]
    for m in result["qa_disagreements"]:
        if m["reader"] is None:
            lines.append(f"  {m['file']}: not read: {_cut(m['truth']['question'])!r} ({m['truth']['where']})")
        elif m["truth"] is None:
            lines.append(
                f"  {m['file']}: read but no test row: {_cut(m['reader']['question'])!r} ({m['reader']['where']})"
            )
        else:
            fields = [k for k in ("expected", "base", "answer") if not _same(m["truth"][k], m["reader"][k])]
            detail = "; ".join(f"{k} {_cut(m['reader'][k], 40)!r} vs {_cut(m['truth'][k], 40)!r}" for k in fields)
            lines.append(f"  {m['file']}: {_cut(m['truth']['question'], 50)!r}: {detail}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--json", type=Path, default=Path("reports/reading.json"), help="where the figures go")
    parser.add_argument("--course", type=Path, default=None, help="the course's own files, as grade --course")
    args = parser.parse_args(argv)
    result = measure(args.corpus, args.course)
    print(report(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"\nfigures written to {args.json}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
