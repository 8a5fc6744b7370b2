"""A group that followed the course (BRIEF §3a): its parts found at any depth, its script read as data, its logs
and adapter folder cross-checked, and the whole group graded for what it handed in."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from grader.reading import discover, part_a_values, sample_files, validate
from grader.records import Problem
from tests.conftest import EXAMPLES, sample, write_jsonl

COURSE = EXAMPLES / "course-group"
SCRIPT = "W5_materials/LoRA_fine_Tuning.py"


def test_parts_are_found_at_any_depth_and_said_where() -> None:
    parts = discover.find_parts(COURSE)
    assert parts.data == [
        "W5_materials/all.jsonl",
        "W5_materials/geology_papers.json",
        "W5_materials/hyperspectral_papers.json",
    ]
    assert parts.scripts == [SCRIPT] and parts.adapters == ["W5_materials/week5_lora_v01"]
    assert "W5_materials/trainer_state.json" in parts.logs and "W5_materials/loss_log.csv" in parts.logs
    assert any(".tfevents." in log for log in parts.logs)
    # the adapter folder's model card is not the group's report
    assert parts.deliverables == ["README.md", "Week5_Group3_report.pptx"]
    assert parts.tests == [] and parts.configs == []


def test_discovery_refuses_links_and_special_files_and_stops_at_its_caps(tmp_path: Path) -> None:
    group = tmp_path / "g"
    write_jsonl(group / "a" / "b" / "data.jsonl", [sample(i) for i in range(3)])
    (group / "linked.jsonl").symlink_to("/etc/passwd")
    (group / "other").symlink_to(tmp_path)  # a folder link is never followed
    os.mkfifo(group / "tests.jsonl")
    deep = group.joinpath(*["d"] * 12)
    deep.mkdir(parents=True)
    write_jsonl(deep / "hidden.jsonl", [sample(1)])
    parts = discover.find_parts(group)
    assert set(parts.refused) == {"linked.jsonl", "other", "tests.jsonl"}
    assert "a/b/data.jsonl" in parts.data and not any("hidden" in d for d in parts.data)
    assert any("folders deep" in n for n in parts.notes)
    record = validate.run(group, "g")  # a FIFO named tests.jsonl neither blocks nor is read
    assert any(p.file == "tests.jsonl" and p.code == "not-a-file" for p in record.problems)
    assert any(p.file == "linked.jsonl" and p.code == "symlink" for p in record.problems)


def test_every_value_says_where_it_came_from() -> None:
    record = validate.run(COURSE, "course-group")
    assert record.status == "ok" and record.script == SCRIPT
    assert record.config.include_mlp is True and record.config_sources["include_mlp"] == f"{SCRIPT}:23"
    assert record.config.learning_rate == 3e-4 and record.config_sources["learning_rate"] == f"{SCRIPT}:18"
    assert record.config.logging_steps == 20 and record.config_sources["logging_steps"] == f"{SCRIPT}:73"
    assert record.config.lora_r == 8 and record.config.max_length == 1024
    assert record.config_sources["fp16"] == record.config_sources["bf16"]  # bf16=True says fp16 is off
    assert "course default" not in record.config_sources.values()


def test_without_a_script_the_adapter_and_trainer_state_fill_in(tmp_path: Path) -> None:
    group = tmp_path / "g"
    shutil.copytree(COURSE, group)
    (group / SCRIPT).unlink()
    record = validate.run(group, "g")
    adapter_config = "W5_materials/week5_lora_v01/adapter_config.json"
    assert record.config.lora_r == 8 and record.config_sources["lora_r"] == adapter_config
    assert record.config.include_mlp is True and record.config_sources["include_mlp"] == adapter_config
    assert record.config_sources["logging_steps"] == "W5_materials/trainer_state.json"
    assert record.config_sources["learning_rate"] == "course default"


def test_disagreements_are_warnings_with_both_values(tmp_path: Path) -> None:
    group = tmp_path / "g"
    shutil.copytree(COURSE, group)
    config = group / "W5_materials" / "week5_lora_v01" / "adapter_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "r": 4, "target_modules": ["q_proj", "v_proj"]}))
    (group / "config.yaml").write_text("learning_rate: 1e-4\n")
    record = validate.run(group, "g")
    warnings = [p for p in record.problems if p.code == "config-conflict"]
    text = " | ".join(p.message for p in warnings)
    assert "lora_r = 4 in W5_materials/week5_lora_v01/adapter_config.json" in text and f"{SCRIPT}:20 says 8" in text
    assert "include_mlp = False" in text and "says True" in text
    assert "learning_rate = '1e-4' here, but" in text and f"{SCRIPT}:18 sets 0.0003" in text
    assert record.config.learning_rate == 1e-4 and record.config_sources["learning_rate"] == "config.yaml:1"
    assert record.config.lora_r == 8  # the script is the group's stated config; the warning names both


def test_a_broken_huge_or_computing_script_is_said_and_the_rest_goes_on(tmp_path: Path) -> None:
    group = tmp_path / "g"
    write_jsonl(group / "all.jsonl", [sample(i) for i in range(20)])
    (group / "train_lora.py").write_text("LORA_R = 8\nLR = 1e-4 * 2\nbf16 = (\n")
    record = validate.run(group, "g")
    assert record.status == "ok" and record.config.learning_rate == 2e-4  # course default, said
    script_problems = [p for p in record.problems if p.file == "train_lora.py" and p.code == "script"]
    assert script_problems[0].line == 3 and "not valid Python" in script_problems[0].message
    (group / "train_lora.py").write_text("LORA_R = 8\nLR = 1e-4 * 2\n")
    record = validate.run(group, "g")
    assert record.config.lora_r == 8 and record.config_sources["lora_r"] == "train_lora.py:1"
    computed = next(p for p in record.problems if p.code == "script")
    assert computed.line == 2 and "LR = 1e-4 * 2 is computed" in computed.message
    (group / "train_lora.py").write_text("LORA_R = 8\n" + "# padding\n" * 40_000)
    record = validate.run(group, "g")
    assert any(p.file == "train_lora.py" and p.code == "file-too-large" for p in record.problems)
    assert record.config_sources["lora_r"] == "course default"


def test_data_path_wins_and_a_merge_is_counted_once(tmp_path: Path) -> None:
    record = validate.run(COURSE, "course-group")
    assert record.data_files == ["W5_materials/all.jsonl"] and record.n_samples == 24
    assert "named by DATA_PATH" in record.data_note and "counted once" in record.data_note
    group = tmp_path / "g"
    shutil.copytree(COURSE, group)
    script = group / SCRIPT
    script.write_text(script.read_text().replace("DATA_PATH = ", "DATA = "))
    record = validate.run(group, "g")  # no DATA_PATH: the merge is recognised by its content
    assert record.data_files == ["W5_materials/all.jsonl"] and record.n_samples == 24
    assert "every sample is also in W5_materials/all.jsonl" in record.data_note
    script.write_text(
        script.read_text().replace(
            'DATA = r"D:\\AI_course\\W5_materials\\all.jsonl"',
            'DATA_PATH = r"D:\\AI_course\\W5_materials\\geology_papers.json"',
        )
    )
    record = validate.run(group, "g")
    assert record.data_files == ["W5_materials/geology_papers.json"] and record.n_samples == 12


def test_a_missing_part_costs_only_its_items(tmp_path: Path) -> None:
    record = validate.run(COURSE, "course-group")  # its test questions are the Q&A table of its slides
    assert record.status == "ok" and record.missing == [] and record.n_tests == 5
    assert record.tests_file == "Week5_Group3_report.pptx (extracted)"
    group = tmp_path / "g"
    shutil.copytree(COURSE, group)
    (group / "Week5_Group3_report.pptx").unlink()
    record = validate.run(group, "g")
    assert record.status == "ok" and record.missing == ["test questions", "report"]
    assert any(p.code == "no-tests" and p.severity == "warning" for p in record.problems)
    assert any(p.code == "no-report" and "README.md not counted" in p.message for p in record.problems)
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "README.md").write_text("# Week5-Assignment\n")
    record = validate.run(empty, "nothing")
    assert record.status == "failed" and "no training data" in record.message


def test_validate_on_a_class_folder_validates_each_group(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from grader.cli import app

    result = CliRunner().invoke(app, ["validate", str(EXAMPLES)])
    assert result.exit_code == 1  # broken-group has errors
    assert "holds 5 group folders, not one group: validating each" in result.output
    assert "no training data found" not in result.output
    for group in ("broken-group", "course-group", "course-group-lfs", "good-group", "weak-group"):
        assert f"\n{group}\n" in result.output
    assert "5 groups, 1 with errors" in result.output
    result = CliRunner().invoke(app, ["validate", str(EXAMPLES / "course-group"), "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.output)["errors"] == 0


@pytest.mark.slow
def test_the_course_shaped_groups_are_graded_end_to_end(tmp_path: Path) -> None:
    from grader.config import RunSettings
    from grader.running.pipeline import run as grade_batch
    from tests.conftest import deck_text, pdf_text

    subs = tmp_path / "subs"
    for name in ("course-group", "course-group-lfs"):
        shutil.copytree(EXAMPLES / name, subs / name)
    out = tmp_path / "out"
    grade_batch(subs, RunSettings(out=out, cache_dir=None))
    lines = (out / "gradebook.csv").read_text(encoding="utf-8").splitlines()
    rows = {r["group"]: r for r in csv.DictReader(lines)}
    row = rows["course-group"]
    assert row["status"] == "graded" and row["reason"] == ""
    points = {k: float(row[k]) for k in ("data_valid", "samples", "tests", "adapter", "loss", "part_a", "reflections")}
    # Part A: 45 of the 52 answers its slides give, read structure first (warmup_ratio is not discussed)
    assert points == {
        "data_valid": 2,
        "samples": 2,
        "tests": 2,
        "adapter": 2,
        "loss": 2,
        "part_a": round(4 * 45 / 52, 2),
        "reflections": 2,
    }
    assert row["include_mlp"] == "True" and f"include_mlp={SCRIPT}:23" in row["param_sources"]
    assert row["data_files"] == "W5_materials/all.jsonl" and row["n_samples"] == "24" and row["base_model"] == "demo"
    results = json.loads((out / "course-group" / "results.json").read_text())
    assert results["base_model"] == "demo"
    train = results["train"]
    assert train["source"] == "trained" and train["config"]["include_mlp"] is True  # weights were not committed
    assert any("adapter_model.safetensors is missing" in n for n in train["notes"])
    assert train["reported"]["train_loss"] == 2.4187 and train["reported"]["steps"] == 2
    lfs = json.loads((out / "course-group-lfs" / "results.json").read_text())
    assert lfs["status"] == "graded" and any("Git LFS pointer" in n for n in lfs["train"]["notes"])
    lfs_points = {i["id"]: i["points"] for i in lfs["grade"]["items"]}
    # its PDF: 32 of 52 Part A answers, reflections (회고) of enough words, 5 test questions from labelled blocks
    assert lfs_points["part_a"] == round(4 * 32 / 52, 2) and lfs_points["reflections"] == 2 and lfs_points["tests"] == 2
    assert any(p["code"] == "config-conflict" for p in lfs["validate"]["problems"])
    pdf = " ".join(pdf_text(out / "course-group" / "report.pdf").split())
    assert "the group's own logs: loss 2.419 (perplexity 11.2) is \"learning but weak\" on the course's scale" in pdf
    assert "this run's training: loss" in pdf and "not from Llama-3.1-8B" in pdf
    assert f"{SCRIPT}:23" in pdf.replace(" ", "") or "LoRA_fine_Tuning.py:23" in pdf.replace(" ", "")
    assert "Week5_Group3_report.pptx, slide 2" in pdf and "as the group reported it (not measured here)" in pdf
    assert "What it controls: the size of each optimizer step on the LoRA weights." in pdf
    assert (out / "course-group" / "tests.extracted.jsonl").is_file()
    answers = results["generate"]["answers"]
    assert len(answers) == 5 and answers[0]["reported"].startswith("Kaolinite, which has a doublet")
    assert answers[0]["source"] == "Week5_Group3_report.pptx, slide 7"
    assert results["score"]["questions"][0]["reported"]["rougeL"] > 0
    deck = " ".join(deck_text(out / "course-group" / "slides.pptx"))
    assert "not from Llama-3.1-8B" in deck and "learning but weak" in deck
    assert "The group's model (reported, not measured)" in " ".join(deck.split())
    summary = " ".join(pdf_text(out / "summary.pdf").split())
    assert "base model: demo" in summary and "not Llama-3.1-8B's" in summary


def test_problem_messages_fold_repeats() -> None:
    problems = [Problem(file="a.jsonl", line=i, code="invalid-json", message="bad") for i in range(1, 101)]
    folded = sample_files.fold(problems)
    assert len(folded) == 5 and folded[-1].repeats == 95
    assert "and 95 more like it (lines 6, 7, 8, 9, 10, 11, 12, 13, ...)" in folded[-1].message
    assert part_a_values.DEFAULT == "course default"


@pytest.mark.slow
def test_a_class_wide_test_set_is_asked_of_every_group(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from grader.cli import app

    subs = tmp_path / "subs"
    shutil.copytree(EXAMPLES / "course-group", subs / "course-group")
    class_tests = write_jsonl(
        tmp_path / "class.jsonl",
        [
            {"instruction": "Which mineral absorbs near 2340 nm?", "context": "Carbonates.", "answer": "Calcite."},
            {"instruction": "What does MNF order by?", "context": "Noise.", "answer": "Signal-to-noise ratio."},
        ],
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["grade", str(subs), "--out", str(out), "--tests", str(class_tests), "-q"])
    assert result.exit_code == 0, result.output
    row = next(csv.DictReader((out / "gradebook.csv").read_text(encoding="utf-8").splitlines()))
    assert row["class_rouge_l_gain"] != "" and row["rouge_l_gain"] != ""
    results = json.loads((out / "course-group" / "results.json").read_text())
    asked = [a["instruction"] for a in results["generate_class"]["answers"]]
    assert asked == ["Which mineral absorbs near 2340 nm?", "What does MNF order by?"]
    assert len(results["score_class"]["questions"]) == 2 and len(results["generate"]["answers"]) == 5
    from tests.conftest import pdf_text

    pdf = " ".join(pdf_text(out / "course-group" / "report.pdf").split())
    assert "The class-wide test set" in pdf and "Which mineral absorbs near 2340 nm?" in pdf
    summary = " ".join(pdf_text(out / "summary.pdf").split())
    assert "every group on the same questions" in summary
    (tmp_path / "bad.jsonl").write_text('{"instruction": "q"}\n')
    bad = CliRunner().invoke(app, ["grade", str(subs), "--out", str(out), "--tests", str(tmp_path / "bad.jsonl")])
    from grader.errors import ConfigError

    # a ConfigError: `grader` exits 2 and nothing is graded (main() maps it; tests/test_pipeline.py checks the codes)
    assert isinstance(bad.exception, ConfigError) and "bad.jsonl:1: field 'answer' is missing" in str(bad.exception)
