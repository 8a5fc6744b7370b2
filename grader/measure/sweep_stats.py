"""sweep_stats: a sweep's measured points -> per-parameter effects, the verdict against the seeds' spread, the
ranking and the discussion's sentence. Pure functions on records: the report, the deck and the summary read them
without the sweep's machinery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from grader.config import TrainConfig
from grader.measure.metrics import HEADLINE, label
from grader.records import SweepEffect, SweepPoint, SweepRecord


@dataclass(frozen=True)
class Plan:
    vary: dict[str, list[Any]]
    grid: bool = False
    seeds: int = 1


def with_own(values: list[Any], own: Any) -> list[Any]:
    out = list(values) if own in values else [*values, own]
    return sorted(out, key=lambda v: (str(type(v)), v)) if all(isinstance(v, int | float) for v in out) else out


def effects(points: list[SweepPoint], config: TrainConfig, plan: Plan) -> list[SweepEffect]:
    """Per varied parameter: the mean of each metric at each value (the other parameters at the group's values, in
    a grid too), the spread between those means and the spread between seeds; one sentence that says which."""
    found = []
    for name in plan.vary:
        others = [p for p in plan.vary if p != name]
        on_axis = [p for p in points if all(p.params.get(o) == getattr(config, o) for o in others)]
        values = with_own(plan.vary[name], getattr(config, name))
        at = {v: [p for p in on_axis if p.params.get(name) == v] for v in values}
        loss = [_mean([p.eval_loss for p in at[v]]) for v in values]
        rouge = [_mean([p.rouge_l for p in at[v]]) for v in values]
        loss_seed = [_range([p.eval_loss for p in at[v]]) for v in values]
        rouge_seed = [_range([p.rouge_l for p in at[v]]) for v in values]
        effect = SweepEffect(
            parameter=name,
            values=values,
            group_value=getattr(config, name),
            eval_loss=loss,
            rouge_l=rouge,
            eval_loss_seed=loss_seed,
            rouge_l_seed=rouge_seed,
            eval_loss_spread=_range(loss),
            rouge_l_spread=_range(rouge),
            seeds=plan.seeds,
            noise=False,
            sentence="",
        )
        noise, sentence = _verdict(effect)
        found.append(effect.model_copy(update={"noise": noise, "sentence": sentence}))
    return found


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None and math.isfinite(v)]
    return round(fmean(known), 4) if known else None


def _range(values: list[float | None]) -> float:
    known = [v for v in values if v is not None and math.isfinite(v)]
    return round(max(known) - min(known), 4) if len(known) >= 2 else 0.0


def _measured(e: SweepEffect) -> list[tuple[str, float, float]]:
    """(metric, spread over the values, largest spread over seeds) for each metric the sweep measured."""
    found = []
    if any(r is not None for r in e.rouge_l):
        found.append((label(HEADLINE), e.rouge_l_spread or 0.0, max(e.rouge_l_seed, default=0.0)))
    if any(v is not None for v in e.eval_loss):
        found.append(("the held-out eval loss", e.eval_loss_spread or 0.0, max(e.eval_loss_seed, default=0.0)))
    return found


def _verdict(e: SweepEffect) -> tuple[bool, str]:
    """Per metric: beyond the seeds' spread (a measured effect) or within it (noise); one seed: not measured."""
    shown = ", ".join(show(v) for v in e.values)
    measured = _measured(e)
    moved = " and ".join(f"{name} moved by {spread:.3f}" for name, spread, _ in measured) or "nothing was measured"
    head = f"{e.parameter} ({shown}; the group's {show(e.group_value)}): {moved}"
    if e.seeds < 2:
        return True, f"{head}. One seed per value: the seeds' own spread was not measured, so this may be noise."
    judged = [
        f"{name} {'more' if spread > seed else 'no more'} than between {e.seeds} seeds ({seed:.3f})"
        for name, spread, seed in measured
    ]
    real = [name for name, spread, seed in measured if spread > seed]
    if real:
        return False, f"{head}; {'; '.join(judged)}: a measured effect on {' and '.join(real)}."
    return True, f"{head}; {'; '.join(judged)}: so it is noise."


def strength(e: SweepEffect) -> float:
    """How far the effect stands out: the largest ratio of a metric's spread to its seeds' spread (one seed: the
    ROUGE-L spread itself, nothing to compare it with)."""
    if e.seeds < 2:
        return e.rouge_l_spread or 0.0
    return max((spread / max(seed, 1e-6) for _, spread, seed in _measured(e)), default=0.0)


def show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else f"{value:g}" if isinstance(value, float) else str(value)


def ranking(found: list[SweepEffect]) -> list[str]:
    """Parameters with a measured effect first, by how far it stands out from the seeds (`strength`)."""
    return [e.parameter for e in sorted(found, key=lambda e: (e.noise, -strength(e)))]


def critical_sentence(record: SweepRecord) -> str:
    """The discussion's answer to "which parameters seemed most critical", from what the sweep measured."""
    real = [e for e in record.effects if not e.noise]
    if real:
        top = next(e for e in record.effects if e.parameter == record.ranking[0])
        rest = [p for p in record.ranking[1:] if p in {e.parameter for e in real}]
        name, spread, seed = max(_measured(top), key=lambda m: m[1] / max(m[2], 1e-6))
        said = f"Measured by the sweep, {top.parameter} mattered most ({name} moved by {spread:.3f}, {seed:.3f} "
        said += "between seeds)"
        said += f", then {', '.join(rest)}" if rest else ""
        noise = [e.parameter for e in record.effects if e.noise]
        return said + (f"; {', '.join(noise)} changed no more than the seeds (noise)." if noise else ".")
    if record.seeds < 2:
        return (
            "The sweep ran one seed per value: it cannot tell an effect from noise; "
            f"the largest {label(HEADLINE)} change came with {record.ranking[0]}."
            if record.ranking
            else ""
        )
    return "Measured by the sweep, no varied parameter changed the results more than the seeds did."
