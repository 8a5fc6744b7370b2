"""One group can neither change another's grade, nor hold up the class, nor inflate its own grade with files alone."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from grader.config import RunSettings, TrainConfig
from grader.layout import Layout
from grader.llm import adapter, train
from grader.running.pipeline import run as grade_batch
from tests.conftest import EXAMPLES, TINY_TRAIN, example_samples, pdf_text


@pytest.fixture(scope="module")
def trained(runtime, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trained")
    train.run("g", example_samples()[:8], TrainConfig(**TINY_TRAIN), runtime, Layout(out))
    return out / "g" / "adapter"


def _group_with_adapter(root: Path, name: str, weights: dict[str, torch.Tensor], config: dict) -> Path:
    group = root / name
    shutil.copytree(EXAMPLES / "good-group", group)
    (group / "adapter").mkdir()
    save_file(weights, str(group / "adapter" / "adapter_model.safetensors"))
    (group / "adapter" / "adapter_config.json").write_text(json.dumps(config))
    return group


@pytest.mark.slow
def test_an_adapter_carrying_base_weights_is_refused_and_changes_no_other_grade(
    tmp_path: Path, trained: Path, runtime
) -> None:
    weights = load_file(str(trained / "adapter_model.safetensors"))
    config = json.loads((trained / "adapter_config.json").read_text())
    embed = runtime.model.get_input_embeddings().weight
    poisoned = {
        **weights,
        "base_model.model.model.embed_tokens.weight": torch.zeros_like(embed),
        "base_model.model.lm_head.weight": torch.zeros_like(embed),
    }
    with pytest.raises(adapter.AdapterRefused, match="not LoRA weights"):
        adapter.check(
            _group_with_adapter(tmp_path / "x", "g", poisoned, config) / "adapter", tmp_path / "x" / "g", None
        )

    both, solo = tmp_path / "both", tmp_path / "solo"
    _group_with_adapter(both, "a-poisoned", poisoned, config)
    shutil.copytree(EXAMPLES / "good-group", both / "b-normal")
    shutil.copytree(EXAMPLES / "good-group", solo / "b-normal")
    rows = {r.group: r for r in grade_batch(both, RunSettings(out=tmp_path / "out-both", cache_dir=None))}
    alone = grade_batch(solo, RunSettings(out=tmp_path / "out-solo", cache_dir=None))[0]
    notes = json.loads((tmp_path / "out-both" / "a-poisoned" / "train.json").read_text())["notes"]
    assert rows["a-poisoned"].status == "graded" and any("not LoRA weights" in n for n in notes)
    assert rows["b-normal"].total == alone.total and rows["b-normal"].items == alone.items
    for stage in ("score", "generate"):
        after = json.loads((tmp_path / "out-both" / "b-normal" / f"{stage}.json").read_text())
        own = json.loads((tmp_path / "out-solo" / "b-normal" / f"{stage}.json").read_text())
        for record in (after, own):
            record.pop("seconds"), record.pop("base_cache_hits", None)
        assert after == own


def test_a_changed_base_model_is_caught_after_the_group_and_reloaded(tmp_path: Path, monkeypatch) -> None:
    """The tripwire: whatever path a group found to change the shared weights, its row says so and the next
    group is graded on a freshly loaded base."""
    from grader.running import pipeline

    subs = tmp_path / "subs"
    shutil.copytree(EXAMPLES / "good-group", subs / "a-group")
    shutil.copytree(EXAMPLES / "good-group", subs / "b-group")
    real = pipeline._model_stages

    def tamper(work, batch, progress):  # type: ignore[no-untyped-def]
        found = real(work, batch, progress)
        if work.name == "a-group":
            with torch.no_grad():
                batch.runtime().model.get_input_embeddings().weight.mul_(0.5)
        return found

    monkeypatch.setattr(pipeline, "_model_stages", tamper)
    # per-group: b-group trains and answers on the reloaded base (2 loads); class engine: b-group was trained and
    # answered with a-group before the tamper, on the intact base, and needs no model after it (1 load)
    for engine, loads in (("per-group", 2), ("class", 1)):
        settings = RunSettings(out=tmp_path / engine, cache_dir=None, engine=engine)
        rows = {r.group: r for r in grade_batch(subs, settings)}
        assert rows["a-group"].status == "error" and "weights changed" in rows["a-group"].reason
        assert rows["b-group"].status == "graded"
        batch_info = json.loads((tmp_path / engine / "batch.json").read_text())
        assert batch_info["model_loads"] == loads and any("loaded afresh" in n for n in batch_info["notes"])


@pytest.mark.slow
def test_an_untrained_adapter_with_made_up_logs_earns_neither_adapter_nor_loss(tmp_path: Path, trained: Path) -> None:
    weights = {
        k: torch.zeros_like(v) if ".lora_B." in k else v
        for k, v in load_file(str(trained / "adapter_model.safetensors")).items()
    }
    config = json.loads((trained / "adapter_config.json").read_text())
    group = _group_with_adapter(tmp_path / "subs", "fake", weights, config)
    history = [{"step": s, "loss": 3.0 - 0.4 * s} for s in range(1, 6)] + [{"step": 5, "train_loss": 1.2}]
    (group / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    row = grade_batch(tmp_path / "subs", RunSettings(out=tmp_path / "out", cache_dir=None))[0]
    grade = json.loads((tmp_path / "out" / "fake" / "grade.json").read_text())
    reasons = {i["id"]: i["reason"] for i in grade["items"]}
    assert row.items["adapter"] == 0 and "all zero: it was never trained" in reasons["adapter"]
    assert row.items["loss"] == 0 and "describe no training" in reasons["loss"]


def test_a_preview_without_base_answers_earns_no_comparison(tmp_path: Path) -> None:
    from tests.test_classroom import recorded_group

    group = recorded_group(tmp_path)
    rows = [json.loads(line) for line in (group / "answers.jsonl").read_text(encoding="utf-8").splitlines()]
    (group / "answers.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "base"}) + "\n" for r in rows)
    )
    row = grade_batch(group, RunSettings(out=tmp_path / "out", preview=True), single=True)[0]
    grade = json.loads((tmp_path / "out" / group.name / "grade.json").read_text())
    reason = next(i["reason"] for i in grade["items"] if i["id"] == "beats_base")
    assert row.items["beats_base"] == 0 and "records no base answer" in reason


def test_render_and_grade_are_bounded_by_the_group_time_limit(tmp_path: Path, monkeypatch) -> None:
    from tests.test_classroom import recorded_group

    group = recorded_group(tmp_path)
    from grader.outputs import render

    # once without a limit first: the demo tokenizer built and the readers imported before the clock runs, so that
    # on a loaded machine only the render can be the stage that runs out of time
    grade_batch(group, RunSettings(out=tmp_path / "warm", preview=True), single=True)
    # a render that never ends: only the limit can stop it (returning would fail the stage, not time it out)
    never = threading.Event()
    monkeypatch.setattr(render, "run", lambda *a, **k: never.wait())
    row = grade_batch(group, RunSettings(out=tmp_path / "out", preview=True, timeout=10), single=True)[0]
    assert row.status == "timeout" and "render did not finish within the per-group limit of 10 s" in row.reason
    assert RunSettings().timeout == 3600  # on by default
    # a report always exists: the short one says what happened, with the points and a reason for each item
    text = " ".join(pdf_text(tmp_path / "out" / group.name / "report.pdf").split())
    assert "The full report could not be rendered: render did not finish within the per-group limit" in text
    assert "Training loss reported and falling" in text and "total" in text
    record = json.loads((tmp_path / "out" / group.name / "render.json").read_text())
    assert record["status"] == "failed" and record["message"].startswith("short report only")


def test_student_text_that_grows_work_quadratically_is_capped() -> None:
    from grader.measure import metrics
    from grader.outputs import text

    flat = metrics.scores("a " * 50_000, "a b " * 25_000)  # would be hours of LCS uncapped
    assert set(flat) == {m.key for m in metrics.METRICS}
    assert metrics.first_words("w " * 5000).count("w") == metrics.SCORED_WORDS
    runs = text.word_diff("x " * 40_000, "x y " * 40_000)
    assert sum(len(words.split()) for words, _ in runs) == 80_000 and runs[-1][1] is False
    assert text.clean_text("k" * 40_000) == "k" * 200 + "…"


def test_github_annotations_escape_every_field(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from grader.cli import app

    group = tmp_path / "g"
    shutil.copytree(EXAMPLES / "broken-group", group)
    evil = 'x\n::notice title=Autograding report::{"totalPoints":19},y:z%.jsonl'
    (group / evil).write_text('{"instruction": "q\\n::notice title=Autograding complete::Points 19/19"}\n')
    result = CliRunner().invoke(app, ["validate", str(group), "--format", "github"])
    lines = result.output.splitlines()
    assert not any(line.startswith("::notice title=Autograding") for line in lines)
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines if line.startswith("::"))
    mine = [line for line in lines if "%3A%3Anotice" in line]
    assert mine and all("file=" in line and "%0A" in line and "%2C" in line and "%25" in line for line in mine)
