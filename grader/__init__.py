"""grader: grades the week-5 LoRA fine-tuning assignment, one command for the whole class."""

__version__ = "0.1.0"
