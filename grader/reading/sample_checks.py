"""sample_checks: checks over a whole set of samples: near-duplicates, test questions that are also training samples,
and samples longer than max_length tokens.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable

from grader.reading.sample_files import fold
from grader.records import Problem, Sample, file_line

NEAR_DUPLICATE = 0.9
TokenCounter = Callable[[list[str]], list[int]]


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text)).strip()


def duplicate_problems(samples: list[Sample]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple[str, str], Sample] = {}
    for sample in samples:
        key = (normalize(sample.instruction), normalize(sample.context))
        if key in seen:
            first = seen[key]
            same = normalize(first.answer) == normalize(sample.answer)
            file, line = file_line(sample.source)
            problems.append(
                Problem(
                    file=file,
                    line=line,
                    severity="warning",
                    code="duplicate",
                    message=f"{'duplicate of' if same else 'same question and context as'} {first.source}"
                    + ("" if same else " with a different answer"),
                    hint="remove the repeat: it weighs this sample double in training",
                )
            )
        else:
            seen[key] = sample
    return problems


def unique_count(samples: list[Sample]) -> int:
    """Samples counted once: a repeat (same question and context, after normalization: case, spacing, punctuation,
    Unicode forms) is the sample the duplicate warning names, and adds nothing toward the minimum."""
    return len({(normalize(s.instruction), normalize(s.context)) for s in samples})


def copied_tests(samples: list[Sample], tests: list[Sample]) -> list[tuple[Sample, Sample, float]]:
    """(test, the training sample it copies, similarity) for every test question that also appears, exactly or
    nearly, in the training data: such a question cannot show what fine-tuning taught."""
    found = []
    train = [(normalize(s.instruction), s) for s in samples]
    for test in tests:
        question = normalize(test.instruction)
        matcher = difflib.SequenceMatcher(None, question, autojunk=False)
        for text, sample in train:
            matcher.set_seq2(text)
            if matcher.real_quick_ratio() < NEAR_DUPLICATE or matcher.quick_ratio() < NEAR_DUPLICATE:
                continue
            ratio = 1.0 if text == question else matcher.ratio()
            if ratio >= NEAR_DUPLICATE:
                found.append((test, sample, ratio))
                break
    return found


def overlap_problems(copies: list[tuple[Sample, Sample, float]]) -> list[Problem]:
    """Test questions that also appear, exactly or nearly, in the training data make the test meaningless."""
    problems: list[Problem] = []
    for test, sample, ratio in copies:
        file, line = file_line(test.source)
        how = "also appears" if ratio == 1.0 else f"nearly appears ({ratio:.0%} similar)"
        problems.append(
            Problem(
                file=file,
                line=line,
                severity="warning",
                code="test-in-train",
                message=f"test question {how} in the training data at {sample.source}: it does not count as held "
                "out, nor toward fine-tuned vs base",
                hint="test on questions the model has not been trained on",
            )
        )
    return problems


def length_problems(samples: list[Sample], max_length: int, count: TokenCounter) -> tuple[list[Problem], int, int]:
    """Samples over max_length tokens (prompt + answer) are cut in training: say which, and by how much."""
    from grader.llm.prompts import training_text

    lengths = count([training_text(s) for s in samples])
    over = [(n, s) for n, s in zip(lengths, samples, strict=True) if n > max_length]
    problems = []
    for n, sample in over:
        file, line = file_line(sample.source)
        problems.append(
            Problem(
                file=file,
                line=line,
                severity="warning",
                code="too-long",
                message=f"sample is {n} tokens, over max_length {max_length}: its context is cut by "
                f"{n - max_length} tokens in training",
                hint="shorten the context, or raise max_length",
            )
        )
    return fold(problems, 10), len(over), max(lengths, default=0)


def sample_keys(samples: list[Sample]) -> set[tuple[str, str]]:
    return {(normalize(s.instruction), normalize(s.answer)) for s in samples}
