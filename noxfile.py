"""Sessions: tests, lint, demo, bench, reading. nox's pip venvs see the local CPU wheel of torch (torch==2.13.0)."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True
TORCH = os.environ.get("GRADER_TORCH", "torch==2.13.0")  # a GPU box sets GRADER_TORCH=torch (CUDA build)


def _install(session: nox.Session, extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """The fast tier by default: every test but the whole-batch ones (marked `slow`). GRADER_TESTS=all runs them
    all, as CI does (.ci/run); pytest arguments after `--` run what they say."""
    _install(session, "test")
    tier = [] if os.environ.get("GRADER_TESTS") == "all" else ["-m", "not slow"]
    args = session.posargs or ["-q", *tier]
    session.run("pytest", *args, env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (style, import rules that keep torch out of `grader --help`) and mypy --strict on the package."""
    _install(session, "dev")
    session.run("ruff", "check", "grader", "tests", "tools", "noxfile.py")
    session.run("mypy")


@nox.session
def reading(session: nox.Session) -> None:
    """How well grader reads a group's deck or report: precision and recall of Part A's four questions and the Q&A
    rows against the labelled corpus in tests/reading/corpus/, every disagreement, figures in reports/reading.json."""
    _install(session, "test")
    session.run("python", "-m", "tests.reading.measure", *session.posargs, env={"HF_HUB_OFFLINE": "1"})


@nox.session
def bench(session: nox.Session) -> None:
    """Batch path vs naive path on synthetic groups; with CUDA (`-- --gpu`) the Llama-3.1-8B-shaped benchmark too."""
    _install(session, "test")
    session.run("python", "-m", "tools.bench", *session.posargs, env={"HF_HUB_OFFLINE": "1"})


@nox.session
def demo(session: nox.Session) -> None:
    """The README's first command: grade the example groups on the demo model."""
    _install(session, "test")
    session.run(
        "grader", "grade", "submissions/", "--out", "reports/", success_codes=[0, 1], env={"HF_HUB_OFFLINE": "1"}
    )
