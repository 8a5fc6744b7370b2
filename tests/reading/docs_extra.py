"""Further corpus documents: a Korean-only header table in a deck with a Korean Q&A table, a deck that lists only
the values (names and numbers, no answers), and a Markdown report with a 'Parameter | Our value | Notes' table and
'Q1. / Answer: / Model answer:' blocks."""

from __future__ import annotations

from tests.reading.spec import PARAMETERS, QA, Answer, Doc, Page, Table, header_row, qa_table

# --- g17: Korean-only headers and cells, Korean Q&A table with an expected column
KO_ONLY_HEADER = ["파라미터", "의미", "값을 키우면 / 줄이면", "일반적인 값", "우리 과제에서의 중요성"]
G17_ROWS = [
    [
        "학습률",
        "가중치를 한 번에 얼마나 바꿀지",
        "키우면 빠르지만 불안정, 줄이면 느림",
        "1e-4 ~ 3e-4",
        "스텝이 적어 학습률이 결과를 좌우",
    ],
    [
        "에포크",
        "데이터를 반복 학습하는 횟수",
        "키우면 과적합, 줄이면 과소적합",
        "1 ~ 5",
        "샘플 30개라 에포크가 곧 스텝 수",
    ],
    ["배치 크기", "한 번에 처리하는 샘플 수", "키우면 메모리 부족", "1", ""],
    ["그래디언트 누적", "몇 번 모아서 업데이트할지", "", "16", ""],
    ["최대 길이", "샘플당 최대 토큰 수", "줄이면 문맥이 잘림", "2048", "논문 문단이 길다"],
    ["랭크", "LoRA 행렬의 랭크(용량)", "키우면 파라미터 증가", "8 ~ 64", "좁은 지질 도메인이라 16이면 충분"],
    ["알파", "업데이트 배율 (알파/랭크)", "키우면 업데이트가 강해짐", "랭크의 2배", ""],
    ["드롭아웃", "LoRA 입력 드롭아웃 비율", "키우면 과적합 감소", "0.05 ~ 0.1", "데이터가 적어 과적합 위험"],
    ["MLP 포함 (include_mlp)", "MLP 층에도 LoRA 적용 여부", "켜면 메모리와 파라미터 증가", "True", "광물 지식 저장"],
    ["워밍업", "초반 학습률 증가 구간 비율", "너무 크면 스텝 낭비", "0.03", "전체 스텝이 2개뿐"],
    ["스케줄러", "학습률 감소 방식", "cosine은 서서히, constant는 유지", "cosine", "잘 모르겠음"],
    ["정밀도 (bf16)", "연산 숫자 형식", "bf16은 메모리 절약", "bf16", "8B 모델을 GPU 하나에 올리기 위해"],
    ["로깅", "손실 기록 간격", "줄이면 기록이 촘촘", "20", "2 스텝이라 기록 없음"],
]
G17_NAMES = list(PARAMETERS)  # the rows follow the assignment's order
G17_UNANSWERED = {
    "per_device_train_batch_size": (("why",), "why empty"),
    "gradient_accumulation_steps": (("effect", "why"), "effect and why empty"),
    "lora_alpha": (("why",), "why empty"),
    "lr_scheduler_type": (("why",), "why: '잘 모르겠음' (we don't know)"),
}
G17_QA = [
    QA("석고(gypsum)의 진단 흡수 파장은?", "약 1750 nm와 1450 nm 부근의 삼중 흡수", answer="1750 nm 부근"),
    QA("적철석(hematite)의 흡수 위치는?", "약 860 nm 부근", answer="약 870 nm"),
    QA("SWIR에서 Mg-OH 흡수는 어디에 나타나나요?", "약 2300~2330 nm", answer="2320 nm 부근"),
    QA(
        "초분광 영상에서 혼합 픽셀 문제란?",
        "한 픽셀에 여러 물질이 섞여 스펙트럼이 혼합되는 문제",
        answer="픽셀에 여러 광물이 섞이는 것",
    ),
    QA("백운모와 카올리나이트를 구별하는 방법은?", "2165 nm 이중 흡수의 유무", answer="2200 nm 부근의 흡수 모양"),
]
G17 = Doc(
    name="g17_korean_table.pptx",
    style="Korean-only: a deck whose Part A table has Korean question headers and Korean parameter names in the "
    "first column; Q&A as '질문 | 기대 답변 | 파인튜닝 모델 답변'",
    pages=[
        Page("5주차 과제 — 2조", ["지질·초분광 질의응답 30개로 LoRA 미세조정"]),
        Page("Part A 파라미터 분석 (1/2)", [Table([KO_ONLY_HEADER, *G17_ROWS[:7]])]),
        Page("Part A 파라미터 분석 (2/2)", [Table([KO_ONLY_HEADER, *G17_ROWS[7:]])]),
        Page("Part B 테스트", [qa_table(["질문", "기대 답변 (정답)", "파인튜닝 모델 답변"], G17_QA)]),
        Page("회고", ["데이터를 합치는 과정에서 형식 오류가 많았다.", "다음에는 검증 세트를 추가하겠다."]),
    ],
    answers=[
        header_row(name, row, *G17_UNANSWERED.get(name, ((), "")))
        for name, row in zip(G17_NAMES, G17_ROWS, strict=True)
    ],
    qa=G17_QA,
)

# --- g18: only the values: names and numbers answer none of the four questions
G18_VALUES = [
    ["Parameter", "Value"],
    ["learning_rate", "2e-4"],
    ["num_train_epochs", "1"],
    ["per_device_train_batch_size", "1"],
    ["gradient_accumulation_steps", "16"],
    ["max_length", "2048"],
    ["lora_r", "16"],
    ["lora_alpha", "32"],
    ["lora_dropout", "0.05"],
    ["include_mlp", "True"],
    ["warmup_ratio", "0.03"],
    ["lr_scheduler_type", "cosine"],
    ["bf16", "True"],
    ["logging_steps", "20"],
]
G18 = Doc(
    name="g18_values_only.pptx",
    style="a deck that lists only the parameters' values (a two-column table), with training numbers and no test "
    "Q&A on the slides ('see the notebook')",
    pages=[
        Page("Week 5 — Team 3", ["LoRA fine-tuning"]),
        Page("Hyper-parameters we used", [Table(G18_VALUES)]),
        Page("Results", ["Final train loss: 2.21", "Perplexity: 9.12", "Test questions: see our notebook"]),
    ],
    answers=[Answer(row[0], note="the value only") for row in G18_VALUES[1:]],
)

# --- g19: REPORT.md with 'Parameter | Our value | Notes' and Q&A blocks labelled 'Answer:' and 'Model answer:'
G19_ROWS = [
    ["learning_rate", "1e-4", "1e-4 instead of the course's 2e-4, since our 45 samples are very repetitive."],
    ["num_train_epochs", "3", "Passes over the data; 3 because 45 samples give few steps per epoch."],
    ["per_device_train_batch_size", "2", "Samples per step; 2 still fits our 40 GB A100."],
    ["gradient_accumulation_steps", "8", "Effective batch 16."],
    ["max_length", "1024", "Our contexts are short abstracts (≈600 tokens), so 1024 is enough."],
    ["lora_r", "8", "Smaller rank = fewer parameters; enough for our narrow domain."],
    ["lora_alpha", "16", "alpha = 2r is the usual rule."],
    ["lora_dropout", "0.1", "More dropout against overfitting."],
    ["include_mlp", "True", "Course default."],
    ["warmup_ratio", "0.1", "We changed it from 0.03."],
    ["lr_scheduler_type", "linear", ""],
    ["bf16", "True", "A100 supports bf16."],
    ["logging_steps", "1", "Every step, since our run has only 3 steps."],
]
G19_QA = [
    QA("Which absorption identifies talc?", "A sharp Mg-OH absorption near 2310 nm.", answer="Near 2310 nm (Mg-OH)."),
    QA(
        "What is the main use of the 1000 nm region?",
        "Detecting Fe2+ in olivine and pyroxene.",
        answer="Iron-bearing silicates such as olivine.",
    ),
    QA(
        "Why are airborne spectra noisier near 2500 nm?",
        "The sensor's signal-to-noise ratio drops at the end of the SWIR range.",
        answer="Low solar irradiance and detector response.",
    ),
    QA(
        "What does a band depth image show?",
        "The strength of one absorption feature per pixel.",
        answer="How deep one absorption is in each pixel.",
    ),
    QA("Which mineral has a 2265 nm absorption?", "Jarosite.", answer="Jarosite."),
]
G19 = Doc(
    name="g19_value_notes.md",
    style="REPORT.md with 'Parameter | Our value | Notes': short notes that justify the group's own values (some "
    "answer one or two questions, many only the value); Q&A as 'Q1. / Answer: / Model answer:' blocks",
    pages=[
        Page("Week 5 — Group 14", ["45 samples from abstracts of hyperspectral geology papers."]),
        Page("Part A", [Table([["Parameter", "Our value", "Notes"], *G19_ROWS])]),
        Page(
            "Test Q&A",
            [
                f"Q{i}. {qa.question}\nAnswer: {qa.expected}\nModel answer: {qa.answer}"
                for i, qa in enumerate(G19_QA, 1)
            ],
        ),
    ],
    answers=[
        Answer(
            "learning_rate",
            range="the course's 2e-4",
            why="since our 45 samples are very repetitive",
            note="the course's value named as the default",
        ),
        Answer("num_train_epochs", what="Passes over the data", why="45 samples give few steps per epoch"),
        Answer("per_device_train_batch_size", what="Samples per step", why="2 still fits our 40 GB A100"),
        Answer("gradient_accumulation_steps", note="'Effective batch 16' states the product, nothing more"),
        Answer("max_length", why="Our contexts are short abstracts (≈600 tokens), so 1024 is enough"),
        Answer("lora_r", effect="Smaller rank = fewer parameters", why="enough for our narrow domain"),
        Answer("lora_alpha", range="alpha = 2r is the usual rule."),
        Answer("lora_dropout", effect="More dropout against overfitting."),
        Answer("include_mlp", range="Course default.", note="names the default"),
        Answer("warmup_ratio", note="the value and the group's earlier value only"),
        Answer("lr_scheduler_type", note="the value only"),
        Answer("bf16", why="A100 supports bf16.", note="the group's GPU is its reason"),
        Answer("logging_steps", why="since our run has only 3 steps", note="the value and the group's reason"),
    ],
    qa=G19_QA,
)

DOCS = [G17, G18, G19]
