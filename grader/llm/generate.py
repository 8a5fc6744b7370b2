"""generate: test questions -> base and fine-tuned answers (GenerationRecord).

Batched, greedy, left-padded, with explicit stop sequences and `max_new_tokens`. Base answers are cached per
distinct prompt (keyed by base model fingerprint + prompt + settings), so a class that shares test questions, or
a re-run, computes each once. The adapter is put into the shared base model and taken out again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.layout import Layout
from grader.llm.loader import Runtime, free_cuda, out_of_memory
from grader.llm.prompts import STOP_SEQUENCES, cut_at_stop, prompt
from grader.records import Answer, GenerationRecord, Sample
from grader.storage import digest, locked, write_atomic

MAX_BATCH = {"cpu": 8, "cuda": 64}
TOKEN_BUDGET = {"cpu": 8192, "cuda": 131072}  # (prompt width + new tokens) x rows: bounds the KV cache of a batch
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


def batches(lengths: list[int], max_new_tokens: int, max_batch: int, budget: int) -> list[list[int]]:
    """Prompt indices grouped shortest first; a batch grows while rows x (widest prompt + new tokens) fits."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for i in order:
        current = groups[-1] if groups else None
        if current and len(current) < max_batch and (len(current) + 1) * (lengths[i] + max_new_tokens) <= budget:
            current.append(i)
        else:
            groups.append([i])
    return groups


def answer(
    runtime: Runtime,
    prompts: list[str],
    max_new_tokens: int,
    *,
    batch_size: int | None = None,
    add_special_tokens: bool = True,
    adapter_names: list[str] | None = None,
    arrange: Callable[[list[int]], list[int]] | None = None,
) -> list[str]:
    """Greedy answers for prompts, in their order, in batches of similar length sized to the device.
    `adapter_names` (one per prompt) answers each with its own adapter of a PeftModel holding several;
    `arrange` gets each batch's prompt indices before it runs and gives them back in the order the batch's rows
    take (mixgen.py puts each adapter's rows together there and tells its layers which rows are whose)."""
    tokenizer = runtime.tokenizer
    tokenizer.padding_side = "left"
    device = "cuda" if runtime.device == "cuda" else "cpu"
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=add_special_tokens)["input_ids"]]
    groups = batches(lengths, max_new_tokens, batch_size or MAX_BATCH[device], TOKEN_BUDGET[device])
    results: dict[int, str] = {}
    while groups:
        chunk = groups.pop(0)
        if arrange is not None:
            chunk = arrange(chunk)
        try:
            names = [adapter_names[i] for i in chunk] if adapter_names is not None else None
            texts = _generate(runtime, [prompts[i] for i in chunk], max_new_tokens, add_special_tokens, names)
        except Exception as exc:  # out of GPU memory: halve the batch and go on, down to one prompt
            if not out_of_memory(exc) or len(chunk) == 1:
                raise
            free_cuda()
            half = len(chunk) // 2
            groups[:0] = [chunk[:half], chunk[half:]]
            continue
        results.update({i: cut_at_stop(text) for i, text in zip(chunk, texts, strict=True)})
    return [results[i] for i in range(len(prompts))]


def _generate(
    runtime: Runtime,
    prompts: list[str],
    max_new_tokens: int,
    add_special_tokens: bool,
    adapter_names: list[str] | None = None,
) -> list[str]:
    """Greedy answers of one batch; `adapter_names` (one per row) picks each row's LoRA adapter on a PeftModel
    holding several (mixgen.py)."""
    import torch
    from transformers import GenerationConfig, StoppingCriteriaList

    tokenizer = runtime.tokenizer
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=runtime.eos_ids(),
    )
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=add_special_tokens).to(
        runtime.model.device
    )
    width = enc["input_ids"].shape[1]
    per_row = {"adapter_names": adapter_names} if adapter_names is not None else {}
    with torch.inference_mode():
        out = runtime.model.generate(
            **enc,
            generation_config=config,
            stopping_criteria=StoppingCriteriaList([StopOnText(tokenizer, width)]),
            **per_row,
        )
    texts: list[str] = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return texts


def answer_with_adapter(
    runtime: Runtime,
    adapter_dir: Path,
    prompts: list[str],
    max_new_tokens: int,
    *,
    add_special_tokens: bool = True,
    batch_size: int | None = None,
) -> list[str]:
    """Answers with the adapter put into the shared base model, which gets it taken out again afterwards."""
    from peft import PeftModel

    # Adapters load from safetensors only; the folder was written by train (or checked and copied by adapter.py).
    peft_model = PeftModel.from_pretrained(runtime.model, str(adapter_dir), is_trainable=False, use_safetensors=True)
    try:
        peft_model.eval()
        tuned = Runtime(**{**runtime.__dict__, "model": peft_model})
        return answer(tuned, prompts, max_new_tokens, add_special_tokens=add_special_tokens, batch_size=batch_size)
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
        """Merged with what is on disk, under a lock: the shards of a run add to one cache, none loses another's."""
        with locked(self.path.with_name(self.path.name + ".lock")):
            try:
                on_disk = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                on_disk = {}
            if isinstance(on_disk, dict):
                self.items = {**on_disk, **self.items}
            write_atomic(self.path, json.dumps(self.items, ensure_ascii=False, sort_keys=True).encode())


def base_key(fingerprint: str, prompt_text: str, max_new_tokens: int, prompt_format: str) -> str:
    return digest(fingerprint, prompt_text, max_new_tokens, prompt_format, STOP_SEQUENCES)


Wanted = dict[str, tuple[str, int, str]]  # cache key -> (prompt, max_new_tokens, prompt_format)


def fill_base(runtime: Runtime, cache: BaseCache, wanted: Wanted) -> int:
    """Compute the base answers missing from the cache, all prompts of one setting in one batched pass."""
    by_setting: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for key, (text, max_new, fmt) in sorted(wanted.items()):
        if key not in cache.items:
            by_setting.setdefault((max_new, fmt), []).append((key, text))
    for (max_new, fmt), items in by_setting.items():
        fresh = answer(runtime, [text for _, text in items], max_new, add_special_tokens=fmt == "plain")
        cache.items.update({key: text for (key, _), text in zip(items, fresh, strict=True)})
    if by_setting:
        cache.save()
    return sum(len(items) for items in by_setting.values())


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
    keys = [base_key(runtime.fingerprint, p, max_new_tokens, prompt_format) for p in prompts]
    computed = fill_base(
        runtime, cache, {k: (p, max_new_tokens, prompt_format) for k, p in zip(keys, prompts, strict=True)}
    )
    base = [cache.items[k] for k in keys]
    special = prompt_format == "plain"
    tuned = answer_with_adapter(runtime, adapter_dir, prompts, max_new_tokens, add_special_tokens=special)
    answers = [
        Answer(
            instruction=t.instruction,
            context=t.context,
            expected=t.answer,
            base=b,
            finetuned=f,
            reported=t.reported,
            reported_base=t.reported_base,
            source=t.source,
        )
        for t, b, f in zip(tests, base, tuned, strict=True)
    ]
    return GenerationRecord(
        group=name,
        answers=answers,
        max_new_tokens=max_new_tokens,
        prompt_format=prompt_format,
        base_cache_hits=len(set(keys)) - computed,
        seconds=round(time.monotonic() - started, 2),
    )
