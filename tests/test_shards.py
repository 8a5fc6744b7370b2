"""A class over several processes (submitit): `--executor local` on CPU here, a real Slurm where one runs."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from grader.config import RunSettings
from grader.errors import ConfigError
from grader.running import executors, pipeline, shards
from tests.conftest import EXAMPLES


def _book(out: Path) -> dict[str, tuple[str, str]]:
    with (out / "gradebook.csv").open(encoding="utf-8") as fh:
        return {r["group"]: (r["status"], r["total"]) for r in csv.DictReader(fh)}


def _class(tmp_path: Path, names: tuple[str, ...]) -> Path:
    subs = tmp_path / "subs"
    for name in names:
        shutil.copytree(EXAMPLES / name, subs / name)
    return subs


def test_split_is_round_robin_and_drops_empty_shares() -> None:
    assert shards.split(["a", "b", "c", "d", "e"], 2) == [["a", "c", "e"], ["b", "d"]]
    assert shards.split(["a"], 3) == [["a"]]


@pytest.mark.slow
def test_two_local_shards_give_the_serial_gradebook(tmp_path: Path) -> None:
    serial = pipeline.run(EXAMPLES, RunSettings(out=tmp_path / "serial"))
    rows = shards.run(EXAMPLES, RunSettings(out=tmp_path / "sharded"), executor=executors.Local(2))
    assert {r.group: (r.status, r.total) for r in rows} == {r.group: (r.status, r.total) for r in serial}
    assert _book(tmp_path / "sharded") == _book(tmp_path / "serial")
    assert (tmp_path / "sharded" / "summary.pdf").is_file()
    info = (tmp_path / "sharded" / "batch.json").read_text()
    assert '"shards": 2' in info and '"model_loads": 2' in info  # one load per shard, never one per group


def _cancel_once_started(jobs: list) -> None:
    """Shard 1 is stopped (as scancel or a killed node would) once its process has written its log."""
    deadline = time.monotonic() + 120
    while not jobs[1].log().exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    jobs[1].cancel()


@pytest.mark.slow
def test_a_dead_shard_marks_its_groups_and_a_rerun_redoes_only_them(tmp_path: Path) -> None:
    subs = _class(tmp_path, ("good-group", "weak-group", "course-group"))
    out = tmp_path / "out"
    settings = RunSettings(out=out, max_new_tokens=8)
    # course-group and weak-group go to shard 0, good-group to shard 1, which is cancelled as soon as it starts.
    rows = shards.run(subs, settings, executor=executors.Local(2), on_submit=_cancel_once_started)
    by = {r.group: r for r in rows}
    assert by["course-group"].status == by["weak-group"].status == "graded"
    dead = by["good-group"]
    assert dead.status == "error" and "shard 1 stopped before this group was graded" in dead.reason
    log = Path(dead.reason.rsplit("its log: ", 1)[1])
    assert log.is_file() and log.is_relative_to(out / ".shards")
    assert '"failed_shards": {\n    "1"' in (out / "batch.json").read_text()
    trained = {n: (out / n / "train.json").stat().st_mtime_ns for n in ("weak-group", "course-group")}

    again = {r.group: r for r in shards.run(subs, settings, executor=executors.Local(2))}
    assert all(r.status == "graded" for r in again.values())
    assert {n: (out / n / "train.json").stat().st_mtime_ns for n in trained} == trained  # not trained again
    assert (out / "good-group" / "train.json").is_file() and (out / "good-group" / "report.pdf").is_file()


def test_shards_need_an_executor_and_a_known_one() -> None:
    with pytest.raises(ConfigError, match="--executor must be one of local, slurm"):
        executors.build("kubernetes", 2)
    with pytest.raises(ConfigError, match="--shards needs --executor local or --executor slurm"):
        executors.build(None, 2)
    assert executors.build(None) is None and executors.build("local", 3) == executors.Local(3)


def test_the_slurm_executor_passes_every_option_to_sbatch() -> None:
    options = executors.SlurmOptions(partition="gpu", account="geo", time_min=30, gpus=0, cpus=4, extra={"qos": "a"})
    runner = executors.build("slurm", 2, options)
    assert isinstance(runner, executors.Slurm)
    params = runner.parameters(calls=2, minutes=90, run_id="r1")
    assert params == {
        "time": 30,
        "gpus_per_node": 0,
        "ntasks_per_node": 1,
        "nodes": 1,
        "job_name": "grader-r1",
        "array_parallelism": 2,
        "additional_parameters": {"qos": "a"},
        "partition": "gpu",
        "account": "geo",
        "cpus_per_task": 4,
    }
    assert executors.Slurm(1).parameters(1, 90, "r2")["time"] == 90  # no --time: from the work's own limit


def slurm_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20, check=False)
    return done.returncode == 0 and any(s.startswith(("idle", "mix", "alloc")) for s in done.stdout.split())


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("GRADER_REQUIRE_SLURM") and not slurm_up(),
    reason="no Slurm cluster reachable here (.ci/run starts a one-node one and requires this test)",
)
def test_a_two_shard_grade_on_a_real_slurm(tmp_path: Path) -> None:
    assert slurm_up(), "GRADER_REQUIRE_SLURM is set but sinfo shows no idle node: see .ci/slurm-up"
    subs = _class(tmp_path, ("good-group", "weak-group", "broken-group"))
    serial = {r.group: (r.status, r.total) for r in pipeline.run(subs, RunSettings(out=tmp_path / "serial"))}
    options = executors.SlurmOptions(gpus=0, cpus=1, time_min=20)
    rows = shards.run(subs, RunSettings(out=tmp_path / "slurm"), executor=executors.Slurm(2, options))
    assert {r.group: (r.status, r.total) for r in rows} == serial
    info = (tmp_path / "slurm" / "batch.json").read_text()
    assert '"executor": "slurm"' in info and '"failed_shards": {}' in info
