"""Mixed-adapter answers: every group's rows in shared batches, each with its own adapter, equal its own answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grader.config import TrainConfig
from grader.layout import Layout
from grader.llm import cotrain, generate, mixgen
from grader.records import Sample
from tests.conftest import minerals

# Three groups: their own learning rates, ranks, prompt formats and answer lengths.
CONFIGS = {
    "north": {"learning_rate": 2e-2, "lora_r": 4, "max_new_tokens": 12},
    "south": {"learning_rate": 1e-2, "lora_r": 8, "include_mlp": False, "max_new_tokens": 12},
    "east": {"learning_rate": 3e-2, "lora_r": 2, "prompt_format": "chat", "max_new_tokens": 8},
}


@pytest.fixture(scope="module")
def adapters(runtime: Any, tmp_path_factory: pytest.TempPathFactory) -> Layout:
    layout = Layout(tmp_path_factory.mktemp("mixgen"))
    common = {"num_train_epochs": 2, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
              "max_length": 96, "lora_dropout": 0.0}  # fmt: skip
    jobs = [
        cotrain.Job(name, minerals(8, 10 * k), TrainConfig(**{**common, **extra}))
        for k, (name, extra) in enumerate(CONFIGS.items())
    ]
    results = cotrain.run(jobs, runtime, layout)
    assert all(not isinstance(r, BaseException) for r in results.values()), results
    return layout


def _tests(k: int) -> list[Sample]:
    # Shared questions (the same test file in two groups) and each group's own.
    return minerals(3, 10 * k) + minerals(2, 100)


def test_mixed_batches_answer_as_each_group_alone(runtime: Any, adapters: Layout, tmp_path: Path) -> None:
    jobs = [
        mixgen.Job(name, _tests(k), adapters.adapter(name), TrainConfig(**extra).max_new_tokens,
                   TrainConfig(**extra).prompt_format)
        for k, (name, extra) in enumerate(CONFIGS.items())
    ]  # fmt: skip
    mixed = mixgen.run(jobs, runtime, generate.BaseCache(tmp_path / "mixed.json"))
    alone_cache = generate.BaseCache(tmp_path / "alone.json")
    changed = 0
    for job in jobs:
        alone = generate.run(
            job.name, job.tests, runtime, Layout(tmp_path), adapter_dir=job.adapter_dir,
            max_new_tokens=job.max_new_tokens, prompt_format=job.prompt_format, cache=alone_cache,
        )  # fmt: skip
        ours = mixed[job.name]
        assert [a.finetuned for a in ours.answers] == [a.finetuned for a in alone.answers], job.name
        assert [a.base for a in ours.answers] == [a.base for a in alone.answers], job.name
        assert ours.base_cache_hits == alone.base_cache_hits, job.name
        changed += sum(a.finetuned != a.base for a in ours.answers)
    assert changed > 0  # the adapters do change answers: the equality above compares different adapters
    # Different groups' adapters answer the shared questions differently: rows really got their own adapter.
    shared = {name: [a.finetuned for a in mixed[name].answers[-2:]] for name in ("north", "south")}
    assert shared["north"] != shared["south"]
    # Base answers: once per distinct (question, settings), not once per group.
    assert len(mixed["north"].answers) + len(mixed["south"].answers) + len(mixed["east"].answers) > len(
        generate.BaseCache(tmp_path / "mixed.json").items
    )


def test_an_adapter_the_layers_do_not_take_sends_the_class_through_peft(
    runtime: Any, adapters: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain LoRA adapters go into the multi-LoRA layers; one with a field those layers do not apply as PEFT does
    (here a rank_pattern, harmless as it gives q_proj the rank it has) sends the class through PEFT's adapter_names,
    with the same answers."""
    import json
    import shutil

    from grader.llm.prompts import prompt

    odd = tmp_path / "odd"
    shutil.copytree(adapters.adapter("south"), odd)
    config = json.loads((odd / "adapter_config.json").read_text())
    (odd / "adapter_config.json").write_text(json.dumps({**config, "rank_pattern": {"q_proj": config["r"]}}))
    assert mixgen.plain_lora(odd, runtime.model) == "rank_pattern is set"
    assert not isinstance(mixgen.plain_lora(adapters.adapter("south"), runtime.model), str)
    prompts = [prompt(t, "plain", runtime.tokenizer) for t in _tests(0)]
    north = mixgen.Request(adapters.adapter("north"), prompts, 12, True)
    through_peft: list[int] = []
    peft_way = mixgen._answer_all_peft

    def watched(*args: Any, **kwargs: Any) -> list[list[str]]:
        through_peft.append(1)
        return peft_way(*args, **kwargs)

    monkeypatch.setattr(mixgen, "_answer_all_peft", watched)
    mixed = mixgen.answer_all(runtime, [north, mixgen.Request(odd, prompts, 12, True)])
    assert through_peft == [1]
    plain = mixgen.answer_all(runtime, [north, mixgen.Request(adapters.adapter("south"), prompts, 12, True)])
    assert through_peft == [1] and mixed == plain and mixed[0] != mixed[1]
