# Week 5 - LoRA fine-tuning of Llama-3.1-8B on our geology / hyperspectral Q&A set
# Group 5
import os, json, math, csv
import torch
from datasets import Dataset
from transformers import (AutoTokenizer, AutoModelForCausalLM, BitsAndBytesConfig,
                          TrainingArguments, Trainer, DataCollatorForLanguageModeling)
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

MODEL_NAME = "meta-llama/Meta-Llama-3.1-8B"
DATA_PATH = r"D:\AI_course\W5\all.jsonl"
OUT_RUNS = r"D:\AI_course\W5\logs"
OUT_ADAPT = r"D:\AI_course\W5\week5_lora_v01"

MAX_LEN = 2048
BATCH = 1
GRAD_ACC = 16
LR = 2e-4
EPOCHS = 3
LORA_R = 16
LORA_ALPHA = 32
LORA_DROPOUT = 0.05
INCLUDE_MLP = True

def load_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if not r.get("context"):
                raise ValueError("context is empty")
            rows.append(r)
    return rows

def build_prompt(r):
    return f"{r['system']}\n\nInstruction: {r['instruction']}\nContext: {r['context']}\nAnswer:"

tok = AutoTokenizer.from_pretrained(MODEL_NAME)
tok.pad_token = tok.eos_token

def tokenize(r):
    p = tok(build_prompt(r), truncation=True, max_length=MAX_LEN)
    a = tok(" " + r["answer"], truncation=True, max_length=MAX_LEN)
    ids = (p["input_ids"] + a["input_ids"])[:MAX_LEN]
    labels = ([-100] * len(p["input_ids"]) + a["input_ids"])[:MAX_LEN]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}

ds = Dataset.from_list(load_rows(DATA_PATH)).map(tokenize)

try:
    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                             bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(MODEL_NAME, quantization_config=bnb, device_map="auto")
    model = prepare_model_for_kbit_training(model)
except Exception as e:
    print("4-bit failed, fp16 instead:", e)
    model = AutoModelForCausalLM.from_pretrained(MODEL_NAME, torch_dtype=torch.float16, device_map="auto")

targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
if INCLUDE_MLP:
    targets += ["gate_proj", "up_proj", "down_proj"]
lora = LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=LORA_DROPOUT,
                  target_modules=targets, bias="none", task_type="CAUSAL_LM")
model = get_peft_model(model, lora)
model.print_trainable_parameters()

args = TrainingArguments(
    output_dir=OUT_ADAPT,
    per_device_train_batch_size=BATCH,
    gradient_accumulation_steps=GRAD_ACC,
    learning_rate=LR,
    num_train_epochs=EPOCHS,
    logging_steps=20,
    logging_dir=OUT_RUNS,
    warmup_ratio=0.03,
    lr_scheduler_type="cosine",
    bf16=True,
    save_steps=500,
    report_to="tensorboard",
)
collator = DataCollatorForLanguageModeling(tok, mlm=False)
trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collator)
result = trainer.train()

trainer.save_metrics("train", result.metrics)
trainer.save_metrics("all", result.metrics)
trainer.save_state()
with open("loss_log.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["step", "epoch", "loss", "learning_rate"])
    for e in trainer.state.log_history:
        if "loss" in e:
            w.writerow([e["step"], e["epoch"], e["loss"], e["learning_rate"]])
print("train_loss", result.metrics["train_loss"], "perplexity", math.exp(result.metrics["train_loss"]))

model.save_pretrained(OUT_ADAPT)
tok.save_pretrained(OUT_ADAPT)

model.eval()
r = load_rows(DATA_PATH)[0]
inputs = tok(build_prompt(r), return_tensors="pt").to(model.device)
with torch.no_grad():
    out = model.generate(**inputs, max_new_tokens=200, do_sample=False)
print(tok.decode(out[0], skip_special_tokens=True))
