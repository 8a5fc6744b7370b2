from __future__ import annotations

import csv
from pathlib import Path

from grader.layout import Layout
from grader.measure import metrics
from grader.outputs import gradebook


def test_chrf_scores_a_korean_answer_that_differs_by_a_particle() -> None:
    same = metrics.scores("학습률은 학습 속도를 정한다", "학습률은 학습 속도를 정한다")
    particle = metrics.scores("학습률은 학습 속도를 정한다", "학습률이 학습 속도를 정한다")
    unrelated = metrics.scores("학습률은 학습 속도를 정한다", "배치 크기는 메모리를 쓴다")
    assert same["chrf"] == 1.0
    assert 0.5 < particle["chrf"] < 1.0  # the changed particle costs a few character n-grams, not the answer
    assert unrelated["chrf"] < 0.2
    assert metrics.scores("", "")["chrf"] == 0.0


def test_chrf_is_shown_beside_rouge_in_every_view(tmp_path: Path) -> None:
    for view in ("deck", "report", "gradebook", "sweep"):
        keys = [m.key for m in metrics.shown(view)]
        assert keys[0] == "rougeL" and "chrf" in keys, (view, keys)
    row = gradebook.row("a", "graded", "", None, 0.0312, None, gains={"rougeL": 0.0312, "chrf": -0.0101})
    layout = Layout(tmp_path)
    gradebook.write([row], layout, [])
    header, *rest = csv.reader(layout.gradebook_csv.read_text(encoding="utf-8").splitlines())
    values = dict(zip(header, rest[0], strict=True))
    assert header.index("chrf_gain") == header.index("rouge_l_gain") + 1
    assert values["rouge_l_gain"] == "0.0312" and values["chrf_gain"] == "-0.0101"
