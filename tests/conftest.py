"""Shared fixtures: the demo model is built once per session into a temporary cache, offline."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "submissions"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `gpu` need CUDA: skipped, never faked, where there is none."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def grader_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = Path(os.environ.get("GRADER_TEST_CACHE") or tmp_path_factory.mktemp("grader-cache"))
    os.environ["GRADER_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def runtime(grader_cache: Path) -> Any:
    from grader import model

    return model.load("demo")


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def sample(i: int, **extra: Any) -> dict[str, Any]:
    row = {
        "system": "You are a geology assistant.",
        "instruction": f"What is mineral number {i}?",
        "context": f"Mineral {i} absorbs near {2000 + i} nm.",
        "answer": f"It absorbs near {2000 + i} nm.",
    }
    row.update(extra)
    return row


# A real but quick training run on the demo model: 8 samples, 2 optimizer steps.
TINY_TRAIN = {
    "num_train_epochs": 1,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 1,
    "learning_rate": 1e-3,
    "max_length": 256,
}


def example_samples(file: str = "data/train.jsonl", group: str = "good-group") -> list[Any]:
    """Normalized samples of an example group, read by the validator as the pipeline reads them."""
    from grader import validate

    return validate.read_samples(EXAMPLES / group, [file], [], is_test=file.startswith("tests"))


@pytest.fixture
def copy_example(tmp_path: Path) -> Any:
    def copy(name: str) -> Path:
        target = tmp_path / "subs" / name
        shutil.copytree(EXAMPLES / name, target)
        return target

    return copy
