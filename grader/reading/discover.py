"""discover: a submissions folder -> one GroupRecord per direct sub-folder (plus roster groups that sent nothing).

Each group's parts (data, tests, config, training script, logs, adapter, deliverable) are found at any depth, by
name, without following links, and recorded with where they are. The commit SHA and time are read from `.git` as
plain files: no git process runs on a student repository (its config could otherwise run commands).
"""

from __future__ import annotations

import os
import re
import stat
import zlib
from datetime import UTC, datetime
from pathlib import Path

from grader.errors import ConfigError
from grader.reading import own_output
from grader.reading.deliverable import FORMATS
from grader.reading.student_files import read_capped
from grader.records import GroupRecord, Parts

MAX_GIT_OBJECT = 1 << 20
MAX_DEPTH = 8  # W5_materials/week5/run1/... is 3; deeper is a vendored tree, not the group's work
MAX_ENTRIES = 20_000  # files and folders looked at per group
SKIP_DIRS = {"node_modules", "__pycache__", "venv", "site-packages", "wandb", "reports", "dist", "build"}
LOG_NAMES = {"trainer_state.json", "train_results.json", "all_results.json", "eval_results.json", "loss_log.csv"}
CONFIG_NAMES = ("grader.toml", "config.yaml", "config.yml", "train_config.json")
SCRIPT_NAMES = ("lora_fine_tuning.py", "train_lora.py", "lora_finetuning.py", "finetune_lora.py", "train.py")
SCRIPT_HINT = re.compile(r"lora|train|fine[-_]?tun", re.IGNORECASE)
TESTS_NAME = re.compile(r"^(tests?|test[_-].*|.*[_-]tests?|test_?questions?.*)\.jsonl?$", re.IGNORECASE)
DELIVERABLE_EXT = FORMATS
NOT_DATA = {
    "answers.json",
    "answers.jsonl",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "config.json",
    "generation_config.json",
    "vocab.json",
    "package.json",
    "package-lock.json",
    "launch.json",
    "settings.json",
    *LOG_NAMES,
    *CONFIG_NAMES,
}


def _sort_key(relative: str) -> tuple[int, str]:
    return relative.count("/"), relative.lower()


def _script_rank(relative: str) -> tuple[int, int, str]:
    name = relative.rsplit("/", 1)[-1].lower()
    known = SCRIPT_NAMES.index(name) if name in SCRIPT_NAMES else len(SCRIPT_NAMES)
    return known, relative.count("/"), relative.lower()


# One bounded walk of the tree, kept whole: the entry cap, depth and adapter-folder state are shared by its
# loop.
def find_parts(group_dir: Path) -> Parts:
    """Every part of a group's work, found by name at any depth (capped), links and special files named, not read."""
    found: dict[str, list[str]] = {k: [] for k in Parts.model_fields}
    entries = 0
    stack: list[tuple[Path, str, int, bool]] = [(group_dir, "", 0, False)]
    while stack:
        folder, prefix, depth, in_adapter = stack.pop()
        try:
            with os.scandir(folder) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        holds_adapter = any(c.name == "adapter_config.json" for c in children)
        if holds_adapter:
            found["adapters"].append(prefix.rstrip("/") or ".")
        # an adapter folder's tokenizer files and model card are not the group's data or report; an adapter saved
        # at the top of the repository leaves the rest of it as it is
        in_adapter = in_adapter or (holds_adapter and depth > 0)
        for child in children:
            entries += 1
            if entries > MAX_ENTRIES:
                found["notes"].append(f"more than {MAX_ENTRIES} files: the rest of the folder was not looked at")
                stack.clear()
                break
            relative = prefix + child.name
            if not _is_utf8(child.name):
                found["refused"].append(f"{prefix}{shown_name(child.name)} (the name is not UTF-8: rename it)")
                continue
            try:
                mode = child.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                found["refused"].append(relative)
            if stat.S_ISDIR(mode) and _kind(child.name, in_adapter) not in (None, "deliverables"):
                found[str(_kind(child.name, in_adapter))].append(relative)  # a folder named config.yaml: said
                continue
            if stat.S_ISDIR(mode):
                if child.name.startswith(".") or child.name.lower() in SKIP_DIRS:
                    continue
                if own_output.holds_output(Path(child.path)):  # a preview's output, whatever its name
                    continue
                if depth + 1 >= MAX_DEPTH:
                    found["notes"].append(f"{relative}/ is more than {MAX_DEPTH} folders deep; not looked into")
                    continue
                stack.append((Path(child.path), relative + "/", depth + 1, in_adapter))
                continue
            kind = _kind(child.name, in_adapter)
            if kind:
                found[kind].append(relative)
    for key in ("data", "tests", "configs", "logs", "deliverables", "refused"):
        found[key].sort(key=_sort_key)
    found["adapters"].sort(key=lambda a: (a != "adapter", _sort_key(a)))
    found["scripts"].sort(key=_script_rank)
    found["configs"].sort(key=lambda c: (c.count("/"), CONFIG_NAMES.index(c.rsplit("/", 1)[-1])))
    return Parts(**found)


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return True


def shown_name(name: str) -> str:
    """A file or folder name as a person can read it: bytes that are not UTF-8 are tried as cp949 (the names in a
    zip made on Korean Windows), else replaced; control characters are dropped."""
    if not _is_utf8(name):
        raw = name.encode("utf-8", "surrogateescape")
        try:
            name = raw.decode("cp949")
        except UnicodeDecodeError:
            name = raw.decode("utf-8", "replace")
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", "", name)


def group_folders(folder: Path) -> list[Path]:
    """The sub-folders that are groups when `folder` is a class's submissions folder, else [] (it is one group).

    A class folder has no data, script or config of its own at the top, and two or more sub-folders that do."""
    top = find_parts(folder)
    own = [f for f in (*top.data, *top.configs, *top.scripts, *top.tests) if "/" not in f]
    if own:
        return []
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    subs = [p for p in subs if not own_output.holds_output(p)]  # `grader preview .` wrote it: not a group
    groups = [p for p in subs if (lambda parts: parts.data or parts.scripts or parts.configs)(find_parts(p))]
    return subs if len(groups) >= 2 else []


def _kind(name: str, in_adapter: bool) -> str | None:
    """Which part a file is, by its name alone (its content is read later, safely, by the stage that needs it)."""
    lower = name.lower()
    if lower in LOG_NAMES or lower.startswith("events.out.tfevents."):
        return "logs"
    if in_adapter or name.startswith("."):
        return None  # an adapter folder's tokenizer files and model card are not the group's data or report
    if lower in CONFIG_NAMES:
        return "configs"
    if lower.endswith(".py"):
        return "scripts" if lower in SCRIPT_NAMES or SCRIPT_HINT.search(lower) else None
    if lower.endswith(DELIVERABLE_EXT):
        return "deliverables"
    if TESTS_NAME.match(lower):
        return "tests"
    if lower.endswith((".jsonl", ".json")) and lower not in NOT_DATA and "results" not in lower:
        return "data"
    return None


def _git_head(folder: Path) -> tuple[str | None, str | None]:
    git = folder / ".git"
    try:
        if git.is_symlink() or not git.is_dir():
            return None, None
        head = (read_capped(git / "HEAD", 4096) or b"").decode("utf-8", errors="replace").strip()
        sha = head
        if head.startswith("ref: "):
            ref = head[5:].strip()
            if ".." in ref or not re.fullmatch(r"[\w./-]+", ref):
                return None, None
            loose = read_capped(git / ref, 4096)
            if loose is not None:
                sha = loose.decode("utf-8", errors="replace").strip()
            else:
                packed = (read_capped(git / "packed-refs", MAX_GIT_OBJECT) or b"").decode("utf-8", errors="replace")
                match = re.search(rf"^([0-9a-f]{{40}}) {re.escape(ref)}$", packed, re.MULTILINE)
                sha = match.group(1) if match else ""
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            return None, None
        return sha, _commit_time(git, sha)
    except OSError:
        return None, None


def _commit_time(git: Path, sha: str) -> str | None:
    """The committer time of a loose commit object; None when it sits in a pack (we do not parse packs)."""
    raw = read_capped(git / "objects" / sha[:2] / sha[2:], MAX_GIT_OBJECT)
    if raw is None:
        return None
    try:
        data = zlib.decompressobj().decompress(raw, MAX_GIT_OBJECT)
    except zlib.error:
        return None
    match = re.search(rb"^committer .* (\d+) [+-]\d{4}$", data, re.MULTILINE)
    if not match:
        return None
    try:
        return datetime.fromtimestamp(int(match.group(1)), tz=UTC).isoformat()
    except (ValueError, OverflowError, OSError):  # a made-up commit from the year 10^20
        return None


def read_roster(path: Path) -> list[dict[str, str]]:
    """A roster CSV, one row per student or per group (see grader.outputs.roster)."""
    from grader.outputs import roster

    return roster.read(path)


def one(folder: Path) -> GroupRecord:
    """A single group folder (`grader preview .`): the group is named after the folder."""
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; pass a group's folder (its data, tests.jsonl, config, REPORT.md)")
    name = shown_name(folder.resolve().name) or "group"
    commit, when = _git_head(folder)
    return GroupRecord(group=name, path=str(folder), commit=commit, commit_time=when, parts=find_parts(folder))


def run(submissions: Path, roster: list[dict[str, str]] | None = None) -> list[GroupRecord]:
    if not submissions.is_dir():
        raise ConfigError(
            f"submissions folder {submissions} does not exist; pass the folder that holds one sub-folder per group"
        )
    groups = []
    for folder in sorted(submissions.iterdir(), key=lambda p: p.name):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        if folder.is_symlink():
            groups.append(
                GroupRecord(
                    group=shown_name(folder.name) or "group",
                    path=str(folder),
                    status="failed",
                    message="the group folder is a symbolic link; refused",
                )
            )
            continue
        if own_output.holds_output(folder):  # an output folder put beside the groups is not a group
            continue
        commit, when = _git_head(folder)
        name = shown_name(folder.name) or "group"
        message = "" if name == folder.name else f"folder name shown as '{name}' (its bytes are not UTF-8)"
        groups.append(
            GroupRecord(
                group=name,
                path=str(folder),
                commit=commit,
                commit_time=when,
                parts=find_parts(folder),
                message=message,
            )
        )
    named: dict[str, int] = {}
    for i, g in enumerate(groups):  # two folders whose names read the same once made readable stay two groups
        named[g.group] = named.get(g.group, 0) + 1
        if named[g.group] > 1:
            groups[i] = g.model_copy(update={"group": f"{g.group} ({named[g.group]})"})
    if roster:
        from grader.outputs import roster as class_list

        matched = class_list.match(roster, [g.group for g in groups])
        roster[:] = matched.rows  # the caller's rows now name the folders: the gradebook joins students on them
        groups += [
            GroupRecord(group=name, path="", roster_only=True, status="skipped", message=why)
            for name, why in matched.missing.items()
        ]
    return groups
