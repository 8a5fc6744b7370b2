"""The class engine: co-trained adapters equal their solo `train.run` (fixed seeds, dropout too), and load in PEFT."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from grader.config import TrainConfig
from grader.layout import Layout
from grader.llm import cotrain, train
from grader.records import Sample


def _samples(n: int, offset: int = 0) -> list[Sample]:
    return [
        Sample(
            system="You are a geology assistant.",
            instruction=f"What is mineral number {i}?",
            context=f"Mineral {i} absorbs near {2000 + i} nm." + " It is common." * (i % 3),
            answer=f"It absorbs near {2000 + i} nm." + " Really." * (i % 4),
        )
        for i in range(offset, offset + n)
    ]


BASE: dict[str, Any] = {"max_length": 128, "lora_dropout": 0.0}
# Groups that differ in everything a group may set; some leave the shared batch early, one has an eval slice.
# Two train with dropout: their masks replay the solo run's draws from torch's global generator.
GROUPS: dict[str, tuple[int, dict[str, Any]]] = {
    "alpha": (8, {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 2, "learning_rate": 1e-3,
                  "lora_r": 4, "lora_alpha": 8, "num_train_epochs": 1, "seed": 1, "lora_dropout": 0.1}),
    "beta": (12, {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 5e-4,
                  "lora_r": 8, "lora_alpha": 16, "include_mlp": False, "num_train_epochs": 2, "seed": 2}),
    "gamma": (24, {"per_device_train_batch_size": 1, "gradient_accumulation_steps": 4, "learning_rate": 2e-3,
                   "lora_r": 2, "lora_alpha": 4, "num_train_epochs": 1.5, "lr_scheduler_type": "linear",
                   "warmup_ratio": 0.2, "seed": 3, "lora_dropout": 0.05}),
    "delta": (5, {"per_device_train_batch_size": 3, "gradient_accumulation_steps": 1, "learning_rate": 3e-3,
                  "lora_r": 16, "lora_alpha": 8, "num_train_epochs": 3, "lr_scheduler_type": "constant", "seed": 4}),
}  # fmt: skip


def _jobs() -> list[cotrain.Job]:
    return [
        cotrain.Job(name, _samples(n, offset=10 * k), TrainConfig(**{**BASE, **extra}))
        for k, (name, (n, extra)) in enumerate(GROUPS.items())
    ]


def _history(layout: Layout, name: str) -> list[dict[str, Any]]:
    state = json.loads((layout.group_dir(name) / "trainer_state.json").read_text())
    return [r for r in state["log_history"] if "loss" in r or "eval_loss" in r]


@pytest.fixture(scope="module")
def trained(runtime: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Layout, Layout, dict[str, Any]]:
    solo = Layout(tmp_path_factory.mktemp("solo"))
    together = Layout(tmp_path_factory.mktemp("class"))
    for job in _jobs():
        train.run(job.name, job.samples, job.cfg, runtime, solo)
    results = cotrain.run(_jobs(), runtime, together)
    return solo, together, results


def test_cotrained_adapters_equal_their_solo_runs(trained: tuple[Layout, Layout, dict[str, Any]]) -> None:
    solo, together, results = trained
    assert set(results) == set(GROUPS)
    for name in GROUPS:
        record = results[name]
        assert not isinstance(record, BaseException), record
        mine, theirs = _history(together, name), _history(solo, name)
        assert [(r["step"], "loss" in r) for r in mine] == [(r["step"], "loss" in r) for r in theirs], name
        for a, b in zip(mine, theirs, strict=True):
            for key in ("loss", "eval_loss", "learning_rate", "grad_norm", "epoch"):
                if key in b:
                    assert a[key] == pytest.approx(b[key], rel=1e-3, abs=1e-9), (name, a["step"], key)
        ours = load_file(str(together.adapter(name) / "adapter_model.safetensors"))
        reference = load_file(str(solo.adapter(name) / "adapter_model.safetensors"))
        assert ours.keys() == reference.keys(), name
        for key, tensor in reference.items():
            torch.testing.assert_close(ours[key], tensor, rtol=1e-3, atol=1e-6, msg=f"{name} {key}")
        config, solo_config = (
            json.loads((lay.adapter(name) / "adapter_config.json").read_text()) for lay in (together, solo)
        )
        for key in ("r", "lora_alpha", "lora_dropout", "peft_type", "task_type", "base_model_name_or_path"):
            assert config[key] == solo_config[key], (name, key)
        assert sorted(config["target_modules"]) == sorted(solo_config["target_modules"])
        assert record.steps == len([r for r in theirs if "loss" in r]) and record.adapter_changed
        assert any(p.name.startswith("events.out.tfevents") for p in together.runs(name).iterdir())


def test_the_early_leavers_really_leave_early(trained: tuple[Layout, Layout, dict[str, Any]]) -> None:
    _, _, results = trained
    steps = {name: results[name].steps for name in GROUPS}
    assert len(set(steps.values())) > 1, steps  # the groups do not all take the same number of steps
    assert results["gamma"].n_eval == 2 and results["gamma"].eval_loss is not None


def test_a_saved_adapter_loads_in_peft_and_answers_as_the_cotrained_layers(
    runtime: Any, trained: tuple[Layout, Layout, dict[str, Any]]
) -> None:
    from peft import PeftModel

    from grader.llm.multilora import Adapter, Slots, unwrap, wrap

    _, together, _ = trained
    enc = runtime.tokenizer(["Question: what absorbs near 2003 nm?\nAnswer:"], return_tensors="pt")
    for name in ("alpha", "beta"):
        folder = together.adapter(name)
        tensors = load_file(str(folder / "adapter_model.safetensors"))
        cfg = TrainConfig(**{**BASE, **GROUPS[name][1]})
        paths = sorted({k.removeprefix("base_model.model.").rsplit(".lora_", 1)[0] for k in tensors})
        slots = Slots(rows=[(name, 0, 1)])
        wrapped = wrap(runtime.model, paths, slots)
        try:
            for path in paths:
                a = tensors[f"base_model.model.{path}.lora_A.weight"]
                b = tensors[f"base_model.model.{path}.lora_B.weight"]
                wrapped[path].adapters[name] = Adapter(a, b, cfg.lora_alpha / cfg.lora_r)
            with torch.no_grad():
                ours = runtime.model(**enc).logits
        finally:
            unwrap(runtime.model, wrapped)
        peft_model = PeftModel.from_pretrained(runtime.model, str(folder), is_trainable=False)
        try:
            peft_model.eval()
            with torch.no_grad():
                theirs = peft_model(**enc).logits
        finally:
            runtime.model = peft_model.unload()
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_dropout_masks_are_each_groups_own(runtime: Any, tmp_path: Path) -> None:
    """With dropout, a group's adapter does not depend on which other groups train beside it."""
    cfg = TrainConfig(**{**BASE, **GROUPS["alpha"][1]})
    other = TrainConfig(**{**BASE, **GROUPS["delta"][1], "lora_dropout": 0.3})
    alone = cotrain.run([cotrain.Job("a", _samples(8), cfg)], runtime, Layout(tmp_path / "alone"))
    paired = cotrain.run(
        [cotrain.Job("z", _samples(5, 40), other), cotrain.Job("a", _samples(8), cfg)],
        runtime,
        Layout(tmp_path / "pair"),
    )
    one = load_file(str(Layout(tmp_path / "alone").adapter("a") / "adapter_model.safetensors"))
    two = load_file(str(Layout(tmp_path / "pair").adapter("a") / "adapter_model.safetensors"))
    for key in one:
        torch.testing.assert_close(one[key], two[key], rtol=1e-4, atol=1e-7)
    assert not isinstance(alone["a"], BaseException) and not isinstance(paired["a"], BaseException)


def test_groups_that_do_not_fit_wait_for_a_wave_and_train_the_same(
    runtime: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget for one group's state at a time: the groups run one after another (waves), with the adapters
    they get all together, and each record names the budget."""
    jobs = [job for job in _jobs() if job.name in ("alpha", "delta")]
    together = cotrain.run(jobs, runtime, Layout(tmp_path / "together"))
    joined: list[list[str]] = []
    admit = cotrain._admit

    def watched(waiting: list[Any], active: list[Any], budget: int) -> None:
        admit(waiting, active, budget)
        joined.append(sorted(m.name for m in active))

    monkeypatch.setattr(cotrain, "_admit", watched)
    monkeypatch.setattr(cotrain, "_state_budget", lambda runtime: 1)  # nothing fits: one group at a time
    waves = cotrain.run(jobs, runtime, Layout(tmp_path / "waves"))
    assert ["alpha", "delta"] not in joined and ["alpha"] in joined and ["delta"] in joined
    for name in ("alpha", "delta"):
        a = load_file(str(Layout(tmp_path / "together").adapter(name) / "adapter_model.safetensors"))
        b = load_file(str(Layout(tmp_path / "waves").adapter(name) / "adapter_model.safetensors"))
        for key in a:  # only the float noise of another batch composition (padding width, summation order)
            torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-6)
        record = waves[name]
        assert not isinstance(record, BaseException) and not isinstance(together[name], BaseException)
        assert any("of a 0 MiB budget" in n for n in record.notes), record.notes


def test_what_the_class_engine_leaves_to_the_per_group_engine_is_said() -> None:
    assert cotrain.unsupported(TrainConfig()) is None
    reason = cotrain.unsupported(TrainConfig(lr_scheduler_type="reduce_lr_on_plateau"))
    assert reason is not None and "reduce_lr_on_plateau" in reason and "eval loss" in reason


def test_a_group_out_of_its_own_time_leaves_and_the_others_train_as_alone(
    runtime: Any, tmp_path: Path, trained: tuple[Layout, Layout, dict[str, Any]]
) -> None:
    """--timeout holds inside the shared run: a group past its own limit leaves untrained (OutOfTime, with the
    time it spent), and the group beside it trains exactly as it does alone."""
    solo, _, _ = trained
    jobs = {job.name: job for job in _jobs()}
    late = cotrain.Job("delta", jobs["delta"].samples, jobs["delta"].cfg, seconds=0.0)
    results = cotrain.run([jobs["alpha"], late], runtime, Layout(tmp_path))
    stopped = results["delta"]
    assert isinstance(stopped, cotrain.OutOfTime) and stopped.seconds > 0
    assert "did not finish within the per-group limit of 0 s (--timeout)" in str(stopped)
    assert not Layout(tmp_path).adapter("delta").exists()
    assert not isinstance(results["alpha"], BaseException)
    a = load_file(str(Layout(tmp_path).adapter("alpha") / "adapter_model.safetensors"))
    b = load_file(str(solo.adapter("alpha") / "adapter_model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-6)


def test_a_run_stopped_mid_training_trains_the_unfinished_groups_again_as_before(
    runtime: Any, tmp_path: Path, trained: tuple[Layout, Layout, dict[str, Any]]
) -> None:
    """Killed while co-training: the group that had left the shared run is saved, the others' progress is gone
    (nothing of them on disk), and training them again gives the adapters of a run never stopped."""
    _, together, _ = trained

    class Killed(BaseException):
        pass

    def killed_as_the_first_leaves(name: str, record: Any) -> None:
        raise Killed(name)

    layout = Layout(tmp_path)
    with pytest.raises(Killed) as stopped:
        cotrain.run(_jobs(), runtime, layout, killed_as_the_first_leaves)
    first = str(stopped.value)
    assert {name for name in GROUPS if layout.adapter(name).exists()} == {first}
    assert not any(layout.runs(name).exists() for name in GROUPS if name != first)
    again = cotrain.run([job for job in _jobs() if job.name != first], runtime, layout)
    assert set(again) == set(GROUPS) - {first} and not any(isinstance(r, BaseException) for r in again.values())
    for name in GROUPS:
        ours = load_file(str(layout.adapter(name) / "adapter_model.safetensors"))
        reference = load_file(str(together.adapter(name) / "adapter_model.safetensors"))
        for key, tensor in reference.items():  # the noise of another batch composition only, as in the waves test
            torch.testing.assert_close(ours[key], tensor, rtol=1e-3, atol=1e-6, msg=f"{name} {key}")


def test_the_lm_head_only_where_a_label_follows_gives_the_full_forwards_loss_and_gradients(runtime: Any) -> None:
    """cotrain_pass._row_losses' shortcut (the head on the labelled positions only) against the model's full
    forward on the same right-padded rows: the same per-row loss sums and the same gradients; a model other
    than Llama takes the full forward."""
    from grader.llm import cotrain_pass
    from grader.llm.train import Collator, encode

    tok, model = runtime.tokenizer, runtime.model
    cfg = TrainConfig(max_length=96)
    rows = [encode(s, tok, cfg, tok.eos_token_id) for s in _samples(3)]
    assert all(r is not None for r in rows)
    short = rows[1]
    assert short is not None
    # rows of different lengths: padding in the batch
    rows[1] = dataclasses.replace(short, input_ids=short.input_ids[:-5], labels=short.labels[:-5])
    batch = Collator(tok.pad_token_id)(rows)
    embeddings = model.get_input_embeddings().weight

    def losses_and_grad(shortcut: bool) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings.requires_grad_(True)
        embeddings.grad = None
        if shortcut:
            per_row = cotrain_pass._row_losses(model, batch, "cpu")
        else:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            shifted = torch.nn.functional.pad(batch["labels"], (0, 1), value=-100)[..., 1:]
            per_token = torch.nn.functional.cross_entropy(logits.transpose(1, 2), shifted, reduction="none")
            per_row = per_token.sum(dim=1)
        per_row.sum().backward()
        grad = embeddings.grad.clone()
        embeddings.grad = None
        embeddings.requires_grad_(False)
        return per_row.detach(), grad

    assert cotrain_pass._head(model) is not None  # the demo model is a Llama: the shortcut is what runs
    ours, ours_grad = losses_and_grad(True)
    full, full_grad = losses_and_grad(False)
    assert (batch["labels"] == -100).any() and (batch["attention_mask"] == 0).any()
    torch.testing.assert_close(ours, full, rtol=1e-5, atol=1e-5)
    # the same sums in another order (only the kept positions reach the head): fp32 rounding, measured 1.6e-5
    torch.testing.assert_close(ours_grad, full_grad, rtol=1e-3, atol=1e-3 * float(full_grad.abs().max()))
    assert cotrain_pass._head(torch.nn.Linear(2, 2)) is None
