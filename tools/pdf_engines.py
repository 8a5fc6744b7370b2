"""Which PDF text engine reads the PDFs groups hand in: words of each corpus PDF's known text recovered by
pdfplumber, pypdf, PDFium, and grader's reader (PDFium text, pdfplumber tables, fallback per page).

    PYTHONPATH=. python tools/pdf_engines.py
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pdf_corpus import build


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.replace("\x00", "").lower())


def recall(text: str, want: str) -> float | None:
    wanted = Counter(_words(want))
    if not wanted:
        return None
    got = Counter(_words(text))
    return sum(min(n, got[w]) for w, n in wanted.items()) / sum(wanted.values())


def engines(path: Path) -> dict[str, str]:
    import pdfplumber
    import pypdfium2
    from pypdf import PdfReader

    from grader.reading import deliverable

    with pdfplumber.open(path) as pdf:
        plumbed = "\n".join(page.extract_text() or "" for page in pdf.pages)
    document = pypdfium2.PdfDocument(str(path))
    pdfium = "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    read = deliverable.read(path.parent, path.name, [])
    return {
        "pdfplumber": plumbed,
        "pypdf": "\n".join(page.extract_text() for page in PdfReader(path).pages),
        "pdfium": pdfium,
        "grader": "\n".join(b.text for b in read.blocks) if read else "",
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        corpus = build(Path(folder))
        names = ["pdfplumber", "pypdf", "pdfium", "grader"]
        print(f"{'PDF':30}" + "".join(f"{n:>14}" for n in names))
        for name, (path, want) in corpus.items():
            cells = []
            for text in engines(path).values():
                score = recall(text, want)
                mark = " NUL" if "\x00" in text else (" (cid)" if "(cid:" in text else "")
                cells.append(("nothing" if not text.strip() else "n/a" if score is None else f"{score:.2f}") + mark)
            print(f"{name:30}" + "".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main()
