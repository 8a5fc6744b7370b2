"""overlap: groups whose data, Part A or test Q&A are largely the same, for the class summary.

A flag for the instructor, never a penalty: two groups may share a paper or a friend's help, and only a person can
tell. Each group's work is cut into the shingles of reading/material (runs of normalised words); two groups overlap
on a part when at least SAME of the smaller one's shingles are also the other's, and the smaller has at least
MIN_SHINGLES of them (a handful of shared phrases is not a copy).
"""

from __future__ import annotations

import json
from itertools import combinations
from typing import Any

from grader.layout import Layout
from grader.reading.material import shingles

SAME = 0.5
MIN_SHINGLES = 20
PARTS = ("data", "Part A", "test Q&A")


def _lines(path: Any) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


def group_parts(layout: Layout, group: str) -> dict[str, set[int]]:
    """A group's three parts as shingles, from what validation stored (normalized samples, tests, results)."""
    data = set().union(
        *(shingles(f"{s.get('instruction', '')}\n{s.get('answer', '')}") for s in _lines(layout.samples(group)))
    )
    qa = set().union(
        *(shingles(f"{t.get('instruction', '')}\n{t.get('answer', '')}") for t in _lines(layout.tests(group)))
    )
    try:
        results = json.loads(layout.results(group).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        results = {}
    writing = ((results.get("validate") or {}).get("writing")) or {}
    part_a = set().union(*(shingles(a.get("excerpt", "")) for a in writing.get("part_a") or []))
    return {"data": data, "Part A": part_a, "test Q&A": qa}


def pairs(found: dict[str, dict[str, set[int]]]) -> list[dict[str, Any]]:
    """Every pair of groups and part where the smaller side is mostly the other's, most shared first."""
    flagged = []
    for a, b in combinations(sorted(found), 2):
        for part in PARTS:
            left, right = found[a][part], found[b][part]
            smaller = min(len(left), len(right))
            if smaller < MIN_SHINGLES:
                continue
            share = len(left & right) / smaller
            if share >= SAME:
                flagged.append({"groups": [a, b], "part": part, "share": round(share, 3)})
    return sorted(flagged, key=lambda f: (-f["share"], f["groups"], f["part"]))


def said(flag: dict[str, Any]) -> str:
    a, b = flag["groups"]
    return (
        f"{a} and {b}: {flag['share']:.0%} of the {flag['part']} of the smaller is the same (a flag, no points taken)"
    )
