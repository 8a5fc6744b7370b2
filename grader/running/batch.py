"""The state one `grader grade` run shares across groups: the base model (loaded once, lazily), its tokenizer, the
base-answer cache, the rubric and the manual overrides; and the class-wide pass that fills the base-answer cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grader import limits
from grader.config import RunSettings, TrainConfig, answer_tokens
from grader.layout import Layout
from grader.llm import generate
from grader.llm.loader import Runtime
from grader.measure import grade
from grader.reading import sample_files
from grader.records import Adjustment, Sample

Progress = Callable[[str, str], None]  # (group, stage)


@dataclass
class Batch:
    settings: RunSettings
    layout: Layout
    rubric: list[grade.RubricItem]
    overrides: grade.Overrides = field(default_factory=dict)
    adjustments: dict[str, list[Adjustment]] = field(
        default_factory=dict
    )  # penalties and bonuses (grader.measure.adjust)
    cells: dict[str, Any] = field(default_factory=dict)  # group -> its Part A cell corrections (grader.review.cells)
    _runtime: Runtime | None = None
    _tokenizer: Any = None
    _counter: Callable[[list[str]], list[int]] | None = None
    _base_key: str | None = None
    _weights: str = ""  # weights_fingerprint of the base model as loaded
    cache: generate.BaseCache | None = None
    loads: int = 0
    load_seconds: float = 0.0
    prefetch_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    class_tests: list[Sample] = field(default_factory=list)  # --tests: asked of every group's model
    prepared: set[tuple[str, str]] = field(default_factory=set)  # (stage, group) the class engine just recorded

    def runtime(self) -> Runtime:
        if self._runtime is None:
            from grader.llm import loader

            started = time.monotonic()
            self._runtime = loader.load(
                self.settings.base_model,
                device=self.settings.device,
                quantize=self.settings.quantize,
                threads=self.settings.threads,
                cache_dir=self.settings.cache_dir,
            )
            self.loads += 1
            self.load_seconds += time.monotonic() - started
            self._weights = loader.weights_fingerprint(self._runtime.model)
        return self._runtime

    def base_intact(self, group: str) -> bool:
        """After every group: is the shared base model bit-for-bit what was loaded? If not, it is loaded afresh
        (the next group must not be graded on another group's weights) and the caller marks this group."""
        if self._runtime is None:
            return True
        from grader.llm import loader

        if loader.weights_fingerprint(self._runtime.model) == self._weights:
            return True
        self._runtime = None
        self.notes.append(f"the base model's weights changed while {group} was graded; it was loaded afresh")
        return False

    def base_model_name(self) -> str:
        """The base model as the instructor named it ('demo', a folder, a hub id): shown on every output."""
        return self.settings.base_model

    def real_base(self) -> bool:
        """Whether this run's base model is a real one (not the demo): only then do its measurements count."""
        from grader.llm import loader

        return not loader.is_demo(self.settings.base_model, self.settings.cache_dir)

    def base_key(self) -> str:
        """Identifies the base model for cache keys without loading its weights."""
        if self._base_key is None:
            from grader.llm import loader

            weights = loader.fingerprint(loader.resolve(self.settings.base_model, self.settings.cache_dir))
            self._base_key = loader.variant(weights, self.settings.quantize)
        return self._base_key

    def tokenizer(self) -> Any:
        """The base model's tokenizer, without loading its weights when they are not loaded yet."""
        from grader.llm import loader

        if self._tokenizer is None:
            self._tokenizer = (
                self._runtime.tokenizer
                if self._runtime is not None
                else loader.load_tokenizer(self.settings.base_model, self.settings.cache_dir)
            )
        return self._tokenizer

    def count_tokens(self, texts: list[str]) -> list[int]:
        from grader.llm import loader

        if self._runtime is not None:
            return loader.count_tokens(self._runtime.tokenizer, texts)
        if self._counter is None:
            self._counter = loader.token_counter(self.settings.base_model, self.settings.cache_dir)
        return self._counter(texts)

    def base_cache(self) -> generate.BaseCache:
        if self.cache is None:
            self.cache = generate.BaseCache(self.layout.cache / "base_answers.json")
        return self.cache

    def check_base(self, group: str) -> None:
        """After a group failed mid-stage: if LoRA layers were left in the shared base model, load it afresh.

        A timeout or crash can land between putting an adapter in and taking it out; the next group must not be
        answered by the previous group's adapter.
        """
        if self._runtime is None:
            return
        from grader.llm.loader import free_cuda

        free_cuda()
        if any("lora_" in name for name, _ in self._runtime.model.named_modules()):
            self._runtime = None
            self.notes.append(f"the base model was reloaded after {group} failed with LoRA layers in it")


def prefetch_base_answers(groups: list[tuple[str, TrainConfig]], batch: Batch, progress: Progress) -> int:
    """Every base answer these groups need, in one batched pass over all their test questions.

    Per group, a class of 200 groups with 5 questions each would make 200 small generate calls; together they
    make a few large ones. A failure here is not a group's failure: each group computes what is missing itself.
    """
    from grader.llm.prompts import prompt

    wanted: generate.Wanted = {}
    for name, config in groups:
        fmt = config.prompt_format
        max_new = answer_tokens(config, batch.settings.max_new_tokens)
        tokenizer = batch.tokenizer() if fmt == "chat" else None
        for test in [*sample_files.load_samples(batch.layout.tests(name)), *batch.class_tests]:
            text = prompt(test, fmt, tokenizer)
            wanted[generate.base_key(batch.base_key(), text, max_new, fmt)] = (text, max_new, fmt)
    cache = batch.base_cache()
    if all(key in cache.items for key in wanted):
        return 0
    progress("all groups", f"base answers ({len(wanted)} prompts)")
    runtime = batch.runtime()
    started = time.monotonic()
    try:
        with limits.deadline(batch.settings.timeout):  # bounded like any group: past it, each group asks alone
            return generate.fill_base(runtime, cache, wanted)
    except limits.GroupTimeout:
        batch.notes.append(f"the class-wide base-answer pass stopped at --timeout {batch.settings.timeout:g} s")
        batch.check_base("the base-answer pass")
        return 0
    except Exception as exc:
        if batch.settings.fail_fast:
            raise
        batch.notes.append(f"the class-wide base-answer pass failed ({type(exc).__name__}); groups answered alone")
        batch.check_base("the base-answer pass")
        return 0
    finally:
        batch.prefetch_seconds += time.monotonic() - started
