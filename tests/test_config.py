from __future__ import annotations

from grader.config import PART_A, TrainConfig, parse_train_config


def test_defaults_are_the_course_defaults() -> None:
    c = TrainConfig()
    assert (c.lora_r, c.lora_alpha, c.lora_dropout, c.learning_rate) == (16, 32, 0.05, 2e-4)
    assert (c.gradient_accumulation_steps, c.max_length, c.logging_steps, c.lr_scheduler_type) == (
        16,
        2048,
        20,
        "cosine",
    )
    assert c.bf16 and not c.fp16 and not c.include_mlp and c.warmup_ratio == 0.03


def test_problems_key_by_key_and_filled_defaults() -> None:
    config, problems, filled = parse_train_config(
        {"learning_rate": "fast", "lora_r": 0, "num_train_epochs": 1_000_000, "lora_dropot": 0.1, "lr": 1e-4}
    )
    assert config is None
    by_key = {p.key: p for p in problems}
    assert by_key["learning_rate"].severity == "error" and "'fast'" in by_key["learning_rate"].message
    assert by_key["lora_r"].severity == "error" and by_key["num_train_epochs"].severity == "error"
    assert "lora_dropout" in by_key["lora_dropot"].hint
    assert set(filled) == set(PART_A) - {"learning_rate", "lora_r", "num_train_epochs"}


def test_both_precisions_and_yaml_string_numbers() -> None:
    config, problems, _ = parse_train_config({"bf16": True, "fp16": True})
    assert config is None and "both true" in problems[0].message
    config, problems, _ = parse_train_config({"training": {"learning_rate": "2e-4"}, "output_dir": "x"})
    assert config is not None and config.learning_rate == 2e-4 and problems == []
