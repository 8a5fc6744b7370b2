"""A class of hostile and broken submissions, built here (no committed binaries), graded in one batch."""

from __future__ import annotations

import csv
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

EVIL = (
    '<script>alert(1)</script> ![x](file:///etc/passwd) {{ 7*7 }} {% include "/etc/passwd" %} '
    "<link rel=attachment href=file:///etc/passwd>"
)


class Unpickled:
    """Unpickling this object creates the canary file: the grader must never unpickle anything."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.canary), "w"))


def _copy(root: Path, name: str) -> Path:
    folder = root / name
    shutil.copytree(EXAMPLES / "good-group", folder)
    return folder


def _poison(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    poisoned = [{k: f"{v} {EVIL}" if isinstance(v, str) else v for k, v in row.items()} for row in rows]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in poisoned), encoding="utf-8")


def hostile_class(root: Path, canary: Path) -> dict[str, tuple[str, str]]:
    """The groups, and for each the expected status and a word of its reason (or of its train notes)."""
    root.mkdir(parents=True)
    g = _copy(root, "symlink-passwd")
    (g / "data" / "train.jsonl").unlink()
    (g / "data" / "train.jsonl").symlink_to("/etc/passwd")
    g = _copy(root, "symlink-other-group")
    (g / "data" / "train.jsonl").unlink()
    (g / "data" / "train.jsonl").symlink_to(root / "symlink-passwd" / "tests.jsonl")
    g = _copy(root, "pickle-adapter")
    (g / "adapter").mkdir()
    config = {"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"], "base_model_name_or_path": "x"}
    (g / "adapter" / "adapter_config.json").write_text(json.dumps(config))
    (g / "adapter" / "adapter_model.bin").write_bytes(pickle.dumps(Unpickled(canary)))
    g = _copy(root, "remote-code-adapter")
    (g / "adapter").mkdir()
    config = {**config, "r": 10**7, "auto_map": {"AutoModel": "evil.Model"}, "trust_remote_code": True}
    (g / "adapter" / "adapter_config.json").write_text(json.dumps(config))
    (g / "adapter" / "adapter_model.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    g = _copy(root, "wrong-base-adapter")
    (g / "adapter").mkdir()
    (g / "adapter" / "adapter_config.json").write_text(json.dumps({**config, "r": 4}))
    import torch
    from safetensors.torch import save_file

    save_file(
        {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(4, 4096)},
        str(g / "adapter" / "adapter_model.safetensors"),
    )
    g = _copy(root, "huge-line")
    (g / "data" / "train.jsonl").write_text('{"instruction": "' + "x" * (60 << 20) + '"}\n')
    g = _copy(root, "sparse-2gb")
    with open(g / "data" / "train.jsonl", "r+b") as fh:
        fh.truncate(2 << 30)
    g = _copy(root, "deep-json")
    (g / "data" / "train.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    g = _copy(root, "injection")
    _poison(g / "data" / "train.jsonl")
    _poison(g / "tests.jsonl")
    (g / "REPORT.md").write_text((g / "REPORT.md").read_text(encoding="utf-8") + f"\n\n{EVIL}\n", encoding="utf-8")
    _copy(root, "team with spaces")
    _copy(root, "팀-유니코드")
    _copy(root, "x..y")
    (root / "empty-repo").mkdir()
    # issue 16: what hung, crashed or silently changed other groups' grades
    g = _copy(root, "fifo-git-head")
    (g / ".git").mkdir()
    os.mkfifo(g / ".git" / "HEAD")
    g = _copy(root, "git-head-to-dev-zero")
    (g / ".git" / "refs" / "heads").mkdir(parents=True)
    (g / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (g / ".git" / "refs" / "heads" / "main").symlink_to("/dev/zero")
    (g / ".git" / "packed-refs").symlink_to("/dev/zero")
    g = _copy(root, "fifo-config")
    (g / "config.yaml").unlink()
    os.mkfifo(g / "config.yaml")
    g = _copy(root, "folder-config")
    (g / "config.yaml").unlink()
    (g / "config.yaml").mkdir()
    g = _copy(root, "yaml-bomb")
    (g / "config.yaml").write_text(YAML_BOMB)
    # "팀 7" from a zip made on Korean Windows (cp949 bytes, not UTF-8): Python keeps them as lone surrogates
    shutil.copytree(EXAMPLES / "good-group", root / os.fsdecode(b"\xc6\xc0 7"))
    _copy(root, "team 7")
    _copy(root, "team_7")
    _copy(root, "gradebook.csv")
    _copy(root, "[red]team\x1b[31m")  # rich markup and a terminal escape in a folder name
    _copy(root, '=HYPERLINK("evil")')
    g = _copy(root, "odd-values")
    rows = (g / "data" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    rows[2] = rows[2].replace('"answer": "', '"answer": "\\ud83d ', 1)  # a lone surrogate, as an escape
    (g / "data" / "train.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (g / "loss_log.csv").write_text("step,epoch,loss,learning_rate\nN/A,N/A,N/A,N/A\n1,0.1,2.5,0.0002\n")
    (g / "trainer_state.json").write_text(json.dumps({"log_history": [{"step": 1e999, "loss": 2.0}]}))
    (g / bytes("data/\xb5\xa5\xc0\xcc\xc5\xcd.jsonl", "latin-1").decode("utf-8", "surrogateescape")).write_text("{}\n")
    g = _copy(root, "seed-2-64")
    (g / "config.yaml").write_text((g / "config.yaml").read_text() + "seed: 18446744073709551616\n")
    g = _copy(root, "lorem")
    (g / "REPORT.md").write_text(_lorem(), encoding="utf-8")
    _issue_26(root)
    return {
        "huge-trainer-state": ("graded", "evenly spaced, are kept"),
        "grid-pdf": ("graded", "no table was searched for"),
        "deck-40k-shapes": ("graded", "could not be read within 1024 MB"),
        "notebook-4m-lines": ("graded", "only its first 200 of 4,000,001 lines were read"),
        "docx-70k-rows": ("graded", "only the first 200 of 70,000 table rows were read"),
        "discussion-20k-lines": ("graded", "REPORT.md"),
        "conflicting-calls": ("graded", "more conflicting values like the ones above"),
        "script-bomb": ("graded", "is not valid Python (MemoryError)"),
        "data-bomb": ("over-limit", "could not be read within 1024 MB / 10 s"),
        "control": ("graded", ""),
        "hidden-stuffing": ("graded", "cannot see is read but not credited"),
        "copied-tests": ("graded", "does not count as held out"),
        "forged-tensorboard": ("graded", "fails TensorBoard's checksum"),
        "adapter-dropout-5": ("graded", "lora_dropout = 5 is not a number"),
        "unsure-script": ("graded", "unsure: EPOCHS is also set inside the if block"),
        "symlink-passwd": ("invalid", "symbolic link"),
        "symlink-other-group": ("invalid", "symbolic link"),
        "pickle-adapter": ("graded", "never loaded"),
        "remote-code-adapter": ("graded", "rank"),
        "wrong-base-adapter": ("graded", "another base model"),
        "huge-line": ("invalid", "over the 1 MB cap"),
        "sparse-2gb": ("over-limit", "2048.0 MB, over the limit of 64 MB per file (--max-file-mb)"),
        "deep-json": ("invalid", "nested too deeply"),
        "injection": ("graded", ""),
        "team with spaces": ("graded", ""),
        "팀-유니코드": ("graded", ""),
        "x..y": ("graded", ""),
        "empty-repo": ("not-submitted", "not submitted: the folder holds no"),
        "fifo-git-head": ("graded", ""),
        "git-head-to-dev-zero": ("graded", ""),
        "fifo-config": ("invalid", "config.yaml"),
        "folder-config": ("invalid", "config.yaml"),
        "yaml-bomb": ("invalid", "YAML aliases"),
        "팀 7": ("graded", "not UTF-8"),
        "team 7": ("graded", ""),
        "team_7": ("graded", "its output folder is team_7-2/"),
        "gradebook.csv": ("graded", "its output folder is gradebook.csv-2/"),
        "[red]team[31m": ("graded", ""),
        '=HYPERLINK("evil")': ("graded", ""),
        "odd-values": ("graded", ""),
        "seed-2-64": ("invalid", "seed = 18446744073709551616"),
        "lorem": ("graded", ""),
    }


def _issue_26(root: Path) -> None:
    """What a hostile group tried against memory and against the points: a 1.4M-step log, a PDF of ruled lines, Part
    A hidden from the viewer, tests copied from the training data, forged TensorBoard records, an adapter config PEFT
    would choke on, a script whose values Python would set otherwise."""
    from tests.test_bounds import _grid_pdf

    g = _copy(root, "huge-trainer-state")
    history = [{"step": s, "loss": round(3.0 - s * 1e-6, 4), "learning_rate": 2e-4} for s in range(1, 250_001)]
    (g / "trainer_state.json").write_text(json.dumps({"global_step": 250_000, "log_history": history}))
    g = _copy(root, "grid-pdf")
    (g / "REPORT.md").unlink()
    (g / "Week5_report.pdf").write_bytes(_grid_pdf(200))
    g = _copy(root, "hidden-stuffing")
    (g / "REPORT.md").unlink()
    _hidden_deck(g / "Week5_report.pptx")
    g = _copy(root, "copied-tests")
    lines = (g / "data" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    (g / "tests.jsonl").write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    g = _copy(root, "forged-tensorboard")
    shutil.copytree(EXAMPLES / "course-group" / "W5_materials" / "logs", g / "logs")
    events = next((g / "logs").iterdir())
    data = bytearray(events.read_bytes())
    data[-1] ^= 0xFF
    events.write_bytes(bytes(data))
    g = _copy(root, "adapter-dropout-5")
    (g / "adapter").mkdir()
    config = {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "lora_dropout": 5, "target_modules": ["q_proj"]}
    (g / "adapter" / "adapter_config.json").write_text(json.dumps(config))
    _bombs(root)
    g = _copy(root, "unsure-script")
    script = (EXAMPLES / "course-group-lfs" / "train_lora.py").read_text(encoding="utf-8")
    (g / "train_lora.py").write_text(script + "\nLR *= 10\nif torch.cuda.is_available():\n    EPOCHS = 5\n")


def _bombs(root: Path) -> None:
    """Files that, read without grader's caps, take gigabytes or make a 400-slide deck; and a control group."""
    from tests import bombs

    g = _copy(root, "deck-40k-shapes")
    (g / "REPORT.md").unlink()
    bombs.shapes_deck(g / "Week5_slides.pptx", 40_000, slides=20)
    g = _copy(root, "notebook-4m-lines")
    (g / "REPORT.md").unlink()
    bombs.printing_notebook(g / "Week5.ipynb", 4_000_000)
    g = _copy(root, "docx-70k-rows")
    (g / "REPORT.md").unlink()
    bombs.table_docx(g / "Week5_report.docx", 70_000)
    g = _copy(root, "discussion-20k-lines")
    (g / "REPORT.md").write_text(bombs.discussion_report(20_000), encoding="utf-8")
    g = _copy(root, "conflicting-calls")
    bombs.conflicting_script(g / "train_lora.py", 3_000)
    g = _copy(root, "script-bomb")
    (g / "train_lora.py").write_text("x = " + "-" * 200_000 + "1\n", encoding="utf-8")
    g = _copy(root, "data-bomb")
    (g / "data" / "train.jsonl").unlink()
    bombs.empty_objects_array(g / "data" / "train.json", 15_000_000)
    _copy(root, "control")


def _hidden_deck(path: Path) -> None:
    from pptx import Presentation
    from pptx.util import Emu, Pt

    from grader.config import part_a_entries

    stuffing = " ".join(f"{e['name']}: controls; increase; default 1-5; geology." for e in part_a_entries())
    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    run = slide.shapes.add_textbox(Emu(0), Emu(0), Emu(8_000_000), Emu(500_000)).text_frame.paragraphs[0].add_run()
    run.text, run.font.size = stuffing, Pt(1)
    slide._element.set("show", "0")
    prs.save(str(path))


YAML_BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _lorem() -> str:
    """Lorem ipsum that names the 13 parameters and has a long "Reflections" section: it must earn nothing."""
    from grader.config import part_a_entries

    names = [e["name"] for e in part_a_entries()]
    listed = "".join(f"- {name}: lorem ipsum dolor sit amet, consectetur adipiscing elit.\n" for name in names)
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod. " * 8
    return f"# Report\n\n## Part A\n\n{listed}\n## Reflections\n\n{filler}"


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in root.rglob("*")
        if not p.is_dir() or p.is_symlink()
    }


@pytest.mark.slow
def test_a_hostile_class_is_graded_in_one_batch(tmp_path: Path) -> None:
    subs, out, canary = tmp_path / "subs", tmp_path / "out", tmp_path / "CANARY"
    expected = hostile_class(subs, canary)
    before, around = _tree(subs), set(os.listdir(tmp_path))
    # the batch runs in a child of a child: RUSAGE_CHILDREN then measures the grader alone
    measure = (
        "import resource, subprocess, sys\n"
        "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\nsys.exit(code)\n"
    )
    command = [sys.executable, "-m", "grader", "grade", str(subs), "--out", str(out), "--quiet", "--timeout", "300"]
    command += ["--reader-seconds", "10"]
    proc = subprocess.run(
        [sys.executable, "-c", measure, *command],
        capture_output=True,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    peak_mib = int(proc.stdout.strip().splitlines()[-1]) / 1024
    print(f"hostile batch of {len(expected)} groups: exit {proc.returncode}, peak RSS {peak_mib:.0f} MiB")
    assert proc.returncode == 1, proc.stderr  # invalid groups make the exit code non-zero; the batch finished
    assert peak_mib < 2048  # neither the 2 GB file nor the 60 MB line was loaded whole

    with (out / "gradebook.csv").open(encoding="utf-8") as fh:
        # a cell a spreadsheet would run as a formula carries a leading quote (gradebook.cell)
        rows = {
            r["group"].removeprefix("'") if r["group"].startswith("'=") else r["group"]: r for r in csv.DictReader(fh)
        }
    assert set(rows) == set(expected)
    for group, (status, word) in expected.items():
        row = rows[group]
        assert row["status"] == status, (group, row)
        assert status == "graded" or row["reason"], group
        folder = out / row["folder"]
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        notes = " ".join(results.get("train", {}).get("notes", []))
        problems = " ".join(p["file"] + " " + p["message"] for p in results.get("validate", {}).get("problems", []))
        read = " ".join((results.get("validate", {}).get("writing") or {}).get("notes", []))
        said = row["reason"] + notes + problems + read + results.get("discover", {}).get("message", "")
        assert word in said, (group, row["reason"], notes)
        assert (folder / "report.pdf").is_file()
        assert (folder / "slides.pptx").is_file() or status == "not-submitted"  # nothing to show: the short report

    assert rows["team 7"]["folder"] == "team_7" and rows["team_7"]["folder"] == "team_7-2"
    assert rows["gradebook.csv"]["folder"] == "gradebook.csv-2" and (out / "gradebook.csv").is_file()
    raw_csv = (out / "gradebook.csv").read_text(encoding="utf-8")
    # a spreadsheet shows it, never runs it: no cell of any row starts with "="
    assert "'=HYPERLINK" in raw_csv and not re.search(r'(^|,)"?=', raw_csv, re.MULTILINE)
    assert "\x1b" not in raw_csv and "\x1b" not in proc.stdout
    lorem = json.loads((out / "lorem" / "results.json").read_text(encoding="utf-8"))
    points = {i["id"]: i["points"] for i in lorem["grade"]["items"]}
    assert points["reflections"] == 0 and points["part_a"] < 0.5, points  # names and filler earn nothing
    odd = json.loads((out / "odd-values" / "results.json").read_text(encoding="utf-8"))
    codes = {p["code"] for p in odd["validate"]["problems"]}
    assert "lone-surrogate" in codes and "refused" in codes  # the cp949-named data file is named, not read
    assert any("not UTF-8" in p["file"] for p in odd["validate"]["problems"] if p["code"] == "refused")
    assert not canary.exists()  # the pickle was never unpickled
    # issue 26: records stay small whatever the input, and what is hidden, copied or invented earns nothing
    sizes = {p.parent.name: p.stat().st_size for p in out.glob("*/results.json")}
    assert max(sizes.values()) < 3_000_000, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    hidden = json.loads((out / "hidden-stuffing" / "results.json").read_text(encoding="utf-8"))
    assert {i["id"]: i["points"] for i in hidden["grade"]["items"]}["part_a"] == 0
    assert any("cannot see" in f for f in hidden["grade"]["flags"])
    copied = json.loads((out / "copied-tests" / "results.json").read_text(encoding="utf-8"))
    copied_points = {i["id"]: i["points"] for i in copied["grade"]["items"]}
    assert copied_points["tests"] == 0 and copied_points["beats_base"] == 0
    assert _tree(subs) == before  # nothing written into any submission
    assert set(os.listdir(tmp_path)) == around | {"out"}  # nothing written beside the output folder
    from pptx import Presentation

    assert len(Presentation(str(out / "discussion-20k-lines" / "slides.pptx")).slides) <= 14  # was 412 slides
    # the control group's grade is what it gets alone: nothing of the hostile groups reached it
    solo = tmp_path / "solo"
    (solo / "subs").mkdir(parents=True)
    shutil.copytree(subs / "control", solo / "subs" / "control")
    alone = [sys.executable, "-m", "grader", "grade", str(solo / "subs"), "--out", str(solo / "out"), "--quiet"]
    subprocess.run(alone, check=True, capture_output=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    with (solo / "out" / "gradebook.csv").open(encoding="utf-8") as fh:
        solo_row = next(csv.DictReader(fh))
    assert {k: v for k, v in solo_row.items() if k != "seconds"} == {
        k: v for k, v in rows["control"].items() if k != "seconds"
    }
    assert _items(solo / "out" / "control") == _items(out / "control")
    injected = json.loads((out / "injection" / "results.json").read_text(encoding="utf-8"))
    assert injected["status"] == "graded"
    from pypdf import PdfReader

    reader = PdfReader(str(out / "injection" / "report.pdf"))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "{{ 7*7 }}" in text and "root:x:0:0" not in text and not reader.attachments


def _items(folder: Path) -> list[tuple[str, float, str]]:
    grade = json.loads((folder / "results.json").read_text(encoding="utf-8"))["grade"]
    return [(i["id"], i["points"], i["reason"]) for i in grade["items"]]
