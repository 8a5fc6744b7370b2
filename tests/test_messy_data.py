"""Real messy data files (tests/fixtures/data, geoscience content as groups write it): each gets the diagnosis
Python's json would give, at its line and column, in words, and no error that only the first one caused."""

from __future__ import annotations

import json
from pathlib import Path

from grader import dataio
from grader.records import Problem, Sample

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def read(name: str, folder: Path = FIXTURES) -> tuple[list[Sample], list[Problem]]:
    problems: list[Problem] = []
    samples = dataio.read_samples(folder, [name], problems, is_test=False)
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
