"""End to end: the README's first command on the example groups, then the produced PDF, PPTX and gradebook."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from tests.conftest import EXAMPLES, deck_text, pdf_text


def assert_clean_text_layer(pdf: Path) -> None:
    import re

    import pdfplumber
    from pypdf import PdfReader

    pages = [page.extract_text() for page in PdfReader(str(pdf)).pages]
    assert all(page.strip() and "\x00" not in page for page in pages), pdf
    assert not re.search(r"\b(\w ){6,}", "\n".join(pages)), pdf  # "f i n a l": a custom-encoded font
    with pdfplumber.open(str(pdf)) as plumbed:
        assert all((page.extract_text() or "").strip() for page in plumbed.pages), pdf


@pytest.mark.slow
def test_grade_examples_end_to_end(tmp_path: Path, grader_cache: Path) -> None:
    out = tmp_path / "reports"
    before = sorted((p, p.stat().st_mtime_ns) for p in EXAMPLES.rglob("*"))
    result = CliRunner().invoke(app, ["grade", str(EXAMPLES), "--out", str(out), "--quiet"])
    assert result.exit_code == 1, result.output  # the broken group fails on purpose
    with (out / "gradebook.csv").open(encoding="utf-8") as fh:
        rows = {r["group"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"good-group", "weak-group", "broken-group", "course-group", "course-group-lfs"}
    assert rows["course-group"]["status"] == "graded" and rows["course-group-lfs"]["status"] == "graded"
    assert rows["good-group"]["status"] == "graded" and rows["weak-group"]["status"] == "graded"
    assert rows["broken-group"]["status"] == "invalid" and "learning_rate" in rows["broken-group"]["reason"]
    assert (
        float(rows["good-group"]["total"]) > float(rows["weak-group"]["total"]) > float(rows["broken-group"]["total"])
    )

    for group in ("good-group", "weak-group"):
        results = json.loads((out / group / "results.json").read_text())
        loss = results["train"]["train_loss"]
        pdf = pdf_text(out / group / "report.pdf")
        pdf_flat = " ".join(pdf.split())
        assert group in pdf and f"{loss:.3f}" in pdf
        deck = "\n".join(deck_text(out / group / "slides.pptx"))
        assert group in deck and f"{loss:.3f}" in deck
        for answer in results["generate"]["answers"]:
            assert " ".join(answer["instruction"].split()) in pdf_flat
            assert answer["instruction"][:40] in " ".join(deck.split())
        assert (out / group / "adapter" / "adapter_model.safetensors").is_file()

    broken = pdf_text(out / "broken-group" / "report.pdf")
    assert "What is wrong" in broken and "data/train.jsonl:7" in broken
    for group in rows:  # every report's text layer reads whole: no NUL padding, no letter-spacing, no empty page
        assert_clean_text_layer(out / group / "report.pdf")
    assert sorted((p, p.stat().st_mtime_ns) for p in EXAMPLES.rglob("*")) == before  # nothing written into them

    # A second run reuses the trained adapters and cached answers: nothing is retrained.
    train_before = (out / "good-group" / "train.json").read_bytes()
    again = CliRunner().invoke(app, ["grade", str(EXAMPLES), "--out", str(out)])
    assert again.exit_code == 1
    assert "grading" in again.output and "5/5" in again.output  # the progress bar: groups done / total
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
    too_long = [p for p in problems if p["code"] == "too-long"]
    assert len(too_long) == 10 and sum(1 + p["repeats"] for p in too_long) == 20  # the rest: "and 10 more like it"
    assert "and 10 more like it" in too_long[-1]["message"]
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


@pytest.mark.slow
def test_base_answers_for_the_whole_class_in_one_pass(tmp_path: Path, copy_example, monkeypatch) -> None:
    """Two groups sharing their test questions: one base pass for both, then one fine-tuned pass per group."""
    from grader.config import RunSettings
    from grader.llm import generate
    from grader.running import pipeline

    for name in ("g1", "g2"):
        folder = copy_example("good-group").rename(tmp_path / "subs" / name)
        (folder / "config.yaml").write_text(f"num_train_epochs: 1\nper_device_train_batch_size: 8\nseed: {len(name)}\n")
    calls: list[int] = []
    real = generate.answer
    monkeypatch.setattr(
        generate, "answer", lambda rt, prompts, *a, **k: calls.append(len(prompts)) or real(rt, prompts, *a, **k)
    )
    # 6 distinct base prompts once; then the fine-tuned answers: both groups' 12 rows in one mixed-adapter call
    # (the class engine, the default), or each group's own (per-group)
    for engine, expected in (("class", [6, 12]), ("per-group", [6, 6, 6])):
        calls.clear()
        settings = RunSettings(out=tmp_path / engine, max_new_tokens=8, engine=engine)
        rows = pipeline.run(tmp_path / "subs", settings)
        assert [r.status for r in rows] == ["graded", "graded"]
        assert calls == expected, engine
        for name in ("g1", "g2"):
            record = json.loads((tmp_path / engine / name / "generate.json").read_text())
            assert record["base_cache_hits"] == 6
        calls.clear()
        pipeline.run(tmp_path / "subs", settings)
        assert calls == []  # nothing left to generate on a re-run


SMALL = "num_train_epochs: 1\nper_device_train_batch_size: 8\nmax_length: 256\n"


def small_class(tmp_path: Path, copy_example, names: dict[str, str]) -> Path:
    """Copies of the example groups (name -> example) with a config that trains in about a second."""
    for name, example in names.items():
        folder = copy_example(example).rename(tmp_path / "subs" / name)
        config = folder / ("train_config.json" if example == "weak-group" else "config.yaml")
        config.unlink()
        (folder / "config.yaml").write_text(SMALL)
    return tmp_path / "subs"


@pytest.mark.slow
def test_roster_overrides_rescore_and_only(tmp_path: Path, copy_example) -> None:

    from grader.config import RunSettings
    from grader.errors import ConfigError
    from grader.running import pipeline

    subs = small_class(tmp_path, copy_example, {"g1": "good-group", "g2": "weak-group"})
    roster = tmp_path / "roster.csv"
    roster.write_text("group,github_username\ng1,kim\ng1,park\ng2,lee\ng3,choi\n")
    out = tmp_path / "out"
    settings = RunSettings(out=out, max_new_tokens=8)
    rows = {r.group: r for r in pipeline.run(subs, settings, roster=roster)}
    assert {g: r.status for g, r in rows.items()} == {"g1": "graded", "g2": "graded", "g3": "missing"}
    assert rows["g2"].items["reflections"] == 0
    with (out / "classroom.csv").open(encoding="utf-8") as fh:
        assert [(r["github_username"], r["status"]) for r in csv.DictReader(fh)] == [
            ("kim", "graded"),
            ("park", "graded"),
            ("lee", "graded"),
            ("choi", "missing"),
        ]
    assert json.loads((out / "summary.json").read_text())["status_counts"]["missing"] == 1

    (out / "overrides.csv").write_text("group,item,points,comment\ng2,reflections,2,reflections were in the slides\n")
    rescored = {r.group: r for r in pipeline.run(subs, settings.model_copy(update={"rescore": True}), roster=roster)}
    assert rescored["g2"].items["reflections"] == 2 and rescored["g2"].total == pytest.approx(rows["g2"].total + 2)
    assert json.loads((out / "batch.json").read_text())["model_loads"] == 0  # --rescore never loads the model
    results = json.loads((out / "g2" / "results.json").read_text())
    item = next(i for i in results["grade"]["items"] if i["id"] == "reflections")
    assert item["automatic"] == 0 and item["reason"].startswith("manual override: reflections were in the slides")
    assert "manual override" in " ".join(pdf_text(out / "g2" / "report.pdf").split())

    again = {r.group: r for r in pipeline.run(subs, settings, roster=roster)}  # a plain re-run keeps the override
    assert again["g2"].items["reflections"] == 2 and json.loads((out / "batch.json").read_text())["model_loads"] == 0

    g1_pdf = (out / "g1" / "report.pdf").stat().st_mtime_ns
    only = pipeline.run(subs, settings.model_copy(update={"only": ("g2",), "force": True}), roster=roster)
    assert [r.group for r in only] == ["g1", "g2", "g3"] and only[0].total == rows["g1"].total
    assert (out / "g1" / "report.pdf").stat().st_mtime_ns == g1_pdf  # left alone
    with pytest.raises(ConfigError, match="did you mean 'g2'"):
        pipeline.run(subs, settings.model_copy(update={"only": ("g22",)}))
    (out / "overrides.csv").write_text("group,item,points,comment\ng9,reflections,2,x\n")
    with pytest.raises(ConfigError, match=r"overrides\.csv:2: no group 'g9'"):
        pipeline.run(subs, settings)


def test_rescore_without_stored_answers_says_what_to_do(tmp_path: Path, copy_example) -> None:
    from grader.config import RunSettings
    from grader.running import pipeline

    subs = small_class(tmp_path, copy_example, {"g1": "good-group"})
    (row,) = pipeline.run(subs, RunSettings(out=tmp_path / "out", rescore=True))
    assert row.status == "error" and "run `grader grade` without --rescore first" in row.reason


@pytest.mark.slow
def test_groups_over_their_limits_get_a_status_naming_the_limit_and_the_batch_goes_on(
    tmp_path: Path, copy_example, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time, samples, test questions, file size: each limit hit is a status and a reason that names the limit and
    the flag that raises it; the groups within every limit are graded in the same batch."""
    import threading

    from grader.llm import train

    names = ("fast", "slow", "many-samples", "many-tests", "big-file")
    subs = small_class(tmp_path, copy_example, dict.fromkeys(names, "good-group"))
    # The slow group's training waits on an event that never comes, so only --timeout can end it, however fast
    # the machine; the limit is wide enough for the fast group however loaded the machine.
    never, real = threading.Event(), train.run
    monkeypatch.setattr(train, "run", lambda name, *a, **k: never.wait() if name == "slow" else real(name, *a, **k))
    for name, file in (("many-samples", "data/train.jsonl"), ("many-tests", "tests.jsonl")):
        lines = (subs / name / file).read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines]
        more = [{**r, "instruction": r["instruction"] + " (again)"} for r in rows]
        (subs / name / file).write_text("".join(json.dumps(r) + "\n" for r in rows + more), encoding="utf-8")
    with open(subs / "big-file" / "data" / "train.jsonl", "r+b") as fh:
        fh.truncate(3 << 19)  # 1.5 MB
    out = tmp_path / "out"
    # The per-group engine: a group's own training is what a per-group --timeout bounds (the class engine's shared
    # run is not counted against any group's limit, and says so).
    limits = ["--timeout", "60", "--max-samples", "30", "--max-tests", "10", "--max-file-mb", "1"]
    limits += ["--engine", "per-group"]
    result = CliRunner().invoke(
        app, ["grade", str(subs), "--out", str(out), "--quiet", "--max-new-tokens", "8", *limits]
    )
    assert result.exit_code == 1, result.output
    with (out / "gradebook.csv").open(encoding="utf-8") as fh:
        rows = {r["group"]: r for r in csv.DictReader(fh)}
    assert rows["fast"]["status"] == "graded"
    assert rows["slow"]["status"] == "timeout"
    assert "train did not finish within the per-group limit of 60 s (--timeout)" in rows["slow"]["reason"]
    expected = {
        "many-samples": "data/train.jsonl:31: more than 30 samples, the limit per group (--max-samples)",
        "many-tests": "tests.jsonl:11: more than 10 test questions, the limit per group (--max-tests)",
        "big-file": "data/train.jsonl: file is 1.5 MB, over the limit of 1 MB per file (--max-file-mb)",
    }
    for name, reason in expected.items():
        assert rows[name]["status"] == "over-limit" and rows[name]["reason"].startswith(reason), rows[name]
        assert not (out / name / "train.json").exists()  # nothing trained on a group over its limits
        results = json.loads((out / name / "results.json").read_text())
        assert results["status"] == "over-limit" and (out / name / "report.pdf").is_file()
    results = json.loads((out / "slow" / "results.json").read_text())
    assert results["status"] == "timeout" and "train" not in results  # no half-trained record
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status_counts"] == {
        "graded": 1,
        "invalid": 0,
        "over-limit": 3,
        "missing": 0,
        "error": 0,
        "timeout": 1,
        "not-submitted": 0,
    }


def test_check_base_reloads_a_model_left_with_lora_layers(tmp_path: Path, runtime) -> None:
    from peft import LoraConfig, get_peft_model

    from grader.config import RunSettings
    from grader.layout import Layout
    from grader.measure import grade
    from grader.running.batch import Batch

    batch = Batch(settings=RunSettings(out=tmp_path), layout=Layout(tmp_path), rubric=grade.load_rubric())
    batch._runtime = runtime
    batch.check_base("clean")
    assert batch._runtime is runtime and batch.notes == []
    model = get_peft_model(runtime.model, LoraConfig(r=2, target_modules=["q_proj"]))
    try:
        batch.check_base("g7")
        assert batch._runtime is None and "after g7 failed" in batch.notes[0]
    finally:
        runtime.model = model.unload()


@pytest.mark.slow
def test_killed_batch_resumes_where_it_stopped(tmp_path: Path, copy_example) -> None:
    """SIGKILL after the first group is done; the same command again redoes only the groups not finished."""
    import os
    import signal
    import time

    from grader.config import RunSettings
    from grader.running import pipeline

    subs = small_class(tmp_path, copy_example, {"a1": "good-group", "b2": "good-group", "c3": "good-group"})
    for name in ("b2", "c3"):  # slow enough that the kill lands before they finish
        (subs / name / "config.yaml").write_text(
            "num_train_epochs: 40\nper_device_train_batch_size: 2\ngradient_accumulation_steps: 1\nmax_length: 256\n"
        )
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "grader",
        "grade",
        str(subs),
        "--out",
        str(out),
        "--quiet",
        "--max-new-tokens",
        "8",
        "--engine",
        "per-group",  # a1 finished while b2 trains; the class engine's kill is in tests/test_classrun.py
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (out / "a1" / "render.json").is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (out / "a1" / "render.json").is_file() and not (out / "c3" / "render.json").exists()
    assert not (out / "gradebook.csv").exists()
    done = {p: (out / "a1" / p).stat().st_mtime_ns for p in ("train.json", "generate.json", "report.pdf")}
    for name in ("b2", "c3"):
        (subs / name / "config.yaml").write_text(SMALL)  # the instructor's fix before running again
    rows = pipeline.run(subs, RunSettings(out=out, max_new_tokens=8, engine="per-group"))
    assert [r.status for r in rows] == ["graded"] * 3
    assert {p: (out / "a1" / p).stat().st_mtime_ns for p in done} == done  # not redone
    assert json.loads((out / "batch.json").read_text())["model_loads"] == 1  # loaded for b2 and c3 only


def _assert_whole(out: Path) -> list[str]:
    """Every deliverable and record under `out` is a complete file; returns the names of the files checked."""
    import zipfile

    from PIL import Image
    from pptx import Presentation
    from pypdf import PdfReader

    from grader import records

    models = {
        "discover": records.GroupRecord,
        "validate": records.ValidationRecord,
        "train": records.TrainRecord,
        "generate": records.GenerationRecord,
        "score": records.ScoreRecord,
        "grade": records.GradeRecord,
        "render": records.RenderRecord,
    }
    checked = []
    for path in sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if ".cache" in path.parts or "runs" in path.parts:  # the generation cache and event logs: not deliverables
            continue
        data = path.read_bytes()
        if path.suffix == ".pdf":
            assert data.rstrip().endswith(b"%%EOF"), f"{path}: truncated PDF"
            pages = PdfReader(path, strict=True).pages
            assert pages and path.parent.name in pages[0].extract_text()
        elif path.suffix == ".pptx":
            with zipfile.ZipFile(path) as z:
                assert z.testzip() is None, f"{path}: broken zip"
            assert len(Presentation(str(path)).slides) > 3
        elif path.suffix == ".png":
            with Image.open(path) as im:
                im.load()
        elif path.suffix == ".json":
            loaded = json.loads(data)
            if path.stem in models:
                models[path.stem].model_validate(loaded)
        elif path.suffix == ".csv":
            rows = list(csv.DictReader(data.decode().splitlines()))
            assert rows and all(r["status"] for r in rows)
        elif path.name == "adapter_model.safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                assert f.keys()
        checked.append(path.relative_to(out).as_posix())
    return checked


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_killed_at_any_write_every_report_is_whole(tmp_path: Path, copy_example) -> None:
    """SIGKILL a re-render right after each of its writes in turn (a1's plot, PDF and deck, b2's, the gradebook):
    each time, every report, deck, plot, record and gradebook left behind is complete, each report is the old one
    or the new one (a revision marker in REPORT.md tells which), and the next run finishes the batch."""
    import signal
    import time

    subs = small_class(tmp_path, copy_example, {"a1": "good-group", "b2": "weak-group"})
    for name in ("a1", "b2"):
        report = subs / name / "REPORT.md"
        text = report.read_text(encoding="utf-8")
        report.write_text(text + ("" if "## Reflections" in text else "\n\n## Reflections\n") + "\n\nMarker rev0.\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "grade", str(subs), "--out", str(out), "--quiet"]
    command += ["--max-new-tokens", "8"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    whole = _assert_whole(out)
    assert {"a1/report.pdf", "b2/slides.pptx", "a1/training.png", "a1/adapter/adapter_model.safetensors"} <= set(whole)

    def revision(path: Path) -> int:
        text = pdf_text(path) if path.suffix == ".pdf" else "\n".join(deck_text(path))
        found = set(re.findall(r"Marker rev(\d+)", text))
        assert len(found) == 1, (path, found)  # one revision throughout the file
        return int(found.pop())

    files = [out / name / file for name in ("a1", "b2") for file in ("report.pdf", "slides.pptx")]
    shown = dict.fromkeys(files, 0)
    # the files a re-render replaces, in the order it writes them; each run is killed once the next one is new
    triggers = [out / "a1" / "training.png", *files[:2], out / "b2" / "training.png", files[2], out / "gradebook.csv"]
    live = 0
    for i, trigger in enumerate(triggers, start=1):
        for name in ("a1", "b2"):  # a new REPORT.md: --rescore re-renders from the stored records, no model needed
            report = subs / name / "REPORT.md"
            report.write_text(report.read_text(encoding="utf-8").replace(f"rev{i - 1}.", f"rev{i}."), encoding="utf-8")
        before = _stamp(trigger)
        with subprocess.Popen([*command, "--rescore"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as run:
            while _stamp(trigger) == before and run.poll() is None:
                time.sleep(0.005)  # waiting for the event (the file replaced); the kill's moment is the event
            if run.poll() is None:
                run.send_signal(signal.SIGSTOP)  # frozen as soon as the event is seen, then killed
            live += run.poll() is None
            run.kill()  # SIGKILL; nothing when it has already ended
        assert set(_assert_whole(out)) >= set(whole)
        for path, last in shown.items():
            shown[path] = revision(path)
            assert shown[path] in (last, i), f"{path}: revision {shown[path]}, neither the old one nor the new one"
    assert live >= 4  # the kills landed mid-run: after the last trigger the run still writes its summary
    subprocess.run([*command, "--rescore"], check=True, stdout=subprocess.DEVNULL)  # finishes what the last left
    assert set(_assert_whole(out)) == set(whole)
    assert {revision(path) for path in files} == {6}
    assert not [p for p in out.rglob(".*") if p.name.endswith((".tmp", ".old"))]  # swept


ADAPTER = ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "tokenizer_config.json")


def test_grade_usage_errors_exit_2_before_anything_runs(tmp_path: Path) -> None:
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "grader", "grade", str(EXAMPLES), "--out", str(tmp_path), *args],
            capture_output=True,
            text=True,
        )

    both = run("--rescore", "--force")
    assert both.returncode == 2 and "choose one" in both.stderr
    typo = run("--only", "good-grup")
    assert typo.returncode == 2 and "did you mean 'good-group'" in typo.stderr
    assert not (tmp_path / "gradebook.csv").exists()


@pytest.mark.slow
def test_out_of_memory_and_crash_are_recorded_and_the_batch_goes_on(tmp_path: Path, copy_example, monkeypatch) -> None:
    import torch

    from grader.config import RunSettings
    from grader.llm import train
    from grader.running import pipeline

    subs = small_class(tmp_path, copy_example, {"crash": "good-group", "fine": "good-group", "oom": "good-group"})
    real = train.run

    def flaky(name, *args, **kwargs):
        if name == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        if name == "crash":
            raise RuntimeError("expected scalar type BFloat16 but found Float")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(train, "run", flaky)
    per_group = RunSettings(out=tmp_path / "out", max_new_tokens=8, engine="per-group")  # each group's own train.run
    rows = {r.group: r for r in pipeline.run(subs, per_group)}
    assert rows["fine"].status == "graded"
    assert rows["oom"].status == "error" and rows["oom"].reason.startswith(
        "train failed: OutOfMemoryError: out of memory"
    )
    assert rows["crash"].status == "error" and "BFloat16" in rows["crash"].reason
    assert "RuntimeError" in (tmp_path / "out" / "crash" / "error.txt").read_text()

    # Fixed and run again: the crash's error.txt goes with it; a render that fails leaves its own traceback.
    monkeypatch.setattr(train, "run", real)
    from grader.outputs import slides

    def broken(report, path):
        raise ValueError("no room on the slide")

    monkeypatch.setattr(slides, "write_pptx", broken)
    rows = {
        r.group: r
        for r in pipeline.run(subs, RunSettings(out=tmp_path / "out", max_new_tokens=8, only=("crash", "fine")))
    }
    assert rows["fine"].status == "graded"  # its report is stored and still matches: not rendered again
    assert rows["crash"].status == "error" and rows["crash"].reason == "render failed: ValueError: no room on the slide"
    error = (tmp_path / "out" / "crash" / "error.txt").read_text()
    assert error.startswith("render failed:") and "no room on the slide" in error and "Traceback" in error
    assert "BFloat16" not in error  # this run's failure, not the last one's
    monkeypatch.undo()
    rows = {r.group: r for r in pipeline.run(subs, RunSettings(out=tmp_path / "out", max_new_tokens=8))}
    assert {r.status for r in rows.values()} == {"graded"}
    assert not list((tmp_path / "out").glob("*/error.txt"))  # an old traceback would explain nothing now
