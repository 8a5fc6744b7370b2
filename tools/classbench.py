"""classbench: the class engine (cotrain + mixgen) against one group after another (train.run + generate.run).

Both ways run in one process on one loaded base model, on the same synthetic class: groups of different sizes,
batch x accumulation, ranks, include_mlp and epochs, overlapping test questions. Printed per stage: wall
seconds, training tokens/s, peak memory (CUDA: allocator peak; CPU: the process's resident set, sampled), and
the ratio; with CUDA the model FLOPs utilisation of co-training (training tokens x 4 x parameters / time / the
GPU's bf16 peak: a LoRA step's forward and its backward through the frozen weights). Timings only.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.layout import examples_dir

SIZES = (8, 40, 16, 24, 12, 48, 20, 32)  # samples per group: small and large groups in one class
SHAPES = ((4, 1), (2, 2), (1, 4), (8, 1))  # per_device_train_batch_size x gradient_accumulation_steps


def synthetic_class(n_groups: int, max_length: int, max_new_tokens: int) -> list[tuple[str, Any, Any, list[Any]]]:
    """(name, TrainConfig, samples, tests) per group, from the example data."""
    from grader.config import TrainConfig
    from grader.reading import sample_files

    good = examples_dir() / "good-group"
    pool = sample_files.read_samples(good, ["data/train.jsonl"], [], is_test=False)
    questions = sample_files.read_samples(good, ["tests.jsonl"], [], is_test=True)
    questions += sample_files.read_samples(examples_dir() / "weak-group", ["tests.jsonl"], [], is_test=True)
    groups = []
    for i in range(n_groups):
        n = SIZES[i % len(SIZES)]
        samples = [pool[(i + k) % len(pool)] for k in range(n)]
        rows, accumulation = SHAPES[i % len(SHAPES)]
        cfg = TrainConfig.model_validate(
            {
                "learning_rate": (1e-4, 2e-4, 5e-4)[i % 3],
                "lora_r": (4, 8, 16)[i % 3],
                "lora_alpha": (8, 16, 16)[i % 3],
                "include_mlp": i % 2 == 0,
                "num_train_epochs": (1, 2)[i % 2],
                "per_device_train_batch_size": rows,
                "gradient_accumulation_steps": accumulation,
                "max_length": max_length,
                "max_new_tokens": max_new_tokens,
                "lora_dropout": 0.05,
                "seed": i,
                "bf16": False,
            }
        )
        tests = [questions[(2 * i + k) % len(questions)] for k in range(5)]
        groups.append((f"group-{i + 1:02d}", cfg, samples, tests))
    return groups


class PeakMemory:
    """Peak memory while the block runs: CUDA's allocator peak, or the resident set sampled every 20 ms."""

    def __init__(self, device: str) -> None:
        self.device, self.peak, self._stop = device, 0, threading.Event()

    def __enter__(self) -> PeakMemory:
        import torch

        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        else:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            try:
                rss = int(Path("/proc/self/statm").read_text().split()[1]) * page
            except (OSError, ValueError, IndexError):
                return
            self.peak = max(self.peak, rss)
            self._stop.wait(0.02)

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            self.peak = int(torch.cuda.max_memory_allocated())
        else:
            self._stop.set()
            self._thread.join()


def _timed(device: str, work: Callable[[], Any]) -> tuple[float, int, Any]:
    with PeakMemory(device) as memory:
        started = time.monotonic()
        result = work()
        seconds = time.monotonic() - started
    return seconds, memory.peak, result


def compare(runtime: Any, n_groups: int, work: Path, max_length: int = 256, max_new_tokens: int = 32) -> dict[str, Any]:
    """Both engines on the same class; per engine: train and generate seconds, tokens/s, peak memory."""
    # Imported before either clock starts: whichever engine ran first would otherwise pay seconds of imports.
    import peft  # noqa: F401
    from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    from transformers import Trainer, get_scheduler  # noqa: F401

    from grader.layout import Layout
    from grader.llm import cotrain, generate, mixgen, train
    from grader.llm.prompts import prompt

    groups = synthetic_class(n_groups, max_length, max_new_tokens)
    eos = runtime.eos_ids()[0]
    tokens = 0
    for _, cfg, samples, _ in groups:
        held = train.split(samples, cfg)[0]
        encoded = [e for s in held if (e := train.encode(s, runtime.tokenizer, cfg, eos))]
        tokens += round(cfg.num_train_epochs * sum(len(e.input_ids) for e in encoded))
    device = runtime.device
    solo_layout, class_layout = Layout(work / "per-group"), Layout(work / "class")

    def per_group_train() -> None:
        for name, cfg, samples, _ in groups:
            train.run(name, samples, cfg, runtime, solo_layout)

    def per_group_generate() -> list[str]:
        cache = generate.BaseCache(work / "per-group-base.json")
        out: list[str] = []
        for name, cfg, _, tests in groups:
            record = generate.run(
                name, tests, runtime, solo_layout, adapter_dir=solo_layout.adapter(name),
                max_new_tokens=max_new_tokens, prompt_format=cfg.prompt_format, cache=cache,
            )  # fmt: skip
            out.extend(a.finetuned for a in record.answers)
        return out

    def class_train() -> None:
        jobs = [cotrain.Job(name, samples, cfg) for name, cfg, samples, _ in groups]
        failed = [n for n, r in cotrain.run(jobs, runtime, class_layout).items() if isinstance(r, BaseException)]
        if failed:
            raise RuntimeError(f"co-training failed for {failed}")

    def class_generate() -> list[str]:
        jobs = [
            mixgen.Job(name, tests, class_layout.adapter(name), max_new_tokens, cfg.prompt_format)
            for name, cfg, _, tests in groups
        ]
        records = mixgen.run(jobs, runtime, generate.BaseCache(work / "class-base.json"))
        return [a.finetuned for name, *_ in groups for a in records[name].answers]

    results: dict[str, Any] = {"groups": n_groups, "train_tokens": tokens, "device": device}
    for engine, train_fn, generate_fn in (
        ("per-group", per_group_train, per_group_generate),
        ("class", class_train, class_generate),
    ):
        train_s, train_peak, _ = _timed(device, train_fn)
        gen_s, gen_peak, _ = _timed(device, generate_fn)
        results[engine] = {
            "train_seconds": train_s,
            "train_tokens_per_s": tokens / train_s,
            "train_peak_bytes": train_peak,
            "generate_seconds": gen_s,
            "generate_peak_bytes": gen_peak,
            "total_seconds": train_s + gen_s,
        }
    rows = sum(len(g[3]) for g in groups)
    results["answers"] = rows
    results["distinct_prompts"] = len({prompt(t, g[1].prompt_format) for g in groups for t in g[3]})
    if device == "cuda":
        from tools.bench import PEAK_BF16_FLOPS

        params = sum(p.numel() for n, p in runtime.model.named_parameters() if "embed_tokens" not in n)
        results["class"]["mfu"] = tokens * 4 * params / results["class"]["train_seconds"] / PEAK_BF16_FLOPS
    return results


def report(result: dict[str, Any]) -> str:
    one, together = result["per-group"], result["class"]

    def mib(n: int) -> str:
        return f"{n / 2**20:,.0f} MiB"

    lines = [
        f"class engine vs per-group, {result['groups']} groups on {result['device']} "
        f"({result['train_tokens']:,} training tokens, {result['answers']} answers):",
        f"  train:    per-group {one['train_seconds']:.1f} s ({one['train_tokens_per_s']:,.0f} tokens/s, peak "
        f"{mib(one['train_peak_bytes'])}); class {together['train_seconds']:.1f} s "
        f"({together['train_tokens_per_s']:,.0f} tokens/s, peak {mib(together['train_peak_bytes'])}): "
        f"{one['train_seconds'] / together['train_seconds']:.1f}x",
        f"  generate: per-group {one['generate_seconds']:.1f} s (peak {mib(one['generate_peak_bytes'])}); "
        f"mixed-adapter {together['generate_seconds']:.1f} s (peak {mib(together['generate_peak_bytes'])}): "
        f"{one['generate_seconds'] / together['generate_seconds']:.1f}x",
        f"  train + generate: per-group {one['total_seconds']:.1f} s, class {together['total_seconds']:.1f} s: "
        f"{one['total_seconds'] / together['total_seconds']:.1f}x",
    ]
    if "mfu" in together:
        lines.append(f"  co-training model FLOPs utilisation: {together['mfu']:.1%} of the GPU's bf16 peak")
    return "\n".join(lines)
