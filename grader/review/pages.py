"""The pages: the class dashboard (reports/index.html, static, and `/` of the review server) and a group's review page.

Read only what `grader grade` wrote: gradebook.json (one row per group) and each group's results.json; the
corrections files (grader.review.corrections). Student text reaches HTML only through the report's own Jinja
environment (autoescape, the `clean` filter), and every page forbids scripts other than its own (a nonce in its
Content-Security-Policy): a `<script>` in a deck or a group's name is text.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import fmean, median
from typing import Any
from urllib.parse import quote

from grader.layout import REPORT_FILES, Layout, safe_name, templates_dir
from grader.outputs.gradebook import Row, read_results
from grader.reading.writing import QUESTION_TEXT
from grader.records import ParamAnswer, Results
from grader.review import cells as cellfile
from grader.review import corrections
from grader.storage import write_atomic

INDEX = "index.html"  # the dashboard, linked relatively from the static pages


def read_rows(out: Path) -> list[Row]:
    """The gradebook's rows as `grader grade` wrote them (gradebook.json); [] before the first run."""
    try:
        data = json.loads(Layout(out).gradebook_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    known = set(Row.__dataclass_fields__)
    return [Row(**{k: v for k, v in d.items() if k in known}) for d in data if isinstance(d, dict)]


def layout_of(out: Path, rows: list[Row]) -> Layout:
    """The output folders as the run assigned them (gradebook.json says each group's folder)."""
    return Layout(out, folders={r.group: r.folder or safe_name(r.group) for r in rows})


@dataclass
class Look:
    """One thing on the dashboard that needs the instructor's eye, with the words that raised it."""

    group: str
    kind: str  # status | flag | data | copied | shared | unsure
    text: str


@dataclass
class GroupLine:
    """A gradebook row as the dashboard shows it."""

    row: Row
    folder: str
    titles: dict[str, str]
    unsure: int = 0  # Part A parameters whose reading says "check it"
    corrected: int = 0  # cells the instructor corrected
    overridden: list[str] = field(default_factory=list)
    reviewed: bool = False
    files: dict[str, bool] = field(default_factory=dict)  # report.pdf, slides.pptx, report.html: present
    maxima: dict[str, float] = field(default_factory=dict)  # each rubric item's points, as the group was graded

    @property
    def priority(self) -> int:
        """How much this group needs a look: failed groups first, then unsure readings and flags."""
        failed = 100 if self.row.status not in ("graded", "missing") else 0
        return failed + 10 * self.unsure + 5 * len(self.row.flags) + 5 * len(self.row.data_flags)


def group_lines(out: Path) -> tuple[list[GroupLine], list[str], dict[str, str]]:
    """Every group's line, the rubric item ids (gradebook order) and their titles."""
    rows = read_rows(out)
    layout = layout_of(out, rows)
    marks = corrections.reviewed(out)
    cells = _cells_or_empty(out, [r.group for r in rows])
    titles: dict[str, str] = {}
    lines = []
    for r in rows:
        results = read_results(layout.results(r.group))
        grade = results.grade if results else None
        titles.update({i.id: i.title for i in grade.items} if grade else {})
        folder = layout.group_dir(r.group).name
        lines.append(
            GroupLine(
                row=r,
                folder=folder,
                titles=titles,
                unsure=sum(bool(a.unsure) for a in _part_a(results)),
                corrected=len(cells.get(r.group, {})),
                overridden=[i.id for i in grade.items if i.automatic is not None] if grade else [],
                reviewed=bool(marks.get(r.group, {}).get("reviewed")),
                files={f: (layout.group_dir(r.group) / f).is_file() for f in REPORT_FILES if not f.endswith(".png")},
                maxima={i.id: i.max_points for i in grade.items} if grade else {},
            )
        )
    ids = list(dict.fromkeys(i for r in rows for i in r.items))
    return lines, ids, titles


def _cells_or_empty(out: Path, groups: list[str]) -> cellfile.Cells:
    try:
        return corrections.load_cells(out, groups)
    except Exception:  # a hand-edited file with an error: `grader grade` names the line; the dashboard still opens
        return {}


def _part_a(results: Results | None) -> list[ParamAnswer]:
    writing = results.validation.writing if results and results.validation else None
    return writing.part_a if writing and writing.file else []


def looks(out: Path, lines: list[GroupLine]) -> list[Look]:
    """What needs a look, class-wide: failed groups with their reason, claims that disagree with measurements,
    off-domain data, course material handed in, groups sharing data or text, unsure readings."""
    found = []
    for line in lines:
        r = line.row
        if r.status not in ("graded",):
            found.append(Look(r.group, "status", f"{r.status}: {r.reason}"))
        elif "copied from the course" in r.reason or "course's" in r.reason:
            found.append(Look(r.group, "copied", r.reason))
        found += [Look(r.group, "flag", f) for f in r.flags]
        found += [Look(r.group, "data", f) for f in r.data_flags]
        if line.unsure:
            found.append(Look(r.group, "unsure", f"{line.unsure} Part A reading(s) marked unsure: check them"))
    found += [Look(" & ".join(o.get("groups", [])), "shared", o.get("text", "")) for o in _overlaps(out)]
    return found


def _overlaps(out: Path) -> list[dict[str, Any]]:
    """Groups sharing data or text, as the class summary found them (summary.json)."""
    try:
        data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    shown = []
    for o in data.get("overlaps", []) if isinstance(data, dict) else []:
        if isinstance(o, dict):
            groups = [str(g) for g in o.get("groups", []) if isinstance(g, str)]
            shown.append({"groups": groups, "text": str(o.get("said") or "share data or text")})
    return shown


# The plots, drawn here as inline SVG: no image file, no script, nothing fetched.
def histogram(totals: list[float], top: float, width: int = 420, height: int = 150) -> dict[str, Any]:
    """Bars of how many groups earned each range of points (10 bins from 0 to the maximum)."""
    bins = 10
    step = (top or 1) / bins
    counts = [0] * bins
    for t in totals:
        counts[min(int(t / step), bins - 1)] += 1
    most = max(counts, default=0) or 1
    bar = (width - 40) / bins
    bars = [
        {
            "x": 30 + i * bar,
            "w": bar - 2,
            "h": (height - 40) * n / most,
            "y": height - 20 - (height - 40) * n / most,
            "n": n,
            "label": f"{i * step:g}–{(i + 1) * step:g}",
        }
        for i, n in enumerate(counts)
    ]
    return {"width": width, "height": height, "bars": bars, "top": top, "most": most}


def item_means(lines: list[GroupLine], ids: list[str], titles: dict[str, str]) -> list[dict[str, Any]]:
    """The class mean of each rubric item, as a share of its points (graded groups only)."""
    graded = [line for line in lines if line.row.status == "graded"]
    maxima = {i: m for line in lines for i, m in line.maxima.items()}
    means = []
    for i in ids:
        values = [line.row.items.get(i, 0.0) for line in graded]
        mean = sum(values) / len(values) if values else 0.0
        top = maxima.get(i) or 1.0
        means.append({"id": i, "title": titles.get(i, i), "mean": mean, "max": top, "share": min(mean / top, 1.0)})
    return means


@dataclass(frozen=True)
class Links:
    """Where the pages point: files beside index.html (static) or the review server's routes (with its token)."""

    token: str = ""

    @property
    def served(self) -> bool:
        return bool(self.token)

    def file(self, folder: str, name: str) -> str:
        if self.served:
            return f"/files/{quote(folder)}/{quote(name)}?token={self.token}"
        return f"{quote(folder)}/{quote(name)}"

    def group(self, folder: str) -> str:
        return f"/group/{quote(folder)}?token={self.token}" if self.served else self.file(folder, "report.html")

    def home(self) -> str:
        return f"/?token={self.token}" if self.served else INDEX

    def fonts(self) -> str:
        """@font-face rules for the fonts grader ships (Hangul included), served by the review server; the static
        page uses the machine's fonts (a file:// page may not read the package's files)."""
        from grader.outputs import fonts

        if not self.served:
            return ""
        return "\n".join(
            f'@font-face {{ font-family: "{face.family}"; src: url("/fonts/{i}?token={self.token}"); '
            f"font-weight: {'bold' if face.bold else 'normal'}; font-style: {'italic' if face.italic else 'normal'}; }}"
            for i, face in enumerate(fonts.faces())
        )


def dashboard(out: Path, links: Links, nonce: str) -> str:
    from grader.outputs import render

    lines, ids, titles = group_lines(out)
    top = max((line.row.max_total for line in lines), default=0.0)
    totals = [line.row.total for line in lines if line.row.status == "graded"]
    context = {
        "stats": {"mean": round(fmean(totals), 2), "median": round(median(totals), 2), "n": len(totals)}
        if totals
        else None,
        "lines": lines,
        "ids": ids,
        "titles": titles,
        "looks": looks(out, lines),
        "histogram": histogram(totals, top),
        "means": item_means(lines, ids, titles),
        "links": links,
        "nonce": nonce,
        "script": _asset("dashboard.js"),
        "style": links.fonts() + _asset("review.css"),
        "statuses": sorted({line.row.status for line in lines}),
        "next": next_group(lines, ""),
    }
    return render.render_template("review/dashboard.html.j2", context)


def next_group(lines: list[GroupLine], current: str) -> GroupLine | None:
    """The group to review next: not yet reviewed, the one that needs a look most first (then by name)."""
    waiting = [line for line in lines if not line.reviewed and line.row.group != current]
    return min(waiting, key=lambda line: (-line.priority, line.row.group), default=None)


def _asset(name: str) -> str:
    return (templates_dir() / "review" / name).read_text(encoding="utf-8")


def write_static(layout: Layout) -> Path:
    """reports/index.html: the dashboard as a file that opens from anywhere (file://, a CI artifact)."""
    path = layout.index_html
    write_atomic(path, dashboard(layout.out, Links(), secrets.token_urlsafe(16)).encode())
    return path


REPORT_SCREEN_CSS = """
@media screen { body { max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; }
  .title-page { padding-top: 0; } }
"""


def report_page(html: str) -> str:
    """The report's own HTML (what report.pdf is printed from) as a page for a browser: its stylesheet inlined and no
    script allowed at all, whatever the student text holds."""
    css = (templates_dir() / "report.css").read_text(encoding="utf-8") + REPORT_SCREEN_CSS
    policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"
    head = f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n<style>{css}</style>'
    return re.sub(r'<link rel="stylesheet" href="report.css">', lambda _: head, html, count=1)


# -- a group's review page -------------------------------------------------------------------------------------


@dataclass
class GridCell:
    question: str
    label: str
    automatic: bool
    shown: bool  # the instructor's correction where there is one, else the automatic reading
    corrected: bool
    comment: str
    evidence: str


@dataclass
class GridRow:
    name: str
    where: str
    segments: list[tuple[str, str]]  # (text, question key whose decisive words these are, or "")
    unsure: str
    cells: list[GridCell]


def grid(answers: list[ParamAnswer], mine: dict[tuple[str, str], cellfile.Cell]) -> list[GridRow]:
    """The 13 x 4 Part A grid: each parameter's passage with the decisive words marked, each cell's reading."""
    by_name = {a.name: a for a in answers}
    rows = []
    for name in cellfile.parameters():
        a = by_name.get(name) or ParamAnswer(name=name)
        row_cells = []
        for q, label in QUESTION_TEXT.items():
            auto = bool(a.answered.get(q))
            fix = mine.get((name, q))
            row_cells.append(
                GridCell(
                    question=q,
                    label=label,
                    automatic=auto,
                    shown=fix.answered if fix else auto,
                    corrected=fix is not None,
                    comment=fix.comment if fix else "",
                    evidence=a.evidence.get(q, ""),
                )
            )
        rows.append(GridRow(name, a.where, marked(a.excerpt, a.evidence), a.unsure, row_cells))
    return rows


def marked(text: str, evidence: dict[str, str]) -> list[tuple[str, str]]:
    """`text` cut into pieces, each decisive phrase (found as written, any case) tagged with its question."""
    spans: list[tuple[int, int, str]] = []
    lowered = text.lower()
    for q, words in evidence.items():
        words = words.strip().strip("…").strip()
        at = lowered.find(words.lower()) if words else -1
        if at >= 0 and not any(s < at + len(words) and at < e for s, e, _ in spans):
            spans.append((at, at + len(words), q))
    pieces, pos = [], 0
    for start, end, q in sorted(spans):
        pieces += [(text[pos:start], ""), (text[start:end], q)]
        pos = end
    pieces.append((text[pos:], ""))
    return [p for p in pieces if p[0]]


def group_page(out: Path, folder: str, links: Links, nonce: str) -> str | None:
    """A group's review page: its rubric items with their evidence, the Part A grid, the report below; None when
    no group has this output folder."""
    from grader.outputs import render

    lines, _, _ = group_lines(out)
    line = next((g for g in lines if g.folder == folder), None)
    if line is None:
        return None
    layout = layout_of(out, [g.row for g in lines])
    results = read_results(layout.results(line.row.group))
    mine = _cells_or_empty(out, [g.row.group for g in lines]).get(line.row.group, {})
    context = {
        "line": line,
        "results": results,
        "grade": results.grade if results else None,
        "grid": grid(_part_a(results), mine),
        "read_from": results.validation.writing.file
        if results and results.validation and results.validation.writing
        else None,
        "questions": QUESTION_TEXT,
        "links": links,
        "nonce": nonce,
        "script": _asset("group.js"),
        "style": links.fonts() + _asset("review.css"),
        "next": next_group(lines, line.row.group),
        "overrides": _overrides_of(out, line.row.group),
    }
    return render.render_template("review/group.html.j2", context)


def _overrides_of(out: Path, group: str) -> dict[str, dict[str, Any]]:
    """This group's manual points, read as written (the loader checks them when the group is re-rendered)."""
    import csv

    try:
        with Layout(out).overrides_csv.open(encoding="utf-8-sig", newline="") as fh:
            return {r["item"]: dict(r) for r in csv.DictReader(fh) if r.get("group") == group and r.get("item")}
    except (OSError, UnicodeDecodeError, csv.Error, KeyError):
        return {}


def line_json(line: GroupLine) -> dict[str, Any]:
    return {"group": line.row.group, "folder": line.folder, "reviewed": line.reviewed, **asdict(line.row)}
