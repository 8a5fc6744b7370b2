"""bench: how much faster the batch path is than the naive one, and (with CUDA) how close it runs to the hardware.

`python -m tools.bench` (the nox session `bench`) grades N synthetic groups two ways in one run:
- batch: one `grader grade` process; the base model loads once, base answers for all groups in one batched pass,
  fine-tuned answers batched per group;
- naive: a fresh process per group that loads the model, trains, then answers one question at a time with the
  base and the fine-tuned model (and scores, grades and renders the same deliverables).
It prints per-stage seconds for both and their ratio. `--gpu` adds the Llama-3.1-8B-shaped benchmark (random
weights): load time, training and generation tokens/s in bf16 and 4-bit NF4, against the GPU's physical limits.
Timings only: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grader.layout import examples_dir

STAGES = ("other", "load", "train", "generate", "render", "total")
PEAK_BF16_FLOPS = 790e12  # H100 SXM dense bf16, as measured here (about 790 TFLOP/s)
PEAK_BYTES_PER_S = 3.0e12  # H100 HBM3, about 3 TB/s; other cards: MEMORY_BYTES_PER_S by name
# Memory bandwidth by card (device-to-device copies as measured, else the datasheet): what bounds batch-1 decoding.
MEMORY_BYTES_PER_S = {"H200": 4.3e12, "H100": 3.0e12, "A100": 1.9e12}


def peak_bytes_per_s(device: str) -> float:
    """The memory bandwidth of the card in use (the H100 figure when the card is not in the table)."""
    import torch

    if device != "cuda":
        return PEAK_BYTES_PER_S
    name = torch.cuda.get_device_name()
    return next((v for k, v in MEMORY_BYTES_PER_S.items() if k in name), PEAK_BYTES_PER_S)


LLAMA_8B = {
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 8192,
    "rope_theta": 500000.0,
}


# ---- synthetic class -------------------------------------------------------------------------------------------


def make_groups(folder: Path, n: int) -> list[Path]:
    """N groups from the example data: same 24 samples in another order, 5 of a shared pool of 11 test questions
    (a class overlaps in what it asks), and per-group learning rate, rank and seed."""
    from grader.reading import sample_files

    good = examples_dir() / "good-group"
    samples = sample_files.read_samples(good, ["data/train.jsonl"], [], is_test=False)
    pool = sample_files.read_samples(good, ["tests.jsonl"], [], is_test=True)
    pool += sample_files.read_samples(examples_dir() / "weak-group", ["tests.jsonl"], [], is_test=True)
    groups = []
    for i in range(n):
        group = folder / f"group-{i + 1:02d}"
        (group / "data").mkdir(parents=True)
        order = samples[i % len(samples) :] + samples[: i % len(samples)]
        tests = [pool[(2 * i + k) % len(pool)] for k in range(5)]
        _write_jsonl(group / "data" / "train.jsonl", order)
        _write_jsonl(group / "tests.jsonl", tests)
        config = {
            "learning_rate": (1e-4, 2e-4, 5e-4)[i % 3],
            "lora_r": (4, 8, 16)[i % 3],
            "num_train_epochs": 1,
            "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 1,
            "max_length": 512,
            "seed": i,
        }
        (group / "config.yaml").write_text("".join(f"{k}: {v}\n" for k, v in config.items()), encoding="utf-8")
        groups.append(group)
    return groups


def _write_jsonl(path: Path, samples: list[Any]) -> None:
    rows = [s.model_dump(exclude={"source"}) for s in samples]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


# ---- the two paths ---------------------------------------------------------------------------------------------


def _python(*args: str) -> tuple[float, str]:
    started = time.monotonic()
    root = Path(__file__).resolve().parents[1]  # `-m tools.bench` is found from the checkout
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=os.environ.copy(), cwd=root)
    wall = time.monotonic() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(args[:3])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, done.stdout


def batch_path(submissions: Path, out: Path, max_new_tokens: int) -> dict[str, float]:
    """`grader grade` once for the class; stage times from batch.json and the groups' records."""
    wall, _ = _python(
        "-m", "grader", "grade", str(submissions), "--out", str(out), "--quiet", "--max-new-tokens", str(max_new_tokens)
    )
    info = json.loads((out / "batch.json").read_text())
    times = {"load": info["load_seconds"], "train": 0.0, "generate": info["base_answers_seconds"], "render": 0.0}
    for group in submissions.iterdir():
        for stage, key in (("train", "train"), ("generate", "generate"), ("render", "render")):
            record = out / group.name / f"{stage}.json"
            if record.is_file():
                times[key] += json.loads(record.read_text())["seconds"]
    return _with_other(times, wall)


def naive_path(groups: list[Path], out: Path, max_new_tokens: int) -> dict[str, float]:
    """A fresh process per group; the stage times are summed over the groups."""
    totals = dict.fromkeys(STAGES, 0.0)
    for group in groups:
        wall, stdout = _python("-m", "tools.bench", "naive-one", str(group), str(out), str(max_new_tokens))
        for stage, seconds in _with_other(json.loads(stdout.strip().splitlines()[-1]), wall).items():
            totals[stage] += seconds
    return totals


def _with_other(times: dict[str, float], wall: float) -> dict[str, float]:
    """What the stages did not account for: interpreter start, imports, validation, plots, gradebook."""
    return {"other": max(wall - sum(times.values()), 0.0), **times, "total": wall}


def naive_one(group_dir: Path, out: Path, max_new_tokens: int) -> dict[str, float]:
    """The naive way for one group: load, train, one question at a time, then the same deliverables."""
    from grader.config import TrainConfig
    from grader.layout import Layout
    from grader.llm import loader as model
    from grader.llm import train
    from grader.llm.prompts import prompt
    from grader.measure import grade, score
    from grader.outputs import plots, render, report
    from grader.reading import sample_files, validate
    from grader.records import Answer, GenerationRecord, GroupRecord

    times: dict[str, float] = {}
    started = time.monotonic()
    runtime = model.load("demo")
    times["load"] = time.monotonic() - started
    layout, name = Layout(out), group_dir.name
    validation = validate.run(group_dir, name, layout)
    started = time.monotonic()
    record = train.run(
        name,
        sample_files.load_samples(layout.samples(name)),
        validation.config or TrainConfig.model_validate({}),
        runtime,
        layout,
    )
    times["train"] = time.monotonic() - started
    started = time.monotonic()
    tests = sample_files.load_samples(layout.tests(name))
    prompts = [prompt(t) for t in tests]
    base = [generate_one(runtime, p, max_new_tokens) for p in prompts]
    tuned = [generate_one(runtime, p, max_new_tokens, layout.adapter(name)) for p in prompts]
    times["generate"] = time.monotonic() - started
    started = time.monotonic()
    answers = [
        Answer(instruction=t.instruction, context=t.context, expected=t.answer, base=b, finetuned=f)
        for t, b, f in zip(tests, base, tuned, strict=True)
    ]
    scored = score.run(GenerationRecord(group=name, answers=answers))
    graded = grade.run(name, grade.load_rubric(), grade.Inputs(validation, record, scored, None))
    group = GroupRecord(group=name, path=str(group_dir))
    plot = plots.training_plot(record, layout.plot(name, "training"))
    data = report.build(
        group, status="graded", validation=validation, train=record, score=scored, grade=graded, plot=plot
    )
    render.run(data, layout, name)
    times["render"] = time.monotonic() - started
    return times


def generate_one(runtime: Any, text: str, max_new_tokens: int, adapter_dir: Path | None = None) -> str:
    from grader.llm import generate

    if adapter_dir is None:
        return generate.answer(runtime, [text], max_new_tokens, batch_size=1)[0]
    return generate.answer_with_adapter(runtime, adapter_dir, [text], max_new_tokens, batch_size=1)[0]


def cpu_benchmark(n_groups: int, max_new_tokens: int, work: Path) -> dict[str, dict[str, Any]]:
    groups = make_groups(work / "class", n_groups)
    _demo_model()  # built before the clocks start, so neither path pays for it
    batch = batch_path(work / "class", work / "batch", max_new_tokens)
    loads = json.loads((work / "batch" / "batch.json").read_text())["model_loads"]
    naive = naive_path(groups, work / "naive", max_new_tokens)
    return {"batch": batch, "naive": naive, "model_loads": {"batch": loads, "naive": len(groups)}}


def _demo_model() -> Path:
    from grader.llm.tiny_llama import demo_model_dir

    return demo_model_dir()


def print_ratio(result: dict[str, dict[str, Any]], n_groups: int) -> str:
    lines = [f"{n_groups} groups, seconds per stage (summed over groups)", f"{'stage':<10}{'batch':>10}{'naive':>10}"]
    for stage in STAGES:
        batch, naive = result["batch"][stage], result["naive"][stage]
        ratio = f"{naive / batch:>8.1f}x" if batch > 0.005 else f"{'':>9}"
        lines.append(f"{stage:<10}{batch:>10.2f}{naive:>10.2f}{ratio}")
    lines.append(f"the batch path is {result['naive']['total'] / result['batch']['total']:.1f}x faster end to end")
    return "\n".join(lines)


# ---- micro-batches: the group's literal 1 x 16 against grader's regrouping -------------------------------------


def batching_speed(runtime: Any, work: Path, n_samples: int = 48, epochs: int = 2) -> dict[str, dict[str, Any]]:
    """Training tokens/s with the course's default batches (1 x 16) run literally, and as grader plans them (the
    same optimizer steps, more rows per forward pass). Real example data, the runtime's model."""
    from grader.config import TrainConfig
    from grader.layout import Layout
    from grader.llm import train
    from grader.reading import sample_files

    good = examples_dir() / "good-group"
    pool = sample_files.read_samples(good, ["data/train.jsonl"], [], is_test=False)
    samples = [pool[i % len(pool)] for i in range(n_samples)]
    cfg = TrainConfig.model_validate(
        {"num_train_epochs": epochs, "eval_ratio": 0, "bf16": runtime.device == "cuda", "max_length": 512}
    )
    eos = runtime.eos_ids()[0]
    tokens = epochs * sum(len(e.input_ids) for s in samples if (e := train.encode(s, runtime.tokenizer, cfg, eos)))
    literal = train.Plan(cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps, sort_in_step=False)
    results: dict[str, dict[str, Any]] = {}
    for label, plan in (("literal", literal), ("planned", None)):
        record = train.run("bench", samples, cfg, runtime, Layout(work / label), plan=plan)
        results[label] = {
            "seconds": record.seconds,
            "tokens_per_s": tokens / record.seconds,
            "train_loss": record.train_loss if record.train_loss is not None else math.nan,
            "steps": record.steps,
        }
        results[label]["plan"] = next(n for n in record.notes if "x accumulation" in n or "as the group set" in n)
    return results


def print_batching(result: dict[str, dict[str, Any]], device: str) -> str:
    literal, planned = result["literal"], result["planned"]
    return "\n".join(
        [
            f"training on {device}, the course's 1 x 16 batches: literal {literal['tokens_per_s']:,.0f} tokens/s, "
            f"regrouped {planned['tokens_per_s']:,.0f} tokens/s "
            f"({planned['tokens_per_s'] / literal['tokens_per_s']:.1f}x; {literal['steps']} optimizer steps both, "
            f"train loss {literal['train_loss']:.4f} vs {planned['train_loss']:.4f})",
            f"  {planned['plan']}",
        ]
    )


# ---- the GPU benchmark -----------------------------------------------------------------------------------------


def build_random_model(folder: Path, shape: dict[str, Any], device: str) -> Path:
    """A Llama with the given shape and random bf16 weights, saved like a checkpoint beside the demo tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    demo = _demo_model()
    folder.mkdir(parents=True, exist_ok=True)
    for item in demo.iterdir():
        if item.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            shutil.copy(item, folder / item.name)
    bos_eos = json.loads((demo / "config.json").read_text())
    config = LlamaConfig(
        bos_token_id=bos_eos["bos_token_id"], eos_token_id=bos_eos["eos_token_id"], tie_word_embeddings=False, **shape
    )
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # 8B random weights built in bf16, never in fp32
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.save_pretrained(folder, safe_serialization=True)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return folder


def training_speed(runtime: Any, work: Path, n_samples: int, tokens: int) -> dict[str, float]:
    """Tokens/s of `train.run` (the grader's own path, setup included) with the course's batch 1 x 16."""
    from grader.config import TrainConfig
    from grader.layout import Layout
    from grader.llm import train
    from grader.records import Sample

    filler = " ".join(["hyperspectral"] * tokens)
    ids = runtime.tokenizer(filler, add_special_tokens=False)["input_ids"]
    context = runtime.tokenizer.decode(ids[: max(tokens - 60, 8)])
    samples = [
        Sample(system="You are a geologist.", instruction=f"Question {i}?", context=context, answer="An answer " * 8)
        for i in range(n_samples)
    ]
    cfg = TrainConfig.model_validate(
        {"max_length": tokens + 64, "eval_ratio": 0, "bf16": runtime.device == "cuda", "logging_steps": 1}
    )
    eos = runtime.eos_ids()[0]
    trained_tokens = sum(len(e.input_ids) for s in samples if (e := train.encode(s, runtime.tokenizer, cfg, eos)))
    record = train.run("bench", samples, cfg, runtime, Layout(work))
    seconds = record.seconds
    # Forward 2N, backward through the frozen weights 2N, the recomputed forward of checkpointing 2N more; N counts
    # the matmul weights (an embedding lookup costs no FLOPs; a packed 4-bit element holds two weights).
    params = sum(
        p.numel() * (2 if type(p).__name__ == "Params4bit" else 1)
        for n, p in runtime.model.named_parameters()
        if "embed_tokens" not in n
    )
    flops_per_token = (6 if runtime.device == "cuda" and cfg.gradient_checkpointing else 4) * params
    achieved = trained_tokens * flops_per_token / seconds
    return {
        "train_tokens": trained_tokens,
        "train_seconds": seconds,
        "train_tokens_per_s": trained_tokens / seconds,
        "train_tflops": achieved / 1e12,
        "train_fraction_of_peak": achieved / PEAK_BF16_FLOPS,
    }


def generation_speed(runtime: Any, batch: int, prompt_tokens: int, new_tokens: int) -> dict[str, float]:
    """Greedy decoding of exactly `new_tokens` per row (min = max), timed after a short warm-up."""
    import torch

    model = runtime.model
    vocab = len(runtime.tokenizer)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (batch, prompt_tokens), generator=generator).to(model.device)
    kwargs = {"do_sample": False, "pad_token_id": runtime.tokenizer.pad_token_id}  # min = max: EOS cannot end a row
    with torch.inference_mode():
        # warm up at the timed shapes: the first call at a new batch and prompt length pays a one-time cost of
        # seconds on CUDA (measured on an H200: 88 then 22 ms per step), which must not land in the timing
        model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, min_new_tokens=4, **kwargs)
        _sync(runtime.device)
        started = time.monotonic()
        model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            **kwargs,
        )
        _sync(runtime.device)
    seconds = time.monotonic() - started
    weight_bytes = model.get_memory_footprint()
    return {
        "batch": batch,
        "tokens_per_s": batch * new_tokens / seconds,
        "seconds": seconds,
        "weight_gb": weight_bytes / 1e9,
        # Batch-1 decoding reads every weight once per token: memory bandwidth bounds it.
        "bandwidth_bound_tokens_per_s": peak_bytes_per_s(runtime.device) / weight_bytes * batch,
    }


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def gpu_benchmark(
    work: Path,
    *,
    shape: dict[str, Any] = LLAMA_8B,
    device: str = "cuda",
    modes: tuple[str, ...] = ("bf16", "nf4"),
    n_samples: int = 32,
    train_tokens: int = 1024,
    batches: tuple[int, ...] = (1, 16),
    new_tokens: int = 128,
    class_groups: int = 8,
) -> dict[str, dict[str, Any]]:
    """Per mode: load seconds, training tokens/s, generation tokens/s at each batch size, and their limits; the
    class engine against per-group for `class_groups` groups, with its model FLOPs utilisation."""
    import torch

    from grader.llm import loader as model
    from tools import classbench

    folder = build_random_model(work / "model", shape, device) if not (work / "model").is_dir() else work / "model"
    results: dict[str, dict[str, Any]] = {}
    for mode in modes:
        started = time.monotonic()
        runtime = model.load(str(folder), device=device, quantize="4bit" if mode == "nf4" else "none")
        entry: dict[str, Any] = {
            "load_seconds": time.monotonic() - started,
            "quantization": runtime.quantization,
            "dtype": runtime.dtype,
            "notes": runtime.notes,
        }
        entry.update(training_speed(runtime, work / f"train-{mode}", n_samples, train_tokens))
        entry["generation"] = [generation_speed(runtime, b, 256, new_tokens) for b in batches]
        entry["batching"] = batching_speed(runtime, work / f"batching-{mode}", n_samples=n_samples, epochs=1)
        if class_groups:
            entry["class"] = classbench.compare(
                runtime, class_groups, work / f"class-{mode}", max_length=train_tokens, max_new_tokens=new_tokens
            )
        if device == "cuda":
            entry["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 1e9
            torch.cuda.reset_peak_memory_stats()
        results[mode] = entry
        del runtime
        if device == "cuda":
            torch.cuda.empty_cache()
    return results


def print_gpu(results: dict[str, dict[str, Any]]) -> str:
    lines = []
    for mode, r in results.items():
        lines.append(
            f"{mode} ({r['dtype']}, quantization {r['quantization']}): load {r['load_seconds']:.1f} s; training "
            f"{r['train_tokens_per_s']:,.0f} tokens/s = {r['train_tflops']:.1f} TFLOP/s, "
            f"{100 * r['train_fraction_of_peak']:.1f}% of {PEAK_BF16_FLOPS / 1e12:.0f} TFLOP/s"
        )
        for g in r["generation"]:
            lines.append(
                f"  generation batch {g['batch']}: {g['tokens_per_s']:,.1f} tokens/s; weights {g['weight_gb']:.1f} GB, "
                f"bandwidth bound {g['bandwidth_bound_tokens_per_s']:,.0f} tokens/s "
                f"({100 * g['tokens_per_s'] / g['bandwidth_bound_tokens_per_s']:.0f}%)"
            )
        if "batching" in r:
            lines.append("  " + print_batching(r["batching"], mode).replace("\n", "\n  "))
        if "class" in r:
            from tools import classbench

            lines.append("  " + classbench.report(r["class"]).replace("\n", "\n  "))
        lines += [f"  note: {n}" for n in r["notes"]]
    return "\n".join(lines)


# ---- command line ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["naive-one"]:
        times = naive_one(Path(args[1]), Path(args[2]), int(args[3]))
        print(json.dumps(times))
        return 0
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=6, help="synthetic groups to grade both ways")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument(
        "--class-groups", default="8,16", help="class sizes for the class engine vs per-group comparison"
    )
    parser.add_argument("--gpu", action="store_true", help="also the Llama-3.1-8B-shaped benchmark (needs CUDA)")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"), help="where bench.json is written")
    opts = parser.parse_args(args)
    opts.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"groups": opts.groups, "max_new_tokens": opts.max_new_tokens}
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        report["cpu"] = cpu_benchmark(opts.groups, opts.max_new_tokens, Path(tmp))
        print(print_ratio(report["cpu"], opts.groups))
        from grader.llm import loader as model

        report["batching_cpu"] = batching_speed(model.load("demo", device="cpu"), Path(tmp) / "batching")
        print(print_batching(report["batching_cpu"], "cpu (demo model)"))
        report["class_cpu"] = class_engine(model.load("demo", device="cpu"), opts.class_groups, Path(tmp) / "class")
        if opts.gpu:
            report["gpu"] = _gpu_or_reason(Path(tmp))
            print(report["gpu"] if isinstance(report["gpu"], str) else print_gpu(report["gpu"]))
    (opts.out / "bench.json").write_text(json.dumps(report, indent=2, default=_finite), encoding="utf-8")
    print(f"written: {opts.out / 'bench.json'}")
    return 0


def class_engine(runtime: Any, sizes: str, work: Path) -> list[dict[str, Any]]:
    """The class engine (co-training + mixed-adapter answers) against one group after another, per class size."""
    from tools import classbench

    results = []
    for n in (int(x) for x in sizes.split(",") if x.strip()):
        results.append(classbench.compare(runtime, n, work / f"{n}-groups"))
        print(classbench.report(results[-1]), f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    return results


def _gpu_or_reason(work: Path) -> dict[str, dict[str, Any]] | str:
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device: the Llama-3.1-8B-shaped GPU benchmark was not run"
    return gpu_benchmark(work / "gpu")


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else str(value)


if __name__ == "__main__":
    sys.exit(main())
