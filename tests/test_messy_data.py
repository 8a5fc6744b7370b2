"""Real messy data files (tests/fixtures/data, geoscience content as groups write it): each gets the diagnosis
Python's json would give, at its line and column, in words, and no error that only the first one caused."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader import cli
from grader.measure import grade
from grader.measure.grade import RubricItem
from grader.reading import sample_files, validate
from grader.records import Problem, Sample, ValidationRecord
from tests.conftest import write_jsonl

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def read(name: str, folder: Path = FIXTURES) -> tuple[list[Sample], list[Problem]]:
    problems: list[Problem] = []
    samples = sample_files.read_samples(folder, [name], problems, is_test=False)
    return samples, problems


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def json_position(path: Path, first: int, last: int) -> tuple[int, int, str]:
    """(file line, column, message) of Python's json error on the record spread over lines first..last."""
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        json.loads("\n".join(lines[first - 1 : last]))
    except json.JSONDecodeError as exc:
        return first + exc.lineno - 1, exc.colno, exc.msg
    raise AssertionError("the record parses")


def test_chat_records_over_lines_with_one_missing_comma_get_one_error_where_json_says() -> None:
    for name, (first, last) in {
        "chat_missing_comma.jsonl": (16, 20),  # unindented: inner objects start at column 1
        "chat_missing_comma_indented.jsonl": (22, 28),
    }.items():
        samples, problems = read(name)
        line, column, words = json_position(FIXTURES / name, first, last)
        bad = [p for p in errors(problems) if p.code != "chat-format"]
        assert [(p.line, p.column) for p in bad] == [(line, column)], name
        assert f"missing comma at the end of line {line - 1}" in bad[0].message and words in bad[0].message
        # the other seven records are read, and said to be chat records, once for the file
        chat = [p for p in problems if p.code == "chat-format"]
        assert len(chat) == 1 and chat[0].repeats == 6 and samples == []
        assert not [p for p in problems if p.code in {"missing-field", "extra-keys", "not-object"}], name


def test_an_unclosed_string_and_single_quotes_are_named_and_the_next_lines_are_read() -> None:
    samples, problems = read("unclosed_and_single_quotes.jsonl")
    found = [(p.line, p.column) for p in errors(problems)]
    assert found == [(3, 274), (5, 2)] and len(samples) == 4
    assert "unclosed string" in errors(problems)[0].message and "Unterminated string" in errors(problems)[0].message
    assert "single quotes are not JSON" in errors(problems)[1].message and "json.dumps" in errors(problems)[1].hint


def test_an_object_not_closed_on_its_line_is_named_there_and_the_next_record_is_read(tmp_path: Path) -> None:
    rows = [json.dumps({"instruction": f"What is mineral {i}?", "answer": "Quartz."}) for i in range(4)]
    rows[1] = rows[1][:-1]
    (tmp_path / "d.jsonl").write_text("\n".join(rows) + "\n")
    samples, problems = read("d.jsonl", tmp_path)
    assert [(p.line, p.column) for p in errors(problems)] == [(2, len(rows[1]) + 1)]
    assert "not closed" in errors(problems)[0].message and len(samples) == 3


def test_two_objects_on_a_line_are_read_and_a_comma_after_each_is_named(tmp_path: Path) -> None:
    one = json.dumps({"instruction": "What is calcite?", "context": "c", "answer": "A carbonate."})
    (tmp_path / "two.jsonl").write_text(f"{one} {one}\n{one}\n")
    samples, problems = read("two.jsonl", tmp_path)
    assert len(samples) == 3 and [p.code for p in problems if p.severity != "info"] == ["several-on-a-line"]
    (tmp_path / "commas.jsonl").write_text(f"{one},\n{one},\n{one}\n")
    samples, problems = read("commas.jsonl", tmp_path)
    assert len(samples) == 1 and [p.line for p in errors(problems)] == [1, 2]
    assert "JSON lines has no commas between records" in errors(problems)[0].message


def test_near_miss_field_names_are_said_as_such() -> None:
    _, problems = read("near_miss_keys.jsonl")
    messages = {p.message.split(";")[0] + ";" + p.message.split(";")[1] for p in errors(problems)}
    assert messages == {
        "field 'instruction' is missing; 'instructions' is a near miss of its name",
        "field 'answer' is missing; 'Answer' is a near miss of its name",
    }
    assert {p.hint for p in errors(problems)} == {
        "rename 'instructions' to 'instruction'",
        "rename 'Answer' to 'answer'",
    }
    assert not [p for p in problems if p.code == "extra-keys"]  # the near misses are named, not "ignored"
    _, problems = read("chat_message_key.jsonl")
    assert len(errors(problems)) == 1 and "the key is 'message', not the usual 'messages'" in problems[0].message


def test_a_trailing_comma_in_an_array_is_read_as_the_course_loader_reads_it() -> None:
    samples, problems = read("trailing_comma.json")
    assert len(samples) == 5 and not errors(problems)
    assert [(p.code, p.line, p.column) for p in problems] == [("trailing-comma", 19, 3)]


def test_a_trailing_comma_after_the_last_element_is_an_error_at_the_bracket(tmp_path: Path) -> None:
    rows = [{"instruction": f"What is mineral {i}?", "context": "c", "answer": "Quartz."} for i in range(2)]
    text = json.dumps(rows, indent=2)
    text = text[: text.rindex("}") + 1] + ",\n]\n"
    (tmp_path / "d.json").write_text(text)
    samples, problems = read("d.json", tmp_path)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        where = (exc.lineno, exc.colno)
    assert len(samples) == 2 and [(p.line, p.column) for p in errors(problems)] == [where]
    assert "trailing comma after the last element" in errors(problems)[0].message


# Whole-document shapes: one message each, whose hint is a command; applying it gives a valid file.


def apply_hint(hint: str, source: Path, folder: Path) -> Path:
    """Run the jq command of a hint on a copy of `source` in `folder`; the file it wrote."""
    command = hint[hint.index("jq -c") :].split(" > ")[0]
    target = hint.split(" > ")[1].split()[0].rstrip(",;")
    shutil.copy(source, folder / source.name)
    done = subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True, check=True)
    (folder / target).write_text(done.stdout, encoding="utf-8")
    return folder / target


needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")


@needs_jq
@pytest.mark.parametrize(
    ("name", "pairs"),
    [("parallel_lists.json", 24), ("columns_prompt_completion.json", 24), ("nested_wrapper.json", 12)],
)
def test_a_document_shape_is_one_message_and_its_hint_converts_it(tmp_path: Path, name: str, pairs: int) -> None:
    samples, problems = read(name)
    said = [p for p in problems if p.code in {"column-oriented", "wrapped"}]
    assert len(said) == 1 and said[0].line == 1 and len([p for p in problems if p.severity != "info"]) == 1
    assert f"{pairs} pairs" in said[0].message or f"({pairs} records)" in said[0].message
    converted = apply_hint(said[0].hint, FIXTURES / name, tmp_path)
    samples, problems = read(converted.name, tmp_path)
    assert len(samples) == pairs and not errors(problems)
    assert len(converted.read_text().splitlines()) == pairs  # JSON lines: one sample per line


@needs_jq
def test_an_array_of_question_strings_is_one_message_and_becomes_a_tests_file(tmp_path: Path) -> None:
    samples, problems = read("questions_only.json")
    assert samples == [] and len(problems) == 1 and problems[0].line == 1
    assert problems[0].message.startswith(
        "53 questions without answers: these look like test questions, not training samples"
    )
    converted = apply_hint(problems[0].hint, FIXTURES / "questions_only.json", tmp_path)
    # the hint's second step: the group writes each expected answer
    rows = [
        json.loads(line) | {"answer": "Al-OH absorption near 2200 nm."} for line in converted.read_text().splitlines()
    ]
    converted.write_text("".join(json.dumps(r) + "\n" for r in rows))
    found: list[Problem] = []
    tests = sample_files.read_samples(tmp_path, [converted.name], found, is_test=True)
    assert len(tests) == 53 and not errors(found)


def test_a_single_sample_with_list_valued_extras_is_not_a_table(tmp_path: Path) -> None:
    one = {"instruction": "What is jarosite?", "context": "c", "answer": "A sulfate.", "tags": ["a", "b"]}
    (tmp_path / "one.json").write_text(json.dumps(one | {"keywords": ["x", "y"]}, indent=2))
    samples, problems = read("one.json", tmp_path)
    assert len(samples) == 1 and not errors(problems)


# Samples count once.


def test_ten_samples_three_times_count_as_ten_toward_the_minimum(tmp_path: Path) -> None:
    group = tmp_path / "g"
    (group / "data").mkdir(parents=True)
    shutil.copy(FIXTURES / "duplicates_x3.jsonl", group / "data" / "train.jsonl")
    rows = [json.loads(line) for line in (FIXTURES / "clean.jsonl").read_text().splitlines()]
    tests = [r | {"instruction": f"Which mineral is sample {i}?"} for i, r in enumerate(rows[:5])]
    write_jsonl(group / "tests.jsonl", [rows[0], *tests[1:]])  # one test question copied from the training data
    record = validate.run(group, "g")
    assert (record.n_records, record.n_samples) == (30, 10)
    few = next(p for p in record.problems if p.code == "too-few-samples")
    assert few.message == "10 < 20 usable samples (30 records, 10 unique samples: a repeat counts once)"
    decided = grade.samples(RubricItem(id="samples", title="", points=2, check="samples", min=20), inputs(record))
    assert decided.fraction == 0.5 and decided.reason.startswith("10 < 20")
    # the copied test question is said, and not counted as held out
    assert any(p.code == "test-in-train" and p.file == "tests.jsonl" for p in record.problems)
    assert (record.n_tests, record.n_tests_held_out) == (5, 4)
    tests_few = next(p for p in record.problems if p.code == "too-few-tests")
    assert tests_few.message == "4 < 5 test questions not in the training data (5, of which 1 also in it)"
    shown = CliRunner().invoke(cli.app, ["validate", str(group)])
    assert "30 records, 10 unique samples, 5 tests" in shown.output
    shown = CliRunner().invoke(cli.app, ["validate", str(FIXTURES / "duplicates_x3.jsonl")])
    assert "30 usable records, 10 unique samples" in shown.output


def inputs(record: ValidationRecord) -> grade.Inputs:
    return grade.Inputs(validation=record, train=None, score=None, report_md=None)


# The smaller defects of issue 27.


def test_the_summary_counts_folded_repeats_once(tmp_path: Path) -> None:
    group = tmp_path / "g"
    (group / "data").mkdir(parents=True)
    chat = (FIXTURES / "chat_message_key.jsonl").read_text().splitlines()
    (group / "data" / "train.jsonl").write_text("".join(chat[i % len(chat)] + "\n" for i in range(175)) + "oops\n")
    record = validate.run(group, "g")
    first = next(p for p in record.problems if p.code == "chat-format")
    assert first.repeats == 174 and "and 174 more like it" in first.message
    # 177 errors: the first, its 174 repeats, the line that is not JSON and "no usable sample"; each counted once
    assert record.n_errors == 177
    assert record.message.endswith("(and 176 more errors, 174 of them like it)")
    assert "more like it" not in record.message


def test_no_usable_data_does_not_point_above_and_missing_files_are_not_named(tmp_path: Path) -> None:
    group = tmp_path / "g"
    (group / "data").mkdir(parents=True)
    (group / "data" / "train.jsonl").write_text("not json\n")
    record = validate.run(group, "g")
    nothing = next(p for p in record.problems if p.code == "no-usable-data")
    shown = [p.code for p in record.problems]
    assert shown.index("no-usable-data") < shown.index("invalid-json")  # listed first, so it cannot say "above"
    assert "above" not in nothing.hint
    for code in ("no-tests", "no-config"):
        said = next(p for p in record.problems if p.code == code)
        assert said.file == "." and not (group / said.file / "tests.jsonl").exists()
    assert not any(p.file in ("tests.jsonl", "config.yaml") for p in record.problems)
