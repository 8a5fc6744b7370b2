"""The demo model, training and generation, on the real libraries with the tiny model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from grader.config import TrainConfig
from grader.layout import Layout
from grader.llm import generate, train
from grader.llm.prompts import cut_at_stop, plain_prompt
from grader.llm.tiny_llama import demo_model_dir
from grader.reading.sample_files import load_samples
from tests.conftest import TINY_TRAIN, example_samples


def test_demo_model_is_deterministic_and_like_llama(runtime, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    again = demo_model_dir(tmp_path)
    first = load_file(str(Path(runtime.path) / "model.safetensors"))
    second = load_file(str(again / "model.safetensors"))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    tok = runtime.tokenizer
    assert tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id
    assert tok.chat_template and runtime.model.config.model_type == "llama"


def test_encode_masks_prompt_and_appends_eos(runtime) -> None:
    s = example_samples()[0]
    cfg = TrainConfig()
    enc = train.encode(s, runtime.tokenizer, cfg, runtime.tokenizer.eos_token_id)
    assert enc is not None and enc.input_ids[-1] == runtime.tokenizer.eos_token_id
    n_prompt = len(runtime.tokenizer(plain_prompt(s))["input_ids"])
    assert enc.labels[:n_prompt] == [-100] * n_prompt and enc.labels[n_prompt:] == enc.input_ids[n_prompt:]
    short = train.encode(s, runtime.tokenizer, TrainConfig(max_length=64), runtime.tokenizer.eos_token_id)
    assert short is not None and len(short.input_ids) <= 64 and short.cut_tokens > 0
    assert short.input_ids[-1] == runtime.tokenizer.eos_token_id  # the answer survives, the context was cut


def test_train_changes_lora_not_base_and_is_reproducible(runtime, tmp_path: Path) -> None:
    before = {k: v.clone() for k, v in runtime.model.state_dict().items()}
    cfg = TrainConfig(**TINY_TRAIN)
    first = train.run("g", example_samples()[:8], cfg, runtime, Layout(tmp_path / "a"))
    second = train.run("g", example_samples()[:8], cfg, runtime, Layout(tmp_path / "b"))
    after = runtime.model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert first.adapter_changed and (tmp_path / "a" / "g" / "adapter" / "adapter_model.safetensors").is_file()
    assert not list((tmp_path / "a" / "g" / "adapter").glob("*.bin"))
    assert list((tmp_path / "a" / "g" / "runs").glob("events.out.tfevents.*"))
    assert (tmp_path / "a" / "g" / "trainer_state.json").is_file()
    assert first.steps == 2 and len(first.log) == 2 and first.log[0].learning_rate is not None
    assert [e.loss for e in first.log] == [e.loss for e in second.log]
    assert math.isclose(first.perplexity or 0, math.exp(first.train_loss or 0))
    assert not first.loss_includes_prompt


def test_generation_batched_equals_one_by_one_and_cache(runtime, tmp_path: Path) -> None:
    from grader.llm.prompts import prompt

    tests = example_samples("tests.jsonl")
    prompts = [prompt(t) for t in tests]
    batched = generate.answer(runtime, prompts, 24, batch_size=8)
    single = [generate.answer(runtime, [p], 24, batch_size=1)[0] for p in prompts]
    assert batched == single
    layout = Layout(tmp_path)
    cfg = TrainConfig(num_train_epochs=1, per_device_train_batch_size=4, gradient_accumulation_steps=1)
    train.run("g", example_samples()[:4], cfg, runtime, layout)
    one, two = (
        generate.run(
            "g",
            tests,
            runtime,
            layout,
            adapter_dir=layout.adapter("g"),
            max_new_tokens=24,
            prompt_format="plain",
            cache=generate.BaseCache(tmp_path / "cache.json"),
        )
        for _ in range(2)
    )
    assert one.base_cache_hits == 0 and two.base_cache_hits == len(tests)
    assert [a.base for a in one.answers] == batched
    assert "peft_config" not in runtime.model.__dict__ and not hasattr(runtime.model, "peft_config")


def test_cut_at_stop() -> None:
    assert cut_at_stop(" 2340 nm.\nInstruction: next") == "2340 nm."
    assert cut_at_stop("plain") == "plain"
    assert load_samples(Path("/nonexistent")) == []


def test_split_holds_out_only_when_twenty_remain() -> None:
    samples = example_samples()  # 24
    kept, held = train.split(samples, TrainConfig())
    assert len(held) == 2 and len(kept) == 22 and not set(map(id, kept)) & set(map(id, held))
    assert train.split(samples, TrainConfig()) == (kept, held)  # seeded
    assert train.split(samples[:21], TrainConfig()) == (samples[:21], [])  # 2 held out would leave 19
    assert train.split(samples, TrainConfig(eval_ratio=0)) == (samples, [])
    assert len(train.split(samples, TrainConfig(eval_ratio=0.5))[1]) == 0  # 12 + 12: under 20 to train on


def test_train_reports_held_out_eval_loss(runtime, tmp_path: Path) -> None:
    record = train.run("g", example_samples(), TrainConfig(**TINY_TRAIN), runtime, Layout(tmp_path))
    evals = [e for e in record.log if e.eval_loss is not None]
    assert record.n_eval == 2 and record.n_train == 22
    assert [e.step for e in evals] == [0, record.steps]  # before any update, and at the end
    assert record.eval_loss == evals[-1].eval_loss
    assert math.isclose(record.eval_perplexity or 0, math.exp(record.eval_loss or 0))
    assert any("2 of 24 samples held out" in n for n in record.notes)
    half = train.run(
        "g", example_samples(), TrainConfig(**{**TINY_TRAIN, "num_train_epochs": 0.5}), runtime, Layout(tmp_path / "h")
    )
    assert [e.step for e in half.log if e.eval_loss is not None] == [0, half.steps]  # no epoch end: evaluated after
    few = train.run("g", example_samples()[:8], TrainConfig(**TINY_TRAIN), runtime, Layout(tmp_path / "f"))
    assert few.eval_loss is None and few.n_eval == 0 and any("no held-out eval slice" in n for n in few.notes)


def test_batches_respect_the_token_budget() -> None:
    lengths = [50, 10, 400, 30, 30, 1000]
    plan = generate.batches(lengths, 100, max_batch=3, budget=800)
    assert sorted(i for b in plan for i in b) == list(range(6))
    for b in plan:
        assert len(b) <= 3 and (len(b) == 1 or len(b) * (max(lengths[i] for i in b) + 100) <= 800)
    assert plan[0] == [1, 3, 4]  # shortest first
    assert [5] in plan  # over the budget alone: a batch of its own


def test_generation_halves_the_batch_when_out_of_memory(runtime, monkeypatch) -> None:
    from grader.llm.prompts import prompt

    prompts = [prompt(t) for t in example_samples("tests.jsonl")]
    expected = generate.answer(runtime, prompts, 8)
    real, sizes = generate._generate, []

    class OutOfMemoryError(RuntimeError):
        pass

    def tight(rt, batch, *args):  # a GPU that holds two prompts at a time
        sizes.append(len(batch))
        if len(batch) > 2:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(rt, batch, *args)

    monkeypatch.setattr(generate, "_generate", tight)
    assert generate.answer(runtime, prompts, 8) == expected
    assert sizes[0] == len(prompts) and max(sizes[1:]) <= 6 and sizes[-1] <= 2
    monkeypatch.setattr(generate, "_generate", lambda *a: (_ for _ in ()).throw(ValueError("a real bug")))
    with pytest.raises(ValueError, match="a real bug"):
        generate.answer(runtime, prompts, 8)


@pytest.mark.gpu
def test_qlora_in_4bit_with_bf16_on_cuda(tmp_path: Path) -> None:
    """The course default on a GPU: NF4 base, bf16 compute, base left unchanged."""
    from grader.llm import loader as model
    from grader.llm.prompts import prompt

    rt = model.load("demo", device="cuda")
    assert rt.device == "cuda" and rt.dtype == ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    assert rt.quantization == "nf4"
    before = {k: v.detach().clone() for k, v in rt.model.state_dict().items()}
    record = train.run("g", example_samples(), TrainConfig(**TINY_TRAIN), rt, Layout(tmp_path))
    assert record.adapter_changed and record.device == "cuda" and record.quantization == rt.quantization
    assert record.dtype == ("bf16" if rt.dtype == "bfloat16" else "fp16") and record.eval_loss is not None
    after = rt.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    prompts = [prompt(t) for t in example_samples("tests.jsonl")]
    tuned = generate.answer_with_adapter(rt, Layout(tmp_path).adapter("g"), prompts, 16)
    assert len(tuned) == len(prompts) and len(generate.answer(rt, prompts, 16)) == len(prompts)


def test_log_entries_join_eval_lines_to_their_step() -> None:
    history = [
        {"eval_loss": 5.5, "step": 0, "epoch": 0},
        {"loss": 7.0, "learning_rate": 1e-4, "step": 1, "epoch": 0.5},
        {"loss": 6.0, "learning_rate": 5e-5, "step": 2, "epoch": 1.0},
        {"eval_loss": 5.4, "step": 2, "epoch": 1.0},
        {"train_loss": 6.5, "step": 2},
    ]
    log = train.log_entries(history)
    assert [(e.step, e.loss, e.eval_loss) for e in log] == [(0, None, 5.5), (1, 7.0, None), (2, 6.0, 5.4)]
    assert log[2].learning_rate == 5e-5


def test_token_counter_counts_as_the_model_tokenizer_does(grader_cache: Path, tmp_path: Path, monkeypatch) -> None:
    """Validation counts tokens with tokenizer.json alone (no torch import) only where transformers runs it as it
    is; a config that may make transformers rebuild the special tokens goes through AutoTokenizer."""
    import json
    import shutil

    from grader.llm import loader as model
    from grader.llm.prompts import training_text

    texts = [training_text(s) for s in example_samples()] + ["", "spectre 2200 nm \u4e2d\u6587 <|eot_id|> \u00e9\u0301"]
    folder = str(demo_model_dir())
    auto = model.count_tokens(model.load_tokenizer(folder), texts)
    loaded: list[str] = []
    load = model.load_tokenizer
    monkeypatch.setattr(model, "load_tokenizer", lambda path, cache_dir=None: loaded.append(path) or load(path))

    assert model.token_counter(folder)(texts) == auto and min(auto) >= 1  # BOS on the empty text too
    assert loaded == []  # the Rust tokenizer alone

    special = tmp_path / "special"
    shutil.copytree(folder, special, ignore=shutil.ignore_patterns("*.safetensors"))
    config = json.loads((special / "tokenizer_config.json").read_text())
    for changed in ({"add_eos_token": True}, {"tokenizer_class": "LlamaTokenizerFast"}):
        (special / "tokenizer_config.json").write_text(json.dumps({**config, **changed}))
        counts = model.token_counter(str(special))(texts)
        assert loaded == [str(special)] and counts == model.count_tokens(load(str(special)), texts)
        loaded.clear()
