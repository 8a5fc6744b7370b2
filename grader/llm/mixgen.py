"""mixgen: every group's fine-tuned answers in shared batches, each row with its own adapter (the class engine).

All groups' adapters go into the co-trainer's multi-LoRA layers around the shared base (PeftModel with
`adapter_names=` for an adapter those layers do not apply as PEFT would); the rows of all groups are batched by
length as `generate.answer` batches one group's, each adapter's rows one slice of every batch. Greedy,
so a row's answer is the one its group gets alone (tests/test_mixgen.py). One exception, PEFT's own: on a bf16
base its mixed-batch path rounds each LoRA term to bf16 before adding it, its single-adapter path adds it in
fp32, so the PEFT fallback may differ from a group's own answers there (the multi-LoRA layers add as the
single-adapter path does, and the class engine's adapters on an unquantized base always take them). Base
answers go through `generate.fill_base` once for the whole class: once per distinct question.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    """The fine-tuned answers of every request, in order; rows of all requests share batches. Plain LoRA adapters
    (all that grader trains, and most that groups commit) go into the co-trainer's multi-LoRA layers; any other
    sends the whole class through PEFT's `adapter_names=`. The base model is given back unchanged."""
    if not requests:
        return []
    loaded = [plain_lora(r.adapter_dir, runtime.model) for r in requests]
    if any(isinstance(one, str) for one in loaded):
        return _answer_all_peft(runtime, requests, batch_size=batch_size)
    return _answer_all_layers(runtime, requests, [one for one in loaded if not isinstance(one, str)], batch_size)


def _settings(requests: list[Request]) -> dict[tuple[int, bool], list[tuple[int, int]]]:
    """(request, prompt) pairs by the generation settings they share: one batched pass per setting."""
    settings: dict[tuple[int, bool], list[tuple[int, int]]] = {}
    for k, request in enumerate(requests):
        key = (request.max_new_tokens, request.add_special_tokens)
        settings.setdefault(key, []).extend((k, i) for i in range(len(request.prompts)))
    return settings


def _answer_all_layers(
    runtime: Runtime, requests: list[Request], loaded: list[Loaded], batch_size: int | None
) -> list[list[str]]:
    """Each batch's rows ordered by adapter, each adapter's rows one contiguous slice of the multi-LoRA layers
    (eval mode: no dropout), as the co-trainer runs them: no per-row grouping at every layer and decoding step."""
    from grader.llm.multilora import Adapter, Slots, unwrap, wrap

    names = [f"g{k}" for k in range(len(requests))]
    slots = Slots()
    was_training = runtime.model.training
    wrapped = wrap(runtime.model, sorted({path for _, pairs in loaded for path in pairs}), slots)
    try:
        for name, (scaling, pairs) in zip(names, loaded, strict=True):
            for path, (a, b) in pairs.items():
                wrapped[path].adapters[name] = Adapter(a, b, scaling)
        runtime.model.eval()
        results: list[list[str]] = [[""] * len(r.prompts) for r in requests]
        for (max_new, special), rows in _settings(requests).items():

            def arrange(chunk: list[int], rows: list[tuple[int, int]] = rows) -> list[int]:
                ordered = sorted(chunk, key=lambda j: rows[j][0])
                slices: list[tuple[str, int, int]] = []
                for at, j in enumerate(ordered):
                    owner = names[rows[j][0]]
                    if slices and slices[-1][0] == owner:
                        slices[-1] = (owner, slices[-1][1], at + 1)
                    else:
                        slices.append((owner, at, at + 1))
                slots.set(slices, [])
                return ordered

            texts = generate.answer(
                runtime,
                [requests[k].prompts[i] for k, i in rows],
                max_new,
                add_special_tokens=special,
                batch_size=batch_size,
                arrange=arrange,
            )
            for (k, i), text in zip(rows, texts, strict=True):
                results[k][i] = text
        return results
    finally:
        slots.set([], [])
        unwrap(runtime.model, wrapped)
        runtime.model.train(was_training)


Loaded = tuple[float, dict[str, tuple[Any, Any]]]  # scaling, {layer path: (A, B)}


def plain_lora(folder: Path, model: Any) -> Loaded | str:
    """A LoRA adapter the multi-LoRA layers apply exactly as PEFT does: (scaling, {layer path: (A, B)}), fp32 on
    the model's device as PEFT loads them; or why not (then PEFT loads it)."""
    import json

    import torch
    from safetensors.torch import load_file

    from grader.llm.adapter import LORA_KEY, MAX_CONFIG_BYTES

    config_path, weights_path = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    try:
        if config_path.stat().st_size > MAX_CONFIG_BYTES or not weights_path.is_file():
            return "no adapter_config.json within its size limit, or no adapter_model.safetensors"
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"adapter_config.json unreadable: {exc}"
    if not isinstance(raw, dict):
        return "adapter_config.json is not an object"
    why = _not_plain(raw)
    if why:
        return why
    r, alpha = raw["r"], raw.get("lora_alpha", 8)
    scaling = alpha / math.sqrt(r) if raw.get("use_rslora") else alpha / r
    device = model.get_input_embeddings().weight.device
    modules = dict(model.named_modules())
    found: dict[str, dict[str, Any]] = {}
    for key, tensor in load_file(str(weights_path)).items():
        match = LORA_KEY.match(key)
        if match is None:
            return f"{key[:80]} is not a LoRA A/B weight"
        found.setdefault(match["module"], {})[match["ab"]] = tensor.to(device, torch.float32)
    pairs: dict[str, tuple[Any, Any]] = {}
    for path, ab in found.items():
        base = modules.get(path)
        # A 4-bit layer's LoRA term PEFT rounds to the compute dtype before scaling it: PEFT applies that one.
        if type(base) is not torch.nn.Linear or set(ab) != {"A", "B"}:
            return f"{path[:80]} is not a plain (unquantized) linear layer with both LoRA matrices"
        a, b = ab["A"], ab["B"]
        if a.shape != (r, base.in_features) or b.shape != (base.out_features, r):
            return f"{path[:80]}: LoRA shapes {tuple(a.shape)}, {tuple(b.shape)} do not fit rank {r}"
        pairs[path] = (a, b)
    return (scaling, pairs) if pairs else "no LoRA weights"


def _not_plain(raw: dict[str, Any]) -> str | None:
    """What in the config PEFT would apply differently from `B(A(x)) * scaling` on the named linear layers."""
    rank = raw.get("r")
    if raw.get("peft_type") != "LORA" or not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        return "not a LoRA config with an integer rank"
    if not isinstance(raw.get("lora_alpha", 8), int | float) or isinstance(raw.get("lora_alpha", 8), bool):
        return "lora_alpha is not a number"
    for key in ("fan_in_fan_out", "use_dora", "modules_to_save", "rank_pattern", "alpha_pattern",
                "layers_to_transform", "lora_bias", "trainable_token_indices"):  # fmt: skip
        if raw.get(key):
            return f"{key} is set"
    if raw.get("bias", "none") != "none":
        return "bias is not none"
    return None


def _answer_all_peft(runtime: Runtime, requests: list[Request], *, batch_size: int | None) -> list[list[str]]:
    """All adapters on one PeftModel around the shared base, each row with its own through `adapter_names=`."""
    from peft import PeftModel

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
        results: list[list[str]] = [[""] * len(r.prompts) for r in requests]
        for (max_new, special), rows in _settings(requests).items():
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
