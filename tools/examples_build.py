"""Builds the example groups' own deliverables: `python -m tools.examples_build`.

`submissions/course-group/Week5_Group3_report.pptx` (slides, as most groups hand in) and
`submissions/course-group-lfs/Week5_Group5_report.pdf` (a report). They are written for this project, in the shape
real groups use: Part A per parameter (bullets on a slide, rows of a table, paragraphs; some in Korean), a loss
screenshot as an image, five test questions with the expected and the model's answer (a table in the deck,
labelled blocks in the PDF), a discussion and reflections. Committed like `templates/slides.pptx`: this script is
how they were made, and a test checks the committed files say what it writes.
"""

from __future__ import annotations

import io
import sys
from datetime import UTC
from pathlib import Path

from grader.layout import examples_dir

PART_A_SLIDES = [
    (
        "Part A · learning_rate",
        [
            "What it controls: the size of each optimizer step on the LoRA weights.",
            "If we increase it the adapter learns faster but the loss can spike or diverge; if we decrease it the "
            "model barely changes in one epoch.",
            "Typical range for LoRA on 7-8B models: 1e-4 to 3e-4 (course default 2e-4). We used 3e-4.",
            "Why it matters for us: with 24 geology samples there are only 2 optimizer steps, so a slightly "
            "higher rate lets the adapter pick up mineral and spectral terms at all.",
        ],
    ),
    (
        "Part A · 에폭 (num_train_epochs)",
        [
            "에폭은 전체 학습 데이터를 몇 번 반복해서 학습하는지를 정한다.",
            "에폭을 늘리면 데이터에 더 잘 맞지만 너무 많으면 답을 외워 과적합되고, 줄이면 학습이 부족하다.",
            "보통 1~5 사이를 쓰며 코스 기본값은 1이다.",
            "우리 초분광 데이터셋은 샘플이 적어서 에폭이 학습 스텝 수를 직접 결정한다.",
        ],
    ),
    (
        "Part A · lora_r (rank)",
        [
            "The rank r sets how many dimensions the low-rank update matrices A and B have: it controls the "
            "adapter's capacity.",
            "A higher rank means more trainable parameters and more memory, and more risk of overfitting; a lower "
            "rank is lighter but may not capture the domain.",
            "Typical values are 8 to 64; the course default is 16 and we chose 8.",
        ],
    ),
]
# parameter | what it controls | increase / decrease | typical range | why for our data
PART_A_TABLE = [
    ["Parameter", "What it controls", "Increase / decrease", "Typical range", "Why for our data"],
    [
        "per_device_train_batch_size",
        "Samples processed in one forward pass on the GPU",
        "Larger batches give smoother gradients but need more GPU memory",
        "1-8 (default 1)",
        "Our paper chunks are long (1,000+ characters), so only a batch of 1 fits",
    ],
    [
        "gradient_accumulation_steps",
        "How many passes are summed before one optimizer step",
        "Higher gives a bigger effective batch but fewer steps",
        "4-32 (default 16)",
        "With 24 samples, 16 means only 2 steps per epoch for our geology set",
    ],
    [
        "max_length / max_new_tokens",
        "Tokens kept per training sample / tokens generated per answer",
        "Too short cuts the context; too long costs memory and time",
        "512-4096 / 128-512",
        "Long hyperspectral paper chunks need a long max_length or the evidence is truncated",
    ],
    [
        "lora_alpha",
        "Scaling of the LoRA update (alpha / r)",
        "Higher alpha makes the update stronger, lower weaker",
        "usually r to 2r (we used 16 with r 8)",
        "Keeps the update strength comparable when we change the rank",
    ],
    [
        "lora_dropout",
        "Dropout on the LoRA input during training",
        "More dropout regularizes but slows learning",
        "0.0-0.1 (default 0.05)",
        "Our dataset is small, so we raised it to 0.1 against overfitting",
    ],
    [
        "include_mlp",
        "Whether LoRA also adapts gate/up/down_proj (MLP), not only attention",
        "Including the MLP adds parameters and memory but helps factual knowledge",
        "True (course) or False",
        "Mineral facts live in MLP weights, so we kept it True for our domain",
    ],
    [
        "lr_scheduler_type",
        "How the learning rate changes after warmup",
        "cosine decays smoothly, constant keeps the full rate",
        "cosine (default) or linear",
        "With 2 steps the schedule barely matters for us",
    ],
    [
        "bf16 / fp16",
        "The number format of computation",
        "bf16 is stable and halves memory; fp16 can overflow",
        "bf16 on A100/RTX 30xx and newer",
        "An 8B model only fits our single GPU in 4-bit with bf16 compute",
    ],
    ["logging_steps", "How often the loss is logged", "", "", ""],
]
# question, expected answer, the group's model answer (their fine-tuned model, as they showed it)
QA = [
    (
        "Which mineral shows a doublet absorption near 2165 and 2207 nm?",
        "Kaolinite shows the Al-OH doublet near 2165 and 2207 nm.",
        "Kaolinite, which has a doublet absorption in the SWIR near 2165 and 2207 nm.",
    ),
    (
        "Why is the 1900 nm region removed from airborne spectra?",
        "Water vapour absorbs almost all light there, so the bands are mostly noise.",
        "Because atmospheric water absorbs strongly at 1900 nm and the signal is noise.",
    ),
    (
        "What does SAM compare?",
        "The angle between a pixel spectrum and a reference spectrum.",
        "SAM compares the spectral angle between the pixel and a library spectrum.",
    ),
    (
        "Which band separates dolomite from calcite?",
        "Dolomite absorbs near 2320 nm, calcite near 2340 nm.",
        "The carbonate band near 2300 nm, where dolomite is at shorter wavelength.",
    ),
    (
        "What does the MNF transform order components by?",
        "By signal-to-noise ratio instead of variance.",
        "It orders components by variance like PCA.",
    ),
]
DISCUSSION = [
    "Was the output correct and useful? 4 of 5 answers were correct; the MNF answer was wrong.",
    "Did fine-tuning improve over the base model? Yes: the base model rambled and did not name the minerals.",
    "Which parameters seemed most critical? learning_rate and gradient_accumulation_steps, because with 24 "
    "samples they decide whether the adapter moves at all.",
]
REFLECTIONS = [
    "What worked: merging our two JSON files into all.jsonl and training in 4-bit on one GPU in under a minute.",
    "What was difficult: the loss log stayed empty because logging_steps 20 is larger than our 2 steps, so we "
    "could only report the final train loss (2.4187, perplexity 11.23).",
    "어려웠던 점: 어댑터 파일이 100 MB를 넘어서 GitHub에 올릴 수 없었다.",
    "What we would improve: more samples (at least 100), logging_steps 1, and a held-out validation set.",
]


def loss_screenshot() -> bytes:
    """A TensorBoard-like screenshot of the run's one logged scalar (what groups paste into their slides)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 2.6), dpi=80)
    ax = fig.add_subplot()
    ax.plot([2], [2.4187], marker="o", color="#e8710a")
    ax.set(title="train/train_loss", xlabel="step", xlim=(0, 3), ylim=(2.0, 3.0))
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


# Writes one example deck top to bottom, slide by slide, as a student's own script would; test data, not product.
def build_pptx(path: Path) -> None:
    from datetime import datetime

    from pptx import Presentation
    from pptx.util import Emu, Inches, Pt

    from grader.outputs.deck import save_reproducibly

    prs = Presentation()
    prs.slide_width, prs.slide_height = Emu(12192000), Emu(6858000)
    title_layout, content_layout, title_only = prs.slide_layouts[0], prs.slide_layouts[1], prs.slide_layouts[5]

    slide = prs.slides.add_slide(title_layout)
    slide.shapes.title.text = "Week 5 Assignment - Group 3"
    slide.placeholders[1].text = "LoRA fine-tuning of Llama-3.1-8B on geology / hyperspectral Q&A"

    def bullets(title: str, lines: list[str]) -> None:
        slide = prs.slides.add_slide(content_layout)
        slide.shapes.title.text = title
        frame = slide.placeholders[1].text_frame
        frame.text = lines[0]
        for line in lines[1:]:
            frame.add_paragraph().text = line
        for para in frame.paragraphs:
            for run in para.runs:
                run.font.size = Pt(16)

    def table(title: str, rows: list[list[str]], widths: list[float]) -> None:
        slide = prs.slides.add_slide(title_only)
        slide.shapes.title.text = title
        shape = slide.shapes.add_table(len(rows), len(rows[0]), Inches(0.4), Inches(1.3), Inches(12.5), Inches(5.6))
        for j, width in enumerate(widths):
            shape.table.columns[j].width = Inches(width)
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                cell = shape.table.cell(i, j)
                cell.text = text
                for para in cell.text_frame.paragraphs:
                    for run in para.runs:
                        run.font.size = Pt(10)

    for title, lines in PART_A_SLIDES:
        bullets(title, lines)
    table("Part A · the other parameters", PART_A_TABLE, [2.2, 2.6, 2.6, 2.1, 3.0])

    slide = prs.slides.add_slide(title_only)
    slide.shapes.title.text = "Training results"
    box = slide.shapes.add_textbox(Inches(0.5), Inches(1.4), Inches(5.5), Inches(3))
    box.text_frame.word_wrap = True
    box.text_frame.text = "Final train loss: 2.4187 (train_results.json)"
    box.text_frame.add_paragraph().text = "Perplexity = exp(2.4187) = 11.23"
    box.text_frame.add_paragraph().text = "2 optimizer steps; logging_steps 20 logged no step"
    slide.shapes.add_picture(io.BytesIO(loss_screenshot()), Inches(6.4), Inches(1.4), width=Inches(6.2))
    slide.notes_slide.notes_text_frame.text = "Screenshot from TensorBoard: only the final train_loss scalar."

    table(
        "Part B · test Q&A",
        [["Question", "Expected answer", "Model answer"], *[list(row) for row in QA]],
        [4.0, 4.2, 4.3],
    )
    bullets("Discussion", DISCUSSION)
    bullets("Reflections", REFLECTIONS)

    props = prs.core_properties
    props.author = props.last_modified_by = "Group 3"
    props.title = "Week 5 Assignment - Group 3"
    props.created = props.modified = datetime(2026, 10, 7, tzinfo=UTC)
    props.revision = 1
    save_reproducibly(prs, path)


PDF_PART_A = [
    (
        "학습률 (learning_rate)",
        "학습률은 각 옵티마이저 스텝에서 LoRA 가중치를 얼마나 크게 바꿀지를 조절한다. "
        "학습률을 높이면 빨리 배우지만 발산할 수 있고, 낮추면 안정적이지만 거의 학습되지 않는다. "
        "보통 1e-4~3e-4를 쓰며 기본값은 2e-4이다. "
        "우리 지질 데이터는 20개뿐이라 스텝이 적어서 학습률이 특히 중요하다.",
    ),
    (
        "num_train_epochs",
        "Epochs set how many times the trainer goes over the whole dataset. More epochs fit the "
        "data better until the model memorizes it; fewer may underfit. Typical values are 1 to 5. We set EPOCHS = 3 in "
        "the script but our run used 1, because we trained before editing it.",
    ),
    (
        "per_device_train_batch_size",
        "The batch size controls how many samples go through the GPU at once. A larger "
        "batch needs more memory. We kept the default of 1.",
    ),
    (
        "gradient_accumulation_steps",
        "Gradient accumulation sums gradients over several passes before one update, so "
        "the effective batch is batch size x accumulation. Increasing it means fewer optimizer steps. The default is "
        "16; with our 20 hyperspectral samples that is only 2 steps.",
    ),
    (
        "max_length",
        "max_length controls the maximum number of tokens per training sample. Too short and the "
        "context is cut. Typical 512 to 4096, default 2048, which fits our long paper chunks.",
    ),
    (
        "랭크 (lora_r)",
        "랭크는 LoRA 업데이트 행렬의 차원을 결정한다. "
        "랭크를 높이면 용량과 메모리가 늘고 과적합 위험이 커지며, "
        "낮추면 가볍지만 도메인을 충분히 배우지 못할 수 있다. 보통 8~64이고 기본값은 16이다.",
    ),
    ("lora_alpha", "lora_alpha scales the LoRA update by alpha / r; the default is 32."),
    ("lora_dropout", "Dropout on the LoRA layers regularizes training. Default 0.05."),
    ("include_mlp", "Whether the MLP projections are adapted as well."),
    (
        "warmup_ratio",
        "The warmup ratio is the share of steps where the learning rate ramps up from 0. A larger "
        "ratio wastes our few steps. Default 0.03.",
    ),
]
PDF_QA = [
    (
        "What causes the Al-OH absorption near 2200 nm?",
        "Vibrations of Al-OH bonds in clay minerals and micas.",
        "It is caused by Al-OH bond vibrations in clays such as illite.",
    ),
    (
        "Which sensor records 940 nm water vapour?",
        "The 940 nm band is used to estimate column water vapour.",
        "AVIRIS records the 940 nm water band.",
    ),
    ("Where does goethite absorb?", "Near 920 nm, with a shoulder near 650 nm.", "Goethite absorbs near 920 nm."),
    (
        "What does the pixel purity index find?",
        "Candidate endmembers, the purest pixels of an image.",
        "It finds the purest pixels, which are endmember candidates.",
    ),
    (
        "Why do CNNs need fewer bands?",
        "To limit overfitting with few labelled pixels.",
        "Fewer bands reduce overfitting when there are few labels.",
    ),
]


def build_pdf(path: Path) -> None:
    import base64
    from html import escape

    from grader.outputs.render import write_pdf

    image = "data:image/png;base64," + base64.b64encode(loss_screenshot()).decode()
    parts = ["<h1>Week 5 Report - Group 5</h1>", "<h2>Part A: Parameter analysis</h2>"]
    parts += [f"<h3>{escape(title)}</h3><p>{escape(text)}</p>" for title, text in PDF_PART_A]
    parts += [
        "<h2>Training</h2>",
        "<p>Final train loss 2.9034, perplexity 18.24. The loss log (logging_steps 20) is empty.</p>",
        f'<img src="{image}" style="width:12cm">',
        "<h2>Test Q&amp;A</h2>",
    ]
    for i, (question, expected, answer) in enumerate(PDF_QA, start=1):
        parts.append(
            f"<p>Q{i}. Question: {escape(question)}<br>Expected: {escape(expected)}<br>"
            f"Model answer: {escape(answer)}</p>"
        )
    parts += [
        "<h2>Discussion</h2>",
        "<p>Did fine-tuning improve over the base model? Slightly: three of five answers named the right mineral "
        "or band. The most critical parameter was the learning rate.</p>",
        "<h2>Reflections (회고)</h2>",
        "<p>잘 된 점: 데이터를 all.jsonl 하나로 합쳐 학습 스크립트를 그대로 사용할 수 있었다. "
        "어려웠던 점: 어댑터 가중치가 너무 커서 Git LFS로 올렸는데 실제 파일 대신 포인터만 올라갔다. "
        "개선할 점: 테스트 질문을 더 늘리고 검증 손실을 기록하겠다. "
        "What we learned: following the course defaults leaves the loss curve empty on a small dataset.</p>",
    ]
    html = (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        "body{font-family:'DejaVu Sans','NanumGothic',sans-serif;font-size:10.5pt}"
        "@page{size:A4;margin:2cm}</style></head><body>" + "".join(parts) + "</body></html>"
    )
    write_pdf(html, path)  # grader's own fonts: the same example on any machine


def main(root: Path | None = None) -> None:
    root = root or examples_dir()
    build_pptx(root / "course-group" / "Week5_Group3_report.pptx")
    build_pdf(root / "course-group-lfs" / "Week5_Group5_report.pdf")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
