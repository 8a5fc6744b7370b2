"""Training throughput without changing the group's optimisation: micro-batches regrouped (1 x 8 run as 8 x 1 or
4 x 2, rows sorted by length within a step) give the same optimizer steps as the group's literal config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from grader.config import TrainConfig
from grader.layout import Layout
from grader.llm import train
from tests.conftest import example_samples

LITERAL = {
    "per_device_train_batch_size": 1,
    "gradient_accumulation_steps": 8,
    "num_train_epochs": 2,
    "learning_rate": 1e-3,
    "lora_dropout": 0.0,  # dropout draws random numbers per row: off, so that only the grouping differs
    "warmup_ratio": 0.0,
    "eval_ratio": 0.0,
    "max_length": 256,
    "seed": 3,
}


def test_plan_uses_the_largest_divisor_that_fits_and_halves() -> None:
    cfg = TrainConfig(per_device_train_batch_size=1, gradient_accumulation_steps=16)
    assert train.plan_batches(cfg, [200] * 30, "cpu") == train.Plan(16, 1)
    assert train.plan_batches(cfg, [600] * 30, "cpu") == train.Plan(4, 4)  # 6 x 600 > 4096 and 6 does not divide
    assert train.plan_batches(cfg, [9000], "cpu") == train.Plan(1, 16)  # never below the group's own rows
    assert train.plan_batches(
        TrainConfig(per_device_train_batch_size=4, gradient_accumulation_steps=3), [100], "cpu"
    ) == train.Plan(12, 1)
    assert train.halved(train.Plan(16, 1)) == train.Plan(8, 2)
    assert train.halved(train.Plan(12, 1)) == train.Plan(6, 2)
    assert train.halved(train.Plan(3, 4)) == train.Plan(1, 12) and train.halved(train.Plan(1, 12)) is None


def _assert_same_update(got: torch.Tensor, want: torch.Tensor, what: str, lr_sum: float) -> None:
    """Equal within rtol 1e-3, except where a gradient element is rounding noise: AdamW divides each element by its
    own running RMS, so an element whose true gradient is ~0 steps by up to the learning rate whichever sign the
    noise has, and 8 rows summed at once or one by one round differently. Such elements may be at most 1% of a
    tensor (measured once: 2 of 1,024 elements of one tensor), each within the sum of the steps' lr."""
    close = torch.isclose(got, want, rtol=1e-3, atol=1e-5)
    assert close.float().mean().item() >= 0.99, f"{what}: {int((~close).sum())} of {close.numel()} elements differ"
    assert (got - want).abs().max().item() <= 2 * lr_sum, what


@pytest.mark.parametrize("n", [16, 20])  # 20: the last step of each epoch has 4 samples, not 8
def test_regrouped_batches_match_the_literal_config(runtime, tmp_path: Path, n: int) -> None:
    samples = example_samples()[:n]
    cfg = TrainConfig(**LITERAL)
    literal = train.run("g", samples, cfg, runtime, Layout(tmp_path / "literal"), plan=train.Plan(1, 8, False))
    chosen = train.plan_batches(cfg, [200], "cpu")
    assert chosen == train.Plan(8, 1)
    runs = {
        "8x1": train.run("g", samples, cfg, runtime, Layout(tmp_path / "a")),
        "4x2 sorted": train.run("g", samples, cfg, runtime, Layout(tmp_path / "b"), plan=train.Plan(4, 2)),
    }
    want = load_file(str(Layout(tmp_path / "literal").adapter("g") / "adapter_model.safetensors"))
    assert literal.steps == 2 * -(-n // 8)
    for label, record in runs.items():
        assert record.steps == literal.steps, label
        assert [e.step for e in record.log] == [e.step for e in literal.log]
        got = [e.loss for e in record.log]
        assert got == pytest.approx([e.loss for e in literal.log], rel=1e-4), label
        assert record.train_loss == pytest.approx(literal.train_loss, rel=1e-4)
        folder = Layout(tmp_path / ("a" if label == "8x1" else "b")).adapter("g")
        adapter = load_file(str(folder / "adapter_model.safetensors"))
        assert adapter.keys() == want.keys()
        for key in want:
            _assert_same_update(adapter[key], want[key], f"{label}: {key}", LITERAL["learning_rate"] * record.steps)
    assert any("run as 8 x 1" in note and "same 8 samples per optimizer step" in note for note in runs["8x1"].notes)
    assert any("as the group set them: 1 x 8" in note for note in literal.notes)
