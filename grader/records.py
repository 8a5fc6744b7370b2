"""records: the schemas stages exchange: small, frozen, versioned, written atomically as JSON beside a group's
artifacts (by grader.storage).

Any stage can be re-run from the previous stage's record: re-score without re-training, re-render without
re-scoring. A stage is skipped when its stored record is ok and its `digest` (inputs + config) still matches.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WrapSerializer, field_serializer, field_validator

from grader.config import TrainConfig

SCHEMA = 1
Status = Literal["ok", "failed", "skipped"]
GroupStatus = Literal["graded", "invalid", "over-limit", "missing", "not-submitted", "error", "timeout"]
Severity = Literal["error", "warning", "info"]


# The group's configuration as the stages read it, typed; None (no usable config) is written `{}`, as records
# always wrote it, so a record on disk reads back the same, and a stored config of another shape is refused
# (extra="forbid": the stage re-runs) rather than misread.
Configured = Annotated[
    TrainConfig | None,
    BeforeValidator(lambda value: None if value == {} else value),
    WrapSerializer(lambda config, dump: {} if config is None else dump(config)),
]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA
    group: str
    status: Status = "ok"
    message: str = ""
    digest: str = ""
    seconds: float = 0.0


class Problem(BaseModel):
    """One validation finding, printed as `file:line:col: severity: message (hint)`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    line: int | None = None
    column: int | None = None
    severity: Severity = "error"
    code: str
    message: str
    hint: str = ""
    repeats: int = 0  # more problems like this one in the same file, folded into it ("and N more like it")

    @field_validator("message", "hint", "file")
    @classmethod
    def _bounded(cls, text: str) -> str:
        """Every message is bounded (a YAML bomb's error is 72 MB) and valid UTF-8 (no lone surrogates)."""
        text = text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text
        return text if len(text) <= 500 else text[:497] + "..."

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def __str__(self) -> str:
        text = f"{self.location()}: {self.severity}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


def file_line(source: str) -> tuple[str, int | None]:
    """'W5_materials/LoRA_fine_Tuning.py:23' -> (file, 23); a place without a line ('adapter_config.json',
    'report.pptx, slide 7') -> (itself, None)."""
    file, sep, line = source.rpartition(":")
    return (file, int(line)) if sep and line.isdigit() else (source, None)


class Sample(BaseModel):
    """One training sample or test question, normalized (missing `system` filled, fields stripped of BOM)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str
    instruction: str
    context: str
    answer: str
    source: str = ""  # file:line it came from
    reported: str = ""  # a test question's answer as the group's own model gave it in the deliverable (not measured)
    reported_base: str = ""  # the base model's answer as the group showed it (its own comparison; not measured)


class Parts(BaseModel):
    """Where each part of a group's work was found, relative to the group folder (any depth)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: list[str] = Field(default_factory=list)  # .jsonl / .json files that may hold samples
    tests: list[str] = Field(default_factory=list)
    configs: list[str] = Field(default_factory=list)  # grader.toml, config.yaml, train_config.json
    scripts: list[str] = Field(default_factory=list)  # the course's training script, as edited by the group
    logs: list[str] = Field(default_factory=list)  # trainer_state.json, *_results.json, loss_log.csv, tfevents
    adapters: list[str] = Field(default_factory=list)  # folders holding adapter_config.json
    deliverables: list[str] = Field(default_factory=list)  # .pptx, .pdf, .docx, .md, .ipynb
    refused: list[str] = Field(default_factory=list)  # links, FIFOs and devices: named, never read
    notes: list[str] = Field(default_factory=list)  # caps that were hit while looking


BlockKind = Literal["title", "text", "table", "notes", "output", "code"]  # code: monospace or fenced, never prose


class DocBlock(BaseModel):
    """One unit of a group's own document: a paragraph, a list item, a title, a table row, a slide's notes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    where: str  # 'slide 7', 'page 3', 'cell 4', 'line 12', 'paragraph 9'
    kind: BlockKind = "text"


class DocTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    where: str
    rows: list[list[str]]


class Document(BaseModel):
    """A group's report or slides as text with its structure (what the deliverable reader yields)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    format: str
    pages: int = 0  # slides or pages (0 where the format has none)
    blocks: list[DocBlock] = Field(default_factory=list)
    tables: list[DocTable] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list)  # where each image is
    notes: list[str] = Field(default_factory=list)


QUESTIONS = ("what", "effect", "range", "why")  # the assignment's four questions per Part A parameter


class ParamAnswer(BaseModel):
    """How the group's own deliverable answers Part A for one parameter, and where."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    where: str = ""  # 'Week5_Group3_report.pptx, slide 2'
    excerpt: str = ""
    answered: dict[str, bool] = Field(default_factory=dict)
    evidence: dict[str, str] = Field(default_factory=dict)  # question -> the words that decided it
    unsure: str = ""  # why the reading may be wrong (no structure, a very short passage, mixed signals): check it

    @property
    def status(self) -> str:
        n = sum(self.answered.values())
        return "missing" if not self.where else "discussed" if n >= 3 else "partly" if n else "named"


class Quote(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    where: str


class StatedLoss(BaseModel):
    """A training loss the group states in its deliverable ("Final train loss: 1.87", "최종 loss 1.87", a table row):
    a claim, shown with the words and the slide or page it came from, never a measurement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train_loss: float | None = None  # the last loss stated (the final one, as the course asks)
    perplexity: float | None = None
    values: list[float] = Field(default_factory=list)  # every loss stated, in reading order (a loss table: several)
    where: str = ""  # 'Week5_Group3_report.pptx, slide 8'
    words: str = ""  # the words that stated it


class Writing(BaseModel):
    """The read-the-deliverable record: what the group wrote and where."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str | None = None
    format: str = ""
    pages: int = 0
    images: str = ""
    others: list[str] = Field(default_factory=list)  # other documents found, not read
    skipped: list[str] = Field(default_factory=list)  # README.md not counted, and why
    part_a: list[ParamAnswer] = Field(default_factory=list)
    reflections: Quote | None = None
    discussion: Quote | None = None
    tests_found: int = 0
    looked_for: str = ""  # what was looked for when nothing was found
    loss: StatedLoss | None = None  # the training loss the deliverable states
    training_shown: str = ""  # where the deliverable shows training (a loss or TensorBoard screenshot): 'slide 8'
    notes: list[str] = Field(default_factory=list)  # how the file was read: pages without a text layer, caps hit
    copied: list[str] = Field(default_factory=list)  # "3 passages copied from the course's lecture.pptx"

    def answer(self, name: str) -> ParamAnswer | None:
        return next((a for a in self.part_a if a.name == name), None)


class GroupRecord(Record):
    """discover: where the group is, what version of it we graded, and where its parts are."""

    path: str
    commit: str | None = None
    commit_time: str | None = None
    roster_only: bool = False
    parts: Parts = Field(default_factory=Parts)

    @field_serializer("path")
    def _path(self, path: str) -> str:
        """A folder name that is not UTF-8 is kept as it is to open it, and written readable (\\xNN) to JSON."""
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class LogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    step: int
    epoch: float | None = None
    loss: float | None = None
    learning_rate: float | None = None
    eval_loss: float | None = None


class ReportedLoss(BaseModel):
    """The loss a group reported in its own files (trainer_state.json, *_results.json, loss_log.csv, TensorBoard)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train_loss: float | None = None
    perplexity: float | None = None
    log: list[LogEntry] = Field(default_factory=list)
    steps: int | None = None  # trainer_state.json's global_step
    logging_steps: int | None = None
    sources: list[str] = Field(default_factory=list)  # which file each number came from


class CommittedAdapter(BaseModel):
    """What the group committed of its adapter, read from the repository (header and config only, no base model):
    the evidence that the group trained and saved one, whatever grader does with it afterwards."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    where: str  # 'week5_lora_v01/'
    weights: Literal["present", "missing", "lfs", "pickle"] = "present"
    usable: bool = False  # a LoRA config and, when weights are present, a consistent safetensors header
    problem: str = ""  # why it is not usable (said in the report and the adapter item's reason)
    config_problem: str = ""  # what is wrong with adapter_config.json itself ('' when it is a sound LoRA config)
    trained: bool | None = None  # some lora_B matrix is non-zero (None: no weights to look at)
    rank: int | None = None
    target_modules: list[str] = Field(default_factory=list)


class ValidationRecord(Record):
    problems: list[Problem] = Field(default_factory=list)
    data_files: list[str] = Field(default_factory=list)
    tests_file: str | None = None
    config_file: str | None = None
    n_samples: int = 0  # unique samples (repeats count once): what the rubric's `samples` item reads
    n_tests: int = 0
    n_records: int = 0  # usable training records read, repeats included
    n_tests_held_out: int | None = None  # test questions not (nearly) in the training data; None: not checked
    tests_in_training: list[str] = Field(default_factory=list)  # where those copied test questions are (tests.jsonl:3)
    copied_questions: list[str] = Field(default_factory=list)  # the same questions, normalized: what answers match
    data_flags: list[str] = Field(default_factory=list)  # for the instructor ('off-domain: ...'); no points taken
    config: Configured = None
    defaults_filled: list[str] = Field(default_factory=list)
    n_truncated: int = 0
    max_sample_tokens: int = 0
    report_md: str | None = None  # relative path of the group's REPORT.md copy, when there is one
    config_sources: dict[str, str] = Field(default_factory=dict)  # Part A key -> 'LoRA_fine_Tuning.py:28', ...
    script: str | None = None  # the course training script the values were read from
    data_note: str = ""  # which data file was used and why, when there was a choice
    missing: list[str] = Field(default_factory=list)  # parts not handed in: they cost their rubric items only
    writing: Writing | None = None  # what the group wrote in its own report or slides, and where
    logs: ReportedLoss | None = None  # the loss in the group's own log files (trainer_state.json, ...)
    adapter: CommittedAdapter | None = None  # the adapter folder the group committed, as found
    n_course_samples: int = 0  # samples copied from the course's example data (--course): not credited

    @property
    def n_errors(self) -> int:
        return sum((1 + p.repeats) for p in self.problems if p.severity == "error")


class TrainRecord(Record):
    source: Literal["trained", "loaded", "logs", "none"] = "none"  # logs: read from committed files (preview)
    adapter_dir: str | None = None
    base_model: str = ""
    device: str = ""
    dtype: str = ""
    quantization: str = "none"
    config: Configured = None
    log: list[LogEntry] = Field(default_factory=list)
    train_loss: float | None = None
    perplexity: float | None = None
    eval_loss: float | None = None
    eval_perplexity: float | None = None
    n_train: int = 0
    n_eval: int = 0
    steps: int = 0
    loss_includes_prompt: bool = False
    adapter_changed: bool | None = None
    notes: list[str] = Field(default_factory=list)
    reported: ReportedLoss | None = None  # the group's own logs, beside what this run measured


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instruction: str
    context: str
    expected: str
    base: str
    finetuned: str
    reported: str = ""  # the group's own model's answer, as shown in its deliverable: reported, not measured
    reported_base: str = ""  # the base model's answer as the group showed it: reported, not measured
    source: str = ""  # where the question came from (tests.jsonl:3, 'report.pptx, slide 7')


class GenerationRecord(Record):
    answers: list[Answer] = Field(default_factory=list)
    source: Literal["generated", "recorded"] = "generated"  # recorded: the group's answers.jsonl (preview)
    notes: list[str] = Field(default_factory=list)
    max_new_tokens: int = 0
    prompt_format: str = "plain"
    base_cache_hits: int = 0


class QuestionScore(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base: dict[str, float]
    finetuned: dict[str, float]
    delta: dict[str, float]
    reported: dict[str, float] = Field(default_factory=dict)  # the group's own reported answer, when it showed one
    reported_base: dict[str, float] = Field(default_factory=dict)  # the base answer the group showed, likewise


class ScoreRecord(Record):
    questions: list[QuestionScore] = Field(default_factory=list)
    base_mean: dict[str, float] = Field(default_factory=dict)
    finetuned_mean: dict[str, float] = Field(default_factory=dict)
    delta_mean: dict[str, float] = Field(default_factory=dict)


class GradeItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    points: float
    max_points: float
    reason: str
    automatic: float | None = None  # the rubric's points, kept when a manual override replaced them
    evidence: str = ""  # what decided the points: 'the group's logs', 'the deliverable, slide 8', 'none', ...
    pending: bool = False  # only the instructor's run on the real base model can measure this item


class Adjustment(BaseModel):
    """A penalty (points < 0) or bonus (points > 0) the instructor gave a group, outside the rubric's items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["late", "plagiarism", "manual", "bonus"]
    points: float
    reason: str
    where: str = ""  # the line of adjustments.csv it came from
    beyond_limits: bool = False  # the instructor allows this one to take the total below 0 or above the maximum

    def shown(self) -> str:
        return f"{self.kind} {self.points:+g}: {self.reason}"


class GradeRecord(Record):
    items: list[GradeItem] = Field(default_factory=list)
    total: float = 0.0
    adjustments: list[Adjustment] = Field(default_factory=list)  # applied after the items (grader.measure.adjust)
    items_total: float | None = None  # the items' sum before the adjustments, when there are any
    limited: str = ""  # said when the adjusted total was held at 0 or at the maximum
    max_total: float = 0.0
    flags: list[str] = Field(default_factory=list)  # claims and measurements that disagree: for the instructor
    measured_counts: bool = False  # this run's measurements measured the group's real model, so they could count


class RenderRecord(Record):
    report_pdf: str | None = None
    slides_pptx: str | None = None
    plots: list[str] = Field(default_factory=list)
    missing_glyphs: str = ""  # characters of the report that no font on the rendering machine can draw


class Results(BaseModel):
    """results.json: a group's outcome and every stage record of the run that wrote it (gradebook, summary and the
    shard coordinator read it back)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    group: str
    status: GroupStatus
    reason: str = ""
    base_model: str = ""
    grader_version: str = ""
    run_id: str | None = None  # which run wrote it: the shard coordinator tells finished groups from stale ones
    discover: GroupRecord | None = None
    validation: ValidationRecord | None = Field(None, alias="validate")
    train: TrainRecord | None = None
    generate: GenerationRecord | None = None
    generate_class: GenerationRecord | None = None
    score: ScoreRecord | None = None
    score_class: ScoreRecord | None = None
    grade: GradeRecord | None = None
    render: RenderRecord | None = None

    STAGES: ClassVar[tuple[str, ...]] = (
        "discover",
        "validation",
        "train",
        "generate",
        "generate_class",
        "score",
        "score_class",
        "grade",
        "render",
    )


class SweepPoint(Record):
    """One measured variant of a group's run: the values it changed, its seed, and what it measured."""

    params: dict[str, Any] = Field(default_factory=dict)  # the varied parameters' values (all of them, in a grid)
    seed: int = 42
    eval_loss: float | None = None  # on the held-out slice (None: too few samples to hold any out)
    rouge_l: float | None = None  # mean ROUGE-L F1 of the fine-tuned answers to the group's test questions
    exact_match: float | None = None
    class_rouge_l: float | None = None  # on the class-wide test set, when one was given
    train_seconds: float = 0.0
    source: str = "trained in this sweep"  # or "the group's graded run" / "trained in an earlier sweep"
    metrics: dict[str, float] = Field(
        default_factory=dict
    )  # every registered metric's fine-tuned mean (grader.measure.metrics)

    def measured(self, key: str) -> float | None:
        """A metric's fine-tuned mean; a point saved before `metrics` existed has ROUGE-L and exact match only."""
        return self.metrics.get(key, {"rougeL": self.rouge_l, "exact_match": self.exact_match}.get(key))


class SweepEffect(BaseModel):
    """One varied parameter: the means at each value, the spread between them, and the seeds' own spread."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parameter: str
    values: list[Any]
    group_value: Any
    eval_loss: list[float | None]
    rouge_l: list[float | None]
    eval_loss_seed: list[float]  # per value: max - min over seeds (0 with one seed)
    rouge_l_seed: list[float]
    eval_loss_spread: float | None  # max - min of the means over the values
    rouge_l_spread: float | None
    seeds: int
    noise: bool  # the spread is no larger than the seed spread (or there was one seed: not measured)
    sentence: str


class SweepRecord(Record):
    """sweep.json: the plan, every measured point and, per varied parameter, its measured effect."""

    base_model: str = ""
    device: str = ""
    grid: bool = False
    seeds: int = 1
    vary: dict[str, list[Any]] = Field(default_factory=dict)
    group_config: dict[str, Any] = Field(default_factory=dict)
    points: list[SweepPoint] = Field(default_factory=list)
    effects: list[SweepEffect] = Field(default_factory=list)
    ranking: list[str] = Field(default_factory=list)  # parameters, the largest measured effect on ROUGE-L first
    notes: list[str] = Field(default_factory=list)
