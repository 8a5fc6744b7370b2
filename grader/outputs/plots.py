"""plots: a TrainRecord's log -> loss and learning-rate charts (PNG), with matplotlib's Figure API (no pyplot state)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from grader.measure import metrics
from grader.outputs.text import clean_text
from grader.records import ScoreRecord, SweepEffect, TrainRecord
from grader.storage import write_atomic

FONT = ["DejaVu Sans", "NanumGothic", "Noto Sans CJK KR"]  # the first two ship with grader (grader.outputs.fonts)
COLOR = {"loss": "#1f5f8b", "eval": "#c0392b", "lr": "#6c7a89"}


def families() -> list[str]:
    """FONT, less the families this machine lacks: named families (not "sans-serif") are what lets matplotlib
    fall back glyph by glyph, e.g. to NanumGothic for Hangul; a missing one would only log a warning per plot."""
    from matplotlib import font_manager

    from grader.outputs import fonts

    fonts.register_for_plots()
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in FONT if name in installed] or ["DejaVu Sans"]


@contextmanager
def _two_panels(path: Path) -> Iterator[tuple[Any, Any, Any]]:
    """A figure of two panels in the house style, written to `path` as PNG when the block ends."""
    import io

    from matplotlib import rc_context
    from matplotlib.figure import Figure

    style: dict[Any, Any] = {"font.family": families(), "svg.hashsalt": "grader"}
    with rc_context(style):  # scoped: no global matplotlib state changes
        fig = Figure(figsize=(8, 3.2), dpi=150, layout="constrained")
        left, right = fig.subplots(1, 2)
        yield fig, left, right
        for ax in (left, right):
            ax.grid(alpha=0.3)
            ax.spines[["top", "right"]].set_visible(False)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
    write_atomic(path, buffer.getvalue())


def training_plot(record: TrainRecord | None, path: Path) -> Path:
    """Loss per step beside the learning-rate schedule; an explicit 'nothing logged' panel when there is no log."""
    with _two_panels(path) as (fig, loss_ax, lr_ax):
        log = record.log if record else []
        steps = [e.step for e in log if e.loss is not None]
        losses = [e.loss for e in log if e.loss is not None]
        if steps:
            loss_ax.plot(steps, losses, marker="o", markersize=3, color=COLOR["loss"], label="train loss")
            evals = [(e.step, e.eval_loss) for e in log if e.eval_loss is not None]
            if evals:
                loss_ax.plot(*zip(*evals, strict=True), marker="s", color=COLOR["eval"], label="eval loss")
            # above the axes, right of the title: a legend inside would hide the curve it explains
            loss_ax.legend(frameon=False, loc="lower right", bbox_to_anchor=(1, 1), ncols=2, fontsize="small")
        reported = record.reported.train_loss if record and record.reported else None
        if steps and reported is not None and record is not None and record.source == "trained":
            loss_ax.axhline(reported, color=COLOR["eval"], linestyle="--", linewidth=1)
            loss_ax.annotate(
                f"group's reported final loss {reported:.3f}", (steps[0], reported), fontsize="small", va="bottom"
            )
        if not steps:
            text = "no loss values logged"
            if reported is not None:
                text += f"\nthe group's final train loss: {reported:.3f}"
            loss_ax.text(0.5, 0.5, text, ha="center", va="center", transform=loss_ax.transAxes)
        loss_ax.set(xlabel="optimizer step", ylabel="loss")
        loss_ax.set_title("Training loss", loc="left")
        lrs = [(e.step, e.learning_rate) for e in log if e.learning_rate is not None]
        if lrs:
            lr_ax.plot(*zip(*lrs, strict=True), color=COLOR["lr"])
            lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        else:
            lr_ax.text(0.5, 0.5, "no learning rate logged", ha="center", va="center", transform=lr_ax.transAxes)
        lr_ax.set(xlabel="optimizer step")
        lr_ax.set_title("Learning rate", loc="left")
        if record:  # the group's own name: any script, and never parsed as mathtext ($...$)
            fig.suptitle(clean_text(record.group)[:80], parse_math=False, fontsize="medium", color=COLOR["lr"])
    return path


def class_plot(rows: list[Any], parameters: list[dict[str, Any]], path: Path, empty_note: str) -> Path:
    """The class at a glance: points of the graded groups, and each parameter's rank correlation with the gain."""
    with _two_panels(path) as (_, points_ax, rho_ax):
        totals = [r.total for r in rows if r.status == "graded"]
        top = max((r.max_total for r in rows), default=1.0) or 1.0
        if totals:
            points_ax.hist(totals, bins=min(20, max(5, len(totals))), range=(0, top), color=COLOR["loss"])
            points_ax.yaxis.get_major_locator().set_params(integer=True)
        else:
            points_ax.text(0.5, 0.5, "no graded group", ha="center", va="center", transform=points_ax.transAxes)
        points_ax.set(title="Points of graded groups", xlabel=f"points (of {top:g})", ylabel="groups")
        if parameters:
            names = [p["parameter"] for p in parameters][::-1]
            values = [p["rho"] for p in parameters][::-1]
            colors = [COLOR["loss"] if v > 0 else COLOR["eval"] for v in values]
            rho_ax.barh(names, values, color=colors)
            rho_ax.set_xlim(-1, 1)
            rho_ax.axvline(0, color=COLOR["lr"], linewidth=0.8)
        else:
            rho_ax.text(0.5, 0.5, empty_note, ha="center", va="center", transform=rho_ax.transAxes, wrap=True)
        rho_ax.set(xlabel=f"Spearman rho with {metrics.label(metrics.HEADLINE)} gain")
    return path


def sweep_plot(effect: SweepEffect, path: Path) -> Path:
    """Eval loss and ROUGE-L against the varied parameter's values: the group's value marked, and the seeds' range
    as error bars when there were several."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in effect.values)
    xs: list[Any] = list(effect.values) if numeric else list(range(len(effect.values)))
    headline = metrics.label(metrics.HEADLINE)
    with _two_panels(path) as (fig, loss_ax, rouge_ax):
        for ax, means, seeds, label, color in (
            (loss_ax, effect.eval_loss, effect.eval_loss_seed, "held-out eval loss", COLOR["eval"]),
            (rouge_ax, effect.rouge_l, effect.rouge_l_seed, f"{headline} (fine-tuned)", COLOR["loss"]),
        ):
            shown = [(x, m, s) for x, m, s in zip(xs, means, seeds, strict=True) if m is not None]
            if shown:
                x, m, s = zip(*shown, strict=True)
                errors = [v / 2 for v in s] if effect.seeds > 1 else None
                ax.errorbar(x, m, yerr=errors, marker="o", capsize=4, color=color)
            else:
                ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", color=COLOR["lr"])
            own = xs[effect.values.index(effect.group_value)] if effect.group_value in effect.values else None
            if own is not None:
                ax.axvline(own, linestyle="--", color=COLOR["lr"], label=f"the group's value ({effect.group_value})")
                ax.legend(frameon=False, fontsize="small")
            ax.set_ylabel(label)
            ax.set_xlabel(effect.parameter)
            if numeric and effect.parameter == "learning_rate":
                ax.set_xscale("log")
            if not numeric:
                ax.set_xticks(xs, [str(v).lower() for v in effect.values])
        how = f"{effect.seeds} seeds, error bars: their range" if effect.seeds > 1 else "one seed per value"
        fig.suptitle(f"sweep of {effect.parameter} ({how})", fontsize="medium", color=COLOR["lr"])
    return path


def question_chart(score: ScoreRecord) -> bytes:
    """ROUGE-L of every test question, base beside fine-tuned, as PNG bytes: the deck's one chart of the answers.

    Sized for half a 16:9 slide, with labels that read from across a room (the deck places it by its pixels)."""
    import io

    from matplotlib import rc_context
    from matplotlib.figure import Figure

    n = len(score.questions)
    xs = list(range(1, n + 1))
    with rc_context({"font.family": families(), "font.size": 13}):
        fig = Figure(figsize=(6.4, 4.4), dpi=150, layout="constrained")
        ax = fig.subplots()
        for shift, which, label, color in (
            (-0.2, "base", "base", COLOR["lr"]),
            (0.2, "finetuned", "fine-tuned", COLOR["loss"]),
        ):
            values = [
                getattr(q, which).get(metrics.HEADLINE, 0.0) for q in score.questions
            ]  # unscored: no expected answer
            ax.bar([x + shift for x in xs], values, width=0.4, label=label, color=color)
        ax.set_xticks(xs, [f"Q{x}" for x in xs] if n <= 12 else [str(x) for x in xs])
        ax.set_ylim(0, 1)
        ax.set(ylabel=metrics.label(metrics.HEADLINE), xlabel="test question")
        ax.legend(frameon=False, loc="lower right", bbox_to_anchor=(1, 1), ncols=2)
        ax.grid(axis="y", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
