"""Points in the forms CI and graders read: GitHub Classroom's runner result and notices, a job-summary table,
Gradescope's results.json; and the workflow file `grader init-ci` writes.

A rubric item is a Classroom "test": `pass` exactly when it earned all its points, `fail` otherwise (partial
credit included, with the points it did earn), so a test's status never contradicts its score.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from grader import __version__
from grader.records import GradeRecord, GroupStatus
from grader.storage import write_atomic

ACTION_REF = re.compile(r"^(?:[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[\w./-]+|\./[\w./-]*)$")
WORKFLOW = Path(".github") / "workflows" / "grader.yml"


def _points(value: float) -> float | int:
    value = round(value, 2)
    return int(value) if value == int(value) else value


def _half_up(value: float) -> int:
    return math.floor(round(value, 6) + 0.5)


def whole_points(points: list[float], maxima: list[float]) -> list[int]:
    """Whole points per item that add up to the total rounded half up.

    GitHub Classroom's grade export turns fractional points into 0 (education/gh-classroom#83: 3.0000000000000004/4
    was exported as 0), so everything sent to Classroom is a whole number. The rule: the total is rounded half up;
    every item gets its points rounded down, and the items with the largest remainders get one point more each until
    the items add up to that total (never above an item's own whole maximum). The gradebook keeps the exact points.
    """
    caps = [_half_up(m) for m in maxima]
    whole = [min(math.floor(round(p, 6)), cap) for p, cap in zip(points, caps, strict=True)]
    short = _half_up(sum(points)) - sum(whole)
    order = sorted(range(len(points)), key=lambda i: (-(round(points[i], 6) - whole[i]), i))
    for i in order:
        if short <= 0:
            break
        if whole[i] < caps[i] and points[i] > whole[i]:
            whole[i] += 1
            short -= 1
    return whole


def runner_result(grade: GradeRecord | None, status: GroupStatus, reason: str) -> dict[str, Any]:
    """The JSON a Classroom test runner reports (version, status, max_score, tests[]), in whole points."""
    items = grade.items if grade else []
    scores = whole_points([i.points for i in items], [i.max_points for i in items])
    tests = [
        {
            "name": item.title,
            "status": "pass" if item.points >= item.max_points else "fail",
            "score": score,
            "max_score": _half_up(item.max_points),
            "message": (f"{item.points:g}/{item.max_points:g} exactly: " if score != item.points else "")
            + item.reason
            + (f" [decided by: {item.evidence}]" if item.evidence else ""),
            "test_code": item.id,
            "filename": "",
            "line_no": 0,
            "execution_time": "0ms",
        }
        for item, score in zip(items, scores, strict=True)
    ]
    if status in ("error", "timeout") or grade is None:
        overall = "error"
    else:
        overall = "pass" if all(t["status"] == "pass" for t in tests) else "fail"
    return {
        "version": 1,
        "status": overall,
        "max_score": sum(t["max_score"] for t in tests),
        "tests": tests,
        "grader": {
            "version": __version__,
            "status": status,
            "reason": reason,
            "exact_points": _points(grade.total) if grade else 0,
            "exact_max": _points(grade.max_total) if grade else 0,
            # items a preview on the demo model cannot measure: 0 here, decided by the instructor's real run
            "pending": [{"id": i.id, "title": i.title, "max_points": i.max_points} for i in items if i.pending],
        },
    }


def total(result: dict[str, Any]) -> float | int:
    """Points earned: the sum of the tests' scores, as the Classroom reporter adds them up."""
    return _points(sum(t["score"] for t in result["tests"]))


def encoded(result: dict[str, Any]) -> str:
    """Base64 of the runner result: what classroom-resources/autograding-grading-reporter reads from `<ID>_RESULTS`."""
    return base64.b64encode(json.dumps(result, ensure_ascii=False).encode()).decode()


def pending_line(result: dict[str, Any]) -> str:
    """One line on the items only the instructor's run on the real base model measures ('' when there are none)."""
    pending = result["grader"].get("pending", [])
    if not pending:
        return ""
    top = _points(sum(p["max_points"] for p in pending))
    names = ", ".join(p["title"] for p in pending)
    return (
        f"{top} point(s) are not measured here ({names}): the instructor's run on the real base model measures them; "
        "every other point comes from the group's own evidence (its logs, adapter and report)"
    )


def notices(result: dict[str, Any]) -> list[str]:
    """The two workflow-command lines GitHub Classroom reads the points from."""
    earned, top = total(result), result["max_score"]
    report = json.dumps({"totalPoints": earned, "maxPoints": top}, separators=(",", ":"))
    later = pending_line(result)
    return [
        f"::notice title=Autograding complete::Points {earned}/{top}" + (f" ({later})" if later else ""),
        f"::notice title=Autograding report::{report}",
    ]


def _cell(text: str, limit: int = 300) -> str:
    """Markdown table cell: one line, pipes and markup neutralized (student text can reach a reason); cut at a word
    with an ellipsis when over `limit` (the whole reason is in the folded list below the table)."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: text.rfind(" ", 0, limit - 1) if " " in text[: limit - 1] else limit - 1] + "…"
    return re.sub(r"([\\`*_\[\]<>|~])", r"\\\1", text)


def _html(text: str) -> str:
    """Text for the folded <details> block: HTML-escaped, so a reason quoting student text stays text."""
    import html

    return html.escape(" ".join(str(text).split()), quote=False)


def mark(test: dict[str, Any], pending: bool) -> str:
    """✅ all the item's points, 🟡 partial credit, ❌ none, ⏳ measured by the instructor's run."""
    if pending:
        return "⏳"
    if test["status"] == "pass":
        return "✅"
    exact = re.match(r"([\d.]+)/[\d.]+ exactly: ", test["message"])  # whole points round 0.4 down to 0
    return "🟡" if test["score"] > 0 or (exact and float(exact.group(1)) > 0) else "❌"


def summary_markdown(group: str, result: dict[str, Any], report: str, slides: str) -> str:
    """The job summary: status, points, one row per rubric item, where the report and deck are."""
    info = result["grader"]
    lines = [
        f"## grader: {_cell(group)}",
        "",
        f"**{total(result)} / {result['max_score']} points** · status `{info['status']}`"
        + (f" · {_cell(info['reason'])}" if info["reason"] else ""),
        "",
        "| rubric item | points | why |",
        "|---|---:|---|",
    ]
    pending_ids = {p["id"] for p in info.get("pending", [])}
    for t in result["tests"]:
        sign = mark(t, t["test_code"] in pending_ids)
        lines.append(f"| {sign} {_cell(t['name'])} | {t['score']} / {t['max_score']} | {_cell(t['message'], 160)} |")
    lines += [
        "",
        "<details><summary>Every reason in full</summary>",
        "",
        *[
            f"- **{_html(t['name'])}** ({t['score']} / {t['max_score']}): {_html(t['message'])}"
            for t in result["tests"]
        ],
        "",
        "</details>",
        "",
        f"The report (`{Path(report).name}`) and the deck (`{Path(slides).name}`) are in this run's artifacts.",
        "Points come from the group's own evidence (its logs, committed adapter, report or slides); grader's own "
        "runs on CPU only check the pipeline.",
        *([f"⏳ {pending_line(result)}."] if pending_line(result) else []),
        "",
    ]
    return "\n".join(lines)


def terminal_lines(grade: GradeRecord | None) -> list[str]:
    """What a group sees in its terminal after a preview: each rubric item's points, then the first thing to fix (the
    item that lost the most points, with its reason)."""
    if grade is None:
        return []
    width = max((len(i.title) for i in grade.items), default=0)
    lines = ["rubric:"]
    for i in grade.items:
        sign = "⏳" if i.pending else "✓" if i.points >= i.max_points else "partial" if i.points > 0 else "✗"
        lines.append(f"  {i.title:<{width}}  {i.points:g}/{i.max_points:g}  {sign}")
    lines += [f"  adjustment ({a.kind}): {a.points:+g}: {a.reason}" for a in grade.adjustments]
    lost = [i for i in grade.items if not i.pending and i.points < i.max_points]
    if lost:
        worst = max(lost, key=lambda i: i.max_points - i.points)
        lines.append(f"first fix: {worst.title} ({worst.points:g}/{worst.max_points:g}): {worst.reason}")
    return lines


def gradescope(result: dict[str, Any]) -> dict[str, Any]:
    """Gradescope's results.json: a score, and one test per rubric item with its own score and output."""
    return {
        "score": total(result),
        "output": f"grader {__version__}: {result['grader']['status']} {result['grader']['reason']}".strip(),
        "tests": [
            {
                "name": t["name"],
                "number": str(n),
                "score": t["score"],
                "max_score": t["max_score"],
                "status": "passed" if t["status"] == "pass" else "failed",
                "output": t["message"],
            }
            for n, t in enumerate(result["tests"], start=1)
        ],
    }


def workflow(action: str) -> str:
    """The workflow file a group's repository needs, using the grader action `action` (OWNER/REPO@REF)."""
    from grader.layout import templates_dir

    if not ACTION_REF.match(action):
        raise ValueError(f"'{action}' is not an action reference such as OWNER/grader@v1 or ./path")
    text = (templates_dir() / "classroom" / "grader.yml").read_text(encoding="utf-8")
    return text.replace("__GRADER_ACTION__", action).replace("__GRADER_VERSION__", __version__)


def write_outputs(
    group: str,
    status: GroupStatus,
    reason: str,
    grade: GradeRecord | None,
    report: Path,
    slides: Path,
    runner: Path | None = None,
    gradescope_file: Path | None = None,
    summary: Path | None = None,
    missing_fonts: list[str] | None = None,
) -> None:
    """What a preview hands to CI: the Classroom runner result (and, in GitHub Actions, its notices on stdout), a
    Gradescope results.json, the job summary, and the step outputs (points, report and deck paths)."""
    result = runner_result(grade, status, reason)
    if runner:
        write_atomic(runner, json.dumps(result, indent=2, ensure_ascii=False).encode())
    if runner or os.environ.get("GITHUB_ACTIONS") == "true":
        for line in notices(result):
            print(line)
    if gradescope_file:
        write_atomic(gradescope_file, json.dumps(gradescope(result), indent=2, ensure_ascii=False).encode())
    if summary:
        with summary.open("a", encoding="utf-8") as fh:
            fh.write(summary_markdown(group, result, str(report), str(slides)))
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as fh:
            fh.write(f"points={total(result):g}\nmax-points={result['max_score']}\nresult={encoded(result)}\n")
            fh.write(f"report={report}\nslides={slides}\n")
            # the Debian packages that draw what no font here could (the action installs them and renders again)
            fh.write(f"missing-fonts={' '.join(missing_fonts or [])}\n")
