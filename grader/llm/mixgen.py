"""mixgen: every group's fine-tuned answers in shared batches, each row with its own adapter (the class engine).

All groups' adapters are loaded onto one PeftModel around the shared base; the rows of all groups are batched by
length as `generate.answer` batches one group's, and PEFT's `adapter_names=` applies each row's own LoRA. Greedy,
so a row's answer is the one its group gets alone (tests/test_mixgen.py). Base answers go through
`generate.fill_base` once for the whole class: once per distinct question.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from grader.llm import generate
from grader.llm.generate import BaseCache, base_key, fill_base
from grader.llm.loader import Runtime
from grader.llm.prompts import prompt
from grader.records import Answer, GenerationRecord, Sample

# Rows per mixed batch (the token budget of generate.batches still bounds rows x width): a class's rows fill
# wider batches than one group's few questions, and each decoding step's fixed cost is paid once for all of them.
MIXED_ROWS = 64


@dataclass(frozen=True)
class Request:
    """One group's prompts and the adapter that answers them."""

    adapter_dir: Path
    prompts: list[str]
    max_new_tokens: int
    add_special_tokens: bool


def answer_all(runtime: Runtime, requests: list[Request], *, batch_size: int | None = None) -> list[list[str]]:
    """The fine-tuned answers of every request, in order; rows of all requests share batches. The adapters are
    taken out of the shared base model again afterwards."""
    from peft import PeftModel

    if not requests:
        return []
    # Adapter names are ours ("g0", "g1", ...): a group's own name may hold characters PEFT does not accept.
    names = [f"g{k}" for k in range(len(requests))]
    peft_model = PeftModel.from_pretrained(
        runtime.model, str(requests[0].adapter_dir), adapter_name=names[0], is_trainable=False, use_safetensors=True
    )
    try:
        for name, request in zip(names[1:], requests[1:], strict=True):
            peft_model.load_adapter(str(request.adapter_dir), adapter_name=name, is_trainable=False)
        peft_model.eval()
        tuned = Runtime(**{**runtime.__dict__, "model": peft_model})
        settings: dict[tuple[int, bool], list[tuple[int, int]]] = {}
        for k, request in enumerate(requests):
            key = (request.max_new_tokens, request.add_special_tokens)
            settings.setdefault(key, []).extend((k, i) for i in range(len(request.prompts)))
        results: list[list[str]] = [[""] * len(r.prompts) for r in requests]
        for (max_new, special), rows in settings.items():
            texts = generate.answer(
                tuned,
                [requests[k].prompts[i] for k, i in rows],
                max_new,
                add_special_tokens=special,
                batch_size=batch_size,
                adapter_names=[names[k] for k, _ in rows],
            )
            for (k, i), text in zip(rows, texts, strict=True):
                results[k][i] = text
        return results
    finally:
        runtime.model = peft_model.unload()


@dataclass(frozen=True)
class Job:
    """One group's generation stage: what `generate.run` takes."""

    name: str
    tests: list[Sample]
    adapter_dir: Path
    max_new_tokens: int
    prompt_format: str


def run(jobs: list[Job], runtime: Runtime, cache: BaseCache) -> dict[str, GenerationRecord]:
    """Every job's GenerationRecord as `generate.run` makes it, from one base pass and one mixed-adapter pass.
    A base answer computed now counts as a cache miss for the first group that asks for it, as in a run of
    one group after another; each record's seconds is its share (by rows) of the class's time."""
    started = time.monotonic()
    prompts = [[prompt(t, job.prompt_format, runtime.tokenizer) for t in job.tests] for job in jobs]
    keys = [
        [base_key(runtime.fingerprint, p, job.max_new_tokens, job.prompt_format) for p in texts]
        for job, texts in zip(jobs, prompts, strict=True)
    ]
    missing = {k for group in keys for k in group if k not in cache.items}
    wanted = {
        k: (p, job.max_new_tokens, job.prompt_format)
        for job, texts, group in zip(jobs, prompts, keys, strict=True)
        for k, p in zip(group, texts, strict=True)
    }
    fill_base(runtime, cache, wanted)
    requests = [
        Request(job.adapter_dir, texts, job.max_new_tokens, job.prompt_format == "plain")
        for job, texts in zip(jobs, prompts, strict=True)
    ]
    tuned = answer_all(runtime, requests, batch_size=MIXED_ROWS)
    seconds = time.monotonic() - started
    total_rows = max(sum(len(job.tests) for job in jobs), 1)
    records: dict[str, GenerationRecord] = {}
    for job, group, answers in zip(jobs, keys, tuned, strict=True):
        computed = set(group) & missing
        missing -= computed
        records[job.name] = GenerationRecord(
            group=job.name,
            answers=[
                Answer(
                    instruction=t.instruction,
                    context=t.context,
                    expected=t.answer,
                    base=cache.items[k],
                    finetuned=f,
                    reported=t.reported,
                    reported_base=t.reported_base,
                    source=t.source,
                )
                for t, k, f in zip(job.tests, group, answers, strict=True)
            ],
            max_new_tokens=job.max_new_tokens,
            prompt_format=job.prompt_format,
            base_cache_hits=len(set(group)) - len(computed),
            seconds=round(seconds * len(job.tests) / total_rows, 2),
        )
    return records
