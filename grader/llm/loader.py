"""The base model, loaded once per batch and shared by train and generate (adapters go in and out of it).

The demo model and Llama-3.1-8B go through the same `from_pretrained` calls: safetensors only, local files only,
never `trust_remote_code`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.errors import ConfigError
from grader.limits import set_threads

PAD_CANDIDATES = ("<|finetune_right_pad_id|>", "<pad>", "<|reserved_special_token_0|>", "<unk>")


@dataclass
class Runtime:
    """A loaded base model with its tokenizer, and what was decided while loading it."""

    name: str
    path: str
    model: Any
    tokenizer: Any
    device: str
    dtype: str
    quantization: str
    fingerprint: str
    notes: list[str] = field(default_factory=list)

    def eos_ids(self) -> list[int]:
        ids = [self.tokenizer.eos_token_id]
        eot = self.tokenizer.get_vocab().get("<|eot_id|>")
        if eot is not None and eot not in ids:
            ids.append(eot)
        return ids


def resolve(name: str, cache_dir: Path | None = None) -> str:
    """'demo' -> the locally built model; a folder -> itself; an id -> its snapshot in the local HF cache."""
    if name == "demo":
        from grader.llm.tiny_llama import demo_model_dir

        return str(demo_model_dir(cache_dir))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"base model folder {path} has no config.json; point --base-model at a saved model")
        return str(path)
    try:
        from huggingface_hub import snapshot_download

        return str(snapshot_download(name, local_files_only=True))
    except Exception as exc:
        raise ConfigError(
            f"base model '{name}' is neither a local folder nor in the Hugging Face cache. Download it once with "
            f"`huggingface-cli download {name}` (needs access to the gated repo), or pass --base-model PATH, "
            "or use --base-model demo"
        ) from exc


def is_demo(name: str, cache_dir: Path | None = None) -> bool:
    """The demo model, by name or by its folder (the marker file tiny_llama.py writes): a tiny random Llama whose
    answers and losses measure the pipeline, never a group's model, so they never decide a group's points."""
    if name == "demo":
        return True
    path = Path(name).expanduser()
    return path.is_dir() and (path / "grader-demo.json").is_file()


def fingerprint(path: str) -> str:
    """Identifies the weights without reading them: config.json bytes plus the names and sizes of weight files."""
    folder = Path(path)
    h = hashlib.sha256((folder / "config.json").read_bytes())
    for weights in sorted(folder.glob("*.safetensors")):
        h.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return h.hexdigest()[:16]


def variant(weights: str, quantize: str) -> str:
    """The cache identity of a base model as loaded: 4-bit and full precision answer differently, so answers and
    runs made with `--quantize 4bit` or `none` are kept apart from the default's."""
    return weights if quantize == "auto" else f"{weights}-{quantize}"


def weights_fingerprint(model: Any) -> str:
    """A cheap, exact tripwire on the shared base model: a strided sample of every tensor's bytes (parameters and
    buffers), hashed. Any tensor overwritten or zeroed by a group changes it; it costs milliseconds on 8B."""
    import torch

    h = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            flat = tensor.detach().reshape(-1)
            step = max(flat.numel() // 256, 1)
            sample = flat[::step][:256].to("cpu").contiguous()
            h.update(name.encode())
            h.update(sample.view(torch.uint8).numpy().tobytes() if sample.numel() else b"")
    return h.hexdigest()[:16]


def pick_device(preference: str) -> str:
    import torch

    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA GPU is visible")
    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return preference


def ensure_pad(tokenizer: Any) -> str | None:
    """Give the tokenizer a pad token distinct from EOS (Llama-3.1 has none); returns a note when one was chosen."""
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id:
        return None
    vocab = tokenizer.get_vocab()
    for candidate in PAD_CANDIDATES:
        if candidate in vocab and vocab[candidate] != tokenizer.eos_token_id:
            tokenizer.pad_token = candidate
            return f"pad token set to {candidate} (the tokenizer had none distinct from EOS)"
    tokenizer.add_special_tokens({"pad_token": "<|grader_pad|>"})
    return "pad token <|grader_pad|> added to the tokenizer (no reserved token was free)"


def load_tokenizer(name: str, cache_dir: Path | None = None) -> Any:
    """Only the tokenizer (fast, no weights), for counting tokens before any model is loaded."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve(name, cache_dir), local_files_only=True, trust_remote_code=False)


def count_tokens(tokenizer: Any, texts: list[str]) -> list[int]:
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]


# Classes that run tokenizer.json as it is; a model-specific class may rebuild the special tokens around a text.
GENERIC_TOKENIZERS = ("PreTrainedTokenizerFast", "TokenizersBackend")


def token_counter(name: str, cache_dir: Path | None = None) -> Callable[[list[str]], list[int]]:
    """Counts tokens exactly as the model's tokenizer does, for validation before any model is loaded.

    Where transformers would run tokenizer.json unchanged (a generic class, no add_bos/eos_token override: the
    Llama 3 tokenizers), the Rust tokenizer alone does it in milliseconds without importing torch; otherwise
    AutoTokenizer (seconds). A re-render or a preview then costs no transformers import at all.
    """
    path = Path(resolve(name, cache_dir))
    try:
        config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = None
    plain = (
        isinstance(config, dict)
        and config.get("tokenizer_class") in GENERIC_TOKENIZERS
        and not {"add_bos_token", "add_eos_token"} & set(config)
        and (path / "tokenizer.json").is_file()
    )
    if plain:
        from tokenizers import Tokenizer

        rust = Tokenizer.from_file(str(path / "tokenizer.json"))
        if rust.post_processor is not None:  # else transformers builds one from the config: leave it to it
            rust.no_truncation()
            rust.no_padding()
            return lambda texts: [len(e.ids) for e in rust.encode_batch(texts, add_special_tokens=True)]
    tokenizer = load_tokenizer(str(path))
    return lambda texts: count_tokens(tokenizer, texts)


QUANTIZE = ("auto", "4bit", "none")


def quantization_for(quantize: str, where: str) -> str:
    """'nf4' or 'none': `auto` is the course's QLoRA on CUDA and fp32 on CPU (faster there than 4-bit on a CPU's
    few cores); `4bit` is NF4 anywhere bitsandbytes runs (CUDA, and CPU since bitsandbytes 0.49)."""
    if quantize not in QUANTIZE:
        raise ConfigError(f"--quantize must be one of {', '.join(QUANTIZE)}, not '{quantize}'")
    return "nf4" if quantize == "4bit" or (quantize == "auto" and where == "cuda") else "none"


def _load_options(where: str, quantization: str, notes: list[str]) -> tuple[Any, dict[str, Any]]:
    """The dtype and from_pretrained options for a device and quantization, each choice said in `notes`."""
    import torch

    kwargs: dict[str, Any] = {"local_files_only": True, "use_safetensors": True}
    if where == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if dtype == torch.float16:
            notes.append("this GPU has no bf16: fp16 is used instead")
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    else:
        dtype = torch.bfloat16 if quantization == "nf4" else torch.float32
    if quantization == "nf4":
        kwargs["quantization_config"] = bnb_config(dtype)
        kwargs.setdefault("device_map", {"": "cpu"})  # quantized where it is loaded
        notes.append(
            f"base model in 4-bit NF4 with double quantization, {str(dtype).removeprefix('torch.')} compute "
            f"({where.upper()}); LoRA weights trained in fp32"
        )
    elif where == "cpu":
        notes.append("CPU run: fp32 base model, not quantized (--quantize 4bit loads it in NF4 as the course does)")
    return dtype, kwargs


def load(
    name: str,
    *,
    device: str = "auto",
    quantize: str = "auto",
    threads: int | None = None,
    cache_dir: Path | None = None,
) -> Runtime:
    """Load the base model once. CUDA: bf16 (fp16 without bf16), NF4 4-bit with double quantization unless
    `quantize` is 'none'. CPU: fp32, or NF4 with bf16 compute when `quantize` is '4bit'."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the batch has one progress display: ours
    path = resolve(name, cache_dir)
    where = pick_device(device)
    quantization = quantization_for(quantize, where)
    notes: list[str] = []
    n_threads, source = set_threads(threads)
    if where == "cpu":
        notes.append(f"{n_threads} CPU thread(s): {source}")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    pad_note = ensure_pad(tokenizer)
    if pad_note:
        notes.append(pad_note)
    dtype, kwargs = _load_options(where, quantization, notes)
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, trust_remote_code=False, **kwargs)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    if quantization == "nf4":
        from peft import prepare_model_for_kbit_training

        # Once, here, not per group in train: it casts norms and embeddings to fp32, and a base model that
        # changed after the first group's training would answer differently for the groups after it.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        _keep_cpu_layout(model)
    model.eval()
    return Runtime(
        name=name,
        path=path,
        model=model,
        tokenizer=tokenizer,
        device=where,
        dtype=str(dtype).removeprefix("torch."),
        quantization=quantization,
        fingerprint=variant(fingerprint(path), quantize),
        notes=notes,
    )


def _keep_cpu_layout(model: Any) -> None:
    """bitsandbytes 0.50 repacks a Linear4bit's weight in place for its AVX512-BF16 CPU kernel at the first eval
    forward, and never back: a later training step then runs through that kernel, which has no autograd (torch
    warns "silently incorrect behavior"), and the shared base model's bytes change under the tripwire. Keeping the
    canonical layout costs some CPU inference speed and keeps training right."""
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def bnb_config(dtype: Any) -> Any:
    """The course's BitsAndBytesConfig. bitsandbytes is a dependency of grader; a broken install says so."""
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as exc:
        raise ConfigError(
            f"4-bit loading needs bitsandbytes >= 0.49 ({exc}); pip install 'bitsandbytes>=0.49', "
            "or pass --quantize none"
        ) from exc
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype
    )


def out_of_memory(exc: BaseException) -> bool:
    """A CUDA (or CPU allocator) out-of-memory error, whatever its class in this torch version."""
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
