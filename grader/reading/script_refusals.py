"""script_refusals: values the course's training script itself would refuse, said as its errors, with what grader did.

The script is read as data (course_script), so a value Python, torch or PEFT would reject at run time would otherwise
pass silently, or make the whole group `invalid` although the group's fix is one line. Each is said at the line that
set it, as an error of the script (the data-and-config item loses its points), with what grader did instead:

- a string where a number goes (`LR = "2e-4"`): `torch.optim.AdamW(lr="2e-4")` raises TypeError, so the course
  script stops; grader reads the number the string spells;
- a rank below 1 (`LORA_R = -8`): PEFT's LoraConfig refuses it; grader trains with the course default (16);
- bf16 and fp16 both true: TrainingArguments raises ValueError; grader uses bf16, as the course does.
"""

from __future__ import annotations

from typing import Any

from grader.reading.course_script import ScriptValues, Value

NUMBERS = {
    "learning_rate": "torch.optim.AdamW(lr=...)",
    "num_train_epochs": "TrainingArguments(num_train_epochs=...)",
    "warmup_ratio": "TrainingArguments(warmup_ratio=...)",
    "lora_dropout": "LoraConfig(lora_dropout=...)",
    "per_device_train_batch_size": "TrainingArguments(per_device_train_batch_size=...)",
    "gradient_accumulation_steps": "TrainingArguments(gradient_accumulation_steps=...)",
    "logging_steps": "TrainingArguments(logging_steps=...)",
    "lora_r": "LoraConfig(r=...)",
    "lora_alpha": "LoraConfig(lora_alpha=...)",
    "max_length": "the tokenizer's max_length",
    "max_new_tokens": "model.generate(max_new_tokens=...)",
}
COURSE_RANK = 16
HINT = "the course script must run as handed in: fix the value at this line"


def refuse(found: ScriptValues) -> list[tuple[int, str, str]]:
    """(line, message, hint) for each value the course script would refuse; `found.values` is changed to what grader
    uses instead (the number a string spells, the course's rank, bf16 alone)."""
    said = []
    for key, value in list(found.values.items()):
        if key in NUMBERS and isinstance(value.value, str):
            number = _number(value.value)
            instead = f"grader read it as the number {number:g}" if number is not None else "grader cannot use it"
            said.append(
                (
                    value.line,
                    f"{value.how} = {value.value!r} is a string where the course script needs a number: "
                    f"{NUMBERS[key]} raises TypeError there, so the script would stop; {instead}",
                    HINT,
                )
            )
            if number is not None:
                found.values[key] = Value(
                    key,
                    int(number) if number.is_integer() and key != "learning_rate" else number,
                    value.line,
                    value.how,
                )
    rank = found.values.get("lora_r")
    if rank is not None and isinstance(rank.value, int | float) and not isinstance(rank.value, bool) and rank.value < 1:
        said.append(
            (
                rank.line,
                f"{rank.how} = {rank.value!r}: PEFT's LoraConfig refuses a rank below 1 (ValueError), so the course "
                f"script would stop; grader trained with the course default r = {COURSE_RANK}",
                HINT,
            )
        )
        found.values["lora_r"] = Value("lora_r", COURSE_RANK, rank.line, rank.how)
    bf16, fp16 = found.values.get("bf16"), found.values.get("fp16")
    if bf16 is not None and fp16 is not None and bf16.value is True and fp16.value is True:
        said.append(
            (
                fp16.line,
                f"bf16 and fp16 are both True ({bf16.how} at line {bf16.line}, {fp16.how} at line {fp16.line}): "
                "TrainingArguments raises ValueError, so the course script would stop; grader used bf16, as the "
                "course does",
                HINT,
            )
        )
        found.values["fp16"] = Value("fp16", False, fp16.line, fp16.how)
    return said


def _number(text: Any) -> float | None:
    try:
        number = float(str(text).strip())
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None
