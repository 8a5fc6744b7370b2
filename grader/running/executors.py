"""executors: where the processes of a sharded grade or sweep run. One small protocol (`submit(fn, calls) -> jobs`
with `done`, `result`, `log`, `cancel`) and its two implementations on submitit: `local` (one process per visible
GPU, or the CPUs split between them) and `slurm` (one job array, one task per call).

The CLI builds one Executor from its flags (`build`) and hands it down; grading (grader.running.shards) and sweeps
(measure/sweep) only call `submit`. Another backend (Ray, a co-training engine) is one more class here and one more
name in `build`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from grader.config import RunSettings
from grader.errors import ConfigError
from grader.limits import DEFAULT_TIMEOUT

NAMES = ("local", "slurm")


class Job(Protocol):
    def done(self) -> bool: ...

    def result(self) -> Any:
        """What the call returned; raises when the process failed or was cancelled."""

    def log(self) -> Path:
        """The file that says most about the process (its stderr when it wrote any, else its stdout)."""

    def cancel(self) -> None: ...


class Executor(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def shards(self) -> int:
        """How many processes share the work."""

    def submit(
        self,
        fn: Callable[..., Any],
        calls: list[tuple[Any, ...]],
        settings: RunSettings,
        *,
        run_id: str,
        folder: Path,
        minutes: int,
    ) -> list[Job]:
        """One process per call, `fn(call[0], that process's RunSettings, *call[1:])` (the settings carry `run_id`
        and the shard's name), its logs under `folder`, each stopped after `minutes`."""


@dataclass(frozen=True)
class SlurmOptions:
    """Where a shard runs on the cluster; flags or GRADER_SLURM_* in the instructor's environment set them."""

    partition: str | None = None
    account: str | None = None
    time_min: int | None = None  # default: per-group timeout x groups per shard, plus the model load
    gpus: int = 1
    cpus: int | None = None
    extra: dict[str, str] = field(default_factory=dict)  # any other sbatch option, e.g. {"qos": "class"}


def build(name: str | None, shards: int = 1, slurm: SlurmOptions | None = None) -> Executor | None:
    """The executor the flags ask for; None runs everything in this process (no --executor)."""
    if name is None:
        if shards > 1:
            raise ConfigError("--shards needs --executor local or --executor slurm")
        return None
    if shards < 1:
        raise ConfigError("--shards must be at least 1")
    if name == "local":
        return Local(shards)
    if name == "slurm":
        return Slurm(shards, slurm or SlurmOptions())
    raise ConfigError(f"--executor must be one of {', '.join(NAMES)}, not '{name}'")


@dataclass(frozen=True)
class _Submitit:
    """A submitit job as a Job."""

    job: Any

    def done(self) -> bool:
        return bool(self.job.done())

    def result(self) -> Any:
        return self.job.result()

    def log(self) -> Path:
        paths = self.job.paths
        err = Path(paths.stderr)
        return err if err.exists() and err.stat().st_size else Path(paths.stdout)

    def cancel(self) -> None:
        self.job.cancel()


@dataclass(frozen=True)
class Local:
    shards: int
    name: str = "local"

    def submit(
        self,
        fn: Callable[..., Any],
        calls: list[tuple[Any, ...]],
        settings: RunSettings,
        *,
        run_id: str,
        folder: Path,
        minutes: int,
    ) -> list[Job]:
        import submitit

        gpus = _visible_gpus()
        cpus = _cpus_per_shard(len(calls)) if not gpus else None
        local = submitit.LocalExecutor(folder=str(folder))
        jobs: list[Job] = []
        for k, (first, *rest) in enumerate(calls):
            on_gpu = (gpus[k % len(gpus)],) if gpus else ()
            local.update_parameters(timeout_min=minutes, visible_gpus=on_gpu, gpus_per_node=len(on_gpu))
            jobs.append(_Submitit(local.submit(fn, first, _for_shard(settings, run_id, k, cpus), *rest)))
        return jobs


@dataclass(frozen=True)
class Slurm:
    shards: int
    options: SlurmOptions = field(default_factory=SlurmOptions)
    name: str = "slurm"

    def parameters(self, calls: int, minutes: int, run_id: str) -> dict[str, Any]:
        """submitit's SlurmExecutor parameters: the options as given, the time limit from the work when unset."""
        o = self.options
        params: dict[str, Any] = {
            "time": o.time_min or minutes,
            "gpus_per_node": o.gpus,
            "ntasks_per_node": 1,
            "nodes": 1,
            "job_name": f"grader-{run_id}",
            "array_parallelism": calls,
            "additional_parameters": dict(o.extra),
        }
        for key, value in (("partition", o.partition), ("account", o.account), ("cpus_per_task", o.cpus)):
            if value:
                params[key] = value
        return params

    def submit(
        self,
        fn: Callable[..., Any],
        calls: list[tuple[Any, ...]],
        settings: RunSettings,
        *,
        run_id: str,
        folder: Path,
        minutes: int,
    ) -> list[Job]:
        import submitit

        cluster = submitit.SlurmExecutor(folder=str(folder))
        cluster.update_parameters(**self.parameters(len(calls), minutes, run_id))
        cpus = self.options.cpus if not self.options.gpus else None
        columns = list(zip(*calls, strict=True))
        settings_list = [_for_shard(settings, run_id, k, cpus) for k in range(len(calls))]
        jobs = cluster.map_array(fn, list(columns[0]), settings_list, *(list(c) for c in columns[1:]))
        return [_Submitit(job) for job in jobs]


def shard_minutes(settings: RunSettings, groups: int) -> int:
    """A shard's wall-clock limit: every group at its per-group limit, plus the base model's load and base pass."""
    per_group = settings.timeout or DEFAULT_TIMEOUT
    return math.ceil((per_group * (groups + 1) + 600) / 60)


def _for_shard(settings: RunSettings, run_id: str, k: int, cpus: int | None) -> RunSettings:
    update: dict[str, Any] = {"run_id": run_id, "shard": f"{run_id}-{k}"}
    if cpus is not None and settings.threads is None:
        update["threads"] = cpus  # shards on one machine's CPUs share them, not each take all
    return settings.model_copy(update=update)


def _visible_gpus() -> list[int]:
    """The GPUs this process may use (CUDA_VISIBLE_DEVICES respected), as indices to pin each shard to one."""
    import torch

    if not torch.cuda.is_available():
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if listed:
        return [int(x) for x in listed.split(",") if x.strip().isdigit()]
    return list(range(torch.cuda.device_count()))


def _cpus_per_shard(n: int) -> int:
    from grader.limits import usable_cpus

    return max(1, usable_cpus() // n)
