"""pipeline: the stage order for a batch of groups.

The base model loads once per batch, lazily (a batch of invalid groups never loads it). Expensive stages
(train, generate) are skipped when their stored record is ok and its digest (inputs + config + base model +
grader version) still matches. A failure becomes a record and a gradebook row; the batch goes on.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import __version__, adapter, discover, generate, grade, gradebook, score, train, validate
from grader.config import RunSettings, TrainConfig
from grader.layout import Layout
from grader.model import Runtime
from grader.records import (
    GenerationRecord,
    GradeRecord,
    GroupRecord,
    Record,
    ScoreRecord,
    TrainRecord,
    ValidationRecord,
    digest,
    load,
    save,
    write_atomic,
)

Progress = Callable[[str, str], None]  # (group, stage)


@dataclass
class Batch:
    settings: RunSettings
    layout: Layout
    rubric: list[grade.RubricItem]
    _runtime: Runtime | None = None
    _tokenizer: Any = None
    _base_key: str | None = None
    cache: generate.BaseCache | None = None
    loads: int = 0
    load_seconds: float = 0.0
    prefetch_seconds: float = 0.0

    def runtime(self) -> Runtime:
        if self._runtime is None:
            from grader import model

            started = time.monotonic()
            self._runtime = model.load(
                self.settings.base_model, device=self.settings.device, cache_dir=self.settings.cache_dir
            )
            self.loads += 1
            self.load_seconds += time.monotonic() - started
        return self._runtime

    def base_key(self) -> str:
        """Identifies the base model for cache keys without loading its weights."""
        if self._base_key is None:
            from grader import model

            self._base_key = model.fingerprint(model.resolve(self.settings.base_model, self.settings.cache_dir))
        return self._base_key

    def tokenizer(self) -> Any:
        """The base model's tokenizer, without loading its weights when they are not loaded yet."""
        from grader import model

        if self._tokenizer is None:
            self._tokenizer = (
                self._runtime.tokenizer
                if self._runtime is not None
                else model.load_tokenizer(self.settings.base_model, self.settings.cache_dir)
            )
        return self._tokenizer

    def count_tokens(self, texts: list[str]) -> list[int]:
        from grader import model

        return model.count_tokens(self.tokenizer(), texts)

    def base_cache(self) -> generate.BaseCache:
        if self.cache is None:
            self.cache = generate.BaseCache(self.layout.cache / "base_answers.json")
        return self.cache


@dataclass
class Outcome:
    status: str = "graded"
    reason: str = ""
    records: dict[str, Record] = field(default_factory=dict)


@dataclass
class Work:
    """A group between validation and the model stages, with the cache keys its records are checked against."""

    group: GroupRecord
    outcome: Outcome
    validation: ValidationRecord | None = None
    config: TrainConfig | None = None
    committed: Path | None = None
    train_key: str = ""
    gen_key: str = ""

    @property
    def name(self) -> str:
        return self.group.group

    @property
    def ready(self) -> bool:
        return self.outcome.status == "graded" and self.config is not None


def _cached(cls: type[Record], path: Path, key: str, force: bool, *needed: Path) -> Any:
    stored = load(cls, path)
    if force or stored is None or stored.status != "ok" or stored.digest != key:
        return None
    return stored if all(p.exists() for p in needed) else None


def _fail(outcome: Outcome, stage: str, exc: BaseException, fail_fast: bool) -> None:
    if fail_fast:
        raise exc
    name = type(exc).__name__
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if "out of memory" in message.lower() or name == "OutOfMemoryError":
        message = f"out of memory: {message}"
    if outcome.status != "error":  # the first failure is the reason; later stages failing follow from it
        outcome.status, outcome.reason = "error", f"{stage} failed: {name}: {message}"[:500]


def start(group: GroupRecord, batch: Batch, progress: Progress) -> Work:
    """discover + validate one group, and the keys of its model stages; never raises (unless --fail-fast)."""
    layout, settings, name = batch.layout, batch.settings, group.group
    work = Work(group, Outcome())
    save(group, layout.record(name, "discover"))
    work.outcome.records["discover"] = group
    if group.roster_only:
        work.outcome.status, work.outcome.reason = "missing", group.message
    elif group.status != "ok":
        work.outcome.status, work.outcome.reason = "invalid", group.message
    if work.outcome.status != "graded":
        return work
    progress(name, "validate")
    try:
        work.validation = validate.run(Path(group.path), name, layout, batch.count_tokens)
        save(work.validation, layout.record(name, "validate"))
        work.outcome.records["validate"] = work.validation
        if work.validation.status != "ok":
            work.outcome.status, work.outcome.reason = "invalid", work.validation.message
            return work
        work.config = TrainConfig(**work.validation.config)
        work.committed = adapter.find(Path(group.path))
        committed_key = adapter.fingerprint(work.committed) if work.committed else None
        work.train_key = digest(
            "train", work.validation.digest, batch.base_key(), settings.device, __version__, committed_key
        )
        max_new = settings.max_new_tokens or work.config.max_new_tokens
        work.gen_key = digest("generate", work.train_key, max_new, work.config.prompt_format)
    except Exception as exc:
        _fail(work.outcome, "validate", exc, settings.fail_fast)
    return work


def finish(work: Work, batch: Batch, progress: Progress) -> Outcome:
    """The model stages, grade and render of one started group; never raises (unless --fail-fast)."""
    layout, settings, name, outcome = batch.layout, batch.settings, work.name, work.outcome
    tr = gen = sc = None
    if work.ready:
        tr, gen, sc = _model_stages(work, batch, progress)
    progress(name, "grade")
    validation = work.validation
    report_md = _read_report(layout, name, validation)
    grade_rec: GradeRecord | None = None
    try:
        grade_rec = grade.run(name, batch.rubric, grade.Inputs(validation, tr, sc, report_md))
        save(grade_rec, layout.record(name, "grade"))
        outcome.records["grade"] = grade_rec
    except Exception as exc:
        _fail(outcome, "grade", exc, settings.fail_fast)
    progress(name, "render")
    try:
        from grader import plots, render

        plot = plots.training_plot(tr, layout.plot(name, "training")) if tr else None
        data = render.report_data(
            work.group, validation, tr, gen, sc, grade_rec, outcome.status, outcome.reason, plot, report_md
        )
        rendered = render.run(data, layout, name)
        save(rendered, layout.record(name, "render"))
        outcome.records["render"] = rendered
    except Exception as exc:
        _fail(outcome, "render", exc, settings.fail_fast)
    _write_results(layout, name, outcome)
    return outcome


def _cached_generation(work: Work, batch: Batch) -> GenerationRecord | None:
    return _cached(  # type: ignore[no-any-return]
        GenerationRecord, batch.layout.record(work.name, "generate"), work.gen_key, batch.settings.force
    )


def prefetch_base_answers(works: list[Work], batch: Batch, progress: Progress) -> int:
    """Every base answer the batch still needs, in one batched pass over all groups' test questions.

    Per group, a class of 200 groups with 5 questions each would make 200 small generate calls; together they
    make a few large ones. A failure here is not a group's failure: each group computes what is missing itself.
    """
    from grader.prompts import prompt

    wanted: generate.Wanted = {}
    for work in works:
        if not work.ready or work.config is None or _cached_generation(work, batch) is not None:
            continue
        fmt = work.config.prompt_format
        max_new = batch.settings.max_new_tokens or work.config.max_new_tokens
        tokenizer = batch.tokenizer() if fmt == "chat" else None
        for test in validate.load_samples(batch.layout.tests(work.name)):
            text = prompt(test, fmt, tokenizer)
            wanted[generate.base_key(batch.base_key(), text, max_new, fmt)] = (text, max_new, fmt)
    cache = batch.base_cache()
    if all(key in cache.items for key in wanted):
        return 0
    progress("all groups", f"base answers ({len(wanted)} prompts)")
    runtime = batch.runtime()
    started = time.monotonic()
    try:
        return generate.fill_base(runtime, cache, wanted)
    except Exception:
        if batch.settings.fail_fast:
            raise
        return 0
    finally:
        batch.prefetch_seconds += time.monotonic() - started


def _model_stages(
    work: Work, batch: Batch, progress: Progress
) -> tuple[TrainRecord | None, GenerationRecord | None, ScoreRecord | None]:
    layout, settings, name, outcome = batch.layout, batch.settings, work.name, work.outcome
    assert work.validation is not None and work.config is not None
    group_dir, validation, cfg = Path(work.group.path), work.validation, work.config
    committed = work.committed
    tr = gen = sc = None
    stage = "train"
    try:
        progress(name, "train")
        tr = _cached(
            TrainRecord,
            layout.record(name, "train"),
            work.train_key,
            settings.force,
            layout.adapter(name) / "adapter_model.safetensors",
        )
        if tr is None:
            refused: list[str] = []
            if committed is not None:
                try:
                    tr = _load_committed(name, group_dir, committed, cfg, validation, batch)
                except adapter.AdapterRefused as exc:
                    refused = [f"committed adapter {_shown(committed, group_dir)} not used: {exc}; trained instead"]
            if tr is None:
                samples = validate.load_samples(layout.samples(name))
                tr = train.run(name, samples, cfg, batch.runtime(), layout)
                tr = tr.model_copy(update={"notes": refused + tr.notes})
            tr = tr.model_copy(update={"digest": work.train_key})
            save(tr, layout.record(name, "train"))
        outcome.records["train"] = tr
        stage = "generate"
        progress(name, "generate")
        gen = _cached_generation(work, batch)
        if gen is None:
            gen = generate.run(
                name,
                validate.load_samples(layout.tests(name)),
                batch.runtime(),
                layout,
                adapter_dir=layout.adapter(name),
                max_new_tokens=settings.max_new_tokens or cfg.max_new_tokens,
                prompt_format=cfg.prompt_format,
                cache=batch.base_cache(),
            ).model_copy(update={"digest": work.gen_key})
            save(gen, layout.record(name, "generate"))
        outcome.records["generate"] = gen
        stage = "score"
        progress(name, "score")
        sc = score.run(gen)
        save(sc, layout.record(name, "score"))
        outcome.records["score"] = sc
    except Exception as exc:
        _fail(outcome, stage, exc, settings.fail_fast)
        (layout.group_dir(name) / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
    return tr, gen, sc


def _shown(folder: Path, group_dir: Path) -> str:
    return (folder.relative_to(group_dir).as_posix() or ".") + "/"


def _load_committed(
    name: str, group_dir: Path, folder: Path, cfg: TrainConfig, validation: ValidationRecord, batch: Batch
) -> TrainRecord:
    """Use the group's own adapter: checked against the base model, copied out, its logs read for the loss."""
    runtime = batch.runtime()
    lora = adapter.check(folder, group_dir, runtime.model)
    adapter.copy(folder, lora, batch.layout.adapter(name))
    log, final, notes = adapter.group_logs(group_dir, folder)
    if final is None:
        losses = [e.loss for e in log if e.loss is not None]
        final = losses[-1] if losses else None
    return TrainRecord(
        group=name,
        source="loaded",
        adapter_dir="adapter",
        base_model=runtime.name,
        device=runtime.device,
        dtype=runtime.dtype,
        quantization=runtime.quantization,
        config=cfg.model_dump(),
        log=log,
        train_loss=final,
        perplexity=math.exp(final) if final is not None and final < 50 else None,
        n_train=validation.n_samples,
        steps=max((e.step for e in log), default=0),
        loss_includes_prompt=True,
        notes=[
            f"committed adapter {_shown(folder, group_dir)} loaded (safetensors, shapes match the base model); "
            "not retrained",
            "the loss is the group's own: the course script's loss includes prompt tokens",
            *notes,
        ],
    )


def _read_report(layout: Layout, name: str, validation: ValidationRecord | None) -> str | None:
    if validation is None or validation.report_md is None:
        return None
    path = layout.group_dir(name) / validation.report_md
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _write_results(layout: Layout, name: str, outcome: Outcome) -> None:
    data = {
        "group": name,
        "status": outcome.status,
        "reason": outcome.reason,
        "grader_version": __version__,
        **{stage: record.model_dump(mode="json") for stage, record in outcome.records.items()},
    }
    write_atomic(layout.results(name), json.dumps(data, indent=2, ensure_ascii=False).encode())


def run(
    submissions: Path,
    settings: RunSettings,
    *,
    rubric: Path | None = None,
    roster: Path | None = None,
    progress: Progress | None = None,
    on_group_done: Callable[[str, Outcome], None] | None = None,
) -> list[gradebook.Row]:
    """Grade every group of a submissions folder; returns the gradebook rows (also written to disk)."""
    layout = Layout(settings.out)
    batch = Batch(settings=settings, layout=layout, rubric=grade.load_rubric(rubric))
    roster_rows = discover.read_roster(roster) if roster else None
    groups = discover.run(submissions, roster_rows)
    extras = {r["group"]: {k: v for k, v in r.items() if k != "group"} for r in roster_rows or []}
    rows = []
    started = time.monotonic()
    report = progress or (lambda g, s: None)
    works = [start(group, batch, report) for group in groups]
    prefetch_base_answers(works, batch, report)
    for work in works:
        group = work.group
        outcome = finish(work, batch, report)
        grade_rec = outcome.records.get("grade")
        sc = outcome.records.get("score")
        gain = sc.delta_mean.get("rougeL") if isinstance(sc, ScoreRecord) and sc.delta_mean else None
        r = gradebook.row(
            group.group,
            outcome.status,
            outcome.reason,
            grade_rec if isinstance(grade_rec, GradeRecord) else None,
            gain,
            group.commit,
        )
        r.extra = extras.get(group.group, {})
        rows.append(r)
        if on_group_done:
            on_group_done(group.group, outcome)
    gradebook.write(rows, layout, [item.id for item in batch.rubric])
    batch_info = {
        "groups": len(rows),
        "seconds": round(time.monotonic() - started, 2),
        "model_loads": batch.loads,
        "load_seconds": round(batch.load_seconds, 2),
        "base_answers_seconds": round(batch.prefetch_seconds, 2),
    }
    write_atomic(layout.out / "batch.json", json.dumps(batch_info, indent=2).encode())
    return rows
