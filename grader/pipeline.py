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

    def runtime(self) -> Runtime:
        if self._runtime is None:
            from grader import model

            self._runtime = model.load(
                self.settings.base_model, device=self.settings.device, cache_dir=self.settings.cache_dir
            )
            self.loads += 1
        return self._runtime

    def base_key(self) -> str:
        """Identifies the base model for cache keys without loading its weights."""
        if self._base_key is None:
            from grader import model

            self._base_key = model.fingerprint(model.resolve(self.settings.base_model, self.settings.cache_dir))
        return self._base_key

    def count_tokens(self, texts: list[str]) -> list[int]:
        from grader import model

        if self._tokenizer is None:
            self._tokenizer = (
                self._runtime.tokenizer
                if self._runtime is not None
                else model.load_tokenizer(self.settings.base_model, self.settings.cache_dir)
            )
        return model.count_tokens(self._tokenizer, texts)


@dataclass
class Outcome:
    status: str = "graded"
    reason: str = ""
    records: dict[str, Record] = field(default_factory=dict)


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


def grade_group(group: GroupRecord, batch: Batch, progress: Progress) -> Outcome:
    """Run every stage for one group; never raises (unless --fail-fast)."""
    layout, settings, name = batch.layout, batch.settings, group.group
    outcome = Outcome()
    save(group, layout.record(name, "discover"))
    outcome.records["discover"] = group
    if group.roster_only:
        outcome.status, outcome.reason = "missing", group.message
    elif group.status != "ok":
        outcome.status, outcome.reason = "invalid", group.message
    validation = tr = gen = sc = None
    if outcome.status == "graded":
        progress(name, "validate")
        try:
            validation = validate.run(Path(group.path), name, layout, batch.count_tokens)
            save(validation, layout.record(name, "validate"))
            outcome.records["validate"] = validation
            if validation.status != "ok":
                outcome.status, outcome.reason = "invalid", validation.message
        except Exception as exc:
            _fail(outcome, "validate", exc, settings.fail_fast)
    if outcome.status == "graded" and validation is not None:
        tr, gen, sc = _model_stages(name, Path(group.path), validation, batch, outcome, progress)
    progress(name, "grade")
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
            group, validation, tr, gen, sc, grade_rec, outcome.status, outcome.reason, plot, report_md
        )
        rendered = render.run(data, layout, name)
        save(rendered, layout.record(name, "render"))
        outcome.records["render"] = rendered
    except Exception as exc:
        _fail(outcome, "render", exc, settings.fail_fast)
    _write_results(layout, name, outcome)
    return outcome


def _model_stages(
    name: str, group_dir: Path, validation: ValidationRecord, batch: Batch, outcome: Outcome, progress: Progress
) -> tuple[TrainRecord | None, GenerationRecord | None, ScoreRecord | None]:
    layout, settings = batch.layout, batch.settings
    cfg = TrainConfig(**validation.config)
    committed = adapter.find(group_dir)
    committed_key = adapter.fingerprint(committed) if committed else None
    train_key = digest("train", validation.digest, batch.base_key(), settings.device, __version__, committed_key)
    tr = gen = sc = None
    stage = "train"
    try:
        progress(name, "train")
        tr = _cached(
            TrainRecord,
            layout.record(name, "train"),
            train_key,
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
            tr = tr.model_copy(update={"digest": train_key})
            save(tr, layout.record(name, "train"))
        outcome.records["train"] = tr
        stage = "generate"
        progress(name, "generate")
        max_new = settings.max_new_tokens or cfg.max_new_tokens
        gen_key = digest("generate", train_key, max_new, cfg.prompt_format)
        gen = _cached(GenerationRecord, layout.record(name, "generate"), gen_key, settings.force)
        if gen is None:
            if batch.cache is None:
                batch.cache = generate.BaseCache(layout.cache / "base_answers.json")
            gen = generate.run(
                name,
                validate.load_samples(layout.tests(name)),
                batch.runtime(),
                layout,
                adapter_dir=layout.adapter(name),
                max_new_tokens=max_new,
                prompt_format=cfg.prompt_format,
                cache=batch.cache,
            ).model_copy(update={"digest": gen_key})
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
    for group in groups:
        outcome = grade_group(group, batch, progress or (lambda g, s: None))
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
    batch_info = {"groups": len(rows), "seconds": round(time.monotonic() - started, 1), "model_loads": batch.loads}
    write_atomic(layout.out / "batch.json", json.dumps(batch_info, indent=2).encode())
    return rows
