"""The prompt format, one setting used alike for training, base answers and fine-tuned answers.

'plain' is the course's template (brief, section 3); 'chat' uses the tokenizer's chat template.
"""

from __future__ import annotations

from typing import Any

from grader.records import Sample

PLAIN = "{system}\n\nInstruction: {instruction}\nContext: {context}\nAnswer:"
# The course trains without an end-of-sequence token, so its models run on into the next made-up sample;
# generations are cut at the first of these before scoring.
STOP_SEQUENCES = ("\nInstruction:", "\n\nInstruction", "\nContext:", "<|eot_id|>", "<|end_of_text|>")


def plain_prompt(sample: Sample) -> str:
    return PLAIN.format(system=sample.system, instruction=sample.instruction, context=sample.context)


def prompt(sample: Sample, fmt: str = "plain", tokenizer: Any = None) -> str:
    """The text the model sees before its answer."""
    if fmt == "chat":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("prompt_format 'chat' needs a tokenizer with a chat template")
        user = f"{sample.instruction}\n\nContext: {sample.context}" if sample.context else sample.instruction
        messages = [{"role": "system", "content": sample.system}, {"role": "user", "content": user}]
        text: str = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text
    return plain_prompt(sample)


def answer_text(sample: Sample, fmt: str = "plain") -> str:
    """The answer as it follows the prompt in training (EOS is appended as a token id, not as text)."""
    return " " + sample.answer if fmt == "plain" else sample.answer


def training_text(sample: Sample) -> str:
    return plain_prompt(sample) + answer_text(sample)


def cut_at_stop(text: str, stops: tuple[str, ...] = STOP_SEQUENCES) -> str:
    """A generation up to the first stop sequence, stripped."""
    end = len(text)
    for stop in stops:
        index = text.find(stop)
        if index != -1:
            end = min(end, index)
    return text[:end].strip()
