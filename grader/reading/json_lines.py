"""Reading students' data files: JSON lines or a JSON array, any mess they come in, in bounded memory.

`read_objects(path, shown)` yields `(line, object)` pairs and collects `Problem`s; it never raises on content.
What can be read unambiguously is read (BOM, CRLF, UTF-16, pretty-printed objects, raw line breaks in strings)
and said; everything else is named with line, column and a fix.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.limits import DataLimits
from grader.reading import docshapes
from grader.reading.json_errors import Scan, explain, strip_trailing_commas
from grader.reading.student_files import LFS_MAGIC
from grader.records import Problem, Severity

MAX_LINE_BYTES = 1 << 20  # a real sample (4,000-character context) is ~15 KB; 1 MB is far beyond any
MAX_FILE_BYTES = DataLimits.max_file_mb << 20  # the default; a batch passes the instructor's own
MAX_PENDING_LINES = 400  # a pretty-printed object longer than this is not a sample
MAX_DEPTH = 32
SURROGATE = re.compile("[\ud800-\udfff]")


KEPT_PER_KIND = 50  # problems of one kind kept per file; the rest are only counted (a 4 MB file of junk lines)


@dataclass
class Reader:
    """Collects problems for one file; `shown` is the path as printed in messages (relative to the group).

    Beyond KEPT_PER_KIND problems of one kind only their number and first lines are kept, so memory and the
    record stay bounded whatever the file holds; `sample_files.fold` turns them into "and N more like it"."""

    shown: str
    problems: list[Problem] = field(default_factory=list)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    dropped: dict[tuple[str, str], list[int | None]] = field(default_factory=dict)  # at most 8 lines each, + count
    n_dropped: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(
        self,
        line: int | None,
        code: str,
        message: str,
        hint: str = "",
        *,
        column: int | None = None,
        severity: Severity = "error",
    ) -> None:
        key = (code, severity)
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.counts[key] > KEPT_PER_KIND:
            self.n_dropped[key] = self.n_dropped.get(key, 0) + 1
            lines = self.dropped.setdefault(key, [])
            if len(lines) < 8:
                lines.append(line)
            return
        self.problems.append(
            Problem(file=self.shown, line=line, column=column, severity=severity, code=code, message=message, hint=hint)
        )


# One pass over the file, kept whole: the order of its checks (size, encoding, BOM, array or lines) is the
# contract that a malformed file gets the most useful one message.
def read_objects(path: Path, reader: Reader, max_mb: int = MAX_FILE_BYTES >> 20) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON value) for each record in a `.jsonl` or `.json` file."""
    size = path.stat().st_size
    if size > max_mb << 20:
        reader.add(
            None,
            "over-size-limit",
            f"file is {size / 2**20:.1f} MB, over the limit of {max_mb} MB per file (--max-file-mb); not read",
            "a course dataset is a few MB at most: commit only the samples, or ask the instructor to raise the limit",
        )
        return
    with path.open("rb") as fh:
        head = fh.read(64)
    if head.startswith(LFS_MAGIC):
        reader.add(
            1,
            "lfs-pointer",
            "this is a Git LFS pointer, not the data",
            "run `git lfs pull`, or commit the file without LFS (`git lfs untrack`)",
        )
        return
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        reader.add(
            None,
            "utf16",
            "file is UTF-16 (Windows 'Unicode'); it was read, but the course script needs UTF-8",
            "re-save as UTF-8 (VS Code: 'Save with Encoding' -> UTF-8)",
            severity="warning",
        )
        lines: Iterator[tuple[int, str]] = enumerate(path.read_bytes().decode("utf-16").splitlines(), start=1)
    else:
        if head.startswith(b"\xef\xbb\xbf"):
            reader.add(1, "bom", "file starts with a UTF-8 byte-order mark; it was ignored", severity="info")
        lines = _text_lines(path, reader)
    first = _peek_first(lines)
    if first is None:
        if not any(p.code == "line-too-long" for p in reader.problems):  # skipped lines are not an empty file
            reader.add(None, "empty-file", "file is empty", "put one JSON object per line in it, or remove it")
        return
    lines = _chain(first, lines)
    if first[1].lstrip().startswith("["):
        values = _read_array(lines, reader)
    elif first[1].lstrip().startswith("{"):
        values = _read_document_or_lines(lines, reader)
    else:
        values = _read_json_lines(lines, reader)
    for number, value in values:
        clean, broken = _scrub(value)
        if broken:
            reader.add(
                number,
                "lone-surrogate",
                "a broken escape (a lone surrogate such as \\ud83d, half of an emoji) was replaced by \ufffd",
                "write the character itself, or its full surrogate pair",
                severity="warning",
            )
        yield number, clean


def _scrub(value: Any) -> tuple[Any, bool]:
    """The value with lone surrogates (valid JSON escapes, invalid text) replaced; whether there were any."""
    if isinstance(value, str):
        if value.isascii() or not SURROGATE.search(value):
            return value, False
        return SURROGATE.sub("\ufffd", value), True
    if isinstance(value, dict):
        pairs = [(_scrub(k), _scrub(v)) for k, v in value.items()]
        return {k[0]: v[0] for k, v in pairs}, any(k[1] or v[1] for k, v in pairs)
    if isinstance(value, list):
        items = [_scrub(v) for v in value]
        return [v for v, _ in items], any(b for _, b in items)
    return value, False


def _read_document_or_lines(lines: Iterator[tuple[int, str]], reader: Reader) -> Iterator[tuple[int, Any]]:
    """One JSON document (a pretty-printed object of any length, a {"data": [...]} wrapper, a column-oriented
    table) when the whole file parses as one value; JSON lines otherwise."""
    numbered = list(lines)
    joined = "\n".join(text for _, text in numbered)
    numbers = [n for n, _ in numbered]
    try:
        document = _loads(joined)
    except json.JSONDecodeError:
        yield from _read_json_lines(iter(numbered), reader)
        return
    yield from _document(document, joined, numbers, reader)


def _document(doc: Any, joined: str, numbers: list[int], reader: Reader) -> Iterator[tuple[int, Any]]:
    """The records of one JSON document: its wrapped list, or the document itself; a column-oriented document is
    one error that says how to convert it."""
    first = numbers[0]
    file = reader.shown.rsplit("/", 1)[-1]
    path, inner = docshapes.unwrap(doc)
    if path and docshapes.records(inner):
        reader.add(
            first,
            "wrapped",
            f"samples read from the {' / '.join(repr(p) for p in path)} list of a JSON object ({len(inner)} records); "
            "the course's loader (datasets.load_dataset('json')) reads this file as one row",
            f"write the samples as JSON lines: jq -c '{docshapes.jq_path(path)}[]' {file} > all.jsonl",
            severity="warning",
        )
        match = re.search(rf'"{re.escape(path[-1])}"\s*:\s*\[', joined)
        starts = _element_lines(joined, numbers, match.end() if match else 0)
        for index, value in enumerate(inner):
            yield (starts[index] if index < len(starts) else first), value
        return
    found = docshapes.table(inner)
    grouped = docshapes.categories(inner) if found is None else None
    if found is not None or grouped is not None:
        message, hint = (
            docshapes.table_message(path, found, file)
            if found is not None
            else docshapes.categories_message(path, grouped or {}, file)
        )
        reader.add(first, "column-oriented", message, hint)
        return
    if len(numbers) > 1:
        reader.add(
            first,
            "multi-line",
            f"object spans lines {first}-{numbers[-1]} (pretty-printed); it was read",
            "JSON Lines wants one object per line: `jq -c . in.jsonl`",
            severity="warning",
        )
    yield first, doc


def _peek_first(lines: Iterator[tuple[int, str]]) -> tuple[int, str] | None:
    for number, text in lines:
        if text.strip():
            return number, text
    return None


def _chain(first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield first
    yield from rest


def _text_lines(path: Path, reader: Reader) -> Iterator[tuple[int, str]]:
    """Decoded lines, BOM and CR stripped. A line over the cap is skipped without being held in memory."""
    offset = 0
    with path.open("rb") as fh:
        number = 0
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                skipped = len(raw)
                while chunk := fh.readline(MAX_LINE_BYTES):
                    skipped += len(chunk)
                    if chunk.endswith(b"\n"):
                        break
                reader.add(
                    number,
                    "line-too-long",
                    f"line is {skipped / 2**20:.1f} MB, over the {MAX_LINE_BYTES >> 20} MB cap; it was skipped",
                    "keep each sample under 1 MB",
                )
                offset += skipped
                continue
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
                offset += 3
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                reader.add(
                    number,
                    "not-utf8",
                    f"bytes are not UTF-8 at byte {exc.start} of the line "
                    f"(file offset {offset + exc.start}){_guess_encoding(raw)}; the line was skipped",
                    "re-save the file as UTF-8, e.g. `iconv -f cp949 -t utf-8 in.jsonl > out.jsonl`",
                    column=exc.start + 1,
                )
                offset += len(raw)
                continue
            offset += len(raw)
            yield number, text.rstrip("\r\n")


def _guess_encoding(raw: bytes) -> str:
    try:
        text = raw.decode("cp949")
    except UnicodeDecodeError:
        return ""
    return "; it looks like cp949 (Korean Windows)" if re.search("[\uac00-\ud7a3]", text) else ""


def _too_deep(value: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return True
    if isinstance(value, dict):
        return any(_too_deep(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_too_deep(v, depth + 1) for v in value)
    return False


def _loads(text: str) -> Any:
    """json.loads that turns pathological nesting into a JSONDecodeError instead of a RecursionError."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    if _too_deep(value):
        raise json.JSONDecodeError(f"nested more than {MAX_DEPTH} levels deep", text, 0)
    return value


MAX_BAD_START = 1000  # invalid lines before the first valid one: past this the file is not JSON lines at all


@dataclass
class _Pending:
    """The lines of a record that goes on past its first line (pretty-printed, or a raw line break in a string)."""

    start: int
    lines: list[str]
    scan: Scan
    first_error: json.JSONDecodeError


# One loop over the lines, kept whole: a record spread over lines, a broken record being skipped to its end and the
# not-JSON-lines cut-off share its state. A broken record is reported once, where json names the error, and its
# remaining lines are skipped to where its brackets close: no error is reported that only the first one caused.
def _read_json_lines(lines: Iterator[tuple[int, str]], reader: Reader) -> Iterator[tuple[int, Any]]:
    yielded = False
    pending: _Pending | None = None
    skipping: _Pending | None = None  # a broken record whose remaining lines are passed over
    for number, text in lines:
        if skipping is not None:
            if not (skipping.scan.in_string and _starts_record(text)):
                if skipping.scan.feed(text) >= 0 or number - skipping.start > MAX_PENDING_LINES:
                    skipping = None
                continue
            skipping = None
        if pending is not None:
            if pending.scan.in_string and _starts_record(text):  # an unclosed string ran into the next record
                _report_json(reader, pending.start, pending.lines[0], pending.first_error)
                pending = None
            else:
                outcome = _add_line(pending, number, text, reader)
                if outcome == "pending":
                    continue
                if isinstance(outcome, tuple):
                    yield outcome
                    yielded = True
                elif outcome == "broken" and pending.scan.depth > 0:
                    skipping = pending
                pending = None
                if outcome != "unclosed":  # an unclosed record: this line starts the next one, read below
                    continue
        if not text.strip():
            continue
        if not yielded and reader.counts.get(("invalid-json", "error"), 0) >= MAX_BAD_START:
            reader.add(
                number,
                "not-json-lines",
                f"the first {MAX_BAD_START} non-empty lines are all invalid JSON: the rest of the file was not read",
                "is this the right file? A .jsonl file holds one JSON object per line",
            )
            return
        try:
            values = _loads_line(text, number, reader)
        except json.JSONDecodeError as exc:
            if text.lstrip().startswith("{") and _incomplete(exc, text):
                scan = Scan()
                scan.feed(text)
                pending = _Pending(number, [text], scan, exc)
            else:
                _report_json(reader, number, text, exc)
            continue
        for value in values:
            yield number, value
            yielded = True
    if pending is not None:
        _report_json(reader, pending.start, pending.lines[0], pending.first_error)


def _starts_record(text: str) -> bool:
    """A line that is a whole record on its own: where a record swallowed by an unclosed string really ends."""
    if not text.startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except (json.JSONDecodeError, RecursionError):
        return False


def _loads_line(text: str, number: int, reader: Reader) -> list[Any]:
    """The value on one line; two or more objects side by side are each read (the course's loader reads them)."""
    try:
        return [_loads(text)]
    except json.JSONDecodeError as exc:
        if not exc.msg.startswith("Extra data") or text[exc.pos :].strip() == ",":
            raise
        first = exc
    decoder, values, pos = json.JSONDecoder(), [], 0
    while pos < len(text):
        try:
            value, pos = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):
            raise first from None
        if _too_deep(value):
            raise first
        values.append(value)
        while pos < len(text) and text[pos] in " \t":
            pos += 1
    reader.add(
        number,
        "several-on-a-line",
        f"{len(values)} objects on one line; each was read",
        "put each object on its own line",
        severity="warning",
    )
    return values


def _incomplete(exc: json.JSONDecodeError, text: str) -> bool:
    """The object goes on past the end of the line (pretty-printed, or a raw line break in a string)."""
    return exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")


def _add_line(pending: _Pending, number: int, text: str, reader: Reader) -> tuple[int, Any] | str:
    """Add one line to a record spread over lines: (start, value) when it is complete, 'pending' while it may go on,
    'broken' when an error was reported inside it, 'unclosed' when this line starts the next record."""
    depth_before = pending.scan.depth
    pending.lines.append(text)
    pending.scan.feed(text)
    joined = "\n".join(pending.lines)
    start = pending.start
    try:
        value = _loads(joined)
        reader.add(
            start,
            "multi-line",
            f"object spans lines {start}-{number} (pretty-printed); it was read",
            "JSON Lines wants one object per line: `jq -c . in.jsonl`",
            severity="warning",
        )
        return start, value
    except json.JSONDecodeError as exc:
        if exc.msg.startswith("Invalid control character"):
            try:
                value = json.loads(joined, strict=False)
            except (json.JSONDecodeError, RecursionError):
                return "pending"
            reader.add(
                start,
                "raw-newline",
                f"a raw line break inside a string (lines {start}-{number}); it was read, but json and the "
                "course's loader (datasets) refuse it",
                "write line breaks inside strings as \\n",
                severity="warning",
            )
            return start, value
        if _incomplete(exc, joined):
            if len(pending.lines) > MAX_PENDING_LINES:
                _report_json(reader, start, pending.lines[0], pending.first_error)
                return "broken"
            return "pending"
        line = start + exc.lineno - 1
        if line == number and depth_before == 1 and exc.colno == 1 and text.startswith("{"):
            previous = pending.lines[-2]
            reader.add(
                number - 1,
                "invalid-json",
                f"the object that starts at line {start} is not closed: '}}' is missing at the end of line "
                f"{number - 1} (json: {exc.msg}: line {line} column 1)",
                f"end line {number - 1} with }}",
                column=len(previous) + 1,
            )
            return "unclosed"
        message, hint = explain(exc, joined, line)
        reader.add(line, "invalid-json", message, hint, column=exc.colno)
        return "broken"


def _report_json(reader: Reader, number: int, text: str, exc: json.JSONDecodeError) -> None:
    message, hint = explain(exc, text, number)
    reader.add(number, "invalid-json", message, hint, column=exc.colno)


def _read_array(lines: Iterator[tuple[int, str]], reader: Reader) -> Iterator[tuple[int, Any]]:
    """A JSON array, as the course's data helpers write. Line numbers are those where each element starts.

    When the array does not parse (a missing comma between two objects, a broken object), each element is still
    decoded on its own, the error is reported at the line Python's json names, and the elements around it are read.
    """
    texts: list[str] = []
    numbers: list[int] = []
    for number, text in lines:
        texts.append(text)
        numbers.append(number)
    joined = "\n".join(texts)
    try:
        values = _loads(joined)
    except json.JSONDecodeError:
        yield from _recover_array(joined, numbers, reader)
        return
    if not isinstance(values, list):
        reader.add(numbers[0], "not-array", "file is neither JSON lines nor a JSON array", "")
        return
    strings = docshapes.strings_message(values, reader.shown.rsplit("/", 1)[-1])
    if strings is not None:
        reader.add(numbers[0], "strings-array", *strings)
        return
    starts = _element_lines(joined, numbers, joined.index("[") + 1)
    for index, value in enumerate(values):
        yield (starts[index] if index < len(starts) else numbers[0]), value


def _line_of(joined: str, numbers: list[int], pos: int) -> int:
    return numbers[min(bisect.bisect_left(_breaks(joined), pos), len(numbers) - 1)]


@functools.lru_cache(maxsize=1)
def _breaks(joined: str) -> list[int]:
    """Where the line breaks of the joined file are, found once: counting them from the start for every element
    made a valid 40 MB array of 20,000 samples take minutes (a str caches its hash, so the lookup is cheap)."""
    return [m.start() for m in re.finditer("\n", joined)]


# One scanner loop over a broken JSON array, kept whole: its position state is what the loop shares.
def _recover_array(joined: str, numbers: list[int], reader: Reader) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    pos, size, want_separator, after_comma = joined.index("[") + 1, len(joined), False, False
    while True:
        while pos < size and joined[pos] in " \t\r\n":
            pos += 1
        if pos >= size:
            reader.add(
                _line_of(joined, numbers, size - 1),
                "invalid-json",
                "the array is not closed with ']'",
                "end the file with ]",
            )
            return
        if joined[pos] == "]":
            if after_comma:  # json and the course's loader both refuse it
                line = _line_of(joined, numbers, pos)
                column = pos - joined.rfind("\n", 0, pos)
                reader.add(
                    line,
                    "invalid-json",
                    f"trailing comma after the last element, before ']' (json: Expecting value: line {line} "
                    f"column {column})",
                    "remove the comma after the last object",
                    column=column,
                )
            return
        if joined[pos] == ",":
            pos, want_separator, after_comma = pos + 1, False, True
            continue
        after_comma = False
        line = _line_of(joined, numbers, pos)
        if want_separator:
            column = pos - joined.rfind("\n", 0, pos)
            reader.add(
                line,
                "invalid-json",
                f"missing comma between two objects (json: Expecting ',' delimiter: line {line} column {column})",
                "put a comma after the closing } of the object before this line",
                column=column,
            )
        try:
            value, end = decoder.raw_decode(joined, pos)
            if _too_deep(value):
                raise json.JSONDecodeError(f"nested more than {MAX_DEPTH} levels deep", joined, pos)
        except (json.JSONDecodeError, RecursionError) as exc:
            read = _with_trailing_commas(joined, pos, exc, reader, numbers)
            if read is not None:
                value, end = read
                yield line, value
                pos, want_separator = end, True
                continue
            _report_in_array(joined, numbers, pos, exc, reader)
            resync = re.compile(r"\n[ \t]*[{\]]").search(
                joined, exc.pos if isinstance(exc, json.JSONDecodeError) else pos
            )
            if resync is None:
                return
            pos, want_separator = resync.start() + 1, False
            continue
        yield line, value
        pos, want_separator = end, True


def _report_in_array(
    joined: str, numbers: list[int], pos: int, exc: json.JSONDecodeError | RecursionError, reader: Reader
) -> None:
    at = exc.pos if isinstance(exc, json.JSONDecodeError) else pos
    bad_line = _line_of(joined, numbers, at)
    if isinstance(exc, json.JSONDecodeError):
        message, hint = explain(exc, joined, bad_line)
    else:
        message, hint = "nested too deeply", "flatten the object"
    reader.add(
        bad_line, "invalid-json", message + " (this object was skipped)", hint, column=at - joined.rfind("\n", 0, at)
    )


def _with_trailing_commas(
    joined: str, pos: int, exc: json.JSONDecodeError | RecursionError, reader: Reader, numbers: list[int]
) -> tuple[Any, int] | None:
    """An object of an array whose only flaw is a trailing comma, read as the course's loader reads it (its ujson
    accepts the comma, Python's json does not), with a warning; None when it has any other flaw."""
    if not isinstance(exc, json.JSONDecodeError) or not joined[: exc.pos].rstrip().endswith(","):
        return None
    if joined[exc.pos : exc.pos + 1] not in ("}", "]"):
        return None
    scan, end = Scan(), pos
    while True:
        stop = joined.find("\n", end)
        stop = len(joined) if stop < 0 else stop
        closed = scan.feed(joined[end:stop])
        if closed >= 0:
            end += closed
            break
        if stop >= len(joined):
            return None
        end = stop + 1
    try:
        value = _loads(strip_trailing_commas(joined[pos:end]))
    except json.JSONDecodeError:
        return None
    line = _line_of(joined, numbers, exc.pos)
    reader.add(
        line,
        "trailing-comma",
        f"trailing comma before '{joined[exc.pos]}' (json: {exc.msg}: line {line} column {exc.colno}); the object "
        "was read, as the course's loader (datasets) reads it, but Python's json refuses it",
        "remove the last comma inside the object",
        column=exc.colno,
        severity="warning",
    )
    return value, end


def _element_lines(joined: str, numbers: list[int], pos: int) -> list[int]:
    """The line each element of the array starting at `pos` starts on, found with the decoder's own positions."""
    decoder = json.JSONDecoder()
    starts: list[int] = []
    while True:
        while pos < len(joined) and joined[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(joined) or joined[pos] == "]":
            return starts
        starts.append(_line_of(joined, numbers, pos))
        try:
            _, pos = decoder.raw_decode(joined, pos)
        except (json.JSONDecodeError, RecursionError):
            return starts
