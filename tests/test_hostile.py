"""A class of hostile and broken submissions, built here (no committed binaries), graded in one batch."""

from __future__ import annotations

import csv
import json
import os
import pickle
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
    return {
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
        "empty-repo": ("invalid", "no training data"),
    }


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
        rows = {r["group"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(expected)
    for group, (status, word) in expected.items():
        row = rows[group]
        assert row["status"] == status, (group, row)
        assert status == "graded" or row["reason"], group
        results = json.loads((out / _safe(group) / "results.json").read_text(encoding="utf-8"))
        notes = " ".join(results.get("train", {}).get("notes", []))
        assert word in row["reason"] + notes, (group, row["reason"], notes)
        assert (out / _safe(group) / "report.pdf").is_file() and (out / _safe(group) / "slides.pptx").is_file()

    assert not canary.exists()  # the pickle was never unpickled
    assert _tree(subs) == before  # nothing written into any submission
    assert set(os.listdir(tmp_path)) == around | {"out"}  # nothing written beside the output folder
    injected = json.loads((out / "injection" / "results.json").read_text(encoding="utf-8"))
    assert injected["status"] == "graded"
    from pypdf import PdfReader

    reader = PdfReader(str(out / "injection" / "report.pdf"))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "{{ 7*7 }}" in text and "root:x:0:0" not in text and not reader.attachments


def _safe(group: str) -> str:
    from grader.layout import safe_name

    return safe_name(group)
