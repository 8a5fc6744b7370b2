"""The command line's option sets: grade and sweep share one (RunOptions), and its defaults are the settings'."""

from __future__ import annotations

import dataclasses

import typer.main

from grader.cli import RunOptions, app
from grader.config import RunSettings


def _options(command: str) -> dict[str, object]:
    """name -> default of each parameter of a command, as click sees it."""
    group = typer.main.get_command(app)
    return {p.name: p.default for p in group.commands[command].params if p.name}  # type: ignore[attr-defined]


def test_grade_and_sweep_take_the_same_run_options_with_the_same_defaults() -> None:
    grade, sweep = _options("grade"), _options("sweep")
    for field in dataclasses.fields(RunOptions):
        assert field.name in grade and field.name in sweep, field.name
        assert grade[field.name] == sweep[field.name] == field.default, field.name
    assert {"partition", "account", "time_min", "gpus_per_shard", "slurm_option"} <= set(sweep)  # Slurm: both


def test_the_command_line_defaults_are_the_settings_defaults() -> None:
    """Each default is written once (grader.limits.DEFAULTS): what --help shows is what RunSettings uses."""
    settings = RunSettings()
    for field in ("out", "base_model", "device", "quantize", "timeout"):
        assert getattr(RunOptions(), field) == getattr(settings, field), field
    grade = _options("grade")
    assert (grade["engine"], grade["assignment"]) == (settings.engine, settings.assignment)
    for command in ("preview", "train", "ask"):
        assert _options(command)["base_model"] == settings.base_model
        assert _options(command)["out_dir"] == settings.out


def test_run_options_become_the_settings_of_the_run() -> None:
    run = RunOptions(base_model="tiny", device="cpu", timeout=60.0, max_new_tokens=8)
    settings = run.settings(engine="per-group")
    assert (settings.base_model, settings.device, settings.timeout, settings.max_new_tokens) == ("tiny", "cpu", 60, 8)
    assert settings.engine == "per-group" and settings.out == run.out
