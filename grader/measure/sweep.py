"""sweep: "which parameters seemed most critical?" answered by experiment, on the group's own data and config.

Each variant changes one parameter (or, with --grid, every combination) around the group's configuration, trains
with everything else as the group set it, and is measured on the held-out eval loss and the group's test questions
(ROUGE-L, exact match; the class-wide set when given). The group's value is always one of the points, and the
variant equal to the group's configuration is the group's graded run. Every point is cached by a content hash in
`<group>/sweep/<key>/point.json`: a re-run trains nothing already trained, a killed sweep resumes. A difference
smaller than the spread between seeds is called noise.
"""

from __future__ import annotations

import difflib
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Any

from grader.config import PART_A, TrainConfig, answer_tokens, valid_range, valid_values
from grader.errors import ConfigError
from grader.layout import Layout
from grader.limits import DEFAULT_TIMEOUT
from grader.measure.sweep_stats import Plan, effects, ranking, show, with_own
from grader.records import GenerationRecord, ScoreRecord, SweepPoint, SweepRecord, TrainRecord
from grader.running.executors import Executor
from grader.storage import digest, load, save

SWEEPABLE = tuple(name for name in PART_A if name not in ("bf16", "fp16"))  # the precision is the device's choice
CONFIRM_SECONDS = 15 * 60  # above this estimate a sweep needs --yes
MAX_RUNS = 200
GRADED_RUN = "the group's graded run"  # a point's source when it is the group's own graded run, reused


@dataclass(frozen=True)
class Variant:
    params: dict[str, Any]  # the values it changes (empty: the group's own configuration)
    seed: int


def parse_vary(items: list[str]) -> dict[str, list[Any]]:
    """`name=v1,v2,...` items -> {name: typed values}; a typo or an invalid value is refused before anything runs."""
    import yaml

    vary: dict[str, list[Any]] = {}
    for item in items:
        name, sep, listed = item.partition("=")
        name = name.strip()
        if not sep or not listed.strip():
            raise ConfigError(f"--vary takes NAME=V1,V2 (e.g. learning_rate=1e-4,2e-4), not '{item}'")
        if name not in SWEEPABLE:
            near = difflib.get_close_matches(name, SWEEPABLE, n=1, cutoff=0.5)
            hint = f"did you mean '{near[0]}'?" if near else f"one of {', '.join(SWEEPABLE)}"
            raise ConfigError(f"--vary {item}: no parameter '{name}' can be varied; {hint}")
        values = []
        for raw in (v.strip() for v in listed.split(",") if v.strip()):
            parsed = yaml.safe_load(raw)
            problems: list[Any] = []
            if not valid_values({name: parsed}, problems):
                said = problems[0].message if problems else "not a valid value"
                raise ConfigError(f"--vary {name}={raw}: {said}; valid: {valid_range(name)}")
            typed = getattr(TrainConfig.model_validate({name: parsed}), name)
            if typed not in values:
                values.append(typed)
        vary[name] = values
    if not vary:
        raise ConfigError("nothing to sweep: give at least one --vary NAME=V1,V2")
    return vary


def load_plan(path: Path) -> Plan:
    """A sweep plan file (TOML or YAML) for `grader grade --sweep`: vary = {name = [values]}, seeds, grid."""
    import tomllib

    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else tomllib.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"--sweep {path}: cannot be read ({exc})") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("vary"), dict):
        raise ConfigError(f"--sweep {path}: needs a 'vary' table of parameter = [values]")
    items = [
        f"{k}={','.join(str(v).lower() if isinstance(v, bool) else str(v) for v in vs)}"
        for k, vs in raw["vary"].items()
        if isinstance(vs, list)
    ]
    return Plan(parse_vary(items), grid=bool(raw.get("grid", False)), seeds=_seeds(raw.get("seeds", 1)))


def _seeds(value: Any) -> int:
    if not isinstance(value, int) or not 1 <= value <= 10:
        raise ConfigError(f"seeds must be a whole number from 1 to 10, not {value!r}")
    return value


def variants(config: TrainConfig, plan: Plan) -> list[Variant]:
    """One parameter at a time around the group's configuration (or the full grid), the group's value always one
    of the points, each with `plan.seeds` seeds from the group's own."""
    axes = {name: with_own(values, getattr(config, name)) for name, values in plan.vary.items()}
    if plan.grid:
        changes = [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
    else:
        changes = [{}] + [{name: v} for name, values in axes.items() for v in values if v != getattr(config, name)]
    own = config.model_dump()
    changes = [{k: v for k, v in change.items() if own[k] != v} for change in changes]
    unique = list({tuple(sorted(c.items())): c for c in changes}.values())
    runs = [Variant(change, config.seed + s) for change in unique for s in range(plan.seeds)]
    if len(runs) > MAX_RUNS:
        raise ConfigError(f"the sweep would train {len(runs)} models, over the limit of {MAX_RUNS}: vary fewer values")
    return runs


def configured(config: TrainConfig, variant: Variant) -> TrainConfig:
    """The group's configuration with the variant's values; refused when the combination is invalid."""
    try:
        return TrainConfig.model_validate({**config.model_dump(), **variant.params, "seed": variant.seed})
    except ValueError as exc:
        raise ConfigError(f"the variant {variant.params} is not a valid configuration: {exc}") from exc


def key(train_key: str, variant: Variant, max_new_tokens: int, class_tests: str) -> str:
    held_out = "the group's seed"  # every point measured on the group's held-out slice (see measure)
    return digest(
        "sweep", train_key, sorted(variant.params.items()), variant.seed, max_new_tokens, class_tests, held_out
    )


def point_path(layout: Layout, group: str, point_key: str) -> Path:
    return layout.sweep_point(group, point_key)


def cached(layout: Layout, group: str, point_key: str) -> SweepPoint | None:
    point = load(SweepPoint, point_path(layout, group, point_key))
    if point is None or point.status != "ok" or point.digest != point_key:
        return None
    return point.model_copy(update={"source": "trained in an earlier sweep"})


def graded_point(
    layout: Layout,
    group: str,
    keys: tuple[str, str],
    config: TrainConfig,
    vary: dict[str, list[Any]],
    class_tests: list[Any],
) -> SweepPoint | None:
    """The group's graded run as the sweep's point for its own configuration, when it trained with this very
    configuration, data and base model (its records' digests match) and, with class tests, answered these."""
    from grader.measure import score

    train_key, gen_key = keys
    tr = load(TrainRecord, layout.record(group, "train"))
    gen = load(GenerationRecord, layout.record(group, "generate"))
    sc = load(ScoreRecord, layout.record(group, "score"))
    if tr is None or tr.status != "ok" or tr.source != "trained" or tr.digest != train_key:
        return None
    if gen is None or gen.digest != gen_key or sc is None or not sc.finetuned_mean:
        return None
    class_rouge = None
    if class_tests:
        from grader.running.pipeline import class_answers_key

        asked = load(GenerationRecord, layout.record(group, "generate_class"))
        if asked is None or asked.digest != class_answers_key(gen_key, class_tests):
            return None
        class_rouge = score.run(asked).finetuned_mean.get("rougeL")
    return SweepPoint(
        group=group,
        params={name: getattr(config, name) for name in vary},
        seed=config.seed,
        eval_loss=tr.eval_loss,
        rouge_l=sc.finetuned_mean.get("rougeL"),
        exact_match=sc.finetuned_mean.get("exact_match"),
        class_rouge_l=class_rouge,
        metrics=dict(sc.finetuned_mean),
        train_seconds=tr.seconds,
        seconds=tr.seconds + gen.seconds,
        source=GRADED_RUN,
    )


def measure(
    work: Any,
    batch: Any,
    variant: Variant,
    point_key: str,
    vary: dict[str, list[Any]],
    trained: TrainRecord | None = None,
    answered: dict[bool, GenerationRecord] | None = None,
) -> SweepPoint:
    """Train the variant on the group's data (unless the class engine `trained` it already), answer the group's
    (and the class's) test questions (unless the class engine `answered` them: by "class tests?"), score them."""
    from grader.llm import generate, train
    from grader.measure import score
    from grader.reading import sample_files

    started = time.monotonic()
    layout, name = batch.layout, work.name
    config = configured(work.config, variant)
    folder = Layout(layout.sweep_dir(name))  # the variant's adapter, logs and records, by its key
    samples = sample_files.load_samples(layout.samples(name))
    # the held-out slice of the group's own seed for every point: seeds then vary the training, not the test
    tr = trained or train.run(point_key, samples, config, batch.runtime(), folder, held_out_seed=work.config.seed)
    max_new = answer_tokens(config, batch.settings.max_new_tokens)
    rouge_l = exact = class_rouge = None
    measured: dict[str, float] = {}
    tests = sample_files.load_samples(layout.tests(name))
    for questions, is_class in ((tests, False), (batch.class_tests, True)):
        if not questions:
            continue
        gen = (answered or {}).get(is_class) or generate.run(
            point_key,
            questions,
            batch.runtime(),
            folder,
            adapter_dir=folder.adapter(point_key),
            max_new_tokens=max_new,
            prompt_format=config.prompt_format,
            cache=batch.base_cache(),
        )
        means = score.run(gen).finetuned_mean
        if is_class:
            class_rouge = means.get("rougeL")
        else:
            rouge_l, exact = means.get("rougeL"), means.get("exact_match")
            measured = dict(means)
    point = SweepPoint(
        group=name,
        digest=point_key,
        params={p: getattr(config, p) for p in vary},
        seed=variant.seed,
        eval_loss=tr.eval_loss,
        rouge_l=rouge_l,
        exact_match=exact,
        class_rouge_l=class_rouge,
        metrics=measured,
        train_seconds=tr.seconds,
        # what this point cost: its own work here plus its share done in the shared runs, which the estimate of
        # the next sweep (and its --yes check) reads
        seconds=round(time.monotonic() - started + shared_seconds(trained, answered), 2),
    )
    save(point, point_path(layout, name, point_key))
    return point


def shared_seconds(trained: TrainRecord | None, answered: dict[bool, GenerationRecord] | None) -> float:
    """The seconds a point's training and answers took in the class engine's shared runs (0 for work done here)."""
    return (trained.seconds if trained else 0.0) + sum(g.seconds for g in (answered or {}).values())


# ---- running a sweep: one group (`grader sweep`) or every graded group of a class (`grader grade --sweep`) ------


@dataclass
class Job:
    """One group's sweep: its validated work, its variants and the point (cached or not) of each."""

    work: Any
    runs: list[Variant]
    keys: list[str]
    points: dict[str, SweepPoint]  # key -> point already measured (cached or the graded run)

    @property
    def pending(self) -> list[tuple[Variant, str]]:
        return [(v, k) for v, k in zip(self.runs, self.keys, strict=True) if k not in self.points]


def prepare(batch: Any, groups: list[Any], plan: Plan, shard: bool = False) -> list[Job]:
    """Validate each group again (cheap, cached records) and list its variants and what is already measured.
    `shard`: in one of the run's shard processes, which share the group's folder (pipeline.start's `tidy`)."""
    from grader.running import pipeline

    jobs = []
    class_digest = digest([t.model_dump() for t in batch.class_tests]) if batch.class_tests else ""
    for group in groups:
        work = pipeline.start(group, batch, lambda group, stage: None, tidy=not shard)
        if work.outcome.status != "graded" or work.config is None or work.recorded is not None:
            continue
        if work.validation is None or work.validation.n_samples == 0:
            continue
        runs = variants(work.config, plan)
        max_new = answer_tokens(work.config, batch.settings.max_new_tokens)
        keys = [key(work.train_key, v, max_new, class_digest) for v in runs]
        keys_of_run = (work.train_key, work.gen_key)
        graded = graded_point(batch.layout, work.name, keys_of_run, work.config, plan.vary, batch.class_tests)
        points = {}
        for variant, k in zip(runs, keys, strict=True):
            own = not variant.params and variant.seed == work.config.seed  # the group's graded run
            point = graded.model_copy(update={"digest": k}) if own and graded else cached(batch.layout, work.name, k)
            if point is not None:
                points[k] = point
        jobs.append(Job(work, runs, keys, points))
    return jobs


def estimate(jobs: list[Job]) -> tuple[float | None, str]:
    """Seconds per run measured on this machine: the groups' graded runs (train + answers), else earlier points."""
    measured = [p.seconds for job in jobs for p in job.points.values() if p.seconds > 0]
    if not measured:
        return None, "no run of these groups measured here yet"
    graded = [p.seconds for job in jobs for p in job.points.values() if p.source == GRADED_RUN]
    per_run = fmean(graded or measured)
    source = "the graded run" if graded else "earlier sweep points"
    return per_run, f"{per_run:.1f} s per run, measured ({source}) on this machine"


def describe(jobs: list[Job], plan: Plan) -> list[str]:
    """What the sweep will run, in lines: per group, per variant, whether it is measured already."""
    lines = []
    mode = "full grid" if plan.grid else "one parameter at a time"
    for job in jobs:
        lines.append(f"{job.work.name}: {len(job.runs)} runs ({mode}, {plan.seeds} seed(s) each)")
        for variant, k in zip(job.runs, job.keys, strict=True):
            changed = _label(variant) or "the group's own config"
            state = job.points[k].source if k in job.points else "to train"
            lines.append(f"  {changed} · seed {variant.seed} · {state}")
    return lines


def _label(variant: Variant) -> str:
    return ", ".join(f"{name}={show(value)}" for name, value in variant.params.items())


def confirm(jobs: list[Job], yes: bool) -> str:
    """The cost line; refuses (ConfigError) above CONFIRM_SECONDS, or unmeasured, without --yes."""
    pending = sum(len(job.pending) for job in jobs)
    per_run, how = estimate(jobs)
    if pending == 0:
        return "nothing to train: every point is measured already"
    if per_run is None:
        line = f"{pending} run(s) to train; {how}, so the cost is unknown"
        if not yes:
            raise ConfigError(f"{line}: add --yes to start")
        return line
    total = pending * per_run
    line = f"estimate: {pending} run(s) x {how} = {total / 60:.1f} min"
    if total > CONFIRM_SECONDS and not yes:
        raise ConfigError(f"{line}, over {CONFIRM_SECONDS // 60} min: add --yes to start")
    return line


def measure_pending(batch: Any, jobs: list[Job], plan: Plan, say: Any) -> None:
    """Train and measure every pending variant in this process, the base model loaded once for all of them;
    with the class engine (the default) all of them are co-trained first and answered together (mixed-adapter
    batches), then scored one by one."""
    trained = _cotrain(batch, jobs, say) if batch.settings.engine == "class" else {}
    answered = answer_together(batch, jobs, set(trained), say)
    for job in jobs:
        pending = job.pending
        for n, (variant, k) in enumerate(pending, start=1):
            changed = _label(variant) or "own config"
            say(f"{job.work.name}: {changed}, seed {variant.seed} ({n}/{len(pending)})")
            at = (job.work.name, k)
            failed = _bounded(job, batch, variant, k, plan, trained.get(at), answered.get(at))
            if failed:
                say(f"{job.work.name}: {changed}, seed {variant.seed}: {failed}; the sweep goes on")


def _cotrain(batch: Any, jobs: list[Job], say: Any) -> dict[tuple[str, str], TrainRecord]:
    """Every pending point's adapter co-trained on one base model (each point into its own sweep folder, on the
    group's held-out slice): {(group, point): record}. A point the class engine cannot take, or one that failed
    there, trains alone; so does a point whose key is already in the run (two byte-identical groups give the same
    key, and the shared run knows a point by its key)."""
    from grader.llm import cotrain
    from grader.reading import sample_files

    points = []
    owner: dict[str, str] = {}  # point key -> the group it is co-trained for
    for job in jobs:
        samples = sample_files.load_samples(batch.layout.samples(job.work.name))
        folder = Layout(batch.layout.sweep_dir(job.work.name))
        for variant, k in job.pending:
            config = configured(job.work.config, variant)
            if cotrain.unsupported(config) is None and k not in owner:
                owner[k] = job.work.name
                points.append(cotrain.Job(k, samples, config, held_out_seed=job.work.config.seed, layout=folder))
    if len(points) < 2:
        return {}
    say(f"co-training {len(points)} sweep point(s) on one base model (class engine)")
    try:
        results = cotrain.run(points, batch.runtime(), batch.layout)
    except Exception as exc:
        if batch.settings.fail_fast:
            raise
        say(f"co-training stopped ({type(exc).__name__}: {exc}); the points train one by one")
        batch.check_base("the sweep's co-training")
        return {}
    return {(owner[k], k): r for k, r in results.items() if isinstance(r, TrainRecord)}


def answer_together(
    batch: Any, jobs: list[Job], trained: set[tuple[str, str]], say: Any
) -> dict[tuple[str, str], dict[bool, GenerationRecord]]:
    """The test answers of every co-trained point (its group's questions, and the class's) in shared
    mixed-adapter batches, as the class engine answers a class: {(group, point): {class tests?: record}}. Greedy,
    so each is what `measure` gets for the point alone; when the shared run breaks, each point answers alone.
    Bounded by --timeout per point, as the points answered alone are."""
    from grader import limits
    from grader.llm import mixgen
    from grader.reading import sample_files

    asked: dict[str, tuple[tuple[str, str], bool]] = {}  # mixgen's job name -> ((group, point), class tests?)
    points: list[mixgen.Job] = []
    for job in jobs:
        tests = sample_files.load_samples(batch.layout.tests(job.work.name))
        folder = Layout(batch.layout.sweep_dir(job.work.name))
        for variant, k in job.pending:
            if (job.work.name, k) not in trained:
                continue
            config = configured(job.work.config, variant)
            max_new = answer_tokens(config, batch.settings.max_new_tokens)
            for questions, is_class in ((tests, False), (batch.class_tests, True)):
                if questions:
                    asked[f"{k} {is_class}"] = ((job.work.name, k), is_class)
                    points.append(
                        mixgen.Job(f"{k} {is_class}", questions, folder.adapter(k), max_new, config.prompt_format)
                    )
    if len(points) < 2:
        return {}
    n_points = len({at for at, _ in asked.values()})
    say(f"answering {n_points} sweep point(s) in shared mixed-adapter batches")
    try:
        with limits.deadline(None if batch.settings.timeout is None else batch.settings.timeout * n_points):
            records = mixgen.run(points, batch.runtime(), batch.base_cache())
    except limits.GroupTimeout:
        say(f"mixed-adapter answers ran past --timeout x {n_points} points; the points answer one by one")
        batch.check_base("the sweep's mixed-adapter answers")
        return {}
    except Exception as exc:
        if batch.settings.fail_fast:
            raise
        say(f"mixed-adapter answers stopped ({type(exc).__name__}: {exc}); the points answer one by one")
        batch.check_base("the sweep's mixed-adapter answers")
        return {}
    answered: dict[tuple[str, str], dict[bool, GenerationRecord]] = {}
    for name, record in records.items():
        at, is_class = asked[name]
        answered.setdefault(at, {})[is_class] = record.model_copy(update={"group": at[1]})
    return answered


def _bounded(
    job: Job,
    batch: Any,
    variant: Variant,
    k: str,
    plan: Plan,
    trained: TrainRecord | None = None,
    answered: dict[bool, GenerationRecord] | None = None,
) -> str:
    """One point within --timeout; what went wrong, in words ("" when it was measured). A point that fails is
    left out of the plots and said in sweep.json; running the sweep again retries it."""
    from grader import limits

    try:
        with limits.deadline(batch.settings.timeout):
            job.points[k] = measure(job.work, batch, variant, k, plan.vary, trained, answered)
    except limits.GroupTimeout:
        return f"did not finish within --timeout {batch.settings.timeout:g} s"
    except Exception as exc:
        if batch.settings.fail_fast:
            raise
        return f"failed: {type(exc).__name__}: {str(exc).strip()[:200]}"
    return ""


def _batch(submissions: Path, settings: Any, single: bool) -> tuple[Any, list[Any]]:
    """The batch (class tests loaded) and the groups, as the coordinator and every shard both see them: a point's
    key depends on both, so a shard that saw less would key its points where nobody looks."""
    from grader.measure.grade import load_rubric
    from grader.reading import discover, sample_files
    from grader.running.batch import Batch

    layout = Layout(settings.out)
    groups = [discover.one(submissions)] if single else discover.run(submissions)
    layout.assign([g.group for g in groups])
    batch = Batch(settings=settings, layout=layout, rubric=load_rubric(None))
    if settings.class_tests is not None:
        batch.class_tests = sample_files.load_class_tests(settings.class_tests)
    return batch, groups


def sweep_shard(
    submissions: Path, settings: Any, plan: Plan, share: list[tuple[str, int]], single: bool
) -> dict[str, int]:
    """What one sweep shard runs: its share of (group, variant index) in one process; points land in the cache."""
    batch, groups = _batch(submissions, settings, single)
    wanted = {name for name, _ in share}
    mine = [g for g in groups if g.group in wanted]
    jobs = {job.work.name: job for job in prepare(batch, mine, plan, shard=True)}
    done, failed = 0, 0
    for name, index in share:
        job = jobs[name]
        variant, k = job.runs[index], job.keys[index]
        if k not in job.points:
            problem = _bounded(job, batch, variant, k, plan)
            done, failed = done + (not problem), failed + bool(problem)
    return {"trained": done, "failed": failed}


def record(job: Job, plan: Plan, batch: Any) -> SweepRecord:
    """sweep.json for one group, with the effect of each parameter and the ranking."""
    points = [job.points[k] for k in job.keys if k in job.points]
    found = effects(points, job.work.config, plan)
    missing = len(job.keys) - len(points)
    return SweepRecord(
        group=job.work.name,
        status="ok" if not missing else "failed",
        message="" if not missing else f"{missing} variant(s) not measured: run the sweep again to finish them",
        base_model=batch.base_model_name(),
        device=batch.settings.device,
        grid=plan.grid,
        seeds=plan.seeds,
        vary={name: list(values) for name, values in plan.vary.items()},
        group_config={name: getattr(job.work.config, name) for name in plan.vary},
        points=points,
        effects=found,
        ranking=ranking(found),
    )


def write(job: Job, plan: Plan, batch: Any) -> SweepRecord:
    """sweep.json and one plot per varied parameter, beside the group's report."""
    from grader.outputs import plots

    result = record(job, plan, batch)
    layout, name = batch.layout, job.work.name
    for effect in result.effects:
        plots.sweep_plot(effect, layout.plot(name, f"sweep-{effect.parameter}"))
    save(result, layout.record(name, "sweep"))
    return result


def run(
    submissions: Path,
    settings: Any,
    plan: Plan,
    *,
    single: bool,
    yes: bool,
    say: Any,
    executor: Executor | None = None,
) -> list[SweepRecord]:
    """Sweep the group (`single`) or every graded group of the class; returns each group's sweep.json record.
    The groups must have been graded (their run is the sweep's own point); the caller re-renders them after."""
    from grader.storage import exclusive

    batch, groups = _batch(submissions, settings, single)
    groups = [g for g in groups if not settings.only or g.group in settings.only]
    with exclusive(batch.layout.out):
        jobs = prepare(batch, groups, plan)
        if not jobs:
            raise ConfigError("nothing to sweep: no graded group with training data (see its report for why)")
        for line in describe(jobs, plan):
            say(line)
        say(confirm(jobs, yes))
        if executor is None:
            measure_pending(batch, jobs, plan, say)
        elif any(job.pending for job in jobs):
            _on_executor(submissions, settings, plan, jobs, single, executor, say)
            jobs = prepare(batch, groups, plan)  # what the shards measured, from the cache
        return [write(job, plan, batch) for job in jobs]


def _on_executor(
    submissions: Path,
    settings: Any,
    plan: Plan,
    jobs: list[Job],
    single: bool,
    executor: Executor,
    say: Any,
) -> None:
    """The pending variants spread over the executor's shards (local or Slurm), as `grader grade` spreads groups."""
    import uuid

    shards = executor.shards
    todo = [(job.work.name, job.keys.index(k)) for job in jobs for _, k in job.pending]
    shares = [share for share in (todo[k::shards] for k in range(shards)) if share]
    run_id = uuid.uuid4().hex[:12]
    folder = Layout(settings.out).sweep_logs(run_id)
    per_run = math.ceil((settings.timeout or DEFAULT_TIMEOUT) / 60)
    minutes = per_run * max(len(s) for s in shares) + 10
    calls = [(submissions, plan, share, single) for share in shares]
    submitted = executor.submit(sweep_shard, calls, settings, run_id=run_id, folder=folder, minutes=minutes)
    say(f"{len(todo)} run(s) on {len(submitted)} {executor.name} shard(s); logs in {folder}")
    for k, job in enumerate(submitted):
        try:
            job.result()
        except Exception as exc:  # a dead shard: its variants stay unmeasured; a re-run does only those
            say(f"shard {k} stopped ({type(exc).__name__}): run the sweep again to finish its variants")
