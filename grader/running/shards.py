"""shards: one class graded by several processes, each loading the base model once and grading its share of the
groups into the same output folder; an executor (running/executors: `local`, one process per visible GPU or on CPU;
`slurm`, one task of a job array per shard) runs them.

The command that starts them holds the output folder's lock, waits, shows progress over all shards, and writes
one gradebook and summary from every group's results.json. A group counts as done only when its results.json
carries this run's id; a shard that dies leaves its unfinished groups `error`, with the path of its log, and
running the command again redoes only those (finished stages are cached by content).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from grader.config import RunSettings
from grader.layout import Layout
from grader.measure import grade
from grader.outputs import gradebook
from grader.reading import discover
from grader.records import GroupRecord, Results
from grader.running import pipeline
from grader.running.batch import Batch
from grader.running.executors import Executor, Job, shard_minutes
from grader.storage import exclusive, sweep, write_atomic

POLL_SECONDS = 1.0


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
    executor: Executor,
    rubric: Path | None = None,
    roster: Path | None = None,
    overrides: Path | None = None,
    hooks: pipeline.Hooks | None = None,
    on_submit: Callable[[list[Job]], None] | None = None,
) -> list[gradebook.Row]:
    """Grade the class over the executor's shards and write one gradebook; returns its rows."""
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
        shares = split([g.group for g in selected], executor.shards)
        folder = layout.shard_logs(run_id)
        calls = [(submissions, share, rubric, roster, overrides) for share in shares]
        minutes = shard_minutes(settings, max((len(s) for s in shares), default=1))
        jobs = executor.submit(grade_shard, calls, settings, run_id=run_id, folder=folder, minutes=minutes)
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
        _write_batch(layout, folder, run_id, executor.name, shares, failures)
    return rows


def _resolve_base(settings: RunSettings) -> None:
    from grader.llm import loader

    loader.resolve(settings.base_model, settings.cache_dir)


def _finished(layout: Layout, name: str, run_id: str) -> Results | None:
    results = gradebook.read_results(layout.results(name))
    return results if results is not None and results.run_id == run_id else None


def _wait(
    jobs: list[Job], shares: list[list[str]], layout: Layout, run_id: str, hooks: pipeline.Hooks
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


def _log(job: Job) -> str:
    path = job.log()
    return str(path) if path.exists() else f"{path} (not written: the shard never started)"


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
        path = layout.shard_batch(f"{run_id}-{k}")
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
    write_atomic(layout.batch_json, json.dumps(info, indent=2).encode())
