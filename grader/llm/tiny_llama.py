"""The demo base model: a tiny Llama built locally (seeded, no download) and saved like a real checkpoint.

It is loaded afterwards by the same `from_pretrained` code that loads Llama-3.1-8B, so every test and the demo
exercise the real loading, training and generation paths. Its tokenizer deliberately has no pad token, like
Llama-3.1's, so the pad fallback of `loader.py` runs here too.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from grader import __version__
from grader.layout import examples_dir, templates_dir
from grader.storage import digest

SPECIAL = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|finetune_right_pad_id|>",
]
# Llama-3's chat template, reduced to what the grader uses (system + user, then the assistant turn).
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
MODEL_SHAPE: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 8192,
}
VOCAB_SIZE = 2048
SEED = 0
PRETRAIN = {"steps": 300, "batch": 8, "block": 64, "lr": 3e-3}


def _corpus() -> list[str]:
    """Text the tokenizer learns its merges from: the grader's own example groups and Part A notes, in a fixed order.
    Only files inside a group's folder: the examples' own README documents them, and editing it (a module renamed)
    must not rebuild the demo model and move every number measured on it."""
    root = examples_dir()
    files = sorted(
        p for p in root.rglob("*") if p.suffix in {".jsonl", ".json", ".md"} and p.is_file() and p.parent != root
    )
    return [p.read_text(encoding="utf-8", errors="replace") for p in files] + [_part_a_notes()]


def _part_a_notes() -> str:
    """The prose of the 13 Part A entries only: the other spellings of each key (per_key) and the file's comments
    say how grader reads, not what a model should know, and editing them must not rebuild the demo model."""
    import yaml

    entries = yaml.safe_load((templates_dir() / "parameters.yaml").read_text(encoding="utf-8"))
    fields = ("name", "aliases", "what", "effect", "range", "why")
    return "\n\n".join("\n".join(f"{k}: {e[k]}" for k in fields if k in e) for e in entries)


def _pretrain_text(corpus: list[str]) -> str:
    """Domain prose for a short pre-training, so the base model is a (tiny) language model and not noise.

    Only contexts and notes: never the examples' answers or test questions, so fine-tuning still has something
    to teach and base-vs-fine-tuned comparisons stay meaningful.
    """
    import re

    contexts = [m.group(1) for text in corpus for m in re.finditer(r'"context":\s*"((?:[^"\\]|\\.)*)"', text)]
    notes = [text for text in corpus if not text.lstrip().startswith(("{", "["))]
    return "\n\n".join(sorted(set(contexts)) + notes)


def default_cache_dir() -> Path:
    if os.environ.get("GRADER_CACHE"):
        return Path(os.environ["GRADER_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "grader"


def demo_model_dir(cache_dir: Path | None = None) -> Path:
    """Build the demo model once into the cache (atomically) and return its folder."""
    corpus = _corpus()
    key = digest(__version__, MODEL_SHAPE, VOCAB_SIZE, SEED, PRETRAIN, corpus)
    target = (cache_dir or default_cache_dir()) / f"demo-llama-{key}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".building-"))
    try:
        _build(tmp, corpus)
        try:
            os.replace(tmp, target)
        except OSError:  # another process built it first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _build(folder: Path, corpus: list[str]) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B", special_tokens=[("<|begin_of_text|>", bos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        model_max_length=MODEL_SHAPE["max_position_embeddings"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)

    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=len(fast), bos_token_id=bos, eos_token_id=fast.eos_token_id, tie_word_embeddings=False, **MODEL_SHAPE
    )
    model = LlamaForCausalLM(config)
    _pretrain(model, fast(_pretrain_text(corpus), add_special_tokens=False)["input_ids"])
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "grader-demo.json").write_text(json.dumps({"built_by": f"grader {__version__}", "seed": SEED}))


def _pretrain(model: Any, ids: list[int]) -> None:
    """A few hundred seeded AdamW steps of next-token prediction on random windows of the domain text."""
    import torch

    data = torch.tensor(ids)
    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PRETRAIN["lr"])
    block, batch = int(PRETRAIN["block"]), int(PRETRAIN["batch"])
    model.train()
    for _ in range(int(PRETRAIN["steps"])):
        starts = torch.randint(0, len(data) - block - 1, (batch,), generator=generator)
        windows = torch.stack([data[s : s + block] for s in starts.tolist()])
        loss = model(input_ids=windows, labels=windows).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
