"""Penalties and bonuses (grader.measure.adjust): the file's rules, line by line, and the total they give."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.errors import ConfigError
from grader.measure import adjust
from grader.records import GradeItem, GradeRecord


def grade(points: float, top: float = 19) -> GradeRecord:
    item = GradeItem(id="x", title="X", points=points, max_points=top, reason="r")
    return GradeRecord(group="g", items=[item], total=points, max_total=top)


def test_a_good_file_and_the_totals_it_gives(tmp_path: Path) -> None:
    path = tmp_path / "adjustments.csv"
    path.write_text(
        "group,kind,points,reason,beyond_limits\n"
        "g,late,-2,3 days late,\n"
        "g,bonus,1,best error analysis,no\n"
        "\n"
        "h,plagiarism,-30,copied the report,\n"
        "k,bonus,3,extra work,yes\n",
        encoding="utf-8",
    )
    found = adjust.load(path, ["g", "h", "k"])
    assert [a.shown() for a in found["g"]] == ["late -2: 3 days late", "bonus +1: best error analysis"]
    assert found["h"][0].where == "adjustments.csv:5"
    adjusted = adjust.apply(grade(12), found["g"])
    assert (adjusted.total, adjusted.items_total, adjusted.limited) == (11, 12, "")
    held = adjust.apply(grade(12), found["h"])
    assert held.total == 0 and held.limited == "the adjusted total -18 was held at 0 (0..19)"
    beyond = adjust.apply(grade(18), found["k"])
    assert beyond.total == 21 and beyond.limited == ""  # the instructor allowed it on that line
    assert adjust.apply(grade(12), []) == grade(12)


def test_every_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "adjustments.csv"
    path.write_text(
        "group,kind,points,reason,beyond_limits\n"
        "gg,late,-2,late,\n"
        "g,lateness,-2,late,\n"
        "g,late,two,late,\n"
        "g,late,2,late,\n"
        "g,bonus,-1,why,\n"
        "g,manual,1,,\n"
        "g,manual,nan,x,\n"
        "g,manual,1,x,maybe\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        adjust.load(path, ["g"])
    said = str(caught.value)
    for line, words in [
        (2, "no group 'gg' (did you mean 'g'?)"),
        (3, "kind 'lateness' is not one of"),
        (4, "points 'two' is not a number"),
        (5, "a late adjustment must be <= 0"),
        (6, "a bonus adjustment must be >= 0"),
        (7, "reason is empty"),
        (8, "points 'nan' is not a finite number"),
        (9, "beyond_limits 'maybe' is not yes or no"),
    ]:
        assert f"adjustments.csv:{line}: {words}" in said
    path.write_text("group,points\ng,1\n")
    with pytest.raises(ConfigError, match=r"adjustments\.csv:1: the header lacks kind, reason"):
        adjust.load(path, ["g"])
