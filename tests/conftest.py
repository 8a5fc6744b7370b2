"""Shared fixtures: the demo model is built once per session into a temporary cache, offline."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from grader.outputs.report import Report

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
    from grader.llm import loader

    return loader.load("demo")


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


def minerals(n: int, offset: int = 0) -> list[Any]:
    """n question-answer Samples numbered from `offset`, whose answers a tiny adapter can learn to change."""
    from grader.records import Sample

    return [
        Sample(
            system="You are a geology assistant.",
            instruction=f"What is mineral number {i}?",
            context=f"Mineral {i} absorbs near {2000 + i} nm.",
            answer=f"It absorbs near {2000 + i} nm, like basalt {i}.",
        )
        for i in range(offset, offset + n)
    ]


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
    from grader.reading import sample_files

    return sample_files.read_samples(EXAMPLES / group, [file], [], is_test=file.startswith("tests"))


@pytest.fixture
def copy_example(tmp_path: Path) -> Any:
    def copy(name: str) -> Path:
        target = tmp_path / "subs" / name
        shutil.copytree(EXAMPLES / name, target)
        return target

    return copy


def report_data(
    tmp_path: Path,
    text: str = "Kaolinite doublet near 2165 nm",
    *,
    group: str = "team <b>x</b>",
    questions: int = 1,
    answer: str | None = None,
    steps: int = 3,
    reflections: str | None = None,
) -> Report:
    """A group's records built by hand (no model), rendered into the report's data model.

    `text` goes into every student field; `answer` (default: `text`) is the fine-tuned answer of every question.
    """
    from grader.outputs import plots, report
    from grader.records import (
        Answer,
        GenerationRecord,
        GradeItem,
        GradeRecord,
        GroupRecord,
        LogEntry,
        QuestionScore,
        ScoreRecord,
        TrainRecord,
        ValidationRecord,
    )

    config = {
        "learning_rate": 2e-4,
        "num_train_epochs": 3,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 2,
        "max_length": 1024,
        "max_new_tokens": 64,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "include_mlp": True,
        "warmup_ratio": 0.05,
        "lr_scheduler_type": "cosine",
        "bf16": True,
        "fp16": False,
        "logging_steps": 1,
    }
    train = TrainRecord(
        group=group,
        source="trained",
        train_loss=1.2345,
        perplexity=3.44,
        steps=steps,
        base_model="demo",
        log=[LogEntry(step=i, epoch=i / steps, loss=2.0 - i / steps, learning_rate=1e-4) for i in range(1, steps + 1)],
        config={"learning_rate": 2e-4, "lora_r": 16},
    )
    answers = [
        Answer(
            instruction=f"Q{i + 1} about {text}?",
            context=text,
            expected=text,
            base="unrelated words",
            finetuned=text if answer is None else answer,
        )
        for i in range(questions)
    ]
    q = QuestionScore(
        base={"rouge1": 0.1, "rouge2": 0.0, "rougeL": 0.1, "exact_match": 0.0},
        finetuned={"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "exact_match": 1.0},
        delta={"rouge1": 0.9, "rouge2": 1.0, "rougeL": 0.9, "exact_match": 1.0},
    )
    score = ScoreRecord(
        group=group, questions=[q] * questions, base_mean=q.base, finetuned_mean=q.finetuned, delta_mean=q.delta
    )
    grade = GradeRecord(
        group=group,
        items=[GradeItem(id="x", title="X", points=1, max_points=2, reason=text)],
        total=1,
        max_total=2,
    )
    body = text if reflections is None else reflections
    report_md = f"# Report\n\n## Reflections\n\n{body}\n\n![x](file:///etc/passwd) <b>raw</b>"
    from grader.config import part_a_entries
    from grader.reading import deliverable, writing

    written, _ = writing.understand(deliverable.markdown(report_md, "REPORT.md"), part_a_entries(), "system")
    validation = ValidationRecord(group=group, n_samples=24, n_tests=questions, config=config, writing=written)
    plot = plots.training_plot(train, tmp_path / "training.png")
    return report.build(
        GroupRecord(group=group, path="."),
        status="graded",
        validation=validation,
        train=train,
        generation=GenerationRecord(group=group, answers=answers),
        score=score,
        grade=grade,
        plot=plot,
        report_md=report_md,
    )


Word = tuple[float, float, float, float, str]  # xMin, yMin, xMax, yMax, text


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def deck_text(path: Path, notes: bool = True) -> list[str]:
    """The text of each slide, and (`notes`) of its speaker notes: where the deck keeps the whole of what a slide
    shows shortened."""
    from pptx import Presentation

    return [
        "\n".join(shape.text_frame.text for shape in slide.shapes if shape.has_text_frame)
        + (f"\n{slide.notes_slide.notes_text_frame.text}" if notes and slide.has_notes_slide else "")
        for slide in Presentation(str(path)).slides
    ]


def pdf_pages(pdf: Path) -> list[tuple[float, float, list[Word]]]:
    """(width, height, words with their boxes) for every page, from poppler's `pdftotext -bbox`."""
    import re
    import subprocess

    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = []
    for page in re.split(r"<page ", out)[1:]:
        size = re.match(r'width="([\d.]+)" height="([\d.]+)"', page)
        assert size is not None, page[:80]
        found = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', page)
        boxes = [(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in found]
        pages.append((float(size.group(1)), float(size.group(2)), boxes))
    return pages


def viewer_env(folder: Path) -> dict[str, str]:
    """The environment of a LibreOffice that sees grader's fonts (DejaVu Sans, which the deck's measuring assumes,
    and NanumGothic for Hangul) beside the machine's own, as a viewer with the deck's fonts does: the tests then
    need no font package."""
    from grader.outputs import fonts

    folders = "".join(f"<dir>{d}</dir>" for d in sorted({str(face.path.parent) for face in fonts.faces()}))
    config = folder / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?><fontconfig><include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"{folders}<cachedir>{folder / 'fc-cache'}</cachedir></fontconfig>"
    )
    return {**os.environ, "FONTCONFIG_FILE": str(config)}
