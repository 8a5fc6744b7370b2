"""multilora: one frozen base linear layer, many groups' LoRA terms, each applied to its own rows of a shared batch.

The co-trainer (cotrain.py) stacks every active group's micro-batch into one batch, tells each wrapped layer which
contiguous rows belong to which group (`Slots`), and the layer adds `B(A(dropout(x))) * alpha / r` of that group
to those rows only: the same arithmetic, in the same order, as PEFT's `lora.Linear.forward`, so a group's
gradient is the one its solo run would get. A group whose config does not target this layer (include_mlp off)
simply has no slot here. The base weight is never touched.
"""

from __future__ import annotations

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
    # The group's own dropout stream: cotrain hands over one that replays what the group's solo run draws from
    # torch's global generator, so a group's masks depend on nothing another group does.
    generator: torch.Generator | None = None


@dataclass
class Slots:
    """Which rows of the current batch belong to which group: (group, first row, end row), contiguous, shared by
    all wrapped layers of the model for one forward pass."""

    rows: list[tuple[str, int, int]] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)  # each slot's own longest row: its dropout mask's width
    pass_id: int = 0  # which forward pass: a second forward in the same pass is checkpointing's recomputation

    def set(self, rows: list[tuple[str, int, int]], widths: list[int]) -> None:
        self.rows, self.widths = rows, widths
        self.pass_id += 1


class MultiLoraLinear(nn.Module):
    """A base `nn.Linear` (or 4-bit Linear) plus per-group LoRA terms on row slices."""

    def __init__(self, base: nn.Module, slots: Slots) -> None:
        super().__init__()
        self.base_layer = base
        self.slots = slots
        self.adapters: dict[str, Adapter] = {}
        self.drawn: dict[str, tuple[int, torch.Tensor]] = {}  # group -> (pass, generator state before its mask)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        result: torch.Tensor = self.base_layer(x, *args, **kwargs)
        widths = self.slots.widths or [x.shape[1] if x.dim() > 2 else 0] * len(self.slots.rows)
        mine = [(g, lo, hi, w) for (g, lo, hi), w in zip(self.slots.rows, widths, strict=True) if g in self.adapters]
        if not mine:
            return result
        dtype = result.dtype
        # The rows cut once into consecutive segments (split, not one slice per group: the backward of a slice
        # writes a gradient the size of the whole batch, which made a round's backward grow with groups squared).
        segments: list[tuple[str | None, int, int]] = []
        at = 0
        for name, lo, hi, width in mine:
            if lo > at:
                segments.append((None, lo - at, 0))
            segments.append((name, hi - lo, width))
            at = hi
        if at < result.shape[0]:
            segments.append((None, result.shape[0] - at, 0))
        sizes = [n for _, n, _ in segments]
        pieces: list[torch.Tensor] = []
        for (owner, _, width), part, base in zip(segments, x.split(sizes), result.split(sizes), strict=True):
            if owner is None:
                pieces.append(base)
                continue
            adapter = self.adapters[owner]
            part = part.to(adapter.lora_a.dtype)
            if self.training and adapter.dropout > 0:
                part = self._dropout(owner, adapter, part, width)
            delta = (part @ adapter.lora_a.t()) @ adapter.lora_b.t()
            pieces.append(base + delta * adapter.scaling)
        return torch.cat(pieces).to(dtype)

    def _dropout(self, group: str, adapter: Adapter, part: torch.Tensor, width: int) -> torch.Tensor:
        """torch's dropout as PEFT's nn.Dropout applies it (bernoulli noise, divided by 1 - p, times the input),
        drawn at the group's own width (the shared batch may be padded wider) from the group's generator."""
        generator = adapter.generator
        seen = self.drawn.get(group)
        if seen is not None and seen[0] == self.slots.pass_id and generator is not None:
            # Activation checkpointing runs this forward again in the backward pass: the same masks again.
            generator = torch.Generator(part.device)
            generator.set_state(seen[1])
        elif generator is not None:
            self.drawn[group] = (self.slots.pass_id, generator.get_state())
        own = (part.shape[0], width, *part.shape[2:]) if part.dim() > 2 else tuple(part.shape)
        noise = torch.empty(own, dtype=part.dtype, device=part.device).bernoulli_(
            1 - adapter.dropout, generator=generator
        )
        noise.div_(1 - adapter.dropout)
        if part.dim() > 2 and width < part.shape[1]:
            noise = torch.cat([noise, noise.new_ones((part.shape[0], part.shape[1] - width, *part.shape[2:]))], dim=1)
        return part * noise


def wrap(model: nn.Module, paths: list[str], slots: Slots) -> dict[str, MultiLoraLinear]:
    """Replace each named linear layer of `model` by a MultiLoraLinear around it; `unwrap` puts them back."""
    wrapped: dict[str, MultiLoraLinear] = {}
    for path in paths:
        parent_path, _, leaf = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        layer = MultiLoraLinear(getattr(parent, leaf), slots)
        setattr(parent, leaf, layer)
        wrapped[path] = layer
    return wrapped


def unwrap(model: nn.Module, wrapped: dict[str, MultiLoraLinear]) -> None:
    for path, layer in wrapped.items():
        parent_path, _, leaf = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        setattr(parent, leaf, layer.base_layer)
