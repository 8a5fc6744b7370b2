"""End to end: the README's first command on the example groups, then the produced PDF, PPTX and gradebook."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from grader.cli import app
from tests.conftest import EXAMPLES


def test_grade_examples_end_to_end(tmp_path: Path, grader_cache: Path) -> None:
    from pptx import Presentation
    from pypdf import PdfReader

    out = tmp_path / "reports"
    result = CliRunner().invoke(app, ["grade", str(EXAMPLES), "--out", str(out), "--quiet"])
    assert result.exit_code == 1, result.output  # the broken group fails on purpose
    with (out / "gradebook.csv").open(encoding="utf-8") as fh:
        rows = {r["group"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"good-group", "weak-group", "broken-group"}
    assert rows["good-group"]["status"] == "graded" and rows["weak-group"]["status"] == "graded"
    assert rows["broken-group"]["status"] == "invalid" and "learning_rate" in rows["broken-group"]["reason"]
    assert (
        float(rows["good-group"]["total"]) > float(rows["weak-group"]["total"]) > float(rows["broken-group"]["total"])
    )

    for group in ("good-group", "weak-group"):
        results = json.loads((out / group / "results.json").read_text())
        loss = results["train"]["train_loss"]
        pdf_text = "\n".join(p.extract_text() for p in PdfReader(str(out / group / "report.pdf")).pages)
        pdf_flat = " ".join(pdf_text.split())
        assert group in pdf_text and f"{loss:.3f}" in pdf_text
        deck = Presentation(str(out / group / "slides.pptx"))
        deck_text = " ".join(
            " ".join(s.text_frame.text for s in slide.shapes if s.has_text_frame) for slide in deck.slides
        )
        assert group in deck_text and f"{loss:.3f}" in deck_text
        for answer in results["generate"]["answers"]:
            assert " ".join(answer["instruction"].split()) in pdf_flat
            assert answer["instruction"][:40] in " ".join(deck_text.split())
        assert (out / group / "adapter" / "adapter_model.safetensors").is_file()

    broken = "\n".join(p.extract_text() for p in PdfReader(str(out / "broken-group" / "report.pdf")).pages)
    assert "What is wrong" in broken and "data/train.jsonl:7" in broken
    assert not list(EXAMPLES.rglob("adapter*"))  # nothing written into the submissions

    # A second run reuses the trained adapters and cached answers: nothing is retrained.
    train_before = (out / "good-group" / "train.json").read_bytes()
    again = CliRunner().invoke(app, ["grade", str(EXAMPLES), "--out", str(out)])
    assert again.exit_code == 1
    assert "grading" in again.output and "3/3" in again.output  # the progress bar: groups done / total
    assert "grading" not in result.output  # --quiet
    assert (out / "good-group" / "train.json").read_bytes() == train_before
    assert json.loads((out / "batch.json").read_text())["model_loads"] == 0


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from grader.cli import app; "
        "print([m for m in ('torch', 'transformers', 'weasyprint', 'peft') if m in sys.modules])"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


def test_validate_command_formats(tmp_path: Path) -> None:
    runner = CliRunner()
    text = runner.invoke(app, ["validate", str(EXAMPLES / "broken-group")])
    assert text.exit_code == 1 and "data/train.jsonl:7:121: error: missing comma" in text.output
    github = runner.invoke(app, ["validate", str(EXAMPLES / "broken-group"), "--format", "github"])
    assert (
        f"::error file={EXAMPLES / 'broken-group' / 'data/train.jsonl'},line=7,col=121::missing comma" in github.output
    )
    as_json = json.loads(runner.invoke(app, ["validate", str(EXAMPLES / "good-group"), "--format", "json"]).output)
    assert as_json["errors"] == 0 and as_json["summary"] == "24 samples, 6 tests"


def test_validate_counts_tokens_with_a_base_model(tmp_path: Path, runtime) -> None:
    group = tmp_path / "g"
    group.mkdir()
    rows = [{"instruction": f"q{i}", "context": "basalt " * 200, "answer": "a"} for i in range(20)]
    (group / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (group / "config.yaml").write_text("max_length: 64\n")
    result = CliRunner().invoke(app, ["validate", str(group), "--base-model", "demo", "--format", "json"])
    problems = json.loads(result.output)["problems"]
    assert sum(p["code"] == "too-long" for p in problems) == 20
    plain = CliRunner().invoke(app, ["validate", str(group)])
    assert "token lengths not checked (pass --base-model)" in plain.output


def test_console_script_exit_codes(tmp_path: Path) -> None:
    """Through the real entry point (not CliRunner): 1 for problems, 0 when valid, 2 for usage errors."""
    run = lambda *args: subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True)  # noqa: E731
    assert run("validate", str(EXAMPLES / "broken-group")).returncode == 1
    assert run("validate", str(EXAMPLES / "good-group")).returncode == 0
    missing = run("validate", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert run("validate", str(EXAMPLES / "good-group"), "--format", "xml").returncode == 2


def test_base_answers_for_the_whole_class_in_one_pass(tmp_path: Path, copy_example, monkeypatch) -> None:
    """Two groups sharing their test questions: one base pass for both, then one fine-tuned pass per group."""
    from grader import generate, pipeline
    from grader.config import RunSettings

    for name in ("g1", "g2"):
        folder = copy_example("good-group").rename(tmp_path / "subs" / name)
        (folder / "config.yaml").write_text(f"num_train_epochs: 1\nper_device_train_batch_size: 8\nseed: {len(name)}\n")
    calls: list[int] = []
    real = generate.answer
    monkeypatch.setattr(
        generate, "answer", lambda rt, prompts, *a, **k: calls.append(len(prompts)) or real(rt, prompts, *a, **k)
    )
    settings = RunSettings(out=tmp_path / "out", max_new_tokens=8)
    rows = pipeline.run(tmp_path / "subs", settings)
    assert [r.status for r in rows] == ["graded", "graded"]
    assert calls == [6, 6, 6]  # 6 distinct base prompts once, then each group's fine-tuned answers
    for name in ("g1", "g2"):
        record = json.loads((tmp_path / "out" / name / "generate.json").read_text())
        assert record["base_cache_hits"] == 6
    calls.clear()
    pipeline.run(tmp_path / "subs", settings)
    assert calls == []  # nothing left to generate on a re-run
