"""json_errors: a JSON syntax error in the words a student needs, at the place Python's json names.

`explain(exc, text, line_start)` takes json's own error and the text it was decoding; it names the likely cause
(missing comma between two values, trailing comma, unclosed string, single quotes, smart quotes) and keeps json's
words beside it, so the student can check the diagnosis against what any JSON tool says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SMART_QUOTES = "\u201c\u201d\u201e\u201f\u2033\u2036"


@dataclass
class Scan:
    """Bracket depth and string state across the lines of one record, as a JSON parser tracks them: where a broken
    record ends (its depth back at 0) is where the next record starts, so the lines in between are not misread."""

    depth: int = 0
    in_string: bool = False

    def feed(self, text: str) -> int:
        """Update the state over one line; the index just past the record's outermost closing bracket when it closed
        on this line, else -1."""
        escaped = False
        for i, ch in enumerate(text):
            if self.in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    self.in_string = False
            elif ch == '"':
                self.in_string = True
            elif ch in "{[":
                self.depth += 1
            elif ch in "}]":
                self.depth -= 1
                if self.depth <= 0:
                    return i + 1
        return -1


def json_words(exc: json.JSONDecodeError, line: int) -> str:
    return f"json: {exc.msg}: line {line} column {exc.colno}"


# One chain of tests, kept whole: the order is the order of likelihood in real student files.
def explain(exc: json.JSONDecodeError, text: str, line: int) -> tuple[str, str]:
    """(message, hint) for `exc`, raised on `text`; `line` is the file line json's error falls on."""
    row = text.splitlines()[exc.lineno - 1] if text.splitlines() else ""
    at = text[exc.pos] if exc.pos < len(text) else ""
    before = text[: exc.pos].rstrip()
    words = json_words(exc, line)
    quotes = [c for c in SMART_QUOTES if c in row]
    if quotes:
        return (
            f'smart quote {quotes[0]} instead of a straight quote " ({words})',
            'a word processor replaced the quotes: re-type them as " in a code editor',
        )
    if at == "'" and exc.msg.startswith(("Expecting property name", "Expecting value")):
        return (
            f"single quotes are not JSON ({words})",
            "use double quotes; a Python dict printed with print() is not JSON: write it with json.dumps()",
        )
    if exc.msg.startswith("Expecting property name") and before.endswith(","):
        return f"trailing comma before '}}' ({words})", "remove the last comma inside the object"
    if exc.msg.startswith("Expecting value") and at == "]" and before.endswith(","):
        return f"trailing comma before ']' ({words})", "remove the comma after the last element of the list"
    if exc.msg.startswith("Expecting ',' delimiter"):
        if not row[: exc.colno - 1].strip() and line > 1:
            return (
                f"missing comma at the end of line {line - 1}, between two values ({words})",
                f"put a comma at the end of line {line - 1}",
            )
        return (
            f"missing comma before column {exc.colno} ({words})",
            'put a comma between two fields: "a": "x", "b": "y"',
        )
    if exc.msg.startswith("Unterminated string"):
        return (
            f"unclosed string: the string that starts at column {exc.colno} has no closing quote ({words})",
            'close the string with " (a quote inside a string is written \\")',
        )
    if exc.msg.startswith("Extra data"):
        if text[exc.pos :].strip() == ",":
            return (
                f"a comma after the object: JSON lines has no commas between records ({words})",
                "remove the comma at the end of each line (or wrap all records in [ ] to make one JSON array)",
            )
        return f"more than one JSON value on this line ({words})", "put each object on its own line"
    if exc.msg.startswith("Invalid control character"):
        return f"a raw control character (tab or line break) inside a string ({words})", "write it as \\t or \\n"
    return f"invalid JSON ({words})", "check the brackets and quotes on this line"


def strip_trailing_commas(text: str) -> str:
    """`text` without the commas that stand right before a closing bracket (outside strings)."""
    out: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "}]":
            while out and out[-1] in " \t\r\n,":  # whitespace dropped with the comma does not matter to json
                if out.pop() == ",":
                    break
        out.append(ch)
    return "".join(out)
