"""The only place that builds output paths. Nothing is ever written inside a submission."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

# Names the class-level outputs take in the output folder: no group's folder may take them.
RESERVED = {
    "gradebook.csv",
    "gradebook.json",
    "classroom.csv",
    "summary.pdf",
    "summary.json",
    "summary.png",
    "batch.json",
    "overrides.csv",
    "adjustments.csv",
    "students.csv",
    "canvas.csv",
    "moodle.csv",
    "part_a_cells.csv",  # grader review: Part A cell corrections
    "review.json",
    "index.html",  # the class dashboard
    "bench",
    "cache",
    "lock",
}


def safe_name(name: str) -> str:
    """A group folder name made safe as one path component: letters (any script), digits, `-_.`; no `..`."""
    name = unicodedata.normalize("NFC", name)
    cleaned = re.sub(r"[^\w.-]+", "_", name).strip("._") or "group"
    return cleaned[:80]


@dataclass(frozen=True)
class Layout:
    out: Path
    folders: dict[str, str] = field(default_factory=dict, compare=False)  # group -> its unique output folder

    def assign(self, groups: list[str]) -> dict[str, str]:
        """One output folder per group, stable and unique: "team 7" and "team_7" (or two names alike in their
        first 80 characters, or in case) do not share one, and no group takes gradebook.csv. A group whose safe
        name is taken gets a suffix, in the order of the class list; returns {group: folder} for those renamed."""
        taken = {name.lower() for name in RESERVED}
        renamed = {}
        for group in groups:
            base = safe_name(group)
            folder, n = base, 1
            while folder.lower() in taken:
                n += 1
                folder = f"{base[:76]}-{n}"
            taken.add(folder.lower())
            self.folders[group] = folder
            if folder != base:
                renamed[group] = folder
        return renamed

    def group_dir(self, group: str) -> Path:
        return self.out / self.folders.get(group, safe_name(group))

    def record(self, group: str, stage: str) -> Path:
        return self.group_dir(group) / f"{stage}.json"

    def results(self, group: str) -> Path:
        return self.results_in(self.group_dir(group))

    @staticmethod
    def results_in(folder: Path) -> Path:
        """A group output folder's results.json, wherever the folder is (grader's own output found in a repo)."""
        return folder / "results.json"

    def samples(self, group: str) -> Path:
        return self.group_dir(group) / "samples.jsonl"

    def tests(self, group: str) -> Path:
        return self.group_dir(group) / "tests.jsonl"

    def adapter(self, group: str) -> Path:
        return self.group_dir(group) / "adapter"

    def cotraining(self, group: str) -> Path:
        """There while the group trains in the class engine's shared run: one left behind says a run was killed."""
        return self.group_dir(group) / "cotraining.json"

    def runs(self, group: str) -> Path:
        return self.group_dir(group) / "runs"

    def report_pdf(self, group: str) -> Path:
        return self.group_dir(group) / "report.pdf"

    def slides(self, group: str) -> Path:
        return self.group_dir(group) / "slides.pptx"

    def report_html(self, group: str) -> Path:
        """The HTML report.pdf is printed from, as a page a browser opens (the dashboard links it)."""
        return self.group_dir(group) / "report.html"

    def plot(self, group: str, name: str) -> Path:
        return self.group_dir(group) / f"{name}.png"

    def error_txt(self, group: str) -> Path:
        """The tracebacks of a failed stage, for the instructor who asks why."""
        return self.group_dir(group) / "error.txt"

    def ask_json(self, group: str) -> Path:
        return self.group_dir(group) / "ask.json"

    def tests_extracted(self, group: str) -> Path:
        """The test questions read from the group's deliverable, as JSON lines."""
        return self.group_dir(group) / "tests.extracted.jsonl"

    def sweep_dir(self, group: str) -> Path:
        """The sweep's variants: each one's adapter, logs and records under its key."""
        return self.group_dir(group) / "sweep"

    def sweep_point(self, group: str, key: str) -> Path:
        return self.sweep_dir(group) / key / "point.json"

    @property
    def gradebook_csv(self) -> Path:
        return self.out / "gradebook.csv"

    @property
    def gradebook_json(self) -> Path:
        return self.out / "gradebook.json"

    @property
    def cache(self) -> Path:
        return self.out / ".cache"

    @property
    def batch_json(self) -> Path:
        return self.out / "batch.json"

    @property
    def overrides_csv(self) -> Path:
        return self.out / "overrides.csv"

    @property
    def classroom_csv(self) -> Path:
        return self.out / "classroom.csv"

    @property
    def part_a_cells_csv(self) -> Path:
        """grader review's Part A cell corrections (grader.review.cells)."""
        return self.out / "part_a_cells.csv"

    @property
    def review_json(self) -> Path:
        """Which groups the instructor marked reviewed."""
        return self.out / "review.json"

    @property
    def index_html(self) -> Path:
        return self.out / "index.html"

    @property
    def shards_dir(self) -> Path:
        """The shards' logs and per-shard batch figures."""
        return self.out / ".shards"

    def shard_batch(self, shard: str) -> Path:
        return self.shards_dir / f"batch-{shard}.json"

    def shard_logs(self, run_id: str) -> Path:
        return self.shards_dir / run_id

    def sweep_logs(self, run_id: str) -> Path:
        return self.shards_dir / f"sweep-{run_id}"


# What a viewer of a group's reports opens (the dashboard links them, grader review serves them), by file name.
REPORT_FILES = {
    "report.pdf": "application/pdf",
    "slides.pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "report.html": "text/html; charset=utf-8",
    "training.png": "image/png",
}


def _packaged_or_repo(packaged: str, repo: str) -> Path:
    """Inside an installed wheel the folder sits in the package; in a checkout (editable install) at the top."""
    here = Path(__file__).resolve().parent
    inside = here / packaged
    return inside if inside.is_dir() else here.parent / repo


def templates_dir() -> Path:
    """The grader's own assets: templates, CSS, rubric, Part A data, fonts. The PDF renderer may read only these."""
    return _packaged_or_repo("templates", "templates")


def examples_dir() -> Path:
    """The example groups shipped with the grader: the embedded default of `grader grade`."""
    return _packaged_or_repo("examples", "submissions")
