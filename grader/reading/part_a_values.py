"""A group's Part A values, each with where it came from: its config file, its edited copy of the course's training
script (read as data by reading/course_script), its adapter_config.json and trainer_state.json, else the course default.

The config file wins over the script (it is what an instructor's template asks for); the adapter and the trainer
state only fill what neither sets, and contradict out loud: both values are named in a warning.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grader.config import ALIASES, PART_A, TrainConfig, flatten, parse_train_config, spelled
from grader.limits import DataLimits
from grader.llm.adapter import config_problems
from grader.reading import course_script as script
from grader.reading import script_refusals
from grader.reading.json_lines import MAX_FILE_BYTES
from grader.reading.student_files import read_text, safe_file
from grader.records import Parts, Problem, file_line

MAX_ARTIFACT_BYTES = 16 << 20
MLP = ("gate_proj", "up_proj", "down_proj")
DEFAULT = "course default"


@dataclass
class Collected:
    config: TrainConfig | None
    sources: dict[str, str] = field(default_factory=dict)  # Part A key -> 'LoRA_fine_Tuning.py:28' | ...
    filled: list[str] = field(default_factory=list)  # keys that nothing set: course defaults
    toml: dict[str, Any] = field(default_factory=dict)  # grader.toml's other settings (data, tests)
    config_file: str | None = None
    script: str | None = None
    data_path: tuple[str, str] | None = None  # (file name the script's DATA_PATH ends in, 'script.py:14')
    values: dict[str, Any] = field(default_factory=dict)  # the raw values before parsing (`grader train` adds flags)


def _config_text(group_dir: Path, name: str, problems: list[Problem]) -> str | None:
    """The config file's text, or None (and a problem) when it is unreadable, too large or a YAML alias bomb."""
    path = safe_file(group_dir, name, problems)
    if path is None:
        if not any(p.file == name for p in problems):
            problems.append(Problem(file=name, code="unreadable", message="cannot be read"))
        return None
    if path.stat().st_size > MAX_FILE_BYTES:
        problems.append(Problem(file=name, code="file-too-large", message="config file is too large; not read"))
        return None
    text = path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
    aliases = _yaml_aliases(text) if name.endswith((".yaml", ".yml")) else 0
    if aliases > MAX_YAML_ALIASES:
        problems.append(
            Problem(
                file=name,
                code="config-syntax",
                message=f"uses {aliases} YAML aliases (*name): refused unread, since expanding them can take any "
                "amount of memory (a 'billion laughs' file)",
                hint="write each value out; a config needs no anchors",
            )
        )
        return None
    return text


def read_config(
    group_dir: Path, configs: list[str], problems: list[Problem]
) -> tuple[str | None, dict[str, Any] | None, dict[str, Any], str]:
    """(config file, its raw key/values or None when unreadable, grader.toml's settings, the file's text)."""
    toml: dict[str, Any] = {}
    if not configs:
        return None, {}, toml, ""
    name = configs[0]
    for other in configs[1:]:
        problems.append(
            Problem(
                file=other,
                severity="warning",
                code="config-ignored",
                message=f"ignored: {name} is read first",
                hint="keep one config file",
            )
        )
    text = _config_text(group_dir, name, problems)
    if text is None:
        return name, None, toml, ""
    try:
        if name.endswith(".toml"):
            toml = tomllib.loads(text)
            raw = toml.get("train", {})
        elif name.endswith(".json"):
            raw = json.loads(text)
        else:
            raw = yaml.safe_load(text) or {}
    except (ValueError, yaml.YAMLError, RecursionError) as exc:
        line = getattr(exc, "lineno", None) or getattr(getattr(exc, "problem_mark", None), "line", -1) + 1 or None
        problems.append(
            Problem(
                file=name,
                line=line,
                code="config-syntax",
                message=f"cannot be parsed: {str(exc)[:300]}",
                hint="check the syntax; the course defaults are NOT used for a broken file",
            )
        )
        return name, None, toml, ""
    if not isinstance(raw, dict):
        problems.append(Problem(file=name, line=1, code="config-syntax", message="is not a mapping of key: value"))
        return name, None, toml, ""
    return name, raw, toml, text


MAX_YAML_ALIASES = 20


def _yaml_aliases(text: str) -> int:
    """How many aliases a YAML text uses, counted by the scanner alone (nothing is expanded)."""
    try:
        return sum(isinstance(token, yaml.AliasToken) for token in yaml.scan(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return 0  # the parser reports the syntax error itself


def _key_line(text: str, key: str) -> int | None:
    pattern = re.compile(rf"(^|[\s\"']){re.escape(key)}[\"']?\s*[:=]")
    return next((i for i, t in enumerate(text.splitlines(), 1) if pattern.search(t)), None)


def _read_script(group_dir: Path, parts: Parts, problems: list[Problem]) -> tuple[str | None, script.ScriptValues]:
    for relative in parts.scripts:
        text = read_text(group_dir, relative, script.MAX_SCRIPT_BYTES, problems)
        if text is None:
            continue
        values = script.parse(text)
        if values.values or values.paths or values.problems:
            return relative, values
    return None, script.ScriptValues()


def _artifact_values(group_dir: Path, parts: Parts, problems: list[Problem]) -> dict[str, tuple[Any, str]]:
    """What the group's adapter_config.json and trainer_state.json say the run used: key -> (value, file)."""
    found: dict[str, tuple[Any, str]] = {}
    for folder in parts.adapters[:1]:
        relative = "adapter_config.json" if folder == "." else f"{folder}/adapter_config.json"
        raw = _json(group_dir, relative, problems)
        wrong = config_problems(raw) if raw else []
        problems += [
            Problem(
                file=relative,
                severity="warning",
                code="adapter-config",
                message=f"{w}; the adapter is not loaded and its values are not used",
                hint="save the adapter again with PEFT's save_pretrained",
            )
            for w in wrong
        ]
        if raw and not wrong:
            for key, name in spelled("peft").items():
                if isinstance(raw.get(key), int | float) and not isinstance(raw.get(key), bool):
                    found[name] = (raw[key], relative)
            targets = raw.get("target_modules")
            if isinstance(targets, list) and targets:
                found["include_mlp"] = (any(str(t) in MLP for t in targets), relative)
    state = next((log for log in parts.logs if log.rsplit("/", 1)[-1] == "trainer_state.json"), None)
    raw = _json(group_dir, state, problems) if state else None
    if raw and state:
        for key, name in spelled("trainer_state").items():
            value = raw.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
                found[name] = (value, state)
    return found


def _json(group_dir: Path, relative: str, problems: list[Problem]) -> dict[str, Any] | None:
    text = read_text(group_dir, relative, MAX_ARTIFACT_BYTES, problems)
    try:
        value = json.loads(text) if text else None
    except (ValueError, RecursionError):
        problems.append(Problem(file=relative, severity="warning", code="log-json", message="is not valid JSON"))
        return None
    return value if isinstance(value, dict) else None


def _agree(key: str, stated: Any, artifact: Any) -> bool:
    stated, artifact = _number(stated), _number(artifact)
    if key == "num_train_epochs":  # trainer_state stores the epochs rounded up
        return isinstance(stated, int | float) and math.ceil(stated) == artifact
    if isinstance(stated, int | float) and isinstance(artifact, int | float):
        return math.isclose(float(stated), float(artifact), rel_tol=1e-9)
    return bool(stated == artifact)


def _number(value: Any) -> Any:
    """YAML reads 1e-4 as a string: compare it as the number it is."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def collect(group_dir: Path, parts: Parts, problems: list[Problem]) -> Collected:
    """The group's config with a source for every value, and every disagreement between its files as a warning."""
    config_file, raw, toml, text = read_config(group_dir, parts.configs, problems)
    script_file, found = _read_script(group_dir, parts, problems)
    for at, said, fix in script_refusals.refuse(found):  # errors of the course script; grader goes on
        problems.append(Problem(file=script_file or "", line=at, code="script-refused", message=said, hint=fix))
    for line, message, hint in found.problems:
        problems.append(
            Problem(file=script_file or "", line=line, severity="warning", code="script", message=message, hint=hint)
        )
    for line, message in found.conflicts[: script.MAX_UNSURE]:
        problems.append(Problem(file=script_file or "", line=line, severity="warning", code="script", message=message))
    if len(found.conflicts) > script.MAX_UNSURE:
        problems.append(
            Problem(
                file=script_file or "",
                line=found.conflicts[script.MAX_UNSURE][0],
                severity="warning",
                code="script",
                message=f"and {len(found.conflicts) - script.MAX_UNSURE} more conflicting values like the ones above",
            )
        )
    for line, message in found.unsure:
        problems.append(
            Problem(
                file=script_file or "",
                line=line,
                severity="warning",
                code="script-unsure",
                message=message,
                hint="set each value once, at the top of the script, as a plain literal",
            )
        )
    for line, message in found.notes:
        problems.append(Problem(file=script_file or "", line=line, severity="info", code="script", message=message))
    if raw is None:  # a config file that cannot be read: no guessing with defaults
        return Collected(None, toml=toml, config_file=config_file, script=script_file)
    values, sources = _script_values(found, script_file)
    _merge_config_file(flatten(raw), text, config_file, values, sources, problems)
    _merge_artifacts(_artifact_values(group_dir, parts, problems), values, sources, problems)
    config, filled = _parsed(values, sources, config_file, script_file, problems)
    for key in PART_A:
        sources.setdefault(key, DEFAULT)
    data_path = None
    if "DATA_PATH" in found.paths:
        name, line = found.paths["DATA_PATH"]
        data_path = (name, f"{script_file}:{line}")
    return Collected(
        config,
        values=values,
        sources={k: sources[k] for k in PART_A},
        filled=filled,
        toml=toml,
        config_file=config_file,
        script=script_file,
        data_path=data_path,
    )


def collect_bounded(group_dir: Path, parts: Parts, problems: list[Problem], limits: DataLimits) -> Collected:
    """`collect` in a reader process bounded in memory and time (reading/sandbox): the config file, the script and
    the trainer_state.json it reads are the group's, and a parser bomb among them costs the config only. `values`
    (the raw values, which only `grader train` reads to lay its flags over) are not carried back."""
    from grader.reading import sandbox

    answer, why = sandbox.attempt(
        _collect_json, group_dir, parts, memory_mb=limits.reader_memory_mb, seconds=limits.reader_seconds
    )
    if answer is None:
        shown = ", ".join([*parts.configs, *parts.scripts][:3]) or "."
        problems.append(
            Problem(
                file=shown,
                code="over-reader-limit" if why.startswith("could not") else "unreadable",
                message=f"the config and script {why}: no value is taken from them",
                hint="set the values as plain literals in the course script or grader.toml",
            )
        )
        return Collected(None)
    raw = json.loads(answer)
    problems += [Problem.model_validate(p) for p in raw.pop("problems")]
    config, data_path = raw.pop("config"), raw.pop("data_path")
    return Collected(
        TrainConfig.model_validate(config) if config is not None else None,
        data_path=(data_path[0], data_path[1]) if data_path else None,
        **raw,
    )


def _collect_json(group_dir: Path, parts: Parts) -> str:
    """`collect` in the reader process, answered as JSON (a TOML date in grader.toml's other settings as its text)."""
    problems: list[Problem] = []
    found = collect(group_dir, parts, problems)
    return json.dumps(
        {
            "problems": [p.model_dump(mode="json") for p in problems],
            "config": found.config.model_dump(mode="json") if found.config else None,
            "sources": found.sources,
            "filled": found.filled,
            "toml": found.toml,
            "config_file": found.config_file,
            "script": found.script,
            "data_path": list(found.data_path) if found.data_path else None,
        },
        default=str,
    )


def _script_values(found: script.ScriptValues, script_file: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, value in found.values.items():
        values[key], sources[key] = value.value, f"{script_file}:{value.line}"
    if "include_mlp" not in values and found.target_modules:
        modules, line = found.target_modules
        values["include_mlp"], sources["include_mlp"] = any(m in MLP for m in modules), f"{script_file}:{line}"
    return values, sources


def _merge_config_file(
    flat: dict[str, Any],
    text: str,
    config_file: str | None,
    values: dict[str, Any],
    sources: dict[str, str],
    problems: list[Problem],
) -> None:
    """The config file's values over the script's, each disagreement said."""
    for key, value in flat.items():
        name = ALIASES.get(str(key), str(key))
        where = f"{config_file}:{_key_line(text, str(key))}" if _key_line(text, str(key)) else str(config_file)
        if name in values and name in sources and not _agree(name, value, values[name]):
            problems.append(
                Problem(
                    file=str(config_file),
                    line=_key_line(text, str(key)),
                    severity="warning",
                    code="config-conflict",
                    message=f"{name} = {value!r} here, but {sources[name]} sets {values[name]!r}; {config_file} wins",
                    hint="keep one value: the one you trained with",
                )
            )
        values.pop(name, None)
        values[str(key)] = value
        sources[name] = where


def _merge_artifacts(
    found: dict[str, tuple[Any, str]], values: dict[str, Any], sources: dict[str, str], problems: list[Problem]
) -> None:
    """What the run's artifacts show, where nothing stated it; a disagreement with a stated value is said."""
    for name, (value, where) in found.items():
        stated = next((v for k, v in values.items() if ALIASES.get(k, k) == name), value)
        if name not in sources:
            values[name], sources[name] = value, where
        elif not _agree(name, stated, value):
            problems.append(
                Problem(
                    file=where,
                    severity="warning",
                    code="config-conflict",
                    message=f"{name} = {value!r} in {where}, but {sources[name]} says {stated!r}: the "
                    f"{'adapter was' if 'adapter' in where else 'run was'} made with {value!r}",
                    hint="commit the script, config and logs of the same run",
                )
            )


def _parsed(
    values: dict[str, Any],
    sources: dict[str, str],
    config_file: str | None,
    script_file: str | None,
    problems: list[Problem],
) -> tuple[TrainConfig | None, list[str]]:
    """The values checked as a TrainConfig (each problem at the line that set the value), and the defaults used."""
    config, config_problems, filled = parse_train_config(values)
    if "bf16" in sources and "fp16" not in sources:  # one precision named: the other is implied off, not defaulted
        sources["fp16"] = sources["bf16"]
        filled = [k for k in filled if k != "fp16"]
    for cp in config_problems:
        where = sources.get(ALIASES.get(cp.key, cp.key), config_file or script_file or "config.yaml")
        file, line = file_line(where)
        problems.append(
            Problem(file=file, line=line, severity=cp.severity, code="config", message=cp.message, hint=cp.hint)
        )
    if config_file is None and script_file is None:
        problems.append(
            Problem(
                file=".",  # the group folder: no config.yaml exists to point at
                severity="warning",
                code="no-config",
                message="no config.yaml / train_config.json / training script; the course defaults are used",
                hint="commit the hyper-parameters you trained with (or the training script with your values)",
            )
        )
    elif config is not None and filled:
        problems.append(
            Problem(
                file=config_file or script_file or "",
                severity="info",
                code="defaults-filled",
                message=f"not set, course defaults used: {', '.join(filled)}",
            )
        )
    return config, filled
