"""CPU threads: torch gets the CPUs this process may use (affinity and cgroup quota), or --threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from grader import limits
from grader.llm import loader


def _cgroup(tmp_path: Path, proc: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (tmp_path / "proc").write_text(proc)
    return root, tmp_path / "proc"


def test_cgroup_v2_quota_on_an_ancestor_caps_the_threads(tmp_path: Path) -> None:
    root, proc = _cgroup(
        tmp_path,
        "0::/slurm/job_7/step_0\n",
        {"slurm/job_7/cpu.max": "150000 100000\n", "slurm/cpu.max": "max 100000\n", "cpu.max": "max 100000\n"},
    )
    assert limits.cgroup_quota(root, proc) == 1.5
    assert limits.usable_cpus(root, proc) == 1  # 1.5 CPUs: one thread that is never throttled


def test_cgroup_v1_quota_and_no_quota(tmp_path: Path) -> None:
    root, proc = _cgroup(
        tmp_path / "v1",
        "4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n",
        {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "400000\n", "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000"},
    )
    assert limits.cgroup_quota(root, proc) == 4.0
    root, proc = _cgroup(tmp_path / "none", "0::/\n", {"cpu.max": "max 100000\n"})
    assert limits.cgroup_quota(root, proc) is None
    assert limits.usable_cpus(root, proc) == len(os.sched_getaffinity(0))
    assert limits.cgroup_quota(root, tmp_path / "missing") is None


def test_threads_from_flag_env_or_usable_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert limits.set_threads(None) == (1, "OMP_NUM_THREADS") and torch.get_num_threads() == 1
        assert limits.set_threads(2)[0] == 2 and torch.get_num_threads() == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
        n, source = limits.set_threads(None)
        assert n == 1 and torch.get_num_threads() == 1 and "affinity" in source
    finally:
        torch.set_num_threads(before)


def test_the_cpu_run_says_its_threads_and_precision(grader_cache: Path) -> None:
    before = torch.get_num_threads()
    try:
        runtime = loader.load("demo", device="cpu", threads=1)
    finally:
        torch.set_num_threads(before)
    assert runtime.quantization == "none" and runtime.dtype == "float32"
    assert "1 CPU thread(s): --threads" in runtime.notes
    assert any("--quantize 4bit" in n for n in runtime.notes) and not any("needs CUDA" in n for n in runtime.notes)
    with pytest.raises(Exception, match="--quantize must be one of"):
        loader.quantization_for("8bit", "cpu")
    assert loader.quantization_for("auto", "cuda") == "nf4" and loader.quantization_for("auto", "cpu") == "none"
