"""Corpus documents whose Part A is a table: the four questions as column headers (Korean, English, mixed, terse),
or one value and one paragraph per parameter. The truth of every row is written beside it."""

from __future__ import annotations

from tests.reading.spec import PARAMETERS, QA, Answer, Code, Doc, NotQA, Page, Table, header_row, qa_table

# --- g01: the issue's own case: Korean/mixed headers that are the four questions, Q&A without an expected column
KO_HEADER = [
    "Parameter",
    "역할 (What it controls)",
    "증가 / 감소하면? (Increase / decrease)",
    "권장 범위 (Typical range)",
    "우리 데이터에서 왜 중요한가",
]
G01_ROWS = [
    [
        "learning_rate",
        "LoRA 가중치를 한 스텝에 얼마나 크게 업데이트할지 (step size)",
        "↑ 빨리 학습하지만 loss가 튀거나 발산 / ↓ 안정적이지만 1 epoch로는 거의 안 변함",
        "1e-4 ~ 3e-4 (기본 2e-4)",
        "샘플이 24개라 optimizer step이 2번뿐 → lr이 너무 작으면 광물 용어를 못 배움",
    ],
    [
        "num_train_epochs",
        "전체 데이터를 몇 번 반복해서 볼지",
        "늘리면 더 잘 맞추지만 답을 외워 과적합, 줄이면 underfit",
        "1–5",
        "소규모 데이터셋이라 epoch 수가 곧 step 수를 결정",
    ],
    [
        "per_device_train_batch_size",
        "GPU 한 번에 처리하는 샘플 수",
        "크면 gradient가 안정적이지만 메모리 부족(OOM)",
        "1–8",
        "논문 chunk context가 1,000~4,000자라서 batch 1만 들어감",
    ],
    [
        "gradient_accumulation_steps",
        "optimizer step 전에 gradient를 몇 번 누적할지 (effective batch = batch × accum)",
        "늘리면 effective batch가 커지지만 step 수가 줄어듦",
        "4~32, 기본 16",
        "24개 샘플 × 16 누적 = epoch당 1~2 step",
    ],
    [
        "max_length",
        "학습 샘플 하나의 최대 토큰 수 (prompt + answer)",
        "짧으면 context가 잘림, 길면 메모리·시간 증가",
        "512~4096 (기본 2048)",
        "우리 context는 4,000자 정도의 논문 문단이라 잘리면 근거가 사라짐",
    ],
    [
        "lora_r",
        "rank = adapter capacity",
        "r↑ 학습 파라미터 수↑, 과적합 위험↑ / r↓ 가벼움",
        "8, 16, 32 (기본 16)",
        "데이터가 작아서 r=8~16이면 충분",
    ],
    [
        "lora_alpha",
        "LoRA update 스케일 (alpha / r)",
        "크면 update가 강해짐 (lr을 키운 것과 비슷)",
        "보통 r의 2배 (32)",
        "중요함",
    ],
    [
        "lora_dropout",
        "LoRA 입력에 적용하는 dropout 비율",
        "높이면 과적합 방지, 너무 높으면 학습이 느려짐",
        "0.05",
        "샘플 수가 적어 과적합이 주된 위험",
    ],
    [
        "include_mlp",
        "MLP(gate/up/down_proj)에도 LoRA를 붙일지 여부",
        "",
        "True (코스 기본값)",
        "광물 흡수 파장 같은 지식은 MLP 가중치에 많이 저장됨",
    ],
    [
        "warmup_ratio",
        "처음에 lr을 0에서 서서히 올리는 구간의 비율",
        "너무 크면 적은 step을 warmup에 낭비",
        "0.03",
        "step이 2개뿐이라 사실상 첫 step이 warmup",
    ],
    ["lr_scheduler_type", "warmup 이후 lr을 어떻게 줄일지", "cosine은 부드럽게 감소, constant는 유지", "cosine", "-"],
    [
        "bf16 / fp16",
        "연산에 쓰는 숫자 형식 (precision)",
        "bf16: 안정적, 메모리 절반 / fp16: overflow 가능",
        "bf16 (A100, RTX 30xx 이상)",
        "8B 모델을 우리 GPU 하나에 올리려면 4bit + bf16 필요",
    ],
    ["logging_steps", "몇 step마다 loss를 기록할지", "", "10~50 (코스 20)", ""],
]
G01_QA = [
    QA(
        "2200 nm 부근의 흡수는 어떤 광물을 나타내나요?",
        base="2200 nm는 근적외선 영역으로 다양한 물질이 흡수합니다.",
        answer="Al-OH 결합을 가진 점토광물(카올리나이트, 일라이트)과 백운모를 나타냅니다.",
    ),
    QA(
        "What does a band ratio of 1650/2200 nm highlight?",
        base="It highlights vegetation health.",
        answer="Clay-rich (Al-OH bearing) alteration zones, because the 2200 nm band is darker there.",
    ),
    QA(
        "방해석과 백운석을 구분하는 SWIR 흡수 위치는?",
        base="방해석과 백운석은 모두 탄산염 광물입니다.",
        answer="백운석은 약 2320 nm, 방해석은 약 2340 nm에서 흡수합니다.",
    ),
    QA(
        "Why are the bands near 1400 and 1900 nm removed?",
        base="To reduce the data size.",
        answer="Atmospheric water vapour absorbs almost all light there, so those bands are noise.",
    ),
    QA(
        "SAM 분류는 무엇을 비교하나요?",
        base="SAM은 Segment Anything Model입니다.",
        answer="픽셀 스펙트럼과 참조 스펙트럼 사이의 각도(spectral angle)를 비교합니다.",
    ),
]
G01_FORMAT_ROW = """def format_row(ex):
    sys_ = ex.get("system", DEFAULT_SYS)
    ins, ctx = ex["instruction"], ex.get("context", "")
    return f"{sys_}\\n\\nInstruction: {ins}\\nContext: {ctx}\\nAnswer:\""""
G01_SMOKE = """prompt = "Instruction: 2200 nm 흡수는 무엇을 의미하나요?\\nContext: \\nAnswer:"
out = model.generate(**tok(prompt, return_tensors="pt"), max_new_tokens=200)"""
G01 = Doc(
    name="g01_ko_header_table.pptx",
    style="Part A as a table whose Korean/English column headers are the four questions, over three slides; "
    "Q&A as 'No. | Question (질문) | Base model 답변 | Fine-tuned 답변' (no expected column); code on slides",
    pages=[
        Page("Week 5 LoRA Fine-tuning — 3조", ["지질 / 초분광 Q&A 데이터로 Llama-3.1-8B 미세조정"]),
        Page("Part A. 파라미터 분석 (1/3)", [Table([KO_HEADER, *G01_ROWS[:5]])]),
        Page("Part A. 파라미터 분석 (2/3)", [Table([KO_HEADER, *G01_ROWS[5:10]])]),
        Page("Part A. 파라미터 분석 (3/3)", [Table([KO_HEADER, *G01_ROWS[10:]])]),
        Page("학습 결과", ["Final train loss 2.4187 → perplexity 11.2", "optimizer step 2번, loss log는 비어 있음"]),
        Page("데이터 포맷 코드", [Code(G01_FORMAT_ROW)]),
        Page(
            "Part B. Test Q&A (Base vs Fine-tuned)",
            [qa_table(["No.", "Question (질문)", "Base model 답변", "Fine-tuned 답변"], G01_QA, numbered=True)],
        ),
        Page("Smoke test", [Code(G01_SMOKE), "학습 직후 위 프롬프트로 생성이 되는지만 확인했다."]),
        Page(
            "회고 (Reflections)",
            [
                "잘 된 점: 4bit로 GPU 하나에서 1분 안에 학습이 끝났다.",
                "어려웠던 점: adapter가 100 MB를 넘어서 GitHub에 올리지 못했다.",
                "개선할 점: 다음에는 logging_steps=1로 하고 validation set 추가, 샘플도 100개 이상으로.",
            ],
        ),
    ],
    answers=[
        *(header_row(row[0].split(" ")[0], row) for row in G01_ROWS[:6]),
        header_row("lora_alpha", G01_ROWS[6], ("why",), "why cell '중요함' says nothing about the task"),
        header_row("lora_dropout", G01_ROWS[7], note="'0.05' under the typical-range header is a usual value"),
        header_row("include_mlp", G01_ROWS[8], ("effect",), "effect cell empty"),
        header_row("warmup_ratio", G01_ROWS[9]),
        header_row("lr_scheduler_type", G01_ROWS[10], ("why",), "why cell is '-'"),
        header_row("bf16", G01_ROWS[11]),
        header_row(
            "logging_steps",
            G01_ROWS[12],
            ("effect", "why"),
            "effect and why empty; the reflections' 'logging_steps=1 ... validation set 추가' is a plan, not an answer",
        ),
    ],
    qa=G01_QA,
    not_qa=[
        NotQA(G01_FORMAT_ROW, "code: the prompt template (f-string with {ins})"),
        NotQA(G01_SMOKE, "code: a smoke-test prompt, no test question of the group's"),
    ],
)

# --- g02: Parameter | Value | one paragraph covering the four questions; Q&A with expected and base columns
G02_ROWS = [
    [
        "learning_rate",
        "2e-4",
        "Sets the step size of each update to the LoRA weights. A higher rate learns faster but can make the loss "
        "spike; a lower one barely moves the adapter in our single epoch. 1e-4 to 3e-4 is the usual LoRA range, and "
        "with only 30 mineral Q&A samples we kept the default so the few steps still count.",
    ],
    [
        "num_train_epochs",
        "3",
        "Number of full passes over the training set. More epochs fit better until the model starts reciting the "
        "paper chunks; fewer underfit. We chose 3 (typical 1-5) because 30 samples give very few steps per epoch.",
    ],
    [
        "per_device_train_batch_size",
        "1",
        "How many samples are processed per forward pass. Our contexts are up to 4,000 characters, so anything "
        "above 1 ran out of memory on the T4.",
    ],
    [
        "gradient_accumulation_steps",
        "16",
        "Accumulates gradients over 16 micro-batches before one optimizer step, so the effective batch is 16. "
        "Raising it smooths the update but leaves us with only 2 steps per epoch on 30 samples.",
    ],
    [
        "max_length",
        "2048",
        "Maximum tokens of prompt plus answer per training sample; longer samples are truncated. Too short a value "
        "cuts off the spectral evidence in the context, too long wastes memory. 2048 is the course default and "
        "covers our 1,500-3,000 character chunks.",
    ],
    [
        "lora_r",
        "16",
        "Rank of the low-rank matrices A and B, i.e. the capacity of the adapter. Higher rank = more trainable "
        "parameters and more overfitting risk. Typical 8-64.",
    ],
    [
        "lora_alpha",
        "32",
        "Scaling factor: the LoRA update is multiplied by alpha/r. A bigger alpha acts like a bigger learning rate "
        "for the adapter. Usually 2×r.",
    ],
    [
        "lora_dropout",
        "0.05",
        "Dropout on the LoRA input during training; 0.05 is the common default. We kept it since our set is tiny and "
        "overfitting is the main risk.",
    ],
    [
        "include_mlp",
        "True",
        "Whether the adapter also covers the MLP projections (gate/up/down_proj). Turning it on roughly triples the "
        "trainable parameters but helps store facts such as the absorption positions of minerals.",
    ],
    ["warmup_ratio", "0.03", "Fraction of steps during which the learning rate ramps up from zero."],
    [
        "lr_scheduler_type",
        "cosine",
        "Shape of the learning-rate decay after warmup; cosine (the default) decays smoothly to zero, linear decays "
        "at a constant slope.",
    ],
    [
        "bf16",
        "True",
        "Use bfloat16 for computation: half the memory of fp32 with the same exponent range, so no overflow as in "
        "fp16. Needed to fit the 8B model plus our long geology contexts on one GPU.",
    ],
    ["logging_steps", "20", "Log the loss every 20 steps."],
]
G02_QA = [
    QA(
        "Which mineral causes the doublet absorption at 2165 and 2207 nm?",
        "Kaolinite (Al-OH doublet).",
        "The doublet is caused by water.",
        "Kaolinite, whose Al-OH bond gives a doublet near 2165 and 2207 nm.",
    ),
    QA(
        "What is continuum removal used for?",
        "To normalise spectra so absorption depths and positions can be compared.",
        "It removes noise from the image.",
        "It divides the spectrum by its convex hull so absorption features can be compared.",
    ),
    QA(
        "Which SWIR feature indicates chlorite?",
        "An Fe-OH / Mg-OH absorption near 2250 and 2330 nm.",
        "Chlorite is green.",
        "Absorptions near 2250 nm and 2330 nm from Fe-OH and Mg-OH.",
    ),
    QA(
        "Why is the 2.2 µm band ratio sensitive to alteration?",
        "Argillic and phyllic alteration minerals absorb at 2.2 µm, lowering reflectance there.",
        "Because alteration changes colour.",
        "Alteration clays and sericite absorb at 2.2 µm.",
    ),
    QA(
        "What does MNF do before endmember extraction?",
        "It orders components by signal-to-noise ratio and separates noise.",
        "MNF means minimum noise filter.",
        "It sorts components by variance like PCA.",
    ),
]
G02_ARGS = """args = TrainingArguments(
    output_dir=OUT_RUNS, num_train_epochs=EPOCHS,
    bf16=True,          # set bf16 for A100
    logging_steps=20,   # add logging to tensorboard
    warmup_ratio=0.03, lr_scheduler_type="cosine", save_steps=500)"""


def _g02_answer(
    name: str,
    row: list[str],
    note: str = "",
    what: str | None = None,
    effect: str | None = None,
    range: str | None = None,
    why: str | None = None,
) -> Answer:
    return Answer(name, what, effect, range, why, note or f"value column {row[1]!r} is the group's own value")


G02 = Doc(
    name="g02_value_paragraph.pptx",
    style="Part A as 'Parameter | Value | Explanation' with one English paragraph per parameter covering the four "
    "questions; code of TrainingArguments with comments; Q&A with expected and base columns",
    pages=[
        Page("Week 5 — Group 7: LoRA on SWIR mineral Q&A", ["Llama-3.1-8B, QLoRA, 30 training samples"]),
        Page("Part A: hyper-parameters (1/3)", [Table([["Parameter", "Value", "Explanation"], *G02_ROWS[:5]])]),
        Page("Part A: hyper-parameters (2/3)", [Table([["Parameter", "Value", "Explanation"], *G02_ROWS[5:9]])]),
        Page("Part A: hyper-parameters (3/3)", [Table([["Parameter", "Value", "Explanation"], *G02_ROWS[9:]])]),
        Page("Training setup", [Code(G02_ARGS), "Final train loss 1.9312 (perplexity 6.90)."]),
        Page(
            "Test Q&A: base vs fine-tuned",
            [qa_table(["Question", "Expected answer", "Base model", "Fine-tuned model"], G02_QA)],
        ),
        Page(
            "Discussion",
            [
                "Fine-tuning improved 4 of 5 answers over the base model; the MNF answer is still wrong.",
                "The most critical parameter was the learning rate: 5e-4 made the loss jump.",
            ],
        ),
    ],
    answers=[
        _g02_answer(
            "learning_rate",
            G02_ROWS[0],
            what="Sets the step size of each update to the LoRA weights",
            effect="A higher rate learns faster but can make the loss spike",
            range="1e-4 to 3e-4 is the usual LoRA range",
            why="with only 30 mineral Q&A samples we kept the default so the few steps still count",
        ),
        _g02_answer(
            "num_train_epochs",
            G02_ROWS[1],
            what="Number of full passes over the training set",
            effect="More epochs fit better until the model starts reciting the paper chunks; fewer underfit",
            range="typical 1-5",
            why="because 30 samples give very few steps per epoch",
        ),
        _g02_answer(
            "per_device_train_batch_size",
            G02_ROWS[2],
            "raising it above 1 is said to run out of memory (an effect); no usual range",
            what="How many samples are processed per forward pass",
            effect="anything above 1 ran out of memory on the T4",
            why="Our contexts are up to 4,000 characters",
        ),
        _g02_answer(
            "gradient_accumulation_steps",
            G02_ROWS[3],
            "16 is the group's value, no usual range given",
            what="Accumulates gradients over 16 micro-batches before one optimizer step",
            effect="Raising it smooths the update but leaves us with only 2 steps per epoch",
            why="only 2 steps per epoch on 30 samples",
        ),
        _g02_answer(
            "max_length",
            G02_ROWS[4],
            what="Maximum tokens of prompt plus answer per training sample",
            effect="Too short a value cuts off the spectral evidence in the context, too long wastes memory",
            range="2048 is the course default",
            why="covers our 1,500-3,000 character chunks",
        ),
        _g02_answer(
            "lora_r",
            G02_ROWS[5],
            "nothing ties it to the task",
            what="Rank of the low-rank matrices A and B, i.e. the capacity of the adapter",
            effect="Higher rank = more trainable parameters and more overfitting risk",
            range="Typical 8-64",
        ),
        _g02_answer(
            "lora_alpha",
            G02_ROWS[6],
            "nothing ties it to the task",
            what="the LoRA update is multiplied by alpha/r",
            effect="A bigger alpha acts like a bigger learning rate for the adapter",
            range="Usually 2×r",
        ),
        _g02_answer(
            "lora_dropout",
            G02_ROWS[7],
            "no direction (what more or less dropout does)",
            what="Dropout on the LoRA input during training",
            range="0.05 is the common default",
            why="our set is tiny and overfitting is the main risk",
        ),
        _g02_answer(
            "include_mlp",
            G02_ROWS[8],
            "'True' is the group's value, no usual choice named",
            what="Whether the adapter also covers the MLP projections (gate/up/down_proj)",
            effect="Turning it on roughly triples the trainable parameters",
            why="helps store facts such as the absorption positions of minerals",
        ),
        _g02_answer(
            "warmup_ratio",
            G02_ROWS[9],
            "only what it is",
            what="Fraction of steps during which the learning rate ramps up from zero",
        ),
        _g02_answer(
            "lr_scheduler_type",
            G02_ROWS[10],
            "choosing cosine vs linear is its effect; nothing about the task",
            what="Shape of the learning-rate decay after warmup",
            effect="cosine (the default) decays smoothly to zero, linear decays at a constant slope",
            range="cosine (the default)",
        ),
        _g02_answer(
            "bf16",
            G02_ROWS[11],
            "no usual choice given; the code comment 'set bf16 for A100' is code, not the answer",
            what="Use bfloat16 for computation",
            effect="half the memory of fp32 with the same exponent range, so no overflow as in fp16",
            why="Needed to fit the 8B model plus our long geology contexts on one GPU",
        ),
        _g02_answer(
            "logging_steps",
            G02_ROWS[12],
            "'every 20 steps' is the group's value; the code comment 'add logging' answers nothing",
            what="Log the loss every 20 steps.",
        ),
    ],
    qa=G02_QA,
    not_qa=[NotQA(G02_ARGS, "code: the training arguments with comments")],
)

# --- g07: terse but complete: abbreviations, arrows, names a TA knows ("batch", "grad accum")
TERSE_HEADER = ["Param", "Controls", "↑ / ↓", "Range", "Why (our data)"]
G07_ROWS = [
    ["lr", "step size", "↑ fast, unstable; ↓ slow", "1e-4–3e-4", "24 samples → 2 steps"],
    ["epochs", "passes over data", "↑ overfit; ↓ underfit", "1–5", "tiny set, few steps"],
    ["batch", "samples / step", "↑ more VRAM", "1–8", "4k-char contexts"],
    ["grad accum", "micro-steps per update", "↑ eff. batch, ↓ updates", "4–32", "2 updates / epoch"],
    ["max_length", "tokens / sample", "↓ truncates context", "512–4096", "long paper chunks"],
    ["lora_r", "adapter rank", "↑ capacity, params", "8–64", "narrow geology domain"],
    ["lora_alpha", "update scale α/r", "↑ stronger update", "r–2r", "we tried r 8 & 16, kept α/r"],
    ["lora_dropout", "LoRA input dropout", "↑ regularise", "0–0.1", "overfit risk (24 samples)"],
    ["include_mlp", "LoRA on MLP too", "on: params ×3", "True (course)", "mineral facts sit in MLP"],
    ["warmup_ratio", "LR ramp share", "↑ wastes steps", "0.03", "2 steps → no real warmup"],
    ["scheduler", "LR decay shape", "cosine smooth / const flat", "cosine", "~none (2 steps)"],
    ["bf16", "compute dtype", "½ memory vs fp32", "bf16 ≥ Ampere", "8B on 1 GPU"],
    ["logging_steps", "loss log interval", "↓ more points", "10–50", "20 > 2 steps → empty log"],
]
G07_NAMES = list(PARAMETERS)  # the rows follow the assignment's order
G07_QA = [
    QA("Where does hematite absorb in the VNIR?", "Near 860-880 nm (Fe3+ crystal field).", answer="Near 870 nm."),
    QA("Which index maps ferric iron?", "The red/blue band ratio.", answer="A ratio of red to blue reflectance."),
    QA("What does SWIR stand for?", "Short-wave infrared, about 1000-2500 nm.", answer="Short-wave infrared."),
    QA("Which absorption marks alunite?", "Near 1760 and 2165 nm.", answer="Around 2165 nm, plus 1760 nm."),
    QA("Why use PCA on hyperspectral cubes?", "To reduce correlated bands.", answer="To compress bands."),
]
G07 = Doc(
    name="g07_terse.pptx",
    style="terse but complete: one table, English abbreviated headers, arrows, names a TA reads as the "
    "parameter ('batch', 'grad accum', 'epochs'); Q&A table with a reference column",
    pages=[
        Page("G4 · Week 5", ["LoRA / QLoRA, Llama-3.1-8B, 24 samples"]),
        Page("Part A (1/2)", [Table([TERSE_HEADER, *G07_ROWS[:7]])]),
        Page("Part A (2/2)", [Table([TERSE_HEADER, *G07_ROWS[7:]])]),
        Page("Tests", [qa_table(["Question", "Reference", "Fine-tuned"], G07_QA)]),
        Page("Reflections", ["Worked: 4-bit on one GPU.", "Hard: empty loss log.", "Next: more data, log every step."]),
    ],
    answers=[
        header_row(
            name,
            row,
            ("why",) if name == "lr_scheduler_type" else (),
            "why '~none' says nothing" if name == "lr_scheduler_type" else "terse but each cell answers its column",
        )
        for name, row in zip(G07_NAMES, G07_ROWS, strict=True)
    ],
    qa=G07_QA,
)

# --- g11: a Google-Docs-like PDF export: mixed headers, a numbered Q&A table with expected and base columns
MIXED_HEADER = [
    "파라미터",
    "What it controls (역할)",
    "증가/감소 시",
    "Default / 범위",
    "Why for our geology data (우리 데이터)",
]
G11_ROWS = [
    [
        "learning_rate",
        "가중치 업데이트 크기",
        "too high → diverge, too low → 학습 안 됨",
        "2e-4 (LoRA 보통 1e-4~3e-4)",
        "광물 용어가 base model에 드물어서 충분한 lr 필요",
    ],
    ["num_train_epochs", "데이터 반복 횟수", "많으면 overfitting", "상황에 따라 다름", "N/A"],
    ["per_device_train_batch_size", "한 step의 샘플 수", "클수록 메모리 많이 씀", "1", "초분광 논문 context가 길다"],
    [
        "gradient_accumulation_steps",
        "gradient를 모으는 횟수",
        "커지면 update 횟수 감소",
        "16 (default)",
        "작은 데이터셋에서 update가 1~2번뿐",
    ],
    ["max_length", "입력 최대 토큰", "짧으면 truncation", "2048", "논문 chunk 3,000자 이상"],
    ["lora_r", "LoRA rank", "", "", ""],
    ["lora_alpha", "scaling (α/r)", "크면 효과 강함", "32", ""],
    ["lora_dropout", "dropout 확률", "높으면 regularization", "0.05~0.1", "샘플 40개라 과적합 위험"],
    ["include_mlp", "MLP layer에도 LoRA 적용 여부", "켜면 파라미터 3배", "True", "광물 지식 학습에 도움"],
    ["warmup_ratio", "warmup 비율", "", "0.03", ""],
    ["lr_scheduler_type", "lr 감소 방식", "cosine: 부드럽게 감소", "cosine", "step 수가 적어 영향 작음"],
    ["bf16", "연산 precision", "메모리 절반", "bf16 (Ampere 이상)", "8B 모델을 단일 GPU에"],
    ["logging_steps", "loss 기록 간격", "작을수록 자세한 곡선", "20", "우리 run은 2 step이라 log가 비어 있음"],
]
G11_QA = [
    QA("Kaolinite의 대표 흡수 위치는?", "2165 nm와 2207 nm의 doublet", "약 1400 nm", "2165/2207 nm doublet (Al-OH)"),
    QA(
        "What does a high 2.2 µm band depth indicate?",
        "Abundant Al-OH clays or micas.",
        "High moisture.",
        "More Al-OH minerals such as kaolinite or muscovite.",
    ),
    QA("Jarosite의 흡수 특징은?", "약 2265 nm 흡수와 430 nm 부근 Fe3+ 흡수", "모름", "2265 nm 부근의 Fe-OH 흡수"),
    QA(
        "Why is atmospheric correction needed before mapping minerals?",
        "Because gases like water vapour and CO2 absorb and scatter light, distorting the surface spectrum.",
        "To make the image brighter.",
        "To remove absorption and scattering by the atmosphere.",
    ),
    QA(
        "초분광 영상에서 endmember란?",
        "영상 안의 순수한 물질의 대표 스펙트럼",
        "끝에 있는 픽셀",
        "순수한 물질 하나의 스펙트럼",
    ),
]
G11_VAGUE = {
    "num_train_epochs": (("range", "why"), "'상황에 따라 다름' (depends) and 'N/A' give no range and no reason"),
    "per_device_train_batch_size": ((), "'1' under the 'Default / 범위' header is the default"),
    "lora_r": (("effect", "range", "why"), "only 'LoRA rank': what it is"),
    "lora_alpha": (("why",), "why empty"),
    "warmup_ratio": (("effect", "why"), "effect and why empty"),
}
G11 = Doc(
    name="g11_mixed_table.pdf",
    style="a report exported to PDF: one table with mixed Korean/English question headers over two pages, vague "
    "and empty cells; Q&A as 'No. | Question (질문) | Expected (정답) | Base model 답변 | Fine-tuned 답변'",
    pages=[
        Page("Week 5 보고서 — 5조", ["LoRA fine-tuning on hyperspectral geology Q&A (40 samples)."]),
        Page("Part A — 파라미터 (1)", [Table([MIXED_HEADER, *G11_ROWS[:7]])]),
        Page("Part A — 파라미터 (2)", [Table([MIXED_HEADER, *G11_ROWS[7:]])]),
        Page(
            "Part B — 테스트 결과",
            [
                qa_table(
                    ["No.", "Question (질문)", "Expected (정답)", "Base model 답변", "Fine-tuned 답변"],
                    G11_QA,
                    numbered=True,
                ),
                "Fine-tuned 모델이 5개 중 4개에서 base보다 정확했다.",
            ],
        ),
        Page("Reflections / 회고", ["loss가 1.7까지 작아져서 만족스러웠다. 다음에는 epoch을 늘려서 비교해 보고 싶다."]),
    ],
    answers=[
        header_row(
            row[0],
            row,
            G11_VAGUE[row[0]][0] if row[0] in G11_VAGUE else (),
            G11_VAGUE[row[0]][1] if row[0] in G11_VAGUE else "",
        )
        for row in G11_ROWS
    ],
    qa=G11_QA,
)

DOCS = [G01, G02, G07, G11]
