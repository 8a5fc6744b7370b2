"""summary: the gradebook rows + each group's results.json -> reports/summary.json and summary.pdf.

For the instructor: status counts, the points distribution, a leaderboard of ROUGE-L gain, and the assignment's
discussion question answered with the class's data: which hyper-parameters went with a larger gain (Spearman
rank correlation over the graded groups; with fewer than MIN_GROUPS groups it says it cannot tell).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from statistics import fmean, median
from typing import Any, get_args

from grader.config import compared
from grader.layout import Layout
from grader.measure.metrics import HEADLINE, label
from grader.outputs.gradebook import Row, read_results
from grader.records import GroupStatus, Results
from grader.storage import write_atomic

DEMO_NOTE = (
    "The answers, losses and gains in this summary are the demo model's (a tiny Llama built locally), not "
    "Llama-3.1-8B's: grade with --base-model to measure the groups' real models."
)

# templates/parameters.yaml's `compared` keys, and optimizer_steps: what epochs, batch size and accumulation add up to
PARAMETERS = (*compared(), "optimizer_steps")
MIN_GROUPS = 5
STATUSES = get_args(GroupStatus)


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return result


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rho; None when either side does not vary."""
    rx, ry = ranks(x), ranks(y)
    mx, my = fmean(rx), fmean(ry)
    sx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    sy = math.sqrt(sum((b - my) ** 2 for b in ry))
    if sx == 0 or sy == 0:
        return None
    return sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True)) / (sx * sy)


def _group_values(results: Results) -> dict[str, float]:
    train, validation = results.train, results.validation
    config = train.config if train and train.config else validation.config if validation else None
    values = {k: float(v) for k in PARAMETERS if isinstance(v := getattr(config, k, None), int | float)}
    if train and train.steps:
        values["optimizer_steps"] = float(train.steps)
    return values


def relations(points: list[tuple[float, dict[str, float]]]) -> list[dict[str, Any]]:
    """Per parameter that varies across the groups: n, rho with the gain, and the values seen; strongest first."""
    found = []
    for name in PARAMETERS:
        pairs = [(gain, values[name]) for gain, values in points if name in values]
        if len({v for _, v in pairs}) < 2:
            continue
        rho = spearman([v for _, v in pairs], [g for g, _ in pairs])
        if rho is not None:
            low, high = min(v for _, v in pairs), max(v for _, v in pairs)
            found.append({"parameter": name, "n": len(pairs), "rho": round(rho, 3), "low": low, "high": high})
    return sorted(found, key=lambda r: -abs(r["rho"]))


def confounded(points: list[tuple[float, dict[str, float]]], names: list[str]) -> list[tuple[str, str]]:
    """Pairs of these parameters that moved together across the groups (|rho| >= 0.9): their effects are one."""
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = [(v[a], v[b]) for _, v in points if a in v and b in v]
            rho = spearman([x for x, _ in both], [y for _, y in both]) if len(both) >= 3 else None
            if rho is not None and abs(rho) >= 0.9:
                pairs.append((a, b))
    return pairs


def answer(found: list[dict[str, Any]], n: int, together: list[tuple[str, str]] | None = None) -> str:
    """The discussion question, answered only as far as the data goes."""
    if n < MIN_GROUPS:
        return (
            f"Only {n} graded group(s) with a measured gain: too few to relate hyper-parameters to the gain "
            f"(at least {MIN_GROUPS} are needed)."
        )
    if not found:
        return "The groups used the same values for every parameter: nothing can be related to the gain."
    top = [r for r in found if abs(r["rho"]) >= 0.3][:3]
    if not top:
        return f"No parameter goes with the {label(HEADLINE)} gain across {n} groups (every |rho| < 0.3)."
    parts = [
        f"{r['parameter']} (rho {r['rho']:+.2f}: {'higher' if r['rho'] > 0 else 'lower'} went with more gain)"
        for r in top
    ]
    caveat = "".join(
        f" {a} and {b} moved together across the groups, so their effects cannot be told apart."
        for a, b in together or []
    )
    return (
        f"Across {n} groups, the parameters that went most with {label(HEADLINE)} gain were "
        + "; ".join(parts)
        + "."
        + caveat
        + " This is a rank correlation between groups, not an experiment: groups differ in data too."
    )


def class_data(rows: list[Row], layout: Layout) -> dict[str, Any]:
    graded = [r for r in rows if r.status == "graded"]
    totals = [r.total for r in graded]
    points: list[tuple[float, dict[str, float]]] = []
    for r in graded:
        if r.rouge_l_gain is None:
            continue
        results = read_results(layout.results(r.group))
        if results is not None:
            points.append((r.rouge_l_gain, _group_values(results)))
    found = relations(points) if len(points) >= MIN_GROUPS else []  # two or three points always correlate
    leaderboard = sorted((r for r in graded if r.rouge_l_gain is not None), key=lambda r: -(r.rouge_l_gain or 0))
    models = sorted({r.base_model for r in rows if r.base_model})
    return {
        "groups": len(rows),
        "base_models": models,
        "demo_note": DEMO_NOTE if "demo" in models else "",
        "status_counts": {s: sum(r.status == s for r in rows) for s in STATUSES},
        "points": {
            "max": max((r.max_total for r in rows), default=0.0),
            "mean": round(fmean(totals), 2) if totals else None,
            "median": round(median(totals), 2) if totals else None,
            "lowest": min(totals, default=None),
            "highest": max(totals, default=None),
            "histogram": [
                {"points_from": k, "groups": n} for k, n in sorted(Counter(math.floor(t) for t in totals).items())
            ],
        },
        "leaderboard": [
            {"rank": i + 1, "group": r.group, "rouge_l_gain": r.rouge_l_gain, "total": r.total}
            for i, r in enumerate(leaderboard)
        ],
        "class_leaderboard": [
            {"rank": i + 1, "group": r.group, "class_rouge_l_gain": r.class_rouge_l_gain, "total": r.total}
            for i, r in enumerate(
                sorted(
                    (r for r in graded if r.class_rouge_l_gain is not None), key=lambda r: -(r.class_rouge_l_gain or 0)
                )
            )
        ],
        "groups_with_gain": len(points),
        "swept": swept_effects(graded, layout),
        "parameters": found,
        "answer": answer(found, len(points), confounded(points, [r["parameter"] for r in found[:3]])),
        "not_graded": [
            {"group": r.group, "status": r.status, "reason": r.reason} for r in rows if r.status != "graded"
        ],
        "flags": [{"group": r.group, "flag": flag} for r in rows for flag in r.flags],
        "pending": [{"group": r.group, "items": r.pending} for r in rows if r.pending],
        "overlaps": overlaps(rows, layout),
    }


def overlaps(rows: list[Row], layout: Layout) -> list[dict[str, Any]]:
    """Pairs of groups whose data, Part A or Q&A are largely the same (measure/overlap): named, no points taken."""
    from grader.measure import overlap

    read = [r.group for r in rows if r.status not in ("missing",)]
    flags = overlap.pairs({group: overlap.group_parts(layout, group) for group in read})
    return [{**flag, "said": overlap.said(flag)} for flag in flags]


def swept_effects(graded: list[Row], layout: Layout) -> list[dict[str, Any]]:
    """The parameters ranked by their measured effect across the groups that were swept (`grade --sweep`): the
    median and range of each one's ROUGE-L spread, and in how many groups it moved more than the seeds."""
    from grader.records import SweepRecord
    from grader.storage import load

    by_parameter: dict[str, list[Any]] = {}
    for r in graded:
        record = load(SweepRecord, layout.record(r.group, "sweep"))
        for effect in record.effects if record else []:
            by_parameter.setdefault(effect.parameter, []).append(effect)
    ranked = []
    for name, found in by_parameter.items():
        spreads = [e.rouge_l_spread for e in found if e.rouge_l_spread is not None]
        losses = [e.eval_loss_spread for e in found if e.eval_loss_spread is not None]
        ranked.append(
            {
                "parameter": name,
                "groups": len(found),
                "rouge_l_median": round(median(spreads), 4) if spreads else None,
                "rouge_l_low": min(spreads, default=None),
                "rouge_l_high": max(spreads, default=None),
                "eval_loss_median": round(median(losses), 4) if losses else None,
                "beyond_seeds": sum(not e.noise for e in found),
                "seeds": max(e.seeds for e in found),
            }
        )
    return sorted(ranked, key=lambda x: -(x["rouge_l_median"] or 0))


def write(rows: list[Row], layout: Layout) -> dict[str, Any]:
    """summary.json always; summary.pdf with the class plots."""
    from grader.outputs import plots, render

    data = class_data(rows, layout)
    write_atomic(layout.out / "summary.json", json.dumps(data, indent=2, ensure_ascii=False).encode())
    few = data["groups_with_gain"] < MIN_GROUPS
    note = f"fewer than {MIN_GROUPS} graded groups" if few else "no parameter varies"
    plot = plots.class_plot(rows, data["parameters"], layout.out / "summary.png", note)
    html = render.render_template("summary.html.j2", {**data, "plot_uri": render.data_uri(plot), "rows": rows})
    render.write_pdf(html, layout.out / "summary.pdf")
    return data
