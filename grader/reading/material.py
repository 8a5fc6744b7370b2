"""material: the course's own files (lecture deck, example data, script, assignment text), recognised by content
wherever a group copied them.

The instructor names a folder once (`--course DIR`). Every file in it is read as text (decks and reports through
grader.reading.deliverable, data and scripts as words) and cut into shingles: runs of SHINGLE consecutive normalised
words, hashed. A passage of a group's document is "copied from the course's <file>" when at least COPIED of its
shingles are that file's; the whole document is the course's when at least WHOLE of all its shingles are. Copying
is judged by content, never by a file's name: a renamed lecture deck is still the lecture deck, and a group's own
deck that happens to be called lecture.pptx is the group's.

The same shingles compare groups with each other (grader.measure.overlap): two groups whose data, Part A or Q&A are
largely the same are named for the instructor, no points taken.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

SHINGLE = 6  # words per shingle: short enough for a copied bullet, long enough that common phrases do not match
COPIED = 0.6  # share of a passage's shingles found in one course file
WHOLE = 0.8  # share of a document's shingles found in the course's files: the deck itself, barely edited
MIN_SHINGLES = 3  # a passage of fewer than 8 words is not judged (a title, a value, "lora_r | 16")
MAX_FILES = 200  # files read from the course folder
MAX_FILE_BYTES = 64 << 20
TEXT_FORMATS = (".py", ".txt", ".json", ".jsonl", ".csv", ".yaml", ".yml", ".toml")
WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-case words, Unicode-normalised (full-width forms, compatibility characters), markup dropped."""
    return WORD.findall(unicodedata.normalize("NFKC", text).lower())


def shingles(text: str) -> set[int]:
    """Hashes of every run of SHINGLE words (one shingle for a shorter text with at least 3 words)."""
    found = words(text)
    if len(found) < SHINGLE:
        return {zlib.crc32(" ".join(found).encode())} if len(found) >= 3 else set()
    return {zlib.crc32(" ".join(found[i : i + SHINGLE]).encode()) for i in range(len(found) - SHINGLE + 1)}


@dataclass
class Material:
    """The course's files as shingles: file name (relative to the course folder) -> its shingles."""

    folder: str = ""
    files: dict[str, set[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # files that could not be read, caps hit

    def source(self, text: str) -> tuple[str, float] | None:
        """The course file a passage was copied from and the share of its shingles found there, or None."""
        mine = shingles(text)
        if len(mine) < MIN_SHINGLES or not self.files:
            return None
        best, share = max(
            ((name, len(mine & theirs) / len(mine)) for name, theirs in self.files.items()), key=lambda pair: pair[1]
        )
        return (best, share) if share >= COPIED else None

    def share(self, text: str) -> tuple[str, float]:
        """The share of a text's shingles found anywhere in the course's files, and the file holding most of them."""
        mine = shingles(text)
        if not mine or not self.files:
            return "", 0.0
        everything = set().union(*self.files.values())
        most = max(self.files, key=lambda name: len(mine & self.files[name]))
        return most, len(mine & everything) / len(mine)


@cache
def load(folder: str) -> Material:
    """The course folder read once per run (cached by path): decks and reports as their text, the rest as words."""
    from grader.reading import deliverable
    from grader.records import Problem

    root = Path(folder)
    material = Material(folder=folder)
    paths = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    if len(paths) > MAX_FILES:
        material.notes.append(f"only the first {MAX_FILES} of {len(paths)} course files were read")
    for path in paths[:MAX_FILES]:
        relative = path.relative_to(root).as_posix()
        ext = path.suffix.lower()
        text = ""
        if ext in deliverable.FORMATS:
            problems: list[Problem] = []
            document = deliverable.read(root, relative, problems)
            text = "\n".join(b.text for b in document.blocks) if document else ""
            material.notes += [f"{relative}: {p.message}" for p in problems]
        elif ext in TEXT_FORMATS and path.stat().st_size <= MAX_FILE_BYTES:
            text = path.read_bytes().decode("utf-8", errors="replace")
        found = shingles(text)
        if found:
            material.files[relative] = found
    return material


def copied_blocks(texts: list[str], material: Material) -> list[str | None]:
    """For each passage, the course file it was copied from (None: the group's own, or too short to judge)."""
    return [hit[0] if (hit := material.source(text)) else None for text in texts]


def summary(sources: list[str | None]) -> list[str]:
    """'3 passages copied from the course's lecture.pptx', one line per course file, most first."""
    counts: dict[str, int] = {}
    for source in sources:
        if source:
            counts[source] = counts.get(source, 0) + 1
    return [
        f"{n} passage{'s' if n > 1 else ''} copied from the course's {name} (not counted as the group's work)"
        for name, n in sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    ]
