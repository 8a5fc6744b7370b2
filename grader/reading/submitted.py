"""submitted: whether a group folder holds any work at all, or nothing a grader could read (`not-submitted`).

GitHub Classroom creates every group's repository from the template, so a group that never pushed has an empty
folder or only the template's README.md. That is its own status, `not-submitted` (0 points, a one-page report that
says so), not `invalid` (work that cannot be used) and not a failure of the run. A README counts as the template's
only while it is short: a README long enough to be a report (Part A answers for 13 parameters are longer) is read as
the group's deliverable and graded.
"""

from __future__ import annotations

import os
from pathlib import Path

from grader.records import Parts

README_NAMES = ("readme.md", "readme.txt", "readme", "readme.rst")
TEMPLATE_README_BYTES = 3000  # Classroom's template READMEs are a few hundred bytes; a report with Part A is more


def why_not(parts: Parts, folder: Path) -> str:
    """'' when the folder holds work; else the words that decided it holds none."""
    if parts.data or parts.tests or parts.configs or parts.scripts or parts.logs or parts.adapters:
        return ""
    readmes = [d for d in parts.deliverables if d.rsplit("/", 1)[-1].lower() in README_NAMES]
    if len(readmes) != len(parts.deliverables):
        return ""  # a report or slides: graded, whatever else is missing
    sizes = {name: _size(folder / name) for name in readmes}
    if any(size is None or size > TEMPLATE_README_BYTES for size in sizes.values()):
        return ""  # a long README may be the group's report: graded as one
    if not readmes:
        return "not submitted: the folder holds no data, script, logs, adapter, report or slides"
    shown = ", ".join(f"{name} ({size} bytes)" for name, size in sizes.items())
    return (
        f"not submitted: only {shown}, no data, script, logs, adapter, report or slides (a README under "
        f"{TEMPLATE_README_BYTES} bytes is taken for the template's)"
    )


def _size(path: Path) -> int | None:
    try:
        return os.lstat(path).st_size
    except OSError:
        return None
