"""The course's QLoRA path on CPU: NF4 4-bit base with double quantization (bitsandbytes, a dependency, runs it without
CUDA), through the same loading, training and generation code as Llama-3.1-8B on a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grader.config import TrainConfig
from grader.layout import Layout
from grader.llm import generate, loader, train
from grader.llm.prompts import prompt
from tests.conftest import example_samples


@pytest.fixture(scope="module")
def nf4() -> loader.Runtime:
    return loader.load("demo", device="cpu", quantize="4bit")


def test_nf4_on_cpu_trains_answers_and_leaves_the_base_as_it_was(nf4: loader.Runtime, tmp_path: Path) -> None:
    import bitsandbytes as bnb

    layer = nf4.model.model.layers[0]
    projections = [layer.self_attn.q_proj, layer.self_attn.v_proj, layer.mlp.down_proj]
    assert all(isinstance(p, bnb.nn.Linear4bit) for p in projections)
    weight = layer.self_attn.q_proj.weight
    assert weight.quant_state.quant_type == "nf4" and weight.quant_state.nested  # double quantization
    assert nf4.quantization == "nf4" and nf4.device == "cpu" and nf4.dtype == "bfloat16"
    assert not any("needs CUDA" in n for n in nf4.notes) and any("4-bit NF4" in n for n in nf4.notes)

    prompts = [prompt(t) for t in example_samples("tests.jsonl")]
    weights = loader.weights_fingerprint(nf4.model)  # the batch's tripwire, taken right after loading
    before = generate.answer(nf4, prompts, 12)
    assert loader.weights_fingerprint(nf4.model) == weights  # answering does not repack the weights
    cfg = TrainConfig(
        num_train_epochs=3,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=1,
        learning_rate=2e-3,
        warmup_ratio=0.0,
        lora_dropout=0.0,
        gradient_checkpointing=True,
    )
    record = train.run("g", example_samples()[:16], cfg, nf4, Layout(tmp_path))
    losses = [e.loss for e in record.log if e.loss is not None]
    assert record.quantization == "nf4" and record.device == "cpu" and len(losses) == record.steps == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3  # the loss falls
    assert record.adapter_changed and any("use_reentrant=False" in n for n in record.notes)
    from safetensors.torch import load_file

    saved = load_file(str(Layout(tmp_path).adapter("g") / "adapter_model.safetensors"))
    assert any(bool(t.abs().sum() > 0) for k, t in saved.items() if "lora_B" in k)
    assert all(t.dtype == torch.float32 for t in saved.values())

    tuned = generate.answer_with_adapter(nf4, Layout(tmp_path).adapter("g"), prompts, 12)
    assert tuned != before  # the adapter answers
    assert not any("lora_" in n for n, _ in nf4.model.named_modules())
    assert loader.weights_fingerprint(nf4.model) == weights
    assert generate.answer(nf4, prompts, 12) == before  # the base answers exactly as before
