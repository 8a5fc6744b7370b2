"""Rendering on hand-built records: no model needed. Hostile student text must stay text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader import render
from grader.layout import Layout
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

HOSTILE = '<script>alert(1)</script> {{ 7*7 }} <img src="file:///etc/passwd"> \x00\x0b\ud800'


def data(tmp_path: Path, text: str = "Kaolinite doublet near 2165 nm") -> dict:
    from grader import plots

    train = TrainRecord(
        group="g",
        source="trained",
        train_loss=1.2345,
        perplexity=3.44,
        steps=3,
        base_model="demo",
        log=[LogEntry(step=i, loss=2.0 - 0.3 * i, learning_rate=1e-4) for i in range(1, 4)],
        config={"learning_rate": 2e-4, "lora_r": 16},
    )
    gen = GenerationRecord(
        group="g",
        answers=[
            Answer(instruction=f"Q about {text}?", context=text, expected=text, base="unrelated words", finetuned=text)
        ],
    )
    q = QuestionScore(
        base={"rouge1": 0.1, "rouge2": 0.0, "rougeL": 0.1, "exact_match": 0.0},
        finetuned={"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "exact_match": 1.0},
        delta={"rouge1": 0.9, "rouge2": 1.0, "rougeL": 0.9, "exact_match": 1.0},
    )
    score = ScoreRecord(group="g", questions=[q], base_mean=q.base, finetuned_mean=q.finetuned, delta_mean=q.delta)
    grade = GradeRecord(
        group="g", items=[GradeItem(id="x", title="X", points=1, max_points=2, reason=text)], total=1, max_total=2
    )
    validation = ValidationRecord(
        group="g",
        n_samples=24,
        n_tests=1,
        config={
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
        },
    )
    plot = plots.training_plot(train, tmp_path / "training.png")
    report_md = f"# Report\n\n## Reflections\n\n{text}\n\n![x](file:///etc/passwd) <b>raw</b>"
    return render.report_data(
        GroupRecord(group="team <b>x</b>", path="."),
        validation,
        train,
        gen,
        score,
        grade,
        "graded",
        "",
        plot,
        report_md,
    )


def test_html_escapes_student_text(tmp_path: Path) -> None:
    html = render.render_html(data(tmp_path, HOSTILE))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "{{ 7*7 }}" in html and ">49<" not in html
    images = re.findall(r"<img[^>]*>", html)
    assert len(images) == 1 and 'src="data:image/png;base64,' in images[0]  # only our own plot
    assert "team &lt;b&gt;x&lt;/b&gt;" in html


def test_markdown_is_sanitized() -> None:
    html = render.markdown_html(
        '# T\n\n<iframe src="x"></iframe> ![a](http://evil/x.png) [l](javascript:alert(1))'
        "\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<iframe" not in html and "<img" not in html and "href" not in html and "<a" not in html
    assert "<table>" in html and "<h1>" in html


def test_fetcher_refuses_everything_but_assets() -> None:
    from weasyprint.urls import URLFetchingError

    fetcher = render.safe_fetcher()
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x.css", "https://example.com/a.png"):
        with pytest.raises(URLFetchingError):
            fetcher.fetch(url)
    assert fetcher.fetch((render.templates_dir() / "report.css").as_uri())


def test_pdf_and_pptx_content(tmp_path: Path) -> None:
    from pptx import Presentation
    from pypdf import PdfReader

    d = data(tmp_path)
    layout = Layout(tmp_path / "out")
    (tmp_path / "out" / "g").mkdir(parents=True)
    (tmp_path / "out" / "g" / "training.png").write_bytes((tmp_path / "training.png").read_bytes())
    record = render.run(d, layout, "g")
    reader = PdfReader(str(layout.report_pdf("g")))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 3
    for needle in ("team <b>x</b>", "1.234", "Q about Kaolinite doublet near 2165 nm?", "learning_rate", "Rubric"):
        assert needle in text
    assert "/EmbeddedFiles" not in str(reader.trailer["/Root"])
    deck = Presentation(str(layout.slides("g")))
    slide_text = "\n".join(s.text_frame.text for slide in deck.slides for s in slide.shapes if s.has_text_frame)
    assert "team <b>x</b>" in slide_text and "Q about Kaolinite" in slide_text and "1.234" in slide_text
    assert deck.slide_width * 9 == deck.slide_height * 16 and deck.core_properties.author == "grader"
    assert record.report_pdf == "report.pdf"


def test_hostile_text_renders_pdf_and_pptx(tmp_path: Path) -> None:
    from pypdf import PdfReader

    d = data(tmp_path, HOSTILE)
    layout = Layout(tmp_path / "out")
    render.run(d, layout, "g")
    text = "\n".join(p.extract_text() for p in PdfReader(str(layout.report_pdf("g"))).pages)
    assert "root:x:0:0" not in text and "{{ 7*7 }}" in text


def test_long_answers_continue_on_next_slide() -> None:
    from grader.slides import chunks

    pieces = chunks("word " * 1000, 300)
    assert len(pieces) > 3 and all(len(p) <= 300 for p in pieces)
