from __future__ import annotations

import ast
from pathlib import Path

from grader.layout import Layout
from tests.conftest import ROOT

OWNED = {"batch.json", ".shards", "error.txt", "overrides.csv", "point.json", "ask.json", "classroom.csv"}
OWNED |= {"tests.extracted.jsonl", "gradebook.csv", "gradebook.json", "results.json", "report.pdf"}
DEV_TOOLS = {"bench.py", "examples_build.py", "slides_template.py"}  # they read a run's output as a user would


def test_only_layout_spells_an_output_file_name() -> None:
    """Every output path comes from Layout: no runtime module builds one from its own string."""
    found = []
    for path in sorted((ROOT / "grader").rglob("*.py")):
        if path.name in DEV_TOOLS or path.name == "layout.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in OWNED:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert not found


def test_the_paths_a_run_writes(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.assign(["team 7"])
    group = tmp_path / "team_7"
    assert layout.error_txt("team 7") == group / "error.txt"
    assert layout.tests_extracted("team 7") == group / "tests.extracted.jsonl"
    assert layout.sweep_point("team 7", "k1") == group / "sweep" / "k1" / "point.json"
    assert layout.shard_batch("r1-0") == tmp_path / ".shards" / "batch-r1-0.json"
    assert layout.sweep_logs("r1") == tmp_path / ".shards" / "sweep-r1"
    assert (layout.batch_json, layout.overrides_csv) == (tmp_path / "batch.json", tmp_path / "overrides.csv")
