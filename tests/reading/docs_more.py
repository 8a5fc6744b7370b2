"""More corpus documents in the same styles: the assignment's own questions as an English table's headers in a
REPORT.md (with a context column in its Q&A), an English Word report that skips parameters, a PDF of mixed
Korean/English bullets with several parameters per page, and a group deck that copies half of its Part A from the
course's lecture deck (the copied passages answer nothing)."""

from __future__ import annotations

from tests.reading.docs_empty import G10, LECTURE
from tests.reading.spec import QA, Answer, Code, Doc, NotQA, Page, Table, header_row, qa_table

# --- g13: REPORT.md, the header cells are the assignment's four questions word for word
QUESTION_HEADER = [
    "Parameter",
    "What does this parameter control?",
    "What happens if we increase or decrease it?",
    "What is the typical good range or default value?",
    "Why is this important for our fine-tuning task (geology / hyperspectral domain)?",
]
G13_ROWS = [
    [
        "learning_rate",
        "How strongly each optimizer step changes the adapter weights.",
        "Increase: faster, risk of divergence. Decrease: stable but slow.",
        "2e-4 (course); 1e-4 to 3e-4 usual for LoRA.",
        "Our 28 samples only give 2 optimizer steps, so a too-small rate learns nothing.",
    ],
    [
        "num_train_epochs",
        "It controls the epochs.",
        "More epochs = more training.",
        "we used 1",
        "Important for fine-tuning.",
    ],
    [
        "per_device_train_batch_size",
        "Number of examples per device in one step.",
        "Bigger batches need more GPU memory.",
        "1 to 8",
        "Long hyperspectral paper contexts make batch 1 the only size that fits.",
    ],
    [
        "gradient_accumulation_steps",
        "How many micro-batches are accumulated before the weights are updated.",
        "Higher values mean fewer updates per epoch.",
        "16 is the default in the course script.",
        "With 28 samples, 16 accumulation gives fewer than 2 updates per epoch.",
    ],
    [
        "max_length",
        "The longest token sequence kept for training.",
        "Shorter values truncate long contexts.",
        "2048",
        "Paper chunks on SWIR absorption are 2,000 to 4,000 characters long.",
    ],
    ["lora_r", "see above", "see above", "16", "see above"],
    [
        "lora_alpha",
        "Multiplier of the LoRA update (alpha / r).",
        "Higher alpha strengthens the adaptation.",
        "Usually 2 × r, so 32 for r = 16.",
        "",
    ],
    [
        "lora_dropout",
        "Probability of dropping LoRA inputs during training.",
        "More dropout reduces overfitting.",
        "0.05 default",
        "Our set of 28 geology samples overfits easily.",
    ],
    [
        "include_mlp",
        "Whether the MLP projections get LoRA adapters too.",
        "Enabling it adds trainable parameters and memory.",
        "True in the course script.",
        "Mineral facts are stored in the MLP layers.",
    ],
    [
        "warmup_ratio",
        "Portion of training with a rising learning rate.",
        "Too large wastes our few steps.",
        "0.03",
        "Only 2 steps in our run.",
    ],
    [
        "lr_scheduler_type",
        "The learning-rate schedule after warmup.",
        "Cosine lowers the rate smoothly; constant keeps it.",
        "cosine (default)",
        "",
    ],
    [
        "bf16",
        "Whether training computes in bfloat16.",
        "Turning it off (fp32) doubles memory.",
        "True on A100.",
        "Our 8B model only fits the lab's A100 in 4-bit with bf16.",
    ],
    [
        "logging_steps",
        "The interval of loss logging.",
        "Smaller intervals give a finer loss curve.",
        "20 (course default)",
        "With 2 steps nothing was logged in our run.",
    ],
]
G13_QA = [
    QA(
        "Which absorption feature is diagnostic of epidote?",
        "A strong absorption near 2340 nm with a secondary feature near 2250 nm.",
        answer="An absorption near 2335-2340 nm and a weaker one near 2250 nm.",
    ),
    QA(
        "What does the ratio of band 2160 nm to band 2200 nm show?",
        "The kaolinite doublet, separating kaolinite from muscovite.",
        answer="It separates kaolinite from muscovite.",
    ),
    QA(
        "Why is the 2200 nm position shifted in phengite?",
        "Because Fe and Mg substitution for Al moves the Al-OH feature to longer wavelengths.",
        answer="Fe/Mg substitution shifts the Al-OH absorption to longer wavelengths.",
    ),
    QA(
        "What is the main limitation of SAM?",
        "It ignores absorption depth differences caused by abundance.",
        answer="It is insensitive to brightness, so abundance is ignored.",
    ),
    QA(
        "Which sensor has 242 bands from 400 to 2500 nm?",
        "Hyperion.",
        answer="EO-1 Hyperion.",
    ),
]
G13_CONTEXTS = [
    "Epidote and chlorite both show Fe,Mg-OH absorptions ... (paper chunk, 1,820 characters)",
    "Kaolinite shows a doublet at 2165 and 2207 nm ... (paper chunk, 2,410 characters)",
    "White micas range from muscovite to phengite ... (paper chunk, 3,050 characters)",
    "The spectral angle mapper treats spectra as vectors ... (paper chunk, 1,390 characters)",
    "Hyperion on EO-1 acquired 242 bands ... (paper chunk, 1,150 characters)",
]
G13_QA_TABLE = Table(
    [
        ["#", "Instruction", "Context", "Expected answer", "Fine-tuned output"],
        *[
            [str(i), qa.question, context, qa.expected, qa.answer]
            for i, (qa, context) in enumerate(zip(G13_QA, G13_CONTEXTS, strict=True), 1)
        ],
    ]
)
G13 = Doc(
    name="g13_question_header.md",
    style="REPORT.md whose Part A table headers are the assignment's four questions word for word; empty, 'see "
    "above' and tautological cells; Q&A table with a context column; reflections with 'increase' near a name",
    pages=[
        Page("Week 5 — Group 9 report", ["Model: Llama-3.1-8B with QLoRA; 28 training samples from SWIR papers."]),
        Page("Part A: parameter analysis", [Table([QUESTION_HEADER, *G13_ROWS])]),
        Page("Part B: test results", [G13_QA_TABLE]),
        Page(
            "Reflections",
            [
                "What was difficult: answers were cut, so we would increase max_new_tokens to 300 next time.",
                "What we would improve: a typical range of questions beyond SWIR minerals.",
            ],
        ),
    ],
    answers=[
        header_row("learning_rate", G13_ROWS[0]),
        header_row(
            "num_train_epochs",
            G13_ROWS[1],
            ("what", "effect", "range", "why"),
            "every cell repeats the header or the name: 'It controls the epochs', 'More epochs = more training', "
            "'we used 1' (the value), 'Important for fine-tuning'",
        ),
        header_row("per_device_train_batch_size", G13_ROWS[2]),
        header_row("gradient_accumulation_steps", G13_ROWS[3]),
        header_row("max_length", G13_ROWS[4], note="'2048' under the range/default header is a default"),
        header_row(
            "lora_r",
            G13_ROWS[5],
            ("what", "effect", "why"),
            "'see above' answers nothing; '16' under the range/default header counts",
        ),
        header_row("lora_alpha", G13_ROWS[6], ("why",), "why empty"),
        header_row("lora_dropout", G13_ROWS[7]),
        header_row("include_mlp", G13_ROWS[8]),
        header_row("warmup_ratio", G13_ROWS[9]),
        header_row("lr_scheduler_type", G13_ROWS[10], ("why",), "why empty"),
        header_row("bf16", G13_ROWS[11]),
        header_row("logging_steps", G13_ROWS[12]),
    ],
    qa=G13_QA,
)

# --- g14: an English Word report, a heading per parameter, four parameters left out; Q&A blocks; prompt in code
G14_SECTIONS = {
    "Learning rate": "The learning rate determines the size of each update of the LoRA matrices. If we increase it, "
    "training moves faster but becomes unstable; if we decrease it, the adapter hardly changes. For LoRA the "
    "usual range is 1e-4 to 3e-4.",
    "Number of epochs": "num_train_epochs is the number of passes over the training data. We trained for 2 epochs "
    "because with our 22 hyperspectral samples one epoch was only one optimizer step.",
    "Gradient accumulation": "Gradient accumulation adds up gradients over several batches before one update. The "
    "default is 16.",
    "LoRA rank": "The LoRA rank r is the inner dimension of the adapter. A larger rank can learn more but also "
    "overfits sooner. Common values are 8, 16 and 32; a small geology corpus like ours does not need more than 16.",
    "LoRA alpha": "Alpha is the scaling numerator of the LoRA update.",
    "LoRA dropout": "Dropout on the adapter input. Raising it regularises; lowering it fits the training set more "
    "closely. 0.05 is the standard value.",
    "Include MLP": "include_mlp decides whether the feed-forward (MLP) projections are adapted as well as attention. "
    "We kept it on because facts such as absorption wavelengths of minerals are stored in the MLP layers.",
    "Scheduler": "We used the cosine scheduler.",
    "Precision": "We trained with bf16 because the lab GPU (RTX 4090) supports it.",
}
G14_PROMPT = "Instruction: {instruction}\nContext: {context}\nAnswer:"
G14_QA = [
    QA(
        "Which minerals cause absorption near 1400 nm?",
        "OH-bearing minerals and water-bearing minerals (clays, micas, sulfates).",
        answer="Hydroxyl and water bearing minerals such as clays and micas.",
    ),
    QA(
        "What is the purpose of a continuum-removed band depth map?",
        "To show where and how strongly a mineral's absorption occurs.",
        answer="To map the strength of an absorption feature across the scene.",
    ),
    QA(
        "Which spectral feature separates gypsum from other sulfates?",
        "A triplet near 1445, 1490 and 1535 nm and a feature near 1750 nm.",
        answer="The 1750 nm absorption.",
    ),
    QA(
        "Why does spatial resolution matter for mapping alteration zones?",
        "Mixed pixels dilute the spectral signature of narrow alteration zones.",
        answer="Because small zones are mixed with other materials in large pixels.",
    ),
    QA(
        "What does the 2.2 µm absorption depth correlate with?",
        "Al-OH mineral abundance.",
        answer="The abundance of Al-OH minerals.",
    ),
]
G14 = Doc(
    name="g14_english_report.docx",
    style="an English Word report, a heading and one paragraph per parameter, four parameters left out (batch "
    "size, max_length, warmup_ratio, logging_steps); the prompt format in code; Q&A as 'Q1. / Expected: / Model "
    "answer:' blocks; a discussion that says 'higher learning rate'",
    pages=[
        Page("Week 5 Report: LoRA Fine-tuning (Group 10)", ["22 training samples from hyperspectral papers."]),
        *(Page(title, [text]) for title, text in G14_SECTIONS.items()),
        Page("Prompt format", [Code(G14_PROMPT), "The same format was used for training and testing."]),
        Page(
            "Test results",
            [
                f"Q{i}. {qa.question}\nExpected: {qa.expected}\nModel answer: {qa.answer}"
                for i, qa in enumerate(G14_QA, 1)
            ],
        ),
        Page(
            "Discussion",
            [
                "A higher learning rate (3e-4) gave a lower final loss (1.62) but worse answers on two questions, "
                "which suggests memorisation of the training answers."
            ],
        ),
    ],
    answers=[
        Answer(
            "learning_rate",
            what="The learning rate determines the size of each update of the LoRA matrices",
            effect="If we increase it, training moves faster but becomes unstable",
            range="the usual range is 1e-4 to 3e-4",
            note="no reason tied to the task; the discussion's observation is not Part A",
        ),
        Answer(
            "num_train_epochs",
            what="the number of passes over the training data",
            why="with our 22 hyperspectral samples one epoch was only one optimizer step",
        ),
        Answer(
            "gradient_accumulation_steps",
            what="Gradient accumulation adds up gradients over several batches",
            range="The default is 16.",
            note="no effect, no reason",
        ),
        Answer(
            "lora_r",
            what="the inner dimension of the adapter",
            effect="A larger rank can learn more but also overfits sooner",
            range="Common values are 8, 16 and 32",
            why="a small geology corpus like ours does not need more than 16",
        ),
        Answer("lora_alpha", what="Alpha is the scaling numerator of the LoRA update"),
        Answer(
            "lora_dropout",
            what="Dropout on the adapter input",
            effect="Raising it regularises; lowering it fits the training set more closely",
            range="0.05 is the standard value",
        ),
        Answer(
            "include_mlp",
            what="decides whether the feed-forward (MLP) projections are adapted as well as attention",
            why="facts such as absorption wavelengths of minerals are stored in the MLP layers",
            note="the reason to keep it on; nothing on what turning it on or off changes",
        ),
        Answer("lr_scheduler_type", note="only the value ('We used the cosine scheduler.')"),
        Answer(
            "bf16",
            why="the lab GPU (RTX 4090) supports it",
            note="the group's reason only; it does not say what the setting is or what it changes",
        ),
    ],
    qa=G14_QA,
    not_qa=[NotQA(G14_PROMPT, "code: the prompt format with placeholders")],
)

# --- g15: a PDF of mixed Korean/English bullets, several parameters per page; Q&A blocks with a base line
G15_PAGES = {
    "Part A-1: 학습 관련": [
        "• learning_rate — 업데이트 크기를 정함. 크게 하면 loss가 튀고 작게 하면 학습이 느림. LoRA는 보통 1e-4~3e-4.",
        "• num_train_epochs — 전체 데이터 반복 횟수. 너무 많으면 overfitting. 우리 데이터 35개는 2~3 epoch이 적당.",
        "• warmup_ratio — 0.03 사용.",
    ],
    "Part A-2: 메모리 관련": [
        "• per_device_train_batch_size — GPU당 한 번에 넣는 샘플 수. 기본 1.",
        "• gradient_accumulation_steps — 누적 후 업데이트. 늘리면 effective batch 증가, step 수 감소. "
        "35개 × 16이면 epoch당 2 step.",
        "• max_length — 최대 토큰 길이. 초분광 논문 context가 길어서 2048 유지.",
        "• bf16 — bfloat16 연산, fp32 대비 메모리 절반.",
    ],
    "Part A-3: LoRA 관련": [
        "• lora_r — adapter rank. 높이면 파라미터 증가. 보통 8~64.",
        "• lora_alpha — α/r 배율로 update 크기 조절. 보통 2r.",
        "• lora_dropout — LoRA dropout 확률, 0.05 (기본).",
        "• include_mlp — MLP까지 LoRA 적용 여부. 광물 지식 학습에 유리해서 True.",
    ],
}
G15_QA = [
    QA(
        "Goethite의 흡수 위치는?",
        "약 900 nm 부근의 Fe3+ 흡수",
        "Goethite는 철 광물입니다.",
        "약 920 nm 부근의 Fe3+ 흡수",
    ),
    QA(
        "What does a 2.33 µm absorption in a pixel suggest?",
        "Carbonates or Mg-OH minerals such as chlorite and talc.",
        "Water.",
        "Carbonate minerals or Mg-OH bearing minerals.",
    ),
    QA(
        "밴드 비율 1.6/2.2 µm는 무엇을 강조하나요?",
        "점토 등 OH 광물이 많은 변질대",
        "식생",
        "OH를 포함한 점토 광물이 많은 변질대",
    ),
    QA(
        "Which sensor has the SWIR bands used for ASTER mineral indices?",
        "ASTER has six SWIR bands (bands 4-9).",
        "Landsat.",
        "ASTER's six SWIR bands 4 to 9.",
    ),
    QA(
        "초분광 자료에서 차원 축소가 필요한 이유는?",
        "밴드 간 상관이 높고 잡음이 많아 계산과 분류가 어렵기 때문",
        "데이터가 크기 때문",
        "밴드가 서로 상관이 높고 잡음이 있기 때문",
    ),
]
G15 = Doc(
    name="g15_mixed_bullets.pdf",
    style="a PDF of mixed Korean/English bullets ('• name — ...'), several parameters per page, terse and partly "
    "complete; lr_scheduler_type and logging_steps missing; Q&A as 'Question: / Expected answer: / Base: / "
    "Fine-tuned:' blocks",
    pages=[
        *(Page(title, lines) for title, lines in G15_PAGES.items()),
        Page(
            "Part B: 테스트 Q&A",
            [
                f"Question: {qa.question}\nExpected answer: {qa.expected}\nBase: {qa.base}\nFine-tuned: {qa.answer}"
                for qa in G15_QA
            ],
        ),
        Page("회고", ["어려웠던 점: 첫 학습에서 loss가 너무 작아져서 overfitting을 의심했다."]),
    ],
    answers=[
        Answer(
            "learning_rate",
            what="업데이트 크기를 정함",
            effect="크게 하면 loss가 튀고 작게 하면 학습이 느림",
            range="LoRA는 보통 1e-4~3e-4",
        ),
        Answer(
            "num_train_epochs",
            what="전체 데이터 반복 횟수",
            effect="너무 많으면 overfitting",
            range="2~3 epoch이 적당",
            why="우리 데이터 35개는",
            note="'2~3 epoch이 적당' is a recommended range for their data",
        ),
        Answer("warmup_ratio", note="'0.03 사용' is the value only"),
        Answer("per_device_train_batch_size", what="GPU당 한 번에 넣는 샘플 수", range="기본 1"),
        Answer(
            "gradient_accumulation_steps",
            what="누적 후 업데이트",
            effect="늘리면 effective batch 증가, step 수 감소",
            why="35개 × 16이면 epoch당 2 step",
        ),
        Answer(
            "max_length",
            what="최대 토큰 길이",
            why="초분광 논문 context가 길어서",
            note="'2048 유지' is the value kept",
        ),
        Answer("bf16", what="bfloat16 연산", effect="fp32 대비 메모리 절반"),
        Answer("lora_r", what="adapter rank", effect="높이면 파라미터 증가", range="보통 8~64"),
        Answer("lora_alpha", what="α/r 배율로 update 크기 조절", range="보통 2r"),
        Answer("lora_dropout", what="LoRA dropout 확률", range="0.05 (기본)"),
        Answer("include_mlp", what="MLP까지 LoRA 적용 여부", why="광물 지식 학습에 유리해서 True"),
    ],
    qa=G15_QA,
)

# --- g16: a group deck that copies half of its Part A from the course's lecture deck (g10), word for word
G16_OWN = {
    "Part A: batch size & accumulation (ours)": [
        "per_device_train_batch_size = 1: the number of samples per GPU step; a batch of 2 ran out of memory with "
        "our 3,000-character contexts.",
        "gradient_accumulation_steps = 8 (course 16): more accumulation means fewer updates; with 26 samples, 8 "
        "gives us 3 updates instead of 1.",
    ],
    "Part A: precision & logging (ours)": [
        "bf16 = True: computes in bfloat16, half the memory of fp32; our A6000 supports it.",
        "logging_steps = 1: the loss is logged every step, so our 3-step run shows a loss curve (the course's 20 "
        "logged nothing).",
    ],
}
G16_QA = [
    QA(
        "Where is the Fe2+ absorption of olivine?",
        "A broad absorption centred near 1050 nm.",
        answer="A broad feature around 1 µm.",
    ),
    QA(
        "Which minerals dominate the 2200 nm absorption in argillic alteration?",
        "Kaolinite, alunite and dickite.",
        answer="Kaolinite and alunite.",
    ),
    QA(
        "What is the spectral range of SWIR?",
        "About 1000 to 2500 nm.",
        answer="Roughly 1.0 to 2.5 µm.",
    ),
    QA(
        "Why remove the continuum before comparing absorption depths?",
        "So depths are measured relative to the local background, not the overall albedo.",
        answer="To measure depth independent of brightness.",
    ),
    QA(
        "What does a 1900 nm absorption without 1400 nm indicate?",
        "Molecular water without structural OH is unlikely; both usually appear together in hydrated minerals.",
        answer="Only water in the sample.",
    ),
]
G16 = Doc(
    name="g16_half_copied.pptx",
    style="a group's deck whose Part A slides on learning rate, epochs and LoRA are the course's lecture slides "
    "copied word for word, the rest in the group's own words; Q&A table with an expected column",
    bullets=True,
    pages=[
        Page("Week 5 — Group 12", ["QLoRA on 26 geology Q&A pairs"]),
        Page("Part A: learning rate & epochs", LECTURE["Learning rate & epochs"]),
        Page("Part A: LoRA rank, alpha, dropout", LECTURE["LoRA: rank, alpha, dropout"]),
        *(Page(title, lines) for title, lines in G16_OWN.items()),
        Page("Test questions", [qa_table(["Question", "Expected answer", "Model answer"], G16_QA)]),
    ],
    answers=[
        *(
            Answer(name, note="copied word for word from the course's lecture deck", copied_from=G10.name)
            for name in ("learning_rate", "num_train_epochs", "lora_r", "lora_alpha", "lora_dropout")
        ),
        Answer(
            "per_device_train_batch_size",
            what="the number of samples per GPU step",
            effect="a batch of 2 ran out of memory",
            why="with our 3,000-character contexts",
        ),
        Answer(
            "gradient_accumulation_steps",
            effect="more accumulation means fewer updates",
            range="(course 16)",
            why="with 26 samples, 8 gives us 3 updates instead of 1",
            note="no definition of what it controls",
        ),
        Answer(
            "bf16",
            what="computes in bfloat16",
            effect="half the memory of fp32",
            why="our A6000 supports it",
        ),
        Answer(
            "logging_steps",
            what="the loss is logged every step",
            range="the course's 20",
            why="our 3-step run shows a loss curve",
            note="'logged every step' defines the interval at the group's value 1",
        ),
    ],
    qa=G16_QA,
)

DOCS = [G13, G14, G15, G16]
