"""Off-domain data is said (a measured share, three example lines) and flagged for the instructor; it is never
flagged on the course's own kind of data."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from grader.layout import Layout
from grader.outputs import gradebook
from grader.reading import domain, sample_files, validate
from grader.records import Problem, Sample
from tests.conftest import EXAMPLES, sample, write_jsonl

FIXTURES = Path(__file__).parent / "fixtures" / "data"
GROUPS = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())


def test_an_off_domain_group_is_flagged_with_its_measure_and_three_examples(tmp_path: Path) -> None:
    group = tmp_path / "g"
    (group / "data").mkdir(parents=True)
    shutil.copy(FIXTURES / "off_domain.jsonl", group / "data" / "train.jsonl")
    write_jsonl(group / "tests.jsonl", [sample(i) for i in range(5)])
    record = validate.run(group, "g")
    assert record.data_flags == ["off-domain: 24 of 24 samples (100%) name no geology/remote-sensing term"]
    said = next(p for p in record.problems if p.code == "off-domain")
    assert said.severity == "warning" and said.line == 1 and said.message.count("train.jsonl:") == 3
    assert '"Give me a simple breakfast recipe."' in said.message
    assert record.status == "ok" and record.n_errors == 0  # no points are taken for it
    layout = Layout(tmp_path / "out")
    gradebook.write([gradebook.row("g", "graded", "", None, None, None, validation=record)], layout, [])
    with layout.gradebook_csv.open(encoding="utf-8") as fh:
        assert next(csv.DictReader(fh))["data_flags"] == record.data_flags[0]


@pytest.mark.parametrize("group", GROUPS)
def test_the_example_groups_are_never_flagged(group: str) -> None:
    record = validate.run(EXAMPLES / group, group)
    assert record.data_flags == [] and not [p for p in record.problems if p.code == "off-domain"]


def in_domain_samples() -> list[Sample]:
    """Every sample of the example groups and of the geoscience fixtures (the course's kind of data)."""
    found: list[Sample] = []
    paths = [p for p in EXAMPLES.rglob("*.json*") if "lora" not in str(p) and "results" not in p.name]
    paths += [p for p in FIXTURES.iterdir() if p.name != "off_domain.jsonl"]
    for path in paths:
        problems: list[Problem] = []
        found += sample_files.read_samples(path.parent, [path.name], problems, is_test=path.name.startswith("tests"))
    return found


def test_no_sample_of_the_course_kind_lacks_a_domain_term() -> None:
    samples = in_domain_samples()
    assert len(samples) > 150
    assert [s.source for s in samples if not domain.in_domain(s)] == []  # the per-sample false-positive rate: 0


def test_korean_terms_count_and_a_few_general_samples_are_not_flagged() -> None:
    korean = Sample(system="", instruction="이 암석의 주요 광물은?", context="", answer="석영과 장석입니다.")
    assert domain.in_domain(korean)
    general = Sample(system="", instruction="Give me a pancake recipe.", context="", answer="Flour, eggs, milk.")
    geo = Sample(system="", instruction="What is kaolinite?", context="", answer="A clay mineral.")
    assert not domain.measure([general] + [geo] * 9).flagged  # 10%: under the 30% from which it is flagged
    assert domain.measure([general] * 3 + [geo] * 7).flagged
    assert not domain.measure([general] * 4).flagged  # fewer than 5 samples: a share says nothing
