"""The command line: flags -> settings -> pipeline -> summary -> exit code. No grading logic lives here.

Exit codes: 0 all groups graded / valid, 1 some group failed, 2 usage or config error (nothing ran), 130 Ctrl-C.
Heavy libraries (torch, transformers, weasyprint) are imported only by the stages that need them.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from grader import __version__
from grader.errors import GraderError
from grader.limits import DEFAULT_LIMITS, DEFAULTS

if TYPE_CHECKING:
    from grader.config import RunSettings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Grade the week-5 LoRA fine-tuning assignment.")
err = Console(stderr=True)
out = Console()

QuantizeOpt = Annotated[
    str,
    typer.Option(help="auto (4-bit NF4 on CUDA as the course does, fp32 on CPU), 4bit (NF4 on CPU too) or none."),
]
GroupQuantizeOpt = Annotated[
    str | None, typer.Option(help="auto, 4bit or none (default: the group's load_in_4bit: auto, else none).")
]
ThreadsOpt = Annotated[
    int | None, typer.Option(min=1, help="CPU threads for torch (default: the CPUs this process may use).")
]
BaseModelOpt = Annotated[
    str,
    typer.Option(
        "--base-model",
        envvar="GRADER_BASE_MODEL",
        help="'demo' (built locally), a local model folder, or a cached HF id.",
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", help="Output folder.")]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
MaxNewTokensOpt = Annotated[int | None, typer.Option(help="Override the group's max_new_tokens.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display, only the results.")]


def _default_submissions() -> Path:
    from grader.layout import examples_dir

    local = Path("submissions")
    return local if local.is_dir() else examples_dir()


# The Slurm options of every command that can spread work over a cluster (grade, sweep): written once.
PartitionOpt = Annotated[str | None, typer.Option(envvar="GRADER_SLURM_PARTITION", help="Slurm partition.")]
AccountOpt = Annotated[str | None, typer.Option(envvar="GRADER_SLURM_ACCOUNT", help="Slurm account.")]
TimeOpt = Annotated[
    int | None,
    typer.Option(
        "--time", envvar="GRADER_SLURM_TIME", help="Slurm time limit per shard, minutes (default: from --timeout)."
    ),
]
GpusOpt = Annotated[int, typer.Option(envvar="GRADER_SLURM_GPUS", help="Slurm: GPUs per shard (0 on a CPU partition).")]
SlurmOpt = Annotated[
    list[str] | None,
    typer.Option(envvar="GRADER_SLURM_OPTIONS", help="Any other sbatch option as KEY=VALUE (repeatable)."),
]


@dataclass(frozen=True)
class RunOptions:
    """The options `grade` and `sweep` share, declared once: `shares_run_options` puts these fields into a command's
    options (typer reads them from here) and hands the command one RunOptions."""

    out: OutOpt = DEFAULTS.out
    base_model: BaseModelOpt = DEFAULTS.base_model
    device: DeviceOpt = DEFAULTS.device
    quantize: QuantizeOpt = DEFAULTS.quantize
    threads: ThreadsOpt = None
    max_new_tokens: MaxNewTokensOpt = None
    class_tests: Annotated[
        Path | None,
        typer.Option("--tests", help="Class-wide held-out questions (JSONL) every model answers as well."),
    ] = None
    timeout: Annotated[
        float,
        typer.Option(
            help="Wall-clock limit in seconds per group (and per sweep run), every stage included; over it: 'timeout'."
        ),
    ] = DEFAULTS.timeout
    executor: Annotated[
        str | None,
        typer.Option(help="Spread the work over --shards processes: local (one per GPU, or CPU) or slurm."),
    ] = None
    shards: Annotated[int, typer.Option(min=1, help="With --executor: how many processes share the work.")] = 1
    partition: PartitionOpt = None
    account: AccountOpt = None
    time_min: TimeOpt = None
    gpus_per_shard: GpusOpt = 1
    slurm_option: SlurmOpt = None
    quiet: QuietOpt = False

    def settings(self, **more: Any) -> RunSettings:
        """RunSettings from these options (each one RunSettings has a field for) and the command's own."""
        from grader.config import RunSettings as Settings

        shared = {f.name: getattr(self, f.name) for f in fields(self) if f.name in Settings.model_fields}
        return _settings(shared | more)

    def runner(self) -> Any:
        """The executor of grade and sweep, built once from the same flags (None: everything in this process)."""
        from grader.running import executors

        slurm = executors.SlurmOptions(
            partition=self.partition,
            account=self.account,
            time_min=self.time_min,
            gpus=self.gpus_per_shard,
            extra=_key_values(self.slurm_option or []),
        )
        return executors.build(self.executor, self.shards, slurm)


def shares_run_options(command: Callable[..., None]) -> Callable[..., None]:
    """The command's own parameters, with RunOptions' fields after its arguments; it is called with them gathered
    into `run: RunOptions`."""
    hints = typing.get_type_hints(RunOptions, include_extras=True)
    shared = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
        for f in fields(RunOptions)
    ]
    own = inspect.signature(command, eval_str=True)
    mine = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own.parameters.values() if p.name != "run"]
    arguments = [p for p in mine if _is_argument(p)]
    options = [p for p in mine if not _is_argument(p)]

    @functools.wraps(command)
    def with_run_options(**values: Any) -> None:
        run = RunOptions(**{f.name: values.pop(f.name) for f in fields(RunOptions)})
        command(run=run, **values)

    parameters = [*arguments, *shared, *options]
    with_run_options.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_run_options.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_run_options


def _is_argument(parameter: inspect.Parameter) -> bool:
    metadata = getattr(parameter.annotation, "__metadata__", ())
    return any(isinstance(meta, typer.models.ArgumentInfo) for meta in metadata)


# Long by its options: typer reads the CLI from this signature (and RunOptions', shared with sweep), one option per
# parameter; the body only maps them to RunSettings and calls the pipeline (or the shards).
@app.command("grade")
@shares_run_options
def grade_cmd(
    submissions: Annotated[
        Path | None,
        typer.Argument(help="Folder with one sub-folder per group (default: ./submissions or the built-in examples)"),
    ] = None,
    rubric: Annotated[
        Path | None, typer.Option(help="Rubric file, TOML or YAML (default: templates/rubric.toml).")
    ] = None,
    roster: Annotated[
        Path | None,
        typer.Option(
            help="CSV, one row per student or per group: group (or group_name), and identifier, github_username, "
            "email, name; groups without a folder: missing."
        ),
    ] = None,
    overrides: Annotated[
        Path | None,
        typer.Option(help="CSV group,item,points,comment: manual points that win (default: OUT/overrides.csv)."),
    ] = None,
    adjustments: Annotated[
        Path | None,
        typer.Option(
            help="CSV group,kind,points,reason[,beyond_limits]: late/plagiarism/manual/bonus points outside the rubric "
            "(default: OUT/adjustments.csv)."
        ),
    ] = None,
    assignment: Annotated[
        str, typer.Option(help="The assignment's column in canvas.csv and moodle.csv (as the LMS names it).")
    ] = DEFAULTS.assignment,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Grade only this group (repeatable); others keep their results.")
    ] = None,
    rescore: Annotated[
        bool, typer.Option("--rescore", help="Re-score, re-grade and re-render from stored answers; no model runs.")
    ] = False,
    max_samples: Annotated[
        int, typer.Option(help="Training samples a group may have; over it the group is 'over-limit'.")
    ] = DEFAULT_LIMITS.max_samples,
    max_tests: Annotated[
        int, typer.Option(help="Test questions a group may have; over it the group is 'over-limit'.")
    ] = DEFAULT_LIMITS.max_tests,
    max_file_mb: Annotated[
        int, typer.Option(help="Size of one data or tests file in MB; over it the group is 'over-limit'.")
    ] = DEFAULT_LIMITS.max_file_mb,
    reader_memory_mb: Annotated[
        int, typer.Option(help="Memory one reader of one student file (a deck, a PDF, a log) may use, in MB.")
    ] = DEFAULT_LIMITS.reader_memory_mb,
    reader_seconds: Annotated[
        float, typer.Option(help="Time one reader of one student file may take, in seconds.")
    ] = DEFAULT_LIMITS.reader_seconds,
    course: Annotated[
        Path | None,
        typer.Option(
            "--course",
            envvar="GRADER_COURSE",
            help="The course's own files (lecture deck, example data, script, assignment): what a group copied from "
            "them is recognised by content and not credited.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Redo every stage, ignoring cached records.")] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="class: co-train every group's adapter on one base and answer in mixed batches (groups it cannot "
            "take go per-group, said in the batch notes); per-group: one group after another."
        ),
    ] = DEFAULTS.engine,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failure with a traceback.")] = False,
    sweep_file: Annotated[
        Path | None,
        typer.Option(
            "--sweep", help="A sweep plan (TOML/YAML: vary = {name = [values]}, seeds, grid) run on every group."
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Start a sweep whose estimate is over 15 minutes.")] = False,
    *,
    run: RunOptions,
) -> None:
    """Grade every group: validate, train or load, answer, score, grade, render; then the gradebook and summary."""

    settings = run.settings(
        force=force,
        engine=engine,
        rescore=rescore,
        max_samples=max_samples,
        max_tests=max_tests,
        max_file_mb=max_file_mb,
        reader_memory_mb=reader_memory_mb,
        reader_seconds=reader_seconds,
        only=tuple(only or ()),
        fail_fast=fail_fast,
        course=course,
        adjustments=adjustments,
        assignment=assignment,
    )
    if rescore and force:
        raise GraderError("--rescore uses the stored answers and --force recomputes them; choose one")
    folder = submissions or _default_submissions()
    runner = run.runner()
    plan = None
    if sweep_file is not None:
        from grader.measure import sweep

        plan = sweep.load_plan(sweep_file)  # a bad plan is refused before anything is graded
    files = (rubric, roster, overrides)
    rows = _grade(folder, settings, runner, files, run.quiet)
    if plan is not None:
        sweep.run(folder, settings, plan, single=False, yes=yes, say=err.print, executor=runner)
        rows = _grade(folder, settings, None, files, run.quiet)  # cached: re-renders with the sweeps
    _summary(rows, run.out)
    failed = [r for r in rows if r.status not in ("graded", "missing", "not-submitted")]  # the class's, not the run's
    raise typer.Exit(1 if failed else 0)


def _settings(values: dict[str, Any]) -> RunSettings:
    """RunSettings from the flags; a value it refuses is a usage error (exit 2), said in its words."""
    from grader.config import RunSettings as Settings

    try:
        return Settings.model_validate(values)
    except ValueError as exc:
        raise GraderError(str(exc)) from exc


def _grade(
    folder: Path,
    settings: Any,
    executor: Any,
    files: tuple[Path | None, Path | None, Path | None],
    quiet: bool,
) -> list[Any]:
    from grader.running import pipeline
    from grader.running import shards as sharding

    rubric, roster, overrides = files
    with _progress(quiet) as hooks:
        if executor is None:
            return pipeline.run(folder, settings, rubric=rubric, roster=roster, overrides=overrides, hooks=hooks)
        return sharding.run(
            folder, settings, executor=executor, rubric=rubric, roster=roster, overrides=overrides, hooks=hooks
        )


def _key_values(items: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GraderError(f"--slurm-option takes KEY=VALUE (e.g. qos=class), not '{item}'")
        pairs[key.strip()] = value.strip()
    return pairs


@contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    """One progress bar for the batch: groups done / total, and the group and stage at work."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from grader.running.pipeline import Hooks

    if quiet:
        yield Hooks()
        return
    columns = (
        TextColumn("[bold]grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("starting", total=None)
        yield Hooks(
            total=lambda n: bar.update(task, total=n),
            stage=lambda group, stage: bar.update(task, description=f"{_escape(group)}: {stage}"),
            done=lambda group, outcome: bar.update(task, advance=1, description=f"{_escape(group)}: {outcome.status}"),
        )


def _summary(rows, out_dir: Path, title: str = "") -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    title = title or f"{len(rows)} groups -> {out_dir}/gradebook.csv, {out_dir}/summary.pdf"
    models = sorted({r.base_model for r in rows if r.base_model})
    caption = "base model: " + (", ".join(models) or "n/a")
    if "demo" in models:
        caption += (
            " (the tiny local demo model, not Llama-3.1-8B: its answers and losses check the pipeline and decide no "
            "points)"
        )
    table = Table(title=f"grader {__version__}: {_escape(title)}", caption=caption)
    for column in ("group", "status", "points", "ROUGE-L gain", "reason"):
        table.add_column(column, overflow="fold")
    for r in rows:
        gain = "" if r.rouge_l_gain is None else f"{r.rouge_l_gain:+.3f}"
        style = "green" if r.status == "graded" else "red"
        table.add_row(
            _escape(r.group), f"[{style}]{r.status}[/]", f"{r.total:g}/{r.max_total:g}", gain, _escape(r.reason[:120])
        )
    out.print(table)
    for r in rows:
        if r.pending:
            err.print(
                f"[yellow]{_escape(r.group)}:[/] not measured here, 0 until the instructor's run on the real base "
                f"model: {', '.join(r.pending)}"
            )
        for flag in r.flags:
            err.print(f"[yellow]flag {_escape(r.group)}:[/] {_escape(flag)}")
    for note in _batch_notes(out_dir):
        err.print(f"[yellow]note:[/] {_escape(note)}")


def _batch_notes(out_dir: Path) -> list[str]:
    """What the run noticed beyond the table (a font to install, a reloaded base model), from batch.json."""
    try:
        from grader.layout import Layout

        notes = json.loads(Layout(out_dir).batch_json.read_text(encoding="utf-8")).get("notes", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [str(n) for n in notes] if isinstance(notes, list) else []


@app.command("sweep")
@shares_run_options
def sweep_cmd(
    group_dir: Annotated[Path, typer.Argument(help="The group's folder.")],
    vary: Annotated[
        list[str],
        typer.Option("--vary", help="NAME=V1,V2,... a parameter and its values (repeatable): learning_rate=1e-4,2e-4"),
    ],
    seeds: Annotated[int, typer.Option(min=1, max=10, help="Seeds per value; with 2+ the seeds' spread is noise.")] = 1,
    grid: Annotated[bool, typer.Option("--grid", help="Every combination, not one parameter at a time.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Start even when the estimate is over 15 minutes.")] = False,
    *,
    run: RunOptions,
) -> None:
    """Which parameters mattered, measured: train the group's run again with one parameter changed at a time (or
    the --grid), on its data, and measure the held-out eval loss and its test questions (ROUGE-L, exact match).
    Cached by content: a re-run trains nothing already trained. Writes sweep.json, a plot per parameter, and the
    group's report and deck with the result."""
    from grader.measure import sweep
    from grader.measure.sweep_stats import Plan
    from grader.running import pipeline

    plan = Plan(sweep.parse_vary(vary), grid=grid, seeds=seeds)  # refused before anything runs
    runner = run.runner()
    settings = run.settings()
    with _progress(run.quiet) as hooks:  # the group's own graded run first: the sweep's own point and its cost
        pipeline.run(group_dir, settings, hooks=hooks, single=True)
    records = sweep.run(group_dir, settings, plan, single=True, yes=yes, say=err.print, executor=runner)
    with _progress(run.quiet) as hooks:
        row = pipeline.run(group_dir, settings, hooks=hooks, single=True)[0]  # re-rendered with the sweep
    for effect in records[0].effects:
        out.print(_escape(effect.sentence), highlight=False, soft_wrap=True)
    from grader.layout import Layout

    layout = Layout(run.out, {row.group: row.folder} if row.folder else {})
    sweep_json, report_pdf = layout.record(row.group, "sweep"), layout.report_pdf(row.group)
    out.print(f"sweep: {_escape(str(sweep_json))}; report: {_escape(str(report_pdf))}")


@app.command("preview")
def preview_cmd(
    group_dir: Annotated[Path, typer.Argument(help="The group folder (default: the current folder).")] = Path("."),
    out_dir: OutOpt = DEFAULTS.out,
    base_model: BaseModelOpt = DEFAULTS.base_model,
    max_new_tokens: MaxNewTokensOpt = None,
    classroom: Annotated[
        Path | None, typer.Option(help="Write GitHub Classroom's runner result JSON here (and print its notices).")
    ] = None,
    gradescope: Annotated[Path | None, typer.Option(help="Write a Gradescope-style results.json here.")] = None,
    summary: Annotated[
        Path | None,
        typer.Option(envvar="GITHUB_STEP_SUMMARY", help="Append a Markdown table of the points to this file."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """A group's own report, deck and points, on CPU in seconds: from its recorded answers (answers.jsonl) and
    logs when it committed them, else from the demo model trained on its data. Never trains the 8B model."""
    from grader.layout import Layout
    from grader.outputs import classroom as cr
    from grader.outputs import fonts
    from grader.reading import own_output
    from grader.records import GradeRecord, RenderRecord
    from grader.running import pipeline
    from grader.storage import load

    settings = _settings({"base_model": base_model, "out": out_dir, "max_new_tokens": max_new_tokens, "preview": True})
    if own_output.mark(out_dir, group_dir):  # before the run: a `git add .` during it leaves the output out too
        err.print(f"{_escape(str(out_dir))}/ is inside the repository: it has its own .gitignore, so git leaves it out")
    with _progress(quiet) as hooks:
        row = pipeline.run(group_dir, settings, hooks=hooks, single=True)[0]
    layout = Layout(out_dir)
    report, slides = layout.report_pdf(row.group), layout.slides(row.group)
    grade_record = load(GradeRecord, layout.record(row.group, "grade"))
    rendered = load(RenderRecord, layout.record(row.group, "render"))
    lacking = fonts.package_for(rendered.missing_glyphs) if rendered and rendered.missing_glyphs else []
    cr.write_outputs(
        row.group, row.status, row.reason, grade_record, report, slides, classroom, gradescope, summary, lacking
    )
    _summary([row], out_dir, f"preview of {row.group}")
    for line in cr.terminal_lines(grade_record):
        out.print(_escape(line), highlight=False, soft_wrap=True)
    out.print(f"report: {_escape(str(report))}\nslides: {_escape(str(slides))}", highlight=False, soft_wrap=True)
    raise typer.Exit(0 if row.status in ("graded", "missing") else 1)


@app.command("init-ci")
def init_ci_cmd(
    group_dir: Annotated[Path, typer.Argument(help="The group's repository (default: the current folder).")] = Path(
        "."
    ),
    action: Annotated[
        str | None,
        typer.Option(envvar="GRADER_ACTION", help="The grader action, OWNER/REPO@REF (your course's grader repo)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing workflow file.")] = False,
) -> None:
    """Write .github/workflows/grader.yml: on every push, validation annotations, report and deck as artifacts, and
    the points for GitHub Classroom."""
    from grader.outputs import classroom as cr
    from grader.storage import write_atomic

    if not action:
        raise GraderError(
            "which grader action? pass --action OWNER/REPO@REF (the course's copy of the grader repository, "
            "e.g. my-course/grader@v0.1.0) or set GRADER_ACTION"
        )
    if not group_dir.is_dir():
        raise GraderError(f"{group_dir} is not a folder")
    target = group_dir / cr.WORKFLOW
    if target.exists() and not force:
        raise GraderError(f"{target} exists; pass --force to replace it")
    try:
        text = cr.workflow(action)
    except ValueError as exc:
        raise GraderError(str(exc)) from exc
    write_atomic(target, text.encode())
    out.print(
        f"wrote {target}: commit and push it; every push then shows the points in the Actions tab and the "
        "report and deck as the artifact 'grader-report'",
        highlight=False,
        soft_wrap=True,
    )


@app.command("validate")
def validate_cmd(
    path: Annotated[Path, typer.Argument(help="A group folder, or one .jsonl/.json data file.")] = Path("."),
    fmt: Annotated[str, typer.Option("--format", help="text, json or github (workflow annotations).")] = "text",
    base_model: Annotated[
        str | None,
        typer.Option(
            "--base-model",
            envvar="GRADER_BASE_MODEL",
            help="Count sample lengths in this model's tokens against max_length ('demo', a folder, an id).",
        ),
    ] = None,
) -> None:
    """Check a group's data, tests and config (or each group of a submissions folder); print every problem as
    file:line: message (fix)."""
    counter = None
    if base_model:
        from grader.llm import loader

        counter = loader.token_counter(base_model)

    if fmt not in ("text", "json", "github"):
        raise GraderError(f"--format must be text, json or github, not '{fmt}'")
    if not path.exists():
        raise GraderError(f"{path} does not exist; pass a group folder or a .jsonl file")
    from grader.reading.discover import group_folders

    groups = group_folders(path) if path.is_dir() else []
    if groups and fmt != "json":
        out.print(
            f"{path} holds {len(groups)} group folders, not one group: validating each", highlight=False, soft_wrap=True
        )
    reports = [_validate_one(group, counter) for group in groups] if groups else [_validate_one(path, counter)]
    errors = sum(n for _, _, _, n in reports)
    if fmt == "json":
        listed = [
            {
                "path": str(where),
                "errors": n,
                "summary": summary,
                "tokens_checked": counter is not None,
                "problems": [p.model_dump() for p in problems],
            }
            for where, problems, summary, n in reports
        ]
        print(json.dumps(listed if groups else listed[0], indent=2, ensure_ascii=False))
        raise typer.Exit(1 if errors else 0)
    unchecked = "" if counter else "; token lengths not checked (pass --base-model)"
    for base, problems, summary, n in reports:
        if groups and fmt == "text":
            out.print(f"\n[bold]{_escape(base.name)}[/]", highlight=False)
        _print_problems(problems, base, fmt)
        if fmt == "text":
            out.print(f"{summary}; {n} error(s){unchecked}", highlight=False, soft_wrap=True)
    if groups and fmt == "text":
        bad = sum(1 for *_, n in reports if n)
        out.print(f"\n{len(groups)} groups, {bad} with errors", highlight=False)
    raise typer.Exit(1 if errors else 0)


def _validate_one(path: Path, counter: Any) -> tuple[Path, list[Any], str, int]:
    """(where messages are relative to, problems, one-line summary, number of errors) for a group folder or a file."""
    from grader.config import TrainConfig
    from grader.reading import domain, sample_checks, sample_files, validate

    if path.is_dir():
        record = validate.run(path, path.resolve().name, count_tokens=counter)
        counts = f"{validate.counted(record.n_records, record.n_samples)}, {record.n_tests} tests"
        return path, record.problems, counts, record.n_errors
    problems: list[Any] = []
    samples = sample_files.read_samples(path.parent, [path.name], problems, is_test=path.name.startswith("tests"))
    problems += sample_checks.duplicate_problems(samples)
    measured = domain.measure(samples)
    if measured.flagged:
        problems.append(domain.problem(measured))
    if counter and samples and not path.name.startswith("tests"):
        problems += sample_checks.length_problems(samples, TrainConfig.model_validate({}).max_length, counter)[0]
    errors = sum(1 + p.repeats for p in problems if p.severity == "error")
    unique = sample_checks.unique_count(samples)
    shown = f"{len(samples)} usable records" + (f", {unique} unique samples" if unique != len(samples) else "")
    return path.parent, problems, shown, errors


def _print_problems(problems: list[Any], base: Path, fmt: str) -> None:
    for p in problems:
        shown = os.path.join(str(base), p.file) if str(base) not in (".", "") else p.file
        if fmt == "github":
            level = {"error": "error", "warning": "warning", "info": "notice"}[p.severity]
            where = f"file={_escape_property(shown)}" + (f",line={p.line}" if p.line else "")
            where += f",col={p.column}" if p.column else ""
            text = f"{p.message} ({p.hint})" if p.hint else p.message
            print(f"::{level} {where}::{_escape_annotation(text)}")
        else:
            out.print(
                f"{_escape(shown)}{p.location()[len(p.file) :]}: [{_color(p.severity)}]{p.severity}[/]: "
                f"{_escape(p.message)}" + (f" [dim]({_escape(p.hint)})[/]" if p.hint else ""),
                highlight=False,
                markup=True,
                soft_wrap=True,
            )


def _color(severity: str) -> str:
    return {"error": "red", "warning": "yellow", "info": "blue"}[severity]


def _escape_annotation(text: str) -> str:
    """GitHub workflow commands need %, CR and LF escaped in the message: no student text can start a command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A workflow command's property value (file=...) also needs ':' and ',' escaped."""
    return _escape_annotation(text).replace(":", "%3A").replace(",", "%2C")


def _part_a_help() -> str:
    from grader.config import TrainConfig

    fields = TrainConfig.model_fields
    return "Parameters, by the course's names (override the group's config): " + "; ".join(
        f"--{name} ({fields[name].default!r}): {fields[name].description}" for name in fields
    )


@app.command(
    "train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog=_part_a_help(),
)
def train_cmd(
    ctx: typer.Context,
    group_dir: Annotated[Path, typer.Argument(help="The group folder (its data, tests and config).")] = Path("."),
    out_dir: OutOpt = DEFAULTS.out,
    base_model: BaseModelOpt = DEFAULTS.base_model,
    device: DeviceOpt = DEFAULTS.device,
    quantize: GroupQuantizeOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """The course's train_lora.py done right: LoRA/QLoRA on the group's data with its Part A parameters."""
    from grader.llm import course

    record = course.train_group(
        group_dir,
        out=out_dir,
        base_model=base_model,
        device=device,
        quantize=quantize,
        threads=threads,
        overrides=course.parse_flags(ctx.args),
    )
    ppl = "n/a" if record.perplexity is None else f"{record.perplexity:.2f}"
    out.print(
        f"adapter: {out_dir / record.group / 'adapter'}\nsteps {record.steps}, final train loss "
        f"{record.train_loss:.4f}, perplexity {ppl} ({record.device}, {record.dtype})",
        highlight=False,
        soft_wrap=True,
    )
    for note in record.notes:
        out.print(f"  - {note}", highlight=False, soft_wrap=True)
    out.print(
        "values used: " + ", ".join(f"{k}={v}" for k, v in dict(record.config or {}).items()),
        highlight=False,
        soft_wrap=True,
    )


@app.command("ask")
def ask_cmd(
    group_dir: Annotated[Path, typer.Argument(help="The group folder.")] = Path("."),
    question: Annotated[str | None, typer.Option(help="One question instead of the group's tests.jsonl.")] = None,
    context: Annotated[str, typer.Option(help="Context for --question.")] = "",
    which: Annotated[str, typer.Option("--model", help="base, finetuned or both.")] = "both",
    out_dir: Annotated[Path, typer.Option("--out", help="Where `grader train` wrote the adapter.")] = DEFAULTS.out,
    base_model: BaseModelOpt = DEFAULTS.base_model,
    device: DeviceOpt = DEFAULTS.device,
    max_new_tokens: MaxNewTokensOpt = None,
    quantize: GroupQuantizeOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """The course's inference_lora.py: greedy answers from the base and/or fine-tuned model."""
    from grader.llm import course

    if which not in ("base", "finetuned", "both"):
        raise GraderError(f"--model must be base, finetuned or both, not '{which}'")
    rows, used = course.ask_group(
        group_dir,
        out=out_dir,
        base_model=base_model,
        device=device,
        which=which,
        question=question,
        context=context,
        max_new_tokens=max_new_tokens,
        quantize=quantize,
        threads=threads,
    )
    out.print("values used: " + ", ".join(f"{k}={v}" for k, v in used.items()), highlight=False, soft_wrap=True)
    for n, row in enumerate(rows, 1):
        out.print(f"[bold]Q{n}. {_escape(row['instruction'])}[/]", soft_wrap=True, highlight=False)
        for key in ("expected", "base", "finetuned"):
            if row.get(key):
                out.print(f"  {key}: {_escape(row[key])}", soft_wrap=True, highlight=False)


def _escape(text: str) -> str:
    """Student text made safe for the terminal: no control characters (an ESC would recolour or move the cursor),
    no rich markup ("[/]" would end our own styling)."""
    import re

    from rich.markup import escape

    return escape(re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", "", text))


@app.command("review")
def review_cmd(
    reports: Annotated[Path, typer.Argument(help="The output folder of `grader grade`.")] = DEFAULTS.out,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (default: a free one).")] = 0,
    rubric: Annotated[
        Path | None, typer.Option(help="The rubric the class was graded with (default: the course's).")
    ] = None,
) -> None:
    """Check and correct the grades in a browser: the dashboard and every group's evidence on 127.0.0.1, Part A cells
    and item points corrected in a click, saved in REPORTS for every later run (see README)."""
    from grader.review import server

    def announce(url: str) -> None:
        out.print(f"review {_escape(str(reports))} at {url}\n(Ctrl-C stops it)", highlight=False, soft_wrap=True)

    server.serve(reports, rubric=rubric, port=port, announce=announce)


@app.command("version")
def version_cmd() -> None:
    """Print the grader's version."""
    print(__version__)


def main() -> None:
    """Entry point: GraderError -> message and exit 2; Ctrl-C -> 130; anything else is a bug and shows a traceback."""
    import warnings

    # peft still reads an attribute transformers 5 deprecates; harmless, and noise in every group's CI log
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    try:
        # Without standalone mode click returns a typer.Exit's code instead of exiting: pass it on.
        code = app(standalone_mode=False)
    except GraderError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)
