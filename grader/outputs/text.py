"""text: student text made safe to show, shared by the report, the deck and the plots (a leaf: no grader imports).

Control characters and overlong "words" out, Markdown to allowlisted HTML, the word diff of an answer against the
expected one, and the shortening of long text for a slide or a page.
"""

from __future__ import annotations

import re

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

# Symbol fonts (Wingdings, Symbol) put their glyphs in Unicode's private use area, U+F020-U+F0FF for the font's byte
# 0x20-0xFF: a deck's "" is Wingdings' right arrow. Out of that font no one can draw or search it, and a report
# that carries it gets a font with a custom encoding (its whole text layer unreadable to pypdf and pdfplumber).
# These are the ones decks use for bullets, arrows and checks, as their Unicode meaning; Symbol's and Wingdings'
# codes that mean different things in the two fonts are left out.
SYMBOL_FONT = {
    "\uf0b7": "•",  # Symbol: bullet (Word's and PowerPoint's default bullet)
    "\uf0ae": "→",  # Symbol: arrows
    "\uf0ac": "←",
    "\uf0ad": "↑",
    "\uf0af": "↓",
    "\uf0de": "⇒",
    "\uf0dc": "⇐",
    "\uf0db": "⇔",
    "\uf0b3": "≥",  # Symbol: relations
    "\uf0a3": "≤",
    "\uf0b4": "×",
    "\uf0b1": "±",
    "\uf06c": "●",  # Wingdings: bullets
    "\uf06e": "■",
    "\uf06f": "□",
    "\uf071": "❑",
    "\uf075": "◆",
    "\uf076": "❖",
    "\uf0a7": "▪",
    "\uf0a8": "◻",
    "\uf0d8": "➢",
    "\uf046": "☞",
    "\uf0df": "←",  # Wingdings: arrows
    "\uf0e0": "→",
    "\uf0e1": "↑",
    "\uf0e2": "↓",
    "\uf0e8": "➔",
    "\uf0f0": "⇨",
    "\uf0fb": "✗",  # Wingdings: ballot x, check mark, boxes
    "\uf0fc": "✓",
    "\uf0fd": "☒",
    "\uf0fe": "☑",
    "\uf04a": "☺",
    "\uf04c": "☹",
}
_SYMBOL = re.compile("[" + "".join(SYMBOL_FONT) + "]")


def symbols(text: str) -> str:
    """Symbol-font characters (private use area) as what they mean: "" -> "→" (others are left for the
    renderer, which names or drops what no font draws)."""
    return _SYMBOL.sub(lambda m: SYMBOL_FONT[m.group(0)], text)


def clean_text(text: str) -> str:
    """Drop control characters and lone surrogates that break XML (PPTX) and PDF text, write symbol-font
    characters as their meaning, and cut a "word" of over 200 characters (line breaking one of 40,000 characters
    took WeasyPrint minutes)."""
    return LONG_WORD.sub(lambda m: m.group(0)[:200] + "…", symbols(CONTROL.sub("", text)))


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


def shorten(text: str, limit: int) -> str:
    text = " ".join(clean_text(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def shorten_block(text: str, limit: int) -> str:
    """Cut Markdown at a line boundary near `limit` characters."""
    text = clean_text(text)
    if len(text) <= limit:
        return text
    return text[:limit].rsplit("\n", 1)[0] + "\n\n… (cut here; the PDF report has the whole text)"


REPORT_SHOWN = 100_000  # characters of the group's Markdown reproduced in the PDF (a 30,000-row table is 1 MB)


def shown_report(text: str, quoted: list[re.Pattern[str]] | None = None) -> str:
    """The group's Markdown as it wrote it, capped, without the sections whose headings match `quoted` (the report
    shows those once, in their own sections)."""
    text = without_sections(text, quoted) if quoted else text
    if len(text) <= REPORT_SHOWN:
        return text
    cut = text[:REPORT_SHOWN].rsplit("\n", 1)[0]
    return f"{cut}\n\n*(the rest, {len(text) - len(cut):,} characters, is in the group's file)*"


HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def without_sections(text: str, headings: list[re.Pattern[str]]) -> str:
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


def shown_text(html: str) -> str:
    """The text a reader sees in an HTML page (tags out, entities decoded)."""
    import html as entities

    return entities.unescape(re.sub(r"<[^>]*>", " ", html))
