"""pipeline: the stage order for a batch of groups.

Every group is discovered and validated first; then the base answers of all groups are computed in one pass;
then each group is trained (or its adapter loaded), answered, scored, graded and rendered. The base model loads
once per batch, lazily (a batch of invalid groups never loads it). Train, generate and render are skipped when
their stored record is ok and its digest (inputs + config + base model + grader version) still matches, so a
killed run, run again, redoes only what was not finished. A failure or timeout becomes a record and a gradebook
row; the batch goes on.

Every stage has one shape, `Stage`: the record it writes, how to compute it, and the key a stored record is checked
against. `_computed` gives each stage the cache check, the digest and the atomic save; `_stage` adds the progress
line, the deadline and the failure that becomes the group's reason. `StageRecords` holds what each stage wrote.
"""

from __future__ import annotations

import difflib
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

from grader import __version__, limits
from grader.config import RunSettings, TrainConfig, answer_tokens
from grader.errors import ConfigError, StageError
from grader.layout import Layout, templates_dir
from grader.llm import adapter, generate, train
from grader.measure import adjust, grade, score
from grader.measure.metrics import HEADLINE
from grader.outputs import gradebook
from grader.reading import discover, recorded, sample_files, submitted, validate
from grader.records import (
    GenerationRecord,
    GradeRecord,
    GroupRecord,
    GroupStatus,
    Record,
    RenderRecord,
    ReportedLoss,
    Results,
    Sample,
    ScoreRecord,
    SweepRecord,
    TrainRecord,
    ValidationRecord,
)
from grader.running.batch import Batch, Progress, prefetch_base_answers
from grader.storage import digest, exclusive, load, save, sweep, write_atomic

Ran = Literal["ok", "failed", "timeout"]  # how a stage ended


class NothingToGrade(Exception):
    """A group with no usable training data whose committed adapter cannot be used either: `invalid`."""


@dataclass
class StageRecords:
    """The record each stage wrote for a group in this run, by the stage's name (None: it did not run)."""

    discover: GroupRecord | None = None
    validate: ValidationRecord | None = None
    train: TrainRecord | None = None
    generate: GenerationRecord | None = None
    generate_class: GenerationRecord | None = None
    score: ScoreRecord | None = None
    score_class: ScoreRecord | None = None
    grade: GradeRecord | None = None
    render: RenderRecord | None = None

    @classmethod
    def of(cls, results: Results) -> StageRecords:
        """The records a results.json holds (it names validate's `validation`)."""
        return cls(**{f.name: getattr(results, "validation" if f.name == "validate" else f.name) for f in fields(cls)})

    def present(self) -> dict[str, Record]:
        """name -> record of the stages that ran, in stage order: the stage keys of results.json."""
        records = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: record for name, record in records.items() if record is not None}


# what each stage's stored record is read back as: the type of its StageRecords field, not a second list of them
KINDS: dict[str, type[Record]] = {
    name: next(t for t in get_args(hint) if t is not type(None)) for name, hint in get_type_hints(StageRecords).items()
}


@dataclass
class Outcome:
    status: GroupStatus = "graded"
    reason: str = ""
    records: StageRecords = field(default_factory=StageRecords)
    tracebacks: list[str] = field(default_factory=list)  # -> error.txt, for the instructor who asks why


@dataclass(frozen=True)
class Stage:
    """One stage of a group's run, in the one shape every stage has: the record it writes (`name`: the field of
    StageRecords and OUT/<group>/<name>.json), how to compute it, and what lets a stored record stand instead."""

    name: str
    run: Callable[[], Record]
    key: str | None = None  # digest of everything the record depends on; None: always computed
    needed: tuple[Path, ...] = ()  # files beside the record that must exist for a stored record to stand
    force: bool = False  # --force: computed again whatever is stored
    label: str = ""  # how a failure or a timeout names the stage, when not by its name
    shown: bool = True  # a line in the progress display
    bounded: bool = True  # runs within the group's time (scoring does not: it is quick and always finishes)
    then: Callable[[Any], None] | None = None  # what the pipeline takes from the record, in the same guard

    @property
    def said(self) -> str:
        return self.label or self.name


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
    recorded: GenerationRecord | None = None  # a preview of a group that committed its answers: no model runs
    seconds: float = 0.0  # spent so far, against the per-group limit
    stored: list[str] = field(default_factory=list)  # the stages whose stored record stood (its digest matched)

    @property
    def name(self) -> str:
        return self.group.group

    @property
    def reused(self) -> bool:
        """Its report was unchanged and taken as stored: batch.json does not count it as graded now."""
        return "render" in self.stored

    @property
    def ready(self) -> bool:
        return self.outcome.status == "graded" and self.config is not None


@dataclass
class Hooks:
    """What the CLI shows: the number of groups, each stage as it starts, each group as it ends."""

    total: Callable[[int], None] = lambda n: None
    stage: Progress = lambda group, stage: None
    done: Callable[[str, Outcome], None] = lambda group, outcome: None


def _cached(cls: type[Record], path: Path, key: str, force: bool, *needed: Path) -> Any:
    stored = load(cls, path)
    if force or stored is None or stored.status != "ok" or stored.digest != key:
        return None
    return stored if all(p.exists() for p in needed) else None


def _keep(work: Work, layout: Layout, name: str, record: Record) -> None:
    """A stage's record, saved atomically beside the group's artifacts and kept in its outcome."""
    save(record, layout.record(work.name, name))
    setattr(work.outcome.records, name, record)


def _computed(work: Work, batch: Batch, stage: Stage) -> Record:
    """One stage's record: the stored one when its digest still matches, else computed, stamped and saved."""
    layout = batch.layout
    if stage.key is not None:
        stored = _cached(KINDS[stage.name], layout.record(work.name, stage.name), stage.key, stage.force, *stage.needed)
        if stored is not None:
            work.stored.append(stage.name)
            setattr(work.outcome.records, stage.name, stored)
            return stored  # type: ignore[no-any-return]
    record = stage.run()
    if stage.key is not None:
        record = record.model_copy(update={"digest": stage.key})
    _keep(work, layout, stage.name, record)
    return record


def _stage(work: Work, batch: Batch, progress: Progress, stage: Stage, until: float | None) -> Ran:
    """Run one stage within the group's time (`until`, monotonic); a failure or a timeout becomes the group's status
    and reason, never an exception (unless --fail-fast). 'ok' when the stage gave its record."""
    outcome, settings = work.outcome, batch.settings
    if stage.shown:
        progress(work.name, stage.name)
    started = time.monotonic()
    try:
        with limits.deadline(None if until is None or not stage.bounded else until - started):
            record = _computed(work, batch, stage)
            if stage.then is not None:
                stage.then(record)
        return "ok"
    except limits.GroupTimeout:
        if outcome.status != "timeout":  # the first stage to run out of time is the reason
            _timed_out(outcome, stage.said, settings.timeout)
        return "timeout"
    except NothingToGrade as exc:
        outcome.status, outcome.reason = "invalid", str(exc)
    except Exception as exc:
        _fail(outcome, stage.said, exc, settings.fail_fast)
    finally:
        work.seconds += time.monotonic() - started
    return "failed"


def _until(limit: float | None, spent: float = 0.0, floor: float = 0.0) -> float | None:
    """When the group's time is up (monotonic): `limit` less what it spent, but never under `floor` from now."""
    return None if limit is None else time.monotonic() + max(limit - spent, floor)


def _fail(outcome: Outcome, stage: str, exc: BaseException, fail_fast: bool) -> None:
    if fail_fast:
        raise exc
    name = type(exc).__name__
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if "out of memory" in message.lower() or name == "OutOfMemoryError":
        message = f"out of memory: {message}"
    if outcome.status != "error":  # the first failure is the reason; later stages failing follow from it
        outcome.status, outcome.reason = "error", f"{stage} failed: {name}: {message}"[:500]
    outcome.tracebacks.append(f"{stage} failed:\n{''.join(traceback.format_exception(exc))}")


def _timed_out(outcome: Outcome, stage: str, limit: float | None) -> None:
    outcome.status = "timeout"
    outcome.reason = f"{stage} did not finish within the per-group limit of {limit:g} s (--timeout)"


def start(group: GroupRecord, batch: Batch, progress: Progress, tidy: bool = True) -> Work:
    """discover + validate one group, and the keys of its model stages; never raises (unless --fail-fast).
    `tidy=False`: a sweep shard, one of several processes of one run that share the group's folder; the run swept
    it before the shards started, and sweeping again would delete another shard's write in flight."""
    layout, settings, name = batch.layout, batch.settings, group.group
    work = Work(group, Outcome())
    if tidy:
        sweep(layout.group_dir(name))  # what a killed run left half-written
    _keep(work, layout, "discover", group)
    if group.roster_only:
        work.outcome.status, work.outcome.reason = "missing", group.message
    elif group.status != "ok":
        work.outcome.status, work.outcome.reason = "invalid", group.message
    elif why := submitted.why_not(group.parts, Path(group.path)):
        work.outcome.status, work.outcome.reason = "not-submitted", why
    if work.outcome.status != "graded":
        return work
    checked = Stage(
        "validate",
        lambda: validate.run(
            Path(group.path),
            name,
            layout,
            batch.count_tokens,
            settings.limits,
            parts=group.parts,
            course=settings.course,
        ),
        then=lambda record: _validated(work, batch, record),
    )
    _stage(work, batch, progress, checked, _until(settings.timeout))
    return work


def _validated(work: Work, batch: Batch, record: ValidationRecord) -> None:
    """What validation decides: the group's status and reason, its config, and the keys of its model stages."""
    layout, settings, name = batch.layout, batch.settings, work.name
    work.validation = record
    if work.validation.status != "ok":
        over = validate.over_limit(work.validation.problems)
        work.outcome.status = "over-limit" if over else "invalid"
        work.outcome.reason = work.validation.message
        return
    work.config = work.validation.config or TrainConfig.model_validate({})  # ok: a config was read
    if work.validation.n_errors:  # bad lines, skipped: the usable samples are trained on, and the group is told
        work.outcome.reason = validate.skipped_said(work.validation)
    if work.validation.missing:  # graded all the same: each missing part costs its own rubric items only
        missing = "graded without " + ", ".join(work.validation.missing) + " (see the rubric)"
        work.outcome.reason = "; ".join(filter(None, [work.outcome.reason, missing]))
    copied = work.validation.writing.copied if work.validation.writing else []
    copied += [p.message for p in work.validation.problems if p.code == "course-data"]
    if copied:  # the course's passages and samples the group handed in: said in the gradebook too
        work.outcome.reason = "; ".join([*filter(None, [work.outcome.reason]), *copied])
    if settings.rescore:  # stored answers are used as they are: no keys, no base model needed
        return
    if settings.preview:
        work.recorded = recorded.answers(name, Path(work.group.path), sample_files.load_samples(layout.tests(name)))
        if work.recorded is not None:
            return
    work.committed = adapter.find(Path(work.group.path), work.group.parts)
    committed_key = adapter.fingerprint(work.committed) if work.committed else None
    work.train_key = digest(
        "train", work.validation.digest, batch.base_key(), settings.device, __version__, committed_key
    )
    max_new = answer_tokens(work.config, settings.max_new_tokens)
    work.gen_key = digest("generate", work.train_key, max_new, work.config.prompt_format)


def finish(work: Work, batch: Batch, progress: Progress) -> Outcome:
    """The model stages, grade and render of one started group; never raises (unless --fail-fast)."""
    layout, settings, name, outcome = batch.layout, batch.settings, work.name, work.outcome
    if work.ready:
        _model_stages(work, batch, progress)
        if not batch.base_intact(name):  # what this group was measured with is not the base every group shares
            outcome.status = "error"
            outcome.reason = "the shared base model's weights changed while this group was graded; its numbers "
            outcome.reason += "are not trusted (the base model was reloaded for the next group)"
    progress(name, "grade")
    validation = _corrected(work.validation, batch, name)
    report_md = _read_report(layout, name, validation)
    # grading and rendering are bounded too (a 30,000-row table in a report must not hold up the class): by what is
    # left of the group's time, but never less than a short window, so that a group that ran out of time in
    # training still gets its report, which says so
    until = _until(settings.timeout, work.seconds, floor=min(settings.timeout or 0, 120))
    grading = _grade_stage(work, batch, validation, report_md, batch.real_base(), batch.base_model_name())
    stage = "grade"
    if _stage(work, batch, progress, grading, until) != "timeout":  # failed: its report says so all the same
        stage = "render"
        progress(name, "render")
        if outcome.status != "not-submitted":  # a group that handed in nothing gets the short report
            _stage(work, batch, progress, _render_stage(work, batch, validation, report_md), until)
    if outcome.records.render is None and not settings.fail_fast:
        _short_report(work, batch, outcome.records.grade, stage)
    _write_results(layout, name, outcome, batch.base_model_name(), batch.settings.run_id)
    return outcome


def _grade_stage(
    work: Work, batch: Batch, validation: ValidationRecord | None, report_md: str | None, real_base: bool, base: str
) -> Stage:
    """The rubric's points from what every stage recorded, with the instructor's overrides and adjustments."""
    records, name = work.outcome.records, work.name

    def run() -> GradeRecord:
        tr, gen, sc = records.train, records.generate, records.score
        inputs = grade.Inputs(validation, tr, sc, report_md, gen, real_base=real_base, base_model=base)
        return adjust.apply(grade.run(name, batch.rubric, inputs, batch.overrides), batch.adjustments.get(name, []))

    return Stage("grade", run, shown=False)


SHORT_REPORT_SECONDS = 60


def _short_report(work: Work, batch: Batch, grade_rec: GradeRecord | None, stage: str) -> None:
    """The full render failed or ran out of time: a short report.pdf (status, points, reasons) in its own short time
    window, so every group has a report that says what happened."""
    from grader.outputs import render

    outcome = work.outcome
    why = outcome.reason if stage == "render" or outcome.status == "timeout" else f"{stage} did not finish"
    try:
        with limits.deadline(SHORT_REPORT_SECONDS):
            record = render.minimal(work.name, outcome.status, outcome.reason, grade_rec, why, batch.layout)
        _keep(work, batch.layout, "render", record)
    except (Exception, limits.GroupTimeout) as exc:  # even the short report failed: results.json still says all
        outcome.tracebacks.append(f"short report failed:\n{''.join(traceback.format_exception(exc))}")


@cache
def _templates_digest() -> str:
    root = templates_dir()
    shown = [p for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] != "review"]
    return digest(*[(p.relative_to(root).as_posix(), p.read_bytes()) for p in shown])  # review/: pages, not reports


def _render_stage(work: Work, batch: Batch, validation: ValidationRecord | None, report_md: str | None) -> Stage:
    """report.pdf, slides.pptx and the plot; their stored copies stand when everything they show is unchanged."""
    from grader.outputs import plots, render, report

    layout, name, outcome = batch.layout, work.name, work.outcome
    records = outcome.records
    swept = load(SweepRecord, layout.record(name, "sweep"))  # written by `grader sweep`
    shown_records = (records.train, records.generate, records.score, records.grade)
    everything = (work.group, validation, *shown_records, records.generate_class, records.score_class, swept)
    shown = [r.model_dump(mode="json", exclude={"seconds"}) for r in everything if r is not None]
    key = digest(
        "render",
        shown,
        outcome.status,
        outcome.reason,
        report_md,
        batch.base_model_name(),
        _templates_digest(),
        __version__,
    )

    def run() -> RenderRecord:
        tr, class_gen, class_sc = records.train, records.generate_class, records.score_class
        data = report.build(
            work.group,
            status=outcome.status,
            reason=outcome.reason,
            validation=validation,
            train=tr,
            generation=records.generate,
            score=records.score,
            grade=records.grade,
            plot=plots.training_plot(tr, layout.plot(name, "training")) if tr else None,
            report_md=report_md,
            base_model=batch.base_model_name(),
            class_tests=(class_gen, class_sc) if class_gen is not None and class_sc is not None else None,
            sweep=swept,
            sweep_plots={e.parameter: layout.plot(name, f"sweep-{e.parameter}") for e in swept.effects}
            if swept
            else None,
        )
        return render.run(data, layout, name)

    needed = (layout.report_pdf(name), layout.slides(name), layout.report_html(name))
    return Stage("render", run, key=key, needed=needed, force=batch.settings.force, shown=False)


def _cached_generation(work: Work, batch: Batch) -> GenerationRecord | None:
    stored: GenerationRecord | None = _cached(
        GenerationRecord, batch.layout.record(work.name, "generate"), work.gen_key, _force(batch, "generate", work)
    )
    return stored


def _model_stages(work: Work, batch: Batch, progress: Progress) -> None:
    """train (or load), generate, the class tests, score: in order, each after the one before gave its record."""
    records = work.outcome.records
    until = _until(batch.settings.timeout, work.seconds)
    ran = _stage(work, batch, progress, _train_stage(work, batch), until)
    if ran == "ok":
        ran = _stage(work, batch, progress, _generate_stage(work, batch), until)
    if ran == "ok" and batch.class_tests and records.train and records.train.adapter_dir and work.recorded is None:
        ran = _stage(work, batch, progress, _class_stage(work, batch), until)
    if ran == "ok":
        ran = _stage(work, batch, progress, _score_stage("score", records.generate), None)
    if ran == "ok" and records.generate_class is not None:
        _stage(work, batch, progress, _score_stage("score_class", records.generate_class), None)
    if work.outcome.status in ("error", "timeout"):  # it may have left its LoRA layers in the shared base
        batch.check_base(work.name)


def _score_stage(name: str, answers: GenerationRecord | None) -> Stage:
    assert answers is not None
    # scoring is quick and always finishes: not held to the group's time; a failure names it 'score'
    return Stage(name, lambda: score.run(answers), label="score", shown=name == "score", bounded=False)


def _force(batch: Batch, stage: str, work: Work) -> bool:
    """--force redoes a stage, except what the class engine did for this group in this very run."""
    return batch.settings.force and (stage, work.name) not in batch.prepared


def _stored(work: Work, batch: Batch, name: str) -> Stage:
    """--rescore: the record an earlier run stored, whatever its digest; never the model."""
    stored = load(KINDS[name], batch.layout.record(work.name, name))

    def missing() -> Record:
        raise StageError(f"no stored {name} record for {work.name}: run `grader grade` without --rescore first")

    return Stage(name, missing, key=None if stored is None else stored.digest)


def _train_stage(work: Work, batch: Batch) -> Stage:
    if work.recorded is not None:  # a preview of a group that committed its answers: its logs and adapter header
        assert work.validation is not None and work.config is not None
        group, config, n = work.group, work.config, work.validation.n_samples
        return Stage("train", lambda: recorded.training(work.name, Path(group.path), config, n, group.parts))
    if batch.settings.rescore:
        return _stored(work, batch, "train")
    needed = (batch.layout.adapter(work.name) / "adapter_model.safetensors",)
    force = _force(batch, "train", work)
    return Stage("train", lambda: _train(work, batch), key=work.train_key, needed=needed, force=force)


def _train(work: Work, batch: Batch) -> TrainRecord:
    """The group's committed adapter when it can be used, else an adapter trained on its data."""
    layout, name = batch.layout, work.name
    assert work.validation is not None and work.config is not None
    group_dir, refused, tr = Path(work.group.path), [], None
    if work.committed is not None:
        try:
            tr = adapter.use(
                name,
                group_dir,
                work.committed,
                work.config,
                work.validation.n_samples,
                batch.runtime(),
                layout.adapter(name),
                work.group.parts,
            )
        except adapter.AdapterRefused as exc:
            where = adapter.shown(work.committed, group_dir)
            refused = [f"committed adapter {where} not used: {exc}; trained instead"]
    if tr is None:
        samples = sample_files.load_samples(layout.samples(name))
        if not samples:
            raise NothingToGrade(
                "no training data, and the committed adapter cannot be used"
                + (f" ({refused[0].split(' not used: ')[-1].removesuffix('; trained instead')})" if refused else "")
            )
        tr = train.run(name, samples, work.config, batch.runtime(), layout)
        reported = work.validation.logs or ReportedLoss()  # read at validation, in a bounded reader
        said = [f"the group's own logs: {s}" for s in reported.sources]
        tr = tr.model_copy(update={"notes": refused + tr.notes + said, "reported": reported})
    return tr


def _generate_stage(work: Work, batch: Batch) -> Stage:
    if work.recorded is not None:  # a preview of a group that committed its answers: no model runs
        answers = work.recorded
        return Stage("generate", lambda: answers)
    if batch.settings.rescore:
        return _stored(work, batch, "generate")
    force = _force(batch, "generate", work)
    return Stage("generate", lambda: _generate(work, batch), key=work.gen_key, force=force)


def _generate(work: Work, batch: Batch) -> GenerationRecord:
    tests = sample_files.load_samples(batch.layout.tests(work.name))
    if not tests:
        return GenerationRecord(group=work.name, notes=["no test questions: nothing was asked"])
    return _ask(work, batch, tests)


def _ask(work: Work, batch: Batch, tests: list[Sample]) -> GenerationRecord:
    """The group's fine-tuned model (and the shared base) on these questions, with the group's prompt settings."""
    assert work.config is not None
    return generate.run(
        work.name,
        tests,
        batch.runtime(),
        batch.layout,
        adapter_dir=batch.layout.adapter(work.name),
        max_new_tokens=answer_tokens(work.config, batch.settings.max_new_tokens),
        prompt_format=work.config.prompt_format,
        cache=batch.base_cache(),
    )


def _class_stage(work: Work, batch: Batch) -> Stage:
    """The class-wide questions (--tests) asked of this group's model: the same ground for every group."""
    settings, name = batch.settings, work.name

    def run() -> GenerationRecord:
        if settings.rescore:
            raise StageError(f"no stored class-test answers for {name}: run without --rescore first")
        gen = _ask(work, batch, batch.class_tests)
        return gen.model_copy(update={"notes": [f"the class-wide test set {settings.class_tests}"]})

    key = class_answers_key(work.gen_key, batch.class_tests)
    return Stage("generate_class", run, key=key, force=settings.force, label="generate (class tests)", shown=False)


def class_answers_key(gen_key: str, class_tests: list[Sample]) -> str:
    """The cache key of a group's answers to the class-wide set: its model's answers key and the questions."""
    return digest("generate-class", gen_key, [t.model_dump() for t in class_tests])


def _read_report(layout: Layout, name: str, validation: ValidationRecord | None) -> str | None:
    if validation is None or validation.report_md is None:
        return None
    path = layout.group_dir(name) / validation.report_md
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _write_results(layout: Layout, name: str, outcome: Outcome, base_model: str, run_id: str | None = None) -> None:
    results = Results.model_validate(
        {
            "group": name,
            "status": outcome.status,
            "reason": outcome.reason,
            "base_model": base_model,
            "grader_version": __version__,
            "run_id": run_id,
            **outcome.records.present(),
        }
    )
    absent = {stage for stage in Results.STAGES if getattr(results, stage) is None}  # a stage not run is not there
    write_atomic(layout.results(name), results.model_dump_json(indent=2, by_alias=True, exclude=absent).encode())
    error_txt = layout.error_txt(name)
    if outcome.tracebacks:
        write_atomic(error_txt, "\n".join(outcome.tracebacks).encode())
    else:
        error_txt.unlink(missing_ok=True)  # from an earlier run that failed: it would explain nothing now


def _selected(groups: list[GroupRecord], only: tuple[str, ...]) -> list[GroupRecord]:
    names = [g.group for g in groups]
    unknown = [n for n in only if n not in names]
    if unknown:
        hints = [
            f"'{n}'" + "".join(f" (did you mean '{m}'?)" for m in difflib.get_close_matches(n, names, 1))
            for n in unknown
        ]
        raise ConfigError(f"--only names no such group: {', '.join(hints)}; groups: {', '.join(names)}")
    return [g for g in groups if not only or g.group in only]


def run(
    submissions: Path,
    settings: RunSettings,
    *,
    rubric: Path | None = None,
    roster: Path | None = None,
    overrides: Path | None = None,
    hooks: Hooks | None = None,
    single: bool = False,
) -> list[gradebook.Row]:
    """Grade the groups of a submissions folder (or, `single`, the one group folder it is); returns the gradebook
    rows (also written to disk)."""
    hooks = hooks or Hooks()
    layout = Layout(settings.out)
    batch = Batch(settings=settings, layout=layout, rubric=grade.load_rubric(rubric))
    if settings.class_tests is not None:
        batch.class_tests = sample_files.load_class_tests(settings.class_tests)
    if settings.shard is not None:  # one shard of a sharded run: the coordinator holds the lock and writes the book
        return _batch(submissions, batch, roster, overrides, hooks, single)
    with exclusive(layout.out):
        sweep(layout.out)
        sweep(layout.cache)
        return _batch(submissions, batch, roster, overrides, hooks, single)


def _batch(
    submissions: Path, batch: Batch, roster: Path | None, overrides: Path | None, hooks: Hooks, single: bool
) -> list[gradebook.Row]:
    settings, layout = batch.settings, batch.layout
    roster_rows = discover.read_roster(roster) if roster else None
    groups = [discover.one(submissions)] if single else discover.run(submissions, roster_rows)
    renamed = layout.assign([g.group for g in groups])
    selected = _selected(groups, settings.only)
    overrides = overrides or (layout.overrides_csv if layout.overrides_csv.is_file() else None)
    if overrides:
        batch.overrides = grade.load_overrides(overrides, batch.rubric, [g.group for g in groups])
    adjustments = settings.adjustments or layout.out / adjust.FILE
    if settings.adjustments or adjustments.is_file():
        batch.adjustments = adjust.load(adjustments, [g.group for g in groups])
    batch.cells = _part_a_cells(layout, [g.group for g in groups])
    started = time.monotonic()
    hooks.total(len(selected))
    works = [start(group, batch, hooks.stage) for group in selected]
    if not settings.rescore:
        pending = [
            (w.name, w.config)
            for w in works
            if w.ready and w.config and w.recorded is None and _cached_generation(w, batch) is None
        ]
        prefetch_base_answers(pending, batch, hooks.stage)
        if settings.engine == "class":
            from grader.running import classrun

            classrun.prepare(works, batch, hooks.stage)
    outcomes: dict[str, gradebook.Row] = {}
    for work in works:
        outcome = finish(work, batch, hooks.stage)
        outcomes[work.name] = _row(work, outcome, batch, renamed)
        hooks.done(work.name, outcome)
    batch_info = {
        "groups": len(groups),
        "graded_now": sum(not w.reused for w in works),
        "reused": sum(w.reused for w in works),  # everything they show was unchanged: their stored report stands
        "seconds": round(time.monotonic() - started, 2),
        "model_loads": batch.loads,
        "load_seconds": round(batch.load_seconds, 2),
        "base_answers_seconds": round(batch.prefetch_seconds, 2),
        "notes": batch.notes,
    }
    if settings.shard is not None:  # the coordinator adds the font note for the whole class
        write_atomic(layout.shard_batch(settings.shard), json.dumps(batch_info, indent=2).encode())
        return [outcomes[w.name] for w in works]
    rows = [
        outcomes.get(g.group) or _earlier_row(g, layout, renamed, sum(i.points for i in batch.rubric)) for g in groups
    ]
    write_book(rows, groups, batch, roster_rows, single)
    batch.notes.extend(filter(None, [font_note([w.name for w in works], layout)]))
    write_atomic(layout.batch_json, json.dumps(batch_info, indent=2).encode())
    return rows


def _row(work: Work, outcome: Outcome, batch: Batch, renamed: dict[str, str]) -> gradebook.Row:
    """The gradebook row of a group graded in this run."""
    sc, class_sc = outcome.records.score, outcome.records.score_class
    gain = sc.delta_mean.get(HEADLINE) if sc is not None and sc.delta_mean else None
    class_gain = class_sc.delta_mean.get(HEADLINE) if class_sc is not None and class_sc.delta_mean else None
    return gradebook.row(
        work.name,
        outcome.status,
        outcome.reason,
        outcome.records.grade,
        gain,
        work.group.commit,
        base_model=batch.base_model_name(),
        validation=work.validation,
        class_gain=class_gain,
        folder=batch.layout.group_dir(work.name).name,
        folder_note=f"its output folder is {renamed[work.name]}/" if work.name in renamed else "",
        gains=sc.delta_mean if sc is not None else None,
    )


def write_book(
    rows: list[gradebook.Row],
    groups: list[GroupRecord],
    batch: Batch,
    roster_rows: list[dict[str, str]] | None,
    single: bool,
) -> None:
    """gradebook.csv/json (and, with a roster, the per-student files), and the class summary, from every group's
    row."""
    layout = batch.layout
    extras = gradebook.roster_extras(roster_rows or [])
    for r in rows:
        r.extra = extras.get(r.group, {})
    if roster_rows:
        batch.notes.extend(roster_notes(rows, roster_rows))
    notes = gradebook.write(rows, layout, [item.id for item in batch.rubric], roster_rows, batch.settings.assignment)
    batch.notes.extend(notes)
    if not single:  # a class summary of one group says nothing
        from grader.outputs import summary

        summary.write(rows, layout)
    from grader.review import pages

    pages.write_static(layout)  # reports/index.html and each group's report.html: no server needed


def roster_notes(rows: list[gradebook.Row], roster_rows: list[dict[str, str]]) -> list[str]:
    """The roster's matches that were not exact, and the folders no student of the roster is in (their points reach
    nobody): said once each, in the run's notes."""
    from grader.outputs import roster

    renamed = {r["roster_group"]: r["group"] for r in roster_rows if r.get("roster_group", r["group"]) != r["group"]}
    notes = [
        f"roster group '{old}' is the folder '{new}' (the names differ only in case or spacing)"
        for old, new in renamed.items()
    ]
    claimed = {r["group"] for r in roster_rows}
    missing = [r.group for r in rows if r.status == "missing"]
    notes += [f"{r.group}: {roster.unclaimed_note(r.group, missing)}" for r in rows if r.group not in claimed]
    return notes


def font_note(names: list[str], layout: Layout) -> str | None:
    """Said once per run: the groups whose reports have characters no font here draws, and the package to add."""
    from grader.outputs import fonts

    rendered = {name: load(RenderRecord, layout.record(name, "render")) for name in names}
    return fonts.note({name: r.missing_glyphs for name, r in rendered.items() if r is not None})


def _part_a_cells(layout: Layout, groups: list[str]) -> dict[str, Any]:
    """The instructor's Part A cell corrections (OUT/part_a_cells.csv, written by `grader review`)."""
    from grader.review import cells

    path = layout.part_a_cells_csv
    return cells.load(path, groups) if path.is_file() else {}


def _corrected(validation: ValidationRecord | None, batch: Batch, name: str) -> ValidationRecord | None:
    """What grade and render read: the automatic reading with the instructor's cells in its place."""
    from grader.review import cells

    return cells.applied(validation, batch.cells.get(name, {}))


def regrade(results: Results, batch: Batch, real_base: bool) -> Outcome:
    """grade + render of one group from its stored records, with the overrides and cells of `batch`: what
    `grader review` re-runs after a correction. No model, no submission folder; results.json is rewritten."""
    name = results.group
    outcome = Outcome(status=results.status, reason=results.reason, records=StageRecords.of(results))
    assert results.discover is not None
    work = Work(results.discover, outcome, validation=results.validation)
    validation = _corrected(results.validation, batch, name)
    report_md = _read_report(batch.layout, name, validation)
    # a correction keeps the penalties and bonuses (the grade stage applies them)
    _computed(work, batch, _grade_stage(work, batch, validation, report_md, real_base, results.base_model))
    _computed(work, batch, _render_stage(work, batch, validation, report_md))
    _write_results(batch.layout, name, outcome, results.base_model, results.run_id)
    return outcome


def _earlier_row(
    group: GroupRecord, layout: Layout, renamed: dict[str, str] | None = None, top: float = 0.0
) -> gradebook.Row:
    """A group left out by --only keeps the row of its last run, as that run wrote it (its output folder and the
    note on it included), so the gradebook's other rows stay byte-identical."""
    renamed = renamed or {}
    earlier = gradebook.from_results(layout.results(group.group))
    if earlier is not None:
        earlier.folder = layout.group_dir(group.group).name
        if group.group in renamed:
            note = f"its output folder is {renamed[group.group]}/"
            earlier.reason = "; ".join(part for part in (earlier.reason, note) if part)
        return earlier
    if group.roster_only:  # never graded: every item 0 of the rubric's points, as a graded run gives it
        return gradebook.Row(
            group.group, "missing", group.message, max_total=top, folder=layout.group_dir(group.group).name
        )
    return gradebook.Row(group.group, "error", "not graded yet: it was left out by --only")
