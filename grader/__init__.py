"""grader: grades the week-5 LoRA fine-tuning assignment, one command for the whole class."""

import logging

__version__ = "0.1.0"

# bitsandbytes' CPU backend (imported by peft whenever bitsandbytes is installed) warns on every import that an
# optional hub kernel for its packed AVX512 layout is missing; grader does not use that layout (llm/loader.py) and has
# no hub access: not the user's concern. Setting a level imports nothing.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
