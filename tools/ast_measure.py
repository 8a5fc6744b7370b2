"""Measure the package's shape (issue 28): module sizes, functions over 50 lines, and which runtime files a new
metric / executor / Part A parameter / deliverable format has to touch today.

A dev tool, not part of grader: `python tools/ast_measure.py [ROOT]` prints Markdown tables. A "seam" counts
the runtime files (grader/, templates/, pyproject.toml) that spell out the list a new entry must join; the
patterns that decide it are printed beside the count, so the figure can be checked by hand with grep.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

LONG = 50
# What a new entry must be added beside: a file that spells these out enumerates the list.
SEAMS = {
    "metric": r"""\b(rouge1|rouge2|rougeL|rouge_l\w*|exact_match|ROUGE-L)\b""",
    "executor": r"""submitit|["']slurm["']|GRADER_SLURM""",
    "Part A parameter": r"""["']?\b(lora_dropout|warmup_ratio)\b["']?\s*[:,)=]|LORA_DROPOUT""",
    "deliverable format": r"""\.pptx.*\.docx|\.docx.*\.pptx|^\s*(docx|ipynb)\s*=""",
}


def runtime_files(root: Path) -> list[Path]:
    files = sorted((root / "grader").rglob("*.py")) + sorted(p for p in (root / "templates").rglob("*") if p.is_file())
    return [*files, root / "pyproject.toml"]


def functions(tree: ast.Module) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
            found.append((node.name, node.end_lineno - node.lineno + 1))
    return found


def main(root: Path) -> None:
    modules = sorted((root / "grader").rglob("*.py"))
    sizes = {p.relative_to(root).as_posix(): len(p.read_text().splitlines()) for p in modules}
    long_functions = []
    all_functions = 0
    for path in modules:
        funcs = functions(ast.parse(path.read_text()))
        all_functions += len(funcs)
        long_functions += [(n, path.relative_to(root).as_posix(), size) for n, size in funcs if size > LONG]
    lines = sorted(sizes.values())
    print(f"## Modules: {len(sizes)}, {sum(lines)} lines, median {lines[len(lines) // 2]}, largest {lines[-1]}")
    print("| module | lines |\n|---|---|")
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:12]:
        print(f"| {name} | {size} |")
    print(f"\n## Functions: {all_functions}; over {LONG} lines: {len(long_functions)}")
    print("| function | module | lines |\n|---|---|---|")
    for name, module, size in sorted(long_functions, key=lambda f: -f[2]):
        print(f"| {name} | {module} | {size} |")
    print("\n## Files a new entry touches (runtime files that spell out the list)")
    print("| seam | files | which | pattern |\n|---|---|---|---|")
    for seam, pattern in SEAMS.items():
        rx = re.compile(pattern, re.MULTILINE)
        hits = [p.relative_to(root).as_posix() for p in runtime_files(root) if p.exists() and _matches(rx, p)]
        print(f"| {seam} | {len(hits)} | {', '.join(hits)} | `{pattern}` |")


def _matches(rx: re.Pattern[str], path: Path) -> bool:
    try:
        return bool(rx.search(path.read_text()))
    except UnicodeDecodeError:  # slides.pptx
        return False


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve())
