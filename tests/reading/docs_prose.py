"""Corpus documents whose Part A is written as bullets or prose: one slide per parameter, prose in a PDF, a
Korean-only Word report, an English REPORT.md with labelled bullets, Korean slides with two parameters each. Q&A as
labelled blocks ("Q1. / Expected: / Model answer:", "질문: / 정답: / 모델 답변:") or tables."""

from __future__ import annotations

from tests.reading.spec import QA, Answer, Code, Doc, NotQA, Page, qa_table


def _blocks(rows: list[QA], labels: tuple[str, str, str, str], start: int = 1) -> list[str]:
    """Q&A as labelled paragraphs, each label on its own line (an empty field has no line)."""
    out = []
    for i, qa in enumerate(rows, start):
        lines = [f"{labels[0].format(i=i)} {qa.question}"]
        lines += [
            f"{label} {text}" for label, text in zip(labels[1:], (qa.expected, qa.base, qa.answer), strict=True) if text
        ]
        out.append("\n".join(lines))
    return out


# --- g03: one slide per parameter, bullets; Q&A as Q1./Expected:/Model answer: blocks; code slides
G03_SLIDES = {
    "learning_rate": [
        "Controls how big each weight update is",
        "Too high → loss spikes / diverges; too low → almost no learning in 1 epoch",
        "Typical: 1e-4 – 3e-4; we used 2e-4",
        "Our 40 SWIR-spectra Q&A pairs give only 3 steps, so lr decides if anything is learned",
    ],
    "num_train_epochs": ["How many passes over all.jsonl", "We used 3 epochs"],
    "per_device_train_batch_size": [
        "Samples per GPU per step",
        "Bigger batch → more VRAM, smoother gradient",
        "Default 1",
    ],
    "gradient_accumulation_steps": [
        "Effective batch = batch × accumulation",
        "More accumulation → fewer optimizer updates",
        "Common: 4–32 (course: 16)",
        "With 40 samples and 16 accumulation we get only 2–3 updates per epoch",
    ],
    "max_length": [
        "Upper limit on tokens per sample (prompt + answer)",
        "Longer → more memory; shorter → context gets truncated",
        "We kept 2048",
        "Our paper chunks (≈3,000 chars ≈ 800 tokens) fit without truncation",
    ],
    "lora_r": ["Rank of the update matrices", "r 8–64 is common"],
    "lora_alpha": [
        "Scales the LoRA output by alpha / r",
        "Higher alpha = stronger adaptation",
        "Rule of thumb: alpha = 2r",
        "We compared r=8 and r=16 runs, so we kept alpha/r fixed to compare them fairly",
    ],
    "lora_dropout": [
        "Randomly zeroes LoRA inputs while training",
        "More dropout → less overfitting but slower fit",
        "0–0.1",
        "Small geology dataset → overfitting risk → we used 0.1",
    ],
    "include_mlp": [
        "Adds LoRA to gate_proj, up_proj, down_proj too",
        "~3× more trainable params",
        "Course default: True",
    ],
    "warmup_ratio": ["Share of training spent ramping the LR up", "0.03 = 3% of the steps (we kept it)"],
    "lr_scheduler_type": [
        "How the LR decays after warmup",
        "Options: cosine (default), linear, constant",
        "With 3 total steps the schedule hardly matters for our run",
    ],
    "bf16 / fp16": [
        "16-bit brain float for compute",
        "Halves memory vs fp32; unlike fp16 it doesn't overflow",
        "Use bf16 on Ampere+, fp16 on older GPUs",
        "Our Colab T4 has no bf16, so we switched to fp16",
    ],
    "logging_steps": ["Log the loss every N steps"],
}
G03_ARGS = """TrainingArguments(
    per_device_train_batch_size=1, gradient_accumulation_steps=16,
    bf16=False, fp16=True,   # set fp16: T4
    logging_steps=20,        # add more logging later
)"""
G03_SMOKE = """q = "What does the 900 nm absorption indicate?"
prompt = f"{SYSTEM}\\n\\nInstruction: {q}\\nContext: \\nAnswer:"
print(generate(prompt))"""
G03_QA = [
    QA(
        "Which mineral group absorbs near 900 nm?",
        "Ferric iron oxides such as goethite and hematite.",
        answer="Iron oxides like hematite and goethite.",
    ),
    QA(
        "What causes the 2330 nm absorption in carbonates?",
        "The CO3 vibration overtone.",
        answer="Mg-OH bonds in talc.",
    ),
    QA(
        "What is a spectral library?",
        "A collection of reference spectra of known materials measured in the lab.",
        answer="A set of reference spectra of known minerals.",
    ),
    QA(
        "Why do we smooth spectra before feature extraction?",
        "To reduce noise that shifts band minima.",
        answer="To remove noise so absorption minima are found correctly.",
    ),
    QA("Which sensor gave the airborne data in our papers?", "AVIRIS-NG.", answer="AVIRIS-NG."),
]


def _slide(name: str, title: str, note: str = "") -> Answer:
    """A slide whose bullets answer the questions in order, one bullet each (what, effect, range, why)."""
    lines: list[str | None] = [*G03_SLIDES[title], None, None, None][:4]
    return Answer(name, lines[0], lines[1], lines[2], lines[3], note)


G03 = Doc(
    name="g03_slide_per_param.pptx",
    style="one slide per parameter with English bullets, several partial; training-argument code with comments "
    "next to bf16/logging_steps; a smoke-test prompt in code; Q&A as 'Q1. / Expected: / Model answer:' blocks",
    bullets=True,
    pages=[
        Page("Week 5 Fine-tuning — Team Basalt", ["Llama-3.1-8B + LoRA on 40 SWIR mineral Q&A pairs"]),
        *(Page(f"{i}. {name}", lines) for i, (name, lines) in enumerate(G03_SLIDES.items(), 1)),
        Page("Our training config", [Code(G03_ARGS)]),
        Page("Smoke test after training", [Code(G03_SMOKE)]),
        Page("Test Q&A (1/2)", _blocks(G03_QA[:3], ("Q{i}.", "Expected:", "", "Model answer:"))),
        Page("Test Q&A (2/2)", _blocks(G03_QA[3:], ("Q{i}.", "Expected:", "", "Model answer:"), start=4)),
        Page(
            "Reflections",
            [
                "What worked: the 4-bit model trained on a T4 in 3 minutes.",
                "What was difficult: bf16 failed on the T4 until we set fp16.",
                "Improve: add a validation set and more samples.",
            ],
        ),
    ],
    answers=[
        _slide("learning_rate", "learning_rate"),
        Answer("num_train_epochs", what="How many passes over all.jsonl", note="'We used 3 epochs' is the value"),
        _slide("per_device_train_batch_size", "per_device_train_batch_size", note="no why"),
        _slide("gradient_accumulation_steps", "gradient_accumulation_steps"),
        Answer(
            "max_length",
            what="Upper limit on tokens per sample (prompt + answer)",
            effect="Longer → more memory; shorter → context gets truncated",
            why="Our paper chunks (≈3,000 chars ≈ 800 tokens) fit without truncation",
            note="'We kept 2048' is the group's value, not a usual range",
        ),
        Answer("lora_r", what="Rank of the update matrices", range="r 8–64 is common"),
        _slide("lora_alpha", "lora_alpha"),
        _slide("lora_dropout", "lora_dropout"),
        _slide("include_mlp", "include_mlp", note="no why"),
        Answer(
            "warmup_ratio",
            what="Share of training spent ramping the LR up",
            note="'0.03 = 3% of the steps (we kept it)' is the group's value explained, not a usual range",
        ),
        Answer(
            "lr_scheduler_type",
            what="How the LR decays after warmup",
            range="Options: cosine (default), linear, constant",
            why="With 3 total steps the schedule hardly matters for our run",
            note="the options are listed, not what choosing one does",
        ),
        _slide("bf16", "bf16 / fp16"),
        Answer(
            "logging_steps",
            what="Log the loss every N steps",
            note="the code comment 'add more logging later' next to logging_steps=20 answers nothing",
        ),
    ],
    qa=G03_QA,
    not_qa=[NotQA(G03_ARGS, "code: training arguments"), NotQA(G03_SMOKE, "code: a smoke-test prompt")],
)

# --- g04: prose in a PDF, several parameters per paragraph
G04_OPT = [
    "The learning rate sets how far each optimizer step moves the LoRA weights. Raising it speeds up learning, but "
    "at 5e-4 our loss jumped from 2.1 to 3.4, while 5e-5 left the adapter almost unchanged. The usual LoRA range is "
    "1e-4 to 3e-4, so we stayed at 2e-4. Because geology vocabulary such as kaolinite, alunite and jarosite is rare "
    "in the base model's pretraining, the rate decides whether these terms are learned in so few steps.",
    "The warmup ratio is the fraction of the steps in which the learning rate climbs linearly from zero to its peak; "
    "0.03 is a common choice. In our run with three optimizer steps even 3% means the first step is spent warming up.",
    "The scheduler type decides how the rate decays after warmup. We used cosine.",
]
G04_BATCH = [
    "per_device_train_batch_size is the number of samples on the GPU in one forward and backward pass, and "
    "gradient_accumulation_steps is how many of those passes are summed before the optimizer updates. A larger "
    "batch gives a smoother gradient but needs more memory; more accumulation gives the same smoothing without the "
    "memory but fewer updates. Typical values are a batch of 1 to 8 and 4 to 32 accumulation steps. Our contexts "
    "are long excerpts from hyperspectral papers, so only a batch of 1 fits and accumulation has to supply the rest.",
    "max_length caps the number of tokens of prompt and answer together; tokens past it are cut off. If it is too "
    "short the model never sees the part of the context that holds the answer. We measured our longest sample at "
    "1,210 tokens, so the default of 2048 keeps every sample whole.",
]
G04_LORA = [
    "lora_r is the rank of the adapter matrices and lora_alpha scales their output by alpha/r. A higher rank adds "
    "capacity and parameters; a higher alpha makes the update stronger. We used r = 16 and alpha = 32.",
    "lora_dropout drops a share of the adapter's inputs during training, typically 0.05 to 0.1, which matters for "
    "a dataset as small as ours (36 samples) because it memorises quickly.",
    "We left include_mlp on.",
]
G04_PREC = [
    "bf16 stores activations and gradients in bfloat16. Compared with fp16 it has the range of fp32 and does not "
    "overflow, and compared with fp32 it halves memory.",
    "logging_steps is how often the trainer writes the loss. Lower values log more points; the course script uses "
    "20. With only three steps our loss log stayed empty, which is why we could report only the final train loss.",
    "Final train loss: 1.87 (perplexity 6.49).",
]
G04_QA = [
    QA(
        "Which absorption feature distinguishes muscovite from kaolinite?",
        "Muscovite has a single Al-OH absorption near 2200 nm; kaolinite has a doublet at 2165/2207 nm.",
        answer="Kaolinite shows a doublet near 2165 and 2207 nm, muscovite a single feature near 2200 nm.",
    ),
    QA(
        "What is the purpose of the minimum noise fraction transform?",
        "To separate noise from signal and order components by signal-to-noise ratio.",
        answer="It reduces dimensionality by ordering components by SNR.",
    ),
    QA(
        "Which wavelength region is most useful for carbonate mapping?",
        "The SWIR near 2300-2350 nm.",
        answer="Around 2.3 µm in the short-wave infrared.",
    ),
    QA(
        "Why does vegetation cover complicate mineral mapping?",
        "Vegetation spectra mix with the soil and rock spectra and mask their absorption features.",
        answer="Because plants have strong absorptions that hide the minerals.",
    ),
    QA(
        "What does the red edge indicate?",
        "The steep rise in vegetation reflectance between about 680 and 750 nm, related to chlorophyll.",
        answer="The boundary of a geological unit.",
    ),
]
G04 = Doc(
    name="g04_prose_report.pdf",
    style="an English report in prose, several parameters per paragraph, exported to PDF; Q&A as a table with an "
    "expected column; the reflections use 'set', 'add', 'increase' near a parameter name",
    pages=[
        Page("1. Optimisation: learning rate, warmup and schedule", G04_OPT),
        Page("2. Batch and sequence length", G04_BATCH),
        Page("3. LoRA settings", G04_LORA),
        Page("4. Precision and logging", G04_PREC),
        Page(
            "5. Test questions",
            [
                "We tested five questions from our own papers, none of them in the training data.",
                qa_table(["Question", "Expected answer", "Model output"], G04_QA),
            ],
        ),
        Page(
            "6. Discussion and reflections",
            [
                "The fine-tuned model named the right mineral in four of five answers; the base model rambled.",
                "Next time we would set aside a validation set, add more samples and increase num_train_epochs to 3.",
            ],
        ),
    ],
    answers=[
        Answer(
            "learning_rate",
            what="The learning rate sets how far each optimizer step moves the LoRA weights",
            effect="Raising it speeds up learning",
            range="The usual LoRA range is 1e-4 to 3e-4",
            why="geology vocabulary such as kaolinite, alunite and jarosite is rare",
        ),
        Answer(
            "warmup_ratio",
            what="the fraction of the steps in which the learning rate climbs linearly from zero to its peak",
            range="0.03 is a common choice",
            why="In our run with three optimizer steps even 3% means the first step is spent warming up",
            note="no effect of raising or lowering it",
        ),
        Answer(
            "lr_scheduler_type",
            what="The scheduler type decides how the rate decays after warmup",
            note="'We used cosine' is the value",
        ),
        Answer(
            "per_device_train_batch_size",
            what="the number of samples on the GPU in one forward and backward pass",
            effect="A larger batch gives a smoother gradient but needs more memory",
            range="a batch of 1 to 8",
            why="Our contexts are long excerpts from hyperspectral papers, so only a batch of 1 fits",
        ),
        Answer(
            "gradient_accumulation_steps",
            what="how many of those passes are summed before the optimizer updates",
            effect="more accumulation gives the same smoothing without the memory but fewer updates",
            range="4 to 32 accumulation steps",
            why="accumulation has to supply the rest",
        ),
        Answer(
            "max_length",
            what="max_length caps the number of tokens of prompt and answer together",
            effect="If it is too short the model never sees the part of the context that holds the answer",
            range="the default of 2048",
            why="We measured our longest sample at 1,210 tokens",
        ),
        Answer(
            "lora_r",
            what="lora_r is the rank of the adapter matrices",
            effect="A higher rank adds capacity and parameters",
            note="r = 16 is the value",
        ),
        Answer(
            "lora_alpha",
            what="lora_alpha scales their output by alpha/r",
            effect="a higher alpha makes the update stronger",
            note="alpha = 32 is the value",
        ),
        Answer(
            "lora_dropout",
            what="lora_dropout drops a share of the adapter's inputs during training",
            range="typically 0.05 to 0.1",
            why="a dataset as small as ours (36 samples) because it memorises quickly",
        ),
        Answer("include_mlp", note="only named ('We left include_mlp on.')"),
        Answer(
            "bf16",
            what="bf16 stores activations and gradients in bfloat16",
            effect="Compared with fp16 it has the range of fp32 and does not overflow",
        ),
        Answer(
            "logging_steps",
            what="logging_steps is how often the trainer writes the loss",
            effect="Lower values log more points",
            range="the course script uses 20",
            why="With only three steps our loss log stayed empty",
        ),
        Answer("num_train_epochs", note="only in the reflections: 'increase num_train_epochs to 3' is a plan"),
    ],
    qa=G04_QA,
)

# --- g05: Korean only, a Word report with a heading per parameter; Q&A table with Korean headers
G05_SECTIONS = {  # heading: the paragraph under it, sentence by sentence
    "학습률 (learning rate)": [
        "학습률은 한 번의 업데이트에서 가중치를 얼마나 바꿀지 정한다.",
        "너무 크면 손실이 발산하고, 너무 작으면 학습이 거의 되지 않는다.",
        "보통 1e-4에서 3e-4 사이를 쓴다.",
        "우리 데이터는 광물 분광 용어가 많아서 적절한 학습률이 중요했다.",
    ],
    "에포크": [
        "에포크는 전체 데이터를 몇 번 학습할지를 의미한다.",
        "우리는 3 에포크를 사용했다.",
    ],
    "배치 크기": [
        "배치 크기는 한 번에 GPU에 올리는 샘플 수이다.",
        "배치를 키우면 메모리가 더 필요하다.",
        "논문 문단이 길어서 우리는 1로 두었다.",
    ],
    "그래디언트 누적": [
        "그래디언트 누적은 여러 번의 순전파 결과를 모아 한 번에 업데이트하는 것이다.",
        "값이 크면 실제 배치가 커지는 효과가 있지만 업데이트 횟수는 줄어든다.",
        "기본값은 16이다.",
    ],
    "최대 길이 (max_length)": [
        "max_length는 한 샘플에서 사용할 최대 토큰 수이다.",
        "우리 context는 평균 2,500자로 길기 때문에 2048 토큰으로 설정했다.",
    ],
    "랭크 (lora_r)": [
        "랭크는 LoRA 행렬의 차원이다.",
        "랭크가 높을수록 표현력이 커지지만 과적합 위험도 커진다.",
        "8~64가 일반적이다.",
    ],
    "알파 (lora_alpha)": [
        "알파는 LoRA 업데이트의 크기를 조절하는 값으로 보통 랭크의 두 배로 둔다.",
    ],
    "드롭아웃": [
        "드롭아웃은 학습 중 일부 입력을 0으로 만들어 과적합을 막는다.",
        "0.05~0.1을 많이 쓴다.",
        "데이터가 30개뿐이라 과적합을 막는 것이 중요했다.",
    ],
    "MLP 포함 여부 (include_mlp)": [
        "include_mlp는 어텐션뿐 아니라 MLP 층에도 LoRA를 적용할지 결정한다.",
        "켜면 학습 파라미터가 약 3배 늘어난다.",
        "광물의 흡수 파장 같은 사실 지식이 MLP에 저장되므로 우리 과제에 도움이 된다.",
    ],
    "워밍업": [
        "워밍업 비율은 학습 초반에 학습률을 서서히 올리는 구간의 비율이다.",
    ],
    "스케줄러": [
        "스케줄러는 학습률을 어떻게 감소시킬지 정한다.",
        "기본값은 cosine이다.",
    ],
    "정밀도 (bf16 / fp16)": [
        "bf16은 메모리를 절반으로 줄이면서 fp16보다 안정적이다.",
        "A100에서는 bf16을 권장한다.",
    ],
    "로깅 (logging_steps)": [
        "logging_steps는 손실을 몇 스텝마다 기록할지 정한다.",
        "값을 줄이면 손실 곡선이 더 촘촘해진다.",
        "우리는 전체 스텝이 2개뿐이라 1로 바꿨다.",
    ],
}
G05_QA = [
    QA(
        "카올리나이트를 다른 점토광물과 구별하는 흡수 특징은?",
        "2165 nm와 2207 nm의 이중 흡수(doublet)",
        answer="2200 nm 부근의 이중 흡수 구조로 구별한다.",
    ),
    QA(
        "밴드 비율(band ratio)을 쓰는 이유는?",
        "지형에 의한 밝기 차이를 줄이고 흡수 특징을 강조하기 위해",
        answer="그림자와 지형 효과를 줄이고 광물의 흡수를 강조한다.",
    ),
    QA(
        "초분광 영상의 대기 보정이 필요한 이유는?",
        "대기의 수증기와 기체가 빛을 흡수·산란하여 지표 스펙트럼을 왜곡하기 때문",
        answer="대기 중 수증기의 흡수를 제거하기 위해서이다.",
    ),
    QA("철 산화물의 대표적인 흡수 위치는?", "약 900 nm 부근", answer="약 900 nm와 650 nm 부근"),
    QA("스펙트럼 각도 매퍼(SAM)의 장점은?", "조도(밝기) 차이에 덜 민감하다", answer="계산이 빠르다."),
]
G05 = Doc(
    name="g05_korean_only.docx",
    style="Korean only: a Word report, one heading per parameter with a short paragraph; Q&A as "
    "'번호 | 질문 | 정답 | 모델 답변'; reflections say '작아' and '줄이' next to 에포크",
    pages=[
        Page("Part A. 파라미터 분석", ["우리 조(6조)는 과제의 13개 파라미터를 다음과 같이 정리했다."]),
        *(Page(title, [" ".join(text)]) for title, text in G05_SECTIONS.items()),
        Page("Part B. 테스트 결과", [qa_table(["번호", "질문", "정답", "모델 답변"], G05_QA, numbered=True)]),
        Page(
            "느낀 점",
            ["loss가 생각보다 작아서 과적합이 걱정되었다. 다음에는 에포크를 줄이고 검증 데이터를 따로 두겠다."],
        ),
    ],
    answers=[
        Answer(
            "learning_rate",
            what="가중치를 얼마나 바꿀지 정한다",
            effect="너무 크면 손실이 발산하고, 너무 작으면 학습이 거의 되지 않는다",
            range="보통 1e-4에서 3e-4 사이를 쓴다",
            why="우리 데이터는 광물 분광 용어가 많아서",
        ),
        Answer(
            "num_train_epochs",
            what="전체 데이터를 몇 번 학습할지를 의미한다",
            note="'3 에포크를 사용했다' is the value; the reflections' '에포크를 줄이고' is a plan",
        ),
        Answer(
            "per_device_train_batch_size",
            what="한 번에 GPU에 올리는 샘플 수",
            effect="배치를 키우면 메모리가 더 필요하다",
            why="논문 문단이 길어서 우리는 1로 두었다",
        ),
        Answer(
            "gradient_accumulation_steps",
            what="여러 번의 순전파 결과를 모아 한 번에 업데이트하는 것",
            effect="값이 크면 실제 배치가 커지는 효과가 있지만 업데이트 횟수는 줄어든다",
            range="기본값은 16이다",
        ),
        Answer(
            "max_length",
            what="한 샘플에서 사용할 최대 토큰 수",
            why="우리 context는 평균 2,500자로 길기 때문에",
            note="'2048 토큰으로 설정했다' is the value",
        ),
        Answer(
            "lora_r",
            what="LoRA 행렬의 차원",
            effect="랭크가 높을수록 표현력이 커지지만 과적합 위험도 커진다",
            range="8~64가 일반적이다",
        ),
        Answer("lora_alpha", what="LoRA 업데이트의 크기를 조절하는 값", range="보통 랭크의 두 배로 둔다"),
        Answer(
            "lora_dropout",
            what="학습 중 일부 입력을 0으로 만들어 과적합을 막는다",
            range="0.05~0.1을 많이 쓴다",
            why="데이터가 30개뿐이라",
            note="what it does, not what raising or lowering it does",
        ),
        Answer(
            "include_mlp",
            what="MLP 층에도 LoRA를 적용할지 결정한다",
            effect="켜면 학습 파라미터가 약 3배 늘어난다",
            why="광물의 흡수 파장 같은 사실 지식이 MLP에 저장되므로",
        ),
        Answer("warmup_ratio", what="학습 초반에 학습률을 서서히 올리는 구간의 비율"),
        Answer("lr_scheduler_type", what="학습률을 어떻게 감소시킬지 정한다", range="기본값은 cosine이다"),
        Answer(
            "bf16",
            effect="bf16은 메모리를 절반으로 줄이면서 fp16보다 안정적이다",
            range="A100에서는 bf16을 권장한다",
            note="says what bf16 does, not what the setting controls",
        ),
        Answer(
            "logging_steps",
            what="손실을 몇 스텝마다 기록할지 정한다",
            effect="값을 줄이면 손실 곡선이 더 촘촘해진다",
            why="전체 스텝이 2개뿐이라",
        ),
    ],
    qa=G05_QA,
)

# --- g06: an English REPORT.md with labelled bullets; some labels filled with nothing; Q&A blocks with a base line
G06_PARAMS: dict[str, list[str]] = {
    "learning_rate": [
        "What: the step size of the optimizer on the LoRA weights",
        "Effect: higher = faster but unstable, lower = slow",
        "Range: 1e-4 to 3e-4",
        "Why: our dataset is 25 samples of mineral spectroscopy, so there are only two steps",
    ],
    "num_train_epochs": [
        "What: passes over the data",
        "Effect: more epochs → memorisation of the paper text",
        "Range: 1–5",
        "Why: important",
    ],
    "per_device_train_batch_size": [
        "What: samples per step per GPU",
        "Effect: larger needs more memory",
        "Range: 1–8",
        "Why: long contexts from remote-sensing papers",
    ],
    "gradient_accumulation_steps": [
        "What: steps of gradients summed before an update",
        "Effect: —",
        "Range: 16 (course default)",
        "Why: —",
    ],
    "max_length": [
        "What: token cap for training samples",
        "Effect: too small truncates the context",
        "Range: 2048 (course)",
        "Why: our contexts reach ~3,500 characters (≈900 tokens)",
    ],
    "lora_r": [
        "What: rank of A and B",
        "Effect: higher = more capacity and more parameters",
        "Range: 8–64",
        "Why: 16 is enough for a narrow geology domain",
    ],
    "lora_alpha": ["What: scale alpha/r", "Effect: TBD", "Range: TBD", "Why: TBD"],
    "lora_dropout": [
        "What: dropout probability on LoRA layers",
        "Effect: more = more regularisation",
        "Range: 0.05",
        "Why: few samples → overfitting",
    ],
    "warmup_ratio": ["What: fraction of steps with increasing LR", "Effect:", "Range: 0.03", "Why:"],
    "lr_scheduler_type": [
        "What: LR curve after warmup",
        "Effect: cosine decays smoothly; constant keeps the LR",
        "Range: cosine",
        "Why: few steps, so little difference for us",
    ],
    "bf16": [
        "What: number format (bfloat16) of the computation",
        "Effect: saves memory; fp16 may overflow",
        "Range: bf16 if the GPU supports it",
        "Why: needed to fit the 8B model in our 24 GB GPU",
    ],
    "logging_steps": [
        "What: how often the loss is logged",
        "Effect: smaller = more points in the loss curve",
        "Range: 20 in the course script",
        "Why: our 2 steps never reached 20, so the log is empty",
    ],
}
G06_QA = [
    QA(
        "What does a deep 2200 nm feature with a shoulder at 2165 nm suggest?",
        "Kaolinite.",
        "It suggests water content.",
        "Kaolinite or another kaolin-group mineral.",
    ),
    QA("Which mineral absorbs at 2340 nm?", "Calcite.", "Quartz.", "Calcite (carbonate)."),
    QA("What does the 1900 nm feature indicate in clays?", "Molecular water.", "Iron.", "Bound molecular water."),
    QA("What is the spectral resolution of AVIRIS?", "About 10 nm.", "1 m.", "About 10 nm over 224 bands."),
    QA(
        "Why are spectra continuum-removed before matching?",
        "To compare absorption features independent of overall brightness.",
        "To make them smoother.",
        "To isolate absorption features from the overall slope.",
    ),
]


def _g06_answer(name: str, missing: tuple[str, ...] = (), note: str = "") -> Answer:
    lines = dict(zip(("what", "effect", "range", "why"), G06_PARAMS[name], strict=True))
    words = {q: None if q in missing else line for q, line in lines.items()}
    return Answer(name, words["what"], words["effect"], words["range"], words["why"], note)


G06 = Doc(
    name="g06_english.md",
    style="an English REPORT.md: a heading per parameter with 'What: / Effect: / Range: / Why:' bullets, some "
    "filled with '—', 'TBD', nothing or 'important'; include_mlp left out; Q&A blocks with a base-model line",
    bullets=True,
    pages=[
        Page("Week 5 report — Group 2", ["Team: 4 members. Data: 25 samples from SWIR mineral papers."]),
        *(Page(name, lines) for name, lines in G06_PARAMS.items()),
        Page("Test Q&A", _blocks(G06_QA, ("Q{i}.", "Expected:", "Base model answer:", "Fine-tuned answer:"))),
        Page("Reflections", ["What worked: training finished quickly.", "Hard: the adapter was too big for GitHub."]),
    ],
    answers=[
        _g06_answer("learning_rate"),
        _g06_answer("num_train_epochs", ("why",), "why: 'important' says nothing"),
        _g06_answer("per_device_train_batch_size"),
        _g06_answer("gradient_accumulation_steps", ("effect", "why"), "effect and why: '—'"),
        _g06_answer("max_length"),
        _g06_answer("lora_r"),
        _g06_answer("lora_alpha", ("effect", "range", "why"), "TBD"),
        _g06_answer("lora_dropout"),
        _g06_answer("warmup_ratio", ("effect", "why"), "effect and why empty"),
        _g06_answer("lr_scheduler_type"),
        _g06_answer("bf16"),
        _g06_answer("logging_steps"),
        Answer("include_mlp", note="not in the report"),
    ],
    qa=G06_QA,
)

# --- g12: Korean slides, two parameters per slide (bullets start with the parameter's name); Korean Q&A blocks
G12_SLIDES = {
    "학습률 & 에포크": [
        "학습률: 한 스텝에서 가중치가 움직이는 크기. 크면 발산, 작으면 느림. 보통 2e-4.",
        "에포크: 데이터 전체를 보는 횟수. 우리는 2로 했다.",
    ],
    "배치 크기 & 그래디언트 누적": [
        "배치 크기: 한 번에 넣는 샘플 수, 우리 GPU(24GB)에는 1이 한계.",
        "그래디언트 누적: 16번 모아서 한 번 업데이트 → 실질 배치 16. 늘리면 업데이트 횟수가 줄어든다.",
    ],
    "LoRA 랭크 & 알파": [
        "랭크: 어댑터 행렬의 차원 = 학습 용량. 8~32 권장.",
        "알파: LoRA 업데이트의 스케일. 랭크의 2배로 두는 것이 일반적.",
    ],
    "드롭아웃 & 워밍업": [
        "드롭아웃: LoRA 입력 일부를 0으로 만드는 비율, 과적합 방지용. 우리 데이터(32개)가 작아서 0.1로 올렸다.",
        "워밍업: 초반에 학습률을 천천히 올림. 0.03.",
    ],
}
G12_FORMAT_ROW = """def format_row(ex):
    ins = ex["instruction"]
    return f"{SYSTEM}\\n\\nInstruction: {ins}\\nContext: {ex['context']}\\nAnswer:\""""
G12_QA = [
    QA("운모(muscovite)의 주요 흡수 파장은?", "약 2200 nm의 Al-OH 흡수", answer="2200 nm 부근 Al-OH 흡수"),
    QA("방해석의 주요 흡수 파장은?", "약 2340 nm", answer="2340 nm 부근"),
    QA(
        "초분광과 다중분광의 차이는?",
        "초분광은 수백 개의 좁고 연속적인 밴드를 가진다",
        answer="초분광은 좁은 밴드가 연속적으로 수백 개 있다",
    ),
    QA("MNF 변환의 목적은?", "잡음을 분리하고 신호 대 잡음비 순으로 성분을 정렬", answer="차원 축소"),
    QA("알루나이트의 진단 흡수는?", "약 1760 nm와 2165 nm", answer="2165 nm 부근"),
]
G12 = Doc(
    name="g12_ko_blocks.pptx",
    style="Korean slides with two parameters per slide, each bullet starting with its parameter's Korean name; only "
    "8 parameters; the prompt-format code on a slide; Q&A as '질문: / 정답: / 모델 답변:' blocks",
    bullets=True,
    pages=[
        Page("5주차 LoRA 미세조정 — 8조", ["Llama-3.1-8B, 지질·초분광 Q&A 32개"]),
        *(Page(title, lines) for title, lines in G12_SLIDES.items()),
        Page("프롬프트 형식", [Code(G12_FORMAT_ROW), "학습과 추론에 같은 형식을 사용했다."]),
        Page("테스트 Q&A", _blocks(G12_QA, ("질문:", "정답:", "", "모델 답변:"))),
        Page(
            "회고", ["데이터 정리에 시간이 가장 많이 걸렸다.", "다음에는 max_length를 늘려 긴 문맥을 넣어 보고 싶다."]
        ),
    ],
    answers=[
        Answer(
            "learning_rate",
            what="한 스텝에서 가중치가 움직이는 크기",
            effect="크면 발산, 작으면 느림",
            range="보통 2e-4.",
        ),
        Answer("num_train_epochs", what="데이터 전체를 보는 횟수", note="'우리는 2로 했다' is the value"),
        Answer(
            "per_device_train_batch_size",
            what="한 번에 넣는 샘플 수",
            why="우리 GPU(24GB)에는 1이 한계",
            note="the group's GPU is its reason",
        ),
        Answer(
            "gradient_accumulation_steps",
            what="16번 모아서 한 번 업데이트 → 실질 배치 16",
            effect="늘리면 업데이트 횟수가 줄어든다",
        ),
        Answer("lora_r", what="어댑터 행렬의 차원 = 학습 용량", range="8~32 권장"),
        Answer("lora_alpha", what="LoRA 업데이트의 스케일", range="랭크의 2배로 두는 것이 일반적"),
        Answer(
            "lora_dropout",
            what="LoRA 입력 일부를 0으로 만드는 비율",
            why="우리 데이터(32개)가 작아서 0.1로 올렸다",
            note="'0.1로 올렸다' is the group's value, not an effect",
        ),
        Answer("warmup_ratio", what="초반에 학습률을 천천히 올림", note="'0.03.' is the value only"),
        Answer("max_length", note="only in the reflections: '늘려 긴 문맥을 넣어 보고 싶다' is a plan"),
    ],
    qa=G12_QA,
    not_qa=[NotQA(G12_FORMAT_ROW, "code: the prompt template")],
)

DOCS = [G03, G04, G05, G06, G12]
