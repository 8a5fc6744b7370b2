"""`grader train` and `grader ask`: the course's scripts, with the Part A parameters as flags."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.errors import ConfigError, SubmissionError
from grader.layout import Layout
from grader.llm import course
from tests.conftest import EXAMPLES


def test_parse_flags() -> None:
    got = course.parse_flags(["--learning_rate", "1e-4", "--lora-r=8", "--include_mlp", "--bf16", "false"])
    assert got == {"learning_rate": "1e-4", "lora_r": "8", "include_mlp": "true", "bf16": "false"}
    with pytest.raises(ConfigError, match="unexpected argument"):
        course.parse_flags(["oops"])


def test_flags_override_the_group_config_and_are_checked(tmp_path: Path) -> None:
    config, samples, tests, name = course.group_config(
        EXAMPLES / "good-group", {"lora_r": "8", "fp16": "true", "bf16": "false"}, Layout(tmp_path)
    )
    assert (config.lora_r, config.fp16, config.num_train_epochs) == (8, True, 3) and name == "good-group"
    assert len(samples) == 24 and len(tests) == 6
    with pytest.raises(ConfigError, match="did you mean 'lora_r'"):
        course.group_config(EXAMPLES / "good-group", {"lora_rr": "8"}, Layout(tmp_path))
    with pytest.raises(ConfigError, match="learning_rate"):
        course.group_config(EXAMPLES / "good-group", {"learning_rate": "fast"}, Layout(tmp_path))


def test_a_flag_can_fix_a_broken_config_value(tmp_path: Path) -> None:
    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "good-group", group)
    (group / "config.yaml").write_text("learning_rate: fast\nlora_r: 4\n")
    config, *_ = course.group_config(group, {"learning_rate": "3e-4"}, Layout(tmp_path / "out"))
    assert config.learning_rate == 3e-4 and config.lora_r == 4
    with pytest.raises(SubmissionError, match="data errors"):
        course.group_config(EXAMPLES / "broken-group", {}, Layout(tmp_path / "out"))


def test_train_then_ask(tmp_path: Path, runtime) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    trained = runner.invoke(
        app,
        [
            "train",
            str(EXAMPLES / "good-group"),
            "--out",
            str(out),
            "--num_train_epochs",
            "1",
            "--lora_r",
            "4",
            "--max_length",
            "256",
        ],
    )
    assert trained.exit_code == 0, trained.output
    record = json.loads((out / "good-group" / "train.json").read_text())
    assert record["config"]["lora_r"] == 4 and record["config"]["num_train_epochs"] == 1
    assert record["config"]["learning_rate"] == 2e-4  # from the group's config.yaml
    assert "lora_r=4" in trained.output and (out / "good-group" / "adapter" / "adapter_model.safetensors").is_file()
    asked = runner.invoke(
        app,
        [
            "ask",
            str(EXAMPLES / "good-group"),
            "--out",
            str(out),
            "--question",
            "What is [bold]kaolinite?",
            "--max-new-tokens",
            "8",
        ],
    )
    assert asked.exit_code == 0, asked.output
    assert "Q1. What is [bold]kaolinite?" in asked.output and "base:" in asked.output and "finetuned:" in asked.output
    assert "values used: base_model=demo" in asked.output and "max_new_tokens=8" in asked.output
    recorded = json.loads((out / "good-group" / "ask.json").read_text())
    assert recorded["max_new_tokens"] == 8 and recorded["prompt_format"] == "plain" and recorded["decoding"] == "greedy"
    assert recorded["answers"][0]["instruction"] == "What is [bold]kaolinite?"
    tests = runner.invoke(
        app, ["ask", str(EXAMPLES / "good-group"), "--out", str(out), "--model", "base", "--max-new-tokens", "4"]
    )
    assert tests.exit_code == 0 and "Q6." in tests.output and "finetuned:" not in tests.output
    both = runner.invoke(app, ["ask", str(EXAMPLES / "good-group"), "--out", str(out), "--max-new-tokens", "4"])
    assert both.exit_code == 0, both.output
    # the answers file `grader ask` writes is the one `grader preview` reads, as it is
    from grader.reading import recorded, sample_files

    group = tmp_path / "committed"
    shutil.copytree(EXAMPLES / "good-group", group)
    shutil.copy(out / "good-group" / "answers.jsonl", group / "answers.jsonl")
    gen = recorded.answers("g", group, sample_files.load_samples(out / "good-group" / "tests.jsonl"))
    assert gen is not None and len(gen.answers) == 6 and gen.source == "recorded"
    assert all(a.base and a.finetuned for a in gen.answers) and not [n for n in gen.notes if "no " in n]


def test_ask_without_adapter_says_what_to_do(tmp_path: Path, runtime) -> None:
    with pytest.raises(SubmissionError, match="grader train"):
        course.ask_group(
            EXAMPLES / "weak-group",
            out=tmp_path,
            base_model="demo",
            device="cpu",
            which="finetuned",
            question=None,
            context="",
            max_new_tokens=4,
        )
