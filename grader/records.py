"""The records stages exchange: small, frozen, versioned, written atomically as JSON beside a group's artifacts.

Any stage can be re-run from the previous stage's record: re-score without re-training, re-render without
re-scoring. A stage is skipped when its stored record is ok and its `digest` (inputs + config) still matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from grader.errors import GraderError

SCHEMA = 1
Status = Literal["ok", "failed", "skipped"]
GroupStatus = Literal["graded", "invalid", "over-limit", "missing", "error", "timeout"]
Severity = Literal["error", "warning", "info"]


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


class DocBlock(BaseModel):
    """One unit of a group's own document: a paragraph, a list item, a title, a table row, a slide's notes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    where: str  # 'slide 7', 'page 3', 'cell 4', 'line 12', 'paragraph 9'
    kind: Literal["title", "text", "table", "notes", "output"] = "text"


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

    @property
    def status(self) -> str:
        n = sum(self.answered.values())
        return "missing" if not self.where else "discussed" if n >= 3 else "partly" if n else "named"


class Quote(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    where: str


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


class ValidationRecord(Record):
    problems: list[Problem] = Field(default_factory=list)
    data_files: list[str] = Field(default_factory=list)
    tests_file: str | None = None
    config_file: str | None = None
    n_samples: int = 0
    n_tests: int = 0
    config: dict[str, Any] = Field(default_factory=dict)
    defaults_filled: list[str] = Field(default_factory=list)
    n_truncated: int = 0
    max_sample_tokens: int = 0
    report_md: str | None = None  # relative path of the group's REPORT.md copy, when there is one
    config_sources: dict[str, str] = Field(default_factory=dict)  # Part A key -> 'LoRA_fine_Tuning.py:28', ...
    script: str | None = None  # the course training script the values were read from
    data_note: str = ""  # which data file was used and why, when there was a choice
    missing: list[str] = Field(default_factory=list)  # parts not handed in: they cost their rubric items only
    writing: Writing | None = None  # what the group wrote in its own report or slides, and where

    @property
    def n_errors(self) -> int:
        return sum((1 + p.repeats) for p in self.problems if p.severity == "error")


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


class TrainRecord(Record):
    source: Literal["trained", "loaded", "logs", "none"] = "none"  # logs: read from committed files (preview)
    adapter_dir: str | None = None
    base_model: str = ""
    device: str = ""
    dtype: str = ""
    quantization: str = "none"
    config: dict[str, Any] = Field(default_factory=dict)
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


class GradeRecord(Record):
    items: list[GradeItem] = Field(default_factory=list)
    total: float = 0.0
    max_total: float = 0.0


class RenderRecord(Record):
    report_pdf: str | None = None
    slides_pptx: str | None = None
    plots: list[str] = Field(default_factory=list)
    missing_glyphs: str = ""  # characters of the report that no font on the rendering machine can draw


R = TypeVar("R", bound=BaseModel)


def _umask() -> int:
    """The process's umask (read by setting it and putting it back: there is no other portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder + os.replace: a reader sees the old file or the new one, never half.
    The file gets the mode any tool would give it under the user's umask (mkstemp alone would leave it 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def replace_dir(target: Path) -> Iterator[Path]:
    """A new folder built beside `target` and swapped in when the block ends: a killed run leaves the old folder
    or no folder, never a half-written one (a stage that needs it then re-runs)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    tmp.chmod(0o777 & ~UMASK)  # mkdtemp makes it 0700
    try:
        yield tmp
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)  # one rename away: a kill here leaves no folder, never a mixed one
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sweep(folder: Path) -> None:
    """Remove what a killed run left half-done in `folder`: the temp files and folders of the two functions above."""
    for leftover in [*folder.glob(".*.tmp"), *folder.glob(".*.old")]:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """One grader run per output folder: two at once would sweep each other's temp files and race on the records.

    An advisory lock (flock) that the kernel drops when the process dies, so a killed run never blocks the next.
    """
    out.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no flock; running two graders into one folder there is left to the user
        yield
        return
    with open(out / ".lock", "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise GraderError(
                f"another grader run (pid {holder}) is writing to {out}: wait for it to end, or pass another --out"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """A blocking advisory lock on `path` (created): shards of one run that update one shared file take turns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def save(record: BaseModel, path: Path) -> None:
    write_atomic(path, record.model_dump_json(indent=2).encode())


def load(cls: type[R], path: Path) -> R | None:
    """The stored record, or None when it is missing, unreadable or of another schema (then the stage re-runs)."""
    try:
        return cls.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None


def digest(*parts: Any) -> str:
    """A stable content hash of JSON-able parts (dicts sorted), used as cache key."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, bytes):
            h.update(part)
        else:
            h.update(json.dumps(part, sort_keys=True, default=str, ensure_ascii=False).encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]
