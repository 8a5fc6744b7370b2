"""grader sweep: plans checked before anything trains, effects against the seeds' spread, and a real sweep on the
demo model that renders its plots, table and sentences and, run again, trains nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.config import TrainConfig
from grader.errors import ConfigError
from grader.measure import sweep
from grader.measure.sweep_stats import Plan, effects
from grader.records import SweepPoint, TrainRecord
from tests.conftest import EXAMPLES, deck_text, minerals, pdf_text
from tests.test_pipeline import small_class
from tests.test_shards import slurm_up


def test_a_bad_vary_is_refused_with_the_nearest_name_or_the_valid_range() -> None:
    with pytest.raises(ConfigError, match=r"no parameter 'learning_rat'.*did you mean 'learning_rate'"):
        sweep.parse_vary(["learning_rat=1e-4,2e-4"])
    with pytest.raises(ConfigError, match=r"learning_rate=5: .*valid: a number > 0 and <= 1"):
        sweep.parse_vary(["learning_rate=1e-4,5"])
    with pytest.raises(ConfigError, match=r"lora_r=eight: .*valid: an integer >= 1 and <= 1024"):
        sweep.parse_vary(["lora_r=8,eight"])
    with pytest.raises(ConfigError, match="one of linear, cosine"):
        sweep.parse_vary(["lr_scheduler_type=cosine,cosinus"])
    with pytest.raises(ConfigError, match="NAME=V1,V2"):
        sweep.parse_vary(["lora_r"])
    assert sweep.parse_vary(["learning_rate=1e-4,2e-4,1e-4", "include_mlp=true,false"]) == {
        "learning_rate": [1e-4, 2e-4],
        "include_mlp": [True, False],
    }


def test_the_cli_refuses_a_bad_plan_before_anything_runs(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "sweep", str(tmp_path), "--vary", "lora_rank=8", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "did you mean 'lora_r'" in result.stderr
    assert not out.exists()  # nothing graded, nothing trained


def test_one_at_a_time_keeps_the_groups_value_and_shares_its_point() -> None:
    config = TrainConfig(learning_rate=2e-4, lora_r=16, seed=7)
    plan = Plan({"learning_rate": [1e-4, 4e-4], "lora_r": [8]}, seeds=2)
    runs = sweep.variants(config, plan)
    changes = [r.params for r in runs[::2]]
    assert changes == [{}, {"learning_rate": 1e-4}, {"learning_rate": 4e-4}, {"lora_r": 8}]
    assert [r.seed for r in runs[:2]] == [7, 8]  # seeds from the group's own
    grid = sweep.variants(config, Plan({"learning_rate": [1e-4], "lora_r": [8, 32]}, grid=True))
    assert len(grid) == 2 * 3 and {} in [r.params for r in grid]  # (1e-4, 2e-4) x (8, 16, 32)


def test_every_seed_is_measured_on_the_groups_held_out_slice() -> None:
    from grader.llm import train
    from grader.records import Sample

    samples = [Sample(system="s", instruction=f"q{i}", context="c", answer=f"a{i}", source=f"d:{i}") for i in range(40)]
    own = train.split(samples, TrainConfig(seed=42))
    assert train.split(samples, TrainConfig(seed=43), seed=42) == own  # the sweep's other seeds: the same test
    assert train.split(samples, TrainConfig(seed=43)) != own  # (a plain run with another seed holds out others)


def point(lr: float, seed: int, loss: float, rouge: float) -> SweepPoint:
    return SweepPoint(group="g", params={"learning_rate": lr, "lora_r": 16}, seed=seed, eval_loss=loss, rouge_l=rouge)


def test_a_difference_within_the_seeds_spread_is_called_noise() -> None:
    config = TrainConfig(learning_rate=2e-4)
    plan = Plan({"learning_rate": [1e-4, 2e-4]}, seeds=2)
    real = [
        point(1e-4, 42, 2.0, 0.10),
        point(1e-4, 43, 2.02, 0.11),
        point(2e-4, 42, 1.5, 0.30),
        point(2e-4, 43, 1.52, 0.31),
    ]
    (effect,) = effects(real, config, plan)
    assert effect.rouge_l == [0.105, 0.305] and effect.rouge_l_spread == pytest.approx(0.2)
    assert not effect.noise and "a measured effect" in effect.sentence and "between 2 seeds" in effect.sentence
    noisy = [
        point(1e-4, 42, 2.0, 0.10),
        point(1e-4, 43, 1.5, 0.30),
        point(2e-4, 42, 1.9, 0.12),
        point(2e-4, 43, 1.7, 0.2),
    ]
    (effect,) = effects(noisy, config, plan)
    assert effect.noise and "so it is noise" in effect.sentence
    (one,) = effects(real[::2], config, Plan(plan.vary, seeds=1))
    assert one.noise and "may be noise" in one.sentence  # one seed: no noise estimate, said so


@pytest.mark.slow
def test_a_two_by_two_sweep_on_the_demo_model(tmp_path: Path, copy_example, monkeypatch: pytest.MonkeyPatch) -> None:
    group = small_class(tmp_path, copy_example, {"g": "good-group"}) / "g"
    out = tmp_path / "out"
    args = ["sweep", str(group), "--vary", "learning_rate=1e-3", "--vary", "lora_r=4", "--seeds", "2"]
    args += ["--out", str(out), "--max-new-tokens", "8", "-q"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    # the plan and its cost, before anything trained: 3 configurations x 2 seeds, one of them the graded run
    assert "g: 6 runs (one parameter at a time, 2 seed(s) each)" in first.output
    assert "the group's own config · seed 42 · the group's graded run" in first.output
    assert "estimate: 5 run(s) x" in first.output and "measured (the graded run) on this machine" in first.output
    assert "co-training 5 sweep point(s) on one base model (class engine)" in first.output  # the default engine
    assert "answering 5 sweep point(s) in shared mixed-adapter batches" in first.output
    record = json.loads((out / "g" / "sweep.json").read_text())
    assert [e["parameter"] for e in record["effects"]] == ["learning_rate", "lora_r"]
    assert len(record["points"]) == 6 and all(p["rouge_l"] is not None for p in record["points"])
    sources = [p["source"] for p in record["points"]]
    assert sources.count("the group's graded run") == 1 and sources.count("trained in this sweep") == 5
    for effect in record["effects"]:
        assert len(effect["values"]) == 2 and effect["group_value"] in effect["values"]
        assert ("a measured effect" in effect["sentence"]) != effect["noise"]
        assert (out / "g" / f"sweep-{effect['parameter']}.png").read_bytes()[:4] == b"\x89PNG"
    text = pdf_text(out / "g" / "report.pdf")
    assert "Sweep · which parameters mattered, measured" in text and "measured by the sweep" in text
    shown = " ".join(text.split())  # a narrow column wraps its header ("Exact / match")
    assert (
        "run seed eval loss ROUGE-L Exact match chrF++" in shown
    )  # every metric grader.measure.metrics shows in a sweep
    deck = deck_text(out / "g" / "slides.pptx")
    assert any("Sweep: learning_rate" in s for s in deck) and any("Sweep: lora_r" in s for s in deck)

    # again: nothing trains; one point lost (a killed sweep) and only that one is trained
    stamps = {p: p.stat().st_mtime_ns for p in (out / "g" / "sweep").glob("*/point.json")}
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "nothing to train: every point is measured already" in again.output
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    lost = sorted(stamps)[0]
    lost.unlink()
    resumed = CliRunner().invoke(app, args)
    assert "estimate: 1 run(s) x" in resumed.output and lost.is_file()
    assert {p: p.stat().st_mtime_ns for p in stamps if p != lost} == {p: s for p, s in stamps.items() if p != lost}

    # above the threshold a sweep needs --yes, and refuses before training anything
    monkeypatch.setattr(sweep, "CONFIRM_SECONDS", 0)
    wider = CliRunner().invoke(app, [*args, "--vary", "lora_dropout=0.2"])
    assert isinstance(wider.exception, ConfigError) and "add --yes to start" in str(wider.exception)
    assert len(list((out / "g" / "sweep").glob("*/point.json"))) == 5  # the graded run needs no folder

    # with --yes, on two local shards (the executor `grader grade` uses): only the two new runs train, one each
    spread = CliRunner().invoke(
        app, [*args, "--vary", "lora_dropout=0.2", "--yes", "--executor", "local", "--shards", "2"]
    )
    assert spread.exit_code == 0, spread.output
    assert "2 run(s) on 2 local shard(s)" in spread.output
    assert len(list((out / "g" / "sweep").glob("*/point.json"))) == 7
    record = json.loads((out / "g" / "sweep.json").read_text())
    assert [e["parameter"] for e in record["effects"]] == ["learning_rate", "lora_r", "lora_dropout"]

    # a point that fails is said, left out, and the sweep goes on; the next run retries it
    def broken(*a, **k):
        raise RuntimeError("CUDA error: an illegal memory access")

    monkeypatch.setattr(sweep, "measure", broken)
    failing = CliRunner().invoke(app, [*args, "--vary", "lora_dropout=0.2,0.3", "--yes"])
    assert failing.exit_code == 0, failing.output
    assert "failed: RuntimeError: CUDA error" in failing.output and "the sweep goes on" in failing.output
    record = json.loads((out / "g" / "sweep.json").read_text())
    assert record["status"] == "failed" and "2 variant(s) not measured" in record["message"]
    assert "not measured: run the sweep again" in pdf_text(out / "g" / "report.pdf")


@pytest.mark.slow
def test_grade_sweep_ranks_the_parameters_across_the_class(tmp_path: Path, copy_example) -> None:
    subs = small_class(tmp_path, copy_example, {"a": "good-group", "b": "weak-group"})
    plan = tmp_path / "sweep.toml"
    plan.write_text("seeds = 1\n[vary]\nlearning_rate = [1e-3]\ninclude_mlp = [false]\n")
    out = tmp_path / "out"
    class_tests = tmp_path / "class.jsonl"  # a class-wide set: every point answers it too
    class_tests.write_text((EXAMPLES / "good-group" / "tests.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    args = ["grade", str(subs), "--out", str(out), "--sweep", str(plan), "--tests", str(class_tests)]
    result = CliRunner().invoke(app, [*args, "--max-new-tokens", "8", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    ranked = summary["swept"]
    assert {p["parameter"] for p in ranked} == {"learning_rate", "include_mlp"} and all(
        p["groups"] == 2 for p in ranked
    )
    medians = [p["rouge_l_median"] for p in ranked]
    assert medians == sorted(medians, reverse=True)
    assert "Measured by sweeps" in pdf_text(out / "summary.pdf")
    for name in ("a", "b"):
        assert "Sweep · which parameters mattered" in pdf_text(out / name / "report.pdf")
        points = json.loads((out / name / "sweep.json").read_text())["points"]
        assert all(p["class_rouge_l"] is not None for p in points)
        graded = [p for p in points if p["source"] == "the group's graded run"]
        assert len(graded) == 1 and len(points) == 3  # own config reused, class answers included

    # one more value on two local shards: each shard keys its points as the coordinator does (class set included)
    plan.write_text("seeds = 1\n[vary]\nlearning_rate = [1e-3, 5e-4]\ninclude_mlp = [false]\n")
    sharded = CliRunner().invoke(app, [*args, "--max-new-tokens", "8", "-q", "--executor", "local", "--shards", "2"])
    assert sharded.exit_code == 0, sharded.output
    for name in ("a", "b"):
        record = json.loads((out / name / "sweep.json").read_text())
        assert record["status"] == "ok" and len(record["points"]) == 4
        assert all(p["class_rouge_l"] is not None for p in record["points"])


def test_sweep_takes_the_same_slurm_options_as_grade(tmp_path, monkeypatch) -> None:
    """`grader sweep --executor slurm --partition ...` hands every Slurm option to the executor (it once had none of
    them and ran with the cluster's defaults)."""
    from typer.testing import CliRunner

    from grader.cli import app
    from grader.measure import sweep
    from grader.outputs.gradebook import Row
    from grader.records import SweepRecord
    from grader.running import pipeline

    seen = {}
    monkeypatch.setattr(pipeline, "run", lambda *a, **k: [Row("good-group", "graded", "")])

    def fake_sweep(*args, **kwargs):
        seen.update(kwargs)
        return [SweepRecord(group="good-group")]

    monkeypatch.setattr(sweep, "run", fake_sweep)
    monkeypatch.setenv("GRADER_SLURM_ACCOUNT", "geo-course")
    args = ["sweep", str(EXAMPLES / "good-group"), "--vary", "lora_r=8", "--out", str(tmp_path), "-q"]
    args += [
        "--executor",
        "slurm",
        "--shards",
        "2",
        "--partition",
        "gpu",
        "--time",
        "30",
        "--slurm-option",
        "qos=class",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    runner = seen["executor"]
    assert (runner.name, runner.shards) == ("slurm", 2)
    slurm = runner.options
    assert (slurm.partition, slurm.account, slurm.time_min, slurm.extra) == ("gpu", "geo-course", 30, {"qos": "class"})


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("GRADER_REQUIRE_SLURM") and not slurm_up(),
    reason="no Slurm cluster reachable here (.ci/run starts a one-node one and requires this test)",
)
def test_a_sweep_on_a_real_slurm_honours_the_slurm_options(tmp_path: Path, copy_example) -> None:
    """`grader sweep --executor slurm --partition ... --time ... --slurm-option ...` on the one-node cluster: the
    variants train as Slurm tasks, and the job script sbatch received carries every option given."""
    assert slurm_up(), "GRADER_REQUIRE_SLURM is set but sinfo shows no idle node: see .ci/slurm-up"
    group = small_class(tmp_path, copy_example, {"g": "good-group"}) / "g"
    out = tmp_path / "out"
    args = ["sweep", str(group), "--vary", "lora_r=4,32", "--out", str(out), "--max-new-tokens", "8", "-q", "--yes"]
    args += ["--executor", "slurm", "--shards", "2", "--partition", "ci", "--time", "25", "--gpus-per-shard", "0"]
    args += ["--slurm-option", "comment=grader-sweep-test"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 run(s) on 2 slurm shard(s)" in result.output
    record = json.loads((out / "g" / "sweep.json").read_text())
    assert record["status"] == "ok" and len(record["points"]) == 3
    assert sum(p["source"] != "the group's graded run" for p in record["points"]) == 2  # trained by the shards
    (script,) = (out / ".shards").glob("sweep-*/*submission.sh")
    sbatch = script.read_text()
    for line in ("--partition=ci", "--time=25", "--comment=grader-sweep-test", "--gpus-per-node=0", "--array=0-1%2"):
        assert f"#SBATCH {line}\n" in sbatch, sbatch


def test_the_co_trained_points_answer_together_as_each_alone(runtime: Any, tmp_path: Path) -> None:
    """`grader sweep` answers its co-trained points in shared mixed-adapter batches: each point's answers (its
    group's questions and the class's) equal the ones `measure` gets for the point alone (generate.run)."""
    from types import SimpleNamespace

    from grader.layout import Layout
    from grader.llm import cotrain, generate

    layout = Layout(tmp_path / "out")
    layout.group_dir("g").mkdir(parents=True)
    tests = minerals(3, 0) + minerals(2, 100)
    layout.tests("g").write_text("".join(t.model_dump_json() + "\n" for t in tests), encoding="utf-8")
    config = TrainConfig(num_train_epochs=2, per_device_train_batch_size=4, gradient_accumulation_steps=1,
                         max_length=96, lora_dropout=0.0, learning_rate=2e-2, max_new_tokens=12)  # fmt: skip
    runs = [sweep.Variant({}, 1), sweep.Variant({"learning_rate": 3e-2}, 1), sweep.Variant({"lora_r": 4}, 2)]
    keys = ["own", "lr", "rank"]
    folder = Layout(layout.sweep_dir("g"))
    points = [cotrain.Job(k, minerals(8, 10), sweep.configured(config, v)) for v, k in zip(runs, keys, strict=True)]
    assert all(isinstance(r, TrainRecord) for r in cotrain.run(points, runtime, folder).values())
    cache = generate.BaseCache(tmp_path / "base.json")
    settings = SimpleNamespace(max_new_tokens=None, fail_fast=True, timeout=600.0)
    batch = SimpleNamespace(layout=layout, runtime=lambda: runtime, base_cache=lambda: cache, settings=settings,
                            class_tests=minerals(2, 200))  # fmt: skip
    job = sweep.Job(SimpleNamespace(name="g", config=config), runs, keys, {})
    said: list[str] = []
    answered = sweep.answer_together(batch, [job], {("g", k) for k in keys}, said.append)
    assert said == ["answering 3 sweep point(s) in shared mixed-adapter batches"]
    alone_cache = generate.BaseCache(tmp_path / "alone.json")
    changed = 0
    for k in keys:
        for is_class, questions in ((False, tests), (True, batch.class_tests)):
            ours = answered["g", k][is_class]
            alone = generate.run(
                k, questions, runtime, folder, adapter_dir=folder.adapter(k), max_new_tokens=12,
                prompt_format=config.prompt_format, cache=alone_cache,
            )  # fmt: skip
            assert ours.group == k
            assert [a.finetuned for a in ours.answers] == [a.finetuned for a in alone.answers], (k, is_class)
            assert [a.base for a in ours.answers] == [a.base for a in alone.answers], (k, is_class)
            changed += sum(a.finetuned != a.base for a in ours.answers)
    assert changed > 0  # the adapters change answers: the equality compares real adapters
    assert [a.finetuned for a in answered["g", "own"][False].answers] != [
        a.finetuned for a in answered["g", "rank"][False].answers
    ]
