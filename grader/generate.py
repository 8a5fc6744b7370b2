"""generate: test questions -> base and fine-tuned answers (GenerationRecord).

Batched, greedy, left-padded, with explicit stop sequences and `max_new_tokens`. Base answers are cached per
distinct prompt (keyed by base model fingerprint + prompt + settings), so a class that shares test questions, or
a re-run, computes each once. The adapter is put into the shared base model and taken out again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from grader.layout import Layout
from grader.model import Runtime
from grader.prompts import STOP_SEQUENCES, cut_at_stop, prompt
from grader.records import Answer, GenerationRecord, Sample, digest, write_atomic

BATCH_SIZE = 8
TAIL_TOKENS = 12  # enough decoded tail to see any stop sequence that just completed


class StopOnText:
    """Per-row stopping on the stop sequences, checking only the freshly generated tail (cheap for any vocab)."""

    def __init__(self, tokenizer: Any, prompt_width: int) -> None:
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        tails = self.tokenizer.batch_decode(input_ids[:, self.prompt_width :][:, -TAIL_TOKENS:])
        return torch.tensor([any(s in t for s in STOP_SEQUENCES) for t in tails], device=input_ids.device)


def answer(
    runtime: Runtime,
    prompts: list[str],
    max_new_tokens: int,
    *,
    batch_size: int = BATCH_SIZE,
    add_special_tokens: bool = True,
) -> list[str]:
    """Greedy answers for prompts, in their order; batches are formed from prompts of similar length."""
    import torch
    from transformers import GenerationConfig, StoppingCriteriaList

    tokenizer = runtime.tokenizer
    tokenizer.padding_side = "left"
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=runtime.eos_ids(),
    )
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: dict[int, str] = {}
    device = runtime.model.device
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        enc = tokenizer(
            [prompts[i] for i in chunk], return_tensors="pt", padding=True, add_special_tokens=add_special_tokens
        ).to(device)
        width = enc["input_ids"].shape[1]
        with torch.inference_mode():
            out = runtime.model.generate(
                **enc, generation_config=config, stopping_criteria=StoppingCriteriaList([StopOnText(tokenizer, width)])
            )
        texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        for index, text in zip(chunk, texts, strict=True):
            results[index] = cut_at_stop(text)
    return [results[i] for i in range(len(prompts))]


def answer_with_adapter(
    runtime: Runtime, adapter_dir: Path, prompts: list[str], max_new_tokens: int, *, add_special_tokens: bool = True
) -> list[str]:
    """Answers with the adapter put into the shared base model, which gets it taken out again afterwards."""
    from peft import PeftModel

    # Adapters load from safetensors only; the folder was written by train (or checked and copied by adapter.py).
    peft_model = PeftModel.from_pretrained(runtime.model, str(adapter_dir), is_trainable=False, use_safetensors=True)
    try:
        peft_model.eval()
        tuned = Runtime(**{**runtime.__dict__, "model": peft_model})
        return answer(tuned, prompts, max_new_tokens, add_special_tokens=add_special_tokens)
    finally:
        runtime.model = peft_model.unload()


class BaseCache:
    """Base-model answers by content hash, shared by all groups of a batch and kept across runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.items: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.items = {}

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self.items, ensure_ascii=False, sort_keys=True).encode())


def run(
    name: str,
    tests: list[Sample],
    runtime: Runtime,
    layout: Layout,
    *,
    adapter_dir: Path,
    max_new_tokens: int,
    prompt_format: str,
    cache: BaseCache,
) -> GenerationRecord:
    started = time.monotonic()
    prompts = [prompt(t, prompt_format, runtime.tokenizer) for t in tests]
    special = prompt_format == "plain"
    keys = [digest(runtime.fingerprint, p, max_new_tokens, prompt_format, STOP_SEQUENCES) for p in prompts]
    missing = sorted({(k, p) for k, p in zip(keys, prompts, strict=True) if k not in cache.items})
    if missing:
        fresh = answer(runtime, [p for _, p in missing], max_new_tokens, add_special_tokens=special)
        cache.items.update({k: a for (k, _), a in zip(missing, fresh, strict=True)})
        cache.save()
    base = [cache.items[k] for k in keys]
    tuned = answer_with_adapter(runtime, adapter_dir, prompts, max_new_tokens, add_special_tokens=special)
    answers = [
        Answer(instruction=t.instruction, context=t.context, expected=t.answer, base=b, finetuned=f)
        for t, b, f in zip(tests, base, tuned, strict=True)
    ]
    return GenerationRecord(
        group=name,
        answers=answers,
        max_new_tokens=max_new_tokens,
        prompt_format=prompt_format,
        base_cache_hits=len(prompts) - len(missing),
        seconds=round(time.monotonic() - started, 2),
    )
