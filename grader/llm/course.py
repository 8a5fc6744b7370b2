"""The course's own two scripts, done right: `grader train` (train_lora.py) and `grader ask` (inference_lora.py).

Both work on one group folder and write only into `<out>/<group>/`. The 13 Part A parameters come from the
group's config file, overridden by flags of the same names (`--learning_rate 1e-4`), checked by the same parser.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.config import DEFAULT_SYSTEM, KNOWN_KEYS, TrainConfig, answer_tokens, parse_train_config
from grader.errors import ConfigError, SubmissionError
from grader.layout import Layout, safe_name
from grader.llm import adapter, generate, loader, train
from grader.llm.prompts import prompt
from grader.reading import part_a_values, sample_files, validate
from grader.reading.discover import find_parts
from grader.records import Sample, TrainRecord
from grader.storage import exclusive, save, write_atomic


def parse_flags(args: list[str]) -> dict[str, Any]:
    """`--key value`, `--key=value` and bare boolean `--include_mlp` -> {key: value}, dashes read as underscores."""
    values: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise ConfigError(f"unexpected argument '{arg}'; parameters are given as --name value")
        key, eq, value = arg[2:].partition("=")
        key = key.replace("-", "_")
        if not eq:
            takes_value = i + 1 < len(args) and not args[i + 1].startswith("--")
            value = args[i + 1] if takes_value else "true"
            i += 1 if takes_value else 0
        values[key] = value
        i += 1
    return values


def group_config(
    group_dir: Path, overrides: dict[str, Any], layout: Layout
) -> tuple[TrainConfig, list[Sample], list[Sample], str]:
    """The validated samples and tests of a group, and its config with the flags applied."""
    name = group_dir.resolve().name
    record = validate.run(group_dir, name, layout)  # also writes the normalized samples and tests we read back
    data_errors = [p for p in record.problems if p.severity == "error" and p.file != record.config_file]
    if data_errors:
        listing = "\n".join(f"  {p}" for p in data_errors[:20])
        if len(data_errors) > 20:
            listing += f"\n  ... and {len(data_errors) - 20} more (grader validate lists them all)"
        raise SubmissionError(f"{group_dir} has data errors; fix them first (grader validate {group_dir}):\n{listing}")
    raw = part_a_values.collect(group_dir, find_parts(group_dir), []).values
    config, problems, _ = parse_train_config({**raw, **overrides})
    errors = [p for p in problems if p.severity == "error" or (p.key in overrides and p.severity == "warning")]
    if config is None or errors:
        listing = "\n".join(f"  {p.key}: {p.message}" + (f" ({p.hint})" if p.hint else "") for p in errors)
        raise ConfigError(f"the hyper-parameters cannot be used:\n{listing}\nknown: {', '.join(KNOWN_KEYS)}")
    samples = sample_files.load_samples(layout.samples(name))
    tests = sample_files.load_samples(layout.tests(name))
    return config, samples, tests, safe_name(name)


def train_group(
    group_dir: Path,
    *,
    out: Path,
    base_model: str,
    device: str,
    overrides: dict[str, Any],
    quantize: str | None = None,
    threads: int | None = None,
) -> TrainRecord:
    layout = Layout(out)
    with exclusive(out):  # one run per output folder
        config, samples, _, name = group_config(group_dir, overrides, layout)
        runtime = loader.load(base_model, device=device, quantize=_quantize(quantize, config), threads=threads)
        record = train.run(name, samples, config, runtime, layout)
        save(record, layout.record(name, "train"))
        return record


def _quantize(flag: str | None, config: TrainConfig) -> str:
    """--quantize wins; else the group's load_in_4bit: true is the course's QLoRA (on CUDA), false is none."""
    return flag or ("auto" if config.load_in_4bit else "none")


def ask_group(group_dir: Path, *, out: Path, **options: Any) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Answers to the group's test questions (or one question), and the values used; both also in ask.json."""
    with exclusive(out):  # one run per output folder
        return _ask(group_dir, Layout(out), **options)


def _ask(
    group_dir: Path,
    layout: Layout,
    *,
    base_model: str,
    device: str,
    which: str,
    question: str | None,
    context: str,
    max_new_tokens: int | None,
    quantize: str | None = None,
    threads: int | None = None,
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    config, _, tests, name = group_config(group_dir, {}, layout)
    if question:
        tests = [Sample(system=DEFAULT_SYSTEM, instruction=question, context=context, answer="")]
    if not tests:
        raise SubmissionError(f"{group_dir} has no test questions; pass --question (and --context)")
    runtime = loader.load(base_model, device=device, quantize=_quantize(quantize, config), threads=threads)
    adapter_dir = _adapter_for(group_dir, layout, name, runtime) if which != "base" else None
    prompts = [prompt(t, config.prompt_format, runtime.tokenizer) for t in tests]
    special = config.prompt_format == "plain"
    limit = answer_tokens(config, max_new_tokens)
    base = generate.answer(runtime, prompts, limit, add_special_tokens=special) if which != "finetuned" else []
    tuned = (
        generate.answer_with_adapter(runtime, adapter_dir, prompts, limit, add_special_tokens=special)
        if adapter_dir
        else []
    )
    rows = []
    for i, t in enumerate(tests):
        row = {"instruction": t.instruction, "expected": t.answer}
        if base:
            row["base"] = base[i]
        if tuned:
            row["finetuned"] = tuned[i]
        rows.append(row)
    used = {
        "base_model": runtime.name,
        "device": runtime.device,
        "dtype": runtime.dtype,
        "quantization": runtime.quantization,
        "adapter": str(adapter_dir) if adapter_dir else None,
        "prompt_format": config.prompt_format,
        "max_new_tokens": limit,
        "decoding": "greedy",
    }
    record = {**used, "answers": rows}
    write_atomic(layout.ask_json(name), json.dumps(record, indent=2, ensure_ascii=False).encode())
    if not question:  # the file `grader preview` reads, ready to commit beside tests.jsonl
        lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        write_atomic(layout.group_dir(name) / "answers.jsonl", lines.encode())
    return rows, used


def _adapter_for(group_dir: Path, layout: Layout, name: str, runtime: Any) -> Path:
    """The adapter `grader train` wrote, else the group's committed one (checked and copied), else an error."""
    trained = layout.adapter(name)
    if (trained / "adapter_model.safetensors").is_file():
        return trained
    committed = adapter.find(group_dir)
    if committed is None:
        raise SubmissionError(f"no adapter for {group_dir}: run `grader train {group_dir}` first, or commit one")
    try:
        adapter.copy(committed, adapter.check(committed, group_dir, runtime.model), trained)
    except adapter.AdapterRefused as exc:
        raise SubmissionError(f"the committed adapter cannot be used: {exc}") from exc
    return trained
