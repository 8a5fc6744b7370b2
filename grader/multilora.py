"""multilora: one frozen base linear layer, many groups' LoRA terms, each applied to its own rows of a shared batch.

The co-trainer (cotrain.py) stacks every active group's micro-batch into one batch, tells each wrapped layer which
contiguous rows belong to which group (`Slots`), and the layer adds `B(A(dropout(x))) * alpha / r` of that group
to those rows only: the same arithmetic, in the same order, as PEFT's `lora.Linear.forward`, so a group's
gradient is the one its solo run would get. A group whose config does not target this layer (include_mlp off)
simply has no slot here. The base weight is never touched.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class Adapter:
    """One group's LoRA pair for one layer, PEFT's shapes: A is (r, in), B is (out, r)."""

    lora_a: nn.Parameter
    lora_b: nn.Parameter
    scaling: float
    dropout: float = 0.0
    seed: int = 0  # the group's own: its dropout masks do not depend on who else trains


@dataclass
class Slots:
    """Which rows of the current batch belong to which group: (group, first row, end row), contiguous, shared by
    all wrapped layers of the model for one forward pass."""

    rows: list[tuple[str, int, int]] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)  # each slot's own longest row: its dropout mask's width
    # Each group's count of its own forward passes: with the layer's key it seeds the group's dropout masks, so
    # they depend on nothing another group does.
    passes: dict[str, int] = field(default_factory=dict)

    def set(self, rows: list[tuple[str, int, int]], widths: list[int]) -> None:
        self.rows, self.widths = rows, widths
        for group in {g for g, _, _ in rows}:
            self.passes[group] = self.passes.get(group, 0) + 1


class MultiLoraLinear(nn.Module):
    """A base `nn.Linear` (or 4-bit Linear) plus per-group LoRA terms on row slices."""

    def __init__(self, base: nn.Module, slots: Slots, key: int) -> None:
        super().__init__()
        self.base_layer = base
        self.slots = slots
        self.key = key
        self.adapters: dict[str, Adapter] = {}

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        result: torch.Tensor = self.base_layer(x, *args, **kwargs)
        widths = self.slots.widths or [x.shape[1] if x.dim() > 2 else 0] * len(self.slots.rows)
        mine = [(g, lo, hi, w) for (g, lo, hi), w in zip(self.slots.rows, widths, strict=True) if g in self.adapters]
        if not mine:
            return result
        dtype = result.dtype
        pieces: list[torch.Tensor] = []
        at = 0
        for group, lo, hi, width in mine:
            if lo > at:
                pieces.append(result[at:lo])
            adapter = self.adapters[group]
            part = x[lo:hi].to(adapter.lora_a.dtype)
            if self.training and adapter.dropout > 0:
                # A fresh generator from (group seed, the group's pass, layer): the masks are the group's own,
                # and activation checkpointing recomputes the very same ones in the backward pass.
                passes = self.slots.passes.get(group, 0)
                generator = torch.Generator(part.device).manual_seed(
                    (adapter.seed * 1_000_003 + passes * 65_537 + self.key) % 2**63
                )
                # Drawn at the group's own width (the shared batch may be padded wider), so the masks of its
                # tokens are the same whoever else is in the batch; padding positions keep their input.
                own = part[:, :width] if part.dim() > 2 else part
                keep = torch.ones_like(part)
                keep[:, : own.shape[1]] = torch.empty_like(own).bernoulli_(1 - adapter.dropout, generator=generator)
                part = part * keep / (1 - adapter.dropout)
            delta = (part @ adapter.lora_a.t()) @ adapter.lora_b.t()
            pieces.append(result[lo:hi] + delta * adapter.scaling)
            at = hi
        if at < result.shape[0]:
            pieces.append(result[at:])
        return torch.cat(pieces).to(dtype)


def wrap(model: nn.Module, paths: list[str], slots: Slots) -> dict[str, MultiLoraLinear]:
    """Replace each named linear layer of `model` by a MultiLoraLinear around it; `unwrap` puts them back."""
    wrapped: dict[str, MultiLoraLinear] = {}
    for path in paths:
        parent_path, _, leaf = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        layer = MultiLoraLinear(getattr(parent, leaf), slots, zlib.crc32(path.encode()))
        setattr(parent, leaf, layer)
        wrapped[path] = layer
    return wrapped


def unwrap(model: nn.Module, wrapped: dict[str, MultiLoraLinear]) -> None:
    for path, layer in wrapped.items():
        parent_path, _, leaf = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        setattr(parent, leaf, layer.base_layer)
