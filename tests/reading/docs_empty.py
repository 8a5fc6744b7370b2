"""Corpus documents that are long but answer nothing: lorem ipsum under the parameters' names, the assignment's
text pasted back with its questions under every parameter, and a lecture-style deck of the course's own
explanations handed in as the deliverable (not the group's work). Their truth is empty by definition; what the
reader credits here is what it gives to text that is not the group's answer."""

from __future__ import annotations

from tests.reading.spec import PARAMETERS, QA, Code, Doc, NotQA, Page, Table, qa_table

LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo "
    "consequat.",
    "Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. "
    "Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.",
    "Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium, totam rem "
    "aperiam, eaque ipsa quae ab illo inventore veritatis et quasi architecto beatae vitae dicta sunt explicabo.",
)
G08_QA_ROWS = [
    QA("Lorem ipsum dolor sit amet?", "Consectetur adipiscing elit.", answer="Sed do eiusmod tempor."),
    *(QA(f"TBD {i}", "TBD", answer="TBD") for i in range(2, 6)),
]
G08 = Doc(
    name="g08_lorem.pptx",
    style="long but empty: a slide titled with each parameter, filled with lorem ipsum; a Q&A table of "
    "placeholders (lorem, TBD)",
    pages=[
        Page("Week 5 — Group 11", ["Lorem ipsum dolor sit amet"]),
        *(Page(f"Part A · {name}", [LOREM[i % 3], LOREM[(i + 1) % 3]]) for i, name in enumerate(PARAMETERS)),
        Page("Part B · test Q&A", [qa_table(["Question", "Expected answer", "Model answer"], G08_QA_ROWS)]),
        Page("Reflections", [LOREM[2]]),
    ],
    not_qa=[NotQA(qa.question, "a placeholder row, not a test question") for qa in G08_QA_ROWS],
)

ASSIGNMENT = [
    "Each group must analyze and explain the meaning and role of the following parameters used in fine-tuning.",
    "For each, answer:",
    "1. What does this parameter control?",
    "2. What happens if we increase or decrease it?",
    "3. What is the typical good range or default value?",
    "4. Why is this important for our fine-tuning task (geology / hyperspectral domain)?",
]
G09 = Doc(
    name="g09_assignment_pasted.docx",
    style="the assignment's text pasted back: the Part A instructions, then under every parameter's heading the "
    "four questions again, unanswered; Part B's instructions",
    pages=[
        Page("Week 5 – Assignment: Fine-Tuning Workflow (LoRA/QLoRA on Llama-3.1-8B)", []),
        Page("Part A. Parameter Analysis", ASSIGNMENT),
        *(Page(name, ASSIGNMENT[2:]) for name in PARAMETERS),
        Page(
            "Part B. Fine-Tuning Practice",
            [
                "Each group will perform their own fine-tuning using their prepared .jsonl file from last week.",
                "Each group must prepare at least 5 test questions (instructions + context) related to your dataset.",
                "Compare the model's answers with your expected answers.",
            ],
        ),
    ],
    not_group_work="the assignment's own text",
)

# The course's lecture deck (written for this corpus in the course's voice, as templates/parameters.yaml explains
# the parameters): handed in as a group's deliverable it is not the group's work.
LECTURE = {
    "Learning rate & epochs": [
        "learning_rate: the size of each optimizer step on the LoRA weights.",
        "Higher learns faster but can diverge; lower is stable but may barely move the adapter.",
        "Typical for LoRA on 7-8B models: 1e-4 to 3e-4 (default 2e-4).",
        "num_train_epochs: how many times the trainer passes over the whole training set; 1 to 5 for small sets.",
        "With 20 to 100 geology samples there are only a handful of optimizer steps.",
    ],
    "Batch size & gradient accumulation": [
        "per_device_train_batch_size: samples per forward/backward pass on one GPU (default 1).",
        "gradient_accumulation_steps: passes summed before one optimizer step; effective batch = batch x accumulation.",
        "Increase accumulation to get a larger effective batch without more memory (default 16).",
        "Long paper-chunk contexts of 1,000 to 4,000 characters only fit with batch 1.",
    ],
    "Sequence length": [
        "max_length caps the tokens of a training sample; max_new_tokens caps the generated answer.",
        "Too short cuts the context or the answer; longer costs memory and time.",
        "Course: max_length 2048, max_new_tokens 200.",
    ],
    "LoRA: rank, alpha, dropout": [
        "lora_r: the rank of the low-rank update matrices A and B (8 to 64; course 16).",
        "lora_alpha: scales the update by alpha / r; usually r to 2r (course 32).",
        "lora_dropout: dropout on the LoRA input, 0.0 to 0.1 (course 0.05); a cheap guard against overfitting a "
        "small dataset.",
    ],
    "Which layers: include_mlp": [
        "INCLUDE_MLP = True adapts gate_proj, up_proj and down_proj as well as q/k/v/o_proj.",
        "Including the MLP roughly triples the trainable parameters; domain facts such as mineral absorption "
        "positions are stored largely in MLP weights.",
    ],
    "Schedule: warmup_ratio & lr_scheduler_type": [
        "warmup_ratio: the share of steps during which the learning rate ramps up from 0 (course 0.03).",
        "lr_scheduler_type: how the rate changes after warmup; cosine (course default) or linear.",
    ],
    "Precision & logging": [
        "bf16 on A100/H100/RTX 30xx and newer, fp16 on T4/V100; never both.",
        "bf16 halves memory and does not overflow like fp16.",
        "logging_steps: steps between two loss log entries (course 20); set it lower for small datasets.",
    ],
}
LOSS_TABLE = [
    ["Train loss", "Perplexity", "Meaning"],
    ["> 5.0", "> 150", "random guessing / not learning"],
    ["3.0 – 5.0", "20 – 150", "very poor fit"],
    ["2.0 – 3.0", "7 – 20", "learning but weak"],
    ["1.5 – 2.0", "4.5 – 7.4", "decent fit"],
    ["1.0 – 1.5", "2.7 – 4.5", "strong fit"],
    ["0.5 – 1.0", "1.6 – 2.7", "very strong fit, watch validation loss"],
    ["< 0.5", "< 1.6", "near-perfect memorization, likely overfit (too many epochs)"],
]
LECTURE_SCRIPT = """MAX_LEN = 2048
BATCH = 1
GRAD_ACC = 16
LR = 2e-4
EPOCHS = 1
LORA_R, LORA_ALPHA, LORA_DROPOUT = 16, 32, 0.05
INCLUDE_MLP = True"""
LECTURE_EXAMPLE = (
    "Q1. Which mineral shows a doublet near 2165 and 2207 nm?\n"
    "Expected: Kaolinite.\n"
    "Model answer: (run inference_lora.py and paste the output here)"
)
G10 = Doc(
    name="g10_lecture_deck.pptx",
    style="the course's own lecture deck handed in as the deliverable: the parameters explained in the course's "
    "words, the loss-reading table, the script's constants, an example of how to show a test question",
    bullets=True,
    pages=[
        Page("Week 5: Fine-Tuning Workflow — LoRA / QLoRA on Llama-3.1-8B", ["AI for Geoscience · Lecture 5"]),
        *(Page(title, lines) for title, lines in LECTURE.items()),
        Page("Reading the loss", [Table(LOSS_TABLE)]),
        Page("LoRA_fine_Tuning.py: the constants you edit", [Code(LECTURE_SCRIPT)]),
        Page("How to report your tests", [LECTURE_EXAMPLE, "Show at least 5 questions like this one."]),
    ],
    not_qa=[NotQA(LECTURE_EXAMPLE, "the lecture's example of the format, not a group's test")],
    not_group_work="the course's lecture deck",
)

DOCS = [G08, G09, G10]
