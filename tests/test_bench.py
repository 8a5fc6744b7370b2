"""The benchmark: both paths run and are compared; the GPU benchmark's code runs on the CPU with a tiny shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from grader.llm.tiny_llama import MODEL_SHAPE, VOCAB_SIZE
from grader.reading import sample_files, validate
from tools import bench


def test_synthetic_groups_are_valid_and_differ(tmp_path: Path) -> None:
    groups = bench.make_groups(tmp_path, 3)
    records = [validate.run(g, g.name) for g in groups]
    assert all(r.n_errors == 0 and r.n_samples == 24 and r.n_tests == 5 for r in records)
    assert len({r.config.learning_rate for r in records}) == 3
    questions = [
        {t.instruction for t in sample_files.read_samples(g, ["tests.jsonl"], [], is_test=True)} for g in groups
    ]
    assert questions[0] & questions[1] and questions[0] != questions[1]  # a class overlaps in part


@pytest.mark.slow
def test_bench_compares_the_batch_and_naive_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--groups", "2", "--max-new-tokens", "4", "--class-groups", "2", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "faster end to end" in printed and "naive" in printed
    assert "class engine vs per-group, 2 groups on cpu" in printed and "mixed-adapter" in printed
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["class_cpu"][0]["class"]["train_tokens_per_s"] > 0
    for path in ("batch", "naive"):
        times = report["cpu"][path]
        assert set(times) == set(bench.STAGES) and times["train"] > 0 and times["generate"] > 0
        assert times["total"] >= sum(v for k, v in times.items() if k != "total") - 1e-6
    assert report["cpu"]["model_loads"] == {"batch": 1, "naive": 2}  # counted, not timed: holds on a loaded machine


def test_gpu_benchmark_code_runs_on_a_tiny_shape(tmp_path: Path, runtime) -> None:
    shape = {**MODEL_SHAPE, "vocab_size": VOCAB_SIZE + 8}
    result = bench.gpu_benchmark(
        tmp_path,
        shape=shape,
        device="cpu",
        modes=("bf16", "nf4"),
        n_samples=4,
        train_tokens=48,
        batches=(1, 2),
        new_tokens=4,
        class_groups=2,
    )
    assert result["nf4"]["quantization"] == "nf4" and result["bf16"]["quantization"] == "none"
    for entry in result.values():  # the class engine ran on both, 4-bit (activation checkpointing) included
        assert entry["class"]["class"]["train_tokens_per_s"] > 0 and entry["class"]["groups"] == 2
    assert "class engine vs per-group, 2 groups" in bench.print_gpu(result)
    for entry in result.values():
        both = entry["batching"]
        assert both["literal"]["steps"] == both["planned"]["steps"] == 1
        assert both["literal"]["tokens_per_s"] > 0 and "run as 16 x 1" in both["planned"]["plan"]
    entry = result["bf16"]
    assert entry["load_seconds"] > 0 and entry["train_tokens"] >= 4 * 48 and entry["train_tokens_per_s"] > 0
    assert entry["dtype"] == "float32" and any("CPU run" in n for n in entry["notes"])
    assert [g["batch"] for g in entry["generation"]] == [1, 2]
    assert all(g["tokens_per_s"] > 0 and g["bandwidth_bound_tokens_per_s"] > 0 for g in entry["generation"])
    assert "generation batch 2" in bench.print_gpu(result) and "regrouped" in bench.print_gpu(result)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_gpu_benchmark_says_why_it_did_not_run(tmp_path: Path) -> None:
    assert "no CUDA device" in str(bench._gpu_or_reason(tmp_path))
