from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.reading import sample_files, validate
from grader.reading.json_lines import MAX_LINE_BYTES, Reader, read_objects
from tests.conftest import EXAMPLES, sample, write_jsonl


def codes(record) -> list[tuple[str, int | None, str]]:
    return [(p.file, p.line, p.code) for p in record.problems]


def test_good_example_is_valid() -> None:
    record = validate.run(EXAMPLES / "good-group", "good-group")
    assert record.status == "ok" and record.n_errors == 0
    assert (record.n_samples, record.n_tests) == (24, 6)
    assert record.config.num_train_epochs == 3


def test_broken_example_names_every_problem_with_its_line() -> None:
    record = validate.run(EXAMPLES / "broken-group", "broken-group")
    found = codes(record)
    assert record.status == "failed"
    for expected in [
        ("data/train.jsonl", 4, "missing-field"),
        ("data/train.jsonl", 6, "alpaca-format"),
        ("data/train.jsonl", 7, "invalid-json"),
        ("data/train.jsonl", 9, "missing-field"),
        ("data/train.jsonl", 10, "invalid-json"),
        ("data/train.jsonl", 12, "empty-field"),
        ("data/train.jsonl", 15, "invalid-json"),
        ("tests.jsonl", None, "too-few-tests"),
        ("data/train.jsonl", None, "too-few-samples"),
    ]:
        assert expected in found
    messages = {(p.line, p.message, p.hint) for p in record.problems if p.file == "data/train.jsonl"}
    assert any(line == 6 and "'output' -> 'answer'" in hint for line, _, hint in messages)
    assert any(line == 9 and "rename 'input' to 'context'" in hint for line, _, hint in messages)
    assert any(line == 7 and "missing comma" in msg for line, msg, _ in messages)
    assert any(line == 10 and "trailing comma" in msg for line, msg, _ in messages)
    assert any(line == 15 and "smart quote" in msg for line, msg, _ in messages)
    config = [p for p in record.problems if p.file == "config.yaml"]
    assert any("learning_rate" in p.message and p.line == 1 for p in config)
    assert any("lora_r" in p.message and p.line == 3 for p in config)
    assert any("bf16 and fp16 are both true" in p.message for p in config)
    assert any("did you mean 'lora_dropout'" in p.hint for p in config)


def test_weak_example_json_array_fills_system_and_lists_extra_keys() -> None:
    record = validate.run(EXAMPLES / "weak-group", "weak-group")
    assert record.status == "ok" and record.n_samples == 20
    infos = [p.message for p in record.problems if p.severity == "info"]
    assert any("20 sample(s) have no 'system'" in m for m in infos)
    assert any("extra keys ignored: section, tags, title, year" in m for m in infos)
    assert any(p.code == "test-in-train" for p in record.problems)
    assert "learning_rate" not in record.defaults_filled and "bf16" in record.defaults_filled


def test_bom_crlf_blank_lines_and_pretty_printed(tmp_path: Path) -> None:
    rows = [json.dumps(sample(i)) for i in range(3)]
    pretty = json.dumps(sample(9), indent=2)
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([rows[0], "", rows[1], pretty, rows[2]]).encode() + b"\r\n")
    reader = Reader("d.jsonl")
    got = list(read_objects(path, reader))
    assert [line for line, _ in got] == [1, 3, 4, 10]
    assert {p.code for p in reader.problems} == {"bom", "multi-line"}


def test_utf16_is_read_and_said(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes("\n".join(json.dumps(sample(i), ensure_ascii=False) for i in range(2)).encode("utf-16"))
    reader = Reader("d.jsonl")
    assert len(list(read_objects(path, reader))) == 2
    assert reader.problems[0].code == "utf16" and "UTF-8" in reader.problems[0].hint


def test_cp949_line_named_with_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    good = json.dumps(sample(1)).encode()
    bad = json.dumps(sample(2, answer="화강암입니다"), ensure_ascii=False).encode("cp949")
    path.write_bytes(good + b"\n" + bad + b"\n")
    reader = Reader("d.jsonl")
    assert [line for line, _ in read_objects(path, reader)] == [1]
    problem = reader.problems[0]
    assert problem.line == 2 and problem.code == "not-utf8" and "cp949" in problem.message
    try:
        bad.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start
    assert f"byte {start} of the line (file offset {len(good) + 1 + start})" in problem.message


def test_huge_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    with path.open("wb") as fh:
        fh.write(json.dumps(sample(1)).encode() + b"\n")
        fh.write(b'{"instruction": "' + b"x" * (60 << 20) + b'"}\n')
        fh.write(json.dumps(sample(2)).encode() + b"\n")
    reader = Reader("d.jsonl")
    tracemalloc.start()
    got = [line for line, _ in read_objects(path, reader)]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got == [1, 3]
    assert reader.problems[0].code == "line-too-long" and reader.problems[0].line == 2
    assert peak < 8 * MAX_LINE_BYTES  # a few 1 MB buffers at most, never the 60 MB line as a whole


def test_symlinked_data_file_is_refused_and_not_read(tmp_path: Path) -> None:
    group = tmp_path / "g"
    write_jsonl(group / "tests.jsonl", [sample(i) for i in range(5)])
    secret = write_jsonl(tmp_path / "secret.jsonl", [sample(99, answer="SECRET")])
    (group / "data").mkdir()
    os.symlink(secret, group / "data" / "train.jsonl")
    record = validate.run(group, "g")
    assert ("data/train.jsonl", None, "symlink") in codes(record)
    assert record.n_samples == 0


def test_duplicates_and_lengths(tmp_path: Path) -> None:
    group = tmp_path / "g"
    rows = [sample(i) for i in range(20)] + [sample(3), sample(4, answer="different")]
    write_jsonl(group / "data" / "train.jsonl", rows)
    write_jsonl(group / "tests.jsonl", [sample(100 + i) for i in range(5)])
    (group / "config.yaml").write_text("max_length: 16\n")
    record = validate.run(group, "g", count_tokens=lambda texts: [len(t.split()) for t in texts])
    dups = [p for p in record.problems if p.code == "duplicate"]
    assert [p.line for p in dups] == [21, 22] and "different answer" in dups[1].message
    assert record.n_truncated == 22 and any(p.code == "too-long" for p in record.problems)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(data)
    problems: list = []
    sample_files.read_samples(tmp_path, ["fuzz.jsonl"], problems, is_test=False)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(json_values, max_size=5))
def test_arbitrary_json_never_raises(tmp_path: Path, values: list) -> None:
    write_jsonl(tmp_path / "fuzz.jsonl", values)
    problems: list = []
    sample_files.read_samples(tmp_path, ["fuzz.jsonl"], problems, is_test=False)


def test_deep_nesting_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("[" * 100000 + "]" * 100000 + "\n")
    problems: list = []
    assert sample_files.read_samples(tmp_path, ["d.jsonl"], problems, is_test=False) == []
    assert problems and problems[0].severity == "error"


@pytest.mark.parametrize("raw", ['{"messages": [{"role": "user", "content": "x"}]}', '["a"]', '"text"'])
def test_wrong_shapes_are_named(tmp_path: Path, raw: str) -> None:
    (tmp_path / "d.jsonl").write_text(raw + "\n")
    problems: list = []
    sample_files.read_samples(tmp_path, ["d.jsonl"], problems, is_test=False)
    assert problems[0].code in {"chat-format", "not-object", "strings-array"} and problems[0].line == 1


def test_grader_toml_chooses_files_and_train_table(tmp_path: Path) -> None:
    group = tmp_path / "g"
    write_jsonl(group / "set" / "mine.jsonl", [sample(i) for i in range(19)])
    write_jsonl(group / "qs.jsonl", [sample(100 + i) for i in range(5)])
    (group / "grader.toml").write_text('data = ["set/mine.jsonl"]\ntests = "qs.jsonl"\n[train]\nlora_r = 8\n')
    record = validate.run(group, "g")
    assert record.data_files == ["set/mine.jsonl"] and record.tests_file == "qs.jsonl"
    assert record.config.lora_r == 8 and record.n_tests == 5
    too_few = [p for p in record.problems if p.code == "too-few-samples"]
    # too few samples costs the samples item (partial credit), it does not make the group invalid
    assert too_few[0].message == "19 < 20 usable samples" and too_few[0].severity == "warning"
    assert record.status == "ok"


def test_grader_toml_cannot_point_outside_the_group(tmp_path: Path) -> None:
    group = tmp_path / "g"
    write_jsonl(tmp_path / "other.jsonl", [sample(i) for i in range(20)])
    write_jsonl(group / "tests.jsonl", [sample(i) for i in range(5)])
    (group / "grader.toml").write_text('data = ["../other.jsonl"]\n')
    record = validate.run(group, "g")
    assert ("../other.jsonl", None, "outside") in codes(record) and record.n_samples == 0


# Messages on the shapes real student files come in (BRIEF §3: found in public course repositories).


def _read(tmp_path: Path, name: str, text: str) -> tuple[list, list]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    problems: list = []
    samples = sample_files.read_samples(tmp_path, [name], problems, is_test=False)
    return samples, problems


def test_a_pretty_printed_document_of_any_length_is_read(tmp_path: Path) -> None:
    rows = [sample(i, context="line one\nline two " * 20) for i in range(90)]
    text = json.dumps({"data": rows}, indent=4, ensure_ascii=False)
    assert text.count("\n") > 400
    samples, problems = _read(tmp_path, "train.jsonl", text)
    assert len(samples) == 90 and not [p for p in problems if p.severity == "error"]
    wrapped = next(p for p in problems if p.code == "wrapped")
    assert "'data' list" in wrapped.message and wrapped.line == 1
    assert samples[1].source == f"train.jsonl:{text.splitlines().index('        {', 3) + 1}"
    samples, problems = _read(tmp_path, "train.json", json.dumps({"train": rows[:3]}, indent=2))
    assert len(samples) == 3 and any("'train' list" in p.message for p in problems)
    one = json.dumps(sample(1), indent=2) + "\n" * 500
    samples, problems = _read(tmp_path, "one.json", one)
    assert len(samples) == 1 and not [p for p in problems if p.severity == "error"]


def test_a_column_oriented_object_is_one_error(tmp_path: Path) -> None:
    columns = {"question": [f"q{i}" for i in range(30)], "answer": [f"a{i}" for i in range(30)]}
    samples, problems = _read(tmp_path, "qa.json", json.dumps(columns, indent=2))
    errors = [p for p in problems if p.severity == "error"]
    assert samples == [] and len(errors) == 1 and errors[0].code == "column-oriented"
    assert "'question', 'answer' each hold a list of 30 values" in errors[0].message
    assert errors[0].hint.startswith("convert it: jq -c")


def test_a_missing_comma_between_objects_is_where_json_says_and_the_rest_is_read(tmp_path: Path) -> None:
    rows = [json.dumps(sample(i), indent=2) for i in range(4)]
    text = "[\n" + ",\n".join(rows[:2]) + "\n" + ",\n".join(rows[2:]) + "\n]\n"  # no comma after the 2nd object
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        where = exc.lineno
    samples, problems = _read(tmp_path, "train.json", text)
    errors = [p for p in problems if p.severity == "error"]
    assert len(samples) == 4 and len(errors) == 1
    assert errors[0].line == where and "missing comma between two objects" in errors[0].message
    broken = text.replace('"answer": "It absorbs near 2002 nm."', '"answer": "It absorbs near 2002 nm.",')
    samples, problems = _read(tmp_path, "train2.json", broken.replace("}\n{", "},\n{"))
    # the course's loader (ujson) reads an object with a trailing comma, so grader reads it too, and says so
    assert [s.instruction for s in samples] == [f"What is mineral number {i}?" for i in range(4)]
    trailing = [p for p in problems if p.code == "trailing-comma"]
    assert len(trailing) == 1 and trailing[0].severity == "warning"
    assert "Python's json refuses it" in trailing[0].message
    assert not [p for p in problems if p.severity == "error"]


def test_alpaca_and_instances_records_get_one_message_naming_the_mapping(tmp_path: Path) -> None:
    rows = [{"instruction": f"q{i}", "input": f"c{i}", "output": f"a{i}"} for i in range(40)]
    samples, problems = _read(tmp_path, "alpaca.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    errors = [p for p in problems if p.severity == "error"]
    assert samples == [] and len(errors) == 1 and errors[0].repeats == 39
    assert "Alpaca-style" in errors[0].message and "'input' -> 'context' and 'output' -> 'answer'" in errors[0].hint
    assert "and 39 more like it" in errors[0].message
    nested = {"instruction": "Name the mineral.", "instances": [{"input": "x", "output": "y"}]}
    samples, problems = _read(tmp_path, "tasks.jsonl", json.dumps(nested) + "\n")
    assert problems[0].code == "instances-format" and "one sample per instance" in problems[0].hint


def test_a_problem_repeated_on_many_lines_is_shown_a_few_times_and_counted(tmp_path: Path) -> None:
    good = json.dumps(sample(1))
    mixed = "".join(f"{good}\nnot json at all\n" for _ in range(1500))
    samples, problems = _read(tmp_path, "mixed.jsonl", mixed)
    errors = [p for p in problems if p.code == "invalid-json"]
    assert len(samples) == 1500 and len(errors) == 5 and sum(1 + p.repeats for p in errors) == 1500
    assert "and 1495 more like it (lines 12, 14, 16" in errors[-1].message
    junk = "".join("not json at all\n" for _ in range(2_000_000))  # 32 MB of junk: read no further than needed
    samples, problems = _read(tmp_path, "junk.jsonl", junk)
    assert samples == [] and sum(1 + p.repeats for p in problems if p.code == "invalid-json") == 1000
    assert any(p.code == "not-json-lines" and p.line == 1001 for p in problems)
    (tmp_path / "mixed.jsonl").unlink()
    record = validate.run(tmp_path, "g")
    assert record.status == "failed" and len(record.model_dump_json()) < 20_000
