"""The class summary on hand-built rows and results: no model needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.layout import Layout
from grader.outputs import summary
from grader.outputs.gradebook import Row
from tests.conftest import pdf_text


def test_ranks_and_spearman() -> None:
    assert summary.ranks([10, 30, 20, 20]) == [1.0, 4.0, 2.5, 2.5]
    assert summary.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert summary.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert summary.spearman([1, 1, 1], [1, 2, 3]) is None  # no variation, no correlation
    assert summary.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)


def _class(tmp_path: Path, n: int) -> tuple[list[Row], Layout]:
    layout = Layout(tmp_path)
    rows = []
    for i in range(n):
        name = f"g{i}"
        lr, epochs = (1e-4, 2e-4, 5e-4)[i % 3], 1 + i
        gain = 0.01 * epochs  # the class's gain follows the number of epochs, not the learning rate
        config = {"learning_rate": lr, "num_train_epochs": epochs, "lora_r": 16, "include_mlp": False}
        results = {"group": name, "status": "graded", "train": {"group": name, "config": config, "steps": 3 * epochs}}
        layout.group_dir(name).mkdir(parents=True)
        layout.results(name).write_text(json.dumps(results))
        rows.append(Row(name, "graded", "", total=10 + i, max_total=19, rouge_l_gain=gain))
    rows.append(Row("late", "missing", "on the roster, but no submission folder", max_total=19))
    rows.append(Row("bad", "invalid", "data/train.jsonl:3: missing comma", total=2.4, max_total=19))
    return rows, layout


def test_summary_answers_which_parameters_mattered(tmp_path: Path) -> None:

    rows, layout = _class(tmp_path, 6)
    data = summary.write(rows, layout)
    counts = {"graded": 6, "invalid": 1, "over-limit": 0, "missing": 1, "not-submitted": 0, "error": 0, "timeout": 0}
    assert data["status_counts"] == counts
    assert data["points"]["median"] == 12.5 and data["points"]["highest"] == 15
    assert [r["group"] for r in data["leaderboard"]][:2] == ["g5", "g4"]
    top = data["parameters"][0]
    assert top["parameter"] in ("num_train_epochs", "optimizer_steps") and top["rho"] == pytest.approx(1.0)
    assert "lora_r" not in [p["parameter"] for p in data["parameters"]]  # the same for everyone: not related
    assert "num_train_epochs and optimizer_steps moved together" in data["answer"]
    assert json.loads((tmp_path / "summary.json").read_text()) == data
    text = " ".join(pdf_text(tmp_path / "summary.pdf").split())
    assert "Which parameters seemed most critical?" in text and "g5" in text and "missing comma" in text


def test_summary_refuses_to_correlate_a_handful_of_groups(tmp_path: Path) -> None:
    rows, layout = _class(tmp_path, 3)
    data = summary.write(rows, layout)
    assert data["parameters"] == [] and "too few" in data["answer"]


def test_two_groups_with_largely_the_same_data_and_qa_are_named_with_the_overlap(tmp_path: Path) -> None:
    from tests.conftest import write_jsonl

    rows, layout = _class(tmp_path, 3)

    def sample(i: int, topic: str) -> dict[str, str]:
        return {
            "instruction": f"Which {topic} absorption feature appears near {2100 + 7 * i} nm in airborne spectra?",
            "context": "",
            "answer": f"The {topic} feature near {2100 + 7 * i} nm comes from the bending of {topic} bonds.",
        }

    shared = [sample(i, "Al-OH") for i in range(12)]
    write_jsonl(layout.samples("g0"), shared)
    write_jsonl(layout.samples("g1"), shared[:10] + [sample(i, "Mg-OH") for i in range(4)])  # mostly g0's
    own = [
        {"instruction": f"How deep is the carbonate band of sample {i}?", "context": "", "answer": f"{i * 3}% deep."}
        for i in range(12)
    ]
    write_jsonl(layout.samples("g2"), own)  # a group of its own: different words, not only another topic
    write_jsonl(layout.tests("g1"), shared[:6])
    write_jsonl(layout.tests("g2"), shared[:6])
    data = summary.write(rows, layout)
    said = [(o["groups"], o["part"]) for o in data["overlaps"]]
    assert said == [(["g1", "g2"], "test Q&A"), (["g0", "g1"], "data")]
    assert 10 / 12 <= data["overlaps"][1]["share"] < 1  # g0 (the smaller) has 10 of its 12 samples in g1
    text = " ".join(pdf_text(tmp_path / "summary.pdf").split())
    assert "Groups whose work is largely the same" in text and "g0 and g1:" in text and "no points taken" in text
    assert [r.total for r in rows[:3]] == [10, 11, 12]  # a flag: nobody's points change
