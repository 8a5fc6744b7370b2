"""shards: one class graded by several processes, each loading the base model once and grading its share of the
groups into the same output folder; submitit runs them (`local`: one process per visible GPU, or on CPU; `slurm`:
one task of a job array per shard, one GPU each).

The command that starts them holds the output folder's lock, waits, shows progress over all shards, and writes
one gradebook and summary from every group's results.json. A group counts as done only when its results.json
carries this run's id; a shard that dies leaves its unfinished groups `error`, with the path of its log, and
running the command again redoes only those (finished stages are cached by content).
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import discover, grade, gradebook, pipeline
from grader.batch import Batch
from grader.config import RunSettings
from grader.errors import ConfigError
from grader.layout import Layout
from grader.records import GroupRecord, Results
from grader.storage import exclusive, sweep, write_atomic

EXECUTORS = ("local", "slurm")
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class SlurmOptions:
    """Where a shard runs on the cluster; flags or GRADER_SLURM_* in the instructor's environment set them."""

    partition: str | None = None
    account: str | None = None
    time_min: int | None = None  # default: per-group timeout x groups per shard, plus the model load
    gpus: int = 1
    cpus: int | None = None
    extra: dict[str, str] = field(default_factory=dict)  # any other sbatch option, e.g. {"qos": "class"}


def split(names: list[str], n: int) -> list[list[str]]:
    """Round-robin shares in class order (so neighbours, often similar in size, land on different shards)."""
    shares = [names[k::n] for k in range(n)]
    return [share for share in shares if share]


def grade_shard(
    submissions: Path,
    settings: RunSettings,
    share: list[str],
    rubric: Path | None,
    roster: Path | None,
    overrides: Path | None,
) -> dict[str, str]:
    """What one shard process runs: the pipeline on its share, without the gradebook. Returns group -> status."""
    only = settings.model_copy(update={"only": tuple(share)})
    rows = pipeline.run(submissions, only, rubric=rubric, roster=roster, overrides=overrides)
    return {r.group: r.status for r in rows}


def run(
    submissions: Path,
    settings: RunSettings,
    *,
    executor: str,
    shards: int,
    rubric: Path | None = None,
    roster: Path | None = None,
    overrides: Path | None = None,
    slurm: SlurmOptions | None = None,
    hooks: pipeline.Hooks | None = None,
    on_submit: Callable[[list[Any]], None] | None = None,
) -> list[gradebook.Row]:
    """Grade the class over `shards` processes and write one gradebook; returns its rows."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, not '{executor}'")
    if shards < 1:
        raise ConfigError("--shards must be at least 1")
    hooks = hooks or pipeline.Hooks()
    layout = Layout(settings.out)
    roster_rows = discover.read_roster(roster) if roster else None
    groups = discover.run(submissions, roster_rows)
    layout.assign([g.group for g in groups])
    selected = [g for g in pipeline._selected(groups, settings.only) if not g.roster_only]
    run_id = uuid.uuid4().hex[:12]
    with exclusive(layout.out):
        sweep(layout.out)
        sweep(layout.cache)
        _resolve_base(settings)  # the demo model is built once here, not raced by the shards
        shares = split([g.group for g in selected], shards)
        folder = layout.out / ".shards" / run_id
        jobs = _submit(submissions, settings, shares, run_id, folder, executor, slurm, (rubric, roster, overrides))
        if on_submit is not None:
            on_submit(jobs)
        hooks.total(len(selected))
        failures = _wait(jobs, shares, layout, run_id, hooks)
        logs = [_log(job) for job in jobs]
        rows = _rows(groups, selected, shares, layout, run_id, failures, logs, settings)
        batch = Batch(settings=settings, layout=layout, rubric=grade.load_rubric(rubric))
        for r in rows:  # a roster group never graded: 0 of the rubric's points, as an unsharded run gives it
            r.max_total = r.max_total or (sum(i.points for i in batch.rubric) if r.status == "missing" else 0.0)
        pipeline.write_book(rows, groups, batch, roster_rows, single=False)
        _write_batch(layout, folder, run_id, executor, shares, failures)
    return rows


def _resolve_base(settings: RunSettings) -> None:
    from grader import model

    model.resolve(settings.base_model, settings.cache_dir)


def _submit(
    submissions: Path,
    settings: RunSettings,
    shares: list[list[str]],
    run_id: str,
    folder: Path,
    executor: str,
    slurm: SlurmOptions | None,
    files: tuple[Path | None, Path | None, Path | None],  # rubric, roster, overrides
) -> list[Any]:
    per_shard_min = _minutes(settings, max((len(s) for s in shares), default=1))
    calls = [(submissions, share, *files) for share in shares]
    return submit(grade_shard, calls, settings, run_id, folder, executor, slurm, per_shard_min)


def submit(
    fn: Callable[..., Any],
    calls: list[tuple[Any, ...]],
    settings: RunSettings,
    run_id: str,
    folder: Path,
    executor: str,
    slurm: SlurmOptions | None,
    minutes: int,
) -> list[Any]:
    """One process per call, `fn(call[0], the shard's RunSettings, *call[1:])`: local processes (one per visible GPU,
    or the CPUs split between them) or one Slurm job array. Grading and sweeps both run through here."""
    import submitit

    if executor == "local":
        gpus = _visible_gpus()
        cpus = _cpus_per_shard(len(calls)) if not gpus else None
        local = submitit.LocalExecutor(folder=str(folder))
        jobs = []
        for k, (first, *rest) in enumerate(calls):
            on_gpu = (gpus[k % len(gpus)],) if gpus else ()
            local.update_parameters(timeout_min=minutes, visible_gpus=on_gpu, gpus_per_node=len(on_gpu))
            jobs.append(local.submit(fn, first, _for_shard(settings, run_id, k, cpus), *rest))
        return jobs
    options = slurm or SlurmOptions()
    cluster = submitit.SlurmExecutor(folder=str(folder))
    params: dict[str, Any] = {
        "time": options.time_min or minutes,
        "gpus_per_node": options.gpus,
        "ntasks_per_node": 1,
        "nodes": 1,
        "job_name": f"grader-{run_id}",
        "array_parallelism": len(calls),
        "additional_parameters": dict(options.extra),
    }
    if options.partition:
        params["partition"] = options.partition
    if options.account:
        params["account"] = options.account
    if options.cpus:
        params["cpus_per_task"] = options.cpus
    cluster.update_parameters(**params)
    cpus = options.cpus if not options.gpus else None
    columns = list(zip(*calls, strict=True))
    settings_list = [_for_shard(settings, run_id, k, cpus) for k in range(len(calls))]
    return list(cluster.map_array(fn, list(columns[0]), settings_list, *(list(c) for c in columns[1:])))


def _for_shard(settings: RunSettings, run_id: str, k: int, cpus: int | None) -> RunSettings:
    update: dict[str, Any] = {"run_id": run_id, "shard": f"{run_id}-{k}"}
    if cpus is not None and settings.threads is None:
        update["threads"] = cpus  # shards on one machine's CPUs share them, not each take all
    return settings.model_copy(update=update)


def _visible_gpus() -> list[int]:
    """The GPUs this process may use (CUDA_VISIBLE_DEVICES respected), as indices to pin each shard to one."""
    import torch

    if not torch.cuda.is_available():
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if listed:
        return [int(x) for x in listed.split(",") if x.strip().isdigit()]
    return list(range(torch.cuda.device_count()))


def _cpus_per_shard(n: int) -> int:
    from grader.limits import usable_cpus

    return max(1, usable_cpus() // n)


def _minutes(settings: RunSettings, groups: int) -> int:
    """A shard's wall-clock limit: every group at its per-group limit, plus the base model's load and base pass."""
    per_group = settings.timeout or 3600
    return math.ceil((per_group * (groups + 1) + 600) / 60)


def _finished(layout: Layout, name: str, run_id: str) -> Results | None:
    results = gradebook.read_results(layout.results(name))
    return results if results is not None and results.run_id == run_id else None


def _wait(
    jobs: list[Any], shares: list[list[str]], layout: Layout, run_id: str, hooks: pipeline.Hooks
) -> dict[int, str]:
    """Until every shard has ended: progress as each group's results.json of this run appears. Returns
    shard index -> why it failed, for the shards that did not end normally."""
    seen: set[str] = set()
    failures: dict[int, str] = {}
    pending = set(range(len(jobs)))

    def look() -> None:
        for name in (n for share in shares for n in share if n not in seen):
            results = _finished(layout, name, run_id)
            if results is not None:
                seen.add(name)
                hooks.done(name, pipeline.Outcome(status=results.status))

    while pending:
        look()
        for k in [k for k in sorted(pending) if jobs[k].done()]:
            pending.discard(k)
            try:
                jobs[k].result()
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                failures[k] = f"{type(exc).__name__}: {first}"[:300]
        if pending:
            hooks.stage("all shards", f"{len(jobs) - len(pending)} of {len(jobs)} shards ended")
            time.sleep(POLL_SECONDS)
    look()  # the last groups of shards that ended between two looks
    return failures


def _log(job: Any) -> str:
    paths = job.paths
    for path in (paths.stderr, paths.stdout):
        if path.exists() and path.stat().st_size:
            return str(path)
    if paths.stdout.exists():
        return str(paths.stdout)
    return f"{paths.stdout} (not written: the shard never started)"


def _rows(
    groups: list[GroupRecord],
    selected: list[GroupRecord],
    shares: list[list[str]],
    layout: Layout,
    run_id: str,
    failures: dict[int, str],
    logs: list[str],
    settings: RunSettings,
) -> list[gradebook.Row]:
    """One row per group: this run's results.json, else (a shard died) `error` naming the shard's log; groups
    not selected keep the row of their last run."""
    shard_of = {name: k for k, share in enumerate(shares) for name in share}
    chosen = {g.group for g in selected}
    rows = []
    for group in groups:
        name = group.group
        if name not in chosen:
            rows.append(pipeline._earlier_row(group, layout))
            continue
        row = gradebook.from_results(layout.results(name)) if _finished(layout, name, run_id) else None
        if row is None:
            k = shard_of[name]
            why = failures.get(k, "it ended without grading this group")
            reason = f"shard {k} stopped before this group was graded ({why}); its log: {logs[k]}"
            row = gradebook.Row(name, "error", reason[:500], base_model=settings.base_model)
            # results.json says so too: no stale grade from an earlier run stands for the group
            outcome = pipeline.Outcome(status=row.status, reason=row.reason)
            pipeline._write_results(layout, name, outcome, settings.base_model, run_id)
        row.folder = layout.group_dir(name).name
        rows.append(row)
    return rows


def _write_batch(
    layout: Layout, folder: Path, run_id: str, executor: str, shares: list[list[str]], failures: dict[int, str]
) -> None:
    parts = []
    for k in range(len(shares)):
        path = layout.out / ".shards" / f"batch-{run_id}-{k}.json"
        try:
            parts.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            parts.append({})
    info = {
        "run_id": run_id,
        "executor": executor,
        "shards": len(shares),
        "groups": sum(len(s) for s in shares),
        "model_loads": sum(p.get("model_loads", 0) for p in parts),
        "load_seconds": round(sum(p.get("load_seconds", 0.0) for p in parts), 2),
        "base_answers_seconds": round(sum(p.get("base_answers_seconds", 0.0) for p in parts), 2),
        "per_shard": parts,
        "failed_shards": {str(k): why for k, why in failures.items()},
        "logs": str(folder),
        "notes": [n for p in parts for n in p.get("notes", [])],
    }
    info["notes"].extend(filter(None, [pipeline.font_note([name for share in shares for name in share], layout)]))
    write_atomic(layout.out / "batch.json", json.dumps(info, indent=2).encode())
