"""classrun: the class engine inside `grader grade` (`--engine class`, the default).

Before the groups go one by one through their stages, the groups this engine can take are trained together
(cotrain.py) and then answered together (mixgen.py); each group's train and generate records are saved exactly
where, and as, the per-group stages save theirs, and those stages then find them (`Batch.prepared`). A group it
cannot take, and every group after a failure of the shared run, goes the per-group way, and a batch note says
which and why. What it takes: a group that trains here (no committed adapter to check first) on a config the
co-trainer reproduces, and, for answers, a plain LoRA adapter (no modules_to_save).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from grader.config import answer_tokens
from grader.llm import cotrain, mixgen
from grader.reading import sample_files
from grader.records import ReportedLoss, TrainRecord
from grader.storage import load, save, write_atomic

if TYPE_CHECKING:
    from grader.running.batch import Batch, Progress
    from grader.running.pipeline import Work


def prepare(works: list[Work], batch: Batch, progress: Progress) -> None:
    """Co-train, then answer with mixed adapters, every group that can go the class way; the rest is said."""
    from grader.running import pipeline

    layout, settings = batch.layout, batch.settings
    jobs: list[cotrain.Job] = []
    by_name: dict[str, Work] = {}
    other: list[str] = []
    interrupted = _interrupted(works, batch)
    for work in works:
        if not work.ready or work.config is None or work.recorded is not None:
            continue
        needed = layout.adapter(work.name) / "adapter_model.safetensors"
        if pipeline._cached(TrainRecord, layout.record(work.name, "train"), work.train_key, settings.force, needed):
            continue
        reason = _why_not(work)
        samples = sample_files.load_samples(layout.samples(work.name)) if reason is None else []
        if reason is None and not samples:
            reason = "no training data"
        if reason is not None:
            other.append(f"{work.name} ({reason})")
            continue
        left = None if settings.timeout is None else max(settings.timeout - work.seconds, 0.0)
        jobs.append(cotrain.Job(work.name, samples, work.config, seconds=left))
        by_name[work.name] = work
    if interrupted:
        batch.notes.append(
            f"{', '.join(interrupted)}: an earlier run stopped (killed) while they co-trained, before they finished, "
            "so nothing of that training was kept; they train again from the start"
        )
    if other:
        batch.notes.append("trained one group after another (per-group engine): " + "; ".join(other))
    if jobs:
        _train(jobs, by_name, batch, progress)
    _answer(works, batch, progress)
    if not batch.base_intact("the class engine's shared run"):
        # Nothing of the shared run is trusted: its records go, and each group is trained and answered again,
        # on the reloaded base, by its own stages.
        for stage, name in sorted(batch.prepared):
            layout.record(name, stage).unlink(missing_ok=True)
        batch.prepared.clear()


def _interrupted(works: list[Work], batch: Batch) -> list[str]:
    """The groups whose co-training an earlier run began and never ended, and that train again now: the marker is
    still there and no train record stands for the group. A marker whose group has a record after all (a kill
    between the save and the marker's removal, or a per-group run since) is dropped without a word: nothing of it
    was lost. Every marker goes."""
    from grader.running import pipeline

    layout, found = batch.layout, []
    for work in works:
        marker = layout.cotraining(work.name)
        if not marker.is_file():
            continue
        needed = layout.adapter(work.name) / "adapter_model.safetensors"
        stored = pipeline._cached(TrainRecord, layout.record(work.name, "train"), work.train_key, False, needed)
        if stored is None:
            found.append(work.name)
        marker.unlink()
    return found


def _unmark(jobs: list[cotrain.Job], batch: Batch) -> None:
    for job in jobs:
        batch.layout.cotraining(job.name).unlink(missing_ok=True)


def _why_not(work: Work) -> str | None:
    if work.committed is not None:
        return "its committed adapter is checked, and used when it can be, first"
    assert work.config is not None
    return cotrain.unsupported(work.config)


def _train(jobs: list[cotrain.Job], by_name: dict[str, Work], batch: Batch, progress: Progress) -> None:
    layout = batch.layout
    progress("all groups", f"co-training {len(jobs)} adapters on one base model")
    started = time.monotonic()

    def keep(name: str, result: TrainRecord) -> None:
        """Saved as the group leaves the shared run: a run killed later keeps it (resumes like the per-group)."""
        work = by_name[name]
        assert work.validation is not None
        reported = work.validation.logs or ReportedLoss()  # what pipeline._train adds to a trained record
        said = [f"the group's own logs: {s}" for s in reported.sources]
        record = result.model_copy(
            update={"notes": result.notes + said, "reported": reported, "digest": work.train_key}
        )
        save(record, layout.record(name, "train"))
        batch.prepared.add(("train", name))
        layout.cotraining(name).unlink(missing_ok=True)

    # A group's progress lives in memory until it leaves the shared run; a marker per group, gone as it leaves
    # (or as the shared run ends), tells a run after a kill which groups lost theirs (_interrupted).
    for job in jobs:
        write_atomic(layout.cotraining(job.name), json.dumps({"train_key": by_name[job.name].train_key}).encode())
    try:
        results = cotrain.run(jobs, batch.runtime(), layout, keep)
    except Exception as exc:  # the shared run itself broke: the groups not done yet train alone
        _unmark(jobs, batch)
        if batch.settings.fail_fast:
            raise
        batch.notes.append(f"co-training stopped ({type(exc).__name__}: {exc}); the groups not done trained one by one")
        batch.check_base("co-training")
        return
    _unmark(jobs, batch)  # not on Ctrl-C: that, like a kill, loses the groups' progress, and the next run says so
    # A group out of its own time there has spent it: charged, its train stage then records the timeout at once.
    # A group that failed otherwise: its own stage runs it again and records the failure as a per-group run does.
    late = [name for name, result in results.items() if isinstance(result, cotrain.OutOfTime)]
    for name in late:
        result = results[name]
        assert isinstance(result, cotrain.OutOfTime)
        work = by_name[name]
        work.seconds = max(work.seconds + result.seconds, batch.settings.timeout or 0.0)  # all of its time is spent
    failed = [n for n, result in results.items() if isinstance(result, BaseException) and n not in late]
    batch.notes.append(
        f"co-trained {len(results) - len(failed) - len(late)} group(s) on one base model in "
        f"{time.monotonic() - started:.1f} s (class engine; each group stopped at its own --timeout there)"
        + (f"; {', '.join(failed)} failed there and ran alone" if failed else "")
        + (f"; {', '.join(late)} reached --timeout there" if late else "")
    )


def _answer(works: list[Work], batch: Batch, progress: Progress) -> None:
    """Mixed-adapter answers for every group with a fresh train record and no stored answers."""
    from grader.running import pipeline

    layout, settings = batch.layout, batch.settings
    jobs: list[mixgen.Job] = []
    keys: dict[str, str] = {}
    for work in works:
        if not work.ready or work.config is None or work.recorded is not None:
            continue
        train_record = load(TrainRecord, layout.record(work.name, "train"))
        if train_record is None or train_record.digest != work.train_key or not train_record.adapter_dir:
            continue
        if pipeline._cached_generation(work, batch) is not None or not _plain_lora(layout.adapter(work.name)):
            continue
        tests = sample_files.load_samples(layout.tests(work.name))
        if not tests:
            continue
        max_new = answer_tokens(work.config, settings.max_new_tokens)
        jobs.append(mixgen.Job(work.name, tests, layout.adapter(work.name), max_new, work.config.prompt_format))
        keys[work.name] = work.gen_key
    if len(jobs) < 2:
        return  # one group's answers are its own batches already
    progress("all groups", f"answers of {len(jobs)} adapters in shared batches")
    try:
        records = mixgen.run(jobs, batch.runtime(), batch.base_cache())
    except Exception as exc:
        if settings.fail_fast:
            raise
        batch.notes.append(f"mixed-adapter answers stopped ({type(exc).__name__}: {exc}); each group answered alone")
        batch.check_base("mixed-adapter answers")
        return
    for name, record in records.items():
        save(record.model_copy(update={"digest": keys[name]}), layout.record(name, "generate"))
        batch.prepared.add(("generate", name))
    batch.notes.append(f"answered {len(records)} group(s) in shared mixed-adapter batches (class engine)")


def _plain_lora(folder: Path) -> bool:
    """A LoRA adapter PEFT can mix with others per row: no modules_to_save, no DoRA."""
    try:
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(config, dict)
        and config.get("peft_type") == "LORA"
        and not config.get("modules_to_save")
        and not config.get("use_dora")
    )
