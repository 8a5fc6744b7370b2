from __future__ import annotations

from grader.config import PART_A, TrainConfig, parse_train_config
from grader.reading import course_script

# The course script's defaults, as shared/BRIEF.md §3a lists them: constant name, Part A name, value.
COURSE_DEFAULTS = [
    ("MAX_LEN", "max_length", 2048),
    ("BATCH", "per_device_train_batch_size", 1),
    ("GRAD_ACC", "gradient_accumulation_steps", 16),
    ("LR", "learning_rate", 2e-4),
    ("EPOCHS", "num_train_epochs", 1),
    ("LORA_R", "lora_r", 16),
    ("LORA_ALPHA", "lora_alpha", 32),
    ("LORA_DROPOUT", "lora_dropout", 0.05),
    ("INCLUDE_MLP", "include_mlp", True),
    ("logging_steps", "logging_steps", 20),
    ("warmup_ratio", "warmup_ratio", 0.03),
    ("lr_scheduler_type", "lr_scheduler_type", "cosine"),
    ("bf16", "bf16", True),
    ("max_new_tokens", "max_new_tokens", 200),  # the script's closing smoke test
]


def test_defaults_are_the_course_defaults() -> None:
    c = TrainConfig()
    for constant, name, value in COURSE_DEFAULTS:
        assert getattr(c, name) == value, f"{name} (the course's {constant}) should default to {value!r}"
        if constant.isupper():
            assert course_script.CONSTANTS[constant] == name
    assert not c.fp16 and c.load_in_4bit


def test_parameter_texts_state_the_course_defaults() -> None:
    """templates/parameters.yaml tells each group the course default; it must be the one TrainConfig uses."""
    from grader.config import part_a_entries

    said = {entry["name"]: entry["range"] for entry in part_a_entries()}
    assert "course default: INCLUDE_MLP = True" in said["include_mlp"]
    assert "2e-4 is the course default" in said["learning_rate"]
    assert (
        "course default is 16" in said["gradient_accumulation_steps"]
        and "course default is 20" in said["logging_steps"]
    )
    assert "course default is 0.03" in said["warmup_ratio"] and "course default is 0.05" in said["lora_dropout"]
    warmup = next(e for e in part_a_entries() if e["name"] == "warmup_ratio")
    assert "rounded up" in warmup["why"] and "zero steps" not in warmup["why"]


def test_warmup_ratio_rounds_up_as_the_text_says() -> None:
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir="/nonexistent", warmup_steps=0.03, report_to="none")
    assert args.get_warmup_steps(2) == 1  # one whole step, the first, at learning rate 0


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


def test_the_python_floor_is_true() -> None:
    """pyproject's requires-python must admit no Python whose standard library lacks what grader imports."""
    import ast
    import tomllib

    from tests.conftest import ROOT

    needs = {"tomllib": (3, 11)}  # stdlib modules newer than 3.10, and the version that brought them
    used = {
        alias.name.split(".")[0]
        for path in (ROOT / "grader").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    floor = max((version for module, version in needs.items() if module in used), default=(3, 10))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = tuple(int(x) for x in project["project"]["requires-python"].removeprefix(">=").split("."))
    assert declared >= floor, f"grader imports tomllib, which needs Python {floor}; pyproject says {declared}"
    assert project["tool"]["ruff"]["target-version"] == f"py{declared[0]}{declared[1]}"


def test_every_spelling_of_a_part_a_key_is_written_once_in_parameters_yaml() -> None:
    """config's aliases, the course script's constants, PEFT's and trainer_state's keys all come from the per_key
    table of templates/parameters.yaml: each names a real config key, and no name means two keys."""
    from grader.config import ALIASES, KNOWN_KEYS, PART_A, part_a_entries, spelled
    from grader.outputs import summary
    from grader.reading import course_script, part_a_values

    seen: dict[tuple[str, str], str] = {}
    for entry in part_a_entries():
        for key, names in entry.get("per_key", {}).items():
            assert key in PART_A and key in entry["keys"], key
            for where in ("config", "script", "peft", "trainer", "trainer_state"):
                for name in names.get(where, []):
                    assert seen.setdefault((where, name), key) == key, (where, name)
    assert all(key in KNOWN_KEYS for key in spelled("config").values())
    assert len(PART_A) == 15 and set(PART_A) <= set(KNOWN_KEYS)  # 13 parameters; two cover two keys each
    assert ALIASES["lr"] == "learning_rate" and ALIASES["use_4bit"] == "load_in_4bit"
    assert course_script.CONSTANTS["LORA_RANK"] == "lora_r" and course_script.CONSTANTS["SEED"] == "seed"
    assert course_script.LORA_KEYWORDS == {"r": "lora_r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout"}
    # the TrainingArguments keywords the script reader takes: the Part A keys of the trainer, and the seed
    assert set(course_script.TRAINING_KEYWORDS) == {
        "learning_rate",
        "num_train_epochs",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "logging_steps",
        "warmup_ratio",
        "lr_scheduler_type",
        "bf16",
        "fp16",
        "seed",
    }
    assert part_a_values.spelled("trainer_state")["train_batch_size"] == "per_device_train_batch_size"
    assert summary.PARAMETERS[0] == "learning_rate" and summary.PARAMETERS[-1] == "optimizer_steps"
    assert "max_new_tokens" not in summary.PARAMETERS  # a generation setting: not correlated with the gain
