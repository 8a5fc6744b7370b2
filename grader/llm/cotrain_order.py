"""cotrain_order: the Trainer's data order, replayed per group from the group's own generator (cotrain.py): each
epoch's DataLoader and RandomSampler draws, so a co-trained group sees its samples in its solo run's order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.llm.cotrain_group import Member


def draw(generator: Any) -> int:
    import torch

    return int(torch.empty((), dtype=torch.int64).random_(generator=generator).item())


def next_epoch(m: Member) -> None:
    """The Trainer's order for the next epoch: the DataLoader draws its base seed, then RandomSampler its own."""
    import torch

    m.epoch += 1
    draw(m.order)
    seed = draw(m.order)
    order = torch.randperm(len(m.data.train), generator=torch.Generator().manual_seed(seed)).tolist()
    effective = m.plan.effective
    lengths = [len(e.input_ids) for e in m.data.train]
    m.queue = [sorted(order[i : i + effective], key=lambda j: -lengths[j]) for i in range(0, len(order), effective)]
    m.steps_in_epoch_done = 0
